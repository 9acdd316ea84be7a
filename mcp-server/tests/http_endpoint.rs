#![allow(clippy::unwrap_used, clippy::expect_used)]
//! The hosted MCP endpoint over a real socket: org binding of server URLs, `Host` and `Origin`
//! checks, the header-read timeout, JSON-RPC errors for bodies rmcp cannot take, bearer schemes,
//! and keep-alive after an early refusal.

mod common;

use std::sync::Arc;
use std::time::{Duration, Instant};

use common::Mock;
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_util::sync::CancellationToken;
use zoho_desk_mcp::registry::{Registry, ToolExposure, database};
use zoho_desk_mcp::server::hosted::{self, CreateServer, HostedServer};
use zoho_desk_mcp::server::{GatewayPool, HttpOptions, HttpState, http, listener};
use zoho_desk_mcp::{Catalog, Gateway};

/// The header-read timeout of the test servers: short, so the slow-client tests are quick.
const HEADER_TIMEOUT: Duration = Duration::from_millis(800);

struct Served {
    base: String,
    addr: std::net::SocketAddr,
    stop: CancellationToken,
}

impl Drop for Served {
    fn drop(&mut self) {
        self.stop.cancel();
    }
}

async fn serve(registry: Registry, pool: Arc<GatewayPool>, options: HttpOptions) -> Served {
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", 0))
        .await
        .unwrap();
    let addr = listener.local_addr().unwrap();
    let stop = CancellationToken::new();
    let state = HttpState::new(registry, pool, options, stop.clone());
    let cancelled = stop.clone();
    tokio::spawn(listener::serve_with_timeout(
        listener,
        http::router(state),
        HEADER_TIMEOUT,
        async move { cancelled.cancelled().await },
    ));
    Served {
        base: format!("http://{addr}"),
        addr,
        stop,
    }
}

async fn registry() -> Registry {
    static NEXT: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
    let path = std::env::temp_dir().join(format!(
        "deskhand-http-{}-{}-{}.db",
        std::process::id(),
        database::now_ms(),
        NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
    ));
    let db = database::connect(path.to_str().unwrap()).await.unwrap();
    Registry::open(db).await.unwrap()
}

async fn pool_for(mock: &Mock) -> Arc<GatewayPool> {
    let gateway = Gateway::new(Arc::new(Catalog::zoho_desk().unwrap()), mock.client());
    Arc::new(GatewayPool::with_gateway(Arc::new(gateway)))
}

fn request(name: &str) -> CreateServer {
    CreateServer {
        name: name.into(),
        connection: "default".into(),
        methods: vec![],
        tags: vec![],
        exposure: ToolExposure::All,
        require_api_token_auth: false,
        expires_at: None,
    }
}

struct Fixture {
    _mock: Mock,
    registry: Registry,
    pool: Arc<GatewayPool>,
    served: Served,
}

async fn fixture(options: HttpOptions) -> Fixture {
    let mock = Mock::start().await;
    let registry = registry().await;
    let pool = pool_for(&mock).await;
    let served = serve(registry.clone(), pool.clone(), options).await;
    Fixture {
        _mock: mock,
        registry,
        pool,
        served,
    }
}

fn loopback() -> HttpOptions {
    HttpOptions {
        loopback_bound: true,
        ..HttpOptions::default()
    }
}

impl Fixture {
    async fn create(&self, request: CreateServer) -> HostedServer {
        hosted::create(&self.registry, &self.pool, request, &self.served.base)
            .await
            .unwrap()
    }
}

fn initialize_body() -> Value {
    json!({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
        "protocolVersion": "2025-11-25", "capabilities": {},
        "clientInfo": {"name": "raw-test", "version": "0"}}})
}

fn post(url: &str) -> reqwest::RequestBuilder {
    reqwest::Client::new()
        .post(url)
        .header("accept", "application/json, text/event-stream")
        .header("content-type", "application/json")
        .header("mcp-protocol-version", "2025-11-25")
}

/// Sends raw bytes on a fresh connection and returns everything read until the server closes
/// it or `within` passes.
async fn raw(addr: std::net::SocketAddr, bytes: &[u8], within: Duration) -> String {
    let mut stream = TcpStream::connect(addr).await.unwrap();
    stream.write_all(bytes).await.unwrap();
    let mut out = Vec::new();
    let _ = tokio::time::timeout(within, stream.read_to_end(&mut out)).await;
    String::from_utf8_lossy(&out).into_owned()
}

fn status_of(response: &str) -> u16 {
    response
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0)
}

