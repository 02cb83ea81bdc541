//! The `import` kind: downloads a collection of spectra into a folder of the user's storage.
//!
//! The list comes from exactly one source:
//! - `votable`: a VOTable in the user's storage (e.g. saved from TOPCAT),
//! - `url`: the URL of a remote VOTable,
//! - `ssap`: an SSAP service URL, queried with `pos`/`size`/`band`/`time`/`format`/`maxrec`,
//! - `directory`: an HTTP directory (index pages), walked recursively like `wget -r -np`.
//!
//! VOTable rows name their spectrum in an access-reference column (`column`, by UCD, utype or
//! name; by default the SSAP/ObsCore access reference or a `meta.ref.url` column). Where a row's
//! format (or the response's Content-Type) says `content=datalink`, the DataLink document is
//! read and its `#this` link fetched instead.
//!
//! Downloads run `concurrency` at a time with retries for transient failures; files already in
//! the folder are kept, so a restarted or re-submitted import only fetches what is missing.
//! `report.json` and `report.vot` list every file with its outcome and, for failures, why.
//!
//! Quota: the downloads share one [`Budget`], what is left of the owner's storage quota when
//! the job started. A file that would pass it is not kept, no further download starts, files
//! already fetched stay, the report lists the files skipped for quota (status `skipped_quota`),
//! and the job ends in ERROR with a summary (its report is still a result). Freeing space and
//! re-running the import fetches the rest.
//!
//! Safety: only http(s); loopback/private/link-local addresses are refused unless the operator
//! sets `import.allow_private_addresses` (see [`http`]); the folder cannot leave the user's
//! storage; archive passwords live in a credentials file in the user's storage (named by the
//! `credentials` parameter), so job parameters and logs only ever show its path.

mod budget;
mod cancel;
mod http;
mod sources;

use std::collections::{HashSet, VecDeque};
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::votable::{self, Datatype, Field, Table, Value};
use crate::{Failure, JobContext, Kind, Outputs, ParamError, ParamSpec, ParamType, Resources, ResultFile};
use budget::Budget;
pub use http::is_internal;
use http::{Client, FetchError, check_url};
use sources::Item;

/// Largest list document (VOTable, index page, DataLink document) read into memory.
const LIST_LIMIT: u64 = 256 << 20;
const PAGE_LIMIT: u64 = 16 << 20;

pub struct Import;

#[derive(Debug, Serialize, Deserialize)]
pub struct ImportParams {
    pub votable: Option<String>,
    pub url: Option<String>,
    pub ssap: Option<String>,
    pub directory: Option<String>,
    pub pos: Option<String>,
    pub size: Option<f64>,
    pub band: Option<String>,
    pub time: Option<String>,
    pub format: Option<String>,
    pub maxrec: Option<i64>,
    pub column: Option<String>,
    pub name_column: Option<String>,
    pub folder: String,
    pub depth: i64,
    pub accept: Option<String>,
    pub concurrency: i64,
    pub retries: i64,
    pub timeout: f64,
    pub max_file_mb: f64,
    pub max_files: i64,
    pub credentials: Option<String>,
}

fn text(max_len: usize) -> ParamType {
    ParamType::Text { max_len }
}

/// Checks a user-relative folder: no absolute paths, `..`, `.`, backslashes or control characters.
fn check_folder(folder: &str) -> Result<(), String> {
    if folder.trim().is_empty() {
        return Err("empty folder".into());
    }
    if folder.starts_with('/') || folder.contains('\\') || folder.chars().any(char::is_control) {
        return Err(format!("{folder:?} must be a relative path inside your storage"));
    }
    if folder.split('/').any(|p| p == ".." || p == ".") {
        return Err(format!("{folder:?} may not contain '.' or '..'"));
    }
    Ok(())
}

impl Kind for Import {
    type Params = ImportParams;
    const NAME: &'static str = "import";
    const USES_QUOTA: bool = true;
    const DESCRIPTION: &'static str = "Downloads the spectra listed by a VOTable (in your storage or at a URL), an SSAP query or an HTTP directory into a folder of your storage, with retries, DataLink and a report of failures.";

