//! What stands in front of every handler, in Zoho's order: the load balancer (faults), then for
//! `/api/v1` authentication, organisation, the concurrency cap, the credit budget and the
//! configured latency. Every `/api/v1` answer carries the two `X-Rate-Limit-*-v3` headers.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use axum::body::Body;
use axum::extract::{MatchedPath, Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use crate::accounts::TokenCheck;
use crate::app::{App, lock};
use crate::faults::FaultKind;
use crate::input::is_id;
use crate::limits::cost;
use crate::urlencoded::parse_pairs;
use crate::zoho_error::ApiError;

const WEIGHT: &str = "x-rate-limit-request-weight-v3";
const REMAINING: &str = "x-rate-limit-remaining-v3";

pub(crate) async fn gateway(State(app): State<Arc<App>>, req: Request, next: Next) -> Response {
    let path = req.uri().path().to_owned();
    if path.starts_with("/_sandbox") {
        return next.run(req).await;
    }
    let method = req.method().as_str().to_owned();
    let route = match req.extensions().get::<MatchedPath>() {
        Some(m) => format!("{method} {}", m.as_str()),
        None => format!("{method} <unmatched>"),
    };
    let fault = lock(&app.faults).decide(&method, &path);
    if let Some(kind) = &fault {
        let name = match kind {
            FaultKind::Status { .. } => "status",
            FaultKind::Latency { .. } => "latency",
            FaultKind::Drop => "drop",
            FaultKind::Malformed => "malformed",
        };
        *lock(&app.stats)
            .faults_injected
            .entry(name.to_owned())
            .or_default() += 1;
    }
    let resp = match fault {
        Some(FaultKind::Status { status, html }) => fault_status(status, html),
        Some(FaultKind::Latency { ms }) => {
            tokio::time::sleep(Duration::from_millis(ms)).await;
            serve(&app, req, next).await
        }
        Some(FaultKind::Drop) => broken_connection(serve(&app, req, next).await),
        Some(FaultKind::Malformed) => truncated_body(serve(&app, req, next).await).await,
        None => serve(&app, req, next).await,
    };
    lock(&app.stats).record(route, resp.status().as_u16());
    resp
}

async fn serve(app: &Arc<App>, req: Request, next: Next) -> Response {
    if req.uri().path().starts_with("/api/v1") {
        api(app, req, next).await
    } else {
        next.run(req).await
    }
}

/// Releases the concurrency slot however the request ends (including a dropped connection).
struct InFlight(Arc<App>);

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.in_flight.fetch_sub(1, Ordering::SeqCst);
    }
}

async fn api(app: &Arc<App>, req: Request, next: Next) -> Response {
    let template = req
        .extensions()
        .get::<MatchedPath>()
        .map(|m| m.as_str().to_owned());
    let query = parse_pairs(req.uri().query().unwrap_or("")).unwrap_or_default();
    if let Err(e) = authenticate(app, &req, template.as_deref(), &query) {
        let remaining = lock(&app.limits).remaining();
        return with_rate_headers(e.into_response(), 0, remaining);
    }

    let max = lock(&app.limits).max_concurrency;
    let before = app.in_flight.fetch_add(1, Ordering::SeqCst);
    let _slot = InFlight(app.clone());
    if before >= max {
        lock(&app.stats).rate_limited_concurrency += 1;
        let remaining = lock(&app.limits).remaining();
        return with_rate_headers(ApiError::too_many_requests().into_response(), 0, remaining);
    }

    let from = query
        .iter()
        .find(|(k, _)| k == "from")
        .and_then(|(_, v)| v.parse::<i64>().ok());
    let weight = cost(req.method().as_str(), template.as_deref(), from);
    let charged = lock(&app.limits).charge(weight);
    let remaining = match charged {
        Ok(r) => {
            lock(&app.stats).credits_charged += weight;
            r
        }
        Err(retry_after) => {
            lock(&app.stats).rate_limited_threshold += 1;
            return with_rate_headers(
                ApiError::threshold_exceeded(retry_after).into_response(),
                0,
                0,
            );
        }
    };

    let latency = lock(&app.limits).latency;
    if !latency.is_zero() {
        tokio::time::sleep(latency).await;
    }
    with_rate_headers(next.run(req).await, weight, remaining)
}

