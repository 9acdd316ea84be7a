//! The registry of hosted MCP servers and admin API tokens.
//!
//! A hosted server is a URL `/mcp/<token>` bound to one Zoho connection and a tool scope
//! (methods AND tags, optional discovery mode), with an optional expiry and an optional second
//! factor (an API token in `Authorization: Bearer`). Tokens are stored as SHA-256 hashes only.

pub mod database;
pub mod token;

use serde::{Deserialize, Serialize};
use sqlx::Row;

pub use database::{Backend, Database, DatabaseError};

/// Why a registry operation failed.
#[derive(Debug, thiserror::Error)]
pub enum RegistryError {
    #[error(transparent)]
    Database(#[from] DatabaseError),
    #[error("could not read random bytes from the operating system: {0}")]
    Random(#[from] rand::rand_core::OsError),
    #[error("stored record {id} is corrupt: {reason}")]
    Corrupt { id: String, reason: String },
    #[error(
        "an MCP server named {name:?} already exists on connection {connection:?}; pick another name or revoke that one"
    )]
    DuplicateName { name: String, connection: String },
    #[error("no MCP server is named {0:?}")]
    NoSuchName(String),
    #[error(
        "{count} MCP servers are named {name:?}; revoke one by its id (see `deskhand mcp servers list`)"
    )]
    AmbiguousName { name: String, count: usize },
    #[error("no API token is named {0:?}")]
    NoSuchTokenName(String),
    #[error(
        "{count} API tokens are named {name:?}; revoke one by its id (see `deskhand mcp tokens list`)"
    )]
    AmbiguousTokenName { name: String, count: usize },
}

impl From<sqlx::Error> for RegistryError {
    fn from(e: sqlx::Error) -> Self {
        RegistryError::Database(DatabaseError::Query(e))
    }
}

/// How a hosted server presents its tools.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum ToolExposure {
    /// Every tool in scope is listed.
    #[default]
    All,
    /// Only `search_tools`, `get_tool_schema` and `call_tool` are listed, for clients that cannot
    /// hold dozens of tool definitions.
    Discovery,
}

impl ToolExposure {
    fn as_str(self) -> &'static str {
        match self {
            ToolExposure::All => "all",
            ToolExposure::Discovery => "discovery",
        }
    }
}

/// A hosted MCP server as stored (never with its token).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct ServerRecord {
    pub id: String,
    pub name: String,
    pub connection: String,
    pub methods: Vec<String>,
    pub tags: Vec<String>,
    pub exposure: ToolExposure,
    pub require_api_token_auth: bool,
    /// Epoch milliseconds.
    pub expires_at: Option<i64>,
    /// Epoch milliseconds.
    pub created_at: i64,
    /// Fingerprint of the Zoho org the server was created for (see
    /// [`crate::server::GatewayPool::identity`]). A URL is honoured only by a process whose
    /// connection of the same name reaches the same org, so a sandbox URL never opens a real org.
    /// `None` for servers stored before this binding existed: those are refused.
    #[serde(default)]
    pub connection_identity: Option<String>,
}

impl ServerRecord {
    pub fn is_expired_at(&self, now_ms: i64) -> bool {
        self.expires_at.is_some_and(|t| t <= now_ms)
    }
}

/// What a caller asks for when creating a hosted server.
#[derive(Debug, Clone)]
pub struct NewServer {
    pub name: String,
    pub connection: String,
    pub connection_identity: String,
    pub methods: Vec<String>,
    pub tags: Vec<String>,
    pub exposure: ToolExposure,
    pub require_api_token_auth: bool,
    pub expires_at: Option<i64>,
}

/// The result of creating a server: the only moment its token exists in plain text.
#[derive(Debug, Clone)]
pub struct CreatedServer {
    pub record: ServerRecord,
    pub token: String,
}

/// An admin API token as stored.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct ApiTokenRecord {
    pub id: String,
    pub name: String,
    pub created_at: i64,
    pub expires_at: Option<i64>,
}

/// The outcome of presenting a server URL token.
#[derive(Debug, Clone, PartialEq)]
pub enum TokenLookup {
    Active(ServerRecord),
    /// The server existed but its `expires_at` has passed; it has now been purged.
    Expired(ServerRecord),
    Unknown,
}

