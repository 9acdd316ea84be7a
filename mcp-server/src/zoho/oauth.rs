//! Zoho Accounts beyond the refresh grant: the scopes deskhand asks for, the authorization URL of
//! the browser flow, the code exchange that yields a refresh token, revocation, and the sentences
//! for the accounts server's error codes (which arrive as HTTP 200 `{"error": ...}`).

use std::time::Duration;

use serde_json::Value;
use url::Url;

use super::config::Secret;
use super::error::ZohoError;
use super::lenient;

/// What the shipped workflows and the curated MCP tools call, by the `scopes` of their operations
/// in Zoho's OAS (tickets, threads, comments, replies, moves; the directory; contacts; the
/// knowledge base; searches). No DELETE: nothing deskhand ships deletes. Agents, departments and
/// teams are listed under both `Desk.basic.READ` and `Desk.settings.READ`; both are asked for so
/// that either reading of the OAS holds.
pub const DESK_SCOPES: &str = "Desk.tickets.READ,Desk.tickets.CREATE,Desk.tickets.UPDATE,Desk.contacts.READ,Desk.basic.READ,Desk.settings.READ,Desk.search.READ,Desk.articles.READ";

/// Which grant an accounts-server error answered; the same code means different things.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GrantKind {
    AuthorizationCode,
    RefreshToken,
}

/// What a code exchange returns. The access token is usable at once, so `connect` does not spend
/// a second one of Zoho's ten-per-ten-minutes on its verification calls.
#[derive(Debug, Clone)]
pub struct Grant {
    pub refresh_token: Secret,
    pub access_token: Secret,
    pub expires_in: Duration,
    pub scope: String,
}

/// One sentence per accounts-server error code, with what to do about it.
pub fn grant_error_sentence(code: &str, kind: GrantKind) -> String {
    match (code, kind) {
        ("invalid_code", GrantKind::AuthorizationCode) => "Zoho refused the grant code: it is unknown, already used, or expired (codes last the few minutes chosen when they were generated); generate a new one and run `deskhand connect` again at once".to_owned(),
        ("invalid_code", GrantKind::RefreshToken) => "Zoho refused the refresh token: it was revoked, or it belongs to another client or data centre; run `deskhand connect` again to get a new one".to_owned(),
        ("invalid_client", _) => "Zoho does not know this client id on this data centre's accounts server; check the client id and the data centre (--dc) the client was registered on".to_owned(),
        ("invalid_client_secret", _) => "Zoho refused the client secret; copy it again from the API console (api-console.zoho.<dc>, Client Secret tab)".to_owned(),
        ("invalid_redirect_uri", _) => "Zoho refused the redirect URI; it must match the one registered for the client and the one used to get the code".to_owned(),
        ("Access Denied", _) => token_limit_sentence(),
        (other, _) => format!("Zoho's accounts server refused the grant ({other})"),
    }
}

/// Zoho issues at most ten access tokens per refresh token in any ten minutes and answers the
/// eleventh with "Access Denied"; it does not say when the window frees up, so the sentence gives
/// the latest time a retry can need.
pub fn token_limit_sentence() -> String {
    let at = chrono::Utc::now() + chrono::Duration::minutes(10);
    format!(
        "Zoho refused a new access token: it issues at most 10 access tokens per refresh token in any 10 minutes; retry after {} UTC at the latest (processes sharing one store share one token, so check for other tools using the same refresh token)",
        at.format("%H:%M")
    )
}

/// The consent page's URL for a server-based client (browser flow).
pub fn authorization_url(
    accounts_url: &Url,
    client_id: &str,
    redirect_uri: &str,
    state: &str,
    scope: &str,
) -> Result<Url, ZohoError> {
    let mut url = accounts_url
        .join("/oauth/v2/auth")
        .map_err(|e| ZohoError::InvalidRequest(format!("bad accounts URL: {e}")))?;
    url.query_pairs_mut()
        .append_pair("scope", scope)
        .append_pair("client_id", client_id)
        .append_pair("response_type", "code")
        .append_pair("access_type", "offline")
        .append_pair("redirect_uri", redirect_uri)
        .append_pair("state", state)
        .append_pair("prompt", "consent");
    Ok(url)
}

fn http(timeout: Duration) -> Result<reqwest::Client, ZohoError> {
    crate::install_crypto_provider();
    reqwest::Client::builder()
        .timeout(timeout)
        .build()
        .map_err(|e| ZohoError::Transport(format!("cannot build HTTP client: {e}")))
}

fn endpoint(accounts_url: &Url, path: &str) -> Result<Url, ZohoError> {
    accounts_url
        .join(path)
        .map_err(|e| ZohoError::InvalidRequest(format!("bad accounts URL: {e}")))
}

