//! The hosted-server registry on both backends: SQLite always, PostgreSQL when
//! `DESKHAND_TEST_POSTGRES_URL` is set (CI sets it; under CI its absence fails the tests).
#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "../../tests/src/postgres.rs"]
mod postgres;

use zoho_desk_mcp::registry::{
    Backend, NewServer, Registry, RegistryError, TokenLookup, ToolExposure, database, token,
};

async fn backends() -> Vec<Registry> {
    let mut out = Vec::new();
    // Tests run in parallel: a counter keeps their files apart within one millisecond.
    static NEXT: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
    let path = std::env::temp_dir().join(format!(
        "deskhand-registry-{}-{}-{}.db",
        std::process::id(),
        database::now_ms(),
        NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
    ));
    let sqlite = database::connect(path.to_str().unwrap()).await.unwrap();
    assert_eq!(sqlite.backend, Backend::Sqlite);
    out.push(Registry::open(sqlite).await.unwrap());
    if let Some(url) = postgres::test_url() {
        let pg = database::connect(&url).await.unwrap();
        assert_eq!(pg.backend, Backend::Postgres);
        out.push(Registry::open(pg).await.unwrap());
    }
    out
}

fn new_server(name: &str) -> NewServer {
    NewServer {
        name: name.into(),
        connection: "default".into(),
        connection_identity: "zoho:test".into(),
        methods: vec!["read".into()],
        tags: vec!["tickets".into()],
        exposure: ToolExposure::Discovery,
        require_api_token_auth: true,
        expires_at: None,
    }
}

#[tokio::test]
async fn servers_round_trip_and_only_token_hashes_are_stored() {
    for registry in backends().await {
        let name = format!("reg-{}", database::now_ms());
        let created = registry.create_server(new_server(&name)).await.unwrap();
        assert!(created.token.starts_with(token::MCP_TOKEN_PREFIX));

        match registry.lookup_server_token(&created.token).await.unwrap() {
            TokenLookup::Active(record) => assert_eq!(record, created.record),
            other => panic!("expected an active server, got {other:?}"),
        }
        assert_eq!(
            registry
                .lookup_server_token("dhm_not-a-token")
                .await
                .unwrap(),
            TokenLookup::Unknown
        );

        let stored: Vec<String> =
            sqlx::query_scalar("SELECT token_hash FROM mcp_servers WHERE id = $1")
                .bind(created.record.id.clone())
                .fetch_all(&registry.database().pool)
                .await
                .unwrap();
        assert_eq!(stored, vec![token::hash(&created.token)]);
        assert!(
            !stored[0].contains(&created.token[4..]),
            "plain token never stored"
        );

        assert!(
            registry
                .list_servers()
                .await
                .unwrap()
                .contains(&created.record)
        );
        assert!(
            !registry.revoke_server(&name).await.unwrap(),
            "a name is not an id"
        );
        assert!(registry.revoke_server(&created.record.id).await.unwrap());
        assert_eq!(
            registry.lookup_server_token(&created.token).await.unwrap(),
            TokenLookup::Unknown
        );
        assert!(!registry.revoke_server(&created.record.id).await.unwrap());
    }
}

#[tokio::test]
async fn names_are_unique_per_connection_and_revoked_by_name_only_when_unique() {
    for registry in backends().await {
        let name = format!("dup-{}", database::now_ms());
        let first = registry.create_server(new_server(&name)).await.unwrap();
        let err = registry.create_server(new_server(&name)).await.unwrap_err();
        assert!(matches!(err, RegistryError::DuplicateName { .. }), "{err}");
        assert!(err.to_string().contains(&name), "{err}");

        // The same name on another connection is allowed, and makes revoking by name ambiguous.
        let mut other = new_server(&name);
        other.connection = "eu".into();
        let second = registry.create_server(other).await.unwrap();
        let err = registry.revoke_server_named(&name).await.unwrap_err();
        assert!(
            matches!(err, RegistryError::AmbiguousName { count: 2, .. }),
            "{err}"
        );
        assert!(registry.lookup_server_token(&first.token).await.unwrap() != TokenLookup::Unknown);

        // An id look-alike name never revokes the server whose id it copies.
        let lookalike = registry
            .create_server(new_server(&first.record.id))
            .await
            .unwrap();
        assert!(registry.revoke_server(&second.record.id).await.unwrap());
        assert_eq!(
            registry.revoke_server_named(&name).await.unwrap(),
            first.record.id
        );
        assert!(matches!(
            registry
                .lookup_server_token(&lookalike.token)
                .await
                .unwrap(),
            TokenLookup::Active(_)
        ));
        assert!(matches!(
            registry.revoke_server_named(&name).await.unwrap_err(),
            RegistryError::NoSuchName(_)
        ));
        assert!(registry.revoke_server(&lookalike.record.id).await.unwrap());
    }
}

