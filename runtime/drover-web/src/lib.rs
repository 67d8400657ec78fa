//! drover's operator web UI, served under `/ui` by `drover serve`.
//!
//! Pages are rendered on the server from the minijinja templates in the
//! repository's `web/templates/`; live parts (the executions list, an
//! execution while it runs, the fleet grid, the dashboard, the pending
//! inquiries) re-fetch their fragment when the server-sent event stream at
//! `/ui/events` says that something changed, through htmx and its SSE extension. There is no
//! JavaScript build step: templates, CSS and the two vendored htmx files
//! (`web/static/`) are compiled into the binary, and the Content Security
//! Policy allows nothing but this origin.
//!
//! Handlers are thin: they read through `drover-store` on the blocking
//! pool (never on an async worker), shape the rows for a template and
//! render it. Changes (run, grant, revoke, promote, enable) go through the
//! same store calls and checks as the CLI; answering an inquiry goes
//! through drover-api's own function, so its checks are the API's.
//!
//! - [`assets`]: the embedded static files;
//! - [`templates`]: the template environment and its filters;
//! - [`live`]: the change feed behind `/ui/events`;
//! - [`pages`]: one module per page.

/// Page data as JSON, written like minijinja's `context!`: `ctx! { rows,
/// page => "executions", ..more }` (`more` a JSON object merged in).
/// Values are serialized with serde, which the page types all derive.
macro_rules! ctx {
    ($($key:ident $(=> $value:expr)?),* $(, .. $merge:expr)* $(,)?) => {{
        #[allow(unused_mut)]
        let mut map = serde_json::Map::new();
        $(
            map.insert(
                stringify!($key).to_owned(),
                $crate::templates::to_json(&ctx!(@value $key $(=> $value)?)),
            );
        )*
        $(
            if let serde_json::Value::Object(more) = $merge {
                for (k, v) in more {
                    map.entry(k).or_insert(v);
                }
            }
        )*
        serde_json::Value::Object(map)
    }};
    (@value $key:ident) => { $key };
    (@value $key:ident => $value:expr) => { $value };
}

pub mod assets;
pub mod auth;
mod error;
pub mod live;
mod pages;
pub mod templates;

use std::sync::Arc;

