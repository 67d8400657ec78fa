//! Read-only views of what happened: `/api/v1/triggers` (instances with
//! the rules they fired or that were suppressed), `/api/v1/audit` (every
//! allowed and denied capability use) and `/api/v1/sensors`.

use axum::Json;
use axum::extract::State;
use drover_core::Decision;
use drover_store::AuditFilter;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::{IntoParams, ToSchema};

use super::ErrorBody;
use crate::auth::{Auth, need};
use crate::error::blocking;
use crate::extract::ApiQuery;
use crate::v1::executions::{internal, parse_id, parse_limit};
use crate::{ApiError, AppState};

/// Rows as JSON objects, for the lists whose items are documented as
/// `Object`.
fn json_rows<T: Serialize>(rows: &[T]) -> Result<Vec<Value>, ApiError> {
    rows.iter()
        .map(serde_json::to_value)
        .collect::<Result<_, _>>()
        .map_err(internal)
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct TriggerQuery {
    /// Only instances of this trigger type (`pack.name`).
    #[serde(rename = "type")]
    #[param(rename = "type")]
    trigger_type: Option<String>,
    /// The `next_before` of the previous page.
    before: Option<String>,
    /// Page size, 1 to 1000 (default 50).
    limit: Option<u32>,
}

/// A page of trigger instances, newest first.
#[derive(Serialize, ToSchema)]
pub struct TriggerList {
    /// Each instance (id, trigger_type, payload, source, received_at_ms,
    /// state) with its enforcements (rule, state scheduled / failed /
    /// suppressed, execution or reason).
    #[schema(value_type = Vec<Object>)]
    items: Vec<Value>,
    next_before: Option<String>,
}

/// Trigger instances and what the rules made of them.
#[utoipa::path(get, path = "/api/v1/triggers", tag = "events", params(TriggerQuery),
    responses((status = 200, body = TriggerList), (status = 400, body = ErrorBody),
              (status = 401, body = ErrorBody)))]
pub async fn triggers(
    _: Auth<need::Viewer>,
    State(state): State<AppState>,
    ApiQuery(q): ApiQuery<TriggerQuery>,
) -> Result<Json<TriggerList>, ApiError> {
    let limit = parse_limit(q.limit)?;
    let store = state.store().clone();
    let rows = blocking(move || {
        Ok(store.list_triggers(q.trigger_type.as_deref(), q.before.as_deref(), limit)?)
    })
    .await?;
    let next_before = (rows.len() == limit as usize)
        .then(|| rows.last().map(|t| t.instance.id.clone()))
        .flatten();
    Ok(Json(TriggerList {
        items: json_rows(&rows)?,
        next_before,
    }))
}

/// One trigger instance's trace: each rule of its type, matched or not and
/// why, and what the matches did.
#[derive(Serialize, ToSchema)]
pub struct TriggerTrace {
    /// The instance (id, trigger_type, payload, source, received_at_ms).
    #[schema(value_type = Object)]
    trigger: Value,
    /// `pending` or `processed`.
    state: String,
    /// Per rule: `rule`, `enabled` (null: no longer installed), `verdict`
    /// (scheduled / failed / suppressed as recorded; no_match /
    /// matches_now / disabled / pending / unreadable evaluated now),
    /// `why`, `misses` (criteria that did not pass), `enforcement`, and
    /// `execution` with its `effects` (capability, target, decision, gate,
    /// reason, planned).
    #[schema(value_type = Vec<Object>)]
    rules: Vec<Value>,
}

/// The trace of one trigger instance: from the event to the rules it
/// matched (or why not), the enforcements, executions and their effects.
#[utoipa::path(get, path = "/api/v1/triggers/{id}", tag = "events",
    params(("id" = String, Path, description = "the trigger instance's id")),
    responses((status = 200, body = TriggerTrace), (status = 401, body = ErrorBody),
              (status = 404, body = ErrorBody)))]
