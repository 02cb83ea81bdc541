//! `vocloud samp listen`: stays on the desktop's SAMP hub — whichever hub is running, through
//! restarts and crashes — and stores what desktop tools send into the user's vocloud storage.
//!
//! The loop: wait for a hub (said once) → register and subscribe → watch it (a ping every second,
//! the lockfile, the hub's shutdown and disconnect messages) → when it goes, say why once and wait
//! for the next. It ends only on SIGINT/SIGTERM (unregistered, status 0) or, with `--once`, when
//! the first hub goes (status 0 if the hub shut down, 1 if it vanished), so a supervisor sees a
//! crash as one.
//!
//! Who may make the listener read local files: no hub reports whether a sender is a Standard
//! Profile client (a desktop program, which could read the file itself) or a Web Profile one (a
//! web page, which must not), so the load subscriptions carry `samp.mostly-harmless: "0"`, which
//! JSAMP hubs (TOPCAT's own, the standalone one) enforce by refusing web pages' messages to us.
//! On other hubs `file:` URLs are read only while no Web Profile is running (nothing listens on
//! its fixed port 21012).

use std::net::{SocketAddr, TcpStream};
use std::sync::Arc;
use std::sync::mpsc::{Receiver, RecvTimeoutError, Sender, channel};
use std::time::Duration;

use super::callbacks::{Callback, CallbackServer};
use super::hub::{self, Hub, HubError};
use super::receive::{FileUrls, Inbox};
use super::xmlrpc::Value;

/// How often the hub is checked; with JSAMP's ~1.3 s start over a stale lockfile, a killed hub
/// replaced by a new one is rejoined in a few seconds.
const WATCH_EVERY: Duration = Duration::from_secs(1);
/// How often a missing hub is looked for.
const LOOK_EVERY: Duration = Duration::from_millis(500);
/// The pause before registering again when joining a hub failed half-way.
const RETRY_AFTER: Duration = Duration::from_secs(5);
/// Failed pings in a row (not refusals) before a hung hub counts as gone.
const PATIENCE: u32 = 3;
/// The SAMP Web Profile's fixed port.
const WEB_PROFILE: SocketAddr = SocketAddr::new(std::net::IpAddr::V4(std::net::Ipv4Addr::LOCALHOST), 21012);

/// Messages to the main loop.
enum Event {
    Signal(&'static str),
    /// The hub of registration `session` said it is leaving.
    HubSaid {
        session: u64,
        why: String,
    },
}

/// How watching one hub ended.
enum Ended {
    Signal(&'static str),
    HubGone { why: String, announced: bool },
}

pub struct ListenOptions<'a> {
    pub master: &'a str,
    pub token: &'a str,
    pub folder: &'a str,
    pub once: bool,
}

/// Runs the listener; returns the exit status.
pub fn listen(opts: &ListenOptions) -> anyhow::Result<i32> {
    let inbox = Arc::new(Inbox::new(opts.master, opts.token, opts.folder)?);
    inbox.check()?;
    let (tx, rx) = channel::<Event>();
    watch_signals(tx.clone());
    let mut session = 0u64;
    let mut waiting = "waiting for a SAMP hub";
    loop {
        let Some(hub) = wait_for_hub(&rx, waiting) else { return Ok(0) };
        session += 1;
        let (hub, callbacks) = match join(hub, &inbox, &tx, session) {
            Ok(joined) => joined,
            Err(e) => {
                // A hub that takes the registration but not the rest: try again after a pause.
                println!("joining the SAMP hub failed ({e:#}); trying again");
                if let Ok(Event::Signal(which)) = rx.recv_timeout(RETRY_AFTER) {
                    println!("{which}: stopped");
                    return Ok(0);
                }
                waiting = "waiting for a SAMP hub";
                continue;
            }
        };
        println!(
            "listening as {} on the SAMP hub at {}; files go to {}/ on {}",
            hub.self_id,
            hub.info.url,
            inbox.folder(),
            opts.master
        );
        let ended = watch(&hub, &rx, session);
        drop(callbacks);
        match ended {
            Ended::Signal(which) => {
                match hub.unregister() {
                    Ok(()) => println!("{which}: unregistered from the SAMP hub"),
                    Err(e) => println!("{which}: stopping ({e})"),
                }
                return Ok(0);
            }
            Ended::HubGone { why, announced } => {
                println!("the SAMP hub went away ({why})");
                if opts.once {
                    return Ok(if announced { 0 } else { 1 });
                }
                waiting = "waiting for the next SAMP hub";
            }
        }
    }
}

/// Signals arrive through tokio's handlers on a thread of their own.
fn watch_signals(tx: Sender<Event>) {
    std::thread::spawn(move || {
        let Ok(runtime) = tokio::runtime::Builder::new_current_thread().enable_all().build() else { return };
        runtime.block_on(async move {
            let Ok(mut term) = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) else {
                return;
            };
            let which = tokio::select! {
                _ = tokio::signal::ctrl_c() => "SIGINT",
                _ = term.recv() => "SIGTERM",
            };
            let _ = tx.send(Event::Signal(which));
        });
    });
}

