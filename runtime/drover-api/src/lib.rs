//! drover's HTTP surface. Handlers are thin: extract, call the engine,
//! map the result; every error is an [`ApiError`] with a JSON body that
//! says what to do. SQLite is never touched on an async worker: store
//! calls hop to the blocking pool.
//!
//! - `GET /healthz`: liveness;
//! - `GET /metrics`: Prometheus text (triggers, enforcements, executions
//!   by status, latency, queue depth);
//! - `POST /api/v1/webhooks/<pack.trigger>`: a trigger instance, see
//!   [`webhooks`].

mod error;
pub mod webhooks;

use std::sync::Arc;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::routing::{get, post};
use drover_engine::{Intake, Metrics};
use drover_store::Store;

pub use error::ApiError;

/// Largest webhook body accepted; larger ones get 413.
pub const MAX_WEBHOOK_BODY: usize = 1 << 20;

/// What handlers share.
#[derive(Clone)]
pub struct AppState {
    pub store: Store,
    pub intake: Arc<Intake>,
    pub metrics: Arc<Metrics>,
}

/// The whole HTTP application.
pub fn router(state: AppState) -> Router {
    Router::new()
        .route("/healthz", get(|| async { "ok\n" }))
        .route("/metrics", get(metrics))
        .route(
            "/api/v1/webhooks/{trigger}",
            post(webhooks::receive).layer(DefaultBodyLimit::max(MAX_WEBHOOK_BODY)),
        )
        .with_state(state)
}

async fn metrics(
    axum::extract::State(state): axum::extract::State<AppState>,
) -> Result<([(axum::http::HeaderName, &'static str); 1], String), ApiError> {
    let store = state.store.clone();
    let (queued, running) = tokio::task::spawn_blocking(move || store.queue_depth())
        .await
        .map_err(|e| ApiError::Internal(e.to_string()))?
        .map_err(|e| ApiError::Internal(e.to_string()))?;
    Ok((
        [(
            axum::http::header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        state.metrics.render(queued, running),
    ))
}
