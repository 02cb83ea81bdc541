//! `vocloud samp send`: one load message to one client or every subscriber, with the MType and
//! format taken from what the file is (its first bytes), and a report of what each recipient
//! did with it — or of why nobody could.

use std::io::Read;

use anyhow::{Context, anyhow, bail};

use super::content::{self, Kind};
use super::hub::{self, Client, Hub, HubError};
use super::xmlrpc::Value;

pub const SPECTRUM: &str = "spectrum.load.ssa-generic";

/// What `samp send` was asked to do.
pub struct SendRequest<'a> {
    pub target: &'a str,
    pub to: Option<&'a str>,
    pub mtype: Option<&'a str>,
    pub name: Option<&'a str>,
    /// Seconds to wait for each answer; `None` only notifies.
    pub wait: Option<u32>,
}

/// The thing being sent: its URL, a label for the receiving tool, and its kind.
struct Source {
    url: String,
    label: String,
    kind: Kind,
}

pub fn send(req: &SendRequest) -> anyhow::Result<()> {
    let source = resolve(req.target)?;
    let label = req.name.map(str::to_string).unwrap_or_else(|| source.label.clone());
    let mtype = choose_mtype(req.target, source.kind, req.mtype)?;
    let message = message(mtype, &source, &label);

    let hub = Hub::register(&super::metadata("sender")).map_err(|e| match e {
        HubError::Unreachable { url, reason } => anyhow!(
            "the SAMP lockfile points at {url}, but no hub answers there ({reason}): it has stopped or crashed; \
             start TOPCAT or another hub"
        ),
        other => other.into(),
    })?;
    // Unregister whatever happens: a stale registration lingers in TOPCAT's client list.
    let result = deliver(&hub, req, mtype, &source.url, message, source.kind);
    if let Err(e) = hub.unregister()
        && result.is_ok()
    {
        eprintln!("vocloud samp: unregistering: {e}");
    }
    result
}

/// The URL, label and kind of a local file, a `file:` URL or an http(s) URL.
fn resolve(target: &str) -> anyhow::Result<Source> {
    let lower = target.to_ascii_lowercase();
    if lower.starts_with("http://") || lower.starts_with("https://") {
        return probe(target);
    }
    let path = if lower.starts_with("file:") { hub::file_url_path(target)? } else { target.into() };
    let path = std::fs::canonicalize(&path).with_context(|| format!("{} does not exist", path.display()))?;
    let kind = content::of_file(&path).with_context(|| format!("reading {}", path.display()))?;
    let url = hub::file_url(&path).ok_or_else(|| anyhow!("{} is not valid UTF-8", path.display()))?;
    let label = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    Ok(Source { url, label, kind })
}

/// Reads the first bytes of an http(s) URL to tell what it serves.
fn probe(url: &str) -> anyhow::Result<Source> {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .timeout_global(Some(std::time::Duration::from_secs(30)))
        .http_status_as_error(false)
        .build()
        .into();
    let mut response =
        agent.get(url).call().map_err(|e| anyhow!("reading {url} to tell what it is: {}", hub::transport(&e)))?;
    if !response.status().is_success() {
        bail!("reading {url} to tell what it is: HTTP {}", response.status());
    }
    let header = |name: &str| response.headers().get(name).and_then(|v| v.to_str().ok()).map(str::to_string);
    let content_type = header("content-type");
    let disposition = header("content-disposition");
    let mut prefix = Vec::with_capacity(content::SNIFF_BYTES);
    response
        .body_mut()
        .as_reader()
        .take(content::SNIFF_BYTES as u64)
        .read_to_end(&mut prefix)
        .with_context(|| format!("reading {url}"))?;
    let kind = content::sniff(&prefix, content_type.as_deref());
    let segment = url.split(['?', '#']).next().unwrap_or("").rsplit('/').next().unwrap_or("");
    let label = disposition.as_deref().and_then(disposition_filename).unwrap_or_else(|| hub::decode(segment));
    Ok(Source { url: url.to_string(), label, kind })
}

