//! The `deskhand` binary: parses the command line and hands off to the library.
//! Errors are printed as one sentence (each cause once) and a non-zero exit, never a panic.

use std::process::ExitCode;

use clap::Parser;
use deskhand::cli::output;

#[tokio::main]
async fn main() -> ExitCode {
    // reqwest is built without a default TLS provider; install ring before any client exists.
    zoho_desk_mcp::install_crypto_provider();
    let cli = deskhand::cli::Cli::parse();
    deskhand::telemetry::init(cli.log_format());
    match deskhand::cli::run(cli).await {
        Ok(code) => code,
        // The reader of stdout went away (`| head`): it has what it wanted.
        Err(err) if err.chain().any(|e| e.is::<output::ClosedPipe>()) => ExitCode::SUCCESS,
        Err(err) => {
            output::note(format_args!("error: {}", output::error_text(&err)));
            ExitCode::FAILURE
        }
    }
}
