//! `/ui/packs/{name}/replay`: stored trigger instances through a candidate
//! version of a pack as dry runs, next to what the live version did
//! (`drover replay`; drover-engine's `replay`, run as the API runs it:
//! operator, at most 10000 triggers, one replay at a time per server).
//! GET shows the form (the version waiting in shadow mode by default);
//! POST runs it and shows the summary first, then the triggers that would
//! act differently, then what was approximated.

use axum::extract::{Path, Query, State};
use axum::response::Html;
use drover_api::ApiError;
use drover_api::v1::replay::{self as api_replay, ReplayRequest};
use drover_engine::replay::Replay;
use serde::{Deserialize, Serialize};

use super::{Page, non_empty};
use crate::auth::{Page as Auth, Post, need};
use crate::{WebError, WebState};

/// The windows offered.
const RANGES: [&str; 5] = ["1h", "6h", "24h", "7d", "30d"];

#[derive(Deserialize, Default)]
pub struct ReplayQuery {
    version: Option<String>,
}

#[derive(Deserialize, Default)]
pub struct ReplayForm {
    #[serde(default)]
    version: String,
    #[serde(default)]
    since: String,
    #[serde(default)]
    limit: String,
    #[serde(default)]
    all: Option<String>,
}

/// What the form shows (as sent, or the defaults).
#[derive(Serialize)]
struct Fields {
    version: String,
    since: String,
    limit: String,
    all: bool,
}

/// One listed trigger, its differences as text.
#[derive(Serialize)]
struct Row {
    id: String,
    trigger_type: String,
    received_at_ms: i64,
    node: String,
    differs: bool,
    said: Vec<String>,
}

fn web_error(e: ApiError) -> WebError {
    match e {
        ApiError::BadRequest(m) => WebError::BadRequest(m),
        ApiError::NotFound(m) => WebError::NotFound(m),
        ApiError::Conflict(m) => WebError::Conflict(m),
        ApiError::Internal(m) => WebError::Internal(m),
        e => WebError::BadRequest(e.to_string()),
    }
}

async fn candidate(state: &WebState, name: &str) -> Result<Option<String>, WebError> {
    let api = state.api.clone();
    let n = name.to_owned();
    tokio::task::spawn_blocking(move || api_replay::waiting_candidate(&api, &n))
        .await
        .map_err(|e| WebError::Internal(e.to_string()))?
        .map_err(web_error)
}

async fn render(
    state: &WebState,
    me: &drover_api::auth::Principal,
    name: String,
    fields: Fields,
    result: Option<Replay>,
) -> Page {
    let rows: Vec<Row> = result
        .as_ref()
        .map(|r| {
            r.triggers
                .iter()
                .map(|t| Row {
                    id: t.id.clone(),
                    trigger_type: t.trigger_type.clone(),
                    received_at_ms: t.received_at_ms,
                    node: t
                        .payload
                        .get("node")
                        .and_then(|n| n.as_str())
                        .unwrap_or_default()
                        .to_owned(),
                    differs: t.differs,
                    said: t.differences.iter().map(ToString::to_string).collect(),
                })
                .collect()
        })
        .unwrap_or_default();
    Ok(Html(state.templates.page(
        "replay.html",
        me,
        ctx! {
            page => "packs",
            name,
            fields,
            ranges => RANGES,
            result,
            rows,
            max_limit => api_replay::API_MAX_LIMIT,
        },
    )?))
}

/// The form: the waiting candidate, the last 24 hours, 1000 triggers.
pub async fn form(
    State(state): State<WebState>,
    Auth(me, ..): Auth<need::Viewer>,
    Path(name): Path<String>,
    Query(q): Query<ReplayQuery>,
) -> Page {
    let version = match non_empty(q.version) {
        Some(v) => v,
        None => candidate(&state, &name).await?.unwrap_or_default(),
    };
    let fields = Fields {
        version,
        since: "24h".into(),
        limit: drover_engine::replay::DEFAULT_LIMIT.to_string(),
        all: false,
    };
    render(&state, &me, name, fields, None).await
}

/// Runs the replay (operator) and shows its result below the form.
pub async fn run(
    State(state): State<WebState>,
    Path(name): Path<String>,
    Post(me, form, ..): Post<need::Operator, ReplayForm>,
) -> Page {
    let limit = match form.limit.trim() {
        "" => None,
        l => Some(l.parse::<usize>().map_err(|_| {
            WebError::BadRequest(format!(
                "limit {l:?}: give a number of triggers, 1 to {}",
                api_replay::API_MAX_LIMIT
            ))
        })?),
    };
    let since = form.since.trim().to_owned();
    if !since.is_empty() && !RANGES.contains(&since.as_str()) {
        return Err(WebError::BadRequest(format!(
            "since {since:?}: choose one of {}",
            RANGES.join(", ")
        )));
    }
    let request = ReplayRequest {
        version: non_empty(Some(form.version.clone())),
        since: non_empty(Some(since.clone())),
        limit,
        all: form.all.is_some(),
        ..ReplayRequest::default()
    };
    let waiting = if request.version.is_none() {
        candidate(&state, &name).await?
    } else {
        None
    };
    let spec = request.spec(&name, || waiting).map_err(web_error)?;
    let fields = Fields {
        version: spec.version.clone(),
        since,
        limit: spec.limit.to_string(),
        all: spec.all,
    };
    let result = api_replay::run(&state.api, spec).await.map_err(web_error)?;
    render(&state, &me, name, fields, Some(result)).await
}
