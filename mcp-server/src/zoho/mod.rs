//! The Zoho Desk v1 client: configuration, OAuth, requests, and lenient decoding.

pub mod client;
pub mod config;
pub mod connections;
pub mod datacentre;
pub mod error;
pub mod lenient;
pub mod oauth;
pub mod ratelimit;

pub use client::{Mint, SharedToken, TokenShare, ZohoClient, ZohoResponse};
pub use config::{ConfigError, Secret, ZohoConfig};
pub use connections::Connections;
pub use datacentre::{DataCentre, UnknownDataCentre};
pub use error::{UpstreamError, ZohoError};
pub use ratelimit::RateLimitInfo;
