//! One gateway per named Zoho connection, built on first use and shared by every hosted server
//! on that connection, so they share one OAuth token cache.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use sha2::{Digest, Sha256};

use crate::catalog::{Catalog, Gateway, Toolset};
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
    /// The part of the catalog every server of this process draws from.
    toolset: Toolset,
    connections: Connections,
    cache: Mutex<HashMap<String, Arc<Gateway>>>,
    /// Gateways handed in ready-made (the in-process sandbox) get an identity of their own kind,
    /// so no server created for them can ever match a connection built from settings.
    ready_made: bool,
    share: Option<Arc<dyn TokenShare>>,
}

impl GatewayPool {
    pub fn new(catalog: Arc<Catalog>, connections: Connections) -> Self {
        GatewayPool {
            catalog,
            toolset: Toolset::default(),
            connections,
            cache: Mutex::new(HashMap::new()),
            ready_made: false,
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
        let mut pool = GatewayPool::new(gateway.catalog().clone(), Connections::default());
        pool.ready_made = true;
        if let Ok(mut cache) = pool.cache.lock() {
            cache.insert(DEFAULT_CONNECTION.to_owned(), gateway);
        }
        pool
    }

    pub fn catalog(&self) -> &Arc<Catalog> {
        &self.catalog
    }

    /// The fingerprint of the org a connection reaches: a hash of its Desk API root and org id,
    /// marked `sandbox:` for ready-made gateways. A hosted server stores the identity it was
    /// created for and is honoured only where its connection still has that identity.
    pub fn identity(&self, name: &str) -> Result<String, GatewayPoolError> {
        let gateway = self.get(name)?;
        let config = gateway.client().config();
        let digest = Sha256::digest(
            format!(
                "{}\n{}",
                config.desk_base_url.as_str().trim_end_matches('/'),
                config.org_id
            )
            .as_bytes(),
        );
        let kind = if self.ready_made { "sandbox" } else { "zoho" };
        Ok(format!("{kind}:{}", hex::encode(&digest[..12])))
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