/// Registers as soon as a hub answers (None on a signal). Says it is waiting once, not per look.
fn wait_for_hub(rx: &Receiver<Event>, waiting: &str) -> Option<Hub> {
    let mut said = false;
    loop {
        match Hub::register(&super::metadata("listener")) {
            Ok(hub) => return Some(hub),
            Err(e) if !said => {
                println!("{waiting} ({e})");
                said = true;
            }
            Err(_) => {}
        }
        match rx.recv_timeout(LOOK_EVERY) {
            Ok(Event::Signal(which)) => {
                println!("{which}: stopped while waiting for a SAMP hub");
                return None;
            }
            Ok(Event::HubSaid { .. }) | Err(RecvTimeoutError::Timeout) => {}
            Err(RecvTimeoutError::Disconnected) => return None,
        }
    }
}

/// Makes the registration callable and subscribes to the load MTypes (marked as reading local
/// files, see the module notes), `samp.app.ping` and the hub's leaving messages.
fn join(hub: Hub, inbox: &Arc<Inbox>, tx: &Sender<Event>, session: u64) -> anyhow::Result<(Arc<Hub>, CallbackServer)> {
    let hub = Arc::new(hub);
    let joined = subscribe(&hub, inbox, tx, session);
    if joined.is_err() {
        // Leave no half-made registration in the hub's client list.
        let _ = hub.unregister();
    }
    Ok((hub, joined?))
}

fn subscribe(hub: &Arc<Hub>, inbox: &Arc<Inbox>, tx: &Sender<Event>, session: u64) -> anyhow::Result<CallbackServer> {
    let handler = {
        let (hub, inbox, tx) = (hub.clone(), inbox.clone(), tx.clone());
        Arc::new(move |callback: Callback| handle(&hub, &inbox, &tx, session, callback))
    };
    let server = CallbackServer::start(hub.key.clone(), handler)?;
    hub.call("samp.hub.setXmlrpcCallback", vec![Value::str(server.url())])?;
    let harmful = Value::map(&[("samp.mostly-harmless", Value::str("0"))]);
    let mut subscriptions: Vec<(String, Value)> =
        super::LOAD_MTYPES.iter().map(|m| (m.to_string(), harmful.clone())).collect();
    for m in ["samp.app.ping", "samp.hub.event.shutdown", "samp.hub.disconnect"] {
        subscriptions.push((m.into(), Value::Map(vec![])));
    }
    hub.call("samp.hub.declareSubscriptions", vec![Value::Map(subscriptions)])?;
    Ok(server)
}