/// The registry, over either SQLite or PostgreSQL.
#[derive(Debug, Clone)]
pub struct Registry {
    db: Database,
}

const SCHEMA: &[&str] = &[
    "CREATE TABLE IF NOT EXISTS mcp_servers (
        id TEXT PRIMARY KEY,
        name TEXT NOT NULL,
        connection TEXT NOT NULL,
        token_hash TEXT NOT NULL UNIQUE,
        methods TEXT NOT NULL,
        tags TEXT NOT NULL,
        exposure TEXT NOT NULL,
        require_api_token_auth BIGINT NOT NULL,
        expires_at BIGINT,
        created_at BIGINT NOT NULL,
        connection_identity TEXT,
        UNIQUE (connection, name)
    )",
    "CREATE TABLE IF NOT EXISTS mcp_api_tokens (
        id TEXT PRIMARY KEY,
        name TEXT NOT NULL,
        token_hash TEXT NOT NULL UNIQUE,
        expires_at BIGINT,
        created_at BIGINT NOT NULL
    )",
];

const SERVER_COLUMNS: &str = "id, name, connection, methods, tags, exposure, require_api_token_auth, expires_at, created_at, connection_identity";

impl Registry {
    /// Opens the registry and creates its tables if needed; safe when several replicas start at once.
    pub async fn open(db: Database) -> Result<Self, RegistryError> {
        let mut tx = db.pool.begin().await?;
        if db.backend == Backend::Postgres {
            // `CREATE TABLE IF NOT EXISTS` races on PostgreSQL when replicas start together
            // (a unique violation in pg_type); a transaction-scoped advisory lock serialises them.
            sqlx::query("SELECT pg_advisory_xact_lock(7265120001)")
                .execute(&mut *tx)
                .await?;
        }
        for statement in SCHEMA {
            sqlx::query(*statement).execute(&mut *tx).await?;
        }
        // Registries created before servers were bound to their org lack the column; their rows
        // keep a NULL identity and are refused until recreated.
        let probe = match db.backend {
            Backend::Sqlite => {
                "SELECT COUNT(*) FROM pragma_table_info('mcp_servers') WHERE name = 'connection_identity'"
            }
            Backend::Postgres => {
                "SELECT COUNT(*) FROM information_schema.columns WHERE table_name = 'mcp_servers' AND column_name = 'connection_identity' AND table_schema = current_schema()"
            }
        };
        let present: i64 = sqlx::query_scalar(probe).fetch_one(&mut *tx).await?;
        if present == 0 {
            sqlx::query("ALTER TABLE mcp_servers ADD COLUMN connection_identity TEXT")
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        Ok(Registry { db })
    }

    pub fn database(&self) -> &Database {
        &self.db
    }

    /// Stores a new server and returns its token, which is not retrievable afterwards.
    pub async fn create_server(&self, new: NewServer) -> Result<CreatedServer, RegistryError> {
        let duplicate = |record: &ServerRecord| RegistryError::DuplicateName {
            name: record.name.clone(),
            connection: record.connection.clone(),
        };
        let taken: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) FROM mcp_servers WHERE connection = $1 AND name = $2",
        )
        .bind(new.connection.clone())
        .bind(new.name.clone())
        .fetch_one(&self.db.pool)
        .await?;
        if taken > 0 {
            return Err(RegistryError::DuplicateName {
                name: new.name,
                connection: new.connection,
            });
        }
        let token = token::generate(token::MCP_TOKEN_PREFIX)?;
        let record = ServerRecord {
            id: token::record_id("srv_")?,
            name: new.name,
            connection: new.connection,
            methods: new.methods,
            tags: new.tags,
            exposure: new.exposure,
            require_api_token_auth: new.require_api_token_auth,
            expires_at: new.expires_at,
            created_at: database::now_ms(),
            connection_identity: Some(new.connection_identity.clone()),
        };
        // The UNIQUE (connection, name) constraint settles a race the check above lost.
        let inserted = sqlx::query(
            "INSERT INTO mcp_servers (id, name, connection, token_hash, methods, tags, exposure, require_api_token_auth, expires_at, created_at, connection_identity)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
        )
        .bind(record.id.clone())
        .bind(record.name.clone())
        .bind(record.connection.clone())
        .bind(token::hash(&token))
        .bind(json_list(&record.methods))
        .bind(json_list(&record.tags))
        .bind(record.exposure.as_str())
        .bind(i64::from(record.require_api_token_auth))
        .bind(record.expires_at)
        .bind(record.created_at)
        .bind(new.connection_identity)
        .execute(&self.db.pool)
        .await;
        match inserted {
            Ok(_) => Ok(CreatedServer { record, token }),
            Err(sqlx::Error::Database(e)) if e.is_unique_violation() => Err(duplicate(&record)),
            Err(e) => Err(e.into()),
        }
    }

    pub async fn list_servers(&self) -> Result<Vec<ServerRecord>, RegistryError> {
        let sql = format!("SELECT {SERVER_COLUMNS} FROM mcp_servers ORDER BY created_at, id");
        let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
            .fetch_all(&self.db.pool)
            .await?;
        rows.iter().map(server_from_row).collect()
    }

    /// Deletes the server with exactly this id. Returns whether one was removed. Ids only: a name
    /// may be shared across connections and could look like another server's id.
    pub async fn revoke_server(&self, id: &str) -> Result<bool, RegistryError> {
        let done = sqlx::query("DELETE FROM mcp_servers WHERE id = $1")
            .bind(id.to_owned())
            .execute(&self.db.pool)
            .await?;
        Ok(done.rows_affected() > 0)
    }

    /// Deletes the one server with exactly this name and returns its id; refuses when no server or
    /// several servers (on different connections) carry the name.
    pub async fn revoke_server_named(&self, name: &str) -> Result<String, RegistryError> {
        let ids: Vec<String> = sqlx::query_scalar("SELECT id FROM mcp_servers WHERE name = $1")
            .bind(name.to_owned())
            .fetch_all(&self.db.pool)
            .await?;
        match ids.as_slice() {
            [] => Err(RegistryError::NoSuchName(name.to_owned())),
            [id] => {
                if self.revoke_server(id).await? {
                    Ok(id.clone())
                } else {
                    Err(RegistryError::NoSuchName(name.to_owned()))
                }
            }
            many => Err(RegistryError::AmbiguousName {
                name: name.to_owned(),
                count: many.len(),
            }),
        }
    }

    /// Resolves a URL token. Expired servers are purged on sight.
    pub async fn lookup_server_token(&self, token: &str) -> Result<TokenLookup, RegistryError> {
        let sql = format!("SELECT {SERVER_COLUMNS} FROM mcp_servers WHERE token_hash = $1");
        let row = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(token::hash(token))
            .fetch_optional(&self.db.pool)
            .await?;
        let Some(row) = row else {
            return Ok(TokenLookup::Unknown);
        };
        let record = server_from_row(&row)?;
        if record.is_expired_at(database::now_ms()) {
            sqlx::query("DELETE FROM mcp_servers WHERE id = $1")
                .bind(record.id.clone())
                .execute(&self.db.pool)
                .await?;
            return Ok(TokenLookup::Expired(record));
        }
        Ok(TokenLookup::Active(record))
    }

    /// Deletes every expired server; returns how many went.
    pub async fn purge_expired(&self) -> Result<u64, RegistryError> {
        let done = sqlx::query(
            "DELETE FROM mcp_servers WHERE expires_at IS NOT NULL AND expires_at <= $1",
        )
        .bind(database::now_ms())
        .execute(&self.db.pool)
        .await?;
        Ok(done.rows_affected())
    }

    /// Creates an admin API token and returns it with its record; the token is shown once.
    pub async fn create_api_token(
        &self,
        name: &str,
        expires_at: Option<i64>,
    ) -> Result<(ApiTokenRecord, String), RegistryError> {
        let token = token::generate(token::API_TOKEN_PREFIX)?;
        let record = ApiTokenRecord {
            id: token::record_id("tok_")?,
            name: name.to_owned(),
            created_at: database::now_ms(),
            expires_at,
        };
        sqlx::query(
            "INSERT INTO mcp_api_tokens (id, name, token_hash, expires_at, created_at) VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(record.id.clone())
        .bind(record.name.clone())
        .bind(token::hash(&token))
        .bind(record.expires_at)
        .bind(record.created_at)
        .execute(&self.db.pool)
        .await?;
        Ok((record, token))
    }

    pub async fn list_api_tokens(&self) -> Result<Vec<ApiTokenRecord>, RegistryError> {
        let rows = sqlx::query(
            "SELECT id, name, expires_at, created_at FROM mcp_api_tokens ORDER BY created_at, id",
        )
        .fetch_all(&self.db.pool)
        .await?;
        rows.iter().map(api_token_from_row).collect()
    }

    /// Deletes the API token with exactly this id; returns whether one was removed.
    pub async fn revoke_api_token(&self, id: &str) -> Result<bool, RegistryError> {
        let done = sqlx::query("DELETE FROM mcp_api_tokens WHERE id = $1")
            .bind(id.to_owned())
            .execute(&self.db.pool)
            .await?;
        Ok(done.rows_affected() > 0)
    }

    /// Deletes the one API token with exactly this name and returns its id; refuses when none
    /// or several carry the name.
    pub async fn revoke_api_token_named(&self, name: &str) -> Result<String, RegistryError> {
        let ids: Vec<String> = sqlx::query_scalar("SELECT id FROM mcp_api_tokens WHERE name = $1")
            .bind(name.to_owned())
            .fetch_all(&self.db.pool)
            .await?;
        match ids.as_slice() {
            [id] if self.revoke_api_token(id).await? => Ok(id.clone()),
            [_] | [] => Err(RegistryError::NoSuchTokenName(name.to_owned())),
            many => Err(RegistryError::AmbiguousTokenName {
                name: name.to_owned(),
                count: many.len(),
            }),
        }
    }

    /// Whether `token` is a live admin API token.
    pub async fn verify_api_token(&self, token: &str) -> Result<bool, RegistryError> {
        self.api_token_live(&token::hash(token)).await
    }

    /// Whether the API token with this hash exists and has not expired: what a console session
    /// signed in with it asks on every request, so revoking the token ends the session too.
    pub async fn api_token_live(&self, token_hash: &str) -> Result<bool, RegistryError> {
        let row = sqlx::query(
            "SELECT id, name, expires_at, created_at FROM mcp_api_tokens WHERE token_hash = $1",
        )
        .bind(token_hash)
        .fetch_optional(&self.db.pool)
        .await?;
        match row {
            None => Ok(false),
            Some(row) => {
                let record = api_token_from_row(&row)?;
                Ok(record.expires_at.is_none_or(|t| t > database::now_ms()))
            }
        }
    }
}

