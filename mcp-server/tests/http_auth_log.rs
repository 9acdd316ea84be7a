#![allow(clippy::unwrap_used, clippy::expect_used)]
//! A refused credential on `/mcp/<token>` or `/admin` leaves one log line with the peer address
//! and the kind of path, and never the credential. Its own test binary: it installs the global
//! log subscriber.

mod common;

use std::io::Write;
use std::sync::{Arc, Mutex};

use common::Mock;
use serde_json::json;
use tokio_util::sync::CancellationToken;
use zoho_desk_mcp::registry::{Registry, ToolExposure, database};
use zoho_desk_mcp::server::hosted::{self, CreateServer};
use zoho_desk_mcp::server::{GatewayPool, HttpOptions, HttpState, http, listener};
use zoho_desk_mcp::{Catalog, Gateway};

#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Captured {
    fn take(&self) -> String {
        String::from_utf8(std::mem::take(&mut *self.0.lock().unwrap())).unwrap()
    }
}

#[tokio::test]
async fn failed_authentication_is_logged_once_without_the_secret() {
    let captured = Captured::default();
    let writer = captured.clone();
    tracing::subscriber::set_global_default(
        tracing_subscriber::fmt()
            .with_ansi(false)
            .with_max_level(tracing::Level::INFO)
            .with_writer(move || writer.clone())
            .finish(),
    )
    .unwrap();

    let mock = Mock::start().await;
    let path = std::env::temp_dir().join(format!(
        "deskhand-authlog-{}-{}.db",
        std::process::id(),
        database::now_ms()
    ));
    let registry = Registry::open(database::connect(path.to_str().unwrap()).await.unwrap())
        .await
        .unwrap();
    let gateway = Gateway::new(Arc::new(Catalog::zoho_desk().unwrap()), mock.client());
    let pool = Arc::new(GatewayPool::with_gateway(Arc::new(gateway)));
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", 0))
        .await
        .unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let stop = CancellationToken::new();
    let state = HttpState::new(
        registry.clone(),
        pool.clone(),
        HttpOptions {
            loopback_bound: true,
            ..HttpOptions::default()
        },
        stop.clone(),
    );
    let cancelled = stop.clone();
    tokio::spawn(listener::serve(listener, http::router(state), async move {
        cancelled.cancelled().await
    }));
    let guarded = hosted::create(
        &registry,
        &pool,
        CreateServer {
            name: "guarded".into(),
            connection: "default".into(),
            methods: vec![],
            tags: vec![],
            exposure: ToolExposure::All,
            require_api_token_auth: true,
            expires_at: None,
        },
        &base,
    )
    .await
    .unwrap();

    let client = reqwest::Client::new();
    let init = json!({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
        "protocolVersion": "2025-11-25", "capabilities": {},
        "clientInfo": {"name": "t", "version": "0"}}});
    let wrong_url_token = "dhm_0123456789abcdefWRONGURLTOKEN";
    let wrong_api_token = "dha_0123456789abcdefWRONGAPITOKEN";
    let cases: Vec<(reqwest::RequestBuilder, u16, &str)> = vec![
        (
            client
                .post(format!("{base}/mcp/{wrong_url_token}"))
                .json(&init),
            404,
            "path=mcp",
        ),
        (
            client
                .post(&guarded.url)
                .bearer_auth(wrong_api_token)
                .json(&init),
            401,
            "path=mcp",
        ),
        (
            client
                .get(format!("{base}/admin/servers"))
                .bearer_auth(wrong_api_token),
            401,
            "path=admin",
        ),
        (
            client.get(format!("{base}/admin/servers")),
            401,
            "path=admin",
        ),
    ];
    for (request, status, kind) in cases {
        captured.take();
        let response = request.send().await.unwrap();
        assert_eq!(response.status(), status);
        let logged = captured.take();
        let lines: Vec<&str> = logged
            .lines()
            .filter(|l| l.contains("authentication failed"))
            .collect();
        assert_eq!(lines.len(), 1, "one line per refusal: {logged}");
        let line = lines[0];
        assert!(line.contains(kind), "{line}");
        assert!(line.contains("peer=127.0.0.1:"), "{line}");
        for secret in [wrong_url_token, wrong_api_token, &guarded.created.token] {
            assert!(
                !logged.contains(secret),
                "a credential was logged: {logged}"
            );
        }
    }

    // A successful call logs no failure.
    let (_, api_token) = registry.create_api_token("ok", None).await.unwrap();
    captured.take();
    let response = client
        .get(format!("{base}/admin/servers"))
        .bearer_auth(&api_token)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert!(!captured.take().contains("authentication failed"));
    stop.cancel();
}
