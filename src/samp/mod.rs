//! `vocloud samp`: a SAMP 1.3 Standard Profile client for the desktop side.
//!
//! - `send FILE|URL` registers on the user's hub, sends one load message (`table.load.votable`,
//!   `table.load.fits` or `spectrum.load.ssa-generic`) to one client or to every subscriber,
//!   waits for each recipient's answer (`samp.hub.callAndWait`, `--timeout`; `--no-wait` only
//!   notifies), prints it, and unregisters. Exit status 1 when a recipient answered `samp.error`
//!   or none answered in time.
//! - `listen --master URL --token T` stays registered, receives those three MTypes, fetches each
//!   URL here on the desktop (file: and http(s):) and uploads it into the user's vocloud storage
//!   through the files API, so the server never reads a client-supplied URL. It answers
//!   `samp.app.ping` and unregisters on Ctrl-C / SIGTERM.
//!
//! [`xmlrpc`] is the wire format (strings, lists and maps only, ASCII); [`hub`] finds and talks to
//! the hub and runs the callback server.

pub mod hub;
pub mod xmlrpc;

use std::path::Path;
use std::sync::Arc;

use anyhow::{Context, anyhow, bail};
use clap::Subcommand;

use hub::{Callback, Hub};
use xmlrpc::Value;

/// The MTypes `listen` takes.
pub const LOAD_MTYPES: [&str; 3] = ["table.load.votable", "table.load.fits", "spectrum.load.ssa-generic"];

#[derive(Subcommand, Debug)]
pub enum SampCommand {
    /// Send a file or URL to a SAMP client (TOPCAT, SPLAT-VO, …) through the desktop hub.
    Send {
        /// A local file (sent as a file: URL) or an http(s) URL.
        target: String,
        /// The receiving client, by SAMP name (e.g. topcat) or id; default: every subscriber.
        #[arg(long)]
        to: Option<String>,
        /// table.load.votable, table.load.fits or spectrum.load.ssa-generic (default: by extension).
        #[arg(long)]
        mtype: Option<String>,
        /// A label for the receiving tool.
        #[arg(long)]
        name: Option<String>,
        /// Seconds to wait for each recipient's answer.
        #[arg(long, value_name = "SECS", default_value_t = 30, value_parser = clap::value_parser!(u32).range(1..=3600))]
        timeout: u32,
        /// Only notify (fire and forget): no answers, exit 0 once the hub took the message.
        #[arg(long)]
        no_wait: bool,
    },
    /// Receive tables and spectra from desktop tools and upload them into vocloud storage.
    Listen {
        /// The vocloud server, e.g. https://vocloud.example.org
        #[arg(long)]
        master: String,
        /// An API token (`vocloud token create USER`).
        #[arg(long, env = "VOCLOUD_TOKEN", hide_env_values = true)]
        token: String,
        /// Folder of your storage the files go to.
        #[arg(long, default_value = "samp")]
        folder: String,
    },
}

/// Runs a `samp` subcommand; returns the process exit status.
pub fn run(command: SampCommand) -> i32 {
    let result = match command {
        SampCommand::Send { target, to, mtype, name, timeout, no_wait } => {
            let wait = (!no_wait).then_some(timeout);
            send(&target, to.as_deref(), mtype.as_deref(), name.as_deref(), wait)
        }
        SampCommand::Listen { master, token, folder } => listen(&master, &token, &folder),
    };
    match result {
        Ok(()) => 0,
        Err(e) => {
            eprintln!("vocloud samp: {e:#}");
            1
        }
    }
}

fn metadata(role: &str) -> Value {
    Value::map(&[
        ("samp.name", Value::str("vocloud")),
        ("samp.description.text", Value::str(&format!("vocloud {role}: spectra processing service (UWS)"))),
        ("vocloud.version", Value::str(env!("CARGO_PKG_VERSION"))),
    ])
}

