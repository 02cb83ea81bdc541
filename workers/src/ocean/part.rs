//! Parts of a request split by time range, and their exact merge (`ocean-merge`).
//!
//! `ocean-timeseries`, `ocean-dda` and `ocean-timeavg` take an optional `partial` folder of the
//! user's storage. With it, a job computes its `[start, end]` slice as usual but, instead of
//! the result files, writes its exact state to `<partial>/part-<start>-<end>.ocpart` (plus a
//! small `part.json` result saying so): per time step [`Partial`] statistics (count, sums,
//! cos-latitude weighted sums, min, max, sum of squared deviations) for the series kinds, per
//! pixel sums and counts and the grid for the map. `ocean-merge` reads every part of a folder,
//! refuses parts that do not belong together, and writes the files a single job would write.
//!
//! File layout (little-endian): the magic line, the header length (u64), the header as JSON
//! (everything but floating-point numbers), then the numbers as raw IEEE bits, so sums
//! round-trip bit-exactly (JSON text parsing may round the last bit).
//! - series: per row `cnt` (u64), `sum`, `wsum`, `wtot`, `min`, `max`, `m2`, then the row's
//!   extra values (`extra_names`: the seasonal variants, which are per step and so exact).
//! - map: `sum` (f64 per pixel), `count` (u32 per pixel), then `lat_1d` (rows) and `lon_1d`
//!   (cols) on regular grids, else `lat` and `lon` (f64 per pixel).

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::select::Selection;
use super::series::Row;
use super::stats::Partial;
use super::time::{Stamp, iso_utc};
use crate::{Failure, JobContext, Outputs, ParamError, ParamSpec, ParamType, ResultFile};

const MAGIC: &[u8] = b"vocloud ocean part\n";
pub const EXTENSION: &str = "ocpart";
const FORMAT: u32 = 1;

/// The seasonal fields a time series row may carry (names are `&'static` in [`Row`]).
const EXTRA_NAMES: [&str; 3] = ["meanSeasonal", "minSeasonal", "maxSeasonal"];

/// The `partial` parameter shared by the splittable kinds.
pub fn spec() -> ParamSpec {
    ParamSpec::new(
        "partial",
        ParamType::Text { max_len: 1024 },
        "split runs: a folder of your storage (created if missing); the job writes its exact partial state there as part-<start>-<end>.ocpart instead of result files, for ocean-merge",
    )
}

/// What must be equal in every part of one request.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Key {
    pub kind: String,
    pub dataset: String,
    pub variable: String,
    /// The bbox as the client wrote it (used in titles); compared through `bbox_bits`.
    pub bbox: String,
    /// west, south, east, north as f64 bits (so "0,0,1,1" and "0, 0, 1, 1" agree).
    pub bbox_bits: [u64; 4],
    pub units: Option<String>,
    pub rows: usize,
    pub cols: usize,
    /// FNV-1a of the selected pixels' latitudes and longitudes.
    pub grid: String,
    /// Kind options that change the numbers (climatologies, low pass).
    pub options: Value,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Header {
    format: u32,
    key: Key,
    /// The requested inclusive bounds, epoch seconds (i64::MIN / MAX when open).
    start: i64,
    end: i64,
    /// Series: per row time and ISO time; map: empty.
    rows: Vec<(i64, String)>,
    extra_names: Vec<String>,
    /// Map: first and last step (epoch, iso) and the number of steps.
    span: Option<((i64, String), (i64, String))>,
    steps: usize,
    one_d: bool,
}