fn json_list(items: &[String]) -> String {
    serde_json::Value::from(items.to_vec()).to_string()
}

fn server_from_row(row: &sqlx::any::AnyRow) -> Result<ServerRecord, RegistryError> {
    let id: String = row.try_get("id")?;
    let corrupt = |reason: String| RegistryError::Corrupt {
        id: id.clone(),
        reason,
    };
    let methods: String = row.try_get("methods")?;
    let tags: String = row.try_get("tags")?;
    let exposure: String = row.try_get("exposure")?;
    let exposure = match exposure.as_str() {
        "all" => ToolExposure::All,
        "discovery" => ToolExposure::Discovery,
        other => return Err(corrupt(format!("unknown tool exposure {other:?}"))),
    };
    Ok(ServerRecord {
        name: row.try_get("name")?,
        connection: row.try_get("connection")?,
        methods: serde_json::from_str(&methods).map_err(|e| corrupt(e.to_string()))?,
        tags: serde_json::from_str(&tags).map_err(|e| corrupt(e.to_string()))?,
        exposure,
        require_api_token_auth: row.try_get::<i64, _>("require_api_token_auth")? != 0,
        expires_at: row.try_get("expires_at")?,
        created_at: row.try_get("created_at")?,
        connection_identity: row.try_get("connection_identity")?,
        id,
    })
}

fn api_token_from_row(row: &sqlx::any::AnyRow) -> Result<ApiTokenRecord, RegistryError> {
    Ok(ApiTokenRecord {
        id: row.try_get("id")?,
        name: row.try_get("name")?,
        expires_at: row.try_get("expires_at")?,
        created_at: row.try_get("created_at")?,
    })
}