/// The `filename` of a `Content-Disposition` header.
fn disposition_filename(header: &str) -> Option<String> {
    let value = header.split(';').map(str::trim).find_map(|p| p.strip_prefix("filename="))?;
    let name = value.trim_matches('"');
    (!name.is_empty()).then(|| name.to_string())
}

/// The MType for a file of `kind`: the one asked for if the file fits it, else the one it fits.
fn choose_mtype(target: &str, kind: Kind, asked: Option<&str>) -> anyhow::Result<&'static str> {
    let fits_it =
        |mtype: &str| if mtype == SPECTRUM { kind.is_spectrum_format() } else { kind.table_mtype() == Some(mtype) };
    match asked {
        Some(mtype) => {
            let known = super::LOAD_MTYPES.iter().copied().find(|m| *m == mtype);
            let mtype = known.ok_or_else(|| anyhow!("--mtype must be one of {}", super::LOAD_MTYPES.join(", ")))?;
            if !fits_it(mtype) {
                let instead = kind.table_mtype().map(|m| format!("; send it with --mtype {m}")).unwrap_or_default();
                bail!("{target} is {}, which {mtype} does not carry{instead}", kind.describe());
            }
            Ok(mtype)
        }
        None => kind.table_mtype().ok_or_else(|| match kind {
            Kind::Csv => {
                anyhow!("{target} is CSV text: it can be sent as a spectrum (--mtype {SPECTRUM}), not as a table")
            }
            _ => anyhow!("{target} is {}: vocloud sends VOTables and FITS tables", kind.describe()),
        }),
    }
}

/// A fresh id: TOPCAT refuses a table-id it has already seen.
fn fresh_id() -> String {
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_nanos()).unwrap_or(0);
    format!("vocloud-{}-{nanos}", std::process::id())
}

fn message(mtype: &str, source: &Source, label: &str) -> Value {
    let mut params = vec![("url".to_string(), Value::str(&source.url)), ("name".to_string(), Value::str(label))];
    if mtype == SPECTRUM {
        params.push(("spectrum-id".into(), Value::str(&fresh_id())));
        params.push((
            "meta".into(),
            Value::map(&[("Access.Format", Value::str(source.kind.mime())), ("Target.Name", Value::str(label))]),
        ));
    } else {
        params.push(("table-id".into(), Value::str(&fresh_id())));
    }
    Value::Map(vec![("samp.mtype".into(), Value::str(mtype)), ("samp.params".into(), Value::Map(params))])
}

/// What became of the message at one recipient.
enum Outcome {
    /// `samp.ok` or `samp.warning`.
    Fine(String),
    /// `samp.error`, or an answer without a valid status.
    Error(String),
    /// The hub gave up waiting.
    NoAnswer(String),
    /// The hub stopped answering while we waited (crashed, killed, shut down).
    HubGone(String),
    /// The hub refused to pass it on (the recipient left, …).
    Undelivered(String),
}

/// Reads a SAMP response map: status, then the error text or the result's entries.
fn answer(response: &Value) -> Outcome {
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
        "samp.ok" | "samp.warning" => Outcome::Fine(line),
        "samp.error" => Outcome::Error(line),
        other => Outcome::Error(format!("an answer without a valid samp.status ({other:?})")),
    }
}

fn outcome(result: Result<Value, HubError>, timeout: u32) -> Outcome {
    match result {
        Ok(response) => answer(&response),
        // JSAMP: "Synchronous call timeout"; astropy: "Timeout expired!".
        Err(HubError::Refused { fault, .. }) if fault.to_ascii_lowercase().contains("timeout") => {
            Outcome::NoAnswer(format!("no answer within {timeout} s"))
        }
        Err(HubError::Refused { fault, .. }) => Outcome::Undelivered(format!("the hub could not deliver it: {fault}")),
        Err(HubError::Unreachable { reason, .. }) => {
            Outcome::HubGone(format!("the SAMP hub stopped answering while we waited ({reason})"))
        }
        Err(e) => Outcome::Undelivered(e.to_string()),
    }
}

