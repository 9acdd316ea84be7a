use std::net::SocketAddr;
use std::path::PathBuf;

/// Everything that can go wrong while preparing or running a sandbox. Request-level failures are
/// not here: they are Zoho error bodies, served to the client.
#[derive(Debug, thiserror::Error)]
pub enum SandboxError {
    #[error("cannot read seed file {path}: {source}")]
    ReadSeed {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// serde_json's message carries the line and column.
    #[error("seed file {origin} is not valid JSON: {source}")]
    SeedJson {
        origin: String,
        #[source]
        source: serde_json::Error,
    },
    #[error("seed file {origin}: {message}")]
    SeedInvalid { origin: String, message: String },
    #[error("cannot bind the sandbox to {addr}: {source}")]
    Bind {
        addr: SocketAddr,
        #[source]
        source: std::io::Error,
    },
}
