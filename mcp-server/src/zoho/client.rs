//! The Zoho Desk v1 HTTP client. It never retries a 429 or a 5xx: the gateway's contract is to pass
//! every upstream failure through unchanged, and retry policy belongs to the caller (the runner).
//! The one exception is authentication: a 401 `INVALID_OAUTH` means our cached token died early
//! (revoked, or expired by the server's clock), which the caller cannot fix, so the client refreshes
//! once and repeats the request once.

use std::sync::Arc;
use std::time::Duration;

use http::Method;
use serde_json::Value;
use tokio::sync::Mutex;
use tokio::time::Instant;
use url::Url;

use super::config::{Secret, ZohoConfig};
use super::error::{UpstreamError, ZohoError, snippet};
use super::lenient;
use super::oauth::{GrantKind, accounts_answer};
use super::ratelimit::RateLimitInfo;

/// The longest request URL sent. URLs are bounded at 64 KiB by the HTTP stack and far lower by
/// most servers; a request near that size is an argument mistake, not a transient failure.
pub const MAX_URL_BYTES: usize = 32 * 1024;

/// The longest access-token lifetime believed, in seconds.
const MAX_TOKEN_LIFETIME_SECS: u64 = 24 * 3600;

/// An access token as the processes of one deployment share it: good until `refresh_at` (a
/// little before Zoho's expiry).
#[derive(Debug, Clone)]
pub struct SharedToken {
    pub value: Secret,
    pub refresh_at: std::time::SystemTime,
}

/// Mints a token from Zoho (the refresh-token grant); handed to [`TokenShare::token`].
pub type Mint<'a> =
    Box<dyn FnOnce() -> futures::future::BoxFuture<'a, Result<SharedToken, ZohoError>> + Send + 'a>;

/// Where access tokens are kept for every process of a deployment (the runner keeps them in its
/// store), so that CLI commands and replicas reuse one token instead of each spending one of the
/// ten Zoho issues per refresh token per ten minutes.
pub trait TokenShare: Send + Sync {
    /// A live token for `key`; when there is none, `mint` is called at most once across all
    /// processes at a time, and its token is shared.
    fn token<'a>(
        &'a self,
        key: &'a str,
        mint: Mint<'a>,
    ) -> futures::future::BoxFuture<'a, Result<SharedToken, ZohoError>>;

    /// Drops the shared token for `key` if it is still `failed` (Zoho refused it early).
    fn forget<'a>(&'a self, key: &'a str, failed: &'a Secret)
    -> futures::future::BoxFuture<'a, ()>;
}

/// A successful (2xx) answer. `body` is `None` for 204 and empty bodies, which Zoho uses for
/// "empty list".
#[derive(Debug, Clone, PartialEq)]
pub struct ZohoResponse {
    pub status: u16,
    pub body: Option<Value>,
    pub ratelimit: RateLimitInfo,
}

#[derive(Clone)]
pub struct ZohoClient {
    inner: Arc<Inner>,
}

struct Inner {
    http: reqwest::Client,
    api_root: String,
    token_url: Url,
    config: ZohoConfig,
    /// Holding this lock while refreshing is what makes refresh single-flight: concurrent callers
    /// queue on it and find the fresh token when they get in.
    token: Mutex<Option<CachedToken>>,
    share: Option<Arc<dyn TokenShare>>,
}

struct CachedToken {
    value: Secret,
    refresh_at: Instant,
}

impl std::fmt::Debug for ZohoClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ZohoClient")
            .field("api_root", &self.inner.api_root)
            .field("org_id", &self.inner.config.org_id)
            .finish_non_exhaustive()
    }
}

impl ZohoClient {
    pub fn new(config: ZohoConfig) -> Result<Self, ZohoError> {
        Self::build(config, None)
    }

    /// A client whose access tokens come from (and go to) `share`.
    pub fn with_token_share(
        config: ZohoConfig,
        share: Arc<dyn TokenShare>,
    ) -> Result<Self, ZohoError> {
        Self::build(config, Some(share))
    }

    fn build(config: ZohoConfig, share: Option<Arc<dyn TokenShare>>) -> Result<Self, ZohoError> {
        crate::install_crypto_provider();
        let http = reqwest::Client::builder()
            .timeout(config.timeout)
            .build()
            .map_err(|e| ZohoError::Transport(format!("cannot build HTTP client: {e}")))?;
        let api_root = format!(
            "{}/api/v1",
            config.desk_base_url.as_str().trim_end_matches('/')
        );
        let token_url = Url::parse(&format!(
            "{}/oauth/v2/token",
            config.accounts_url.as_str().trim_end_matches('/')
        ))
        .map_err(|e| ZohoError::InvalidRequest(format!("bad accounts URL: {e}")))?;
        Ok(ZohoClient {
            inner: Arc::new(Inner {
                http,
                api_root,
                token_url,
                config,
                token: Mutex::new(None),
                share,
            }),
        })
    }