/// Percent-encodes a path for a file: URL (SAMP strings are ASCII).
fn file_url(path: &Path) -> anyhow::Result<String> {
    let abs = std::fs::canonicalize(path).with_context(|| format!("{} does not exist", path.display()))?;
    let text = abs.to_str().ok_or_else(|| anyhow!("{} is not valid UTF-8", abs.display()))?;
    let encoded: String = text
        .bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' | b'/' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect();
    Ok(format!("file://{encoded}"))
}

/// The MType a file name suggests.
fn guess_mtype(name: &str) -> &'static str {
    let lower = name.to_ascii_lowercase();
    let lower = lower.split(['?', '#']).next().unwrap_or("");
    if [".fits", ".fit", ".fts", ".fits.gz"].iter().any(|e| lower.ends_with(e)) {
        "table.load.fits"
    } else {
        "table.load.votable"
    }
}

fn mime_of(url: &str) -> &'static str {
    if guess_mtype(url) == "table.load.fits" { "application/fits" } else { "application/x-votable+xml" }
}

/// A fresh table-id: TOPCAT refuses a table-id it has already seen.
fn fresh_id() -> String {
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_nanos()).unwrap_or(0);
    format!("vocloud-{}-{nanos}", std::process::id())
}

/// What one recipient made of a call.
enum Answer {
    /// `samp.ok` or `samp.warning`, with a line to print.
    Fine(String),
    /// `samp.error` (or an answer without a known status).
    Error(String),
    /// No answer in time, or the hub could not deliver the call.
    None(String),
}

/// Reads a SAMP response map: status, then the error text or the result's entries.
fn answer(response: &Value) -> Answer {
    let status = response.get_str("samp.status").unwrap_or("");
    let error = response.get("samp.error").and_then(|e| e.get_str("samp.errortxt")).unwrap_or("");
    let result = match response.get("samp.result") {
        Some(Value::Map(pairs)) => {
            pairs.iter().filter_map(|(k, v)| v.as_str().map(|v| format!("{k}={v}"))).collect::<Vec<_>>().join(" ")
        }
        _ => String::new(),
    };
    let line = [status, error, &result].iter().filter(|s| !s.is_empty()).copied().collect::<Vec<_>>().join(": ");
    match status {
        "samp.ok" | "samp.warning" => Answer::Fine(line),
        "samp.error" => Answer::Error(line),
        other => Answer::Error(format!("an answer without a valid samp.status ({other:?})")),
    }
}

