//! One gateway per named Zoho connection, built on first use and shared by every hosted server
//! on that connection, so they share one OAuth token cache.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use crate::catalog::{Catalog, Gateway, Toolset};
use crate::zoho::{Connections, ZohoClient, ZohoError};

/// The name of the connection configured by the environment (`ZOHO_*` variables).
pub const DEFAULT_CONNECTION: &str = "default";

#[derive(Debug, thiserror::Error)]
pub enum GatewayPoolError {
    #[error("connection {name:?}: {message}")]
    Connection { name: String, message: String },
    #[error(transparent)]
    Client(#[from] ZohoError),
}

pub struct GatewayPool {
    catalog: Arc<Catalog>,
    /// The part of the catalog every server of this process draws from.
    toolset: Toolset,
    connections: Connections,
    cache: Mutex<HashMap<String, Arc<Gateway>>>,
}

impl GatewayPool {
    pub fn new(catalog: Arc<Catalog>, connections: Connections) -> Self {
        GatewayPool {
            catalog,
            toolset: Toolset::default(),
            connections,
            cache: Mutex::new(HashMap::new()),
        }
    }

    /// A pool with one ready-made gateway under the default name (in-process sandbox, tests).
    pub fn with_gateway(gateway: Arc<Gateway>) -> Self {
        let pool = GatewayPool::new(gateway.catalog().clone(), Connections::default());
        if let Ok(mut cache) = pool.cache.lock() {
            cache.insert(DEFAULT_CONNECTION.to_owned(), gateway);
        }
        pool
    }

    pub fn catalog(&self) -> &Arc<Catalog> {
        &self.catalog
    }

    /// Serve `toolset` (`--toolset all` adds the generated tools to every hosted server).
    pub fn with_toolset(mut self, toolset: Toolset) -> Self {
        self.toolset = toolset;
        self
    }

    pub fn toolset(&self) -> Toolset {
        self.toolset
    }

    /// The gateway for a connection name; `default` is the environment's connection.
    pub fn get(&self, name: &str) -> Result<Arc<Gateway>, GatewayPoolError> {
        if let Some(found) = self.cache.lock().ok().and_then(|c| c.get(name).cloned()) {
            return Ok(found);
        }
        let lookup = if name == DEFAULT_CONNECTION {
            None
        } else {
            Some(name)
        };
        let config =
            self.connections
                .resolve(lookup)
                .map_err(|e| GatewayPoolError::Connection {
                    name: name.to_owned(),
                    message: e.to_string(),
                })?;
        let gateway = Arc::new(Gateway::new(self.catalog.clone(), ZohoClient::new(config)?));
        if let Ok(mut cache) = self.cache.lock() {
            // Another task may have built one meanwhile; keep the first so tokens are shared.
            return Ok(cache.entry(name.to_owned()).or_insert(gateway).clone());
        }
        Ok(gateway)
    }
}