    fn parameters() -> Vec<ParamSpec> {
        vec![
            ParamSpec::new("votable", ParamType::Path, "source: a VOTable in your storage listing spectra by URL"),
            ParamSpec::new("url", text(4096), "source: the http(s) URL of a VOTable listing spectra by URL"),
            ParamSpec::new(
                "ssap",
                text(4096),
                "source: an SSAP service URL (queried with REQUEST=queryData and pos, size, …)",
            ),
            ParamSpec::new(
                "directory",
                text(4096),
                "source: an http(s) directory whose index pages are walked recursively",
            ),
            ParamSpec::new("pos", text(200), "SSAP POS: \"ra,dec\" in degrees (required with ssap)"),
            ParamSpec::new(
                "size",
                ParamType::Float { min: Some(0.0), max: Some(180.0) },
                "SSAP SIZE: search diameter in degrees",
            ),
            ParamSpec::new("band", text(200), "SSAP BAND: spectral range in metres, e.g. 4e-7/7e-7"),
            ParamSpec::new("time", text(200), "SSAP TIME: ISO 8601 range, e.g. 2010-01-01/2012-12-31"),
            ParamSpec::new("format", text(200), "SSAP FORMAT, e.g. fits, votable, application/fits"),
            ParamSpec::new(
                "maxrec",
                ParamType::Integer { min: Some(1), max: Some(1_000_000) },
                "SSAP MAXREC: most rows the service returns",
            ),
            ParamSpec::new(
                "column",
                text(200),
                "the access-reference column, by UCD, utype or name (default: ssa:Access.Reference, meta.ref.url, access_url, url, …)",
            ),
            ParamSpec::new("name_column", text(200), "a column giving file names (default: from the URL)"),
            ParamSpec::new("folder", text(1024), "folder of your storage to download into (created if missing)")
                .required(),
            ParamSpec::new(
                "depth",
                ParamType::Integer { min: Some(0), max: Some(20) },
                "directory: how many sub-directory levels to follow",
            )
            .default(5),
            ParamSpec::new(
                "accept",
                text(1000),
                "directory: comma-separated file name endings to fetch, e.g. .fits,.fit (default: all)",
            ),
            ParamSpec::new(
                "concurrency",
                ParamType::Integer { min: Some(1), max: Some(16) },
                "downloads running at once",
            )
            .default(4),
            ParamSpec::new(
                "retries",
                ParamType::Integer { min: Some(0), max: Some(10) },
                "further attempts after a transient failure (timeouts, HTTP 5xx)",
            )
            .default(2),
            ParamSpec::new(
                "timeout",
                ParamType::Float { min: Some(1.0), max: Some(86400.0) },
                "seconds one request may take, body included",
            )
            .default(300.0),
            ParamSpec::new(
                "max_file_mb",
                ParamType::Float { min: Some(0.001), max: Some(1e6) },
                "files larger than this many MB (10^6 bytes) fail",
            )
            .default(2000.0),
            ParamSpec::new(
                "max_files",
                ParamType::Integer { min: Some(1), max: Some(1_000_000) },
                "refuse lists longer than this",
            )
            .default(100_000),
            ParamSpec::new(
                "credentials",
                ParamType::Path,
                "a file in your storage with `host login password` lines: HTTP Basic credentials, sent only to their host",
            ),
        ]
    }

