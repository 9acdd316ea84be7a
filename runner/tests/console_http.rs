//! The review console over HTTP, in process: sign-in with an admin API token, the session cookie,
//! CSRF on every POST, the host check, a ticket's history, and approvals decided from the page
//! landing in the sandbox.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::agent::{self, comments_containing, note_for};
use deskhand::cli::backend::BackendArgs;
use deskhand::console::{self, Console};
use deskhand::engine::{Decider, Engine, Quiet, RunRequest};
use deskhand::mcp::EmbeddedServer;
use deskhand::store::{ApprovalState, Store, Trigger};
use deskhand_e2e::scripted_llm::ScriptedLlm;
use reqwest::StatusCode;
use reqwest::header::{COOKIE, HOST, LOCATION, SET_COOKIE};
use tokio_util::sync::CancellationToken;
use zoho_desk_mcp::registry::Registry;

fn csrf_of(page: &str) -> String {
    let at = page.find("name=\"csrf\" value=\"").expect("a CSRF field") + 19;
    page[at..].split('"').next().unwrap().to_owned()
}

/// The console's connection settings as the command line would give them (defaults for the rest).
fn backend_args(workflows: &std::path::Path) -> BackendArgs {
    #[derive(clap::Parser)]
    struct Args {
        #[command(flatten)]
        backend: BackendArgs,
    }
    <Args as clap::Parser>::parse_from(["console", "--workflows", workflows.to_str().unwrap()])
        .backend
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_console_signs_in_shows_a_ticket_and_decides_approvals() {
    let llm = ScriptedLlm::builder()
        .responder(agent::triage)
        .start()
        .await;
    let backend = common::sandbox().await;
    let db = common::temp_path("console", "db");
    let store = Store::connect(&zoho_desk_mcp::registry::database::sqlite_url(
        db.to_str().unwrap(),
    ))
    .await
    .unwrap();
    let embedded = EmbeddedServer::new(backend.gateway.clone());
    let engine = Engine::new(store.clone(), "test").with_embedded(embedded.clone());
    let name = common::unique_name("console");
    let path = agent::write_workflow(&agent::workflow_yaml(
        &name,
        &llm.base_url(),
        2,
        "approve",
        "",
    ));
    let workflow = agent::load(&path);
    let decider = Decider::for_workflow(&workflow, |_| None).unwrap();
    let report = engine
        .run(&workflow, &decider, RunRequest::new(Trigger::Cli), &Quiet)
        .await
        .unwrap();
    assert!(report.is_success(), "{report:#?}");
    let before = backend.sandbox.admin().state_json();
    let queued = store
        .list_approvals(Some(ApprovalState::Pending), None, 10)
        .await
        .unwrap();
    assert_eq!(queued.len(), 4);

    let registry = Registry::open(store.database().clone()).await.unwrap();
    let (_, token) = registry
        .create_api_token("console-test", None)
        .await
        .unwrap();
    let args = backend_args(path.parent().unwrap());
    let console = Console::new(store.clone(), registry, args, Vec::new()).with_embedded(embedded);
    let stop = CancellationToken::new();
    let (addr, _task) = console::serve(console, ([127, 0, 0, 1], 0).into(), stop.clone())
        .await
        .unwrap();
    let base = format!("http://{addr}");
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();

    let anonymous = http.get(format!("{base}/approvals")).send().await.unwrap();
    assert_eq!(anonymous.status(), StatusCode::SEE_OTHER);
    assert_eq!(anonymous.headers()[LOCATION], "/login");

    let wrong = http
        .post(format!("{base}/login"))
        .form(&[("token", "dha_not-a-token")])
        .send()
        .await
        .unwrap();
    assert_eq!(wrong.status(), StatusCode::UNAUTHORIZED);
    assert!(wrong.headers().get(SET_COOKIE).is_none());

    let signed_in = http
        .post(format!("{base}/login"))
        .form(&[("token", token.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(signed_in.status(), StatusCode::SEE_OTHER);
    let cookie = signed_in.headers()[SET_COOKIE].to_str().unwrap().to_owned();
    assert!(
        cookie.contains("HttpOnly") && cookie.contains("SameSite=Strict"),
        "{cookie}"
    );
    let cookie = cookie.split(';').next().unwrap().to_owned();

    let rebinding = http
        .get(format!("{base}/approvals"))
        .header(COOKIE, &cookie)
        .header(HOST, "evil.example")
        .send()
        .await
        .unwrap();
    assert_eq!(rebinding.status(), StatusCode::MISDIRECTED_REQUEST);

    let page = http
        .get(format!("{base}/approvals"))
        .header(COOKIE, &cookie)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(!page.contains(&token), "no secret is rendered");
    let first = queued[0].item_key.clone();
    let number = backend.sandbox.admin().ticket(&first).unwrap()["ticketNumber"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(page.contains(&format!("#{number}")), "{page}");
    assert!(page.contains("High"), "current -> proposed: {page}");
    let csrf = csrf_of(&page);

    let comment = queued
        .iter()
        .find(|a| a.item_key == first && a.tool == "create_a_zoho_desk_ticket_comment")
        .unwrap();
    let forged = http
        .post(format!("{base}/approvals"))
        .header(COOKIE, &cookie)
        .form(&[("one", format!("approve:{}", comment.id))])
        .send()
        .await
        .unwrap();
    assert_eq!(forged.status(), StatusCode::FORBIDDEN);
    assert_eq!(
        store.get_approval(comment.id).await.unwrap().unwrap().state,
        ApprovalState::Pending,
        "a POST without the CSRF token changes nothing"
    );

    let approved = http
        .post(format!("{base}/approvals"))
        .header(COOKIE, &cookie)
        .form(&[
            ("csrf", csrf.clone()),
            ("one", format!("approve:{}", comment.id)),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(approved.status(), StatusCode::SEE_OTHER);
    assert_eq!(
        store.get_approval(comment.id).await.unwrap().unwrap().state,
        ApprovalState::Applied
    );
    let mut rest: Vec<(&str, String)> = vec![("csrf", csrf.clone()), ("action", "reject".into())];
    for a in queued.iter().filter(|a| a.id != comment.id) {
        rest.push(("id", a.id.to_string()));
    }
    let rejected = http
        .post(format!("{base}/approvals"))
        .header(COOKIE, &cookie)
        .form(&rest)
        .send()
        .await
        .unwrap();
    assert_eq!(rejected.status(), StatusCode::SEE_OTHER);
    for a in queued.iter().filter(|a| a.id != comment.id) {
        assert_eq!(
            store.get_approval(a.id).await.unwrap().unwrap().state,
            ApprovalState::Rejected
        );
    }
    let state = backend.sandbox.admin().state_json();
    assert_eq!(comments_containing(&state, &first, &note_for(&first)), 1);
    for ticket in before["tickets"].as_array().unwrap() {
        let id = ticket["id"].as_str().unwrap();
        let now = backend.sandbox.admin().ticket(id).unwrap();
        assert_eq!(
            now["priority"], ticket["priority"],
            "rejected updates were not sent"
        );
    }

    let history = http
        .get(format!("{base}/tickets/{number}"))
        .header(COOKIE, &cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(history.status(), StatusCode::OK);
    let history = history.text().await.unwrap();
    assert!(
        history.contains("update_a_zoho_desk_ticket_by_id"),
        "{history}"
    );
    assert!(history.contains("Attempt 1"), "{history}");
    stop.cancel();
}
