#![allow(clippy::unwrap_used, clippy::expect_used)]
mod common;

use std::collections::HashSet;

use common::*;
use serde_json::json;
use zoho_desk_sandbox::{SandboxConfig, SandboxError, SeedData};

#[tokio::test]
async fn reset_restores_the_seed_and_clears_counters() {
    let env = small().await;
    let before = env.sb.admin().state_json();
    env.patch("/tickets/5000000001001", json!({"status": "Closed"}))
        .await;
    env.post(
        "/tickets/5000000001001/comments",
        json!({"content": "note"}),
    )
    .await;
    assert_ne!(env.sb.admin().state_json(), before);
    assert!(env.sb.admin().stats().total >= 2);
    let r = env
        .client
        .post(format!("{}/_sandbox/reset", env.sb.base_url()))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 204);
    assert_eq!(env.sb.admin().state_json(), before);
    assert_eq!(env.sb.admin().stats().total, 0);
    assert_eq!(
        env.get("/tickets/5000000001001").await.body["status"],
        "Open",
        "tokens survive a reset"
    );
}

#[tokio::test]
async fn stats_count_by_route_template_and_status() {
    let env = small().await;
    env.get("/tickets/5000000001001").await;
    env.get("/tickets/5000000001002").await;
    env.get("/tickets/5000000009999").await;
    let s = env.sb.admin().stats();
    assert_eq!(s.by_path.get("GET /api/v1/tickets/{ticketId}"), Some(&3));
    assert_eq!(s.by_status.get(&404), Some(&1));
    let http: serde_json::Value = env
        .client
        .get(format!("{}/_sandbox/stats", env.sb.base_url()))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(http["by_path"]["GET /api/v1/tickets/{ticketId}"], 3);
    assert_eq!(
        http["by_status"]["200"], 3,
        "two tickets and the token request"
    );
    assert_eq!(http["by_path"]["POST /oauth/v2/token"], 1);
}

#[tokio::test]
async fn state_and_ticket_over_http_match_the_admin_handle() {
    let env = small().await;
    let state: serde_json::Value = env
        .client
        .get(format!("{}/_sandbox/state", env.sb.base_url()))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(state, env.sb.admin().state_json());
    assert_eq!(state["tickets"].as_array().unwrap().len(), 3);
    let t: serde_json::Value = env
        .client
        .get(format!(
            "{}/_sandbox/tickets/5000000001001",
            env.sb.base_url()
        ))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(t["threads"].as_array().unwrap().len(), 3);
    assert_eq!(
        t["threads"][0]["content"],
        "<p>I forgot the router password and cannot log in.</p>"
    );
    assert!(env.sb.admin().ticket("1").is_none());
    // The state is itself a valid seed file.
    let again = SeedData::from_json_str(&state.to_string()).unwrap();
    assert_eq!(again.to_json(), state);
}