    /// The memory an import holds: the source list (a VOTable in storage by its size, a remote
    /// list up to its limit, a directory walk one index page at a time) about three times over
    /// once parsed, ~2 KiB per listed file, a buffer per concurrent download, and the runtime.
    fn resources(p: &ImportParams, user_dir: &std::path::Path) -> Resources {
        const BASE: u64 = 64 << 20;
        const PER_FILE: u64 = 2 << 10;
        const PER_DOWNLOAD: u64 = 1 << 20;
        let list = match (&p.votable, &p.directory) {
            (Some(votable), _) => std::fs::metadata(user_dir.join(votable)).map_or(LIST_LIMIT, |m| m.len()),
            (None, Some(_)) => PAGE_LIMIT,
            _ => LIST_LIMIT,
        };
        let bytes = BASE
            .saturating_add(list.min(LIST_LIMIT).saturating_mul(3))
            .saturating_add((p.max_files.max(0) as u64).saturating_mul(PER_FILE))
            .saturating_add((p.concurrency.max(0) as u64).saturating_mul(PER_DOWNLOAD));
        let basis = format!("max_files={} concurrency={}", p.max_files, p.concurrency);
        Resources { cores: 1, memory_mb: Some(crate::bytes_to_mb(bytes)), basis }
    }

    fn check(p: &ImportParams) -> Result<(), ParamError> {
        let sources = [("votable", &p.votable), ("url", &p.url), ("ssap", &p.ssap), ("directory", &p.directory)];
        let given: Vec<&str> = sources.iter().filter(|(_, v)| v.is_some()).map(|(n, _)| *n).collect();
        if given.len() != 1 {
            return Err(ParamError::invalid(
                "votable",
                format!(
                    "give exactly one source of votable, url, ssap, directory (got {})",
                    if given.is_empty() { "none".into() } else { given.join(", ") }
                ),
            ));
        }
        for (name, value) in [("url", &p.url), ("ssap", &p.ssap), ("directory", &p.directory)] {
            if let Some(v) = value {
                check_url(v).map_err(|e| ParamError::invalid(name, e))?;
            }
        }
        if p.ssap.is_some() && p.pos.is_none() {
            return Err(ParamError::invalid("pos", "an SSAP query needs pos (\"ra,dec\" in degrees)"));
        }
        if let Some(pos) = &p.pos {
            let ok = pos
                .split(',')
                .map(|x| x.trim().parse::<f64>())
                .collect::<Result<Vec<_>, _>>()
                .is_ok_and(|v| v.len() == 2);
            if !ok {
                return Err(ParamError::invalid("pos", format!("expected \"ra,dec\" in degrees, got {pos:?}")));
            }
        }
        check_folder(&p.folder).map_err(|e| ParamError::invalid("folder", e))
    }

    fn run(p: ImportParams, ctx: &JobContext) -> Result<Outputs, Failure> {
        let folder = open_folder(ctx, &p.folder)?;
        let credentials = match &p.credentials {
            Some(path) => {
                let text = std::fs::read_to_string(ctx.input(path))
                    .map_err(|e| Failure::fatal(format!("credentials file {path}"), e))?;
                http::parse_credentials(&text).map_err(|e| Failure::fatal(format!("credentials file {path}"), e))?
            }
            None => Vec::new(),
        };
        let client = Client::new(
            ctx.flag("import_allow_private_addresses"),
            Duration::from_secs_f64(p.timeout),
            credentials,
            (p.max_file_mb * 1e6) as u64,
            p.retries as u32,
            ctx.cancel.clone(),
        );

        ctx.progress(0.0, "listing spectra");
        let (source, (items, skipped)) = list(&p, ctx, &client)?;
        if items.len() as i64 > p.max_files {
            return Err(Failure::Fatal(format!(
                "{source} lists {} files, more than max_files = {}",
                items.len(),
                p.max_files
            )));
        }
        let budget = Budget::new(ctx.quota());
        if budget.quota.is_some_and(|q| q.available() == 0) {
            return Err(Failure::Fatal(format!(
                "nothing imported: your storage is full ({}); free space and run the import again",
                budget.describe()
            )));
        }
        let outcomes = download_all(&items, &folder, &client, p.concurrency as usize, &budget, ctx)?;

        let mut report: Vec<Outcome> = skipped
            .into_iter()
            .map(|(what, why)| Outcome {
                url: String::new(),
                name: what,
                status: Status::Failed,
                bytes: 0,
                attempts: 0,
                error: Some(why),
            })
            .collect();
        report.extend(outcomes);
        write_report(ctx, &source, &p.folder, &report)?;
        let count = |s: Status| report.iter().filter(|o| o.status == s).count();
        let summary = format!(
            "{} downloaded ({} bytes), {} already there, {} failed",
            count(Status::Downloaded),
            report.iter().filter(|o| o.status == Status::Downloaded).map(|o| o.bytes).sum::<u64>(),
            count(Status::Kept),
            count(Status::Failed)
        );
        ctx.progress(1.0, &summary);
        if count(Status::SkippedQuota) > 0 {
            return Err(Failure::Fatal(format!(
                "storage quota reached: {summary}, {} skipped for {}; the files fetched are kept, \
                 report.json lists the rest; free space and run the import again to fetch them",
                count(Status::SkippedQuota),
                budget.describe()
            )));
        }
        Ok(Outputs {
            results: vec![
                ResultFile { name: "report.json".into(), mime_type: "application/json".into() },
                ResultFile { name: "report.vot".into(), mime_type: "application/x-votable+xml".into() },
            ],
        })
    }
}