/// The per-pixel state of a time-average map, with its grid.
#[derive(Debug, Clone, PartialEq)]
pub struct MapState {
    pub sum: Vec<f64>,
    pub count: Vec<u32>,
    pub lat: Vec<f64>,
    pub lon: Vec<f64>,
    pub lat_1d: Option<Vec<f64>>,
    pub lon_1d: Option<Vec<f64>>,
    pub span: Option<(Stamp, Stamp)>,
    pub steps: usize,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Body {
    Series(Vec<Row>),
    Map(Box<MapState>),
}

/// One part: a time slice of a request.
#[derive(Debug, Clone, PartialEq)]
pub struct Part {
    pub key: Key,
    pub start: i64,
    pub end: i64,
    pub body: Body,
}

impl Key {
    pub fn new(kind: &str, req: &super::Request, opened: &super::Opened, options: Value) -> Key {
        let b = &opened.bbox;
        Key {
            kind: kind.to_string(),
            dataset: req.dataset.trim().trim_end_matches('/').to_string(),
            variable: req.variable.trim().to_string(),
            bbox: req.bbox.clone(),
            bbox_bits: [b.west.to_bits(), b.south.to_bits(), b.east.to_bits(), b.north.to_bits()],
            units: opened.units().map(str::to_string),
            rows: opened.sel.rows,
            cols: opened.sel.cols,
            grid: fingerprint(&opened.sel.lat, &opened.sel.lon),
            options,
        }
    }

    /// The request the parts came from (without its time bounds).
    pub fn request(&self) -> super::Request {
        super::Request {
            dataset: self.dataset.clone(),
            variable: self.variable.clone(),
            bbox: self.bbox.clone(),
            start: None,
            end: None,
        }
    }

    pub fn bbox(&self) -> super::select::BBox {
        let [west, south, east, north] = self.bbox_bits.map(f64::from_bits);
        super::select::BBox { west, south, east, north }
    }

    /// The first field in which `other` differs, as "field: a vs b".
    fn difference(&self, other: &Key) -> Option<String> {
        let fields = [
            ("kind", json!(self.kind), json!(other.kind)),
            ("dataset", json!(self.dataset), json!(other.dataset)),
            ("variable", json!(self.variable), json!(other.variable)),
            ("bbox", json!(self.bbox_bits), json!(other.bbox_bits)),
            ("units", json!(self.units), json!(other.units)),
            ("grid", json!([self.rows, self.cols, self.grid]), json!([other.rows, other.cols, other.grid])),
            ("options", self.options.clone(), other.options.clone()),
        ];
        fields.into_iter().find(|(_, a, b)| a != b).map(|(name, a, b)| {
            let (a, b) = if name == "bbox" { (json!(self.bbox), json!(other.bbox)) } else { (a, b) };
            format!("{name} {a} vs {b}")
        })
    }
}

fn fingerprint(lat: &[f64], lon: &[f64]) -> String {
    let mut hash: u64 = 0xcbf29ce484222325;
    for value in lat.iter().chain(lon) {
        for byte in value.to_bits().to_le_bytes() {
            hash = (hash ^ byte as u64).wrapping_mul(0x100000001b3);
        }
    }
    format!("{hash:016x}")
}

/// The file name of a part: its requested bounds, compact UTC (`begin`/`end` when open).
pub fn file_name(start: i64, end: i64) -> String {
    let stamp = |t: i64, open: &str| match t {
        i64::MIN | i64::MAX => open.to_string(),
        t => iso_utc(t)[..19].replace(['-', ':'], ""),
    };
    format!("part-{}-{}.{EXTENSION}", stamp(start, "begin"), stamp(end, "end"))
}

impl Part {
    pub fn encode(&self) -> Vec<u8> {
        let mut header = Header {
            format: FORMAT,
            key: self.key.clone(),
            start: self.start,
            end: self.end,
            rows: Vec::new(),
            extra_names: Vec::new(),
            span: None,
            steps: 0,
            one_d: false,
        };
        let mut numbers = Vec::new();
        let f = |out: &mut Vec<u8>, v: f64| out.extend_from_slice(&v.to_bits().to_le_bytes());
        match &self.body {
            Body::Series(rows) => {
                header.extra_names =
                    rows.first().map_or(Vec::new(), |r| r.extra.iter().map(|(n, _)| n.to_string()).collect());
                for r in rows {
                    header.rows.push((r.time, r.iso_time.clone()));
                    let p = &r.stats;
                    numbers.extend_from_slice(&p.cnt.to_le_bytes());
                    for v in [p.sum, p.wsum, p.wtot, p.min, p.max, p.m2] {
                        f(&mut numbers, v);
                    }
                    for (_, v) in &r.extra {
                        f(&mut numbers, *v);
                    }
                }
            }
            Body::Map(m) => {
                header.span = m.span.as_ref().map(|(a, b)| ((a.epoch, a.iso.clone()), (b.epoch, b.iso.clone())));
                header.steps = m.steps;
                header.one_d = m.lat_1d.is_some() && m.lon_1d.is_some();
                m.sum.iter().for_each(|&v| f(&mut numbers, v));
                m.count.iter().for_each(|c| numbers.extend_from_slice(&c.to_le_bytes()));
                // A regular grid's pixels are its 1-D coordinates repeated (select.rs): store those.
                match (&m.lat_1d, &m.lon_1d) {
                    (Some(lat), Some(lon)) => lat.iter().chain(lon).for_each(|&v| f(&mut numbers, v)),
                    _ => m.lat.iter().chain(&m.lon).for_each(|&v| f(&mut numbers, v)),
                }
            }
        }
        let header = serde_json::to_vec(&header).expect("a header serialises");
        let mut out = Vec::with_capacity(MAGIC.len() + 8 + header.len() + numbers.len());
        out.extend_from_slice(MAGIC);
        out.extend_from_slice(&(header.len() as u64).to_le_bytes());
        out.extend_from_slice(&header);
        out.extend_from_slice(&numbers);
        out
    }

