//! Slurm: the executor that submits each attempt as an `sbatch` of `vocloud run-job` and
//! follows it, and the command-line tools it drives.

pub mod commands;
pub mod executor;
