//! Runs one ocean kind in-process, without the server, and prints its wall time: the driver for
//! profiling the readers (`perf record`), next to `benches/ocean/bench.py` which times the real
//! service against xarray.
//!
//! cargo run --release -p vocloud-workers --example ocean_run -- USER_DIR KIND key=value...

use std::time::Instant;

use vocloud_workers::{CancelToken, JobContext, Registry};

fn main() {
    let mut args = std::env::args().skip(1);
    let (user_dir, kind) = (args.next().expect("USER_DIR"), args.next().expect("KIND"));
    let raw: Vec<(String, String)> = args
        .map(|a| {
            let (k, v) = a.split_once('=').expect("key=value");
            (k.to_string(), v.to_string())
        })
        .collect();
    let registry = Registry::builtin();
    let kind = registry.get(&kind).expect("a known kind");
    let params = kind.validate(&raw).unwrap_or_else(|e| panic!("parameters: {e}"));
    let job_dir = std::env::temp_dir().join(format!("ocean-run-{}", std::process::id()));
    let ctx = JobContext::new(&job_dir, 1, std::path::Path::new(&user_dir), "example".into(), CancelToken::default());
    std::fs::create_dir_all(&ctx.results_dir).unwrap();
    let t0 = Instant::now();
    let out = kind.run(&params, &ctx);
    let elapsed = t0.elapsed().as_secs_f64();
    match out {
        Ok(o) => println!(
            "{elapsed:.3} s, results {:?} in {}",
            o.results.iter().map(|r| &r.name).collect::<Vec<_>>(),
            ctx.results_dir.display()
        ),
        Err(e) => println!("{elapsed:.3} s, failed: {e:?}"),
    }
}