#[tokio::test]
async fn a_registry_from_before_the_org_binding_gains_the_column_and_its_rows_stay_unbound() {
    let path = std::env::temp_dir().join(format!(
        "deskhand-registry-legacy-{}-{}.db",
        std::process::id(),
        database::now_ms()
    ));
    let db = database::connect(path.to_str().unwrap()).await.unwrap();
    sqlx::query(
        "CREATE TABLE mcp_servers (id TEXT PRIMARY KEY, name TEXT NOT NULL, connection TEXT NOT NULL,
         token_hash TEXT NOT NULL UNIQUE, methods TEXT NOT NULL, tags TEXT NOT NULL, exposure TEXT NOT NULL,
         require_api_token_auth BIGINT NOT NULL, expires_at BIGINT, created_at BIGINT NOT NULL)",
    )
    .execute(&db.pool)
    .await
    .unwrap();
    sqlx::query(
        "INSERT INTO mcp_servers VALUES ('srv_old', 'old', 'default', $1, '[]', '[]', 'all', 0, NULL, 1)",
    )
    .bind(token::hash("dhm_old"))
    .execute(&db.pool)
    .await
    .unwrap();
    let registry = Registry::open(db.clone()).await.unwrap();
    match registry.lookup_server_token("dhm_old").await.unwrap() {
        TokenLookup::Active(record) => assert_eq!(record.connection_identity, None),
        other => panic!("expected the old row, got {other:?}"),
    }
    // Opening again finds the column and leaves it alone.
    Registry::open(db).await.unwrap();
    database::remove_sqlite_files(&path);
}

#[tokio::test]
async fn expired_servers_are_reported_once_then_gone() {
    for registry in backends().await {
        let mut request = new_server(&format!("exp-{}", database::now_ms()));
        request.expires_at = Some(database::now_ms() - 1);
        let created = registry.create_server(request).await.unwrap();
        assert!(matches!(
            registry.lookup_server_token(&created.token).await.unwrap(),
            TokenLookup::Expired(_)
        ));
        assert_eq!(
            registry.lookup_server_token(&created.token).await.unwrap(),
            TokenLookup::Unknown
        );
    }
}

#[tokio::test]
async fn api_tokens_verify_until_revoked_or_expired() {
    for registry in backends().await {
        let name = format!("tok-{}", database::now_ms());
        let (record, secret) = registry.create_api_token(&name, None).await.unwrap();
        assert!(secret.starts_with(token::API_TOKEN_PREFIX));
        assert!(registry.verify_api_token(&secret).await.unwrap());
        assert!(!registry.verify_api_token("dha_wrong").await.unwrap());
        assert!(registry.list_api_tokens().await.unwrap().contains(&record));
        assert!(registry.revoke_api_token(&record.id).await.unwrap());
        assert!(!registry.verify_api_token(&secret).await.unwrap());

        let (_, old) = registry
            .create_api_token(&format!("{name}-old"), Some(database::now_ms() - 1))
            .await
            .unwrap();
        assert!(!registry.verify_api_token(&old).await.unwrap());
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pools_opening_one_new_sqlite_file_at_once_all_succeed() {
    let path = std::env::temp_dir().join(format!(
        "deskhand-registry-race-{}-{}.db",
        std::process::id(),
        database::now_ms()
    ));
    let path = path.to_str().unwrap().to_owned();
    // Several processes (replicas, a CLI next to a scheduler) may create the store together;
    // switching the new file to WAL must not fail any of them with "database is locked".
    for round in 0..10 {
        let path = format!("{path}.{round}");
        let opens: Vec<_> = (0..8)
            .map(|_| {
                let path = path.clone();
                tokio::spawn(async move {
                    let db = database::connect(&path).await.map_err(|e| e.to_string())?;
                    Registry::open(db)
                        .await
                        .map(|_| ())
                        .map_err(|e| e.to_string())
                })
            })
            .collect();
        for open in opens {
            let result = open.await.unwrap();
            assert!(result.is_ok(), "round {round}: {result:?}");
        }
    }
}
