//! The store's schema: one migration folder per backend, embedded in the binary.

use std::borrow::Cow;

use sqlx::SqlSafeStr;
use sqlx::migrate::{Migration, MigrationType, Migrator};
use zoho_desk_mcp::registry::database::{Backend, Database};

use super::StoreError;

/// The store keeps its own migration table: the same database holds the MCP registry, which
/// manages its tables separately, and any other sqlx user's `_sqlx_migrations`.
const MIGRATIONS_TABLE: &str = "deskhand_store_migrations";

/// (version, description, SQLite script, PostgreSQL script). Append only: an applied migration's
/// text is checksummed, and editing it makes every existing database refuse to start.
const MIGRATIONS: &[(i64, &str, &str, &str)] = &[
    (
        1,
        "store",
        include_str!("../../migrations/sqlite/0001_store.sql"),
        include_str!("../../migrations/postgres/0001_store.sql"),
    ),
    (
        2,
        "item payload",
        include_str!("../../migrations/sqlite/0002_item_payload.sql"),
        include_str!("../../migrations/postgres/0002_item_payload.sql"),
    ),
    (
        3,
        "item deferral",
        include_str!("../../migrations/sqlite/0003_item_deferral.sql"),
        include_str!("../../migrations/postgres/0003_item_deferral.sql"),
    ),
    (
        4,
        "run lease",
        include_str!("../../migrations/sqlite/0004_run_lease.sql"),
        include_str!("../../migrations/postgres/0004_run_lease.sql"),
    ),
    (
        5,
        "cached tokens",
        include_str!("../../migrations/sqlite/0005_cached_tokens.sql"),
        include_str!("../../migrations/postgres/0005_cached_tokens.sql"),
    ),
    (
        6,
        "rate budget",
        include_str!("../../migrations/sqlite/0006_rate_budget.sql"),
        include_str!("../../migrations/postgres/0006_rate_budget.sql"),
    ),
    (
        7,
        "zoho tokens",
        include_str!("../../migrations/sqlite/0007_zoho_tokens.sql"),
        include_str!("../../migrations/postgres/0007_zoho_tokens.sql"),
    ),
    (
        8,
        "approval binding",
        include_str!("../../migrations/sqlite/0008_approval_binding.sql"),
        include_str!("../../migrations/postgres/0008_approval_binding.sql"),
    ),
    (
        9,
        "approval edits",
        include_str!("../../migrations/sqlite/0009_approval_edits.sql"),
        include_str!("../../migrations/postgres/0009_approval_edits.sql"),
    ),
    (
        10,
        "call slots",
        include_str!("../../migrations/sqlite/0010_call_slots.sql"),
        include_str!("../../migrations/postgres/0010_call_slots.sql"),
    ),
];

fn migrator(backend: Backend) -> Migrator {
    let migrations = MIGRATIONS
        .iter()
        .map(|&(version, description, sqlite, postgres)| {
            let sql = match backend {
                Backend::Sqlite => sqlite,
                Backend::Postgres => postgres,
            };
            Migration::new(
                version,
                Cow::Borrowed(description),
                MigrationType::Simple,
                sql.into_sql_str(),
                false,
            )
        })
        .collect();
    let mut migrator = Migrator::with_migrations(migrations);
    migrator.dangerous_set_table_name(MIGRATIONS_TABLE);
    migrator
}

pub(super) async fn run(db: &Database) -> Result<(), StoreError> {
    let migrator = migrator(db.backend);
    match db.backend {
        Backend::Sqlite => {
            // sqlx takes no lock on SQLite; an immediate transaction around the whole run (the
            // migrator nests its own as savepoints) keeps two processes that open a new file at
            // once from both creating the tables.
            let mut tx = db.pool.begin_with("BEGIN IMMEDIATE").await?;
            // `run_direct`, not `run`: `run`'s generic `Acquire` bound makes every caller's future
            // fail rustc's "not general enough" `Send` check once axum serves it (the console).
            migrator.run_direct(None, &mut *tx, false).await?;
            tx.commit().await?;
            Ok(())
        }
        Backend::Postgres => {
            let mut conn = db.pool.acquire().await?;
            match migrator.run_direct(None, &mut *conn, false).await {
                Ok(()) => Ok(()),
                Err(error) => {
                    // The migrator's advisory lock belongs to the session and is not released
                    // on error; closing the connection releases it instead of pooling it.
                    let _ = conn.close().await;
                    Err(error.into())
                }
            }
        }
    }
}