/// Watches the hub until it goes or a signal comes.
fn watch(hub: &Hub, rx: &Receiver<Event>, session: u64) -> Ended {
    let mut failures = 0;
    loop {
        match rx.recv_timeout(WATCH_EVERY) {
            Ok(Event::Signal(which)) => return Ended::Signal(which),
            Ok(Event::HubSaid { session: s, why }) if s == session => return Ended::HubGone { why, announced: true },
            Ok(Event::HubSaid { .. }) => continue,
            Err(RecvTimeoutError::Disconnected) => return Ended::Signal("stopped"),
            Err(RecvTimeoutError::Timeout) => {}
        }
        // A hub that stops removes its lockfile; a killed one leaves it for the next to replace.
        match hub::locate() {
            Ok(info) if info == hub.info => {}
            Ok(_) => return Ended::HubGone { why: "another hub has replaced it".into(), announced: false },
            Err(_) => return Ended::HubGone { why: "it shut down and removed its lockfile".into(), announced: true },
        }
        match hub.ping() {
            Ok(()) => failures = 0,
            Err(HubError::Unreachable { reason, .. }) if reason == "connection refused" => {
                return Ended::HubGone { why: format!("it no longer answers: {reason}"), announced: false };
            }
            Err(e) => {
                failures += 1;
                if failures >= PATIENCE {
                    return Ended::HubGone { why: format!("{PATIENCE} pings in a row failed: {e}"), announced: false };
                }
            }
        }
    }
}

/// One callback: answers pings, notes the hub leaving, stores loads; replies to calls.
fn handle(hub: &Hub, inbox: &Inbox, tx: &Sender<Event>, session: u64, callback: Callback) {
    let (sender, msg_id, message) = match callback {
        Callback::Notification { sender, message } => (sender, None, message),
        Callback::Call { sender, msg_id, message } => (sender, Some(msg_id), message),
        Callback::Response => return,
    };
    let mtype = message.get_str("samp.mtype").unwrap_or("").to_string();
    let params = message.get("samp.params");
    let response = match mtype.as_str() {
        "samp.app.ping" => ok(Value::Map(vec![])),
        "samp.hub.event.shutdown" | "samp.hub.disconnect" => {
            let reason = params.and_then(|p| p.get_str("reason")).map(|r| format!(": {r}")).unwrap_or_default();
            let why = if mtype.ends_with("shutdown") {
                "it shut down".to_string()
            } else {
                format!("it disconnected us{reason}")
            };
            let _ = tx.send(Event::HubSaid { session, why });
            ok(Value::Map(vec![]))
        }
        m if super::LOAD_MTYPES.contains(&m) => {
            let url = params.and_then(|p| p.get_str("url")).unwrap_or("?").to_string();
            let from = hub::Client { name: hub.name_of(&sender), id: sender.clone() };
            match inbox.receive(m, params, &file_urls(hub)) {
                Ok(path) => {
                    println!("received {m} from {from}: {url} -> {path}");
                    ok(Value::map(&[("vocloud.path", Value::str(&path))]))
                }
                Err(e) => {
                    println!("refused {m} from {from}: {url}: {e:#}");
                    error(&format!("{e:#}"))
                }
            }
        }
        other => error(&format!("vocloud does not handle {other}")),
    };
    // Every call gets exactly one reply; notifications get none.
    if let Some(id) = msg_id
        && let Err(e) = hub.call("samp.hub.reply", vec![Value::str(&id), response])
    {
        eprintln!("vocloud samp: replying to {mtype}: {e}");
    }
}

/// Whether this hub lets us read `file:` URLs for its clients (module notes).
fn file_urls(hub: &Hub) -> FileUrls {
    if hub.info.guards_web_clients || TcpStream::connect_timeout(&WEB_PROFILE, Duration::from_millis(500)).is_err() {
        return FileUrls::Allowed;
    }
    FileUrls::Refused(
        "file: URLs are refused on this hub: it also serves the SAMP Web Profile (web pages) and does not say \
         whether a web page sent this; send an http: URL, or use TOPCAT's or JSAMP's hub, which keep web pages away"
            .into(),
    )
}

fn ok(result: Value) -> Value {
    Value::Map(vec![("samp.status".into(), Value::str("samp.ok")), ("samp.result".into(), result)])
}

fn error(text: &str) -> Value {
    Value::Map(vec![
        ("samp.status".into(), Value::str("samp.error")),
        ("samp.error".into(), Value::map(&[("samp.errortxt", Value::str(text))])),
    ])
}
