//! Logging setup. Logs go to stderr so that stdout stays machine-readable (`--json`) and so that an
//! MCP server on stdio never mixes log lines into the protocol stream.

use std::io::IsTerminal;

use tracing_subscriber::EnvFilter;

/// How log lines are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object per line, for log shippers.
    Json,
}

/// The filter when `RUST_LOG` is not set: `info`, except
/// - rmcp at `warn`: it logs every session start and stop at info, which buries what matters;
/// - rmcp's transport worker off: it logs the failed request's full URL, token included, and the
///   same failure reaches the operator as the command's error anyway;
/// - PostgreSQL notices off below `warn`: every `CREATE .. IF NOT EXISTS` of a migration check
///   sends one ("relation already exists, skipping") on every command.
pub const DEFAULT_FILTER: &str =
    "info,rmcp=warn,rmcp::transport::worker=off,sqlx::postgres::notice=warn";

/// Installs the global subscriber once. `RUST_LOG` overrides [`DEFAULT_FILTER`]. Colours only on
/// a terminal: escape codes in a log file or a CI log are noise.
pub fn init(format: LogFormat) {
    let filter =
        EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(DEFAULT_FILTER));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::stderr().is_terminal())
        .with_writer(std::io::stderr);
    // A second init (tests calling into the CLI twice) is harmless, so the error is ignored.
    let _ = match format {
        LogFormat::Text => builder.try_init(),
        LogFormat::Json => builder.json().try_init(),
    };
}
