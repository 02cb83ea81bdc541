//! Finding the hub (`SAMP_HUB` / `~/.samp` lockfile) and talking to it: registration, calls,
//! pings, and errors that say what happened (no hub, a hub that stopped answering, a refusal).

use std::path::PathBuf;
use std::time::Duration;

use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, percent_decode_str, utf8_percent_encode};

use super::xmlrpc::{self, Value};

/// What went wrong talking to the hub, in the words a user needs.
#[derive(Debug, thiserror::Error)]
pub enum HubError {
    /// No lockfile, or one that cannot be read or parsed.
    #[error("no SAMP hub is running ({0})")]
    NoHub(String),
    /// The hub's URL does not answer: connection refused or reset, a timeout.
    #[error("the SAMP hub at {url} does not answer ({reason})")]
    Unreachable { url: String, reason: String },
    /// An XML-RPC fault: the hub (or the recipient, through it) refused the call.
    #[error("the SAMP hub refused {method}: {fault}")]
    Refused { method: String, fault: String },
    /// An answer that is not XML-RPC.
    #[error("{method}: the SAMP hub answered HTTP {status} with something that is not XML-RPC ({detail})")]
    Garbled { method: String, status: u16, detail: String },
}

/// Characters a `file:` URL keeps as they are; everything else is percent-encoded (SAMP strings
/// are ASCII).
const PATH_KEEPS: &AsciiSet = &NON_ALPHANUMERIC.remove(b'-').remove(b'_').remove(b'.').remove(b'~').remove(b'/');

/// The `file://` URL of an absolute path.
pub fn file_url(path: &std::path::Path) -> Option<String> {
    Some(format!("file://{}", utf8_percent_encode(path.to_str()?, PATH_KEEPS)))
}

/// Percent-decodes one URL segment for display or naming (invalid UTF-8 is replaced).
pub fn decode(segment: &str) -> String {
    percent_decode_str(segment).decode_utf8_lossy().into_owned()
}

/// The local path of a `file:` URL (`file:///p`, `file://localhost/p`, `file:/p`).
pub fn file_url_path(url: &str) -> anyhow::Result<PathBuf> {
    use std::os::unix::ffi::OsStringExt;
    let rest = url.get(..5).filter(|s| s.eq_ignore_ascii_case("file:")).map(|_| &url[5..]);
    let rest = rest.ok_or_else(|| anyhow::anyhow!("not a file: URL: {url}"))?;
    let path = match rest.strip_prefix("//") {
        Some(after) => {
            let (host, path) = after.split_at(after.find('/').unwrap_or(after.len()));
            if !host.is_empty() && !host.eq_ignore_ascii_case("localhost") {
                anyhow::bail!("file: URL on another host ({host}): {url}");
            }
            path
        }
        None => rest,
    };
    let path = path.split(['?', '#']).next().unwrap_or("");
    // Paths are bytes on Unix: decode to bytes, not to UTF-8.
    Ok(std::ffi::OsString::from_vec(percent_decode_str(path).collect()).into())
}

/// What the lockfile tells a client.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HubInfo {
    pub secret: String,
    pub url: String,
    /// The hub is JSAMP's (TOPCAT's own, or the standalone one): it keeps Web Profile clients from
    /// sending an MType whose subscription is annotated `samp.mostly-harmless: "0"` (observed with
    /// JSAMP 1.3.7; the astropy hub ignores the annotation and forwards everything).
    pub guards_web_clients: bool,
}

/// Where the lockfile is: `SAMP_HUB=std-lockurl:<url>`, else `~/.samp`.
fn lockfile_url() -> Result<String, HubError> {
    match std::env::var("SAMP_HUB") {
        Ok(v) if v.starts_with("std-lockurl:") => Ok(v["std-lockurl:".len()..].to_string()),
        Ok(v) if !v.is_empty() => {
            Err(HubError::NoHub(format!("SAMP_HUB={v} is not a Standard Profile hub location (std-lockurl:…)")))
        }
        _ => {
            let home = std::env::var("HOME").map_err(|_| HubError::NoHub("neither HOME nor SAMP_HUB is set".into()))?;
            file_url(&PathBuf::from(home).join(".samp"))
                .ok_or_else(|| HubError::NoHub("HOME is not valid UTF-8".into()))
        }
    }
}

