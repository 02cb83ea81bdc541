//! The executor interface. An executor takes QUEUED jobs through the job service
//! ([`JobService::claim`](super::JobService::claim) or
//! [`hand_over`](super::JobService::hand_over)), runs each attempt somewhere — always as
//! `vocloud run-job` (see `crate::runner`) — and reports through the service, fenced by the
//! lease it was given. The implementations live in `crate::executors`.

use std::sync::Arc;

use super::JobService;

pub trait Executor: Send + Sync + 'static {
    /// The name stored in `jobs.executor` for the jobs it holds ("local", "fleet", "slurm").
    fn name(&self) -> &'static str;

    /// Stops the attempt of `job_id` that `lease_owner` holds. The job's phase is already final
    /// in the database when this is called (ABORTED, or the row is gone), so the executor only
    /// has to stop the work.
    fn cancel(&self, job_id: &str, lease_owner: Option<&str>);

    /// Begins taking jobs. Called once at start-up. The executor first settles the jobs it was
    /// running when the master last stopped — the local pool re-queues them (its children died
    /// with the process), the fleet gives their leases a grace period (remote workers may still
    /// be running them), Slurm asks Slurm — and then takes new work.
    fn start(self: Arc<Self>, jobs: JobService);
}
