//! A user's experiments: named groups of jobs (the user/experiment database of VO-CLOUD).
//! Jobs join one at creation (`EXPERIMENT=`); deleting an experiment keeps its jobs, ungrouped,
//! unless asked to destroy them too.

pub use crate::db::experiments::ExperimentRow;

use super::{Caller, Error, JobService, ListFilter, Result};
use crate::db::{experiments as store, grouping, now_ms};
use crate::uws::params;

/// Longest experiment description, in bytes.
pub const MAX_DESCRIPTION: usize = 64 * 1024;

fn check_description(description: &str) -> Result<()> {
    if description.len() > MAX_DESCRIPTION {
        return Err(Error::BadRequest(format!("the description is longer than {MAX_DESCRIPTION} bytes")));
    }
    Ok(())
}

/// An experiment's name, checked as `EXPERIMENT=` is at job creation.
fn checked_name(name: &str) -> Result<String> {
    params::experiment_name(name).map_err(|e| Error::BadRequest(e.0))
}

impl JobService {
    /// The caller's experiments, by name.
    pub async fn experiments(&self, caller: &Caller) -> Result<Vec<ExperimentRow>> {
        Ok(store::list(self.db(), caller.user_id).await?)
    }

    /// The caller's experiment `name`.
    pub async fn experiment(&self, caller: &Caller, name: &str) -> Result<ExperimentRow> {
        store::get(self.db(), caller.user_id, name).await?.ok_or_else(|| Error::NoExperiment(name.to_string()))
    }

    pub async fn create_experiment(&self, caller: &Caller, name: &str, description: &str) -> Result<ExperimentRow> {
        let name = checked_name(name)?;
        check_description(description)?;
        if !store::create(self.db(), caller.user_id, &name, description, now_ms()).await? {
            return Err(Error::ExperimentExists(name));
        }
        self.experiment(caller, &name).await
    }

    pub async fn describe_experiment(&self, caller: &Caller, name: &str, description: &str) -> Result<ExperimentRow> {
        check_description(description)?;
        let experiment = self.experiment(caller, name).await?;
        store::set_description(self.db(), experiment.id, description).await?;
        self.experiment(caller, name).await
    }

    /// The jobs of the caller's experiment `name`, newest first.
    pub async fn experiment_jobs(&self, caller: &Caller, name: &str) -> Result<Vec<super::JobRef>> {
        let experiment = self.experiment(caller, name).await?;
        self.list(caller, ListFilter { experiment_id: Some(experiment.id), ..ListFilter::default() }).await
    }

    /// Deletes the experiment; with `delete_jobs` its jobs are destroyed first, which is refused
    /// while any of them is queued or running.
    pub async fn delete_experiment(&self, caller: &Caller, name: &str, delete_jobs: bool) -> Result<()> {
        let experiment = self.experiment(caller, name).await?;
        if delete_jobs {
            if experiment.active_jobs > 0 {
                return Err(Error::ExperimentBusy { name: experiment.name, active: experiment.active_jobs });
            }
            for job in self.experiment_jobs(caller, name).await? {
                self.destroy_job(&job.id).await?;
            }
        }
        Ok(store::delete(self.db(), experiment.id).await?)
    }

    /// Puts the caller's job `id` into experiment `name` (created on first use), or into none.
    pub async fn move_to_experiment(&self, caller: &Caller, id: &str, name: Option<&str>) -> Result<()> {
        let job = self.get(caller, None, id).await?;
        let experiment_id = match name {
            Some(name) => Some(store::ensure(self.db(), job.row.owner_id, &checked_name(name)?, now_ms()).await?),
            None => None,
        };
        Ok(grouping::set_experiment(self.db(), id, experiment_id).await?)
    }
}
