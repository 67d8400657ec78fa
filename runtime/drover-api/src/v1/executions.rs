//! `/api/v1/executions`: list (keyset pages, filters), one execution with
//! its workflow tree and plan, and queueing an action or workflow
//! (operator).

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use drover_core::{ExecutionId, ExecutionRequest, now_ms};
use drover_host::RunError;
use drover_pack::ActionRef;
use drover_store::Store;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use utoipa::{IntoParams, ToSchema};

use super::ErrorBody;
use crate::auth::{Auth, need};
use crate::error::blocking;
use crate::extract::{ApiJson, ApiPath, ApiQuery};
use crate::{ApiError, AppState};

/// Default and largest page sizes.
const DEFAULT_LIMIT: u32 = 50;
const MAX_LIMIT: u32 = 1000;
/// Most levels of subworkflows in a tree.
const MAX_TREE_DEPTH: usize = 16;

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ListQuery {
    /// The `next_after` of the previous page: executions older than it.
    after: Option<String>,
    /// Page size, 1 to 1000 (default 50).
    limit: Option<u32>,
    /// `succeeded`, `failed`, `denied` or `timeout`.
    status: Option<String>,
    /// `pack.action`.
    action: Option<String>,
    /// Only executions about this node (their `node` parameter).
    node: Option<String>,
    /// Only executions created at or after this time: RFC 3339
    /// (`2026-11-26T00:00:00Z`), a UTC time (`2026-11-26T08:00`), Unix
    /// milliseconds or an age (`90m`, `2h`, `7d`: that long ago).
    since: Option<String>,
    /// Only executions created before this time (the forms of `since`).
    until: Option<String>,
    /// Only executions of this actor (exact: `admin`, `rule:pack.name`).
    actor: Option<String>,
    /// Only executions requested by this rule (`pack.rule`).
    rule: Option<String>,
    /// Only executions whose parameters (their JSON text) contain this,
    /// any ASCII case, `%` and `_` literal; at most 200 characters. A page
    /// reads at most 10,000 executions matching the other filters:
    /// `search` in the answer says how far it read, and `next_after`
    /// continues below.
    q: Option<String>,
    /// `true`: top-level executions only, a workflow's task runs left out.
    top_level: Option<bool>,
}

/// One row of the list.
#[derive(Serialize, ToSchema)]
pub struct ExecutionItem {
    id: String,
    action: String,
    status: String,
    dry_run: bool,
    actor: String,
    started_at_ms: i64,
    duration_us: u64,
    /// Its `node` parameter, when it has one.
    node: Option<String>,
}

/// A page, newest first.
#[derive(Serialize, ToSchema)]
pub struct ExecutionList {
    items: Vec<ExecutionItem>,
    /// Pass as `after` for the next page; null on the last page.
    next_after: Option<String>,
    /// With `q`: how far the search read.
    #[serde(skip_serializing_if = "Option::is_none")]
    search: Option<SearchScan>,
}

/// How far a parameter search read on this page.
#[derive(Serialize, ToSchema)]
pub struct SearchScan {
    /// Executions read (those matching the other filters).
    scanned: u32,
    /// It stopped at its bound with older executions unread: `next_after`
    /// continues the search below them.
    bounded: bool,
}

/// List executions, newest first, a page at a time.
#[utoipa::path(get, path = "/api/v1/executions", tag = "executions", params(ListQuery),
    responses((status = 200, body = ExecutionList), (status = 400, body = ErrorBody),
              (status = 401, body = ErrorBody)))]
pub async fn list(
    _: Auth<need::Viewer>,
    State(state): State<AppState>,
    ApiQuery(q): ApiQuery<ListQuery>,
) -> Result<Json<ExecutionList>, ApiError> {
    let query = super::finding::Filters {
        action: q.action,
        status: q.status,
        node: q.node,
        actor: q.actor,
        rule: q.rule,
        since: q.since,
        until: q.until,
        q: q.q,
        after: q.after,
        top_level: q.top_level.unwrap_or(false),
    }
    .query(parse_limit(q.limit)?, now_ms())?;
    let store = state.store().clone();
    let page = blocking(move || Ok(store.execution_page(&query)?)).await?;
    Ok(Json(ExecutionList {
        items: page
            .items
            .into_iter()
            .map(|e| ExecutionItem {
                id: e.id.to_string(),
                action: e.action,
                status: e.status.as_str().to_owned(),
                dry_run: e.dry_run,
                actor: e.actor,
                started_at_ms: e.started_at_ms,
                duration_us: e.duration_us,
                node: e.node,
            })
            .collect(),
        next_after: page.next_after.map(|id| id.to_string()),
        search: page.search.map(|s| SearchScan {
            scanned: s.scanned,
            bounded: s.bounded,
        }),
    }))
}

