//! Phase-change notifications inside the master. Blocking WAIT subscribes before it reads the
//! job, so a change between the read and the wait is never missed, and it wakes on the change
//! itself rather than polling the database.

use tokio::sync::broadcast;

use crate::uws::ExecutionPhase;

#[derive(Debug, Clone)]
pub struct JobEvent {
    pub id: String,
    pub phase: ExecutionPhase,
}

#[derive(Debug, Clone)]
pub struct Events(broadcast::Sender<JobEvent>);

impl Events {
    pub fn new() -> Self {
        // Waiters that fall behind get `Lagged` and re-read the job, so the capacity only
        // bounds memory, not correctness.
        Events(broadcast::channel(4096).0)
    }

    pub fn publish(&self, id: &str, phase: ExecutionPhase) {
        let _ = self.0.send(JobEvent { id: id.to_string(), phase });
    }

    pub fn subscribe(&self) -> broadcast::Receiver<JobEvent> {
        self.0.subscribe()
    }
}

impl Default for Events {
    fn default() -> Self {
        Self::new()
    }
}