fn authenticate(
    app: &App,
    req: &Request,
    template: Option<&str>,
    query: &[(String, String)],
) -> Result<(), ApiError> {
    let Some(auth) = req.headers().get(header::AUTHORIZATION) else {
        return Err(ApiError::unauthorized());
    };
    let auth = auth.to_str().map_err(|_| ApiError::invalid_oauth())?.trim();
    let (scheme, token) = auth.split_once(' ').unwrap_or((auth, ""));
    if !scheme.eq_ignore_ascii_case("Zoho-oauthtoken") || token.trim().is_empty() {
        return Err(ApiError::invalid_oauth());
    }
    let scopes = match lock(&app.tokens).check(token.trim()) {
        TokenCheck::Valid(scopes) => scopes,
        TokenCheck::Invalid => return Err(ApiError::invalid_oauth()),
    };
    // Unknown routes fall through to 404 once the caller is authenticated; the organisation
    // listing is the one route that needs no orgId.
    let Some(template) = template else {
        return Ok(());
    };
    if !scopes.allows(req.method().as_str(), template) {
        return Err(crate::accounts::scope_mismatch());
    }
    if template == "/api/v1/organizations" {
        return Ok(());
    }
    let org = req
        .headers()
        .get("orgId")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
        .or_else(|| {
            query
                .iter()
                .find(|(k, _)| k == "orgId")
                .map(|(_, v)| v.clone())
        });
    match org {
        // The reference quotes no live answer for a missing orgId; OAS declares it a required
        // parameter, and Zoho reports missing required parameters as 422 UNPROCESSABLE_ENTITY.
        None => Err(ApiError::unprocessable(
            "The mandatory parameter 'orgId' is missing in the input.",
        )),
        Some(o) if !is_id(o.trim()) => Err(ApiError::invalid_param("orgId")),
        Some(o) if o.trim() != app.credentials.org_id => Err(ApiError::org_mismatch()),
        Some(_) => Ok(()),
    }
}

fn with_rate_headers(mut resp: Response, weight: u64, remaining: u64) -> Response {
    let h = resp.headers_mut();
    h.insert(WEIGHT, HeaderValue::from(weight));
    h.insert(REMAINING, HeaderValue::from(remaining));
    resp
}

fn fault_status(status: u16, html: bool) -> Response {
    let code = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    if html {
        let page = format!(
            "<html>\r\n<head><title>{0} {1}</title></head>\r\n<body>\r\n<center><h1>{0} {1}</h1></center>\r\n<hr><center>ZGS</center>\r\n</body>\r\n</html>\r\n",
            code.as_u16(),
            code.canonical_reason().unwrap_or("Error")
        );
        (code, [(header::CONTENT_TYPE, "text/html")], page).into_response()
    } else {
        ApiError::internal(code).into_response()
    }
}

/// Announces a body, then fails the stream: hyper aborts the connection mid-response.
fn broken_connection(resp: Response) -> Response {
    let (mut parts, _) = resp.into_parts();
    parts
        .headers
        .insert(header::CONTENT_LENGTH, HeaderValue::from_static("4096"));
    let stream = futures::stream::once(async {
        Err::<axum::body::Bytes, std::io::Error>(std::io::Error::new(
            std::io::ErrorKind::ConnectionReset,
            "sandbox fault: connection dropped",
        ))
    });
    Response::from_parts(parts, Body::from_stream(stream))
}

/// The real answer cut in half (or a dangling fragment when there was no body), served as 200 JSON.
async fn truncated_body(resp: Response) -> Response {
    let (mut parts, body) = resp.into_parts();
    let bytes = axum::body::to_bytes(body, usize::MAX)
        .await
        .unwrap_or_default();
    let cut = if bytes.len() > 2 {
        bytes.slice(..bytes.len() / 2)
    } else {
        axum::body::Bytes::from_static(b"{\"data\":[{\"id\":\"")
    };
    parts.status = StatusCode::OK;
    parts.headers.remove(header::CONTENT_LENGTH);
    parts.headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json;charset=UTF-8"),
    );
    Response::from_parts(parts, Body::from(cut))
}