    pub fn config(&self) -> &ZohoConfig {
        &self.inner.config
    }

    /// `path` is relative to `/api/v1` and starts with `/` (e.g. `/tickets/123`); callers
    /// percent-encode path segments themselves.
    pub async fn request(
        &self,
        method: Method,
        path: &str,
        query: &[(String, String)],
        body: Option<&Value>,
    ) -> Result<ZohoResponse, ZohoError> {
        if !path.starts_with('/') {
            return Err(ZohoError::InvalidRequest(format!(
                "path `{path}` must start with `/`"
            )));
        }
        let url = self.url_for(path, query)?;
        let token = self.access_token().await?;
        let first = self.send(&method, &url, body, &token).await?;
        let Err(err) = first else {
            return first.map_err(ZohoError::Upstream);
        };
        if err.status == 401 && err.error_code.as_deref() == Some("INVALID_OAUTH") {
            tracing::debug!(%method, path, "INVALID_OAUTH; refreshing the token and repeating once");
            self.invalidate(&token).await;
            let token = self.access_token().await?;
            return self
                .send(&method, &url, body, &token)
                .await?
                .map_err(ZohoError::Upstream);
        }
        Err(ZohoError::Upstream(err))
    }

    /// The full request URL. One longer than [`MAX_URL_BYTES`] is refused here, before any token
    /// is fetched: it would fail the same way on every attempt, so it is the caller's argument
    /// error, not an upstream failure worth retrying.
    fn url_for(&self, path: &str, query: &[(String, String)]) -> Result<Url, ZohoError> {
        let mut url = Url::parse(&format!("{}{}", self.inner.api_root, path))
            .map_err(|e| ZohoError::InvalidRequest(format!("path `{path}` is not valid: {e}")))?;
        if !query.is_empty() {
            url.query_pairs_mut().extend_pairs(query);
        }
        let length = url.as_str().len();
        if length > MAX_URL_BYTES {
            return Err(ZohoError::InvalidRequest(format!(
                "the request URL would be {length} bytes long, more than the {MAX_URL_BYTES} bytes allowed; shorten the arguments (long lists or search text)"
            )));
        }
        Ok(url)
    }

    /// The outer error is a failure to get an answer at all; the inner one is a non-2xx answer.
    async fn send(
        &self,
        method: &Method,
        url: &Url,
        body: Option<&Value>,
        token: &Secret,
    ) -> Result<Result<ZohoResponse, UpstreamError>, ZohoError> {
        let mut req = self
            .inner
            .http
            .request(method.clone(), url.clone())
            .header(
                http::header::AUTHORIZATION,
                format!("Zoho-oauthtoken {}", token.expose()),
            )
            .header("orgId", &self.inner.config.org_id)
            .header(http::header::ACCEPT, "application/json");
        if let Some(body) = body {
            req = req.json(body);
        }
        let resp = req.send().await.map_err(|e| self.transport_error(e))?;
        let status = resp.status().as_u16();
        let ratelimit = RateLimitInfo::from_headers(resp.headers());
        let bytes = resp.bytes().await.map_err(|e| self.transport_error(e))?;
        tracing::debug!(%method, url = url.path(), status, "zoho desk call");
        if !(200..300).contains(&status) {
            return Ok(Err(UpstreamError::from_response(status, &bytes, ratelimit)));
        }
        if status == 204 || bytes.iter().all(u8::is_ascii_whitespace) {
            return Ok(Ok(ZohoResponse {
                status,
                body: None,
                ratelimit,
            }));
        }
        match serde_json::from_slice::<Value>(&bytes) {
            Ok(body) => Ok(Ok(ZohoResponse {
                status,
                body: Some(body),
                ratelimit,
            })),
            Err(_) => Err(ZohoError::Decode {
                status,
                snippet: snippet(&bytes),
            }),
        }
    }

    fn transport_error(&self, e: reqwest::Error) -> ZohoError {
        if e.is_timeout() {
            ZohoError::Timeout {
                seconds: self.inner.config.timeout.as_secs(),
            }
        } else {
            ZohoError::Transport(e.without_url().to_string())
        }
    }