/// Reads and parses the lockfile.
pub fn locate() -> Result<HubInfo, HubError> {
    let url = lockfile_url()?;
    let text = if url.starts_with("http://") || url.starts_with("https://") {
        let mut response = agent(Duration::from_secs(5))
            .get(&url)
            .call()
            .map_err(|e| HubError::NoHub(format!("reading the lockfile {url}: {}", transport(&e))))?;
        response.body_mut().read_to_string().map_err(|e| HubError::NoHub(format!("reading {url}: {e}")))?
    } else {
        let path = file_url_path(&url).map_err(|e| HubError::NoHub(e.to_string()))?;
        let bytes = std::fs::read(&path).map_err(|_| HubError::NoHub(format!("no lockfile at {}", path.display())))?;
        bytes.iter().map(|&c| c as char).collect() // ISO-8859-1
    };
    parse_lockfile(&text).map_err(HubError::NoHub)
}

pub fn parse_lockfile(text: &str) -> Result<HubInfo, String> {
    let (mut secret, mut url, mut jsamp) = (None, None, false);
    for line in text.lines().map(str::trim).filter(|l| !l.starts_with('#')) {
        // Split on the first '=' only: values are URLs.
        if let Some((k, v)) = line.split_once('=') {
            let v = v.trim().to_string();
            match k.trim() {
                "samp.secret" => secret = Some(v),
                "samp.hub.xmlrpc.url" => url = Some(v),
                "hub.impl" | "profile.impl" if v.starts_with("org.astrogrid.samp.") => jsamp = true,
                _ => {}
            }
        }
    }
    Ok(HubInfo {
        secret: secret.ok_or("the SAMP lockfile has no samp.secret")?,
        url: url.ok_or("the SAMP lockfile has no samp.hub.xmlrpc.url")?,
        guards_web_clients: jsamp,
    })
}

fn agent(timeout: Duration) -> ureq::Agent {
    ureq::Agent::config_builder().timeout_global(Some(timeout)).http_status_as_error(false).proxy(None).build().into()
}

/// A transport error in plain words.
pub fn transport(e: &ureq::Error) -> String {
    use std::io::ErrorKind;
    match e {
        ureq::Error::Io(io) => match io.kind() {
            ErrorKind::ConnectionRefused => "connection refused".into(),
            ErrorKind::ConnectionReset | ErrorKind::ConnectionAborted | ErrorKind::BrokenPipe => {
                "the connection was reset".into()
            }
            ErrorKind::UnexpectedEof => "the connection closed before the answer".into(),
            _ => io.to_string(),
        },
        ureq::Error::Timeout(_) => "no answer in time".into(),
        other => other.to_string(),
    }
}

/// One XML-RPC call.
fn rpc(agent: &ureq::Agent, url: &str, method: &str, params: &[Value]) -> Result<Value, HubError> {
    let unreachable = |e: &ureq::Error| HubError::Unreachable { url: url.to_string(), reason: transport(e) };
    let body = xmlrpc::method_call(method, params);
    let mut response =
        agent.post(url).header("Content-Type", "text/xml").send(body.as_bytes()).map_err(|e| unreachable(&e))?;
    let status = response.status().as_u16();
    let text = response.body_mut().read_to_string().map_err(|e| unreachable(&e))?;
    match xmlrpc::parse_response(&text) {
        Ok(Ok(v)) => Ok(v),
        Ok(Err(fault)) => Err(HubError::Refused { method: method.to_string(), fault }),
        Err(detail) => Err(HubError::Garbled { method: method.to_string(), status, detail }),
    }
}

/// A registered connection to the hub.
pub struct Hub {
    agent: ureq::Agent,
    pub info: HubInfo,
    pub key: String,
    pub self_id: String,
    pub hub_id: String,
}

impl Hub {
    /// Finds the running hub (lockfile + `samp.hub.ping`), registers and declares `metadata`.
    pub fn register(metadata: &Value) -> Result<Hub, HubError> {
        let info = locate()?;
        let agent = agent(Duration::from_secs(30));
        rpc(&agent, &info.url, "samp.hub.ping", &[])?;
        let reg = rpc(&agent, &info.url, "samp.hub.register", &[Value::str(&info.secret)])?;
        let field = |k: &str| {
            reg.get_str(k).map(str::to_string).ok_or_else(|| HubError::Garbled {
                method: "samp.hub.register".into(),
                status: 200,
                detail: format!("no {k} in the answer"),
            })
        };
        let hub = Hub {
            key: field("samp.private-key")?,
            self_id: field("samp.self-id")?,
            hub_id: reg.get_str("samp.hub-id").unwrap_or("").to_string(),
            info,
            agent,
        };
        hub.call("samp.hub.declareMetadata", vec![metadata.clone()])?;
        Ok(hub)
    }

