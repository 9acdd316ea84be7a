//! The review console in a real headless Chromium, driven over WebDriver (chromedriver on
//! loopback, plain HTTP): sign in, open a ticket's history, approve one write, bulk-reject the
//! rest, and check the sandbox; a form posted without its CSRF token is refused; a wrong token
//! does not sign in. With `DESKHAND_SCREENSHOT=path.png` it also saves the approvals page.
//!
//! Needs `chromedriver` and `chromium` (Debian's `chromium-driver` and `chromium`; `.ci/run`
//! installs them). Without them the test says it was skipped, except under CI, where it fails.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::io::Write;
use std::time::Duration;

use base64::Engine as _;
use common::agent::{self, comments_containing, note_for};
use deskhand::cli::backend::BackendArgs;
use deskhand::console::{self, Console};
use deskhand::engine::{Decider, Engine, Quiet, RunRequest};
use deskhand::mcp::EmbeddedServer;
use deskhand::store::{ApprovalState, Store, Trigger};
use deskhand_e2e::scripted_llm::ScriptedLlm;
use serde_json::{Value, json};
use tokio_util::sync::CancellationToken;
use zoho_desk_mcp::registry::Registry;

/// The W3C WebDriver element reference key.
const ELEMENT: &str = "element-6066-11e4-a52f-4a4b3c9d6a81";

/// A chromedriver child and one headless Chromium session on it.
struct Browser {
    http: reqwest::Client,
    base: String,
    session: String,
    child: tokio::process::Child,
}

