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

/// Signs in with `token`; returns the session cookie.
async fn sign_in(http: &reqwest::Client, base: &str, token: &str) -> String {
    let signed_in = http
        .post(format!("{base}/login"))
        .form(&[("token", token)])
        .send()
        .await
        .unwrap();
    assert_eq!(signed_in.status(), StatusCode::SEE_OTHER);
    let cookie = signed_in.headers()[SET_COOKIE].to_str().unwrap().to_owned();
    cookie.split(';').next().unwrap().to_owned()
}

/// The text of the page's one-time secret.
fn secret_of(page: &str) -> String {
    let at = page
        .find("class=\"secret\">")
        .expect("a secret on the page")
        + 15;
    page[at..].split('<').next().unwrap().trim().to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn schedules_mcp_servers_tokens_and_edit_then_approve() {
    let llm = ScriptedLlm::builder()
        .responder(agent::triage)
        .start()
        .await;
    let backend = common::sandbox().await;
    let db = common::temp_path("console-admin", "db");
    let store = Store::connect(&zoho_desk_mcp::registry::database::sqlite_url(
        db.to_str().unwrap(),
    ))
    .await
    .unwrap();
    let embedded = EmbeddedServer::new(backend.gateway.clone());
    let engine = Engine::new(store.clone(), "test").with_embedded(embedded.clone());
    let name = common::unique_name("scheduled");
    let path = agent::write_workflow(&agent::workflow_yaml(
        &name,
        &llm.base_url(),
        1,
        "approve",
        "schedule: \"0 9 * * 1\"\ntimezone: Europe/Berlin\noverlap: queue\ncatch_up: latest\n",
    ));
    let dir = path.parent().unwrap();
    std::fs::write(dir.join("broken.yaml"), "version: 1\nname: [unclosed\n").unwrap();
    let workflow = agent::load(&path);
    let decider = Decider::for_workflow(&workflow, |_| None).unwrap();
    let report = engine
        .run(&workflow, &decider, RunRequest::new(Trigger::Cli), &Quiet)
        .await
        .unwrap();
    assert!(report.is_success(), "{report:#?}");
    let queued = store
        .list_approvals(Some(ApprovalState::Pending), None, 10)
        .await
        .unwrap();
    assert_eq!(queued.len(), 2);
    let run_id = queued[0].run_id.unwrap();

    let registry = Registry::open(store.database().clone()).await.unwrap();
    let (_, token) = registry.create_api_token("console", None).await.unwrap();
    let console = Console::new(
        store.clone(),
        registry.clone(),
        backend_args(dir),
        Vec::new(),
    )
    .with_embedded(embedded)
    .with_mcp_public_url("https://mcp.example");
    let stop = CancellationToken::new();
    let (addr, _task) = console::serve(console, ([127, 0, 0, 1], 0).into(), stop.clone())
        .await
        .unwrap();
    let base = format!("http://{addr}");
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let cookie = sign_in(&http, &base, &token).await;
    let get = |path: &str| {
        http.get(format!("{base}{path}"))
            .header(COOKIE, &cookie)
            .send()
    };

    // Schedules: the scheduler's next tick, the last run, the policies; a broken file listed.
    let schedules = get("/schedules").await.unwrap();
    assert_eq!(schedules.status(), StatusCode::OK);
    let schedules = schedules.text().await.unwrap();
    let next = deskhand::scheduler::TickPlanner::for_workflow(&workflow, None, chrono::Utc::now())
        .unwrap()
        .upcoming()
        .unwrap();
    for expected in [
        name.as_str(),
        "0 9 * * 1",
        "Europe/Berlin",
        &next.format("%Y-%m-%d %H:%M:%S UTC").to_string(),
        &format!("href=\"/runs/{run_id}\""),
        "<td>queue</td>",
        "<td>latest</td>",
        "<td>approve</td>",
        "broken.yaml",
        "Does not load",
        "href=\"/schedules\"",
    ] {
        assert!(schedules.contains(expected), "{expected}: {schedules}");
    }

    // MCP servers: created with the CLI's checks, the URL shown once, revoked.
    let page = get("/mcp-servers").await.unwrap().text().await.unwrap();
    let csrf = csrf_of(&page);
    let forged = http
        .post(format!("{base}/mcp-servers"))
        .header(COOKIE, &cookie)
        .form(&[("name", "forged")])
        .send()
        .await
        .unwrap();
    assert_eq!(forged.status(), StatusCode::FORBIDDEN);
    assert!(registry.list_servers().await.unwrap().is_empty());
    let refused = http
        .post(format!("{base}/mcp-servers"))
        .header(COOKIE, &cookie)
        .form(&[
            ("csrf", csrf.as_str()),
            ("name", "bad"),
            ("methods", "frobnicate"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), StatusCode::BAD_REQUEST);
    assert!(refused.text().await.unwrap().contains("frobnicate"));
    assert!(registry.list_servers().await.unwrap().is_empty());
    let created = http
        .post(format!("{base}/mcp-servers"))
        .header(COOKIE, &cookie)
        .form(&[
            ("csrf", csrf.as_str()),
            ("name", "helpdesk-read"),
            ("methods", "read"),
            ("tags", "tickets"),
            ("require_api_token_auth", "on"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(created.status(), StatusCode::OK);
    assert_eq!(created.headers()["cache-control"], "no-store");
    let url = secret_of(&created.text().await.unwrap());
    let server_token = url
        .strip_prefix("https://mcp.example/mcp/")
        .unwrap_or_else(|| panic!("{url}"))
        .to_owned();
    let found = match registry.lookup_server_token(&server_token).await.unwrap() {
        zoho_desk_mcp::registry::TokenLookup::Active(record) => record,
        other => panic!("{other:?}"),
    };
    assert_eq!(found.name, "helpdesk-read");
    assert_eq!(found.methods, vec!["read".to_owned()]);
    assert_eq!(found.tags, vec!["tickets".to_owned()]);
    assert!(found.require_api_token_auth);
    let listed = get("/mcp-servers").await.unwrap().text().await.unwrap();
    assert!(listed.contains("helpdesk-read"), "{listed}");
    assert!(
        !listed.contains(&server_token),
        "the URL is never shown again"
    );
    let forged = http
        .post(format!("{base}/mcp-servers/revoke"))
        .header(COOKIE, &cookie)
        .form(&[("id", found.id.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(forged.status(), StatusCode::FORBIDDEN);
    assert_eq!(registry.list_servers().await.unwrap().len(), 1);
    let revoked = http
        .post(format!("{base}/mcp-servers/revoke"))
        .header(COOKIE, &cookie)
        .form(&[("csrf", csrf.as_str()), ("id", found.id.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(revoked.status(), StatusCode::SEE_OTHER);
    assert!(registry.list_servers().await.unwrap().is_empty());
    assert_eq!(
        registry.lookup_server_token(&server_token).await.unwrap(),
        zoho_desk_mcp::registry::TokenLookup::Unknown
    );

    // API tokens: the same, and a revoked token no longer signs in.
    let forged = http
        .post(format!("{base}/api-tokens"))
        .header(COOKIE, &cookie)
        .form(&[("name", "forged")])
        .send()
        .await
        .unwrap();
    assert_eq!(forged.status(), StatusCode::FORBIDDEN);
    assert_eq!(registry.list_api_tokens().await.unwrap().len(), 1);
    let created = http
        .post(format!("{base}/api-tokens"))
        .header(COOKIE, &cookie)
        .form(&[("csrf", csrf.as_str()), ("name", "ci")])
        .send()
        .await
        .unwrap();
    assert_eq!(created.status(), StatusCode::OK);
    assert_eq!(created.headers()["cache-control"], "no-store");
    let new_token = secret_of(&created.text().await.unwrap());
    assert!(registry.verify_api_token(&new_token).await.unwrap());
    let listed = get("/api-tokens").await.unwrap().text().await.unwrap();
    assert!(listed.contains(">ci<"), "{listed}");
    // A second reviewer signs in with the new token; revoking it signs that session out.
    let ci_cookie = sign_in(&http, &base, &new_token).await;
    let approvals_with = |cookie: &str| {
        http.get(format!("{base}/approvals"))
            .header(COOKIE, cookie)
            .send()
    };
    assert_eq!(
        approvals_with(&ci_cookie).await.unwrap().status(),
        StatusCode::OK
    );
    assert!(!listed.contains(&new_token) && !listed.contains(&token));
    let ci = registry
        .list_api_tokens()
        .await
        .unwrap()
        .into_iter()
        .find(|t| t.name == "ci")
        .unwrap();
    let revoked = http
        .post(format!("{base}/api-tokens/revoke"))
        .header(COOKIE, &cookie)
        .form(&[("csrf", csrf.as_str()), ("id", ci.id.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(revoked.status(), StatusCode::SEE_OTHER);
    assert!(!registry.verify_api_token(&new_token).await.unwrap());
    let after = approvals_with(&ci_cookie).await.unwrap();
    assert_eq!(
        after.status(),
        StatusCode::SEE_OTHER,
        "the revoked token's session ended"
    );
    assert_eq!(after.headers()[LOCATION], "/login");
    let post = http
        .post(format!("{base}/logout"))
        .header(COOKIE, &ci_cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(
        post.status(),
        StatusCode::FORBIDDEN,
        "no POST on an ended session"
    );
    assert_eq!(
        approvals_with(&cookie).await.unwrap().status(),
        StatusCode::OK,
        "the session of the token still live goes on"
    );

    // Edit-then-approve: the edited note is what lands, the proposal stays on record.
    let comment = queued
        .iter()
        .find(|a| a.tool == "create_a_zoho_desk_ticket_comment")
        .unwrap();
    let update = queued.iter().find(|a| a.id != comment.id).unwrap();
    let ticket = comment.item_key.clone();
    let page = get("/approvals").await.unwrap().text().await.unwrap();
    let field = format!("edit-{}-content", comment.id);
    assert!(page.contains(&format!("name=\"{field}\"")), "{page}");
    assert!(
        !page.contains(&format!("edit-{}-id\"", update.id)),
        "the ticket id is not editable"
    );
    let edited_text = "Checked by a person: billing question, normal priority.";
    let forged = http
        .post(format!("{base}/approvals"))
        .header(COOKIE, &cookie)
        .form(&[
            ("one", format!("edit:{}", comment.id)),
            (field.as_str(), edited_text.to_owned()),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(forged.status(), StatusCode::FORBIDDEN);
    let approved = http
        .post(format!("{base}/approvals"))
        .header(COOKIE, &cookie)
        .form(&[
            ("csrf", csrf.clone()),
            ("one", format!("edit:{}", comment.id)),
            (field.as_str(), edited_text.replace('\n', "\r\n")),
            (&format!("edit-{}-priority", update.id), "Low".to_owned()),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(approved.status(), StatusCode::SEE_OTHER);
    let done = store.get_approval(comment.id).await.unwrap().unwrap();
    assert_eq!(done.state, ApprovalState::Applied, "{done:?}");
    assert_eq!(done.arguments["content"], edited_text);
    assert_eq!(
        done.proposed_arguments.as_ref().unwrap()["content"],
        note_for(&ticket)
    );
    assert_eq!(done.decided_by.as_deref(), Some("console"));
    let state = backend.sandbox.admin().state_json();
    assert_eq!(comments_containing(&state, &ticket, edited_text), 1);
    assert_eq!(comments_containing(&state, &ticket, &note_for(&ticket)), 0);
    assert_eq!(
        store.get_approval(update.id).await.unwrap().unwrap().state,
        ApprovalState::Pending,
        "only the write whose button was pressed is decided"
    );
    let history = get(&format!("/tickets/{ticket}"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(history.contains("Edited by console"), "{history}");
    stop.cancel();
}
