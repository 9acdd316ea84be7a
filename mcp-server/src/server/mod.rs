//! The MCP side of the gateway: the rmcp handler, discovery mode, hosted servers over HTTP,
//! stdio and in-process transports.

pub mod discovery;
pub mod gateways;
pub mod handler;
pub mod hosted;
pub mod http;
pub mod listener;
pub mod origin_guard;
pub mod rpc_body;
pub mod stdio_lines;
pub mod transport;

pub use gateways::{DEFAULT_CONNECTION, GatewayPool};
pub use handler::{RateLimitSlot, Scope, ZohoDeskMcpServer};
pub use http::{HttpOptions, HttpState};