#[tokio::test]
async fn a_server_url_is_refused_where_its_connection_reaches_another_org() {
    // Two processes share one registry: one serves the sandbox (here: one mock), the next a
    // different org under the same connection name `default`.
    let sandbox = Mock::start().await;
    let other_org = Mock::start().await;
    let registry = registry().await;
    let sandbox_pool = pool_for(&sandbox).await;
    let first = serve(registry.clone(), sandbox_pool.clone(), loopback()).await;
    let hosted = hosted::create(&registry, &sandbox_pool, request("demo"), &first.base)
        .await
        .unwrap();
    let ok = post(&hosted.url)
        .json(&initialize_body())
        .send()
        .await
        .unwrap();
    assert_eq!(ok.status(), 200, "valid where it was made");

    let second = serve(registry.clone(), pool_for(&other_org).await, loopback()).await;
    let url = hosted.url.replace(&first.base, &second.base);
    let refused = post(&url).json(&initialize_body()).send().await.unwrap();
    assert_eq!(refused.status(), 403);
    let body: Value = refused.json().await.unwrap();
    assert_eq!(body["error"], "connection_mismatch");
}

#[tokio::test]
async fn host_is_checked_on_every_route() {
    let fx = fixture(HttpOptions {
        allowed_hosts: vec!["mcp.example.com".into()],
        ..loopback()
    })
    .await;
    let hosted = fx.create(request("hosts")).await;
    let path = hosted.url.replace(&fx.served.base, "");
    let within = Duration::from_secs(5);
    for (host, expected) in [
        ("evil.example", 403),
        ("127.0.0.1.evil.example", 403),
        ("localhost", 200),
        ("mcp.example.com:443", 200),
    ] {
        let healthz = raw(
            fx.served.addr,
            format!("GET /healthz HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n")
                .as_bytes(),
            within,
        )
        .await;
        assert_eq!(
            status_of(&healthz),
            expected,
            "/healthz, Host {host}: {healthz}"
        );
    }
    let admin = raw(
        fx.served.addr,
        b"GET /admin/servers HTTP/1.1\r\nHost: evil.example\r\nConnection: close\r\n\r\n",
        within,
    )
    .await;
    assert_eq!(status_of(&admin), 403, "{admin}");
    assert!(admin.contains("host_not_allowed"), "{admin}");
    let body = initialize_body().to_string();
    let mcp = raw(
        fx.served.addr,
        format!(
            "POST {path} HTTP/1.1\r\nHost: evil.example\r\nAccept: application/json, text/event-stream\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        )
        .as_bytes(),
        within,
    )
    .await;
    assert_eq!(status_of(&mcp), 403, "{mcp}");
}

#[tokio::test]
async fn origin_is_checked_on_the_mcp_endpoint() {
    let fx = fixture(loopback()).await;
    let hosted = fx.create(request("origins")).await;
    let send = |origin: Option<&'static str>| {
        let mut r = post(&hosted.url).json(&initialize_body());
        if let Some(o) = origin {
            r = r.header("origin", o);
        }
        r.send()
    };
    assert_eq!(send(None).await.unwrap().status(), 200);
    assert_eq!(
        send(Some("http://localhost:5173")).await.unwrap().status(),
        200
    );
    let refused = send(Some("https://evil.example")).await.unwrap();
    assert_eq!(refused.status(), 403);
    let body: Value = refused.json().await.unwrap();
    assert_eq!(body["error"], "origin_not_allowed");
    assert_eq!(send(Some("null")).await.unwrap().status(), 403);

    // Bound beyond loopback: only the listed origins.
    let public = fixture(HttpOptions {
        allowed_origins: vec!["https://app.example.com".into()],
        loopback_bound: false,
        ..HttpOptions::default()
    })
    .await;
    let hosted = public.create(request("public")).await;
    for (origin, expected) in [
        ("https://app.example.com", 200),
        ("http://localhost:5173", 403),
        ("https://evil.example", 403),
    ] {
        let r = post(&hosted.url)
            .header("origin", origin)
            .json(&initialize_body())
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), expected, "{origin}");
    }
}

/// Trickles one header line every 200 ms and reports how long the server kept the connection
/// open (`None`: still open after `bound`).
async fn trickle(addr: std::net::SocketAddr, bound: Duration) -> Option<Duration> {
    let stream = TcpStream::connect(addr).await.unwrap();
    let (mut read, mut write) = stream.into_split();
    let started = Instant::now();
    let closed = tokio::spawn(async move {
        let mut buf = [0u8; 512];
        loop {
            match read.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(_) => {}
            }
        }
    });
    let _ = write
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: localhost\r\n")
        .await;
    let mut line = 0;
    while started.elapsed() < bound {
        if closed.is_finished() {
            return Some(started.elapsed());
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
        line += 1;
        if write
            .write_all(format!("X-Slow-{line}: a\r\n").as_bytes())
            .await
            .is_err()
        {
            return Some(started.elapsed());
        }
    }
    None
}

