//! What one quota walk costs (`vocloud::storage::tree_size`, see src/jobs/quota.rs), against
//! `du -sb` (GNU coreutils, fts + fstatat) on the same tree, interleaved, warm page cache.
//!
//!   cargo build --release --bench quota && flock /work/bench.lock cargo bench --bench quota
//!
//! Prints one line per tree size with the median of 5 runs of each and the ratio.

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

fn make_tree(root: &Path, files: usize) {
    // 100 folders, like a user's imports and job result folders.
    for i in 0..files {
        let dir = root.join(format!("d{:03}", i % 100));
        if i < 100 {
            std::fs::create_dir_all(&dir).unwrap();
        }
        std::fs::write(dir.join(format!("f{i}.fits")), [0u8; 64]).unwrap();
    }
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn main() {
    for files in [10_000usize, 100_000] {
        let tmp = tempfile::tempdir().unwrap();
        make_tree(tmp.path(), files);
        let (mut ours, mut du) = (Vec::new(), Vec::new());
        let mut total = 0;
        for _ in 0..5 {
            let t = Instant::now();
            total = vocloud::storage::tree_size(tmp.path());
            ours.push(t.elapsed());
            let t = Instant::now();
            let out = Command::new("du").arg("-sb").arg(tmp.path()).output().unwrap();
            du.push(t.elapsed());
            assert!(out.status.success());
        }
        assert_eq!(total, files as u64 * 64);
        let (o, d) = (median(ours), median(du));
        println!(
            "{files:>7} files: tree_size {:>7.1} ms   du -sb {:>7.1} ms   ratio {:.2}",
            o.as_secs_f64() * 1e3,
            d.as_secs_f64() * 1e3,
            o.as_secs_f64() / d.as_secs_f64()
        );
    }
}