pub(crate) fn parse_limit(limit: Option<u32>) -> Result<u32, ApiError> {
    match limit {
        None => Ok(DEFAULT_LIMIT),
        Some(n) if (1..=MAX_LIMIT).contains(&n) => Ok(n),
        Some(n) => Err(ApiError::BadRequest(format!(
            "limit must be 1 to {MAX_LIMIT}; got {n}"
        ))),
    }
}

pub(crate) fn parse_id(s: &str) -> Result<ExecutionId, ApiError> {
    s.parse().map_err(|e: drover_core::IdError| {
        ApiError::BadRequest(format!(
            "{e} (execution ids look like 01KB0Z5Q8X3M2N7P4R6S8T0V2W)"
        ))
    })
}

/// A top-level workflow run that has not ended.
#[derive(Serialize, ToSchema)]
pub struct ActiveRun {
    id: String,
    /// The workflow, `pack.name`.
    action: String,
    /// `running`, `pending` (waiting on an inquiry or a delay), `paused`,
    /// `pausing` or `canceling`.
    status: String,
    /// What it waits on: `inquiry ID`, `paused`, `delay until TIME`.
    waiting_on: Option<String>,
    dry_run: bool,
    actor: String,
    started_at_ms: i64,
}

/// Workflow runs in progress (what `drover exec list --active` shows),
/// oldest first.
#[utoipa::path(get, path = "/api/v1/executions/active", tag = "executions",
    responses((status = 200, body = Vec<ActiveRun>), (status = 401, body = ErrorBody)))]
pub async fn active(
    _: Auth<need::Viewer>,
    State(state): State<AppState>,
) -> Result<Json<Vec<ActiveRun>>, ApiError> {
    let store = state.store().clone();
    let runs = blocking(move || Ok(store.unfinished_workflow_runs()?)).await?;
    Ok(Json(
        runs.into_iter()
            .map(|r| {
                let p = r.progress();
                let waiting_on = match p.delay_until_ms {
                    Some(ms) => Some(format!("delay until {}", drover_core::fmt_time(ms))),
                    None => p.waiting_on,
                };
                ActiveRun {
                    id: r.id.to_string(),
                    action: r.action,
                    status: p.status.to_owned(),
                    waiting_on,
                    dry_run: r.dry_run,
                    actor: r.actor,
                    started_at_ms: r.started_at_ms,
                }
            })
            .collect(),
    ))
}

/// An execution with where it sits in a workflow and its children.
#[derive(Serialize, ToSchema)]
pub struct ExecutionDetail {
    /// The stored execution: parameters, status, result, error, logs and,
    /// for a dry run, the plan.
    #[schema(value_type = Object)]
    execution: Value,
    /// The enclosing workflow run (parent, task, route), if any.
    #[schema(value_type = Option<Object>)]
    workflow: Option<Value>,
    /// For a workflow: its child executions, subworkflows nested.
    #[schema(value_type = Vec<Object>)]
    children: Vec<Value>,
}

