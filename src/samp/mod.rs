//! `vocloud samp`: a SAMP 1.3 Standard Profile client for the desktop side.
//!
//! - [`send`]: one load message (`table.load.votable`, `table.load.fits` or
//!   `spectrum.load.ssa-generic`, chosen from what the file is) to one client or every
//!   subscriber; waits for each answer and says what happened — or who would take the file
//!   instead when nobody takes it.
//! - [`listen`]: stays on the user's hub through hub restarts and crashes, and streams what
//!   desktop tools send into the user's vocloud storage ([`receive`]): only the kinds of file the
//!   MType names, under names that never overwrite each other.
//!
//! [`xmlrpc`] is the wire format (strings, lists and maps only, ASCII); [`hub`] finds and talks to
//! the hub; [`callbacks`] is the server the hub calls us back on; [`content`] tells files apart by
//! their first bytes (also for the pages' signed links).

pub mod callbacks;
pub mod content;
pub mod hub;
pub mod listen;
pub mod receive;
pub mod send;
pub mod xmlrpc;

use std::ffi::OsString;

use clap::{Parser, Subcommand};

use xmlrpc::Value;

/// The MTypes `send` sends and `listen` takes.
pub const LOAD_MTYPES: [&str; 3] = ["table.load.votable", "table.load.fits", send::SPECTRUM];

#[derive(Subcommand, Debug)]
pub enum SampCommand {
    /// Send a table or spectrum to SAMP clients (TOPCAT, SPLAT-VO, …) through the desktop hub.
    Send {
        /// A local file (sent as a file: URL), a file: URL or an http(s) URL. Its first bytes
        /// decide the MType: a VOTable or FITS table.
        target: String,
        /// The receiving client, by SAMP name (e.g. topcat) or id; default: every subscriber.
        #[arg(long)]
        to: Option<String>,
        /// Send it as this instead (a spectrum: spectrum.load.ssa-generic); it must fit the file.
        #[arg(long, value_parser = LOAD_MTYPES)]
        mtype: Option<String>,
        /// A label for the receiving tool (default: the file name).
        #[arg(long)]
        name: Option<String>,
        /// Seconds to wait for each recipient's answer.
        #[arg(long, value_name = "SECS", default_value_t = 30, value_parser = clap::value_parser!(u32).range(1..=3600),
              conflicts_with = "no_wait")]
        timeout: u32,
        /// Only notify (fire and forget): no answers, exit 0 once the hub took the message.
        #[arg(long)]
        no_wait: bool,
    },
    /// Receive tables and spectra from desktop tools and upload them into vocloud storage; stays
    /// on the hub (and on the next one, when it is restarted) until stopped.
    Listen {
        /// The vocloud server, e.g. https://vocloud.example.org
        #[arg(long)]
        master: String,
        /// An API token (`vocloud token create USER`); better in the environment than on the
        /// command line, where other users can see it.
        #[arg(long, env = "VOCLOUD_TOKEN", hide_env_values = true)]
        token: String,
        /// Folder of your storage the files go to.
        #[arg(long, default_value = "samp")]
        folder: String,
        /// Exit when the hub goes away (status 0 if it shut down, 1 if it vanished) instead of
        /// waiting for the next one.
        #[arg(long)]
        once: bool,
    },
}

/// `vocloud samp …` on its own, so that its help lists only what applies (not the server's
/// `--data-dir`, `--database-url`, `--config`).
#[derive(Parser)]
#[command(
    name = "vocloud samp",
    bin_name = "vocloud samp",
    about = "Exchange tables and spectra with desktop VO tools over SAMP"
)]
struct SampCli {
    #[command(subcommand)]
    command: SampCommand,
}

/// Runs `vocloud samp …` when that is the command line (the server's settings, database and
/// runtime are not needed); `None` for any other command. Returns the exit status.
pub fn run_if_samp_command() -> Option<i32> {
    let mut args = std::env::args_os();
    let _program = args.next();
    if args.next().is_none_or(|first| first != "samp") {
        return None;
    }
    let cli = SampCli::parse_from(std::iter::once(OsString::from("vocloud samp")).chain(args));
    Some(run(cli.command))
}

/// Runs a `samp` subcommand; returns the process exit status.
pub fn run(command: SampCommand) -> i32 {
    let result = match command {
        SampCommand::Send { target, to, mtype, name, timeout, no_wait } => send::send(&send::SendRequest {
            target: &target,
            to: to.as_deref(),
            mtype: mtype.as_deref(),
            name: name.as_deref(),
            wait: (!no_wait).then_some(timeout),
        })
        .map(|()| 0),
        SampCommand::Listen { master, token, folder, once } => {
            listen::listen(&listen::ListenOptions { master: &master, token: &token, folder: &folder, once })
        }
    };
    result.unwrap_or_else(|e| {
        eprintln!("vocloud samp: {e:#}");
        1
    })
}

fn metadata(role: &str) -> Value {
    Value::map(&[
        ("samp.name", Value::str("vocloud")),
        ("samp.description.text", Value::str(&format!("vocloud {role}: spectra processing service (UWS)"))),
        ("vocloud.version", Value::str(env!("CARGO_PKG_VERSION"))),
    ])
}