/// Creates the destination folder and makes sure it (after symlinks) is inside the user's storage.
fn open_folder(ctx: &JobContext, folder: &str) -> Result<PathBuf, Failure> {
    check_folder(folder).map_err(|e| Failure::fatal("folder", e))?;
    let path = ctx.user_dir.join(folder);
    std::fs::create_dir_all(&path).map_err(|e| Failure::fatal(format!("creating folder {folder}"), e))?;
    let real = path.canonicalize().map_err(|e| Failure::fatal(format!("folder {folder}"), e))?;
    let root = ctx.user_dir.canonicalize().map_err(|e| Failure::Retryable(format!("user storage: {e}")))?;
    if !real.starts_with(&root) {
        return Err(Failure::Fatal(format!("folder {folder} leads outside your storage")));
    }
    Ok(real)
}

fn fetch_failure(what: &str, e: FetchError) -> Failure {
    if e.message == "cancelled" { Failure::Cancelled } else { Failure::Fatal(format!("{what}: {}", e.message)) }
}

/// Builds the list of files from the one source given; returns a description of the source too.
fn list(
    p: &ImportParams,
    ctx: &JobContext,
    client: &Client,
) -> Result<(String, (Vec<Item>, sources::Skipped)), Failure> {
    let column = p.column.as_deref();
    let names = p.name_column.as_deref();
    if let Some(path) = &p.votable {
        let file = ctx.input(path);
        let size = std::fs::metadata(&file).map_err(|e| Failure::fatal(path, e))?.len();
        if size > LIST_LIMIT {
            return Err(Failure::Fatal(format!(
                "{path}: {size} bytes is more than the {LIST_LIMIT} byte limit for lists"
            )));
        }
        let bytes = std::fs::read(&file).map_err(|e| Failure::fatal(path, e))?;
        let listed = sources::from_votable(&bytes, column, names).map_err(|e| Failure::fatal(path, e))?;
        return Ok((format!("VOTable {path}"), listed));
    }
    if let Some(dir) = &p.directory {
        let accept: Vec<String> = p
            .accept
            .iter()
            .flat_map(|a| a.split(','))
            .map(|s| s.trim().to_ascii_lowercase())
            .filter(|s| !s.is_empty())
            .collect();
        return Ok((
            format!("directory {dir}"),
            crawl(client, dir, p.depth as usize, &accept, p.max_files as usize, ctx)?,
        ));
    }
    let (what, url) = match (&p.url, &p.ssap) {
        (Some(url), _) => (format!("VOTable {url}"), url.clone()),
        (None, Some(service)) => {
            let url = sources::ssap_url(
                service,
                &[
                    ("POS", p.pos.clone()),
                    ("SIZE", p.size.map(|s| s.to_string())),
                    ("BAND", p.band.clone()),
                    ("TIME", p.time.clone()),
                    ("FORMAT", p.format.clone()),
                    ("MAXREC", p.maxrec.map(|m| m.to_string())),
                ],
            );
            (format!("SSAP query {url}"), url)
        }
        _ => return Err(Failure::Fatal("no source given".into())),
    };
    let (bytes, _) =
        client.get_bytes(&url, LIST_LIMIT, &ctx.cancel).map_err(|e| fetch_failure(&format!("fetching {what}"), e))?;
    let listed = sources::from_votable(&bytes, column, names).map_err(|e| Failure::fatal(&what, e))?;
    Ok((what, listed))
}

