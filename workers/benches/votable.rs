//! VOTable write/read speed per serialisation, next to astropy on the same files and machine.
//!
//!   cargo bench -p vocloud-workers --bench votable [-- ROWS]
//!
//! Builds a job-result-like table (ROWS rows, default 100 000: an id, two doubles, a float, an
//! int and a 50-point float spectrum), writes it as TABLEDATA, BINARY and BINARY2 (best of 3),
//! reads each back, then — if astropy is importable by VOCLOUD_TEST_PYTHON (default python3) —
//! times astropy's `parse` and `to_xml` on the same documents.

use std::process::Command;
use std::time::Instant;

use vocloud_workers::votable::{Datatype, Encoding, Field, Table, Value, Version, read};

fn table(rows: usize) -> Table {
    let mut t = Table::new(
        "bench",
        vec![
            Field::new("id", Datatype::Char).ucd("meta.id"),
            Field::new("ra", Datatype::Double).unit("deg").ucd("pos.eq.ra"),
            Field::new("dec", Datatype::Double).unit("deg").ucd("pos.eq.dec"),
            Field::new("mag", Datatype::Float).unit("mag"),
            Field::new("n", Datatype::Int),
            Field::new("spec", Datatype::Float).array("50"),
        ],
    );
    for i in 0..rows {
        let x = i as f64;
        t.push(vec![
            Value::Text(format!("spec-{i:07}")),
            Value::Float((x * 0.37) % 360.0),
            Value::Float((x * 0.11) % 180.0 - 90.0),
            Value::Float(12.0 + (x % 70.0) / 10.0),
            Value::Int(i as i64),
            Value::FloatArray((0..50).map(|k| (1.0 + (k as f64 + x).sin()) as f32 as f64).collect()),
        ]);
    }
    t
}

fn best<T>(mut f: impl FnMut() -> T) -> (f64, T) {
    let mut best = f64::INFINITY;
    let mut out = None;
    for _ in 0..3 {
        let start = Instant::now();
        let v = f();
        best = best.min(start.elapsed().as_secs_f64());
        out = Some(v);
    }
    (best, out.expect("ran"))
}

fn main() {
    let rows: usize = std::env::args().skip(1).find_map(|a| a.parse().ok()).unwrap_or(100_000);
    let t = table(rows);
    let dir = std::env::temp_dir().join(format!("vocloud-votable-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    println!("VOTable, {rows} rows x 6 columns (50-float spectrum per row), best of 3");
    println!(
        "{:<10} {:>9} {:>11} {:>11} {:>13} {:>13}",
        "encoding", "MB", "write s", "read s", "astropy rd s", "astropy wr s"
    );
    for (label, encoding) in
        [("tabledata", Encoding::TableData), ("binary", Encoding::Binary), ("binary2", Encoding::Binary2)]
    {
        let (write_s, bytes) = best(|| {
            let mut out = Vec::with_capacity(64 << 20);
            t.write_as(&mut out, Version::V1_4, encoding).unwrap();
            out
        });
        let (read_s, doc) = best(|| read(&bytes).unwrap());
        assert_eq!(doc.tables[0].rows.len(), rows);
        let path = dir.join(format!("{label}.vot"));
        std::fs::write(&path, &bytes).unwrap();
        let (a_read, a_write) = astropy(&path, label);
        println!(
            "{label:<10} {:>9.1} {write_s:>11.3} {read_s:>11.3} {:>13} {:>13}",
            bytes.len() as f64 / 1e6,
            a_read.map_or("-".into(), |s| format!("{s:.3}")),
            a_write.map_or("-".into(), |s| format!("{s:.3}")),
        );
    }
    let _ = std::fs::remove_dir_all(&dir);
}

/// astropy's best-of-3 parse and to_xml times for the file, or None without astropy.
fn astropy(path: &std::path::Path, format: &str) -> (Option<f64>, Option<f64>) {
    let python = std::env::var("VOCLOUD_TEST_PYTHON").unwrap_or_else(|_| "python3".into());
    let script = r#"
import sys, time, io, warnings
warnings.simplefilter("ignore")
from astropy.io.votable import parse
path, fmt = sys.argv[1], sys.argv[2]
rd = wr = float("inf")
for _ in range(3):
    t0 = time.perf_counter(); v = parse(path); v.get_first_table().array; rd = min(rd, time.perf_counter() - t0)
v.get_first_table().format = fmt
for _ in range(3):
    t0 = time.perf_counter(); v.to_xml(io.BytesIO()); wr = min(wr, time.perf_counter() - t0)
print(rd, wr)
"#;
    let Ok(out) = Command::new(python).args(["-c", script]).arg(path).arg(format).output() else { return (None, None) };
    let text = String::from_utf8_lossy(&out.stdout);
    let mut nums = text.split_whitespace().filter_map(|s| s.parse::<f64>().ok());
    (nums.next(), nums.next())
}
