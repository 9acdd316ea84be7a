//! An offline Zoho Desk in the same process: the sandbox on a loopback port and a gateway wired to
//! it, for `mcp serve --sandbox`, the demo and tests. Production paths never construct this.

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use url::Url;
use zoho_desk_mcp::catalog::{Catalog, Gateway};
use zoho_desk_mcp::zoho::{Secret, ZohoClient, ZohoConfig};
use zoho_desk_sandbox::{Sandbox, SandboxConfig};

/// A running sandbox and a gateway that talks to it over real HTTP.
pub struct SandboxBackend {
    pub sandbox: Sandbox,
    pub gateway: Arc<Gateway>,
}

impl SandboxBackend {
    pub async fn start(catalog: Arc<Catalog>) -> anyhow::Result<Self> {
        Self::start_with(catalog, SandboxConfig::default()).await
    }

    pub async fn start_with(catalog: Arc<Catalog>, config: SandboxConfig) -> anyhow::Result<Self> {
        let sandbox = Sandbox::start(config, ([127, 0, 0, 1], 0).into())
            .await
            .context("could not start the in-process sandbox")?;
        let config = zoho_config_for(&sandbox)?;
        let gateway = Arc::new(Gateway::new(catalog, ZohoClient::new(config)?));
        Ok(SandboxBackend { sandbox, gateway })
    }
}

/// The client settings that reach a sandbox, exactly as `ZOHO_DESK_BASE_URL` & co. would.
pub fn zoho_config_for(sandbox: &Sandbox) -> anyhow::Result<ZohoConfig> {
    let creds = sandbox.credentials();
    Ok(ZohoConfig {
        desk_base_url: Url::parse(&sandbox.base_url())?,
        accounts_url: Url::parse(&sandbox.accounts_url())?,
        org_id: creds.org_id.clone(),
        client_id: creds.client_id.clone(),
        client_secret: Secret::new(creds.client_secret.clone()),
        refresh_token: Secret::new(creds.refresh_token.clone()),
        timeout: Duration::from_secs(30),
    })
}
