//! Serving one scoped server over stdio, or connecting to it in-process without a network hop.

use rmcp::service::RunningService;
use rmcp::{RoleClient, ServiceExt};

use crate::server::handler::ZohoDeskMcpServer;

#[derive(Debug, thiserror::Error)]
pub enum TransportError {
    #[error("MCP handshake failed: {0}")]
    Handshake(String),
    #[error("MCP server stopped with an error: {0}")]
    Stopped(String),
}

/// Serves on stdin/stdout until the client disconnects. Logs must go to stderr.
pub async fn serve_stdio(server: ZohoDeskMcpServer) -> Result<(), TransportError> {
    let running = server
        .serve(rmcp::transport::stdio())
        .await
        .map_err(|e| TransportError::Handshake(e.to_string()))?;
    running
        .waiting()
        .await
        .map_err(|e| TransportError::Stopped(e.to_string()))?;
    Ok(())
}

/// Buffer of the in-process pipe; a full ticket context is a few hundred KiB at most, and the
/// pipe applies back-pressure beyond this.
const DUPLEX_BYTES: usize = 256 * 1024;

/// Starts the server on one end of an in-memory pipe and returns an MCP client on the other:
/// the embedded mode of the runner, speaking real MCP without a socket.
pub async fn connect_in_process(
    server: ZohoDeskMcpServer,
) -> Result<RunningService<RoleClient, ()>, TransportError> {
    let (server_io, client_io) = tokio::io::duplex(DUPLEX_BYTES);
    tokio::spawn(async move {
        match server.serve(server_io).await {
            Ok(running) => {
                let _ = running.waiting().await;
            }
            Err(e) => tracing::warn!(error = %e, "in-process MCP server did not start"),
        }
    });
    ().serve(client_io)
        .await
        .map_err(|e| TransportError::Handshake(e.to_string()))
}
