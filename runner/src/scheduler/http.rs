//! `/healthz` and `/metrics` for orchestrators and Prometheus.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use axum::routing::get;
use tokio_util::sync::CancellationToken;

use super::metrics::Metrics;

/// Binds `addr` (port 0 picks a free one) and serves until `stop` is cancelled. Returns the bound
/// address so the caller can log it.
pub async fn serve(
    addr: SocketAddr,
    metrics: Arc<Metrics>,
    stop: CancellationToken,
) -> std::io::Result<SocketAddr> {
    let listener = tokio::net::TcpListener::bind(addr).await?;
    let bound = listener.local_addr()?;
    let app = Router::new()
        .route("/healthz", get(healthz))
        .route("/metrics", get(metrics_text))
        .with_state(metrics);
    tokio::spawn(async move {
        let served = axum::serve(listener, app)
            .with_graceful_shutdown(async move { stop.cancelled().await })
            .await;
        if let Err(e) = served {
            tracing::warn!(error = %e, "the metrics endpoint stopped");
        }
    });
    Ok(bound)
}

/// 503 while draining; otherwise 200, with `degraded: ...` instead of `ok` after a refused
/// reload: the previous workflows still run, so the process is alive and restarting it would not
/// help (it would refuse the same files at start), but the operator must see it.
async fn healthz(State(metrics): State<Arc<Metrics>>) -> impl IntoResponse {
    if metrics.is_draining() {
        (StatusCode::SERVICE_UNAVAILABLE, "draining\n".to_owned())
    } else if let Some(reason) = metrics.degraded() {
        (
            StatusCode::OK,
            format!(
                "degraded: the last reload was refused, the previous workflows stay scheduled: {reason}\n"
            ),
        )
    } else {
        (StatusCode::OK, "ok\n".to_owned())
    }
}

async fn metrics_text(State(metrics): State<Arc<Metrics>>) -> impl IntoResponse {
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        metrics.render(),
    )
}
