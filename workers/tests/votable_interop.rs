//! VOTables we write against the reference tools: STILTS `votlint` must find nothing to say about
//! any version × serialisation, astropy must read back the same values, and tables astropy writes
//! (TABLEDATA, BINARY, BINARY2) must read back through our reader with astropy's values.
//!
//! Needs `stilts` (Debian package) and astropy (VOCLOUD_TEST_PYTHON, set by `./x test`).

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value as Json;
use vocloud_workers::votable::{Datatype, Encoding, Field, Param, Table, Value, Version, read};

fn python() -> String {
    std::env::var("VOCLOUD_TEST_PYTHON").unwrap_or_else(|_| "python3".into())
}

fn script() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/votable_dump.py")
}

fn tmpdir(tag: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("vocloud-votable-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Runs `stilts votlint` and returns everything it printed (nothing means valid).
///
/// Debian's STILTS knows VOTable up to 1.4. A 1.5 document is therefore checked twice: against
/// the official 1.5 schema (shipped with astropy) by xmllint, and by votlint as the same bytes
/// declared 1.4 (1.5 only adds optional attributes, which we do not write), so votlint's checks
/// beyond the schema (datatype/arraysize rules, nrows, decoding the binary streams) still run.
pub fn votlint(path: &Path, version: &str) -> String {
    let mut target = path.to_path_buf();
    let mut report = String::new();
    if version == "1.5" {
        let xsd = Command::new(python())
            .args([
                "-c",
                "import astropy.io.votable as v, os; print(os.path.dirname(v.__file__) + '/data/VOTable.v1.5.xsd')",
            ])
            .output()
            .expect("python");
        let xsd = String::from_utf8(xsd.stdout).unwrap().trim().to_string();
        let out = Command::new("xmllint").args(["--noout", "--schema", &xsd]).arg(path).output().expect("xmllint");
        if !out.status.success() {
            report.push_str(&String::from_utf8_lossy(&out.stderr));
        }
        let text = std::fs::read_to_string(path).unwrap().replacen("version=\"1.5\"", "version=\"1.4\"", 1);
        target = path.with_extension("as14.vot");
        std::fs::write(&target, text).unwrap();
    }
    let lint_version = if version == "1.5" { "1.4" } else { version };
    let out = Command::new("stilts")
        .args([
            "votlint",
            &format!("votable={}", target.display()),
            &format!("version={lint_version}"),
            "validate=true",
        ])
        .output()
        .expect("running stilts (Debian package `stilts`; ./x setup --test installs it)");
    report.push_str(&String::from_utf8_lossy(&out.stdout));
    report.push_str(&String::from_utf8_lossy(&out.stderr));
    report.trim().to_string()
}

fn astropy_dump(paths: &[PathBuf]) -> Vec<Json> {
    let out = Command::new(python()).arg(script()).args(paths).output().expect("running python with astropy");
    assert!(out.status.success(), "astropy failed: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).unwrap().lines().map(|l| serde_json::from_str(l).unwrap()).collect()
}

/// A job-result-like table: every datatype, units, UCDs, utypes, arrays, nulls, PARAMs, INFOs.
fn table() -> Table {
    let mut t = Table::new(
        "results",
        vec![
            Field::new("id", Datatype::Char).ucd("meta.id;meta.main").describe("spectrum \"id\" <& name>"),
            Field::new("ok", Datatype::Boolean),
            Field::new("flag", Datatype::Bit),
            Field::new("b", Datatype::UnsignedByte),
            Field::new("s", Datatype::Short),
            Field::new("i", Datatype::Int).unit("ct"),
            Field::new("l", Datatype::Long),
            Field::new("f", Datatype::Float).unit("nm").ucd("em.wl"),
            Field::new("d", Datatype::Double).unit("Jy").utype("ssa:Char.FluxAxis.Accuracy.StatError"),
            Field::new("code", Datatype::Char).array("4"),
            Field::new("uname", Datatype::UnicodeChar),
            Field::new("spec", Datatype::Double).array("*"),
            Field::new("pix", Datatype::Short).array("3"),
            Field::new("z", Datatype::DoubleComplex),
        ],
    );
    t.description = Some("every datatype".into());
    t.infos.push(("QUERY_STATUS".into(), "OK".into()));
    t.params.push(Param {
        field: Field::new("ra", Datatype::Double).unit("deg").ucd("pos.eq.ra"),
        value: Value::Float(10.5),
    });
    t.params.push(Param { field: Field::new("n_spectra", Datatype::Int), value: Value::Int(3) });
    t.push(vec![
        Value::Text("star <1> & 'q'".into()),
        Value::Bool(true),
        Value::Bool(true),
        Value::Int(200),
        Value::Int(-12),
        Value::Int(123456),
        Value::Int(-9_007_199_254_740_993),
        Value::Float(656.25),
        Value::Float(0.1),
        Value::Text("ABCD".into()),
        Value::Text("Žluťoučký kůň".into()),
        Value::FloatArray(vec![1.5, -2.25, 1e300]),
        Value::IntArray(vec![1, 2, 3]),
        Value::FloatArray(vec![1.0, -1.0]),
    ]);
    let mut nulls = vec![Value::Null; 14];
    nulls[2] = Value::Bool(false); // bits and fixed-size arrays have no null in BINARY
    nulls[12] = Value::IntArray(vec![0, 0, 0]);
    nulls[13] = Value::FloatArray(vec![2.0, 0.5]);
    t.push(nulls);
    t.push(vec![
        Value::Text("x".into()),
        Value::Bool(false),
        Value::Bool(false),
        Value::Int(0),
        Value::Int(32767),
        Value::Int(-1),
        Value::Int(0),
        Value::Float(-0.5),
        Value::Float(f64::INFINITY),
        Value::Text("AB".into()),
        Value::Text("a".into()),
        Value::FloatArray(vec![0.125]),
        Value::IntArray(vec![-1, 0, 1]),
        Value::FloatArray(vec![0.0, 0.0]),
    ]);
    t
}

fn num(j: &Json) -> f64 {
    match j {
        Json::String(s) if s == "NaN" => f64::NAN,
        Json::String(s) if s == "Inf" => f64::INFINITY,
        Json::String(s) if s == "-Inf" => f64::NEG_INFINITY,
        other => other.as_f64().unwrap_or_else(|| panic!("not a number: {other}")),
    }
}

fn same_float(a: f64, b: f64, single: bool) -> bool {
    (a.is_nan() && b.is_nan()) || a == b || (single && (a as f32) == (b as f32))
}

/// Does astropy's JSON cell equal our value?
fn same(field: &Field, ours: &Value, theirs: &Json) -> bool {
    let single = matches!(field.datatype, Datatype::Float | Datatype::FloatComplex);
    match (ours, theirs) {
        (Value::Null, Json::Null) => true,
        (Value::Null, Json::String(s)) => s.is_empty(),
        (Value::Null, Json::Array(a)) => a.is_empty(),
        (Value::Bool(b), Json::Bool(c)) => b == c,
        (Value::Int(n), j) => j.as_i64() == Some(*n),
        (Value::Float(x), j) => same_float(*x, num(j), single),
        (Value::Text(s), Json::String(t)) => s == t,
        (Value::FloatArray(xs), Json::Array(a)) => {
            // astropy gives complex scalars as [re, im] and complex arrays as [[re, im], …].
            let flat: Vec<f64> = a
                .iter()
                .flat_map(|j| match j {
                    Json::Array(pair) => pair.iter().map(num).collect::<Vec<_>>(),
                    j => vec![num(j)],
                })
                .collect();
            flat.len() == xs.len() && xs.iter().zip(&flat).all(|(x, y)| same_float(*x, *y, single))
        }
        (Value::IntArray(ns), Json::Array(a)) => {
            a.len() == ns.len() && ns.iter().zip(a).all(|(n, j)| j.as_i64() == Some(*n))
        }
        (Value::BoolArray(bs), Json::Array(a)) => {
            a.len() == bs.len() && bs.iter().zip(a).all(|(b, j)| j.as_bool() == Some(*b))
        }
        _ => false,
    }
}

fn assert_same(table: &Table, dump: &Json, what: &str) {
    let fields = dump["fields"].as_array().unwrap();
    assert_eq!(fields.len(), table.fields.len(), "{what}");
    for (f, j) in table.fields.iter().zip(fields) {
        assert_eq!(j["name"], f.name.as_str(), "{what}");
        assert_eq!(j["datatype"], f.datatype.as_str(), "{what}");
        assert_eq!(j["ucd"].as_str(), f.ucd.as_deref(), "{what} {}", f.name);
        assert_eq!(j["unit"].as_str(), f.unit.as_deref(), "{what} {}", f.name);
        assert_eq!(j["utype"].as_str(), f.utype.as_deref(), "{what} {}", f.name);
    }
    let rows = dump["rows"].as_array().unwrap();
    assert_eq!(rows.len(), table.rows.len(), "{what}");
    for (r, (ours, theirs)) in table.rows.iter().zip(rows).enumerate() {
        for (c, (v, j)) in ours.iter().zip(theirs.as_array().unwrap()).enumerate() {
            let f = &table.fields[c];
            assert!(same(f, v, j), "{what}: row {r} column {}: ours {v:?}, astropy {j}", f.name);
        }
    }
}

#[test]
fn votlint_and_astropy_accept_everything_we_write() {
    let dir = tmpdir("write");
    let t = table();
    let mut paths = Vec::new();
    for version in [Version::V1_3, Version::V1_4, Version::V1_5] {
        for encoding in [Encoding::TableData, Encoding::Binary, Encoding::Binary2] {
            let path = dir.join(format!("t-{}-{encoding:?}.vot", version.as_str()));
            let mut bytes = Vec::new();
            t.write_as(&mut bytes, version, encoding).unwrap();
            std::fs::write(&path, bytes).unwrap();
            let lint = votlint(&path, version.as_str());
            assert!(lint.is_empty(), "votlint on {}:\n{lint}", path.display());
            paths.push(path);
        }
    }
    for (path, dump) in paths.iter().zip(astropy_dump(&paths)) {
        assert_same(&t, &dump, &path.display().to_string());
        let params = &dump["params"];
        assert_eq!(params["ra"], 10.5);
        assert_eq!(params["n_spectra"], 3);
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn we_read_what_astropy_writes() {
    let dir = tmpdir("read");
    let out = Command::new(python()).arg(script()).arg("--write").arg(&dir).output().expect("python");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let paths: Vec<PathBuf> =
        ["tabledata", "binary", "binary2"].iter().map(|f| dir.join(format!("astropy-{f}.vot"))).collect();
    for (path, dump) in paths.iter().zip(astropy_dump(&paths)) {
        let doc = read(&std::fs::read(path).unwrap()).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        let t = &doc.tables[0];
        assert_same(t, &dump, &path.display().to_string());
        assert_eq!(t.column("meta.ref.url"), Some(0));
        assert_eq!(t.rows[0][0], Value::Text("http://h/a.fits".into()));
        assert_eq!(t.rows[0][3], Value::FloatArray(vec![1.0, 2.0]));
        assert_eq!(t.rows[2][2], Value::Null);
    }
    std::fs::remove_dir_all(&dir).unwrap();
}
