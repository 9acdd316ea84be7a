#![allow(clippy::unwrap_used, clippy::expect_used)]
//! ZohoClient against the mock: OAuth, headers, error mapping, and the no-retry rule.

mod common;

use std::sync::atomic::Ordering;
use std::time::Duration;

use common::{Mock, TokenMode};
use http::Method;
use serde_json::json;
use zoho_desk_mcp::{ZohoClient, ZohoError};

async fn mock_with_ticket() -> Mock {
    let mock = Mock::start().await;
    mock.state.set_object(
        "/tickets/1",
        json!({"id": "1", "subject": "Printer on fire"}),
    );
    mock
}

async fn get(client: &ZohoClient, path: &str) -> Result<zoho_desk_mcp::ZohoResponse, ZohoError> {
    client.request(Method::GET, path, &[], None).await
}

#[tokio::test]
async fn concurrent_first_calls_share_one_token_refresh() {
    let mock = mock_with_ticket().await;
    let client = mock.client();
    let calls = (0..20).map(|_| {
        let c = client.clone();
        async move { get(&c, "/tickets/1").await }
    });
    let results = futures::future::join_all(calls).await;
    assert!(results.iter().all(Result::is_ok), "{results:?}");
    assert_eq!(mock.state.token_requests.load(Ordering::SeqCst), 1);
    assert_eq!(mock.state.api_request_count(), 20);
}

#[tokio::test]
async fn sends_zoho_auth_header_org_id_and_a_form_grant() {
    let mock = mock_with_ticket().await;
    let resp = get(&mock.client(), "/tickets/1").await.unwrap();
    assert_eq!(resp.status, 200);
    assert_eq!(resp.body.unwrap()["subject"], "Printer on fire");
    let req = &mock.state.api_requests()[0];
    assert_eq!(req.path, "/api/v1/tickets/1");
    assert_eq!(req.headers["authorization"], "Zoho-oauthtoken tok-1");
    assert_eq!(req.headers["orgid"], common::ORG_ID);
    let form = mock.state.token_forms.lock().unwrap()[0].clone();
    assert!(form.contains("grant_type=refresh_token"), "{form}");
    assert!(form.contains("client_id=mock-client"), "{form}");
}

#[tokio::test]
async fn token_is_cached_until_shortly_before_expiry() {
    let mock = mock_with_ticket().await;
    let client = mock.client();
    get(&client, "/tickets/1").await.unwrap();
    get(&client, "/tickets/1").await.unwrap();
    assert_eq!(mock.state.token_requests.load(Ordering::SeqCst), 1);

    let mock = mock_with_ticket().await;
    *mock.state.token_mode.lock().unwrap() = Some(TokenMode::Ok { expires_in: 0 });
    let client = mock.client();
    get(&client, "/tickets/1").await.unwrap();
    get(&client, "/tickets/1").await.unwrap();
    assert_eq!(mock.state.token_requests.load(Ordering::SeqCst), 2);
}

#[tokio::test]
async fn grant_errors_in_http_200_bodies_are_auth_errors_without_secrets() {
    let mock = mock_with_ticket().await;
    *mock.state.token_mode.lock().unwrap() = Some(TokenMode::GrantError("invalid_client_secret"));
    let err = get(&mock.client(), "/tickets/1").await.unwrap_err();
    match &err {
        ZohoError::Auth { code, .. } => assert_eq!(code, "invalid_client_secret"),
        other => panic!("{other:?}"),
    }
    let text = format!("{err} {err:?}");
    assert!(!text.contains(common::CLIENT_SECRET), "{text}");
    assert!(!text.contains(common::REFRESH_TOKEN), "{text}");
    assert_eq!(mock.state.api_request_count(), 0);
}

