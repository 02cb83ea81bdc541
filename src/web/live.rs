//! Live job updates for the pages: `GET /live/jobs?ids=<id> <id> …` is a Server-Sent Events
//! stream of `job` events (`{"id", "phase", "progress", "message"}`) for those of the jobs the
//! viewer may see, and one `end` event once all of them have finished.
//!
//! Phase changes come from `JobService::events()` and are sent as soon as they are published
//! (the stream subscribes before it reads the jobs, so no change slips between the two).
//! Progress is not published as an event, so while any of the jobs executes, the stream
//! re-reads those rows once per [`PROGRESS_EVERY`] — one small query per open page, and only
//! while something runs. A comment every [`KEEPALIVE`] keeps proxies from closing an idle
//! stream and tells us when the browser has gone. Streams end after [`MAX_LIFETIME`]
//! (`EventSource` reconnects by itself) and each user may hold [`MAX_PER_USER`] at once.

use std::collections::HashMap;
use std::sync::{Mutex, OnceLock};
use std::time::Duration;

use actix_web::http::header;
use actix_web::{HttpResponse, web};
use serde::Deserialize;
use tokio::sync::{broadcast, mpsc};

use super::jobs::ACTIVE;
use super::page::{PageResult, Viewer};
use crate::error::ApiError;
use crate::jobs::listing::JobLine;
use crate::jobs::{Caller, JobId, JobService};

const PROGRESS_EVERY: Duration = Duration::from_secs(1);
const KEEPALIVE: Duration = Duration::from_secs(15);
const MAX_LIFETIME: Duration = Duration::from_secs(3600);
/// Open streams per user: a few tabs each, but not unbounded tasks for one account.
const MAX_PER_USER: usize = 32;
/// Jobs one stream follows (a page of the job list).
const MAX_IDS: usize = 200;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/live/jobs", web::get().to(stream));
}

#[derive(Deserialize)]
struct Ids {
    #[serde(default)]
    ids: String,
}

/// Counts open streams per user; the guard gives its place back when the stream ends.
struct Slot(i64);

fn open_streams() -> &'static Mutex<HashMap<i64, usize>> {
    static OPEN: OnceLock<Mutex<HashMap<i64, usize>>> = OnceLock::new();
    OPEN.get_or_init(Default::default)
}

impl Slot {
    fn take(user_id: i64) -> Option<Slot> {
        let mut open = open_streams().lock().unwrap_or_else(|e| e.into_inner());
        let n = open.entry(user_id).or_default();
        (*n < MAX_PER_USER).then(|| {
            *n += 1;
            Slot(user_id)
        })
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        let mut open = open_streams().lock().unwrap_or_else(|e| e.into_inner());
        if let Some(n) = open.get_mut(&self.0) {
            *n = n.saturating_sub(1);
        }
    }
}

async fn stream(service: web::Data<JobService>, viewer: Viewer, q: web::Query<Ids>) -> PageResult {
    let ids: Vec<String> = q
        .ids
        .split([' ', ',', '+'])
        .filter(|id| JobId::parse(id).is_some())
        .take(MAX_IDS)
        .map(str::to_string)
        .collect();
    let slot = Slot::take(viewer.caller.user_id)
        .ok_or_else(|| ApiError::Conflict(format!("at most {MAX_PER_USER} live pages per user; close some tabs")))?;
    // Subscribe first: a change published while we read the jobs is then still delivered.
    let events = service.events().subscribe();
    let lines = service.job_lines(&viewer.caller, &ids).await?;
    let (tx, mut rx) = mpsc::channel::<web::Bytes>(32);
    let follow = Follow { service: service.into_inner(), caller: viewer.caller, tx, _slot: slot };
    actix_web::rt::spawn(follow.run(events, lines));
    let body = futures_util::stream::poll_fn(move |cx| rx.poll_recv(cx).map(|b| b.map(Ok::<_, actix_web::Error>)));
    Ok(HttpResponse::Ok()
        .content_type("text/event-stream")
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .insert_header(("X-Accel-Buffering", "no"))
        .streaming(body))
}

/// One open stream: the jobs it follows and where to send their changes.
struct Follow {
    service: std::sync::Arc<JobService>,
    caller: Caller,
    tx: mpsc::Sender<web::Bytes>,
    _slot: Slot,
}

/// What the page shows of a job; a changed snapshot is sent.
#[derive(PartialEq, Clone)]
struct Snapshot {
    phase: String,
    progress: Option<u32>,
    message: String,
}

impl Snapshot {
    fn of(line: &JobLine) -> Snapshot {
        let executing = line.phase == "EXECUTING";
        Snapshot {
            phase: line.phase.clone(),
            progress: line.progress_fraction.filter(|_| executing).map(super::display::percent),
            message: line.progress_message.clone().filter(|_| executing).unwrap_or_default(),
        }
    }
}

fn event(name: &str, data: &serde_json::Value) -> web::Bytes {
    web::Bytes::from(format!("event: {name}\ndata: {data}\n\n"))
}

impl Follow {
    async fn run(self, mut events: broadcast::Receiver<crate::jobs::events::JobEvent>, lines: Vec<JobLine>) {
        let mut known: HashMap<String, Snapshot> = HashMap::new();
        if !self.update(&mut known, lines).await || self.finished(&known).await {
            return;
        }
        let deadline = tokio::time::Instant::now() + MAX_LIFETIME;
        let mut progress = tokio::time::interval(PROGRESS_EVERY);
        let mut keepalive = tokio::time::interval(KEEPALIVE);
        loop {
            let ids: Vec<String> = tokio::select! {
                _ = tokio::time::sleep_until(deadline) => return,
                received = events.recv() => match received {
                    Ok(e) if known.contains_key(&e.id) => vec![e.id],
                    Ok(_) => continue,
                    Err(broadcast::error::RecvError::Lagged(_)) => known.keys().cloned().collect(),
                    Err(broadcast::error::RecvError::Closed) => return,
                },
                _ = progress.tick() => known.iter().filter(|(_, s)| s.phase == "EXECUTING").map(|(id, _)| id.clone()).collect(),
                _ = keepalive.tick() => {
                    if self.tx.send(web::Bytes::from_static(b": keepalive\n\n")).await.is_err() {
                        return;
                    }
                    continue;
                }
            };
            if ids.is_empty() {
                continue;
            }
            let Ok(lines) = self.service.job_lines(&self.caller, &ids).await else { return };
            // A job that vanished (deleted) is no longer followed.
            known.retain(|id, _| !ids.contains(id) || lines.iter().any(|l| &l.id == id));
            if !self.update(&mut known, lines).await || self.finished(&known).await {
                return;
            }
        }
    }

    /// Sends the lines that changed; false once the browser is gone.
    async fn update(&self, known: &mut HashMap<String, Snapshot>, lines: Vec<JobLine>) -> bool {
        for line in lines {
            let now = Snapshot::of(&line);
            if known.get(&line.id) == Some(&now) {
                continue;
            }
            let data = serde_json::json!({
                "id": line.id, "phase": now.phase, "progress": now.progress, "message": now.message,
            });
            if self.tx.send(event("job", &data)).await.is_err() {
                return false;
            }
            known.insert(line.id, now);
        }
        true
    }

    /// Whether every job has finished (then the page is told, and the stream ends).
    async fn finished(&self, known: &HashMap<String, Snapshot>) -> bool {
        if known.values().any(|s| ACTIVE.contains(&s.phase.as_str())) {
            return false;
        }
        let _ = self.tx.send(event("end", &serde_json::json!({}))).await;
        true
    }
}