fn deliver(hub: &Hub, req: &SendRequest, mtype: &str, url: &str, message: Value, kind: Kind) -> anyhow::Result<()> {
    let Some(timeout) = req.wait else {
        let targets = recipients(hub, req.to, mtype, kind)?;
        for t in &targets {
            hub.call("samp.hub.notify", vec![Value::str(&t.id), message.clone()])?;
        }
        println!("sent {mtype} {url} to {} (not waiting for answers)", list(&targets));
        return Ok(());
    };
    // Some hubs only route calls from callable clients; nobody calls us (we subscribe to
    // nothing), so the callback server just answers the hub. It stops when dropped.
    let server = super::callbacks::CallbackServer::start(hub.key.clone(), std::sync::Arc::new(|_| {}))?;
    hub.call("samp.hub.setXmlrpcCallback", vec![Value::str(server.url())])?;
    wait_for_answers(hub, req.to, mtype, url, message, kind, timeout)
}

fn wait_for_answers(
    hub: &Hub,
    to: Option<&str>,
    mtype: &str,
    url: &str,
    message: Value,
    kind: Kind,
    timeout: u32,
) -> anyhow::Result<()> {
    let targets = recipients(hub, to, mtype, kind)?;
    println!("sent {mtype} {url} to {}; waiting up to {timeout} s for answers", list(&targets));
    // One call per recipient, all at once: the waits overlap instead of adding up.
    let outcomes: Vec<Outcome> = std::thread::scope(|scope| {
        let calls: Vec<_> = targets
            .iter()
            .map(|t| {
                let message = message.clone();
                scope.spawn(move || outcome(hub.call_and_wait(&t.id, message, timeout), timeout))
            })
            .collect();
        calls.into_iter().map(|c| c.join().unwrap_or_else(|_| Outcome::Undelivered("crashed".into()))).collect()
    });
    let (mut errors, mut fine, mut gone) = (0, 0, None);
    for (t, o) in targets.iter().zip(&outcomes) {
        let line = match o {
            Outcome::Fine(l) => {
                fine += 1;
                l
            }
            Outcome::Error(l) => {
                errors += 1;
                l
            }
            Outcome::HubGone(l) => {
                gone = Some(l.clone());
                l
            }
            Outcome::NoAnswer(l) | Outcome::Undelivered(l) => l,
        };
        println!("{t}: {line}");
    }
    if errors > 0 {
        bail!("{errors} of {} recipients answered samp.error", targets.len());
    }
    if fine == 0 {
        if let Some(gone) = gone {
            bail!("{gone}; nobody answered");
        }
        if outcomes.iter().all(|o| matches!(o, Outcome::NoAnswer(_))) {
            bail!("no recipient answered within {timeout} s");
        }
        bail!("no recipient took the message");
    }
    Ok(())
}

