//! Open plot sessions: who owns them, what they show, and when they go away.
//!
//! A session holds a loaded [`Dataset`] and its view state (current view, history, visible
//! series, draw mode, last frame size). It belongs to the user who opened it; anyone else gets
//! "no such plot". Per user, the number of sessions and the bytes of their data are bounded:
//! opening one more closes the user's least recently used sessions that have no socket
//! connected, and if that is not enough the request is refused. Sessions without a socket are
//! closed after `idle_timeout` seconds by a sweeper task.

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, Weak};
use std::time::{Duration, Instant};

use serde::Deserialize;

use super::data::Dataset;
use super::render::{self, Mode, View};
use crate::jobs::Caller;

/// Limits of the plot service (`[plots]` in the config file).
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PlotSettings {
    /// Open plot sessions a user may have at once.
    pub max_sessions_per_user: usize,
    /// Bytes of loaded data a user's sessions may hold together.
    pub max_bytes_per_user: usize,
    /// A session with no socket connected is closed after this many seconds.
    pub idle_timeout: u64,
    /// Most files one plot may read (a folder counts its files).
    pub max_files: usize,
    /// Largest frame side in device pixels a client may ask for.
    pub max_frame_side: u32,
}

impl Default for PlotSettings {
    fn default() -> Self {
        PlotSettings {
            max_sessions_per_user: 8,
            max_bytes_per_user: 1 << 30,
            idle_timeout: 1800,
            max_files: 50_000,
            max_frame_side: 4096,
        }
    }
}

/// Views kept for back/forward.
const HISTORY: usize = 100;

/// The mutable state of a session, shared by its sockets and the export routes.
pub struct ViewState {
    pub view: View,
    pub back: Vec<View>,
    pub forward: Vec<View>,
    pub visible: Vec<bool>,
    pub mode: Mode,
    /// Last frame size (device pixels) and device pixel ratio; exports use it.
    pub size: (u32, u32, f64),
}

impl ViewState {
    /// Records the current view in the history before a change (which clears "forward").
    pub fn push(&mut self) {
        if self.back.last() != Some(&self.view) {
            self.back.push(self.view);
            if self.back.len() > HISTORY {
                self.back.remove(0);
            }
        }
        self.forward.clear();
    }

    /// Sets a new view if it is usable; a degenerate one (zoomed to nothing, log of a negative
    /// range) is ignored so the user can never get stuck.
    pub fn set(&mut self, view: View) {
        if view.is_valid() {
            self.view = view;
        }
    }

    pub fn go_back(&mut self) {
        if let Some(v) = self.back.pop() {
            self.forward.push(self.view);
            self.view = v;
        }
    }

    pub fn go_forward(&mut self) {
        if let Some(v) = self.forward.pop() {
            self.back.push(self.view);
            self.view = v;
        }
    }
}

/// One open plot.
pub struct Session {
    pub id: String,
    pub owner: i64,
    pub data: Arc<Dataset>,
    state: Mutex<ViewState>,
    last_used: Mutex<Instant>,
    /// Connected sockets; a session with sockets is never evicted or swept.
    sockets: AtomicUsize,
    /// The files plotted, as signed-link targets (`u/<user>/<path>`, `j/<job>/<name>`) with the
    /// name shown: "Send through SAMP" hands them to desktop tools.
    pub origins: Vec<Origin>,
}

/// One plotted file: its name and its signed-link target (see `crate::api::links`).
#[derive(Debug, Clone)]
pub struct Origin {
    pub name: String,
    pub target: String,
}

impl Session {
    pub fn state(&self) -> MutexGuard<'_, ViewState> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub fn touch(&self) {
        *self.last_used.lock().unwrap_or_else(|e| e.into_inner()) = Instant::now();
    }

    fn idle_for(&self) -> Duration {
        self.last_used.lock().unwrap_or_else(|e| e.into_inner()).elapsed()
    }

    /// Counts a socket while the guard lives.
    pub fn connect(self: &Arc<Self>) -> SocketGuard {
        self.sockets.fetch_add(1, Ordering::SeqCst);
        SocketGuard(self.clone())
    }

    fn has_sockets(&self) -> bool {
        self.sockets.load(Ordering::SeqCst) > 0
    }

    /// The home view on the current axis scales.
    pub fn home(&self, xlog: bool, ylog: bool) -> View {
        render::home_view(&self.data, xlog, ylog)
    }
}

