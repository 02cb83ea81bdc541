//! Logging: one `tracing` subscriber, human-readable or JSON, filtered by `RUST_LOG` when set and
//! otherwise by `log.filter`.

use tracing_subscriber::EnvFilter;

use crate::config::LogSettings;

pub fn init(settings: &LogSettings) {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(&settings.filter));
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr).with_ansi(ansi);
    // `try_init` fails only if a subscriber is already set (tests start several apps).
    let _ = if settings.json { builder.json().try_init() } else { builder.try_init() };
}
