//! Experiments as the pages use them: a user's named groups of jobs, listed, created, described,
//! deleted, and jobs moved between them. Another user's experiment is `NotFound`, like their jobs.

use super::{Caller, Error, JobService, Result};
use crate::db::experiments::{self, ExperimentRow};
use crate::db::jobs::ListFilter;
use crate::db::{grouping, now_ms};
use crate::uws::params;

/// Longest experiment description, in bytes (as the JSON API allows).
pub const MAX_DESCRIPTION: usize = 64 * 1024;

fn check_description(description: &str) -> Result<()> {
    if description.len() > MAX_DESCRIPTION {
        return Err(Error::BadRequest(format!("the description is longer than {MAX_DESCRIPTION} bytes")));
    }
    Ok(())
}

impl JobService {
    pub async fn experiments(&self, caller: &Caller) -> Result<Vec<ExperimentRow>> {
        Ok(experiments::list(self.db(), caller.user_id).await?)
    }

    pub async fn experiment(&self, caller: &Caller, name: &str) -> Result<ExperimentRow> {
        experiments::get(self.db(), caller.user_id, name).await?.ok_or(Error::NotFound)
    }

    /// Creates an experiment; the name is checked as `EXPERIMENT=` is at job creation.
    pub async fn create_experiment(&self, caller: &Caller, name: &str, description: &str) -> Result<String> {
        let name = params::experiment_name(name).map_err(|e| Error::BadRequest(e.0))?;
        check_description(description)?;
        if !experiments::create(self.db(), caller.user_id, &name, description, now_ms()).await? {
            return Err(Error::BadRequest(format!("you have an experiment named '{name}' already")));
        }
        Ok(name)
    }

    pub async fn describe_experiment(&self, caller: &Caller, name: &str, description: &str) -> Result<()> {
        check_description(description)?;
        let experiment = self.experiment(caller, name).await?;
        Ok(experiments::set_description(self.db(), experiment.id, description).await?)
    }

    /// Deletes the experiment; its jobs stay, ungrouped, unless `with_jobs`, which destroys them
    /// (refused while any of them is queued or running).
    pub async fn delete_experiment(&self, caller: &Caller, name: &str, with_jobs: bool) -> Result<()> {
        let experiment = self.experiment(caller, name).await?;
        if with_jobs {
            if experiment.active_jobs > 0 {
                return Err(Error::NotAllowed(format!(
                    "'{name}' has {} queued or running jobs; abort them first",
                    experiment.active_jobs
                )));
            }
            let filter = ListFilter { experiment_id: Some(experiment.id), ..ListFilter::default() };
            for job in self.list(caller, filter).await? {
                self.destroy_job(&job.id).await?;
            }
        }
        Ok(experiments::delete(self.db(), experiment.id).await?)
    }

    /// Puts the caller's job `id` into experiment `name` (created on first use), or into none.
    pub async fn move_to_experiment(&self, caller: &Caller, id: &str, name: Option<&str>) -> Result<()> {
        let job = self.get(caller, None, id).await?;
        let experiment_id = match name {
            Some(name) => {
                let name = params::experiment_name(name).map_err(|e| Error::BadRequest(e.0))?;
                Some(experiments::ensure(self.db(), job.row.owner_id, &name, now_ms()).await?)
            }
            None => None,
        };
        Ok(grouping::set_experiment(self.db(), id, experiment_id).await?)
    }
}
