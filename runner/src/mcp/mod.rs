//! The runner's MCP client: one session per workflow connection (embedded, Streamable HTTP or a
//! stdio child), and tool results decoded into what the retry layer and the agent act on.

pub mod client;
pub mod connection;
pub mod error;
pub mod outcome;

pub use client::McpSession;
pub use connection::EmbeddedServer;
pub use error::McpError;
pub use outcome::{ProtocolError, RateLimit, ToolFailure, ToolOutcome};
