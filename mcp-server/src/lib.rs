//! Zoho Desk client and documentation-driven MCP server.
//!
//! [`zoho`] talks to Zoho Desk; [`catalog`] turns the integration definition under `integration/`
//! into MCP tool descriptions and executes tool calls through a [`Gateway`].

// Upstream errors carry Zoho's whole error (code, message, field errors, rate-limit fields) by
// value because passing it through unchanged is the gateway's job; errors are the cold path, so
// their size is not worth boxing every field access for.
#![allow(clippy::result_large_err)]

pub mod catalog;
pub mod registry;
pub mod server;
pub mod zoho;

pub use catalog::{
    Catalog, DefinitionError, FilterError, Gateway, Hints, MethodKind, ToolError, ToolFilter,
    ToolSpec,
};
pub use zoho::{
    ConfigError, Connections, DataCentre, RateLimitInfo, Secret, UpstreamError, ZohoClient,
    ZohoConfig, ZohoError, ZohoResponse, lenient,
};

/// reqwest is built with `rustls-no-provider`, so a process must install ring before the first
/// client is built or reqwest panics. Idempotent; [`ZohoClient::new`] calls it too.
pub fn install_crypto_provider() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}