fn send(
    target: &str,
    to: Option<&str>,
    mtype: Option<&str>,
    name: Option<&str>,
    wait: Option<u32>,
) -> anyhow::Result<()> {
    let lower = target.to_ascii_lowercase();
    let url = if lower.starts_with("http://") || lower.starts_with("https://") || lower.starts_with("file:") {
        target.to_string()
    } else {
        file_url(Path::new(target))?
    };
    if !url.is_ascii() {
        bail!("the URL must be percent-encoded ASCII for SAMP: {url}");
    }
    let mtype = mtype.unwrap_or_else(|| guess_mtype(&url)).to_string();
    let label = name.map(str::to_string).unwrap_or_else(|| url.rsplit('/').next().unwrap_or(&url).to_string());
    let mut params = vec![("url".to_string(), Value::str(&url)), ("name".to_string(), Value::str(&label))];
    if mtype.starts_with("table.load.") {
        params.push(("table-id".into(), Value::str(&fresh_id())));
    }
    if mtype == "spectrum.load.ssa-generic" {
        params.push(("spectrum-id".into(), Value::str(&fresh_id())));
        params.push((
            "meta".into(),
            Value::map(&[("Access.Format", Value::str(mime_of(&url))), ("Target.Name", Value::str(&label))]),
        ));
    }
    let message =
        Value::Map(vec![("samp.mtype".into(), Value::str(&mtype)), ("samp.params".into(), Value::Map(params))]);

    let hub = Hub::register(&metadata("sender"))?;
    // Unregister whatever happens: a stale registration lingers in TOPCAT's client list.
    let result = (|| {
        if wait.is_some() {
            // Some hubs only route calls from callable clients; nobody calls us (we subscribe to
            // nothing), so the callback server just answers the hub.
            let url = hub::serve_callbacks(hub.key.clone(), Arc::new(|_| {}))?;
            hub.call("samp.hub.setXmlrpcCallback", vec![Value::str(&url)])?;
        }
        let subscribers = hub.subscribed(&mtype)?;
        let show = |(id, name): &(String, String)| if name.is_empty() { id.clone() } else { format!("{name} ({id})") };
        let targets: Vec<&(String, String)> = match to {
            Some(want) => {
                subscribers.iter().filter(|(id, name)| id == want || name.eq_ignore_ascii_case(want)).collect()
            }
            None => subscribers.iter().collect(),
        };
        if targets.is_empty() {
            let available = subscribers.iter().map(show).collect::<Vec<_>>().join(", ");
            bail!(
                "no client{} subscribed to {mtype} (subscribed: {})",
                to.map(|t| format!(" named {t}")).unwrap_or_default(),
                if available.is_empty() { "none".into() } else { available }
            );
        }
        let names = targets.iter().map(|t| show(t)).collect::<Vec<_>>().join(", ");
        let Some(timeout) = wait else {
            for t in &targets {
                hub.call("samp.hub.notify", vec![Value::str(&t.0), message.clone()])?;
            }
            println!("sent {mtype} {url} to {names}");
            return Ok(());
        };
        println!("sent {mtype} {url} to {names}; waiting up to {timeout} s for answers");
        // One call per recipient, all at once: the waits overlap instead of adding up.
        let answers: Vec<Answer> = std::thread::scope(|scope| {
            let calls: Vec<_> = targets
                .iter()
                .map(|t| {
                    let (hub, message) = (&hub, message.clone());
                    scope.spawn(move || match hub.call_and_wait(&t.0, message, timeout) {
                        Ok(response) => answer(&response),
                        Err(e) => Answer::None(format!("no answer: {e:#}")),
                    })
                })
                .collect();
            calls.into_iter().map(|c| c.join().unwrap_or_else(|_| Answer::None("no answer: crashed".into()))).collect()
        });
        let (mut errors, mut answered) = (0, 0);
        for (t, a) in targets.iter().zip(&answers) {
            let line = match a {
                Answer::Fine(l) => {
                    answered += 1;
                    l
                }
                Answer::Error(l) => {
                    answered += 1;
                    errors += 1;
                    l
                }
                Answer::None(l) => l,
            };
            println!("{}: {line}", show(t));
        }
        if errors > 0 {
            bail!("{errors} of {} recipients answered samp.error", targets.len());
        }
        if answered == 0 {
            bail!("no recipient answered within {timeout} s");
        }
        Ok(())
    })();
    let unregistered = hub.unregister();
    result.and(unregistered)
}

/// A file name for a received URL: its last path segment, made safe, with an extension the
/// MType implies when it has none.
fn upload_name(url: &str, mtype: &str, name: Option<&str>) -> String {
    let segment = url.split(['?', '#']).next().unwrap_or("").rsplit('/').next().unwrap_or("");
    let segment = hub::percent_decode(segment);
    // `getSpectrum?id=5` says little: the sender's label is the better name then.
    let candidate = match name {
        Some(label) if segment.is_empty() || url.contains('?') => label,
        _ if segment.is_empty() => "samp",
        _ => &segment,
    };
    let mut safe: String = candidate
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_') { c } else { '_' })
        .take(150)
        .collect();
    while safe.starts_with('.') {
        safe.replace_range(0..1, "_");
    }
    if !safe.contains('.') {
        safe.push_str(if mtype == "table.load.fits" { ".fits" } else { ".vot" });
    }
    safe
}

/// Fetches `url` on this machine: file: URLs from the local disk, http(s) with a GET.
fn fetch(url: &str) -> anyhow::Result<Vec<u8>> {
    let lower = url.to_ascii_lowercase();
    if lower.starts_with("file:") {
        let path = hub::file_url_path(url)?;
        return std::fs::read(&path).with_context(|| format!("reading {}", path.display()));
    }
    if !(lower.starts_with("http://") || lower.starts_with("https://")) {
        bail!("only file: and http(s): URLs are fetched, not {url}");
    }
    let mut response = ureq::get(url).call().with_context(|| format!("fetching {url}"))?;
    response.body_mut().with_config().limit(16 << 30).read_to_vec().with_context(|| format!("reading {url}"))
}

