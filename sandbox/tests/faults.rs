#![allow(clippy::unwrap_used, clippy::expect_used)]
mod common;

use common::*;
use zoho_desk_sandbox::{FaultPlan, FaultRule, SandboxConfig};

#[tokio::test]
async fn status_faults_fire_for_the_next_n_matching_requests() {
    let env = small().await;
    env.sb.admin().set_faults(FaultPlan {
        seed: None,
        rules: vec![
            FaultRule::status(503)
                .next(2)
                .path_prefix("/api/v1/tickets"),
        ],
    });
    assert_eq!(
        env.get("/departments").await.status,
        200,
        "other paths are untouched"
    );
    let r = env.get("/tickets").await;
    assert_eq!((r.status, r.code()), (503, "INTERNAL_SERVER_ERROR"));
    assert_eq!(env.get("/tickets").await.status, 503);
    assert_eq!(env.get("/tickets").await.status, 200);
}

#[tokio::test]
async fn html_bad_gateway_looks_like_a_load_balancer() {
    let env = small().await;
    env.sb.admin().set_faults(FaultPlan {
        seed: None,
        rules: vec![FaultRule::html_bad_gateway().next(1).method("GET")],
    });
    let r = env.get("/tickets").await;
    assert_eq!(r.status, 502);
    assert!(r.header("content-type").unwrap().starts_with("text/html"));
    assert!(r.text.contains("<h1>502 Bad Gateway</h1>"));
}

#[tokio::test]
async fn dropped_connection_fails_the_client_after_the_write_happened() {
    let env = small().await;
    env.sb.admin().set_faults(FaultPlan {
        seed: None,
        rules: vec![FaultRule::drop_connection().next(1).method("POST")],
    });
    let sent = env
        .req(reqwest::Method::POST, "/tickets/5000000001001/comments")
        .json(&serde_json::json!({"content": "dup?"}))
        .send()
        .await;
    let failed = match sent {
        Err(_) => true,
        Ok(resp) => resp.bytes().await.is_err(),
    };
    assert!(failed, "the client must see a broken response");
    // The comment was written before the connection was cut.
    assert_eq!(
        env.get("/tickets/5000000001001").await.body["commentCount"],
        "2"
    );
}

#[tokio::test]
async fn malformed_bodies_do_not_parse() {
    let env = small().await;
    env.sb.admin().set_faults(FaultPlan {
        seed: None,
        rules: vec![FaultRule::malformed().next(1)],
    });
    let r = env.get("/tickets").await;
    assert_eq!(r.status, 200);
    assert!(!r.text.is_empty());
    assert!(serde_json::from_str::<serde_json::Value>(&r.text).is_err());
    assert_eq!(
        env.get("/tickets").await.body["data"]
            .as_array()
            .unwrap()
            .len(),
        3
    );
}

#[tokio::test]
async fn latency_faults_delay_without_changing_the_answer() {
    let env = small().await;
    env.sb.admin().set_faults(FaultPlan {
        seed: None,
        rules: vec![FaultRule::latency(1).next(1)],
    });
    assert_eq!(env.get("/tickets").await.status, 200);
    assert_eq!(
        env.sb.admin().faults().rules[0],
        FaultRule::latency(1).next(1)
    );
}

async fn sequence(seed: u64) -> Vec<u16> {
    let env = start(SandboxConfig {
        seed,
        ..small_config()
    })
    .await;
    let body = serde_json::json!({"rules": [{"kind": "status", "status": 500, "rate": 0.5}]});
    let r = env
        .client
        .put(format!("{}/_sandbox/faults", env.sb.base_url()))
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 204);
    let mut out = Vec::new();
    for _ in 0..24 {
        out.push(env.get("/departments/5000000000001").await.status);
    }
    out
}

#[tokio::test]
async fn same_seed_same_fault_sequence() {
    let a = sequence(7).await;
    let b = sequence(7).await;
    let c = sequence(8).await;
    assert_eq!(a, b);
    assert_ne!(a, c);
    assert!(a.contains(&500) && a.contains(&200), "{a:?}");
}

#[tokio::test]
async fn faults_can_be_cleared_and_bad_plans_are_refused() {
    let env = small().await;
    env.sb.admin().set_faults(FaultPlan {
        seed: None,
        rules: vec![FaultRule::status(500)],
    });
    assert_eq!(env.get("/tickets").await.status, 500);
    let r = env
        .client
        .delete(format!("{}/_sandbox/faults", env.sb.base_url()))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 204);
    assert_eq!(env.get("/tickets").await.status, 200);
    for bad in [
        r#"{"rules":[{"kind":"status","status":404}]}"#,
        r#"{"rules":[{"kind":"explode"}]}"#,
        r#"{"rules":[{"kind":"drop","rate":2}]}"#,
    ] {
        let r = env
            .client
            .put(format!("{}/_sandbox/faults", env.sb.base_url()))
            .body(bad)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 422, "{bad}");
    }
}