    /// Calls a hub method with our private key first.
    pub fn call(&self, method: &str, mut params: Vec<Value>) -> Result<Value, HubError> {
        params.insert(0, Value::str(&self.key));
        rpc(&self.agent, &self.info.url, method, &params)
    }

    /// `samp.hub.callAndWait`: sends `message` to `recipient` and blocks until its answer, or
    /// until the hub gives up after `timeout` seconds (a fault). The HTTP request itself may last
    /// a little longer than the hub's wait.
    pub fn call_and_wait(&self, recipient: &str, message: Value, timeout: u32) -> Result<Value, HubError> {
        let agent = agent(Duration::from_secs(u64::from(timeout) + 15));
        // SAMP ints travel as strings (JSAMP refuses typed XML-RPC values).
        let params = [Value::str(&self.key), Value::str(recipient), message, Value::str(&timeout.to_string())];
        rpc(&agent, &self.info.url, "samp.hub.callAndWait", &params)
    }

    /// Whether the hub still answers within a few seconds.
    pub fn ping(&self) -> Result<(), HubError> {
        rpc(&agent(Duration::from_secs(5)), &self.info.url, "samp.hub.ping", &[]).map(|_| ())
    }

    pub fn unregister(&self) -> Result<(), HubError> {
        self.call("samp.hub.unregister", vec![]).map(|_| ())
    }

    /// `samp.name` of a client, or its id when it has none (or has left).
    pub fn name_of(&self, id: &str) -> String {
        self.call("samp.hub.getMetadata", vec![Value::str(id)])
            .ok()
            .and_then(|m| m.get_str("samp.name").map(str::to_string))
            .filter(|n| !n.is_empty())
            .unwrap_or_else(|| id.to_string())
    }

    /// The clients subscribed to `mtype` (the hub itself and we excluded), with their names.
    pub fn subscribed(&self, mtype: &str) -> Result<Vec<Client>, HubError> {
        let subs = self.call("samp.hub.getSubscribedClients", vec![Value::str(mtype)])?;
        let Value::Map(members) = subs else { return Ok(Vec::new()) };
        Ok(members
            .into_iter()
            .filter(|(id, _)| *id != self.hub_id && *id != self.self_id)
            .map(|(id, _)| Client { name: self.name_of(&id), id })
            .collect())
    }
}

/// A client on the hub, as a user sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Client {
    pub id: String,
    /// Its `samp.name`, or the id when it declared none.
    pub name: String,
}

impl std::fmt::Display for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.name == self.id { write!(f, "{}", self.id) } else { write!(f, "{} ({})", self.name, self.id) }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lockfiles_and_file_urls() {
        let info = parse_lockfile("# comment\nsamp.secret=abc\n\nsamp.hub.xmlrpc.url=http://127.0.0.1:4/xmlrpc?a=b\nx")
            .unwrap();
        assert_eq!((info.secret.as_str(), info.url.as_str()), ("abc", "http://127.0.0.1:4/xmlrpc?a=b"));
        assert!(!info.guards_web_clients);
        let jsamp = "samp.secret=s\nsamp.hub.xmlrpc.url=http://h/\nhub.impl=org.astrogrid.samp.hub.Hub$1\n";
        assert!(parse_lockfile(jsamp).unwrap().guards_web_clients);
        assert!(parse_lockfile("samp.secret=x").is_err());
        assert_eq!(file_url_path("file:///tmp/a%20b.vot").unwrap(), PathBuf::from("/tmp/a b.vot"));
        assert_eq!(file_url_path("FILE://localhost/tmp/x").unwrap(), PathBuf::from("/tmp/x"));
        assert_eq!(file_url_path("file:/tmp/%C3%A9").unwrap(), PathBuf::from("/tmp/é"));
        assert!(file_url_path("file://elsewhere/tmp/x").is_err());
        let path = std::path::Path::new("/data/my cat é#1.vot");
        let url = file_url(path).unwrap();
        assert_eq!(url, "file:///data/my%20cat%20%C3%A9%231.vot");
        assert_eq!(file_url_path(&url).unwrap(), path);
        assert_eq!(decode("my%20cat%20%C3%A9%231.vot"), "my cat é#1.vot");
    }
}