    pub fn decode(bytes: &[u8]) -> Result<Part, String> {
        let rest = bytes.strip_prefix(MAGIC).ok_or("not a vocloud ocean part (bad magic)")?;
        let mut r = Reader(rest);
        let len = r.u64()? as usize;
        let header: Header = serde_json::from_slice(r.take(len)?).map_err(|e| format!("bad header: {e}"))?;
        if header.format != FORMAT {
            return Err(format!("part format {} (this vocloud reads {FORMAT})", header.format));
        }
        let body = if header.key.kind == "ocean-timeavg" {
            let (rows, cols) = (header.key.rows, header.key.cols);
            let n = rows.checked_mul(cols).ok_or(format!("declares a map of {rows} × {cols} pixels"))?;
            let sum = r.f64s(n)?;
            let count = (0..n).map(|_| r.u32()).collect::<Result<Vec<_>, _>>()?;
            let (lat, lon, lat_1d, lon_1d) = if header.one_d {
                let (lat_1d, lon_1d) = (r.f64s(rows)?, r.f64s(cols)?);
                let lat = lat_1d.iter().flat_map(|&la| std::iter::repeat_n(la, cols)).collect();
                let lon = (0..rows).flat_map(|_| lon_1d.iter().copied()).collect();
                (lat, lon, Some(lat_1d), Some(lon_1d))
            } else {
                (r.f64s(n)?, r.f64s(n)?, None, None)
            };
            let stamp = |(epoch, iso): (i64, String)| Stamp { epoch, iso, doy: 0 };
            let span = header.span.map(|(a, b)| (stamp(a), stamp(b)));
            Body::Map(Box::new(MapState { sum, count, lat, lon, lat_1d, lon_1d, span, steps: header.steps }))
        } else {
            let names: Vec<&'static str> = header
                .extra_names
                .iter()
                .map(|n| EXTRA_NAMES.iter().copied().find(|k| k == n).ok_or(format!("unknown field {n}")))
                .collect::<Result<_, _>>()?;
            let mut rows = Vec::with_capacity(header.rows.len());
            for (time, iso_time) in header.rows {
                let cnt = r.u64()?;
                let [sum, wsum, wtot, min, max, m2] = r.f64s(6)?.try_into().expect("six values");
                let stats = Partial { cnt, sum, wsum, wtot, min, max, m2 };
                let extra = names.iter().copied().zip(r.f64s(names.len())?).collect();
                rows.push(Row { time, iso_time, stats, extra });
            }
            Body::Series(rows)
        };
        if !r.0.is_empty() {
            return Err(format!("{} bytes after the data", r.0.len()));
        }
        Ok(Part { key: header.key, start: header.start, end: header.end, body })
    }
}

struct Reader<'a>(&'a [u8]);

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], String> {
        if self.0.len() < n {
            return Err("truncated".into());
        }
        let (head, tail) = self.0.split_at(n);
        self.0 = tail;
        Ok(head)
    }
    fn u64(&mut self) -> Result<u64, String> {
        Ok(u64::from_le_bytes(self.take(8)?.try_into().expect("8 bytes")))
    }
    fn u32(&mut self) -> Result<u32, String> {
        Ok(u32::from_le_bytes(self.take(4)?.try_into().expect("4 bytes")))
    }
    fn f64s(&mut self, n: usize) -> Result<Vec<f64>, String> {
        let bytes = self.take(n.checked_mul(8).ok_or("too large")?)?;
        Ok(bytes.chunks_exact(8).map(|c| f64::from_bits(u64::from_le_bytes(c.try_into().expect("8")))).collect())
    }
}