/// One execution, with its workflow tree.
#[utoipa::path(get, path = "/api/v1/executions/{id}", tag = "executions",
    params(("id" = String, Path, description = "execution id")),
    responses((status = 200, body = ExecutionDetail), (status = 400, body = ErrorBody),
              (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn get(
    _: Auth<need::Viewer>,
    State(state): State<AppState>,
    ApiPath(id): ApiPath<String>,
) -> Result<Json<ExecutionDetail>, ApiError> {
    let id = parse_id(&id)?;
    let store = state.store().clone();
    blocking(move || {
        let exec = store.get_execution(id)?.ok_or_else(|| missing(id))?;
        let workflow = store
            .execution_link(id)?
            .map(|l| serde_json::to_value(l).map_err(internal))
            .transpose()?;
        Ok(Json(ExecutionDetail {
            execution: serde_json::to_value(exec).map_err(internal)?,
            workflow,
            children: children(&store, id, 0)?,
        }))
    })
    .await
}

fn missing(id: ExecutionId) -> ApiError {
    ApiError::NotFound(format!(
        "no execution {id} (GET /api/v1/executions lists them)"
    ))
}

pub(crate) fn internal(e: impl std::fmt::Display) -> ApiError {
    ApiError::Internal(e.to_string())
}

fn children(store: &Store, id: ExecutionId, depth: usize) -> Result<Vec<Value>, ApiError> {
    let mut out = Vec::new();
    for c in store.execution_children(id)? {
        let child_id = c.summary.id;
        let mut value = serde_json::to_value(&c).map_err(internal)?;
        if depth < MAX_TREE_DEPTH {
            value["children"] = Value::Array(children(store, child_id, depth + 1)?);
        }
        out.push(value);
    }
    Ok(out)
}

/// A dry run's plan: every effect with the decision it would get.
#[derive(Serialize, ToSchema)]
pub struct PlanView {
    id: String,
    dry_run: bool,
    /// Null for an execution that was not a dry run.
    #[schema(value_type = Option<Vec<Object>>)]
    plan: Option<Value>,
}

/// The plan of a dry run.
#[utoipa::path(get, path = "/api/v1/executions/{id}/plan", tag = "executions",
    params(("id" = String, Path, description = "execution id")),
    responses((status = 200, body = PlanView), (status = 400, body = ErrorBody),
              (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn plan(
    _: Auth<need::Viewer>,
    State(state): State<AppState>,
    ApiPath(id): ApiPath<String>,
) -> Result<Json<PlanView>, ApiError> {
    let id = parse_id(&id)?;
    let store = state.store().clone();
    let exec = blocking(move || store.get_execution(id)?.ok_or_else(|| missing(id))).await?;
    Ok(Json(PlanView {
        id: exec.id.to_string(),
        dry_run: exec.dry_run,
        plan: exec
            .plan
            .map(|p| serde_json::to_value(p).map_err(internal))
            .transpose()?,
    }))
}

/// What to run.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RunRequest {
    /// `pack.action`, e.g. `core.echo`.
    action: String,
    /// The action's parameters (checked against its schema now).
    #[serde(default)]
    #[schema(value_type = Object)]
    parameters: Map<String, Value>,
    /// Record effects as a plan instead of performing them.
    #[serde(default)]
    dry_run: bool,
}

/// The queued execution.
#[derive(Serialize, ToSchema)]
pub struct Queued {
    id: String,
    action: String,
    dry_run: bool,
    /// Always `queued`: follow it with GET /api/v1/executions/{id} or the
    /// stream.
    status: String,
}

/// Queue an action or a workflow (operator). Parameters are checked before anything is
/// stored: 400 names the bad one.
#[utoipa::path(post, path = "/api/v1/executions", tag = "executions",
    request_body = RunRequest,
    responses((status = 202, body = Queued), (status = 400, body = ErrorBody),
              (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
              (status = 404, body = ErrorBody)))]
pub async fn run(
    Auth(who, ..): Auth<need::Operator>,
    State(state): State<AppState>,
    ApiJson(req): ApiJson<RunRequest>,
) -> Result<(StatusCode, Json<Queued>), ApiError> {
    let action: ActionRef = req
        .action
        .parse()
        .map_err(|e| ApiError::BadRequest(format!("action: {e}")))?;
    let actor = who.actor();
    blocking(move || {
        // Workflows are queued like actions: `drover serve` runs them.
        let (_, plugin) = state
            .app
            .runtime()
            .action_plugin(&action)
            .map_err(run_error)?;
        let params = plugin
            .parameters
            .validate(Value::Object(req.parameters))
            .map_err(|problem| {
                run_error(RunError::Params {
                    action: action.to_string(),
                    problem,
                    params: plugin.parameters.describe(),
                })
            })?;
        let id = ExecutionId::new();
        state.intake.request_execution(ExecutionRequest {
            id,
            action: action.to_string(),
            parameters: params,
            dry_run: req.dry_run,
            actor,
            enforcement_id: None,
            requested_at_ms: now_ms(),
            pack_version: None,
        })?;
        Ok((
            StatusCode::ACCEPTED,
            Json(Queued {
                id: id.to_string(),
                action: action.to_string(),
                dry_run: req.dry_run,
                status: "queued".into(),
            }),
        ))
    })
    .await
}

fn run_error(e: RunError) -> ApiError {
    match e {
        RunError::UnknownPack { .. }
        | RunError::UnknownVersion { .. }
        | RunError::UnknownAction { .. } => ApiError::NotFound(e.to_string()),
        RunError::NotAnAction { .. } | RunError::Params { .. } => {
            ApiError::BadRequest(e.to_string())
        }
        other => ApiError::Internal(other.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn since_is_a_ulid_lower_bound_from_rfc3339_or_milliseconds() {
        let since_bound = |s: &str| {
            super::super::finding::time_bound("since", s, 0).map(super::super::finding::ulid_floor)
        };
        let from_ms = since_bound("1795661483719").unwrap();
        let from_text = since_bound("2026-11-26T02:51:23.719Z").unwrap();
        assert_eq!(from_ms, from_text);
        assert_eq!(
            from_ms,
            ulid::Ulid::from_parts(1_795_661_483_719, 0).to_string()
        );
        // An id made a millisecond later sorts above the bound.
        let later = ulid::Ulid::from_parts(1_795_661_483_720, 0).to_string();
        assert!(later > from_ms);
        for bad in ["yesterday", "-1", "99999999999999999"] {
            let err = since_bound(bad).unwrap_err().to_string();
            assert!(err.contains("since"), "{bad}: {err}");
        }
    }

    #[test]
    fn limits_outside_1_to_1000_are_refused() {
        assert_eq!(parse_limit(None).unwrap(), DEFAULT_LIMIT);
        assert_eq!(parse_limit(Some(1000)).unwrap(), 1000);
        assert!(parse_limit(Some(0)).is_err());
        assert!(
            parse_limit(Some(1001))
                .unwrap_err()
                .to_string()
                .contains("1 to 1000")
        );
    }
}
