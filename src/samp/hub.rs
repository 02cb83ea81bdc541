//! Finding the hub (SAMP_HUB / ~/.samp lockfile), talking to it, and the callback server a
//! callable client runs on 127.0.0.1.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, anyhow, bail};

use super::xmlrpc::{self, Value};

/// The lockfile's two keys we need.
#[derive(Debug, Clone)]
pub struct HubInfo {
    pub secret: String,
    pub url: String,
}

pub fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        let hex = |c: u8| (c as char).to_digit(16);
        if b[i] == b'%'
            && i + 2 < b.len()
            && let (Some(h), Some(l)) = (hex(b[i + 1]), hex(b[i + 2]))
        {
            out.push((h * 16 + l) as u8);
            i += 3;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The local path of a `file:` URL (`file:///p`, `file://localhost/p`, `file:/p`).
pub fn file_url_path(url: &str) -> anyhow::Result<std::path::PathBuf> {
    let rest = url.strip_prefix("file:").ok_or_else(|| anyhow!("not a file: URL: {url}"))?;
    let path = if let Some(after) = rest.strip_prefix("//") {
        let (host, path) = after.split_at(after.find('/').unwrap_or(after.len()));
        if !host.is_empty() && !host.eq_ignore_ascii_case("localhost") {
            bail!("file: URL on another host ({host}): {url}");
        }
        path
    } else {
        rest
    };
    Ok(percent_decode(path).into())
}

/// The lockfile's location: `SAMP_HUB=std-lockurl:<url>`, else `~/.samp`.
fn lockfile_text() -> anyhow::Result<String> {
    let url = match std::env::var("SAMP_HUB") {
        Ok(v) if v.starts_with("std-lockurl:") => v["std-lockurl:".len()..].to_string(),
        Ok(v) if !v.is_empty() => bail!("SAMP_HUB={v} is not a Standard Profile hub location (std-lockurl:…)"),
        _ => {
            let home = std::env::var("HOME").context("HOME is not set, and neither is SAMP_HUB")?;
            format!("file://{home}/.samp")
        }
    };
    if url.starts_with("http://") || url.starts_with("https://") {
        let mut response = ureq::get(&url).call().with_context(|| format!("reading the SAMP lockfile {url}"))?;
        return response.body_mut().read_to_string().context("reading the SAMP lockfile");
    }
    let path = file_url_path(&url)?;
    std::fs::read(&path)
        .map(|b| b.iter().map(|&c| c as char).collect()) // ISO-8859-1
        .map_err(|_| anyhow!("no SAMP hub is running (no lockfile at {})", path.display()))
}

pub fn parse_lockfile(text: &str) -> anyhow::Result<HubInfo> {
    let mut secret = None;
    let mut url = None;
    for line in text.lines() {
        let line = line.trim();
        if line.starts_with('#') {
            continue;
        }
        // Split on the first '=' only: values are URLs.
        if let Some((k, v)) = line.split_once('=') {
            match k.trim() {
                "samp.secret" => secret = Some(v.trim().to_string()),
                "samp.hub.xmlrpc.url" => url = Some(v.trim().to_string()),
                _ => {}
            }
        }
    }
    Ok(HubInfo {
        secret: secret.ok_or_else(|| anyhow!("SAMP lockfile without samp.secret"))?,
        url: url.ok_or_else(|| anyhow!("SAMP lockfile without samp.hub.xmlrpc.url"))?,
    })
}

fn agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .timeout_global(Some(Duration::from_secs(60)))
        .http_status_as_error(false)
        .proxy(None)
        .build()
        .into()
}

/// One XML-RPC call; faults become errors.
pub fn rpc(agent: &ureq::Agent, url: &str, method: &str, params: &[Value]) -> anyhow::Result<Value> {
    let body = xmlrpc::method_call(method, params);
    let mut response = agent
        .post(url)
        .header("Content-Type", "text/xml")
        .send(body.as_bytes())
        .with_context(|| format!("calling {method} on the SAMP hub at {url}"))?;
    let text = response.body_mut().read_to_string().with_context(|| format!("reading the answer to {method}"))?;
    match xmlrpc::parse_response(&text) {
        Ok(Ok(v)) => Ok(v),
        Ok(Err(fault)) => bail!("the SAMP hub refused {method}: {fault}"),
        Err(e) => bail!("{method}: HTTP {} from the hub, {e}", response.status()),
    }
}