/// Refuses a folder name that could leave the user's storage (checked at job creation; the
/// folder itself may not exist yet).
pub fn check_folder(name: &str, folder: &str, user_dir: &Path) -> Result<(), ParamError> {
    let bad = |reason: String| ParamError::invalid(name, reason);
    let folder = folder.trim().trim_end_matches('/');
    if folder.is_empty() || folder.starts_with('/') || folder.contains('\\') || folder.chars().any(char::is_control) {
        return Err(bad(format!("{folder:?} must be a relative folder inside your storage")));
    }
    if folder.split('/').any(|c| c == ".." || c == "." || c.is_empty()) {
        return Err(bad(format!("{folder:?} may not contain '.', '..' or '//'")));
    }
    // An existing prefix must stay inside the storage after symbolic links.
    let mut existing = user_dir.join(folder);
    while !existing.exists() {
        if !existing.pop() {
            break;
        }
    }
    let (real, root) = (existing.canonicalize(), user_dir.canonicalize());
    match (real, root) {
        (Ok(real), Ok(root)) if real.starts_with(&root) && real.is_dir() => Ok(()),
        (Ok(real), Ok(root)) if real.starts_with(&root) => Err(bad(format!("{folder:?} is a file, not a folder"))),
        _ => Err(bad(format!("{folder:?} leads outside your storage"))),
    }
}

/// Writes `part` into `folder` of the user's storage (created if missing, atomically by rename)
/// and returns the job's one result, `part.json`, saying where it went.
pub fn write(ctx: &JobContext, folder: &str, part: &Part) -> Result<Outputs, Failure> {
    check_folder("partial", folder, &ctx.user_dir).map_err(|e| Failure::Fatal(e.to_string()))?;
    let folder = folder.trim().trim_end_matches('/');
    let dir = ctx.user_dir.join(folder);
    std::fs::create_dir_all(&dir).map_err(|e| Failure::fatal(format!("creating folder {folder}"), e))?;
    check_folder("partial", folder, &ctx.user_dir).map_err(|e| Failure::Fatal(e.to_string()))?;
    let name = file_name(part.start, part.end);
    let bytes = part.encode();
    if let Some(quota) = ctx.quota()
        && bytes.len() as u64 > quota.available()
    {
        return Err(Failure::Fatal(format!("{folder}/{name}: {} bytes exceed your storage quota", bytes.len())));
    }
    let tmp = dir.join(format!(".{name}.tmp"));
    std::fs::write(&tmp, &bytes)
        .and_then(|()| std::fs::rename(&tmp, dir.join(&name)))
        .map_err(|e| Failure::Retryable(format!("writing {folder}/{name}: {e}")))?;
    let (steps, what) = match &part.body {
        Body::Series(rows) => (rows.len(), "time steps with valid pixels"),
        Body::Map(m) => (m.steps, "time steps summed"),
    };
    let summary = json!({
        "part": format!("{folder}/{name}"), "kind": part.key.kind, "bytes": bytes.len(), "steps": steps,
        "steps_are": what, "start": bound(part.start), "end": bound(part.end),
        "merge": format!("submit ocean-merge with parts={folder} once every part has completed"),
    });
    ctx.write_result("part.json", &serde_json::to_vec_pretty(&summary).expect("json"))?;
    ctx.progress(1.0, format!("part {folder}/{name} written ({steps} steps)"));
    Ok(Outputs { results: vec![ResultFile { name: "part.json".into(), mime_type: "application/json".into() }] })
}

fn bound(t: i64) -> Value {
    if t == i64::MIN || t == i64::MAX { Value::Null } else { json!(iso_utc(t)) }
}