pub struct SocketGuard(Arc<Session>);

impl Drop for SocketGuard {
    fn drop(&mut self) {
        self.0.sockets.fetch_sub(1, Ordering::SeqCst);
        self.0.touch();
    }
}

/// Why a session could not be opened.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct LimitError(pub String);

/// All open sessions of this server.
pub struct Plots {
    pub settings: PlotSettings,
    sessions: Mutex<HashMap<String, Arc<Session>>>,
}

impl Plots {
    /// The registry plus a sweeper task that closes idle sessions (it ends with the registry).
    pub fn start(settings: PlotSettings) -> Arc<Plots> {
        let plots = Arc::new(Plots { settings, sessions: Mutex::new(HashMap::new()) });
        let weak: Weak<Plots> = Arc::downgrade(&plots);
        let every = Duration::from_secs((plots.settings.idle_timeout / 4).clamp(1, 60));
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(every).await;
                match weak.upgrade() {
                    Some(p) => p.sweep(),
                    None => return,
                }
            }
        });
        plots
    }

    fn map(&self) -> MutexGuard<'_, HashMap<String, Arc<Session>>> {
        self.sessions.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Adds a session for `caller` showing `data`, making room within the user's limits.
    pub fn open(&self, caller: &Caller, data: Dataset, origins: Vec<Origin>) -> Result<Arc<Session>, LimitError> {
        let mut map = self.map();
        let mut mine: Vec<Arc<Session>> = map.values().filter(|s| s.owner == caller.user_id).cloned().collect();
        mine.sort_by_key(|s| std::cmp::Reverse(s.idle_for()));
        let mut count = mine.len();
        let mut bytes: usize = mine.iter().map(|s| s.data.bytes).sum();
        let (max_n, max_b) = (self.settings.max_sessions_per_user, self.settings.max_bytes_per_user);
        for old in &mine {
            if count < max_n && bytes + data.bytes <= max_b {
                break;
            }
            if !old.has_sockets() {
                map.remove(&old.id);
                count -= 1;
                bytes -= old.data.bytes;
                tracing::info!(plot.id = %old.id, "closed least recently used plot to make room");
            }
        }
        if count >= max_n || bytes + data.bytes > max_b {
            return Err(LimitError(format!(
                "you have {count} plots open in other windows ({} MB); close one to open another \
                 (limits: {max_n} plots, {} MB)",
                bytes >> 20,
                max_b >> 20
            )));
        }
        let view = render::home_view(&data, false, false);
        let n = data.series.len();
        let id = format!("{:032x}", rand::random::<u128>());
        let session = Arc::new(Session {
            id: id.clone(),
            owner: caller.user_id,
            data: Arc::new(data),
            state: Mutex::new(ViewState {
                view,
                back: Vec::new(),
                forward: Vec::new(),
                visible: vec![true; n],
                mode: Mode::Auto,
                size: (1000, 600, 1.0),
            }),
            last_used: Mutex::new(Instant::now()),
            sockets: AtomicUsize::new(0),
            origins,
        });
        map.insert(id, session.clone());
        Ok(session)
    }

    /// The caller's session `id`; someone else's is "not found" too.
    pub fn get(&self, caller: &Caller, id: &str) -> Option<Arc<Session>> {
        let s = self.map().get(id).cloned()?;
        (s.owner == caller.user_id).then(|| {
            s.touch();
            s
        })
    }

    /// Closes the caller's session `id`; false if there is none.
    pub fn close(&self, caller: &Caller, id: &str) -> bool {
        let mut map = self.map();
        match map.get(id) {
            Some(s) if s.owner == caller.user_id => map.remove(id).is_some(),
            _ => false,
        }
    }

    /// Closes sessions that have had no socket for longer than the idle timeout.
    pub fn sweep(&self) {
        let limit = Duration::from_secs(self.settings.idle_timeout);
        self.map().retain(|id, s| {
            let keep = s.has_sockets() || s.idle_for() < limit;
            if !keep {
                tracing::info!(plot.id = %id, "closed idle plot");
            }
            keep
        });
    }
}
