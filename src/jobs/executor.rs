//! The executor interface. An executor takes QUEUED jobs (by claiming them through
//! [`JobService::claim`](super::JobService::claim)), runs them somewhere, and reports outcomes
//! through the service, fenced by the attempt number it claimed. The in-process pool implements
//! it now; the remote fleet and Slurm implement the same contract.

use std::sync::Arc;

use super::JobService;

pub trait Executor: Send + Sync + 'static {
    /// The name stored in `jobs.executor` for the jobs it runs ("local", "fleet", "slurm").
    fn name(&self) -> &'static str;

    /// Stops a job this executor runs. The job's phase is already final in the database when this
    /// is called (ABORTED, or the row is gone), so the executor only has to stop the work.
    fn cancel(&self, job_id: &str);

    /// Begins taking jobs. Called once at start-up. The executor first settles the jobs it was
    /// running when the master last stopped — the local pool re-queues them (its threads died
    /// with the process), the fleet gives their leases a grace period (remote workers may still
    /// be running them), Slurm asks Slurm — and then claims new work.
    fn start(self: Arc<Self>, service: JobService);
}
