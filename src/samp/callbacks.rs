//! The XML-RPC callback server a callable Standard Profile client runs on 127.0.0.1: the hub
//! delivers `samp.client.receiveNotification` / `receiveCall` / `receiveResponse` here.
//!
//! Hand-written over `std::net` rather than an HTTP framework: the hub is the only caller, the
//! protocol is one POST per call, and the client runs without an async runtime.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use anyhow::{Context, bail};

use super::xmlrpc::{self, Value};

/// Largest callback body accepted: messages carry URLs, not data.
const MAX_BODY: usize = 1 << 20;

/// What the callback server hands to the client's handler.
pub enum Callback {
    Notification { sender: String, message: Value },
    Call { sender: String, msg_id: String, message: Value },
    Response,
}

pub type Handler = Arc<dyn Fn(Callback) + Send + Sync>;

/// A running callback server; it stops accepting when dropped.
pub struct CallbackServer {
    url: String,
    addr: SocketAddr,
    stopped: Arc<AtomicBool>,
}

impl CallbackServer {
    /// Serves `samp.client.*` for the client with private key `key`: checks the key, answers at
    /// once, and passes each callback to `handle` on a thread of its own (the hub must never wait
    /// for our work).
    pub fn start(key: String, handle: Handler) -> anyhow::Result<CallbackServer> {
        let listener = TcpListener::bind("127.0.0.1:0").context("opening the SAMP callback port")?;
        let addr = listener.local_addr()?;
        let stopped = Arc::new(AtomicBool::new(false));
        let stop = stopped.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                if stop.load(Ordering::SeqCst) {
                    break;
                }
                let Ok(stream) = stream else { continue };
                let (key, handle) = (key.clone(), handle.clone());
                std::thread::spawn(move || {
                    if let Err(e) = serve(stream, &key, &handle) {
                        eprintln!("vocloud samp: callback connection: {e:#}");
                    }
                });
            }
        });
        Ok(CallbackServer { url: format!("http://127.0.0.1:{}/xmlrpc", addr.port()), addr, stopped })
    }

    /// The URL to give `samp.hub.setXmlrpcCallback`.
    pub fn url(&self) -> &str {
        &self.url
    }
}

impl Drop for CallbackServer {
    fn drop(&mut self) {
        self.stopped.store(true, Ordering::SeqCst);
        // Wake the accept loop so it sees the flag and ends.
        let _ = TcpStream::connect_timeout(&self.addr, Duration::from_secs(1));
    }
}

fn serve(mut stream: TcpStream, key: &str, handle: &Handler) -> anyhow::Result<()> {
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
                length = v.trim().parse().context("a Content-Length that is not a number")?;
            }
        }
        if length > MAX_BODY {
            bail!("callback body of {length} bytes refused");
        }
        let mut body = vec![0u8; length];
        reader.read_exact(&mut body)?;
        let answer = dispatch(&String::from_utf8_lossy(&body), key, handle);
        write!(
            stream,
            "HTTP/1.1 200 OK\r\nContent-Type: text/xml\r\nContent-Length: {}\r\n\r\n{answer}",
            answer.len()
        )?;
        stream.flush()?;
    }
}

fn dispatch(body: &str, key: &str, handle: &Handler) -> String {
    let (method, params) = match xmlrpc::parse_call(body) {
        Ok(call) => call,
        Err(e) => return xmlrpc::fault(1, &e),
    };
    if params.first().and_then(Value::as_str) != Some(key) {
        return xmlrpc::fault(1, "wrong private key");
    }
    let s = |i: usize| params.get(i).and_then(Value::as_str).unwrap_or("").to_string();
    let message = |i: usize| params.get(i).cloned().unwrap_or(Value::Map(vec![]));
    let callback = match method.as_str() {
        "samp.client.receiveNotification" => Callback::Notification { sender: s(1), message: message(2) },
        "samp.client.receiveCall" => Callback::Call { sender: s(1), msg_id: s(2), message: message(3) },
        "samp.client.receiveResponse" => Callback::Response,
        other => return xmlrpc::fault(1, &format!("unknown method {other}")),
    };
    let handle = handle.clone();
    std::thread::spawn(move || handle(callback));
    xmlrpc::response(&Value::str(""))
}
