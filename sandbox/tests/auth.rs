#![allow(clippy::unwrap_used, clippy::expect_used)]
mod common;

use std::time::Duration;

use common::*;
use serde_json::Value;
use zoho_desk_sandbox::SandboxConfig;

#[tokio::test]
async fn refresh_grant_issues_a_zoho_shaped_token_from_query_or_form() {
    let env = small().await;
    let c = env.sb.credentials().clone();
    let form = [
        ("grant_type", "refresh_token"),
        ("refresh_token", c.refresh_token.as_str()),
        ("client_id", c.client_id.as_str()),
        ("client_secret", c.client_secret.as_str()),
    ];
    let r = read(
        env.client
            .post(format!("{}/oauth/v2/token", env.sb.accounts_url()))
            .form(&form)
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(r.status, 200);
    let tok = r.body["access_token"].as_str().unwrap();
    assert!(tok.starts_with("1000.") && tok.len() > 40, "{tok}");
    assert_eq!(r.body["expires_in"], 3600);
    assert_eq!(r.body["token_type"], "Bearer");
    assert_eq!(r.body["api_domain"], "https://www.zohoapis.com");
    assert!(
        r.body["scope"]
            .as_str()
            .unwrap()
            .contains("Desk.tickets.ALL")
    );
    assert!(
        r.body.get("refresh_token").is_none(),
        "a refresh does not return a refresh token"
    );
    assert_ne!(tok, env.token);
    assert!(c.client_id.starts_with("1000.") && c.refresh_token.starts_with("1000."));
}

#[tokio::test]
async fn grant_errors_are_http_200_with_an_error_key() {
    let env = small().await;
    let c = env.sb.credentials().clone();
    let url = format!("{}/oauth/v2/token", env.sb.accounts_url());
    let cases = [
        (
            vec![
                ("grant_type", "refresh_token"),
                ("refresh_token", c.refresh_token.as_str()),
                ("client_id", "1000.WRONG"),
                ("client_secret", c.client_secret.as_str()),
            ],
            "invalid_client",
        ),
        (
            vec![
                ("grant_type", "refresh_token"),
                ("refresh_token", c.refresh_token.as_str()),
                ("client_id", c.client_id.as_str()),
                ("client_secret", "nope"),
            ],
            "invalid_client_secret",
        ),
        (
            vec![
                ("grant_type", "refresh_token"),
                ("refresh_token", "1000.bad.bad"),
                ("client_id", c.client_id.as_str()),
                ("client_secret", c.client_secret.as_str()),
            ],
            "invalid_code",
        ),
        (
            vec![
                ("grant_type", "authorization_code"),
                ("code", "1000.x"),
                ("client_id", c.client_id.as_str()),
                ("client_secret", c.client_secret.as_str()),
            ],
            "invalid_code",
        ),
        (vec![("grant_type", "password")], "unsupported_grant_type"),
    ];
    for (params, expected) in cases {
        let r = read(env.client.post(&url).query(&params).send().await.unwrap()).await;
        assert_eq!(r.status, 200);
        assert_eq!(r.body, serde_json::json!({"error": expected}));
    }
}

#[tokio::test]
async fn eleventh_token_in_ten_minutes_is_access_denied() {
    let env = small().await; // one token already issued
    let mut last = None;
    for _ in 0..10 {
        let c = env.sb.credentials().clone();
        let r = read(
            env.client
                .post(format!("{}/oauth/v2/token", env.sb.accounts_url()))
                .query(&[
                    ("grant_type", "refresh_token"),
                    ("refresh_token", c.refresh_token.as_str()),
                    ("client_id", c.client_id.as_str()),
                    ("client_secret", c.client_secret.as_str()),
                ])
                .send()
                .await
                .unwrap(),
        )
        .await;
        last = Some(r);
    }
    let r = last.unwrap();
    assert_eq!(r.status, 400);
    assert_eq!(r.body["error"], "Access Denied");
    assert_eq!(
        r.body["error_description"],
        "You have made too many requests continuously. Please try again after some time."
    );
    // Raising the cap makes room for heavy tests.
    let env = start(SandboxConfig {
        max_tokens_per_window: 100,
        ..small_config()
    })
    .await;
    for _ in 0..20 {
        assert!(env.fresh_token().await.starts_with("1000."));
    }
}

#[tokio::test]
async fn missing_bad_and_bearer_tokens_are_refused() {
    let env = small().await;
    let org = env.sb.credentials().org_id.clone();
    let url = env.url("/tickets");
    let r = read(
        env.client
            .get(&url)
            .header("orgId", &org)
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!((r.status, r.code()), (401, "UNAUTHORIZED"));
    assert_eq!(
        r.body["message"],
        "You are not authenticated to perform this operation."
    );
    let r = read(
        env.client
            .get(&url)
            .header("orgId", &org)
            .header("Authorization", "Zoho-oauthtoken 1000.nope")
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!((r.status, r.code()), (401, "INVALID_OAUTH"));
    assert_eq!(
        r.body["message"],
        "The OAuth Token you provided is invalid."
    );
    let r = read(
        env.client
            .get(&url)
            .header("orgId", &org)
            .header("Authorization", format!("Bearer {}", env.token))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!((r.status, r.code()), (401, "INVALID_OAUTH"));
    assert!(r.header("x-rate-limit-remaining-v3").is_some());
}

#[tokio::test]
async fn tokens_expire_after_their_ttl() {
    // A zero TTL makes every token stale on arrival: expiry without waiting.
    let env = start(SandboxConfig {
        token_ttl: Duration::ZERO,
        ..small_config()
    })
    .await;
    let r = env.get("/departments").await;
    assert_eq!((r.status, r.code()), (401, "INVALID_OAUTH"));
    let env = start(SandboxConfig {
        token_ttl: Duration::from_secs(3600),
        ..small_config()
    })
    .await;
    assert_eq!(env.get("/departments").await.status, 200);
}

#[tokio::test]
async fn admin_can_expire_every_token() {
    let mut env = small().await;
    env.sb.admin().expire_tokens();
    assert_eq!(env.get("/departments").await.code(), "INVALID_OAUTH");
    env.token = env.fresh_token().await;
    assert_eq!(env.get("/departments").await.status, 200);
    let r = env
        .client
        .post(format!("{}/_sandbox/tokens/expire", env.sb.base_url()))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 204);
    assert_eq!(env.get("/departments").await.code(), "INVALID_OAUTH");
}

#[tokio::test]
async fn org_id_is_required_as_header_or_query_and_must_match() {
    let env = small().await;
    let auth = format!("Zoho-oauthtoken {}", env.token);
    let org = env.sb.credentials().org_id.clone();
    let r = read(
        env.client
            .get(env.url("/departments"))
            .header("Authorization", &auth)
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!((r.status, r.code()), (422, "UNPROCESSABLE_ENTITY"));
    assert!(r.body["message"].as_str().unwrap().contains("orgId"));
    let r = read(
        env.client
            .get(env.url(&format!("/departments?orgId={org}")))
            .header("Authorization", &auth)
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(r.status, 200);
    let r = read(
        env.client
            .get(env.url("/departments"))
            .header("Authorization", &auth)
            .header("orgId", "123456")
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!((r.status, r.code()), (401, "OAUTH_ORG_MISMATCH"));
    assert_eq!(
        r.body["message"],
        "The OAuthToken is not valid for specified organization"
    );
    // GET /organizations needs no orgId.
    let r = read(
        env.client
            .get(env.url("/organizations"))
            .header("Authorization", &auth)
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(r.status, 200);
    assert_eq!(r.body["data"][0]["id"], Value::String(org));
    assert_eq!(r.body["data"][0]["companyName"], "Acme Gadgets");
}
