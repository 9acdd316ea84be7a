//! Shared fixtures for the runner's integration tests.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use deskhand::embedded::SandboxBackend;
use zoho_desk_mcp::catalog::Catalog;
use zoho_desk_sandbox::SandboxConfig;

/// A fresh path under the system temp dir, unique per call (tests run in parallel).
pub mod agent;

pub fn temp_path(stem: &str, ext: &str) -> PathBuf {
    static N: AtomicU64 = AtomicU64::new(0);
    let n = N.fetch_add(1, Ordering::Relaxed);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or_default();
    std::env::temp_dir().join(format!(
        "deskhand-{stem}-{}-{n}-{nanos}.{ext}",
        std::process::id()
    ))
}

pub fn catalog() -> Arc<Catalog> {
    Arc::new(Catalog::zoho_desk().expect("embedded catalog"))
}

pub async fn sandbox() -> SandboxBackend {
    sandbox_with(SandboxConfig::default()).await
}

/// The generated org with only its first `n` tickets: a queue a run (or a few ticks) can empty,
/// since selection pages on past handled tickets until `max_items` are due.
pub fn seed_with_tickets(n: usize) -> zoho_desk_sandbox::SeedData {
    let mut data = zoho_desk_sandbox::SeedData::generated(SandboxConfig::default().seed).to_json();
    if let Some(tickets) = data["tickets"].as_array_mut() {
        tickets.truncate(n);
    }
    zoho_desk_sandbox::SeedData::from_json_str(&data.to_string()).expect("a truncated seed loads")
}

pub async fn sandbox_with(config: SandboxConfig) -> SandboxBackend {
    zoho_desk_mcp::install_crypto_provider();
    SandboxBackend::start_with(catalog(), config)
        .await
        .expect("sandbox starts")
}

/// `deskhand mcp serve --http --sandbox` as a child process, with the URL of a full-scope hosted
/// server it printed at start-up. Killed on drop.
pub struct HttpServerProcess {
    pub child: tokio::process::Child,
    pub url: String,
}

impl Drop for HttpServerProcess {
    fn drop(&mut self) {
        let _ = self.child.start_kill();
    }
}

pub async fn spawn_http_server(extra: &[&str]) -> HttpServerProcess {
    use tokio::io::AsyncBufReadExt;
    let db = temp_path("mcp-http", "db");
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_deskhand"))
        .args([
            "mcp",
            "serve",
            "--http",
            "--port",
            "0",
            "--sandbox",
            "--print-url",
        ])
        .args(extra)
        .arg("--database-url")
        .arg(db.to_str().unwrap())
        .env("RUST_LOG", "warn")
        .env_remove("DATABASE_URL")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::inherit())
        .kill_on_drop(true)
        .spawn()
        .expect("deskhand starts");
    let stdout = child.stdout.take().unwrap();
    let mut lines = tokio::io::BufReader::new(stdout).lines();
    let url = tokio::time::timeout(std::time::Duration::from_secs(60), lines.next_line())
        .await
        .expect("URL printed in time")
        .unwrap()
        .expect("a URL line");
    assert!(url.contains("/mcp/dhm_"), "{url}");
    HttpServerProcess { child, url }
}

/// Whether an external tool the test needs is present. Under CI it must be (CI installs it);
/// elsewhere the test says it was skipped.
pub fn require_tool(available: bool, what: &str) -> bool {
    if available {
        return true;
    }
    if std::env::var_os("CI").is_some() {
        panic!("{what} is not installed, but CI must run this test (see .ci/run)");
    }
    eprintln!("skipped: {what} is not installed (.ci/run installs it)");
    false
}

/// A database the run-store tests run their body against: a fresh SQLite file always, and the
/// PostgreSQL database named by `DESKHAND_TEST_POSTGRES_URL` (see [`deskhand_e2e::postgres`]:
/// under CI its absence fails the test; elsewhere the skip is reported in the test output).
pub struct StoreBackend {
    pub name: &'static str,
    pub url: String,
}

impl StoreBackend {
    /// A new pool (and so new connections) on this backend's database, migrated.
    pub async fn open(&self) -> deskhand::store::Store {
        deskhand::store::Store::connect(&self.url)
            .await
            .unwrap_or_else(|e| panic!("{}: open the store: {e}", self.name))
    }
}

/// The backends to run a store test on. Tests running in parallel share the PostgreSQL database,
/// so each must name its workflows and owners with [`unique_name`].
pub fn store_backends() -> Vec<StoreBackend> {
    let sqlite = temp_path("store", "db");
    let mut backends = vec![StoreBackend {
        name: "SQLite",
        url: zoho_desk_mcp::registry::database::sqlite_url(sqlite.to_str().unwrap()),
    }];
    if let Some(url) = deskhand_e2e::postgres::test_url() {
        backends.push(StoreBackend {
            name: "PostgreSQL",
            url,
        });
    }
    backends
}

/// A name no other test, process or earlier test run uses (the PostgreSQL test database lives on).
pub fn unique_name(prefix: &str) -> String {
    static N: AtomicU64 = AtomicU64::new(0);
    let n = N.fetch_add(1, Ordering::Relaxed);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or_default();
    format!("{prefix}-{}-{n}-{nanos}", std::process::id())
}

/// An engine on the embedded MCP server over a fresh sandbox, with a throwaway SQLite store: what
/// the tests that drive whole runs start from.
pub struct EngineSetup {
    pub backend: SandboxBackend,
    pub engine: deskhand::engine::Engine,
    pub store: deskhand::store::Store,
    /// The store's URL, for tests that open it a second way (to simulate a crash).
    pub db_url: String,
}

pub async fn engine_setup(config: SandboxConfig) -> EngineSetup {
    let backend = sandbox_with(config).await;
    let db = temp_path("runs", "db");
    let db_url = zoho_desk_mcp::registry::database::sqlite_url(db.to_str().unwrap());
    let store = deskhand::store::Store::connect(&db_url).await.unwrap();
    let engine = deskhand::engine::Engine::new(store.clone(), "test")
        .with_embedded(deskhand::mcp::EmbeddedServer::new(backend.gateway.clone()));
    EngineSetup {
        backend,
        engine,
        store,
        db_url,
    }
}