/// The part files of a folder (validated), sorted by name.
pub fn list(folder: &str, user_dir: &Path) -> Result<Vec<(PathBuf, String)>, String> {
    check_folder("parts", folder, user_dir).map_err(|e| e.to_string())?;
    let folder = folder.trim().trim_end_matches('/');
    let dir = user_dir.join(folder);
    let root = user_dir.canonicalize().map_err(|e| format!("your storage: {e}"))?;
    let entries = std::fs::read_dir(&dir).map_err(|e| format!("parts folder {folder}: {e}"))?;
    let mut files = Vec::new();
    for entry in entries {
        let entry = entry.map_err(|e| format!("{folder}: {e}"))?;
        let name = entry.file_name().to_string_lossy().into_owned();
        let inside = entry.path().canonicalize().is_ok_and(|p| p.starts_with(&root) && p.is_file());
        if name.starts_with("part-") && name.ends_with(&format!(".{EXTENSION}")) && inside {
            files.push((entry.path(), format!("{folder}/{name}")));
        }
    }
    files.sort_by(|a, b| a.1.cmp(&b.1));
    if files.is_empty() {
        return Err(format!(
            "parts folder {folder}: no part-*.{EXTENSION} files (run the parts with partial={folder})"
        ));
    }
    Ok(files)
}

/// Merges parts one at a time (so a merge holds two map parts in memory, not all of them),
/// refusing parts of another request; [`Merger::finish`] refuses overlapping time ranges.
/// Exact: series rows are concatenated (each step lies in one part), pixel sums and counts
/// are added (a count past u32 is refused, never wrapped).
#[derive(Default)]
pub struct Merger {
    whole: Option<(String, Part)>,
    /// (name, start, end) of every part.
    ranges: Vec<(String, i64, i64)>,
}

impl Merger {
    pub fn add(&mut self, name: &str, part: Part) -> Result<(), String> {
        self.ranges.push((name.to_string(), part.start, part.end));
        let Some((first_name, whole)) = &mut self.whole else {
            self.whole = Some((name.to_string(), part));
            return Ok(());
        };
        if let Some(diff) = whole.key.difference(&part.key) {
            return Err(format!("{name} does not belong with {first_name}: {diff}"));
        }
        whole.start = whole.start.min(part.start);
        whole.end = whole.end.max(part.end);
        match (&mut whole.body, part.body) {
            (Body::Series(rows), Body::Series(more)) => rows.extend(more),
            (Body::Map(map), Body::Map(more)) => {
                for ((s, c), (s2, c2)) in
                    map.sum.iter_mut().zip(map.count.iter_mut()).zip(more.sum.into_iter().zip(more.count))
                {
                    *s += s2;
                    *c = c.checked_add(c2).ok_or(format!("{name}: a pixel's count of values exceeds 2^32"))?;
                }
                map.steps += more.steps;
                map.span = match (map.span.take(), more.span) {
                    (Some((a0, a1)), Some((b0, b1))) => {
                        Some((if b0.epoch < a0.epoch { b0 } else { a0 }, if b1.epoch > a1.epoch { b1 } else { a1 }))
                    }
                    (a, b) => a.or(b),
                };
            }
            _ => unreachable!("same kind (the keys agree)"),
        }
        Ok(())
    }

    /// The merged part, once no two parts overlap in time.
    pub fn finish(mut self) -> Result<Part, String> {
        self.ranges.sort_by_key(|(_, start, end)| (*start, *end));
        for pair in self.ranges.windows(2) {
            let ((a, a0, a1), (b, b0, b1)) = (&pair[0], &pair[1]);
            if b0 <= a1 {
                return Err(format!(
                    "{a} and {b} overlap in time ({} .. {} and {} .. {}): each time step must be in one part only",
                    bound(*a0),
                    bound(*a1),
                    bound(*b0),
                    bound(*b1)
                ));
            }
        }
        let (_, mut whole) = self.whole.ok_or("no parts")?;
        if let Body::Series(rows) = &mut whole.body {
            rows.sort_by(|a, b| (a.time, &a.iso_time).cmp(&(b.time, &b.iso_time)));
        }
        Ok(whole)
    }
}

