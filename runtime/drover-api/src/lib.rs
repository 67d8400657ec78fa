//! drover's HTTP surface. Handlers are thin: authorize, extract, call the
//! store or engine on the blocking pool, map the result; every error is an
//! [`ApiError`] with a JSON body that says what to do.
//!
//! - `GET /healthz`: liveness (anonymous);
//! - `GET /metrics`: Prometheus text (anonymous unless
//!   [`ApiConfig::metrics_auth`]);
//! - `POST /api/v1/webhooks/<pack.trigger>`: a trigger instance,
//!   authenticated by the pack's HMAC or token secret, see [`webhooks`];
//! - `/api/v1/...`: the REST API ([`v1`]), tokens or sessions with roles
//!   ([`auth`]); `GET /api/v1/openapi.json` describes it; `GET
//!   /api/v1/stream` is the event stream ([`stream`]);
//! - `GET|POST /login`, `POST /logout`, `GET /`: the login page and who is
//!   logged in ([`pages`]).
//!
//! Anything else answers 401 to the anonymous and 404 to the rest.

pub mod auth;
mod error;
pub mod extract;
pub mod pages;
pub mod server;
pub mod stream;
pub mod tls;
pub mod v1;
pub mod webhooks;

use std::sync::Arc;

use axum::Router;
use axum::extract::{FromRequestParts, Request, State};
use axum::http::request::Parts;
use axum::http::{HeaderName, HeaderValue, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use drover_app::App;
use drover_engine::{Intake, Metrics};
use drover_store::Store;

pub use error::{ApiError, blocking};

/// Largest webhook body accepted; larger ones get 413 (before they are
/// read, when their Content-Length says so).
pub const MAX_WEBHOOK_BODY: usize = 1 << 20;
/// Largest HTML form body read.
pub const MAX_FORM_BODY: usize = 64 << 10;

/// How the server was started.
#[derive(Clone, Debug, Default)]
pub struct ApiConfig {
    /// `/metrics` needs a viewer's credentials.
    pub metrics_auth: bool,
    /// Cookies get `Secure` (the server speaks TLS).
    pub secure_cookies: bool,
    /// The database file, for work that reads it on its own connections
    /// (a replay, with `cache/` and `ssh/` beside it); none: replays are
    /// refused.
    pub db: Option<std::path::PathBuf>,
}

/// What handlers share.
#[derive(Clone)]
pub struct AppState {
    /// The application: its store, fleet and plugin runtime.
    pub app: Arc<App>,
    pub intake: Arc<Intake>,
    pub metrics: Arc<Metrics>,
    pub config: Arc<ApiConfig>,
    pub events: stream::Events,
}

impl AppState {
    pub fn store(&self) -> &Store {
        self.app.store()
    }
}

/// Percent-encodes one path segment or query value of a URL (everything
/// but RFC 3986's unreserved characters), as the CLI's `--server` client
/// and the web UI's links build them.
pub fn path_segment(s: &str) -> String {
    use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
    const RESERVED: &AsciiSet = &NON_ALPHANUMERIC
        .remove(b'-')
        .remove(b'.')
        .remove(b'_')
        .remove(b'~');
    utf8_percent_encode(s, RESERVED).to_string()
}

/// The whole HTTP application.
pub fn router(state: AppState) -> Router {
    let (api, openapi) = v1::router().split_for_parts();
    let document: Arc<str> = openapi
        .to_json()
        .expect("the OpenAPI document serializes")
        .into();
    Router::new()
        .route("/healthz", get(|| async { "ok\n" }))
        .route("/metrics", get(metrics))
        .route("/api/v1/webhooks/{trigger}", post(webhooks::receive))
        .route(
            "/api/v1/openapi.json",
            get(move |_: auth::Auth<auth::need::Viewer>| async move {
                (
                    [(header::CONTENT_TYPE, "application/json")],
                    document.to_string(),
                )
            }),
        )
        .route("/", get(pages::home))
        .route("/login", get(pages::login_form).post(pages::login_submit))
        .route("/logout", post(pages::logout))
        .merge(api)
        .fallback(not_found)
        .with_state(state)
        .layer(middleware::from_fn(security_headers))
}

/// The Content Security Policy of drover's own pages (the login page);
/// the web UI sends the same (`drover_web::CONTENT_SECURITY_POLICY`).
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; script-src 'self'; \
     style-src 'self'; img-src 'self' data:; connect-src 'self'; form-action 'self'; \
     frame-ancestors 'none'; base-uri 'none'";

/// Every response, HTML or JSON: no framing, no MIME sniffing, no
/// referrer beyond this origin, and a CSP that allows this origin only
/// (a response that set its own keeps it).
async fn security_headers(req: Request, next: Next) -> Response {
    let mut resp = next.run(req).await;
    let h = resp.headers_mut();
    for (name, value) in [
        (header::CONTENT_SECURITY_POLICY, CONTENT_SECURITY_POLICY),
        (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        (header::X_FRAME_OPTIONS, "DENY"),
        (header::REFERRER_POLICY, "same-origin"),
    ] {
        h.entry(name)
            .or_insert_with(|| HeaderValue::from_static(value));
    }
    resp
}

/// Unknown paths: 401 to the anonymous (nothing is learnt without
/// credentials), 404 otherwise.
async fn not_found(_: auth::Auth<auth::need::Viewer>) -> ApiError {
    ApiError::NotFound("no such endpoint; GET /api/v1/openapi.json lists them".into())
}

async fn metrics(
    State(state): State<AppState>,
    mut parts: Parts,
) -> Result<impl IntoResponse, ApiError> {
    if state.config.metrics_auth {
        auth::Auth::<auth::need::Viewer>::from_request_parts(&mut parts, &state).await?;
    }
    let store = state.store().clone();
    let (queued, running) = blocking(move || Ok(store.queue_depth()?)).await?;
    Ok((
        [(
            HeaderName::from_static("content-type"),
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        state.metrics.render(queued, running),
    ))
}
