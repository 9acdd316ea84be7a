//! The sandbox's Zoho Accounts beyond the refresh grant: authorization codes (Self Client and the
//! browser flow's consent page), revocation, and scopes carried by tokens.
#![allow(clippy::unwrap_used, clippy::expect_used)]
mod common;

use std::time::Duration;

use common::*;
use serde_json::Value;
use zoho_desk_sandbox::SandboxConfig;

const SCOPES: &str = "Desk.tickets.READ,Desk.tickets.UPDATE,Desk.basic.READ,Desk.search.READ";

async fn exchange(env: &Env, code: &str, secret: &str, redirect_uri: Option<&str>) -> Resp {
    let c = env.sb.credentials().clone();
    let mut form = vec![
        ("grant_type", "authorization_code"),
        ("code", code),
        ("client_id", c.client_id.as_str()),
        ("client_secret", secret),
    ];
    if let Some(uri) = redirect_uri {
        form.push(("redirect_uri", uri));
    }
    read(
        env.client
            .post(format!("{}/oauth/v2/token", env.sb.accounts_url()))
            .form(&form)
            .send()
            .await
            .unwrap(),
    )
    .await
}

async fn call(env: &Env, token: &str, path: &str) -> Resp {
    read(
        env.client
            .get(env.url(path))
            .header("Authorization", format!("Zoho-oauthtoken {token}"))
            .header("orgId", env.sb.credentials().org_id.clone())
            .send()
            .await
            .unwrap(),
    )
    .await
}

