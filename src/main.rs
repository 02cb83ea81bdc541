//! The `vocloud` command: `serve`, `user`, `token`, `worker`, `worker-token`, `run-job`, `samp`. Each subcommand is a few lines over the
//! library; settings come from `--config`, `VOCLOUD_*` variables and the flags below.

use std::io::Read;
use std::path::PathBuf;

use anyhow::Context;
use clap::{Parser, Subcommand};
use vocloud::app::Application;
use vocloud::config::{Overrides, Settings};
use vocloud::db::Db;
use vocloud::executors::fleet::client::WorkerOptions;

#[derive(Parser)]
#[command(name = "vocloud", version, about = "IVOA UWS 1.1 job service for astronomy and ocean spectra")]
struct Cli {
    /// Folder for the SQLite database and (by default) the storage root.
    #[arg(long, global = true, value_name = "DIR")]
    data_dir: Option<PathBuf>,
    /// sqlite://… or postgres://… (default: SQLite in the data folder).
    #[arg(long, global = true, value_name = "URL")]
    database_url: Option<String>,
    /// A TOML settings file.
    #[arg(long, global = true, value_name = "FILE")]
    config: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the service (UWS, files API, local workers).
    Serve {
        /// Address to listen on (default 127.0.0.1:8080).
        #[arg(long)]
        bind: Option<String>,
        /// In-process worker slots (default: one per core; 0 runs no job in-process).
        #[arg(long)]
        local_workers: Option<usize>,
        /// Shared storage root (default: <data-dir>/storage).
        #[arg(long, value_name = "DIR")]
        storage: Option<PathBuf>,
    },
    /// Manage accounts.
    User {
        #[command(subcommand)]
        command: UserCommand,
    },
    /// Manage API tokens.
    Token {
        #[command(subcommand)]
        command: TokenCommand,
    },
    /// Run a remote worker: claim jobs from the master and run them on shared storage.
    Worker {
        /// The master's base URL, e.g. http://master:8080.
        #[arg(long)]
        master: String,
        /// A worker token (`vocloud worker-token create NAME` on the master).
        #[arg(long, env = "VOCLOUD_WORKER_TOKEN", hide_env_values = true)]
        token: String,
        /// The shared storage root as this host mounts it (default: <data-dir>/storage).
        #[arg(long, value_name = "DIR")]
        storage: Option<PathBuf>,
        /// Only these job kinds (comma-separated; default: all).
        #[arg(long, value_delimiter = ',')]
        kinds: Vec<String>,
        /// Jobs run at once (default: one per core).
        #[arg(long)]
        slots: Option<usize>,
    },
    /// Run one attempt of a job from its folder, in this process: what the local pool, remote
    /// workers and Slurm all start for every attempt.
    RunJob {
        job_dir: PathBuf,
        #[arg(long, default_value_t = 1)]
        attempt: i64,
        /// Where the attempt runs, for the job's diagnostics (default: the Slurm job, or this host).
        #[arg(long)]
        runner: Option<String>,
        /// Set by Slurm on compute nodes.
        #[arg(long, env = "SLURM_JOB_ID", hide = true)]
        slurm_job_id: Option<String>,
    },
    /// Fork attempts for the local pool or a worker that started this (see `runner::forkserver`).
    #[command(hide = true)]
    AttemptServer,
    /// Exchange tables and spectra with desktop VO tools over SAMP.
    Samp {
        #[command(subcommand)]
        command: vocloud::samp::SampCommand,
    },
    /// Manage the tokens remote workers authenticate with (admin).
    WorkerToken {
        #[command(subcommand)]
        command: WorkerTokenCommand,
    },
}

#[derive(Subcommand)]
enum WorkerTokenCommand {
    /// Create a worker token and print it (it cannot be shown again).
    Create { name: String },
    /// Revoke a worker token: its workers are refused from their next request on.
    Revoke { name: String },
}