/// A registered connection to the hub.
pub struct Hub {
    agent: ureq::Agent,
    pub url: String,
    pub key: String,
    pub self_id: String,
    pub hub_id: String,
}

impl Hub {
    /// Finds the running hub (lockfile + `samp.hub.ping`) and registers.
    pub fn register(metadata: &Value) -> anyhow::Result<Hub> {
        let info = parse_lockfile(&lockfile_text()?)?;
        let agent = agent();
        rpc(&agent, &info.url, "samp.hub.ping", &[])
            .map_err(|e| anyhow!("the SAMP lockfile points at {}, but no hub answers there ({e})", info.url))?;
        let reg = rpc(&agent, &info.url, "samp.hub.register", &[Value::str(&info.secret)])?;
        let field = |k: &str| reg.get_str(k).map(str::to_string).ok_or_else(|| anyhow!("register answer without {k}"));
        let hub = Hub {
            key: field("samp.private-key")?,
            self_id: field("samp.self-id")?,
            hub_id: reg.get_str("samp.hub-id").unwrap_or("").to_string(),
            url: info.url,
            agent,
        };
        hub.call("samp.hub.declareMetadata", vec![metadata.clone()])?;
        Ok(hub)
    }

    /// Calls a hub method with our private key first.
    pub fn call(&self, method: &str, mut params: Vec<Value>) -> anyhow::Result<Value> {
        params.insert(0, Value::str(&self.key));
        rpc(&self.agent, &self.url, method, &params)
    }

    /// `samp.hub.callAndWait`: sends `message` to `recipient` and blocks until its answer, or
    /// until the hub gives up after `timeout` seconds (a fault, returned as an error). The HTTP
    /// request itself may last a little longer than the hub's wait.
    pub fn call_and_wait(&self, recipient: &str, message: Value, timeout: u32) -> anyhow::Result<Value> {
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .timeout_global(Some(Duration::from_secs(u64::from(timeout) + 15)))
            .http_status_as_error(false)
            .proxy(None)
            .build()
            .into();
        // SAMP ints travel as strings (JSAMP refuses typed XML-RPC values).
        let params = [Value::str(&self.key), Value::str(recipient), message, Value::str(&timeout.to_string())];
        rpc(&agent, &self.url, "samp.hub.callAndWait", &params)
    }

    pub fn unregister(&self) -> anyhow::Result<()> {
        self.call("samp.hub.unregister", vec![]).map(|_| ())
    }

    /// `(id, samp.name)` of the clients subscribed to `mtype` (the hub itself excluded).
    pub fn subscribed(&self, mtype: &str) -> anyhow::Result<Vec<(String, String)>> {
        let subs = self.call("samp.hub.getSubscribedClients", vec![Value::str(mtype)])?;
        let Value::Map(members) = subs else { return Ok(Vec::new()) };
        let mut out = Vec::new();
        for (id, _) in members {
            if id == self.hub_id || id == self.self_id {
                continue;
            }
            // A client may leave between the two calls: show it by id then.
            let name = self
                .call("samp.hub.getMetadata", vec![Value::str(&id)])
                .ok()
                .and_then(|m| m.get_str("samp.name").map(str::to_string))
                .unwrap_or_default();
            out.push((id, name));
        }
        Ok(out)
    }
}

/// What the callback server hands to the client's handler.
pub enum Callback {
    Notification { sender: String, message: Value },
    Call { sender: String, msg_id: String, message: Value },
    Response,
}

