//! deskhand: run LLM agent workflows against Zoho Desk, on a schedule or from the command line.
//!
//! The agent reaches Zoho Desk only through the MCP server in `zoho-desk-mcp`; this crate is the
//! client that does what that gateway deliberately omits (retry, throttling, exactly-once writes,
//! history).

pub mod agent;
pub mod baseline;
pub mod cli;
pub mod console;
pub mod embedded;
pub mod engine;
pub mod error_text;
pub mod eval;
pub mod llm;
pub mod mcp;
pub mod notify;
pub mod retry;
pub mod scheduler;
pub mod shutdown;
pub mod store;
pub mod telemetry;
pub mod template;
pub mod workflow;