#[derive(Subcommand)]
enum UserCommand {
    /// Create an account; prints a generated password unless --password-stdin is given.
    Add {
        name: String,
        #[arg(long)]
        admin: bool,
        /// Read the password from standard input (first line).
        #[arg(long)]
        password_stdin: bool,
    },
    /// Let a user create jobs of a kind that runs their own code (`spark`).
    Grant { name: String, kind: String },
    /// Withdraw a grant (jobs created before keep running).
    Revoke { name: String, kind: String },
}

#[derive(Subcommand)]
enum TokenCommand {
    /// Create an API token for a user and print it (it cannot be shown again).
    Create { name: String },
}

fn main() {
    if let Some(status) = vocloud::samp::run_if_samp_command() {
        std::process::exit(status);
    }
    let cli = Cli::parse();
    if !matches!(cli.command, Command::Serve { .. } | Command::Worker { .. }) {
        restore_sigpipe();
    }
    let cli = match cli {
        // A desktop client: no settings, database or runtime of the server.
        Cli { command: Command::Samp { command }, .. } => std::process::exit(vocloud::samp::run(command)),
        // Single-threaded by design: no runtime here; each forked attempt starts its own.
        Cli { command: Command::AttemptServer, data_dir, database_url, config } => {
            std::process::exit(attempt_server(config, Overrides { data_dir, database_url, ..Overrides::default() }))
        }
        cli => cli,
    };
    let runtime = tokio::runtime::Runtime::new().expect("starting the tokio runtime");
    if let Err(e) = runtime.block_on(run(cli)) {
        eprintln!("vocloud: {e:#}");
        std::process::exit(1);
    }
}

async fn run(cli: Cli) -> anyhow::Result<()> {
    let mut overrides = Overrides { data_dir: cli.data_dir, database_url: cli.database_url, ..Overrides::default() };
    match &cli.command {
        Command::Serve { bind, local_workers, storage } => {
            overrides.bind = bind.clone();
            overrides.local_workers = *local_workers;
            overrides.storage = storage.clone();
        }
        Command::Worker { storage, .. } => overrides.storage = storage.clone(),
        _ => {}
    }
    let settings = Settings::load(cli.config.as_deref(), overrides)?;
    vocloud::telemetry::init(&settings.log);
    match cli.command {
        Command::Serve { .. } => {
            let app = Application::build(settings).await?;
            app.run_until_stopped().await.context("running the HTTP server")
        }
        Command::User { command: UserCommand::Add { name, admin, password_stdin } } => {
            let db = open_db(&settings).await?;
            let (password, generated) =
                if password_stdin { (read_password()?, false) } else { (vocloud::auth::new_secret(""), true) };
            vocloud::auth::add_user(&db, &name, &password, admin).await?;
            println!("created user '{name}'{}", if admin { " (admin)" } else { "" });
            if generated {
                println!("password: {password}");
            }
            Ok(())
        }
        Command::User { command: UserCommand::Grant { name, kind } } => {
            let registry = vocloud_workers::Registry::builtin();
            let granted: Vec<_> = registry.all().filter(|k| k.runs_user_code()).map(|k| k.name()).collect();
            anyhow::ensure!(granted.contains(&kind.as_str()), "'{kind}' needs no grant (kinds that do: {granted:?})");
            anyhow::ensure!(
                vocloud::db::users::grant(&open_db(&settings).await?, &name, &kind).await?,
                "no user '{name}'"
            );
            println!("granted '{kind}' to '{name}'");
            Ok(())
        }
        Command::User { command: UserCommand::Revoke { name, kind } } => {
            let revoked = vocloud::db::users::revoke(&open_db(&settings).await?, &name, &kind).await?;
            anyhow::ensure!(revoked, "'{name}' has no grant for '{kind}'");
            println!("revoked '{kind}' from '{name}'");
            Ok(())
        }
        Command::Token { command: TokenCommand::Create { name } } => {
            let db = open_db(&settings).await?;
            println!("{}", vocloud::auth::create_token(&db, &name).await?);
            Ok(())
        }
        Command::Worker { master, token, kinds, slots, .. } => {
            let slots = slots.unwrap_or_else(|| settings.local_workers().max(1));
            let launcher = settings.launcher()?;
            let options = WorkerOptions { master, token, storage: settings.storage_root(), kinds, slots, launcher };
            vocloud::executors::fleet::client::run(options).await
        }
        Command::RunJob { job_dir, attempt, runner, slurm_job_id } => {
            let host = vocloud::runner::process::hostname();
            let runner = runner.unwrap_or_else(|| match slurm_job_id {
                Some(id) => format!("slurm job {id} on {host}"),
                None => format!("run-job on {host}"),
            });
            let outcome = vocloud::runner::run_job::run(&job_dir, attempt, runner, settings.job_settings()).await?;
            if !outcome.is_completed() {
                std::process::exit(1);
            }
            Ok(())
        }
        Command::WorkerToken { command } => {
            let db = open_db(&settings).await?;
            match command {
                WorkerTokenCommand::Create { name } => {
                    println!("{}", vocloud::auth::create_worker_token(&db, &name).await?)
                }
                WorkerTokenCommand::Revoke { name } => {
                    vocloud::auth::revoke_worker_token(&db, &name).await?;
                    println!("revoked worker token '{name}'");
                }
            }
            Ok(())
        }
        Command::Samp { .. } => anyhow::bail!("`samp` runs without the server settings (see main)"),
        Command::AttemptServer => anyhow::bail!("`attempt-server` runs without a runtime (see main)"),
    }
}

