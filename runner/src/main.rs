//! The `deskhand` binary: parses the command line and hands off to the library.
//! Errors are printed as one sentence (with their causes) and a non-zero exit, never a panic.

use std::process::ExitCode;

use clap::Parser;

#[tokio::main]
async fn main() -> ExitCode {
    // reqwest is built without a default TLS provider; install ring before any client exists.
    zoho_desk_mcp::install_crypto_provider();
    let cli = deskhand::cli::Cli::parse();
    deskhand::telemetry::init(cli.log_format());
    match deskhand::cli::run(cli).await {
        Ok(code) => code,
        Err(err) => {
            eprintln!("error: {err:#}");
            ExitCode::FAILURE
        }
    }
}