/// Uploads into `folder/name` of the user's storage through the files API.
fn upload(master: &str, token: &str, folder: &str, name: &str, bytes: &[u8]) -> anyhow::Result<String> {
    let path = format!("{}/{name}", folder.trim_matches('/'));
    let encoded: String = path
        .bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' | b'/' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect();
    let url = format!("{}/api/files/{encoded}", master.trim_end_matches('/'));
    let agent: ureq::Agent = ureq::Agent::config_builder().http_status_as_error(false).build().into();
    let mut response = agent
        .put(&url)
        .header("Authorization", &format!("Bearer {token}"))
        .send(bytes)
        .with_context(|| format!("uploading to {url}"))?;
    if !response.status().is_success() {
        let text = response.body_mut().read_to_string().unwrap_or_default();
        bail!("uploading to {url}: HTTP {} {}", response.status(), text.trim());
    }
    Ok(path)
}

fn ok_response(result: Value) -> Value {
    Value::Map(vec![("samp.status".into(), Value::str("samp.ok")), ("samp.result".into(), result)])
}

fn error_response(text: &str) -> Value {
    Value::Map(vec![
        ("samp.status".into(), Value::str("samp.error")),
        ("samp.error".into(), Value::map(&[("samp.errortxt", Value::str(text))])),
    ])
}

/// Handles one load message; returns the storage path it went to.
fn import(master: &str, token: &str, folder: &str, mtype: &str, params: Option<&Value>) -> anyhow::Result<String> {
    let params = params.ok_or_else(|| anyhow!("message without samp.params"))?;
    let url = params.get_str("url").ok_or_else(|| anyhow!("{mtype} without a url parameter"))?;
    let bytes = fetch(url)?;
    upload(master, token, folder, &upload_name(url, mtype, params.get_str("name")), &bytes)
}

