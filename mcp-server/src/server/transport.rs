//! Serving one scoped server over stdio, or connecting to it in-process without a network hop.

use rmcp::service::RunningService;
use rmcp::{RoleClient, ServiceExt};
use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, BufReader};
use tokio::sync::mpsc;

use crate::server::handler::ZohoDeskMcpServer;
use crate::server::stdio_lines::{self, LineSplitter, Piece};

#[derive(Debug, thiserror::Error)]
pub enum TransportError {
    #[error("MCP handshake failed: {0}")]
    Handshake(String),
    #[error("MCP server stopped with an error: {0}")]
    Stopped(String),
}

/// Serves on stdin/stdout until the client disconnects. Logs must go to stderr.
pub async fn serve_stdio(server: ZohoDeskMcpServer) -> Result<(), TransportError> {
    serve_lines(
        server,
        tokio::io::stdin(),
        tokio::io::stdout(),
        stdio_lines::MAX_LINE_BYTES,
    )
    .await
}

/// Serves newline-delimited JSON-RPC from `input` to `output`. Lines pass through
/// [`LineSplitter`] so an oversized one is answered with an error instead of being dropped;
/// rmcp's and the splitter's answers share one writer, one whole line at a time.
pub async fn serve_lines(
    server: ZohoDeskMcpServer,
    input: impl AsyncRead + Send + Unpin + 'static,
    output: impl AsyncWrite + Send + Unpin + 'static,
    limit: usize,
) -> Result<(), TransportError> {
    let (server_io, bridge) = tokio::io::duplex(DUPLEX_BYTES);
    let (from_server, mut to_server) = tokio::io::split(bridge);
    let (lines_out, mut lines_in) = mpsc::channel::<Vec<u8>>(64);

    let errors = lines_out.clone();
    let reader = tokio::spawn(async move {
        let mut input = input;
        let mut splitter = LineSplitter::new(limit);
        let mut buf = vec![0u8; 64 * 1024];
        loop {
            let (pieces, eof) = match input.read(&mut buf).await {
                Ok(0) | Err(_) => (splitter.finish().into_iter().collect::<Vec<_>>(), true),
                Ok(n) => (splitter.feed(&buf[..n]), false),
            };
            for piece in pieces {
                match piece {
                    Piece::Line(mut line) => {
                        line.push(b'\n');
                        if to_server.write_all(&line).await.is_err() {
                            return;
                        }
                    }
                    Piece::Oversized(id) => {
                        tracing::warn!(limit, "refused a stdin message over the size limit");
                        let mut answer = stdio_lines::oversized_error(id, limit).to_string();
                        answer.push('\n');
                        if errors.send(answer.into_bytes()).await.is_err() {
                            return;
                        }
                    }
                }
            }
            if eof {
                let _ = to_server.shutdown().await;
                return;
            }
        }
    });
    let forwarder = tokio::spawn(async move {
        let mut lines = BufReader::new(from_server).split(b'\n');
        while let Ok(Some(mut line)) = lines.next_segment().await {
            line.push(b'\n');
            if lines_out.send(line).await.is_err() {
                return;
            }
        }
    });
    let writer = tokio::spawn(async move {
        let mut output = output;
        while let Some(line) = lines_in.recv().await {
            // A closed stdout (the client went away) ends the writer quietly.
            if output.write_all(&line).await.is_err() || output.flush().await.is_err() {
                return;
            }
        }
    });

    let result = match server.serve(server_io).await {
        Ok(running) => running
            .waiting()
            .await
            .map(|_| ())
            .map_err(|e| TransportError::Stopped(e.to_string())),
        Err(e) => Err(TransportError::Handshake(e.to_string())),
    };
    reader.abort();
    let _ = forwarder.await;
    let _ = writer.await;
    result
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