/// A selection rebuilt from a map part, for writing the netCDF and PNG (no hyperslab blocks:
/// nothing is read from it).
pub fn selection(key: &Key, map: &MapState) -> Selection {
    let n = map.lat.len();
    Selection {
        blocks: Vec::new(),
        rows: key.rows,
        cols: key.cols,
        lat: map.lat.clone(),
        lon: map.lon.clone(),
        inside: vec![true; n],
        weight: Vec::new(),
        lat_1d: map.lat_1d.clone(),
        lon_1d: map.lon_1d.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn merge(parts: Vec<(&str, Part)>) -> Result<Part, String> {
        let mut merger = Merger::default();
        for (name, part) in parts {
            merger.add(name, part)?;
        }
        merger.finish()
    }

    fn key(kind: &str) -> Key {
        Key {
            kind: kind.into(),
            dataset: "ocean/sst".into(),
            variable: "analysed_sst".into(),
            bbox: "170,-5,-170,5".into(),
            bbox_bits: [170f64, -5.0, -170.0, 5.0].map(f64::to_bits),
            units: Some("kelvin".into()),
            rows: 2,
            cols: 2,
            grid: fingerprint(&[0.1, 0.2], &[0.3, 0.4]),
            options: json!({"low_pass": true}),
        }
    }

    fn series(start: i64, end: i64, times: &[i64]) -> Part {
        let rows = times
            .iter()
            .map(|&t| {
                let values = [(300.0 + t as f64 * 1e-3 + 0.1, 0.9), (f64::NAN, 1.0), (299.7 + 1.0 / 3.0, 0.8)];
                Row {
                    time: t,
                    iso_time: iso_utc(t),
                    stats: Partial::of(values.into_iter()),
                    extra: vec![("meanSeasonal", 0.1 + t as f64), ("minSeasonal", -1.0 / 3.0), ("maxSeasonal", 1e-300)],
                }
            })
            .collect();
        Part { key: key("ocean-timeseries"), start, end, body: Body::Series(rows) }
    }

    fn map(start: i64, end: i64, sum: f64) -> Part {
        let stamp = |t: i64| Stamp { epoch: t, iso: iso_utc(t), doy: 0 };
        Part {
            key: key("ocean-timeavg"),
            start,
            end,
            body: Body::Map(Box::new(MapState {
                sum: vec![sum, 0.0, 1.0 / 3.0, f64::MAX],
                count: vec![3, 0, 1, u32::MAX],
                lat: vec![0.1, 0.1, 0.2, 0.2],
                lon: vec![0.3, 0.4, 0.3, 0.4],
                lat_1d: Some(vec![0.1, 0.2]),
                lon_1d: Some(vec![0.3, 0.4]),
                span: Some((stamp(start), stamp(end))),
                steps: 3,
            })),
        }
    }

    #[test]
    fn parts_round_trip_bit_exactly() {
        for part in
            [series(0, 86400 * 3, &[100, 86500, 200000]), series(i64::MIN, i64::MAX, &[]), map(10, 20, 0.1 + 0.2)]
        {
            let back = Part::decode(&part.encode()).unwrap();
            assert_eq!(back, part);
            assert_eq!(back.encode(), part.encode(), "same bits");
            assert_eq!(back.key, part.key);
            assert_eq!((back.start, back.end), (part.start, part.end));
        }
        let mut curvilinear = map(10, 20, 1.0);
        if let Body::Map(m) = &mut curvilinear.body {
            (m.lat_1d, m.lon_1d, m.lon[3]) = (None, None, 0.45);
        }
        assert_eq!(Part::decode(&curvilinear.encode()).unwrap(), curvilinear, "2-D coordinates kept");
        let mut bad = map(10, 20, 1.0).encode();
        bad.pop();
        assert!(Part::decode(&bad).unwrap_err().contains("truncated"));
        assert!(Part::decode(b"netCDF").unwrap_err().contains("magic"));
        let mut lying = map(10, 20, 1.0);
        (lying.key.rows, lying.key.cols) = (1 << 40, 1 << 40);
        assert!(Part::decode(&lying.encode()).unwrap_err().contains("declares a map of"), "no overflow");
        assert_eq!(file_name(1709164800, 1709337599), "part-20240229T000000-20240301T235959.ocpart");
        assert_eq!(file_name(i64::MIN, i64::MAX), "part-begin-end.ocpart");
    }

    #[test]
    fn merged_series_and_maps_equal_the_whole() {
        let whole = merge(vec![("b", series(1000, 2000, &[1500])), ("a", series(0, 999, &[10, 20]))]).unwrap();
        assert_eq!(whole, series(0, 2000, &[10, 20, 1500]), "rows in time order, bounds widened");
        let e = merge(vec![("a", map(0, 9, 1.5)), ("b", map(10, 20, 2.25))]).unwrap_err();
        assert!(e.contains("b: a pixel's count of values exceeds"), "u32::MAX + u32::MAX is refused: {e}");
        let fixed = |start, end, sum| {
            let mut p = map(start, end, sum);
            if let Body::Map(m) = &mut p.body {
                m.count[3] = 1;
            }
            p
        };
        let Body::Map(m) = merge(vec![("b", fixed(10, 20, 2.25)), ("a", fixed(0, 9, 1.5))]).unwrap().body else {
            panic!()
        };
        assert_eq!((m.sum[0], m.count[0], m.count[3], m.steps), (3.75, 6, 2, 6));
        assert_eq!(m.span.map(|(a, b)| (a.epoch, b.epoch)), Some((0, 20)));
    }

    #[test]
    fn parts_that_do_not_belong_together_are_refused_by_name() {
        let e = merge(vec![("p/b", series(100, 200, &[150])), ("p/a", series(0, 100, &[50]))]).unwrap_err();
        assert!(e.contains("p/a and p/b overlap"), "{e}");
        let open = merge(vec![("p/a", series(i64::MIN, 100, &[50])), ("p/b", series(i64::MIN, 10, &[5]))]);
        assert!(open.unwrap_err().contains("overlap"));
        let mut other = series(200, 300, &[250]);
        other.key.variable = "sst".into();
        let e = merge(vec![("p/a", series(0, 100, &[50])), ("p/b", other)]).unwrap_err();
        assert!(e.contains("p/b does not belong with p/a: variable"), "{e}");
        let e = merge(vec![("p/a", series(0, 100, &[50])), ("p/m", map(200, 300, 1.0))]).unwrap_err();
        assert!(e.contains("kind"), "{e}");
        let mut other = series(200, 300, &[250]);
        other.key.bbox_bits[0] = 171f64.to_bits();
        other.key.bbox = "171,-5,-170,5".into();
        let e = merge(vec![("p/a", series(0, 100, &[50])), ("p/b", other)]).unwrap_err();
        assert!(e.contains("bbox \"170,-5,-170,5\" vs \"171,-5,-170,5\""), "{e}");
        let mut other = series(200, 300, &[250]);
        other.key.grid = fingerprint(&[0.1, 0.2], &[0.3, 0.5]);
        assert!(merge(vec![("a", series(0, 100, &[50])), ("b", other)]).unwrap_err().contains("grid"));
        let mut other = series(200, 300, &[250]);
        other.key.options = json!({"low_pass": false});
        assert!(merge(vec![("a", series(0, 100, &[50])), ("b", other)]).unwrap_err().contains("options"));
    }

    #[test]
    fn folders_leaving_the_storage_are_refused() {
        let dir = std::env::temp_dir().join(format!("vocloud-ocean-part-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(dir.join("parts")).unwrap();
        let root = dir.as_path();
        assert!(check_folder("partial", "parts", root).is_ok());
        assert!(check_folder("partial", "new/folder", root).is_ok(), "created when the job runs");
        for bad in ["/etc", "../x", "a/../../x", "a//b", ""] {
            assert!(check_folder("partial", bad, root).is_err(), "{bad}");
        }
        std::os::unix::fs::symlink("/tmp", root.join("out")).unwrap();
        assert!(check_folder("partial", "out/x", root).unwrap_err().to_string().contains("outside"));
        assert!(list("parts", root).unwrap_err().contains("no part-"));
        std::fs::write(root.join("parts/part-begin-end.ocpart"), series(0, 1, &[]).encode()).unwrap();
        assert_eq!(list("parts", root).unwrap().len(), 1);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