#[tokio::test]
async fn a_client_trickling_headers_is_disconnected() {
    let fx = fixture(loopback()).await;
    let bound = HEADER_TIMEOUT * 5;
    let clients: Vec<_> = (0..8)
        .map(|_| tokio::spawn(trickle(fx.served.addr, bound)))
        .collect();
    for client in clients {
        let held = client.await.unwrap();
        let held =
            held.unwrap_or_else(|| panic!("a slow client was still connected after {bound:?}"));
        assert!(held >= HEADER_TIMEOUT / 2, "closed after {held:?}");
    }
}

#[tokio::test]
async fn an_idle_kept_alive_connection_is_closed() {
    let fx = fixture(loopback()).await;
    let mut stream = TcpStream::connect(fx.served.addr).await.unwrap();
    stream
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: localhost\r\n\r\n")
        .await
        .unwrap();
    let started = Instant::now();
    let mut out = Vec::new();
    let bound = HEADER_TIMEOUT * 5;
    let read = tokio::time::timeout(bound, stream.read_to_end(&mut out)).await;
    assert!(
        read.is_ok(),
        "the idle connection was still open after {bound:?}"
    );
    assert!(String::from_utf8_lossy(&out).starts_with("HTTP/1.1 200"));
    assert!(started.elapsed() >= HEADER_TIMEOUT / 2);
}

#[tokio::test]
async fn bodies_rmcp_cannot_take_get_json_rpc_errors() {
    let fx = fixture(loopback()).await;
    let hosted = fx.create(request("rpc")).await;

    let r = post(&hosted.url)
        .body("this is not json")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    assert!(
        r.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("application/json")
    );
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["jsonrpc"], "2.0");
    assert_eq!(body["error"]["code"], -32700);
    assert_eq!(body["id"], Value::Null);

    for not_rpc in [
        json!({"hello": 1}),
        json!([1, 2]),
        json!("text"),
        json!({"jsonrpc": "1.0", "id": 1, "method": "ping"}),
    ] {
        let r = post(&hosted.url).json(&not_rpc).send().await.unwrap();
        assert_eq!(r.status(), 400, "{not_rpc}");
        let body: Value = r.json().await.unwrap();
        assert_eq!(body["error"]["code"], -32600, "{not_rpc}");
    }

    for arguments in [json!("x"), json!([1]), json!(5)] {
        let call = json!({"jsonrpc": "2.0", "id": 7, "method": "tools/call",
            "params": {"name": "list_all_zoho_desk_tickets", "arguments": arguments}});
        let r = post(&hosted.url).json(&call).send().await.unwrap();
        let body: Value = r.json().await.unwrap();
        assert_eq!(body["id"], 7, "{body}");
        assert_eq!(body["error"]["code"], -32602, "{body}");
        assert!(
            body["error"]["message"]
                .as_str()
                .unwrap()
                .contains("arguments"),
            "{body}"
        );
    }
}

#[tokio::test]
async fn accept_any_and_a_lower_case_bearer_scheme_are_understood() {
    let fx = fixture(loopback()).await;
    let hosted = fx.create(request("accept")).await;
    let r = reqwest::Client::new()
        .post(&hosted.url)
        .header("accept", "*/*")
        .header("content-type", "application/json")
        .json(&initialize_body())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["result"]["serverInfo"]["name"], "zoho-desk");

    let mut guarded = request("bearer");
    guarded.require_api_token_auth = true;
    let guarded = fx.create(guarded).await;
    let (_, token) = fx.registry.create_api_token("t", None).await.unwrap();
    for scheme in ["bearer", "BEARER", "Bearer"] {
        let r = post(&guarded.url)
            .header("authorization", format!("{scheme} {token}"))
            .json(&initialize_body())
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200, "{scheme}");
    }
    let r = post(&guarded.url)
        .header("authorization", format!("Basic {token}"))
        .json(&initialize_body())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
}

#[tokio::test]
async fn an_early_refusal_leaves_the_kept_alive_connection_usable() {
    let fx = fixture(loopback()).await;
    let mut stream = TcpStream::connect(fx.served.addr).await.unwrap();
    let body = format!("{{\"pad\": \"{}\"}}", "x".repeat(256 * 1024));
    let first = format!(
        "POST /mcp/dhm_unknown HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n",
        body.len()
    );
    stream.write_all(first.as_bytes()).await.unwrap();
    stream.write_all(body.as_bytes()).await.unwrap();
    stream
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
        .await
        .unwrap();
    let mut out = Vec::new();
    tokio::time::timeout(Duration::from_secs(10), stream.read_to_end(&mut out))
        .await
        .unwrap()
        .unwrap();
    let text = String::from_utf8_lossy(&out);
    assert!(text.starts_with("HTTP/1.1 404"), "{text}");
    let second = text
        .find("\r\n\r\nok")
        .map(|_| ())
        .and(text.rfind("HTTP/1.1 200"));
    assert!(second.is_some(), "the second request got no answer: {text}");
}