use axum::Router;
use axum::extract::Request;
use axum::http::{HeaderValue, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use drover_store::Store;

pub use error::WebError;

/// What the UI's handlers share.
#[derive(Clone)]
pub struct WebState {
    /// drover-api's state: its sessions, roles and CSRF checks guard every
    /// page.
    pub api: drover_api::AppState,
    pub store: Store,
    pub templates: Arc<templates::Templates>,
    pub feed: live::Feed,
}

impl WebState {
    /// Loads the templates and starts the change feed (a thread that
    /// polls the store; it stops when the last clone of the state is
    /// dropped).
    pub fn new(api: drover_api::AppState) -> Result<WebState, WebError> {
        let store = api.store().clone();
        Ok(WebState {
            templates: Arc::new(templates::Templates::load()?),
            feed: live::Feed::start(store.clone()),
            store,
            api,
        })
    }

    /// Runs a store read (or write) on the blocking pool.
    pub(crate) async fn blocking<R, F>(&self, f: F) -> Result<R, WebError>
    where
        F: FnOnce(&Store) -> Result<R, WebError> + Send + 'static,
        R: Send + 'static,
    {
        let store = self.store.clone();
        tokio::task::spawn_blocking(move || f(&store))
            .await
            .map_err(|e| WebError::Internal(e.to_string()))?
    }
}

/// The policy every UI response carries: this origin only, no inline
/// scripts or styles, no framing.
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; script-src 'self'; \
     style-src 'self'; img-src 'self' data:; connect-src 'self'; form-action 'self'; \
     frame-ancestors 'none'; base-uri 'none'";

/// The UI: pages and fragments under `/ui/` (`/` and `/login` belong to
/// drover-api; a login lands on `/ui/`).
pub fn router(state: WebState) -> Router {
    let ui = Router::new()
        .route("/", get(pages::dashboard::page))
        .route("/dashboard/live", get(pages::dashboard::live))
        .route("/executions", get(pages::executions::list))
        .route("/executions/rows", get(pages::executions::rows))
        .route("/executions/{id}", get(pages::executions::detail))
        .route("/executions/{id}/live", get(pages::executions::detail_live))
        .route(
            "/executions/{id}/children",
            get(pages::executions::children),
        )
        .route("/executions/{id}/pause", post(pages::run_control::pause))
        .route("/executions/{id}/resume", post(pages::run_control::resume))
        .route("/executions/{id}/cancel", post(pages::run_control::cancel))
        .route("/executions/{id}/rerun", post(pages::run_control::rerun))
        .route(
            "/executions/{id}/run-again",
            post(pages::run_control::run_again),
        )
        .route("/run", get(pages::run::form).post(pages::run::submit))
        .route("/incidents", get(pages::incidents::list))
        .route("/triggers", get(pages::triggers::list))
        .route("/triggers/{id}", get(pages::triggers::detail))
        .route("/rules", get(pages::rules::list))
        .route("/rules/{reference}", get(pages::rules::detail))
        .route(
            "/rules/{reference}/enabled",
            post(pages::rules::set_enabled),
        )
        .route("/rules/{reference}/test", post(pages::rules::test))
        .route("/packs", get(pages::packs::list))
        .route("/packs/{name}", get(pages::packs::detail))
        .route("/packs/{name}/grant", post(pages::packs::grant))
        .route("/packs/{name}/revoke", post(pages::packs::revoke))
        .route("/packs/{name}/promote", post(pages::packs::promote))
        .route("/packs/{name}/shadow", get(pages::shadow::report))
        .route("/packs/{name}/rollback", post(pages::packs::rollback))
        .route("/packs/{name}/diff", get(pages::packs::diff))
        .route(
            "/packs/{name}/replay",
            get(pages::replay::form).post(pages::replay::run),
        )
        .route("/fleet", get(pages::fleet::page))
        .route("/fleet/grid", get(pages::fleet::grid))
        .route("/fleet/changes", get(pages::fleet::changes))
        .route("/fleet/change", post(pages::fleet::change))
        .route("/fleet/brake/release", post(pages::fleet::release_brake))
        .route("/fleet/pause", post(pages::fleet::pause))
        .route("/fleet/resume", post(pages::fleet::resume))
        .route("/fleet/requests/{id}/cancel", post(pages::fleet::cancel))
        .route("/fleet/windows", post(pages::fleet::add_window))
        .route(
            "/fleet/windows/{name}/remove",
            post(pages::fleet::remove_window),
        )
        .route("/nodes/{name}", get(pages::nodes::page))
        .route("/inquiries", get(pages::inquiries::list))
        .route("/inquiries/live", get(pages::inquiries::live))
        .route("/inquiries/{id}", post(pages::inquiries::respond))
        .route("/audit", get(pages::audit::list))
        .route("/changes", get(pages::changes::list))
        .route("/events", get(live::events))
        .route("/static/{file}", get(assets::serve))
        .fallback(pages::not_found)
        .with_state(state);
    Router::new()
        .route("/ui", get(|| async { Redirect::to("/ui/") }))
        .route("/favicon.ico", get(assets::favicon))
        .nest("/ui/", ui)
        .layer(middleware::from_fn(security_headers))
}

/// Adds the CSP and its companions to every UI response.
async fn security_headers(req: Request, next: Next) -> Response {
    let mut resp = next.run(req).await.into_response();
    let h = resp.headers_mut();
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CONTENT_SECURITY_POLICY),
    );
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("same-origin"),
    );
    // Pages show live state: never from a cache (`web/static/app.js` also
    // closes a hidden page's event stream, see there).
    if !h.contains_key(header::CACHE_CONTROL) {
        h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    resp
}