enum Stop {
    Signal(&'static str),
    HubGone(String),
}

fn listen(master: &str, token: &str, folder: &str) -> anyhow::Result<()> {
    if !(master.starts_with("http://") || master.starts_with("https://")) {
        bail!("--master must be the http(s) URL of the vocloud server");
    }
    // Fail early on a wrong master or token rather than on the first message.
    let check: ureq::Agent = ureq::Agent::config_builder().http_status_as_error(false).build().into();
    let status = check
        .get(&format!("{}/api/files/", master.trim_end_matches('/')))
        .header("Authorization", &format!("Bearer {token}"))
        .call()
        .with_context(|| format!("reaching {master}"))?
        .status();
    if status == 401 || status == 403 {
        bail!("{master} refused the token (HTTP {status})");
    }

    let (stop_tx, stop_rx) = std::sync::mpsc::channel::<Stop>();
    // Signals arrive through tokio's handlers on a thread of their own.
    let signal_tx = stop_tx.clone();
    std::thread::spawn(move || {
        let runtime = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
            Ok(r) => r,
            Err(_) => return,
        };
        runtime.block_on(async move {
            let mut term = match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(t) => t,
                Err(_) => return,
            };
            let which = tokio::select! {
                _ = tokio::signal::ctrl_c() => "SIGINT",
                _ = term.recv() => "SIGTERM",
            };
            let _ = signal_tx.send(Stop::Signal(which));
        });
    });
    // No hub yet: wait for one (the user may start TOPCAT later), as desktop tools do.
    let hub = loop {
        match Hub::register(&metadata("listener")) {
            Ok(hub) => break Arc::new(hub),
            Err(e) => {
                eprintln!("vocloud samp: waiting for a SAMP hub ({e:#})");
                match stop_rx.recv_timeout(std::time::Duration::from_secs(3)) {
                    Ok(Stop::Signal(which)) => {
                        println!("{which}: stopped before a hub appeared");
                        return Ok(());
                    }
                    Ok(Stop::HubGone(_)) | Err(std::sync::mpsc::RecvTimeoutError::Timeout) => {}
                    Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => bail!("stopped unexpectedly"),
                }
            }
        }
    };
    let handler = {
        let (hub, master, token, folder) = (hub.clone(), master.to_string(), token.to_string(), folder.to_string());
        let stop_tx = std::sync::Mutex::new(stop_tx.clone());
        Arc::new(move |callback: Callback| {
            let (msg_id, message) = match callback {
                Callback::Notification { message, .. } => (None, message),
                Callback::Call { msg_id, message, .. } => (Some(msg_id), message),
                Callback::Response => return,
            };
            let mtype = message.get_str("samp.mtype").unwrap_or("").to_string();
            let response = match mtype.as_str() {
                "samp.app.ping" => ok_response(Value::Map(vec![])),
                "samp.hub.event.shutdown" | "samp.hub.disconnect" => {
                    let _ = stop_tx.lock().map(|tx| tx.send(Stop::HubGone(mtype.clone())));
                    ok_response(Value::Map(vec![]))
                }
                m if LOAD_MTYPES.contains(&m) => {
                    let params = message.get("samp.params");
                    let url = params.and_then(|p| p.get_str("url")).unwrap_or("?").to_string();
                    match import(&master, &token, &folder, m, params) {
                        Ok(path) => {
                            println!("{m} {url} -> {path}");
                            ok_response(Value::map(&[("vocloud.path", Value::str(&path))]))
                        }
                        Err(e) => {
                            println!("{m} {url} -> failed: {e:#}");
                            error_response(&format!("{e:#}"))
                        }
                    }
                }
                other => error_response(&format!("vocloud does not handle {other}")),
            };
            // Every call gets exactly one reply; notifications get none.
            if let Some(id) = msg_id
                && let Err(e) = hub.call("samp.hub.reply", vec![Value::str(&id), response])
            {
                eprintln!("vocloud samp: replying to {mtype}: {e:#}");
            }
        })
    };
    let callback_url = hub::serve_callbacks(hub.key.clone(), handler)?;
    hub.call("samp.hub.setXmlrpcCallback", vec![Value::str(&callback_url)])?;
    let mut subscriptions: Vec<(String, Value)> =
        LOAD_MTYPES.iter().map(|m| (m.to_string(), Value::Map(vec![]))).collect();
    for m in ["samp.app.ping", "samp.hub.event.shutdown", "samp.hub.disconnect"] {
        subscriptions.push((m.into(), Value::Map(vec![])));
    }
    hub.call("samp.hub.declareSubscriptions", vec![Value::Map(subscriptions)])?;
    println!("listening as {} on the SAMP hub; files go to {folder}/ on {master}", hub.self_id);

    match stop_rx.recv() {
        Ok(Stop::Signal(which)) => {
            hub.unregister().context("unregistering from the hub")?;
            println!("{which}: unregistered from the SAMP hub");
            Ok(())
        }
        Ok(Stop::HubGone(why)) => {
            println!("the SAMP hub went away ({why})");
            Ok(())
        }
        Err(_) => {
            let _ = hub.unregister();
            bail!("stopped unexpectedly")
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_mtypes() {
        assert_eq!(guess_mtype("file:///a/b.FITS"), "table.load.fits");
        assert_eq!(guess_mtype("http://h/x.vot?x=1"), "table.load.votable");
        assert_eq!(upload_name("http://h/dir/spec%201.fits", "table.load.fits", None), "spec_1.fits");
        assert_eq!(upload_name("http://h/get?id=5", "table.load.votable", Some("HD 123")), "HD_123.vot");
        assert_eq!(upload_name("file:///tmp/.hidden", "table.load.fits", None), "_hidden.fits");
        assert_eq!(upload_name("http://127.0.0.1:1234/", "table.load.fits", None), "samp.fits");
    }
}
