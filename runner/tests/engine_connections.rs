//! One engine serving workflows on different Zoho connections (what the scheduler does): each
//! workflow's calls go to its own connection's helpdesk, built once and kept, and a connection
//! that cannot be built fails that workflow's run with a sentence naming it.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::collections::HashMap;
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use deskhand::engine::{Decider, Engine, Quiet, RunRequest, ZohoConnections};
use deskhand::mcp::EmbeddedServer;
use deskhand::store::{RunStatus, Trigger};
use deskhand::workflow::{Workflow, WritePolicy};
use zoho_desk_sandbox::SandboxConfig;

fn triage(connection: Option<&str>) -> Workflow {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../workflows/triage-and-assign.yaml");
    let mut w = Workflow::load(&path, common::catalog().as_ref()).unwrap();
    w.connection = connection.map(str::to_owned);
    w.writes = WritePolicy::DryRun;
    w
}

#[tokio::test]
async fn each_workflow_reaches_the_helpdesk_of_its_own_connection() {
    let seeded = || SandboxConfig {
        seed_data: Some(common::seed_with_tickets(3)),
        ..SandboxConfig::default()
    };
    let eu = common::sandbox_with(seeded()).await;
    let us = common::sandbox_with(seeded()).await;
    let servers: HashMap<Option<String>, EmbeddedServer> = [
        (
            Some("eu".to_owned()),
            EmbeddedServer::new(eu.gateway.clone()),
        ),
        (None, EmbeddedServer::new(us.gateway.clone())),
    ]
    .into();
    let built = Arc::new(AtomicUsize::new(0));
    let asked = Arc::new(Mutex::new(Vec::new()));
    let (count, log) = (built.clone(), asked.clone());
    let connections = ZohoConnections::new(
        Arc::new(move |name: Option<&str>| {
            count.fetch_add(1, Ordering::SeqCst);
            log.lock().unwrap().push(name.map(str::to_owned));
            servers
                .get(&name.map(str::to_owned))
                .cloned()
                .ok_or_else(|| anyhow::anyhow!("connection `{}` is not defined", name.unwrap()))
        }),
        None,
    );
    let db = common::temp_path("connections", "db");
    let url = zoho_desk_mcp::registry::database::sqlite_url(db.to_str().unwrap());
    let store = deskhand::store::Store::connect(&url).await.unwrap();
    let engine = Engine::new(store, "test").with_connections(Arc::new(connections));

    let run = |w: Workflow| {
        let engine = &engine;
        async move {
            let decider = Decider::for_workflow(&w, |_| None).unwrap();
            engine
                .run(&w, &decider, RunRequest::new(Trigger::Cli), &Quiet)
                .await
                .unwrap()
        }
    };
    let calls = |b: &deskhand::embedded::SandboxBackend| b.sandbox.admin().stats().total;

    let (eu0, us0) = (calls(&eu), calls(&us));
    let report = run(triage(Some("eu"))).await;
    assert_eq!(report.run.status, RunStatus::Succeeded, "{:?}", report.run);
    assert!(
        calls(&eu) > eu0,
        "the eu workflow did not reach the eu helpdesk"
    );
    assert_eq!(
        calls(&us),
        us0,
        "the eu workflow reached the default helpdesk"
    );

    let eu1 = calls(&eu);
    // `default` named explicitly is the default connection.
    for connection in [None, Some("default")] {
        let report = run(triage(connection)).await;
        assert_eq!(report.run.status, RunStatus::Succeeded, "{:?}", report.run);
    }
    assert!(calls(&us) > us0);
    assert_eq!(
        calls(&eu),
        eu1,
        "a default workflow reached the eu helpdesk"
    );

    // Built once per connection, whatever the number of runs.
    run(triage(Some("eu"))).await;
    assert_eq!(
        built.load(Ordering::SeqCst),
        2,
        "{:?}",
        asked.lock().unwrap()
    );

    let report = run(triage(Some("nope"))).await;
    assert_eq!(report.run.status, RunStatus::Failed, "{:?}", report.run);
    let error = report.run.error.clone().unwrap_or_default();
    assert!(error.contains("connection `nope`"), "{error}");
}

#[tokio::test]
async fn the_commands_connection_replaces_every_workflows_own() {
    let eu = common::sandbox_with(SandboxConfig {
        seed_data: Some(common::seed_with_tickets(2)),
        ..SandboxConfig::default()
    })
    .await;
    let gateway = eu.gateway.clone();
    let connections = ZohoConnections::new(
        Arc::new(move |name: Option<&str>| {
            assert_eq!(
                name,
                Some("eu"),
                "asked for another connection than --connection"
            );
            Ok(EmbeddedServer::new(gateway.clone()))
        }),
        Some("eu".to_owned()),
    );
    assert_eq!(
        connections.effective(&triage(Some("us"))).as_deref(),
        Some("eu")
    );
    assert_eq!(connections.effective(&triage(None)).as_deref(), Some("eu"));
    let db = common::temp_path("forced", "db");
    let url = zoho_desk_mcp::registry::database::sqlite_url(db.to_str().unwrap());
    let store = deskhand::store::Store::connect(&url).await.unwrap();
    let engine = Engine::new(store, "test").with_connections(Arc::new(connections));
    let w = triage(Some("us"));
    let decider = Decider::for_workflow(&w, |_| None).unwrap();
    let report = engine
        .run(&w, &decider, RunRequest::new(Trigger::Cli), &Quiet)
        .await
        .unwrap();
    assert_eq!(report.run.status, RunStatus::Succeeded, "{:?}", report.run);
}
