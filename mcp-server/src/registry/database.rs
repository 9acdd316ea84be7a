//! Connecting to the SQL database shared by the MCP server registry and the runner's history.
//!
//! One URL selects the backend: a `postgres://` URL for deployments with several replicas, anything
//! else (or nothing) for a local SQLite file. Queries go through sqlx's `Any` driver with `$n`
//! placeholders, which both backends accept, so each query is written once.

use std::str::FromStr;
use std::time::Duration;

use sqlx::AnyPool;
use sqlx::any::{AnyConnectOptions, AnyPoolOptions};

/// The default database when `DATABASE_URL` is not set: a SQLite file in the working directory.
pub const DEFAULT_SQLITE_PATH: &str = "deskhand.db";

/// Which SQL engine a pool talks to; some coordination (row leases) differs between the two.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

impl std::fmt::Display for Backend {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Backend::Sqlite => "SQLite",
            Backend::Postgres => "PostgreSQL",
        })
    }
}

#[derive(Debug, thiserror::Error)]
pub enum DatabaseError {
    #[error("invalid database URL {url}: {source}")]
    InvalidUrl {
        url: String,
        #[source]
        source: sqlx::Error,
    },
    #[error("could not connect to the {backend} database: {source}")]
    Connect {
        backend: Backend,
        #[source]
        source: sqlx::Error,
    },
    #[error("database error: {0}")]
    Query(#[from] sqlx::Error),
}

/// A connected pool and the backend it speaks.
#[derive(Debug, Clone)]
pub struct Database {
    pub pool: AnyPool,
    pub backend: Backend,
}

/// Resolves the database URL from an explicit value, else `DATABASE_URL`, else the default SQLite file.
pub fn database_url(explicit: Option<&str>) -> String {
    explicit
        .map(str::to_owned)
        .or_else(|| std::env::var("DATABASE_URL").ok().filter(|s| !s.is_empty()))
        .unwrap_or_else(|| sqlite_url(DEFAULT_SQLITE_PATH))
}

/// A SQLite URL that creates the file if it does not exist yet.
pub fn sqlite_url(path: &str) -> String {
    format!("sqlite://{path}?mode=rwc")
}

/// Deletes a SQLite database file and its `-wal` and `-shm` companions, if they exist: for stores
/// that are thrown away (the demo's, an eval's, a benchmark's).
pub fn remove_sqlite_files(path: &std::path::Path) {
    for suffix in ["", "-wal", "-shm"] {
        let mut file = path.as_os_str().to_owned();
        file.push(suffix);
        let _ = std::fs::remove_file(std::path::PathBuf::from(file));
    }
}

/// Opens a pool. A bare path (no scheme) is taken as a SQLite file.
pub async fn connect(url: &str) -> Result<Database, DatabaseError> {
    sqlx::any::install_default_drivers();
    let url = if url.contains("://") || url.starts_with("sqlite:") {
        url.to_owned()
    } else {
        sqlite_url(url)
    };
    let backend = if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        Backend::Postgres
    } else {
        Backend::Sqlite
    };
    // The URL may carry a password: errors name the backend, never the URL.
    let options =
        AnyConnectOptions::from_str(&url).map_err(|source| DatabaseError::InvalidUrl {
            url: redact_url(&url),
            source,
        })?;
    let mut pool_options = AnyPoolOptions::new().acquire_timeout(Duration::from_secs(10));
    if backend == Backend::Sqlite {
        // SQLite serialises writers; a small pool avoids piling up on the file lock.
        pool_options = pool_options.max_connections(4);
    }
    let pool = pool_options
        .connect_with(options)
        .await
        .map_err(|source| DatabaseError::Connect { backend, source })?;
    if backend == Backend::Sqlite {
        // WAL lets readers (history, approvals) run while a run writes. Switching needs the file
        // to itself, and SQLite answers "database is locked" at once (no busy wait) when another
        // process or pool is opening the same new file: try again for a while.
        let mut attempt = 0;
        loop {
            match sqlx::query("PRAGMA journal_mode = WAL")
                .execute(&pool)
                .await
            {
                Ok(_) => break,
                Err(e) if attempt < 50 && is_locked(&e) => {
                    attempt += 1;
                    tokio::time::sleep(Duration::from_millis(20 * attempt.min(10))).await;
                }
                Err(e) => return Err(e.into()),
            }
        }
    }
    Ok(Database { pool, backend })
}

fn is_locked(e: &sqlx::Error) -> bool {
    matches!(e, sqlx::Error::Database(d) if d.message().contains("locked") || d.message().contains("busy"))
}

/// Hides the password of a URL such as `postgres://user:secret@host/db`.
pub fn redact_url(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(mut parsed) if parsed.password().is_some() => {
            let _ = parsed.set_password(Some("***"));
            parsed.to_string()
        }
        _ => url.to_owned(),
    }
}

/// Milliseconds since the Unix epoch: the one timestamp representation both backends carry
/// through sqlx's `Any` driver.
pub fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}
