//! Read-only views of jobs for the web pages: a page of a filtered job list, counts per phase,
//! the current lines of a few jobs (live updates), and the executors' view for admins (workers,
//! jobs handed to executors). Ownership is decided here, as in [`JobService::get`]: a user sees
//! their own jobs; an admin may ask for everyone's.

use super::{Caller, Error, JobService, Result};
use crate::db::listing::{self, RunningLine, WorkerLine};
// The query and line types the pages build and read; they are the database's row shapes.
pub use crate::db::listing::{Cursor, Direction, JobLine, JobQuery};

/// Most jobs one page lists.
pub const MAX_PAGE: i64 = 200;

/// A page of a job list, newest first, and whether there are more beyond each end.
pub struct JobPage {
    pub jobs: Vec<JobLine>,
    pub has_newer: bool,
    pub has_older: bool,
}

impl JobService {
    /// The owner a list is restricted to: the caller, unless an admin asks for everyone's.
    fn list_owner(caller: &Caller, everyone: bool) -> Option<i64> {
        (!(everyone && caller.is_admin)).then_some(caller.user_id)
    }

    /// A page of jobs matching `query` (its owner is set here) from `direction`.
    pub async fn job_page(
        &self,
        caller: &Caller,
        everyone: bool,
        mut query: JobQuery,
        direction: &Direction,
        limit: i64,
    ) -> Result<JobPage> {
        query.owner_id = Self::list_owner(caller, everyone);
        let limit = limit.clamp(1, MAX_PAGE);
        let (jobs, more) = listing::page(self.db(), &query, direction, limit).await?;
        let (has_newer, has_older) = match direction {
            Direction::First => (false, more),
            Direction::Older(_) => (true, more),
            Direction::Newer(_) => (more, true),
        };
        // Going back past the newest job leaves a short page: start again from the top.
        if jobs.is_empty() && matches!(direction, Direction::Newer(_)) {
            return Box::pin(self.job_page(caller, everyone, query, &Direction::First, limit)).await;
        }
        Ok(JobPage { jobs, has_newer, has_older })
    }

    /// Jobs matching `query` (phase filter ignored) per phase.
    pub async fn phase_counts(
        &self,
        caller: &Caller,
        everyone: bool,
        mut query: JobQuery,
    ) -> Result<Vec<(String, i64)>> {
        query.owner_id = Self::list_owner(caller, everyone);
        Ok(listing::phase_counts(self.db(), &query).await?)
    }

    /// The current lines of `ids` that the caller may see (others are left out).
    pub async fn job_lines(&self, caller: &Caller, ids: &[String]) -> Result<Vec<JobLine>> {
        let owner = (!caller.is_admin).then_some(caller.user_id);
        Ok(listing::lines(self.db(), owner, ids).await?)
    }

    /// Registered remote workers with their running-job counts (admins only).
    pub async fn workers(&self, caller: &Caller) -> Result<Vec<WorkerLine>> {
        if !caller.is_admin {
            return Err(Error::NotFound);
        }
        Ok(listing::workers(self.db()).await?)
    }

    /// Jobs handed to an executor and not finished, with who runs them (admins only).
    pub async fn running_jobs(&self, caller: &Caller) -> Result<Vec<RunningLine>> {
        if !caller.is_admin {
            return Err(Error::NotFound);
        }
        Ok(listing::running(self.db()).await?)
    }
}
