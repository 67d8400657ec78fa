//! Incidents: remediations with one cause shown as one incident with its
//! members (drover-app's `incidents`): the requests a gate such as the
//! storm brake held or refused, and runs that failed the same way. The
//! range is in the URL (`?since=24h`).

use axum::extract::{Query, State};
use axum::response::Html;
use serde::Deserialize;

use super::{Page, non_empty};
use crate::auth::{Page as Auth, need};
use crate::{WebError, WebState};

/// The ranges offered; any duration from a minute to 30 days is accepted.
const RANGES: [&str; 5] = ["1h", "6h", "24h", "7d", "30d"];
/// Members listed per incident (all are counted; the CLI and the API list
/// them all).
const SHOWN: usize = 20;

#[derive(Deserialize, Default)]
pub struct RangeQuery {
    since: Option<String>,
}

pub async fn list(
    State(state): State<WebState>,
    Auth(me, ..): Auth<need::Viewer>,
    Query(q): Query<RangeQuery>,
) -> Page {
    let since = non_empty(q.since).unwrap_or_else(|| "24h".to_owned());
    let back = drover_app::incidents::range_ms(&since).map_err(WebError::BadRequest)?;
    let now = drover_core::now_ms();
    let incidents = state
        .blocking(move |store| {
            drover_app::incidents::incidents(
                store,
                now - back,
                now + 1,
                now,
                drover_app::incidents::Depth::PAGE,
            )
            .map_err(|e| WebError::Internal(e.to_string()))
        })
        .await?;
    Ok(Html(state.templates.page(
        "incidents.html",
        &me,
        ctx! {
            page => "incidents", incidents => incidents.items,
            truncated => incidents.truncated, since, ranges => RANGES, shown => SHOWN,
        },
    )?))
}