impl Browser {
    async fn start(driver: &str) -> Browser {
        let port = {
            let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            l.local_addr().unwrap().port()
        };
        let child = tokio::process::Command::new(driver)
            .arg(format!("--port={port}"))
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .expect("chromedriver starts");
        let http = reqwest::Client::new();
        let base = format!("http://127.0.0.1:{port}");
        for _ in 0..100 {
            if let Ok(r) = http.get(format!("{base}/status")).send().await
                && r.status().is_success()
            {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let mut options = json!({
            "args": ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                     "--window-size=1100,1300"]
        });
        if let Some(binary) = ["/usr/bin/chromium", "/usr/bin/chromium-browser"]
            .iter()
            .find(|p| std::path::Path::new(p).exists())
        {
            options["binary"] = json!(binary);
        }
        let created: Value = http
            .post(format!("{base}/session"))
            .json(&json!({ "capabilities": { "alwaysMatch": {
                "browserName": "chrome", "goog:chromeOptions": options } } }))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let session = created["value"]["sessionId"]
            .as_str()
            .unwrap_or_else(|| panic!("no session: {created}"))
            .to_owned();
        Browser {
            http,
            base,
            session,
            child,
        }
    }

    async fn call(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> Value {
        let url = format!("{}/session/{}{path}", self.base, self.session);
        let mut request = self.http.request(method, url);
        if let Some(body) = body {
            request = request.json(&body);
        }
        let answer: Value = request.send().await.unwrap().json().await.unwrap();
        if answer["value"]["error"].is_string() {
            panic!("webdriver {path}: {answer}");
        }
        answer["value"].clone()
    }

    async fn goto(&self, url: &str) {
        self.call(reqwest::Method::POST, "/url", Some(json!({ "url": url })))
            .await;
    }

    async fn find(&self, css: &str) -> String {
        let found = self
            .call(
                reqwest::Method::POST,
                "/element",
                Some(json!({ "using": "css selector", "value": css })),
            )
            .await;
        // The reference is the one value of a one-key object (W3C's key, or an older driver's).
        found
            .get(ELEMENT)
            .or_else(|| found.as_object().and_then(|o| o.values().next()))
            .and_then(Value::as_str)
            .unwrap_or_else(|| panic!("no element for {css}: {found}"))
            .to_owned()
    }

    async fn click(&self, css: &str) {
        let id = self.find(css).await;
        self.call(
            reqwest::Method::POST,
            &format!("/element/{id}/click"),
            Some(json!({})),
        )
        .await;
    }

    async fn type_into(&self, css: &str, text: &str) {
        let id = self.find(css).await;
        self.call(
            reqwest::Method::POST,
            &format!("/element/{id}/value"),
            Some(json!({ "text": text })),
        )
        .await;
    }

    async fn source(&self) -> String {
        self.call(reqwest::Method::GET, "/source", None)
            .await
            .as_str()
            .unwrap()
            .to_owned()
    }

    /// The page source once it contains `text` (a submitted form's answer may still be loading).
    async fn wait_for(&self, text: &str) -> String {
        let mut source = String::new();
        for _ in 0..50 {
            source = self.source().await;
            if source.contains(text) {
                return source;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("the page never showed {text:?}: {source}");
    }

    async fn current_url(&self) -> String {
        self.call(reqwest::Method::GET, "/url", None)
            .await
            .as_str()
            .unwrap()
            .to_owned()
    }

    async fn script(&self, script: &str) {
        self.call(
            reqwest::Method::POST,
            "/execute/sync",
            Some(json!({ "script": script, "args": [] })),
        )
        .await;
    }

    async fn screenshot(&self) -> Vec<u8> {
        let png = self.call(reqwest::Method::GET, "/screenshot", None).await;
        base64::engine::general_purpose::STANDARD
            .decode(png.as_str().unwrap())
            .unwrap()
    }

    async fn quit(mut self) {
        let _ = self
            .http
            .delete(format!("{}/session/{}", self.base, self.session))
            .send()
            .await;
        let _ = self.child.kill().await;
    }
}

/// chromedriver's path, or `None` (with the skip said) outside CI.
fn chromedriver() -> Option<String> {
    let found = std::env::var("DESKHAND_TEST_CHROMEDRIVER")
        .ok()
        .filter(|p| !p.is_empty())
        .or_else(|| {
            ["/usr/bin/chromedriver", "/usr/lib/chromium/chromedriver"]
                .iter()
                .find(|p| std::path::Path::new(p).exists())
                .map(|p| (*p).to_owned())
        });
    if found.is_none() {
        let ci = std::env::var("CI").is_ok_and(|v| matches!(v.trim(), "true" | "1"));
        assert!(
            !ci,
            "chromedriver is missing; CI must run the browser tests (see .ci/run)"
        );
        let _ = writeln!(
            std::io::stderr(),
            "SKIPPED (browser): chromedriver not found (apt-get install chromium chromium-driver)"
        );
    }
    found
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
async fn a_reviewer_signs_in_reads_a_ticket_and_decides_in_the_browser() {
    let Some(driver) = chromedriver() else {
        return;
    };
    let llm = ScriptedLlm::builder()
        .responder(agent::triage)
        .start()
        .await;
    let backend = common::sandbox().await;
    let db = common::temp_path("console-browser", "db");
    let store = Store::connect(&zoho_desk_mcp::registry::database::sqlite_url(
        db.to_str().unwrap(),
    ))
    .await
    .unwrap();
    let embedded = EmbeddedServer::new(backend.gateway.clone());
    let engine = Engine::new(store.clone(), "test").with_embedded(embedded.clone());
    let name = common::unique_name("browser");
    let path = agent::write_workflow(&agent::workflow_yaml(
        &name,
        &llm.base_url(),
        2,
        "approve",
        "schedule: \"*/30 * * * *\"\n",
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
    let first = queued[0].item_key.clone();
    let number = backend.sandbox.admin().ticket(&first).unwrap()["ticketNumber"]
        .as_str()
        .unwrap()
        .to_owned();
    let comment = queued
        .iter()
        .find(|a| a.item_key == first && a.tool == "create_a_zoho_desk_ticket_comment")
        .unwrap()
        .clone();

    let registry = Registry::open(store.database().clone()).await.unwrap();
    let (_, token) = registry.create_api_token("browser", None).await.unwrap();
    let args = backend_args(path.parent().unwrap());
    let console = Console::new(store.clone(), registry, args, Vec::new()).with_embedded(embedded);
    let stop = CancellationToken::new();
    let (addr, _task) = console::serve(console, ([127, 0, 0, 1], 0).into(), stop.clone())
        .await
        .unwrap();
    let base = format!("http://{addr}");
    let browser = Browser::start(&driver).await;

    // A wrong token does not sign in.
    browser.goto(&format!("{base}/approvals")).await;
    assert!(browser.current_url().await.ends_with("/login"));
    browser.type_into("#token", "dha_wrong").await;
    browser.click("button[type=submit]").await;
    browser.wait_for("not a live admin API token").await;
    browser.goto(&format!("{base}/approvals")).await;
    assert!(browser.current_url().await.ends_with("/login"));

    browser.type_into("#token", &token).await;
    browser.click("main button[type=submit]").await;
    let page = browser.wait_for("Checked approvals").await;
    assert!(browser.current_url().await.ends_with("/approvals"));
    assert!(page.contains(&format!("#{number}")), "{page}");
    assert!(!page.contains(&token), "no secret is rendered");
    if let Ok(shot) = std::env::var("DESKHAND_SCREENSHOT") {
        std::fs::write(shot, browser.screenshot().await).unwrap();
    }

    // The schedules page, from the navigation.
    browser.click("nav a[href='/schedules']").await;
    let schedules = browser.wait_for("Next tick").await;
    assert!(schedules.contains(&name), "{schedules}");
    assert!(schedules.contains("*/30 * * * *"), "{schedules}");
    browser.goto(&format!("{base}/approvals")).await;

    // A ticket's history.
    browser.click(&format!("a[href='/tickets/{number}']")).await;
    let history = browser.wait_for("Attempt 1").await;
    assert!(
        history.contains("update_a_zoho_desk_ticket_by_id"),
        "{history}"
    );

    // The form without its CSRF token is refused and changes nothing.
    browser.goto(&format!("{base}/approvals")).await;
    browser
        .script("document.querySelectorAll('input[name=csrf]').forEach(e => e.remove())")
        .await;
    browser
        .click(&format!("button[value='approve:{}']", comment.id))
        .await;
    browser.wait_for("CSRF token is missing or wrong").await;
    assert_eq!(
        store.get_approval(comment.id).await.unwrap().unwrap().state,
        ApprovalState::Pending
    );

    // Edit one write and approve it, then reject the rest in bulk.
    browser.goto(&format!("{base}/approvals")).await;
    browser
        .click(&format!("#edit-{} summary", comment.id))
        .await;
    let field = format!("edit-{}-content", comment.id);
    browser
        .script(&format!("document.getElementById('{field}').value = ''"))
        .await;
    browser
        .type_into(
            &format!("#{field}"),
            "Reviewed in the browser.\nSecond line.",
        )
        .await;
    browser
        .click(&format!("button[value='edit:{}']", comment.id))
        .await;
    browser.wait_for(") applied as edited").await;
    let edited = store.get_approval(comment.id).await.unwrap().unwrap();
    assert_eq!(
        edited.arguments["content"],
        "Reviewed in the browser.\nSecond line."
    );
    assert_eq!(
        edited.proposed_arguments.unwrap()["content"],
        note_for(&first)
    );
    for a in queued.iter().filter(|a| a.id != comment.id) {
        browser.click(&format!("#pick-{}", a.id)).await;
    }
    browser.click("button[value=reject]").await;
    browser.wait_for("Nothing waits for a decision").await;

    let state = backend.sandbox.admin().state_json();
    assert_eq!(
        comments_containing(&state, &first, "Reviewed in the browser"),
        1
    );
    assert_eq!(comments_containing(&state, &first, &note_for(&first)), 0);
    for ticket in before["tickets"].as_array().unwrap() {
        let id = ticket["id"].as_str().unwrap();
        if id != first {
            assert_eq!(
                comments_containing(&state, id, &note_for(id)),
                0,
                "rejected notes were not sent"
            );
        }
        assert_eq!(
            backend.sandbox.admin().ticket(id).unwrap()["priority"],
            ticket["priority"],
            "rejected updates were not sent"
        );
    }
    for a in queued.iter().filter(|a| a.id != comment.id) {
        assert_eq!(
            store.get_approval(a.id).await.unwrap().unwrap().state,
            ApprovalState::Rejected
        );
    }
    browser.quit().await;
    stop.cancel();
}