/// Walks index pages below `start` (never above it, never to another host), breadth first.
/// Every link is resolved and normalised (`sources::join`: dot segments, also encoded, removed;
/// host in lower case) before the prefix test, so `/../` and absolute links cannot leave it.
fn crawl(
    client: &Client,
    start: &str,
    depth: usize,
    accept: &[String],
    max_files: usize,
    ctx: &JobContext,
) -> Result<(Vec<Item>, sources::Skipped), Failure> {
    let start = &*sources::normalise(start.trim())
        .ok_or_else(|| Failure::Fatal(format!("{start}: not a directory URL vocloud can walk")))?;
    let prefix = match start.rfind('/') {
        Some(i) if i > start.find("://").map_or(0, |j| j + 2) => start[..=i].to_string(),
        _ => format!("{start}/"),
    };
    let mut queue = VecDeque::from([(start.to_string(), 0usize)]);
    let mut seen: HashSet<String> = HashSet::from([start.to_string(), prefix.clone()]);
    let mut items = Vec::new();
    let mut skipped = Vec::new();
    while let Some((page, level)) = queue.pop_front() {
        ctx.checkpoint()?;
        ctx.progress(0.0, format!("listing {page} ({} files so far)", items.len()));
        let html = match client.get_bytes(&page, PAGE_LIMIT, &ctx.cancel) {
            Ok((bytes, _)) => String::from_utf8_lossy(&bytes).into_owned(),
            Err(e) if page == start => return Err(fetch_failure(&format!("listing {start}"), e)),
            Err(e) => {
                skipped.push((page.clone(), format!("listing failed: {}", e.message)));
                continue;
            }
        };
        for href in sources::links(&html) {
            let Some(url) = sources::join(&page, &href) else { continue };
            // Sort links (?C=M;O=A), anchors and anything outside the tree are not files.
            if url.contains('?') || url.contains('#') || !url.starts_with(&prefix) || !seen.insert(url.clone()) {
                continue;
            }
            let relative = &url[prefix.len()..];
            if url.ends_with('/') {
                if level < depth {
                    queue.push_back((url.clone(), level + 1));
                }
                continue;
            }
            if !accept.is_empty() && !accept.iter().any(|a| relative.to_ascii_lowercase().ends_with(a.as_str())) {
                continue;
            }
            let name = relative
                .split('/')
                .map(|part| sources::sanitize(&sources::percent_decode(part)))
                .collect::<Vec<_>>()
                .join("/");
            items.push(Item { url, name, format: None });
            if items.len() > max_files {
                return Err(Failure::Fatal(format!("{start} holds more than max_files = {max_files} files")));
            }
        }
    }
    Ok((items, skipped))
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
enum Status {
    Downloaded,
    Kept,
    Failed,
    /// Not fetched (or fetched and dropped): it would have passed the owner's storage quota.
    SkippedQuota,
}

impl Status {
    fn as_str(self) -> &'static str {
        match self {
            Status::Downloaded => "downloaded",
            Status::Kept => "kept",
            Status::Failed => "failed",
            Status::SkippedQuota => "skipped_quota",
        }
    }
}

#[derive(Debug, Clone, Serialize)]
struct Outcome {
    url: String,
    name: String,
    status: Status,
    bytes: u64,
    attempts: u32,
    error: Option<String>,
}