#[tokio::test]
async fn seed_files_load_from_disk_and_fill_defaults() {
    let dir = std::env::temp_dir().join(format!("zds-seed-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("seed.json");
    std::fs::write(&path, SMALL_SEED).unwrap();
    let seed = SeedData::from_path(&path).unwrap();
    assert_eq!(seed.ticket_count(), 3);
    let env = start(SandboxConfig {
        seed_data: Some(seed),
        ..Default::default()
    })
    .await;
    let t = env.get("/tickets/5000000001002").await.body;
    assert_eq!(t["layoutDetails"]["layoutName"], "Billing Layout");
    assert_eq!(
        t["webUrl"],
        "https://desk.zoho.eu/support/sandbox/ShowHomePage.do#Cases/dv/5000000001002"
    );
    assert_eq!(t["threadCount"], "1");
    let threads = env.get("/tickets/5000000001002/threads").await.body;
    assert!(
        threads["data"][0]["id"]
            .as_str()
            .unwrap()
            .starts_with("1892000000"),
        "allocated id"
    );
    assert_eq!(threads["data"][0]["channel"], "WEB");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn bad_seed_files_name_the_problem() {
    let err = SeedData::from_json_str("{\"departments\": [}").unwrap_err();
    assert!(matches!(err, SandboxError::SeedJson { .. }));
    assert!(err.to_string().contains("line 1 column"), "{err}");
    let cases = [
        (
            r#"{"departments":[{"name":"x"}]}"#,
            "departments[0]: missing required field 'id'",
        ),
        (
            r#"{"departments":[{"id":"1","name":"x"}],"tickets":[{"id":"2","subject":"s","departmentId":"9","contactId":"3"}]}"#,
            "tickets[0]: departmentId 9 is not in 'departments'",
        ),
        (
            r#"{"tickets":[],"widgets":[]}"#,
            "unknown top-level key 'widgets'",
        ),
        (
            r#"{"agents":[{"id":"1","lastName":"x"}]}"#,
            "agents[0]: missing required field 'emailId'",
        ),
        (
            r#"{"departments":[{"id":"abc","name":"x"}]}"#,
            "departments[0]: id 'abc' is not a numeric Zoho id",
        ),
        (
            r#"{"departments":[{"id":"1","name":"x"}],"contacts":[{"id":"3","lastName":"c"}],"tickets":[{"id":"2","subject":"s","departmentId":"1","contactId":"3","status":"Weird"}]}"#,
            "status 'Weird'",
        ),
    ];
    for (text, expected) in cases {
        let err = SeedData::from_json_str(text).unwrap_err().to_string();
        assert!(err.contains(expected), "{err} should contain {expected}");
        assert!(err.starts_with("seed file <inline>"), "{err}");
    }
    let missing = SeedData::from_path(std::path::Path::new("/nonexistent/seed.json")).unwrap_err();
    assert!(missing.to_string().contains("/nonexistent/seed.json"));
}

#[test]
fn generated_org_is_large_varied_and_deterministic() {
    let a = SeedData::generated(42);
    let b = SeedData::generated(42);
    let c = SeedData::generated(43);
    assert_eq!(a.to_json(), b.to_json());
    assert_ne!(a.to_json(), c.to_json());
    let state = a.to_json();
    let tickets = state["tickets"].as_array().unwrap();
    assert!(tickets.len() >= 220, "{}", tickets.len());
    let depts: HashSet<&str> = tickets
        .iter()
        .map(|t| t["departmentId"].as_str().unwrap())
        .collect();
    assert_eq!(depts.len(), state["departments"].as_array().unwrap().len());
    let open = tickets.iter().filter(|t| t["status"] == "Open").count();
    assert!(open * 2 > tickets.len(), "most tickets are open");
    assert!(tickets.iter().any(|t| t["assigneeId"].is_string()));
    assert!(
        tickets
            .iter()
            .all(|t| !t["threads"].as_array().unwrap().is_empty())
    );
    assert!(
        tickets
            .iter()
            .any(|t| !t["comments"].as_array().unwrap().is_empty())
    );
    // Every assignee is an active agent of the ticket's department.
    for t in tickets {
        if let Some(a) = t["assigneeId"].as_str() {
            let agent = state["agents"]
                .as_array()
                .unwrap()
                .iter()
                .find(|x| x["id"] == a)
                .unwrap();
            assert_eq!(agent["status"], "ACTIVE");
            assert!(
                agent["associatedDepartmentIds"]
                    .as_array()
                    .unwrap()
                    .contains(&t["departmentId"])
            );
        }
        let created = t["createdTime"].as_str().unwrap();
        assert!(
            ("2026-01-31".."2026-03-02T09").contains(&created),
            "{created}"
        );
    }
    let gold = SeedData::generated_gold_labels(42);
    let first = tickets[0]["id"].as_str().unwrap();
    assert!(gold["tickets"][first]["departmentId"].is_string());
}