/// Serves `samp.client.*` on 127.0.0.1: checks our private key, answers at once, and passes
/// the callback to `handle` on a thread of its own (the hub must never wait for our work).
/// Returns the URL to give `setXmlrpcCallback`.
pub fn serve_callbacks(key: String, handle: Arc<dyn Fn(Callback) + Send + Sync>) -> anyhow::Result<String> {
    let listener = TcpListener::bind("127.0.0.1:0").context("opening the SAMP callback port")?;
    let url = format!("http://127.0.0.1:{}/xmlrpc", listener.local_addr()?.port());
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            let (key, handle) = (key.clone(), handle.clone());
            std::thread::spawn(move || {
                if let Err(e) = serve_one(stream, &key, handle) {
                    eprintln!("samp: callback connection: {e:#}");
                }
            });
        }
    });
    Ok(url)
}

fn serve_one(mut stream: TcpStream, key: &str, handle: Arc<dyn Fn(Callback) + Send + Sync>) -> anyhow::Result<()> {
    stream.set_read_timeout(Some(Duration::from_secs(30)))?;
    let mut reader = BufReader::new(stream.try_clone()?);
    // Keep-alive: serve requests until the hub closes the connection.
    loop {
        let mut request_line = String::new();
        if reader.read_line(&mut request_line)? == 0 {
            return Ok(());
        }
        let mut length = 0usize;
        loop {
            let mut header = String::new();
            if reader.read_line(&mut header)? == 0 || header.trim().is_empty() {
                break;
            }
            if let Some((k, v)) = header.split_once(':')
                && k.trim().eq_ignore_ascii_case("content-length")
            {
                length = v.trim().parse().unwrap_or(0);
            }
        }
        if length > 64 << 20 {
            bail!("callback body of {length} bytes refused");
        }
        let mut body = vec![0u8; length];
        reader.read_exact(&mut body)?;
        let answer = dispatch(&String::from_utf8_lossy(&body), key, &handle);
        write!(
            stream,
            "HTTP/1.1 200 OK\r\nContent-Type: text/xml\r\nContent-Length: {}\r\n\r\n{answer}",
            answer.len()
        )?;
        stream.flush()?;
    }
}

fn dispatch(body: &str, key: &str, handle: &Arc<dyn Fn(Callback) + Send + Sync>) -> String {
    let (method, params) = match xmlrpc::parse_call(body) {
        Ok(call) => call,
        Err(e) => return xmlrpc::fault(1, &e),
    };
    if params.first().and_then(Value::as_str) != Some(key) {
        return xmlrpc::fault(1, "wrong private key");
    }
    let s = |i: usize| params.get(i).and_then(Value::as_str).unwrap_or("").to_string();
    let callback = match method.as_str() {
        "samp.client.receiveNotification" => {
            Callback::Notification { sender: s(1), message: params.get(2).cloned().unwrap_or(Value::Map(vec![])) }
        }
        "samp.client.receiveCall" => {
            Callback::Call { sender: s(1), msg_id: s(2), message: params.get(3).cloned().unwrap_or(Value::Map(vec![])) }
        }
        "samp.client.receiveResponse" => Callback::Response,
        other => return xmlrpc::fault(1, &format!("unknown method {other}")),
    };
    let handle = handle.clone();
    std::thread::spawn(move || handle(callback));
    xmlrpc::response(&Value::str(""))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lockfiles_and_file_urls() {
        let info = parse_lockfile("# comment\nsamp.secret=abc\n\nsamp.hub.xmlrpc.url=http://127.0.0.1:4/xmlrpc?a=b\nx")
            .unwrap();
        assert_eq!((info.secret.as_str(), info.url.as_str()), ("abc", "http://127.0.0.1:4/xmlrpc?a=b"));
        assert!(parse_lockfile("samp.secret=x").is_err());
        assert_eq!(file_url_path("file:///tmp/a%20b.vot").unwrap(), std::path::PathBuf::from("/tmp/a b.vot"));
        assert_eq!(file_url_path("file://localhost/tmp/x").unwrap(), std::path::PathBuf::from("/tmp/x"));
        assert!(file_url_path("file://elsewhere/tmp/x").is_err());
    }
}
