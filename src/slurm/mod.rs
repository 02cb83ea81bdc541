//! Slurm: the executor that submits jobs as `sbatch` and follows them, the command-line tools it
//! drives, and `vocloud run-job`, which runs an attempt on a compute node.

pub mod commands;
pub mod executor;
pub mod run_job;
