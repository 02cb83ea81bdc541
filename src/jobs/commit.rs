//! Group commit of new jobs. Creations that arrive while a commit is under way wait for the next
//! one, which inserts all of them in one transaction and one statement; each request is answered
//! only after the commit that holds its job (durability is kept). Under load this turns
//! hundreds of small transactions a second into a few larger ones — SQLite has one writer, and
//! PostgreSQL flushes its log once per commit — while a lone creation still commits at once.

use anyhow::{Context, anyhow};
use tokio::sync::{mpsc, oneshot};

use crate::db::Db;
use crate::db::jobs::{self as store, NewJob};

/// Most jobs in one commit (12 parameters each, well below SQLite's 32,766).
const MAX_GROUP: usize = 256;
/// Creations waiting for a commit, at most; beyond it, requests wait for room.
const QUEUE: usize = 4096;

type Reply = oneshot::Sender<anyhow::Result<()>>;

pub(super) struct Committer {
    queue: mpsc::Sender<(NewJob, Reply)>,
}

impl Committer {
    pub(super) fn start(db: Db) -> Committer {
        let (queue, pending) = mpsc::channel(QUEUE);
        tokio::spawn(commit_loop(db, pending));
        Committer { queue }
    }

    /// Inserts `job`, returning once it is committed.
    pub(super) async fn insert(&self, job: NewJob) -> anyhow::Result<()> {
        let (reply, committed) = oneshot::channel();
        self.queue.send((job, reply)).await.map_err(|_| anyhow!("the job committer has stopped"))?;
        committed.await.context("the job committer dropped a creation")?
    }
}

async fn commit_loop(db: Db, mut pending: mpsc::Receiver<(NewJob, Reply)>) {
    let mut group = Vec::with_capacity(MAX_GROUP);
    while pending.recv_many(&mut group, MAX_GROUP).await > 0 {
        let (jobs, replies): (Vec<NewJob>, Vec<Reply>) = group.drain(..).unzip();
        match store::insert_many(&db, &jobs).await {
            Ok(()) => replies.into_iter().for_each(|r| drop(r.send(Ok(())))),
            // One bad row must not fail the others: retry them one by one.
            Err(e) if jobs.len() > 1 => {
                tracing::warn!(jobs = jobs.len(), error.message = %format!("{e:#}"), "group commit failed; committing one by one");
                for (job, reply) in jobs.into_iter().zip(replies) {
                    let _ = reply.send(store::insert_many(&db, std::slice::from_ref(&job)).await);
                }
            }
            Err(e) => replies.into_iter().for_each(|r| drop(r.send(Err(anyhow!("{e:#}"))))),
        }
    }
}
