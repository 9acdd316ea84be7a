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

/// The hosted MCP endpoint (`/mcp/<token>` and `/admin`) on a loopback port, serving one gateway
/// as the `default` connection: what the HTTP tests and the gateway benchmark run against.
/// Stops serving when dropped.
pub struct HostedMcp {
    pub registry: zoho_desk_mcp::registry::Registry,
    pub gateways: Arc<zoho_desk_mcp::server::GatewayPool>,
    pub base_url: String,
    cancel: tokio_util::sync::CancellationToken,
}

impl HostedMcp {
    pub async fn start(
        gateway: Arc<Gateway>,
        db: zoho_desk_mcp::registry::Database,
    ) -> anyhow::Result<Self> {
        use zoho_desk_mcp::server::http::{self, HttpOptions, HttpState};
        let registry = zoho_desk_mcp::registry::Registry::open(db).await?;
        let gateways = Arc::new(zoho_desk_mcp::server::GatewayPool::with_gateway(gateway));
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", 0)).await?;
        let base_url = format!("http://{}", listener.local_addr()?);
        let cancel = tokio_util::sync::CancellationToken::new();
        let state = HttpState::new(
            registry.clone(),
            gateways.clone(),
            HttpOptions {
                loopback_bound: true,
                public_url: base_url.clone(),
                ..HttpOptions::default()
            },
            cancel.clone(),
        );
        let stop = cancel.clone();
        tokio::spawn(zoho_desk_mcp::server::listener::serve(
            listener,
            http::router(state),
            async move { stop.cancelled().await },
        ));
        Ok(HostedMcp {
            registry,
            gateways,
            base_url,
            cancel,
        })
    }
}

impl Drop for HostedMcp {
    fn drop(&mut self) {
        self.cancel.cancel();
    }
}