pub async fn trigger(
    _: Auth<need::Viewer>,
    State(state): State<AppState>,
    axum::extract::Path(id): axum::extract::Path<String>,
) -> Result<Json<TriggerTrace>, ApiError> {
    let store = state.store().clone();
    let trace = blocking(move || {
        drover_app::trace::trace(&store, &id)?
            .ok_or_else(|| ApiError::NotFound(format!("no trigger instance {id:?}")))
    })
    .await?;
    Ok(Json(TriggerTrace {
        trigger: serde_json::to_value(&trace.trigger).map_err(internal)?,
        state: trace.state,
        rules: json_rows(&trace.rules)?,
    }))
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct IncidentQuery {
    /// How far back: a duration from `1m` to `30d` (default `24h`).
    since: Option<String>,
}

/// Related incidents in a range, the most recent first.
#[derive(Serialize, ToSchema)]
pub struct IncidentList {
    /// Each incident: `id`, `kind` (held / failed), `gate` or `action`,
    /// `title`, `cause`, `first_ms`, `last_ms`, `ongoing`, `nodes`,
    /// `rules` and `statuses` (name, count), and its `members` (at_ms,
    /// node, request_id, execution_id, root, rule, trigger_id, status,
    /// detail).
    #[schema(value_type = Vec<Object>)]
    items: Vec<Value>,
    /// More fleet requests or failed runs were in the range than are read
    /// (1,000 of each kind, the newest): counts are lower than the truth.
    truncated: bool,
}

/// Remediations with one cause grouped into incidents: requests a gate
/// (storm brake, pause, window, intervention) held or refused, and runs
/// that failed the same way.
#[utoipa::path(get, path = "/api/v1/incidents", tag = "events", params(IncidentQuery),
    responses((status = 200, body = IncidentList), (status = 400, body = ErrorBody),
              (status = 401, body = ErrorBody)))]
pub async fn incidents(
    _: Auth<need::Viewer>,
    State(state): State<AppState>,
    ApiQuery(q): ApiQuery<IncidentQuery>,
) -> Result<Json<IncidentList>, ApiError> {
    let back = drover_app::incidents::range_ms(q.since.as_deref().unwrap_or("24h"))
        .map_err(ApiError::BadRequest)?;
    let store = state.store().clone();
    let now = drover_core::now_ms();
    let found = blocking(move || {
        drover_app::incidents::incidents(
            &store,
            now - back,
            now + 1,
            now,
            drover_app::incidents::Depth::PAGE,
        )
        .map_err(|e| ApiError::Internal(e.to_string()))
    })
    .await?;
    Ok(Json(IncidentList {
        truncated: found.truncated,
        items: json_rows(&found.items)?,
    }))
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct AuditQuery {
    /// Only records of this execution.
    execution: Option<String>,
    /// Only records of this pack (`NAME` or `NAME@VERSION`).
    pack: Option<String>,
    /// `allowed` or `denied`.
    decision: Option<String>,
    /// Only records about this target (a node, a URL, a key...).
    target: Option<String>,
    /// The `next_before` of the previous page.
    before: Option<i64>,
    /// Page size, 1 to 1000 (default 50).
    limit: Option<u32>,
}

#[derive(Serialize, ToSchema)]
pub struct AuditList {
    /// Records: at_ms, execution_id, actor, pack, plugin, capability,
    /// target, decision, reason, dry_run.
    #[schema(value_type = Vec<Object>)]
    items: Vec<Value>,
    next_before: Option<i64>,
}

/// The audit log, newest first.
#[utoipa::path(get, path = "/api/v1/audit", tag = "events", params(AuditQuery),
    responses((status = 200, body = AuditList), (status = 400, body = ErrorBody),
              (status = 401, body = ErrorBody)))]
pub async fn audit(
    _: Auth<need::Viewer>,
    State(state): State<AppState>,
    ApiQuery(q): ApiQuery<AuditQuery>,
) -> Result<Json<AuditList>, ApiError> {
    let decision = q
        .decision
        .as_deref()
        .map(|d| {
            Decision::parse(d).ok_or_else(|| {
                ApiError::BadRequest(format!(
                    "unknown decision {d:?}: expected allowed or denied"
                ))
            })
        })
        .transpose()?;
    let filter = AuditFilter {
        execution_id: q.execution.as_deref().map(parse_id).transpose()?,
        pack: q.pack,
        decision,
        target: q.target,
        before: q.before,
        limit: parse_limit(q.limit)?,
    };
    let limit = filter.limit as usize;
    let store = state.store().clone();
    let rows = blocking(move || Ok(store.list_audit(&filter)?)).await?;
    let next_before = (rows.len() == limit)
        .then(|| rows.last().map(|r| r.id))
        .flatten();
    Ok(Json(AuditList {
        items: json_rows(&rows)?,
        next_before,
    }))
}

/// Sensors' state, last error and counts, as `drover serve` stores them.
#[utoipa::path(get, path = "/api/v1/sensors", tag = "events",
    responses((status = 200, body = Vec<Object>), (status = 401, body = ErrorBody)))]
pub async fn sensors(
    _: Auth<need::Viewer>,
    State(state): State<AppState>,
) -> Result<Json<Value>, ApiError> {
    let store = state.store().clone();
    let all = blocking(move || Ok(store.list_sensor_status()?)).await?;
    serde_json::to_value(all).map(Json).map_err(internal)
}
