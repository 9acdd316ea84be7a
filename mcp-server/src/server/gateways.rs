//! One gateway per named Zoho connection, built on first use and shared by every hosted server
//! on that connection, so they share one OAuth token cache.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use crate::catalog::{Catalog, Gateway};
use crate::zoho::{Connections, TokenShare, ZohoClient, ZohoError};

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
    connections: Connections,
    cache: Mutex<HashMap<String, Arc<Gateway>>>,
    share: Option<Arc<dyn TokenShare>>,
}

impl GatewayPool {
    pub fn new(catalog: Arc<Catalog>, connections: Connections) -> Self {
        GatewayPool {
            catalog,
            connections,
            cache: Mutex::new(HashMap::new()),
            share: None,
        }
    }

    /// Clients built from now on keep their access tokens in `share` (the runner's store).
    pub fn with_token_share(mut self, share: Arc<dyn TokenShare>) -> Self {
        self.share = Some(share);
        self
    }

    /// The connections this pool resolves names against.
    pub fn connections(&self) -> &Connections {
        &self.connections
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
        let client = match &self.share {
            Some(share) => ZohoClient::with_token_share(config, share.clone())?,
            None => ZohoClient::new(config)?,
        };
        let gateway = Arc::new(Gateway::new(self.catalog.clone(), client));
        if let Ok(mut cache) = self.cache.lock() {
            // Another task may have built one meanwhile; keep the first so tokens are shared.
            return Ok(cache.entry(name.to_owned()).or_insert(gateway).clone());
        }
        Ok(gateway)
    }
}