fn transport(e: reqwest::Error) -> ZohoError {
    if e.is_timeout() {
        ZohoError::Timeout { seconds: 30 }
    } else {
        ZohoError::Transport(e.without_url().to_string())
    }
}

/// Reads an accounts-server answer: `Err` for `{"error": ...}` (whatever the status) and for a
/// non-2xx status without one.
pub(crate) fn accounts_answer(
    status: u16,
    bytes: &[u8],
    kind: GrantKind,
) -> Result<Value, ZohoError> {
    let body: Option<Value> = serde_json::from_slice(bytes).ok();
    if let Some(code) = body.as_ref().and_then(|b| b.get("error")) {
        let code = lenient::as_string(code).unwrap_or_else(|| "unknown_error".to_owned());
        return Err(ZohoError::Auth {
            message: grant_error_sentence(&code, kind),
            code,
        });
    }
    match body {
        Some(body) if (200..300).contains(&status) => Ok(body),
        _ => Err(ZohoError::Auth {
            code: format!("HTTP_{status}"),
            message: format!("the accounts server answered HTTP {status}"),
        }),
    }
}

/// Exchanges a grant code for a refresh token (`grant_type=authorization_code`). Self Client codes
/// carry no redirect URI; browser-flow codes must be exchanged with the one they were issued for.
pub async fn exchange_code(
    accounts_url: &Url,
    client_id: &str,
    client_secret: &Secret,
    code: &Secret,
    redirect_uri: Option<&str>,
) -> Result<Grant, ZohoError> {
    let mut form = vec![
        ("grant_type", "authorization_code"),
        ("code", code.expose()),
        ("client_id", client_id),
        ("client_secret", client_secret.expose()),
    ];
    if let Some(uri) = redirect_uri {
        form.push(("redirect_uri", uri));
    }
    let resp = http(Duration::from_secs(30))?
        .post(endpoint(accounts_url, "/oauth/v2/token")?)
        .form(&form)
        .send()
        .await
        .map_err(transport)?;
    let status = resp.status().as_u16();
    let bytes = resp.bytes().await.map_err(transport)?;
    let body = accounts_answer(status, &bytes, GrantKind::AuthorizationCode)?;
    let text = |k: &str| {
        body.get(k)
            .and_then(Value::as_str)
            .filter(|t| !t.is_empty())
            .map(str::to_owned)
    };
    let (Some(refresh_token), Some(access_token)) = (text("refresh_token"), text("access_token"))
    else {
        return Err(ZohoError::Auth {
            code: "invalid_token_response".to_owned(),
            message: "the accounts server accepted the code but sent no refresh token; was the code generated for offline access?".to_owned(),
        });
    };
    let expires_in = body
        .get("expires_in")
        .and_then(lenient::as_u64)
        .unwrap_or(3600);
    Ok(Grant {
        refresh_token: Secret::new(refresh_token),
        access_token: Secret::new(access_token),
        expires_in: Duration::from_secs(expires_in),
        scope: text("scope").unwrap_or_default(),
    })
}

/// Revokes a refresh token (and with it every access token minted from it).
pub async fn revoke(accounts_url: &Url, refresh_token: &Secret) -> Result<(), ZohoError> {
    let resp = http(Duration::from_secs(30))?
        .post(endpoint(accounts_url, "/oauth/v2/token/revoke")?)
        .form(&[("token", refresh_token.expose())])
        .send()
        .await
        .map_err(transport)?;
    let status = resp.status().as_u16();
    let bytes = resp.bytes().await.map_err(transport)?;
    accounts_answer(status, &bytes, GrantKind::RefreshToken).map(|_| ())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn authorization_url_carries_state_and_offline_access() {
        let url = authorization_url(
            &Url::parse("https://accounts.zoho.eu").unwrap(),
            "1000.X",
            "http://127.0.0.1:5000/callback",
            "s t",
            DESK_SCOPES,
        )
        .unwrap();
        let pairs: Vec<(String, String)> = url.query_pairs().into_owned().collect();
        assert!(pairs.contains(&("state".into(), "s t".into())));
        assert!(pairs.contains(&("access_type".into(), "offline".into())));
        assert!(pairs.contains(&("scope".into(), DESK_SCOPES.into())));
        assert_eq!(url.path(), "/oauth/v2/auth");
    }

    #[test]
    fn errors_are_read_from_http_200_bodies() {
        let err = accounts_answer(
            200,
            br#"{"error":"invalid_code"}"#,
            GrantKind::AuthorizationCode,
        )
        .unwrap_err();
        assert!(err.to_string().contains("already used"), "{err}");
        let err = accounts_answer(
            400,
            br#"{"error":"Access Denied"}"#,
            GrantKind::RefreshToken,
        )
        .unwrap_err();
        assert!(err.to_string().contains("10 access tokens"), "{err}");
    }
}