fn download_all(
    items: &[Item],
    folder: &Path,
    client: &Client,
    concurrency: usize,
    budget: &Budget,
    ctx: &JobContext,
) -> Result<Vec<Outcome>, Failure> {
    let next = AtomicUsize::new(0);
    let done = AtomicUsize::new(0);
    let failed = AtomicUsize::new(0);
    let results: Mutex<Vec<(usize, Outcome)>> = Mutex::new(Vec::with_capacity(items.len()));
    let total = items.len().max(1);
    std::thread::scope(|scope| {
        for _ in 0..concurrency.min(items.len()).max(1) {
            scope.spawn(|| {
                loop {
                    if ctx.cancel.is_cancelled() {
                        return;
                    }
                    let i = next.fetch_add(1, Ordering::SeqCst);
                    let Some(item) = items.get(i) else { return };
                    let outcome = fetch_one(item, folder, client, budget, ctx);
                    if outcome.status == Status::Failed {
                        failed.fetch_add(1, Ordering::SeqCst);
                    }
                    let n = done.fetch_add(1, Ordering::SeqCst) + 1;
                    results.lock().unwrap_or_else(|e| e.into_inner()).push((i, outcome));
                    let f = failed.load(Ordering::SeqCst);
                    ctx.progress(n as f64 / total as f64, format!("{n} of {} files done, {f} failed", items.len()));
                }
            });
        }
    });
    ctx.checkpoint()?;
    let mut results = results.into_inner().unwrap_or_else(|e| e.into_inner());
    results.sort_by_key(|(i, _)| *i);
    Ok(results.into_iter().map(|(_, o)| o).collect())
}

fn is_datalink(content_type: Option<&str>) -> bool {
    content_type.is_some_and(|t| t.to_ascii_lowercase().replace(' ', "").contains("content=datalink"))
}

/// The `#this` link of a DataLink document (the dataset itself), else its first usable link.
fn datalink_target(bytes: &[u8]) -> Result<String, String> {
    let doc = votable::read(bytes).map_err(|e| format!("DataLink document: {e}"))?;
    for t in &doc.tables {
        let Some(access) = t.column("access_url") else { continue };
        let semantics = t.column("semantics");
        let error = t.column("error_message");
        let cell = |row: &[Value], i: Option<usize>| i.map(|i| row[i].to_text()).unwrap_or_default();
        let usable: Vec<&Vec<Value>> = t
            .rows
            .iter()
            .filter(|r| !cell(r, Some(access)).trim().is_empty() && cell(r, error).trim().is_empty())
            .collect();
        let pick = usable.iter().find(|r| cell(r, semantics).trim().ends_with("#this")).or(usable.first());
        if let Some(row) = pick {
            return Ok(cell(row, Some(access)).trim().to_string());
        }
        let errors: Vec<String> = t.rows.iter().map(|r| cell(r, error)).filter(|e| !e.is_empty()).collect();
        if !errors.is_empty() {
            return Err(format!("DataLink document reports: {}", errors.join("; ")));
        }
    }
    Err("DataLink document has no access_url to follow".into())
}

