//! `/api/v1/retention` (how long each kind of history is kept: viewer
//! reads, admin changes) and `/api/v1/gc` (a collection round, or what one
//! would delete: admin). The operations are the CLI's own
//! (`drover_app::retention`, `drover_engine::retention`), so `drover
//! retention|gc --server` answers as the local commands do.

use std::sync::atomic::{AtomicBool, Ordering};

use axum::Json;
use axum::extract::State;
use drover_app::retention::{self, RetentionError, Setting};
use drover_engine::retention::{GcPreview, GcReport, Pace, gc_preview, gc_round};
use serde::Deserialize;
use utoipa::ToSchema;

use super::ErrorBody;
use crate::auth::{Auth, Principal, need};
use crate::error::blocking;
use crate::extract::{ApiJson, ApiPath};
use crate::{ApiError, AppState};

fn retention_error(e: RetentionError) -> ApiError {
    match e {
        RetentionError::Store(e) => e.into(),
        e => ApiError::BadRequest(e.to_string()),
    }
}

/// Every kind of history and how long it is kept.
#[utoipa::path(get, path = "/api/v1/retention", tag = "retention",
    responses((status = 200, body = Vec<Object>), (status = 401, body = ErrorBody)))]
pub async fn show(
    _: Auth<need::Viewer>,
    State(state): State<AppState>,
) -> Result<Json<Vec<Setting>>, ApiError> {
    let store = state.store().clone();
    blocking(move || retention::show(&store).map(Json).map_err(retention_error)).await
}

/// How long to keep a kind: `max_age_ms` and/or `max_count`, or
/// `forever`.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct KeepRequest {
    /// Entries older than this many milliseconds go (at least 1).
    max_age_ms: Option<i64>,
    /// Entries beyond the newest this many go (at least 1).
    max_count: Option<u64>,
    /// Keep everything of this kind (without the other two).
    #[serde(default)]
    forever: bool,
}

/// Set how long a kind of history is kept (admin).
#[utoipa::path(put, path = "/api/v1/retention/{kind}", tag = "retention",
    params(("kind" = String, Path,
            description = "executions, triggers, node-history, fleet-requests or audit")),
    request_body = KeepRequest,
    responses((status = 200, body = Object, description = "the kind's setting now"),
              (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
              (status = 403, body = ErrorBody)))]
pub async fn set(
    Auth(who, ..): Auth<need::Admin>,
    State(state): State<AppState>,
    ApiPath(kind): ApiPath<String>,
    ApiJson(req): ApiJson<KeepRequest>,
) -> Result<Json<Setting>, ApiError> {
    let store = state.store().clone();
    let actor = who.actor();
    blocking(move || {
        retention::set(
            &store,
            &kind,
            req.max_age_ms,
            req.max_count,
            req.forever,
            &actor,
        )
        .map(Json)
        .map_err(retention_error)
    })
    .await
}

/// Put a kind of history back to its default retention (admin).
#[utoipa::path(delete, path = "/api/v1/retention/{kind}", tag = "retention",
    params(("kind" = String, Path,
            description = "executions, triggers, node-history, fleet-requests or audit")),
    responses((status = 200, body = Object, description = "the kind's setting now"),
              (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
              (status = 403, body = ErrorBody)))]
pub async fn reset(
    Auth(who, ..): Auth<need::Admin>,
    State(state): State<AppState>,
    ApiPath(kind): ApiPath<String>,
) -> Result<Json<Setting>, ApiError> {
    let store = state.store().clone();
    let actor = who.actor();
    blocking(move || {
        retention::reset(&store, &kind, &actor)
            .map(Json)
            .map_err(retention_error)
    })
    .await
}

/// What a collection round would delete now, deleting nothing (admin:
/// it counts over every table of history).
#[utoipa::path(get, path = "/api/v1/gc", tag = "retention",
    responses((status = 200, body = Object), (status = 401, body = ErrorBody),
              (status = 403, body = ErrorBody)))]
pub async fn preview(
    _: Auth<need::Admin>,
    State(state): State<AppState>,
) -> Result<Json<GcPreview>, ApiError> {
    let store = state.store().clone();
    blocking(move || Ok(Json(gc_preview(&store)?))).await
}

/// One round at a time through the API.
static COLLECTING: AtomicBool = AtomicBool::new(false);

/// Ends the round (whatever way the request ends).
struct Round;

impl Drop for Round {
    fn drop(&mut self) {
        COLLECTING.store(false, Ordering::Release);
    }
}

/// Delete the history past its retention now (admin), paced as `drover
/// serve`'s own collector is, so the pipeline keeps the writer; the
/// database file is not rewritten (that is `drover gc --vacuum`, on the
/// host with serve stopped). One round at a time: 409 while one runs.
#[utoipa::path(post, path = "/api/v1/gc", tag = "retention",
    responses((status = 200, body = Object), (status = 401, body = ErrorBody),
              (status = 403, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub async fn collect(
    Auth(who, ..): Auth<need::Admin>,
    State(state): State<AppState>,
) -> Result<Json<GcReport>, ApiError> {
    if COLLECTING
        .compare_exchange(false, true, Ordering::AcqRel, Ordering::Acquire)
        .is_err()
    {
        return Err(ApiError::Conflict(
            "a collection started through the API is still running; try again when it ends".into(),
        ));
    }
    let round = Round;
    let store = state.store().clone();
    log_round(&who);
    let report = blocking(move || {
        let _round = round;
        Ok(Json(gc_round(&store, Pace::BACKGROUND, false, &|| false)?))
    })
    .await?;
    Ok(report)
}

fn log_round(who: &Principal) {
    tracing::info!(actor = %who.actor(), "retention: a collection round asked through the API");
}