/// `vocloud attempt-server`: serves its parent until it goes away; each attempt runs in a forked
/// child exactly as `run-job` runs it.
fn attempt_server(config: Option<PathBuf>, overrides: Overrides) -> i32 {
    let settings = match Settings::load(config.as_deref(), overrides) {
        Ok(settings) => settings,
        Err(e) => {
            eprintln!("vocloud: {e:#}");
            return 1;
        }
    };
    vocloud::telemetry::init(&settings.log);
    let job_settings = settings.job_settings();
    let run = |job_dir: &std::path::Path, attempt: i64, runner: String| -> i32 {
        // One thread is enough: the kind runs on a blocking thread, this one only keeps
        // status.json and waits for SIGTERM (no worker threads to start and join per attempt).
        let runtime =
            tokio::runtime::Builder::new_current_thread().enable_all().build().expect("starting the tokio runtime");
        let code = match runtime.block_on(vocloud::runner::run_job::run(job_dir, attempt, runner, job_settings.clone()))
        {
            Ok(outcome) if outcome.is_completed() => 0,
            Ok(_) => 1,
            Err(e) => {
                eprintln!("vocloud: {e:#}");
                1
            }
        };
        // The process ends now: nothing to wait for.
        runtime.shutdown_background();
        code
    };
    match vocloud::runner::forkserver::serve(&run) {
        Ok(()) => 0,
        Err(e) => {
            eprintln!("vocloud attempt-server: {e}");
            1
        }
    }
}

/// Lets a closed standard output end the process quietly, as it ends any Unix tool
/// (`vocloud samp listen | head -1`): Rust ignores SIGPIPE, which turns the write into an error
/// and `println!` into a panic. The services (`serve`, `worker`) keep ignoring it: there a write
/// to a closed connection must stay an error to handle, and the few lines they print ignore a
/// closed standard output.
fn restore_sigpipe() {
    // SAFETY: setting a signal's disposition to its default, before any thread starts.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
}

async fn open_db(settings: &Settings) -> anyhow::Result<Db> {
    std::fs::create_dir_all(&settings.storage.data_dir).context("creating the data directory")?;
    Db::connect(&settings.database_url(), Some(2)).await
}

fn read_password() -> anyhow::Result<String> {
    let mut input = String::new();
    std::io::stdin().read_to_string(&mut input).context("reading the password from standard input")?;
    let password = input.lines().next().unwrap_or("").to_string();
    anyhow::ensure!(!password.is_empty(), "no password on standard input");
    Ok(password)
}