fn fetch_one(item: &Item, folder: &Path, client: &Client, budget: &Budget, ctx: &JobContext) -> Outcome {
    let dest = folder.join(&item.name);
    let mut outcome = Outcome {
        url: item.url.clone(),
        name: item.name.clone(),
        status: Status::Failed,
        bytes: 0,
        attempts: 0,
        error: None,
    };
    // Kept from an earlier run: resuming never fetches a file twice.
    if let Ok(meta) = std::fs::metadata(&dest)
        && meta.is_file()
    {
        outcome.status = Status::Kept;
        outcome.bytes = meta.len();
        return outcome;
    }
    if budget.is_spent() {
        outcome.status = Status::SkippedQuota;
        outcome.error = Some(format!("not fetched: the import reached {}", budget.describe()));
        return outcome;
    }
    if let Some(parent) = dest.parent()
        && let Err(e) = std::fs::create_dir_all(parent)
    {
        outcome.error = Some(format!("creating {}: {e}", parent.display()));
        return outcome;
    }
    let mut url = item.url.clone();
    let mut via_datalink = false;
    if is_datalink(item.format.as_deref()) {
        match client
            .get_bytes(&url, PAGE_LIMIT, &ctx.cancel)
            .map_err(|e| e.message)
            .and_then(|(b, _)| datalink_target(&b))
        {
            Ok(target) => {
                url = target;
                via_datalink = true;
            }
            Err(e) => {
                outcome.error = Some(e);
                return outcome;
            }
        }
    }
    for _ in 0..2 {
        match client.download(&url, &dest, &ctx.cancel, budget) {
            Ok((fetched, attempts)) => {
                outcome.attempts += attempts;
                // The access reference turned out to be a DataLink document: follow it once.
                if !via_datalink && is_datalink(fetched.content_type.as_deref()) {
                    via_datalink = true;
                    let target = std::fs::read(&dest).map_err(|e| e.to_string()).and_then(|b| datalink_target(&b));
                    let _ = std::fs::remove_file(&dest);
                    budget.give_back(fetched.bytes);
                    match target {
                        Ok(t) => {
                            url = t;
                            continue;
                        }
                        Err(e) => {
                            outcome.error = Some(e);
                            return outcome;
                        }
                    }
                }
                outcome.status = Status::Downloaded;
                outcome.bytes = fetched.bytes;
                if via_datalink {
                    outcome.url = format!("{} (DataLink → {url})", item.url);
                }
                return outcome;
            }
            Err((e, attempts)) => {
                outcome.attempts += attempts;
                if e.over_quota {
                    budget.mark_spent();
                    outcome.status = Status::SkippedQuota;
                }
                outcome.error =
                    Some(if via_datalink { format!("{} (DataLink → {url})", e.message) } else { e.message });
                return outcome;
            }
        }
    }
    outcome
}

fn write_report(ctx: &JobContext, source: &str, folder: &str, report: &[Outcome]) -> Result<(), Failure> {
    let count = |s: Status| report.iter().filter(|o| o.status == s).count();
    let json = serde_json::json!({
        "source": source,
        "folder": folder,
        "total": report.len(),
        "downloaded": count(Status::Downloaded),
        "kept": count(Status::Kept),
        "failed": count(Status::Failed),
        "skipped_quota": count(Status::SkippedQuota),
        "bytes": report.iter().map(|o| o.bytes).sum::<u64>(),
        "files": report,
    });
    ctx.write_result("report.json", &serde_json::to_vec_pretty(&json).unwrap_or_default())?;

    let mut t = Table::new(
        "import_report",
        vec![
            Field::new("url", Datatype::Char).ucd("meta.ref.url").describe("where the file came from"),
            Field::new("name", Datatype::Char).ucd("meta.id;meta.file").describe("path inside the import folder"),
            Field::new("status", Datatype::Char)
                .ucd("meta.code.status")
                .describe("downloaded, kept (already there), failed, or skipped_quota (would pass the storage quota)"),
            Field::new("bytes", Datatype::Long).unit("byte").ucd("phys.size;meta.file"),
            Field::new("attempts", Datatype::Int).ucd("meta.number"),
            Field::new("error", Datatype::Char).ucd("meta.note").describe("why the file could not be fetched"),
        ],
    );
    t.description = Some(format!("vocloud import from {source} into {folder}"));
    t.infos.push(("source".into(), source.into()));
    t.infos.push(("folder".into(), folder.into()));
    for o in report {
        t.push(vec![
            if o.url.is_empty() { Value::Null } else { Value::Text(o.url.clone()) },
            Value::Text(o.name.clone()),
            Value::Text(o.status.as_str().into()),
            Value::Int(o.bytes as i64),
            Value::Int(o.attempts as i64),
            o.error.clone().map_or(Value::Null, Value::Text),
        ]);
    }
    ctx.write_result("report.vot", &t.to_bytes())
}

#[cfg(test)]
mod tests;