    async fn access_token(&self) -> Result<Secret, ZohoError> {
        let mut slot = self.inner.token.lock().await;
        if let Some(cached) = slot.as_ref()
            && Instant::now() < cached.refresh_at
        {
            return Ok(cached.value.clone());
        }
        let fresh = match &self.inner.share {
            Some(share) => {
                let key = self.share_key();
                let mint: Mint<'_> = Box::new(|| {
                    Box::pin(async {
                        let fresh = self.refresh().await?;
                        let left = fresh.refresh_at.saturating_duration_since(Instant::now());
                        Ok(SharedToken {
                            value: fresh.value,
                            refresh_at: std::time::SystemTime::now() + left,
                        })
                    })
                });
                let shared = share.token(&key, mint).await?;
                let left = shared
                    .refresh_at
                    .duration_since(std::time::SystemTime::now())
                    .unwrap_or_default();
                CachedToken {
                    value: shared.value,
                    refresh_at: Instant::now() + left,
                }
            }
            None => self.refresh().await?,
        };
        let value = fresh.value.clone();
        *slot = Some(fresh);
        Ok(value)
    }

    /// Obtains an access token now (cached, shared or fresh), so a check can tell token
    /// trouble from API trouble.
    pub async fn ensure_token(&self) -> Result<(), ZohoError> {
        self.access_token().await.map(|_| ())
    }

    /// Names this client's tokens in a [`TokenShare`]: one refresh token of one client on one
    /// accounts server. A digest, so the refresh token itself is never a key anywhere.
    pub fn share_key(&self) -> String {
        use sha2::Digest;
        let cfg = &self.inner.config;
        let mut digest = sha2::Sha256::new();
        for part in [
            cfg.accounts_url.as_str(),
            cfg.client_id.as_str(),
            cfg.refresh_token.expose(),
        ] {
            digest.update(part.as_bytes());
            digest.update([0u8]);
        }
        hex::encode(&digest.finalize()[..16])
    }

    /// Forgets the token only if it is still the one that failed, so a burst of 401s from
    /// requests that raced one refresh costs one refresh, not one each.
    async fn invalidate(&self, failed: &Secret) {
        let mut slot = self.inner.token.lock().await;
        if slot.as_ref().is_some_and(|c| &c.value == failed) {
            *slot = None;
        }
        if let Some(share) = &self.inner.share {
            share.forget(&self.share_key(), failed).await;
        }
    }

    async fn refresh(&self) -> Result<CachedToken, ZohoError> {
        let cfg = &self.inner.config;
        let form = [
            ("grant_type", "refresh_token"),
            ("refresh_token", cfg.refresh_token.expose()),
            ("client_id", cfg.client_id.as_str()),
            ("client_secret", cfg.client_secret.expose()),
        ];
        let resp = self
            .inner
            .http
            .post(self.inner.token_url.clone())
            .form(&form)
            .send()
            .await
            .map_err(|e| self.transport_error(e))?;
        let status = resp.status().as_u16();
        let bytes = resp.bytes().await.map_err(|e| self.transport_error(e))?;
        // Zoho Accounts reports grant errors with HTTP 200 and `{"error": "..."}`, and its token
        // limit with 400 "Access Denied"; each becomes a sentence that says what to do.
        let body = Some(accounts_answer(status, &bytes, GrantKind::RefreshToken)?);
        let Some(token) = body
            .as_ref()
            .and_then(|b| b.get("access_token"))
            .and_then(Value::as_str)
            .filter(|t| !t.is_empty())
        else {
            return Err(ZohoError::Auth {
                code: "invalid_token_response".to_string(),
                message: format!(
                    "the accounts server answered HTTP {status} without an access_token"
                ),
            });
        };
        // Zoho's tokens live an hour; a larger claim is capped so a broken or hostile accounts
        // server cannot make the deadline overflow or pin one token for ever.
        let expires_in = body
            .as_ref()
            .and_then(|b| b.get("expires_in"))
            .and_then(lenient::as_u64)
            .unwrap_or(3600)
            .min(MAX_TOKEN_LIFETIME_SECS);
        // Refresh a little early so a token never expires in flight; a tenth of the lifetime
        // (at most a minute) keeps short-lived sandbox tokens usable.
        let lifetime = Duration::from_secs(expires_in);
        let margin = (lifetime / 10).min(Duration::from_secs(60));
        tracing::debug!(expires_in, "obtained a Zoho access token");
        Ok(CachedToken {
            value: Secret::new(token),
            refresh_at: Instant::now() + lifetime - margin,
        })
    }
}