#[tokio::test]
async fn invalid_oauth_refreshes_once_and_repeats_once() {
    let mock = Mock::start().await;
    let client = mock.client();
    let resp = get(&client, "/invalid-once").await.unwrap();
    assert_eq!(resp.body.unwrap()["ok"], true);
    assert_eq!(mock.state.token_requests.load(Ordering::SeqCst), 2);
    assert_eq!(mock.state.api_request_count(), 2);

    let err = get(&client, "/always-401").await.unwrap_err();
    match err {
        ZohoError::Upstream(e) => {
            assert_eq!(e.status, 401);
            assert_eq!(e.error_code.as_deref(), Some("INVALID_OAUTH"));
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(mock.state.api_request_count(), 4, "exactly one repeat");
    assert_eq!(mock.state.token_requests.load(Ordering::SeqCst), 3);
}

#[tokio::test]
async fn revoked_token_is_replaced_transparently() {
    let mock = mock_with_ticket().await;
    let client = mock.client();
    get(&client, "/tickets/1").await.unwrap();
    mock.state.revoke_tokens();
    get(&client, "/tickets/1").await.unwrap();
    assert_eq!(mock.state.token_requests.load(Ordering::SeqCst), 2);
    let last = mock.state.api_requests().pop().unwrap();
    assert_eq!(last.headers["authorization"], "Zoho-oauthtoken tok-2");
}

#[tokio::test]
async fn rate_limits_are_returned_not_retried() {
    let mock = Mock::start().await;
    let client = mock.client();
    let err = get(&client, "/ratelimited/quota").await.unwrap_err();
    let ZohoError::Upstream(e) = err else {
        panic!("{err:?}")
    };
    assert_eq!(e.status, 429);
    assert_eq!(e.error_code.as_deref(), Some("THRESHOLD_EXCEEDED"));
    let rl = e.ratelimit.unwrap();
    assert_eq!(
        (rl.remaining, rl.retry_after, rl.reset),
        (Some(0), Some(120), Some(120))
    );
    assert_eq!(mock.state.api_request_count(), 1);

    let err = get(&client, "/ratelimited/concurrency").await.unwrap_err();
    let ZohoError::Upstream(e) = err else {
        panic!("{err:?}")
    };
    assert_eq!(e.error_code.as_deref(), Some("TOO_MANY_REQUESTS"));
    let rl = e.ratelimit.unwrap();
    assert_eq!(
        (rl.limit, rl.remaining, rl.reset),
        (Some(5), Some(0), Some(1))
    );
    assert_eq!(mock.state.api_request_count(), 2);

    let err = get(&client, "/server-error").await.unwrap_err();
    assert!(
        matches!(err, ZohoError::Upstream(ref e) if e.status == 500),
        "{err:?}"
    );
    assert_eq!(mock.state.api_request_count(), 3);
}

#[tokio::test]
async fn lenient_decoding() {
    let mock = Mock::start().await;
    let client = mock.client();
    let resp = get(&client, "/empty").await.unwrap();
    assert_eq!((resp.status, resp.body), (204, None));

    let err = get(&client, "/garbage").await.unwrap_err();
    match err {
        ZohoError::Decode { status, snippet } => {
            assert_eq!(status, 200);
            assert!(snippet.contains("definitely not json"), "{snippet}");
        }
        other => panic!("{other:?}"),
    }

    let err = get(&client, "/bad-gateway").await.unwrap_err();
    let ZohoError::Upstream(e) = err else {
        panic!("{err:?}")
    };
    assert_eq!(e.status, 502);
    assert_eq!(e.error_code, None);
    assert_eq!(e.message, "upstream returned HTTP 502 with a non-JSON body");

    let err = get(&client, "/nothing-here").await.unwrap_err();
    assert!(
        matches!(err, ZohoError::Upstream(ref e) if e.error_code.as_deref() == Some("URL_NOT_FOUND"))
    );
}

#[tokio::test]
async fn timeouts_are_reported_as_such() {
    let mock = Mock::start().await;
    let mut config = mock.config();
    config.timeout = Duration::from_millis(300);
    let client = ZohoClient::new(config).unwrap();
    let err = get(&client, "/hang").await.unwrap_err();
    assert!(matches!(err, ZohoError::Timeout { .. }), "{err:?}");
}

#[tokio::test]
async fn query_and_body_are_sent() {
    let mock = mock_with_ticket().await;
    let client = mock.client();
    let _ = client
        .request(
            Method::PATCH,
            "/tickets/1",
            &[("disableClosureNotification".into(), "true".into())],
            Some(&json!({"status": "Closed"})),
        )
        .await;
    let req = &mock.state.api_requests()[0];
    assert_eq!(req.method, "PATCH");
    assert_eq!(
        req.query,
        vec![("disableClosureNotification".to_string(), "true".to_string())]
    );
    assert_eq!(req.body, Some(json!({"status": "Closed"})));
    assert_eq!(req.headers["content-type"], "application/json");
}

#[tokio::test]
async fn an_absurd_token_lifetime_is_capped_instead_of_overflowing() {
    let mock = mock_with_ticket().await;
    *mock.state.token_mode.lock().unwrap() = Some(TokenMode::Ok {
        expires_in: u64::MAX,
    });
    let client = mock.client();
    get(&client, "/tickets/1").await.unwrap();
    get(&client, "/tickets/1").await.unwrap();
    assert_eq!(mock.state.token_requests.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn a_url_over_the_bound_is_an_argument_error_before_any_request() {
    let mock = mock_with_ticket().await;
    let client = mock.client();
    let query = vec![("searchStr".to_string(), "x".repeat(70 * 1024))];
    let err = client
        .request(Method::GET, "/tickets/search", &query, None)
        .await
        .unwrap_err();
    assert!(
        matches!(&err, ZohoError::InvalidRequest(m) if m.contains("bytes")),
        "{err:?}"
    );
    assert_eq!(mock.state.api_request_count(), 0);
    assert_eq!(mock.state.token_requests.load(Ordering::SeqCst), 0);
    let tool: zoho_desk_mcp::ToolError = err.into();
    assert_eq!(tool.status(), 400, "deterministic, so not a 502 to retry");
}