/// The clients to send to: those subscribed to `mtype`, narrowed by `--to`. None is an error that
/// says who would take the file instead.
fn recipients(hub: &Hub, to: Option<&str>, mtype: &str, kind: Kind) -> anyhow::Result<Vec<Client>> {
    let subscribers = hub.subscribed(mtype)?;
    let chosen: Vec<Client> = match to {
        Some(want) => {
            subscribers.iter().filter(|c| c.id == want || c.name.eq_ignore_ascii_case(want)).cloned().collect()
        }
        None => subscribers.clone(),
    };
    if !chosen.is_empty() {
        return Ok(chosen);
    }
    let named = to.map(|t| format!("named {t} ")).unwrap_or_default();
    let what = if mtype == SPECTRUM { "spectra" } else { "tables" };
    // Nobody (of those asked for) takes this MType: say who takes the other form of the file.
    let other = if mtype == SPECTRUM {
        kind.table_mtype().map(|m| (m, "tables", "as a table"))
    } else {
        kind.is_spectrum_format().then_some((SPECTRUM, "spectra", "as a spectrum"))
    };
    if let Some((other, takes, as_what)) = other {
        let asked = |c: &Client| to.is_none_or(|w| c.id == w || c.name.eq_ignore_ascii_case(w));
        let takers: Vec<Client> = hub.subscribed(other)?.into_iter().filter(asked).collect();
        if !takers.is_empty() {
            bail!(
                "no client {named}takes {what} ({mtype}); {} takes {takes} — send it {as_what} with --mtype {other}",
                list(&takers)
            );
        }
    }
    if !subscribers.is_empty() {
        bail!("no client {named}takes {mtype} (clients that do: {})", list(&subscribers));
    }
    let everyone = registered(hub)?;
    bail!(
        "no client {named}takes {what} ({mtype}); on the hub: {}",
        if everyone.is_empty() { "nobody else".into() } else { list(&everyone) }
    )
}

/// Every other client on the hub.
fn registered(hub: &Hub) -> anyhow::Result<Vec<Client>> {
    let Value::List(ids) = hub.call("samp.hub.getRegisteredClients", vec![])? else { return Ok(Vec::new()) };
    Ok(ids
        .iter()
        .filter_map(Value::as_str)
        .filter(|id| *id != hub.hub_id && *id != hub.self_id)
        .map(|id| Client { id: id.to_string(), name: hub.name_of(id) })
        .collect())
}

fn list(clients: &[Client]) -> String {
    clients.iter().map(Client::to_string).collect::<Vec<_>>().join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mtypes_follow_the_content() {
        assert_eq!(choose_mtype("x", Kind::VoTable, None).unwrap(), "table.load.votable");
        assert_eq!(choose_mtype("x.fits", Kind::VoTable, None).unwrap(), "table.load.votable");
        assert_eq!(choose_mtype("x", Kind::Fits, None).unwrap(), "table.load.fits");
        assert_eq!(choose_mtype("x", Kind::Csv, Some(SPECTRUM)).unwrap(), SPECTRUM);
        let err = choose_mtype("s.fits", Kind::VoTable, Some("table.load.fits")).unwrap_err().to_string();
        assert!(err.contains("is a VOTable") && err.contains("--mtype table.load.votable"), "{err}");
        assert!(choose_mtype("x", Kind::Csv, None).unwrap_err().to_string().contains(SPECTRUM));
        assert!(choose_mtype("x", Kind::Html, None).unwrap_err().to_string().contains("HTML"));
        assert!(choose_mtype("x", Kind::Fits, Some("image.load.fits")).is_err());
        assert_eq!(disposition_filename("inline; filename=\"som-row3.vot\"").as_deref(), Some("som-row3.vot"));
        assert_eq!(disposition_filename("attachment"), None);
    }

    #[test]
    fn timeouts_and_crashes_are_told_apart() {
        let fault = |f: &str| Err(HubError::Refused { method: "samp.hub.callAndWait".into(), fault: f.into() });
        assert!(matches!(
            outcome(fault("org.astrogrid.samp.client.SampException: Synchronous call timeout"), 2),
            Outcome::NoAnswer(_)
        ));
        assert!(matches!(outcome(fault("Timeout expired!"), 2), Outcome::NoAnswer(_)));
        assert!(matches!(outcome(fault("Client c4 is no longer registered"), 2), Outcome::Undelivered(_)));
        let gone = Err(HubError::Unreachable { url: "u".into(), reason: "connection refused".into() });
        let Outcome::HubGone(text) = outcome(gone, 2) else { panic!("not HubGone") };
        assert!(text.contains("connection refused"), "{text}");
    }
}