#[tokio::test]
async fn a_grant_code_is_exchanged_once_for_a_refresh_token_with_its_scopes() {
    let env = small().await;
    let secret = env.sb.credentials().client_secret.clone();
    let code = env.sb.admin().grant_code(SCOPES).unwrap();
    let r = exchange(&env, &code, &secret, None).await;
    assert_eq!(r.status, 200, "{}", r.text);
    let refresh = r.body["refresh_token"].as_str().unwrap().to_owned();
    let access = r.body["access_token"].as_str().unwrap().to_owned();
    assert!(refresh.starts_with("1000.") && refresh != env.sb.credentials().refresh_token);
    assert_eq!(r.body["scope"], SCOPES);
    assert_eq!(call(&env, &access, "/tickets").await.status, 200);
    // The scopes hold: no Desk.articles.READ, so the knowledge base is out of reach.
    let denied = call(&env, &access, "/articles").await;
    assert_eq!((denied.status, denied.code()), (401, "SCOPE_MISMATCH"));
    assert_eq!(
        denied.body["message"],
        "Invalid oauth scope to access this URL"
    );
    // Single use.
    let again = exchange(&env, &code, &secret, None).await;
    assert_eq!(
        (again.status, again.body.clone()),
        (200, serde_json::json!({"error": "invalid_code"}))
    );
    // The new refresh token refreshes.
    let c = env.sb.credentials().clone();
    let r = read(
        env.client
            .post(format!("{}/oauth/v2/token", env.sb.accounts_url()))
            .form(&[
                ("grant_type", "refresh_token"),
                ("refresh_token", refresh.as_str()),
                ("client_id", c.client_id.as_str()),
                ("client_secret", c.client_secret.as_str()),
            ])
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert!(r.body["access_token"].as_str().is_some(), "{}", r.text);
    assert!(r.body.get("refresh_token").is_none());
}

#[tokio::test]
async fn expired_codes_and_wrong_secrets_get_zohos_http_200_errors() {
    let env = start(SandboxConfig {
        grant_code_ttl: Duration::ZERO,
        ..small_config()
    })
    .await;
    let secret = env.sb.credentials().client_secret.clone();
    let code = env.sb.admin().grant_code(SCOPES).unwrap();
    let r = exchange(&env, &code, &secret, None).await;
    assert_eq!(
        (r.status, r.body),
        (200, serde_json::json!({"error": "invalid_code"}))
    );

    let env = small().await;
    let code = env.sb.admin().grant_code(SCOPES).unwrap();
    let r = exchange(&env, &code, "wrong", None).await;
    assert_eq!(
        r.body,
        serde_json::json!({"error": "invalid_client_secret"})
    );
    // A bad secret does not spend the code.
    let r = exchange(&env, &code, &secret, None).await;
    assert!(r.body["refresh_token"].is_string(), "{}", r.text);
    assert!(
        env.sb
            .admin()
            .grant_code("Desk.tickets.EVERYTHING")
            .is_err()
    );
}

#[tokio::test]
async fn the_consent_page_redirects_with_code_and_state_bound_to_the_redirect_uri() {
    let env = small().await;
    let c = env.sb.credentials().clone();
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let redirect = "http://127.0.0.1:9/callback";
    let params = [
        ("scope", SCOPES),
        ("client_id", c.client_id.as_str()),
        ("response_type", "code"),
        ("access_type", "offline"),
        ("redirect_uri", redirect),
        ("state", "xyz 1"),
        ("prompt", "consent"),
    ];
    let auth = format!("{}/oauth/v2/auth", env.sb.accounts_url());
    let page = client.get(&auth).query(&params).send().await.unwrap();
    assert_eq!(page.status(), 200);
    let html = page.text().await.unwrap();
    assert!(
        html.contains("Accept") && html.contains("Acme Gadgets"),
        "{html}"
    );

    let accept = client
        .post(&auth)
        .query(&params)
        .form(&[("decision", "accept")])
        .send()
        .await
        .unwrap();
    assert_eq!(accept.status(), 302);
    let location = url::Url::parse(accept.headers()["location"].to_str().unwrap()).unwrap();
    assert_eq!(location.path(), "/callback");
    let get = |k: &str| {
        location
            .query_pairs()
            .find(|(key, _)| key == k)
            .map(|(_, v)| v.into_owned())
    };
    assert_eq!(get("state").as_deref(), Some("xyz 1"));
    assert_eq!(
        get("accounts-server").as_deref(),
        Some(env.sb.accounts_url().as_str())
    );
    let code = get("code").unwrap();
    // Bound to its redirect URI: another one spends it for nothing.
    let wrong = exchange(&env, &code, &c.client_secret, Some("http://127.0.0.1:10/x")).await;
    assert_eq!(
        wrong.body,
        serde_json::json!({"error": "invalid_redirect_uri"})
    );
    let accept = client
        .post(&auth)
        .query(&params)
        .form(&[("decision", "accept")])
        .send()
        .await
        .unwrap();
    let location = url::Url::parse(accept.headers()["location"].to_str().unwrap()).unwrap();
    let code: String = location
        .query_pairs()
        .find(|(k, _)| k == "code")
        .map(|(_, v)| v.into_owned())
        .unwrap();
    let ok = exchange(&env, &code, &c.client_secret, Some(redirect)).await;
    assert!(ok.body["refresh_token"].is_string(), "{}", ok.text);

    let deny = client
        .post(&auth)
        .query(&params)
        .form(&[("decision", "deny")])
        .send()
        .await
        .unwrap();
    let location = deny.headers()["location"].to_str().unwrap().to_owned();
    assert!(
        location.contains("error=access_denied") && location.contains("state=xyz%201"),
        "{location}"
    );

    // No redirect to anywhere for a bad request: an error page.
    let bad = client
        .get(&auth)
        .query(&[("client_id", "1000.NOPE"), ("redirect_uri", redirect)])
        .send()
        .await
        .unwrap();
    assert_eq!(bad.status(), 400);
    assert!(bad.headers().get("location").is_none());
}

#[tokio::test]
async fn a_revoked_refresh_token_refreshes_no_more_and_its_tokens_die() {
    let env = small().await;
    let c = env.sb.credentials().clone();
    let code = env.sb.admin().grant_code(SCOPES).unwrap();
    let r = exchange(&env, &code, &c.client_secret, None).await;
    let refresh = r.body["refresh_token"].as_str().unwrap().to_owned();
    let access = r.body["access_token"].as_str().unwrap().to_owned();
    let revoke = |token: String| {
        let client = env.client.clone();
        let url = format!("{}/oauth/v2/token/revoke", env.sb.accounts_url());
        async move {
            read(
                client
                    .post(url)
                    .query(&[("token", token)])
                    .send()
                    .await
                    .unwrap(),
            )
            .await
        }
    };
    let r = revoke(refresh.clone()).await;
    assert_eq!(
        (r.status, r.body["status"].clone()),
        (200, Value::from("success"))
    );
    assert_eq!(
        call(&env, &access, "/tickets").await.code(),
        "INVALID_OAUTH"
    );
    let r = read(
        env.client
            .post(format!("{}/oauth/v2/token", env.sb.accounts_url()))
            .form(&[
                ("grant_type", "refresh_token"),
                ("refresh_token", refresh.as_str()),
                ("client_id", c.client_id.as_str()),
                ("client_secret", c.client_secret.as_str()),
            ])
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(r.body, serde_json::json!({"error": "invalid_code"}));
    assert_eq!(revoke(refresh).await.body["error"], "invalid_token");
    // The configured token is untouched.
    assert_eq!(env.get("/tickets").await.status, 200);
}
