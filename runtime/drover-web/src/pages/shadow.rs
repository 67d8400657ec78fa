//! A pack's shadow report: what its waiting candidate version would have
//! done with each trigger since it arrived, beside what the live version
//! did, the triggers on which it would act differently first
//! (drover-app's `shadow`). The candidate and the range are in the URL
//! (`?version=0.2.0&since=24h`).

use axum::extract::{Path, Query, State};
use axum::response::Html;
use drover_app::shadow::ShadowError;
use serde::Deserialize;

use super::{Page, non_empty};
use crate::auth::{Page as Auth, need};
use crate::{WebError, WebState};

/// The ranges offered; empty is everything the candidate saw.
const RANGES: [&str; 5] = ["1h", "6h", "24h", "7d", "30d"];

#[derive(Deserialize, Default)]
pub struct ShadowQuery {
    version: Option<String>,
    since: Option<String>,
}

pub async fn report(
    State(state): State<WebState>,
    Auth(me, ..): Auth<need::Viewer>,
    Path(name): Path<String>,
    Query(q): Query<ShadowQuery>,
) -> Page {
    let since = non_empty(q.since);
    let since_ms = match &since {
        Some(s) => {
            drover_core::now_ms()
                - drover_app::incidents::range_ms(s).map_err(WebError::BadRequest)?
        }
        None => 0,
    };
    let version = non_empty(q.version);
    let app = state.api.app.clone();
    let report = tokio::task::spawn_blocking(move || {
        let installed = app.packs()?;
        drover_app::shadow::report(app.store(), &installed, &name, version.as_deref(), since_ms)
            .map_err(|e| match e {
                ShadowError::Store(e) => e.into(),
                ShadowError::NotInstalled(_) => WebError::NotFound(e.to_string()),
                e => WebError::BadRequest(e.to_string()),
            })
    })
    .await
    .map_err(|e| WebError::Internal(e.to_string()))??;
    Ok(Html(state.templates.page(
        "shadow.html",
        &me,
        ctx! {
            page => "packs", report, since => since.unwrap_or_default(), ranges => RANGES,
        },
    )?))
}
