//! `/api/v1/nodes`, `/api/v1/budgets`, `/api/v1/brake`, `/api/v1/fleet`:
//! the fleet controller's inventory, drain/reboot requests (with dry runs
//! that show the budget decision), the queue of open requests and their
//! cancel, budgets with their holders, the storm brake, the pause and the
//! maintenance windows, over
//! [`drover_fleet::Fleet`]. Requests are decided here; `drover serve`'s
//! controller carries them out.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use drover_app::nodes::{NodeRequestError, OperatorRequest};
use drover_fleet::{Budget, Fleet, FleetError, Kind, Origin, Policy, Rule};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::{IntoParams, ToSchema};

use super::executions::{internal, parse_limit};
use super::{ChangeReason, ErrorBody, change_by};
use crate::auth::{Auth, need};
use crate::error::blocking;
use crate::extract::{ApiBody, ApiJson, ApiPath, ApiQuery};
use crate::{ApiError, AppState};

fn fleet_error(e: FleetError) -> ApiError {
    match e {
        FleetError::UnknownNode(_)
        | FleetError::UnknownRequest(_)
        | FleetError::UnknownWindow(_) => ApiError::NotFound(e.to_string()),
        FleetError::UnknownState(_) | FleetError::Invalid(_) | FleetError::Import(_) => {
            ApiError::BadRequest(e.to_string())
        }
        FleetError::Conflict(_) => ApiError::Conflict(e.to_string()),
        FleetError::Store(s) => ApiError::Internal(s.to_string()),
    }
}

fn json_value(v: impl Serialize) -> Result<Value, ApiError> {
    serde_json::to_value(v).map_err(internal)
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct NodeQuery {
    /// A label selector: `rack=r07`, `rack in (r1,r2)`, `env!=prod`.
    label: Option<String>,
    /// Only nodes in this state (`healthy`, `draining`, `drained`, ...).
    state: Option<String>,
    /// The `next_after` of the previous page: nodes named after it.
    after: Option<String>,
    /// Page size, 1 to 1000 (default 50).
    limit: Option<u32>,
}

/// A page of nodes, by name.
#[derive(Serialize, ToSchema)]
pub struct NodeList {
    /// Name, labels, state, driver, since, note and the open request.
    #[schema(value_type = Vec<Object>)]
    items: Vec<Value>,
    /// Pass as `after` for the next page; null on the last page.
    next_after: Option<String>,
}

/// List nodes (label selector, state), a page at a time by name.
#[utoipa::path(get, path = "/api/v1/nodes", tag = "fleet", params(NodeQuery),
    responses((status = 200, body = NodeList), (status = 400, body = ErrorBody),
              (status = 401, body = ErrorBody)))]
pub async fn nodes(
    _: Auth<need::Viewer>,
    State(state): State<AppState>,
    ApiQuery(q): ApiQuery<NodeQuery>,
) -> Result<Json<NodeList>, ApiError> {
    let limit = parse_limit(q.limit)? as usize;
    let fleet = state.app.fleet().clone();
    blocking(move || {
        let mut all = fleet
            .list(q.label.as_deref(), q.state.as_deref())
            .map_err(fleet_error)?;
        all.sort_by(|a, b| a.name.cmp(&b.name));
        let start = match &q.after {
            Some(after) => all.partition_point(|n| n.name.as_str() <= after.as_str()),
            None => 0,
        };
        let page: Vec<_> = all.into_iter().skip(start).take(limit + 1).collect();
        let more = page.len() > limit;
        let page: Vec<_> = page.into_iter().take(limit).collect();
        let next_after = more.then(|| page.last().map(|n| n.name.clone())).flatten();
        Ok(Json(NodeList {
            items: page.into_iter().map(json_value).collect::<Result<_, _>>()?,
            next_after,
        }))
    })
    .await
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ShowQuery {
    /// History entries to include, newest first (default 20, at most 1000).
    history: Option<u32>,
}

/// One node with its requests and history.
#[utoipa::path(get, path = "/api/v1/nodes/{name}", tag = "fleet",
    params(("name" = String, Path, description = "node name"), ShowQuery),
    responses((status = 200, body = Object), (status = 400, body = ErrorBody),
              (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn node(
    _: Auth<need::Viewer>,
    State(state): State<AppState>,
    ApiPath(name): ApiPath<String>,
    ApiQuery(q): ApiQuery<ShowQuery>,
) -> Result<Json<Value>, ApiError> {
    let history = q.history.unwrap_or(20).min(1000);
    let fleet = state.app.fleet().clone();
    blocking(move || {
        Ok(Json(json_value(
            fleet.show(&name, history).map_err(fleet_error)?,
        )?))
    })
    .await
}

/// A drain or reboot request.
#[derive(Deserialize, ToSchema, Default)]
#[serde(deny_unknown_fields)]
pub struct ChangeRequest {
    /// Why (recorded in the node's history and the audit log).
    reason: String,
    /// How long the drain may take once started, e.g. `4h`; missed, the
    /// node needs intervention.
    deadline: Option<String>,
    /// For reboots: how long the node may take to come back, e.g. `20m`.
    reboot_deadline: Option<String>,
    /// `asap` (default), `window`, or `at=2026-11-27T02:00:00Z`.
    policy: Option<String>,
    /// Show the budget decision and rolling schedule; change nothing.
    #[serde(default)]
    dry_run: bool,
}

fn duration_ms(field: &str, text: &Option<String>) -> Result<Option<i64>, ApiError> {
    text.as_deref()
        .map(|t| {
            humantime::parse_duration(t)
                .map(|d| d.as_millis() as i64)
                .map_err(|e| {
                    ApiError::BadRequest(format!(
                        "body field `{field}`: {e} (e.g. \"4h\", \"30m\")"
                    ))
                })
        })
        .transpose()
}

async fn change(
    who: crate::auth::Principal,
    state: AppState,
    name: String,
    kind: Kind,
    body: ChangeRequest,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let req = operator_request(who, kind, vec![name], &body.reason, &body.policy)?;
    let req = OperatorRequest {
        drain_timeout_ms: duration_ms("deadline", &body.deadline)?,
        reboot_timeout_ms: duration_ms("reboot_deadline", &body.reboot_deadline)?,
        ..req
    };
    let fleet = state.app.fleet().clone();
    blocking(move || {
        if body.dry_run {
            let plan = req.dry_run(&fleet).map_err(request_error)?;
            return Ok((StatusCode::OK, Json(plan)));
        }
        let answer = req.submit(&fleet).map_err(request_error)?.remove(0);
        Ok((StatusCode::ACCEPTED, Json(answer)))
    })
    .await
}

/// An operator's request, with the policy (default `asap`) checked.
fn operator_request(
    who: crate::auth::Principal,
    kind: Kind,
    nodes: Vec<String>,
    reason: &str,
    policy: &Option<String>,
) -> Result<OperatorRequest, ApiError> {
    Ok(OperatorRequest {
        policy: Policy::parse(policy.as_deref().unwrap_or("asap"))
            .map_err(|e| ApiError::BadRequest(format!("body field `policy`: {e}")))?,
        ..OperatorRequest::new(kind, nodes, reason, &who.actor())
    })
}

/// A refused request, naming the body field to fix.
fn request_error(e: NodeRequestError) -> ApiError {
    match e {
        NodeRequestError::NoNodes => ApiError::BadRequest(format!("body field `nodes`: {e}")),
        NodeRequestError::NoReason => ApiError::BadRequest(format!("body field `reason`: {e}")),
        NodeRequestError::Unknown(names) => ApiError::NotFound(format!(
            "no node named {} in the inventory (GET /api/v1/nodes lists them); nothing was \
             requested",
            names.join(", ")
        )),
        NodeRequestError::Fleet(e) => fleet_error(e),
    }
}

/// Ask to drain a node (operator): the answer says whether it starts now,
/// waits for a budget (naming it and its holders) or is denied. With
/// `dry_run`, the decision and rolling schedule without changing anything.
#[utoipa::path(post, path = "/api/v1/nodes/{name}/drain", tag = "fleet",
    params(("name" = String, Path, description = "node name")),
    request_body = ChangeRequest,
    responses((status = 202, body = Object, description = "the request's answer"),
              (status = 200, body = Object, description = "a dry run: answers, waves, blocked, notes"),
              (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
              (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn drain(
    Auth(who, ..): Auth<need::Operator>,
    State(state): State<AppState>,
    ApiPath(name): ApiPath<String>,
    ApiJson(body): ApiJson<ChangeRequest>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    change(who, state, name, Kind::Drain, body).await
}

/// Ask to reboot a node (operator): drain, reboot (escalation ladder),
/// restore. Same answers as drain.
#[utoipa::path(post, path = "/api/v1/nodes/{name}/reboot", tag = "fleet",
    params(("name" = String, Path, description = "node name")),
    request_body = ChangeRequest,
    responses((status = 202, body = Object, description = "the request's answer"),
              (status = 200, body = Object, description = "a dry run: answers, waves, blocked, notes"),
              (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
              (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn reboot(
    Auth(who, ..): Auth<need::Operator>,
    State(state): State<AppState>,
    ApiPath(name): ApiPath<String>,
    ApiJson(body): ApiJson<ChangeRequest>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    change(who, state, name, Kind::Reboot, body).await
}

/// Drain, reboot or undrain requests for several nodes at once, decided
/// together (what `drover node drain|reboot|undrain` sends with
/// `--server`).
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BatchRequest {
    /// `drain`, `reboot` or `undrain`.
    kind: String,
    /// Node names; an unknown one refuses the whole batch (404).
    nodes: Vec<String>,
    reason: String,
    deadline: Option<String>,
    reboot_deadline: Option<String>,
    /// `asap` (default), `window`, or `at=2026-11-27T02:00:00Z`.
    policy: Option<String>,
    /// Show each node's answer and the rolling schedule; change nothing.
    #[serde(default)]
    dry_run: bool,
}

/// Request a drain, reboot or undrain of several nodes (operator), all or
/// nothing on unknown names. Answers one entry per node, in order: the
/// request's answer, or `{"node", "error"}`. With `dry_run`: 200 with the
/// answers, rolling waves, blocked nodes and notes, changing nothing.
#[utoipa::path(post, path = "/api/v1/node-requests", tag = "fleet",
    request_body = BatchRequest,
    responses((status = 202, body = Vec<Object>, description = "one answer per node"),
              (status = 200, body = Object, description = "a dry run: answers, waves, blocked, notes"),
              (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
              (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn batch(
    Auth(who, ..): Auth<need::Operator>,
    State(state): State<AppState>,
    ApiJson(body): ApiJson<BatchRequest>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let kind = match body.kind.as_str() {
        "drain" => Kind::Drain,
        "reboot" => Kind::Reboot,
        "undrain" => Kind::Undrain,
        other => {
            return Err(ApiError::BadRequest(format!(
                "body field `kind`: {other:?} is not drain, reboot or undrain"
            )));
        }
    };
    let req = OperatorRequest {
        drain_timeout_ms: duration_ms("deadline", &body.deadline)?,
        reboot_timeout_ms: duration_ms("reboot_deadline", &body.reboot_deadline)?,
        ..operator_request(who, kind, body.nodes, &body.reason, &body.policy)?
    };
    let fleet = state.app.fleet().clone();
    let dry_run = body.dry_run;
    blocking(move || {
        if dry_run {
            let plan = req.dry_run(&fleet).map_err(request_error)?;
            return Ok((StatusCode::OK, Json(plan)));
        }
        let answers = req.submit(&fleet).map_err(request_error)?;
        Ok((StatusCode::ACCEPTED, Json(Value::Array(answers))))
    })
    .await
}

/// Budgets with how much of each is in use.
#[utoipa::path(get, path = "/api/v1/budgets", tag = "fleet",
    responses((status = 200, body = Vec<Object>), (status = 401, body = ErrorBody)))]
pub async fn budgets(
    _: Auth<need::Viewer>,
    State(state): State<AppState>,
) -> Result<Json<Value>, ApiError> {
    let fleet = state.app.fleet().clone();
    blocking(move || Ok(Json(json_value(fleet.budgets().map_err(fleet_error)?)?))).await
}

/// A budget's rule.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BudgetSpec {
    /// `groupsemaphore` (at most `max` unavailable per value of `label`)
    /// or `maxunavailable` (at most `max`, or `percent` of the fleet).
    strategy: String,
    label: Option<String>,
    max: Option<u32>,
    percent: Option<f64>,
    /// Why, for the change log (optional).
    reason: Option<String>,
}

/// Create or replace a budget (admin).
#[utoipa::path(put, path = "/api/v1/budgets/{name}", tag = "fleet",
    params(("name" = String, Path, description = "budget name")),
    request_body = BudgetSpec,
    responses((status = 200, body = Object), (status = 400, body = ErrorBody),
              (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)))]
pub async fn set_budget(
    Auth(who, ..): Auth<need::Admin>,
    State(state): State<AppState>,
    ApiPath(name): ApiPath<String>,
    ApiJson(spec): ApiJson<BudgetSpec>,
) -> Result<Json<Value>, ApiError> {
    let by = change_by(&who, spec.reason.as_deref())?;
    let rule = match spec.strategy.as_str() {
        "groupsemaphore" => Rule::GroupSemaphore {
            label: spec.label.unwrap_or_default(),
            max: spec.max.ok_or_else(|| {
                ApiError::BadRequest("body field `max`: a groupsemaphore needs max".into())
            })?,
        },
        "maxunavailable" => {
            if spec.percent.is_some_and(|p| !(p > 0.0 && p <= 100.0)) {
                return Err(ApiError::BadRequest(
                    "body field `percent`: must be above 0 and at most 100".into(),
                ));
            }
            Rule::MaxUnavailable {
                max: spec.max,
                percent: spec.percent,
            }
        }
        other => {
            return Err(ApiError::BadRequest(format!(
                "body field `strategy`: {other:?} is not groupsemaphore or maxunavailable"
            )));
        }
    };
    let fleet = state.app.fleet().clone();
    blocking(move || {
        fleet
            .set_budget(
                Budget {
                    name: name.clone(),
                    rule,
                },
                &by,
            )
            .map_err(fleet_error)?;
        let view = fleet
            .budgets()
            .map_err(fleet_error)?
            .into_iter()
            .find(|b| b.name == name);
        Ok(Json(json_value(view)?))
    })
    .await
}

/// Remove a budget (admin). The body, optional, gives the reason.
#[utoipa::path(delete, path = "/api/v1/budgets/{name}", tag = "fleet",
    params(("name" = String, Path, description = "budget name")),
    request_body(content = Option<ChangeReason>, description = "why, for the change log"),
    responses((status = 204), (status = 401, body = ErrorBody),
              (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn remove_budget(
    Auth(who, ..): Auth<need::Admin>,
    State(state): State<AppState>,
    ApiPath(name): ApiPath<String>,
    ApiBody(body): ApiBody<ChangeReason>,
) -> Result<StatusCode, ApiError> {
    let by = change_by(&who, body.reason.as_deref())?;
    let fleet = state.app.fleet().clone();
    blocking(move || {
        if fleet.remove_budget(&name, &by).map_err(fleet_error)? {
            Ok(StatusCode::NO_CONTENT)
        } else {
            Err(ApiError::NotFound(format!(
                "no budget {name:?} (GET /api/v1/budgets lists them)"
            )))
        }
    })
    .await
}

/// The storm brake and the fleet pause.
#[utoipa::path(get, path = "/api/v1/brake", tag = "fleet",
    responses((status = 200, body = Object), (status = 401, body = ErrorBody)))]
pub async fn brake(
    _: Auth<need::Viewer>,
    State(state): State<AppState>,
) -> Result<Json<Value>, ApiError> {
    let fleet = state.app.fleet().clone();
    blocking(move || brake_status(&fleet)).await
}

/// The brake and pause status, as the brake endpoints answer it.
fn brake_status(fleet: &Fleet) -> Result<Json<Value>, ApiError> {
    Ok(Json(json_value(
        fleet.brake_status().map_err(fleet_error)?,
    )?))
}

/// New storm brake settings; absent fields keep their value.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BrakeSettings {
    /// Trips above this percentage of the inventory unhealthy, e.g. 5.
    threshold_percent: Option<f64>,
    /// Within this window, e.g. `10m`.
    window: Option<String>,
    /// How long automatic requests wait before they may start, e.g. `10s`.
    settle: Option<String>,
    /// Why, for the change log (optional).
    reason: Option<String>,
}

/// Configure the storm brake (admin): threshold, window, settle time.
/// Answers the brake's status with the new settings (and `settle_ms`).
#[utoipa::path(put, path = "/api/v1/brake", tag = "fleet",
    request_body = BrakeSettings,
    responses((status = 200, body = Object), (status = 400, body = ErrorBody),
              (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)))]
pub async fn configure_brake(
    Auth(who, ..): Auth<need::Admin>,
    State(state): State<AppState>,
    ApiJson(body): ApiJson<BrakeSettings>,
) -> Result<Json<Value>, ApiError> {
    let window = duration_ms("window", &body.window)?;
    let settle = duration_ms("settle", &body.settle)?;
    let by = change_by(&who, body.reason.as_deref())?;
    let fleet = state.app.fleet().clone();
    blocking(move || {
        let settings = fleet
            .configure_brake(body.threshold_percent, window, settle, &by)
            .map_err(fleet_error)?;
        let mut status = json_value(fleet.brake_status().map_err(fleet_error)?)?;
        status["settle_ms"] = settings.brake.settle_ms.into();
        Ok(Json(status))
    })
    .await
}

/// Whether the release found the brake engaged.
#[derive(Serialize, ToSchema)]
pub struct Released {
    was_engaged: bool,
}

/// Release the storm brake (admin): automatic requests are taken again.
/// The body, optional, gives the reason.
#[utoipa::path(post, path = "/api/v1/brake/release", tag = "fleet",
    request_body(content = Option<ChangeReason>, description = "why, for the change log"),
    responses((status = 200, body = Released), (status = 401, body = ErrorBody),
              (status = 403, body = ErrorBody)))]
pub async fn release_brake(
    Auth(who, ..): Auth<need::Admin>,
    State(state): State<AppState>,
    ApiBody(body): ApiBody<ChangeReason>,
) -> Result<Json<Released>, ApiError> {
    let by = change_by(&who, body.reason.as_deref())?;
    let fleet = state.app.fleet().clone();
    blocking(move || {
        Ok(Json(Released {
            was_engaged: fleet
                .release_brake_because(&by.actor, by.reason.as_deref())
                .map_err(fleet_error)?,
        }))
    })
    .await
}

/// A node's new state, set by hand.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SetStateRequest {
    /// `production`, `draining`, `drained`, `rebooting`, `restoring` or
    /// `intervention`.
    state: String,
    /// Why: kept in the node's history and the audit log.
    reason: String,
}

/// Set a node's state by hand (operator), e.g. `production` once a node
/// in intervention is repaired. Cancels its open request; no budget
/// check (it is what `drover node set-state` does). Answers the fleet's
/// answer (`outcome`, `detail`).
#[utoipa::path(post, path = "/api/v1/nodes/{name}/state", tag = "fleet",
    params(("name" = String, Path, description = "node name")),
    request_body = SetStateRequest,
    responses((status = 200, body = Object), (status = 400, body = ErrorBody),
              (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
              (status = 404, body = ErrorBody)))]
pub async fn set_state(
    Auth(who, ..): Auth<need::Operator>,
    State(state): State<AppState>,
    ApiPath(name): ApiPath<String>,
    ApiJson(body): ApiJson<SetStateRequest>,
) -> Result<Json<Value>, ApiError> {
    if body.reason.trim().is_empty() {
        return Err(ApiError::BadRequest(
            "`reason` is empty: say why, for the node's history and the audit log".into(),
        ));
    }
    let fleet = state.app.fleet().clone();
    blocking(move || {
        let answer = fleet
            .set_state(
                &name,
                &body.state,
                &body.reason,
                &who.actor(),
                Origin::Operator,
                None,
            )
            .map_err(fleet_error)?;
        Ok(Json(json_value(answer)?))
    })
    .await
}

/// Why the fleet is paused.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PauseRequest {
    reason: String,
}

/// Pause the fleet (operator): queued requests wait, in-flight ones
/// finish, until a resume. Answers the brake and pause status.
#[utoipa::path(post, path = "/api/v1/fleet/pause", tag = "fleet",
    request_body = PauseRequest,
    responses((status = 200, body = Object), (status = 400, body = ErrorBody),
              (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)))]
pub async fn pause(
    Auth(who, ..): Auth<need::Operator>,
    State(state): State<AppState>,
    ApiJson(body): ApiJson<PauseRequest>,
) -> Result<Json<Value>, ApiError> {
    if body.reason.trim().is_empty() {
        return Err(ApiError::BadRequest(
            "`reason` is empty: say why the fleet is paused".into(),
        ));
    }
    let fleet = state.app.fleet().clone();
    blocking(move || {
        fleet
            .pause(&who.actor(), &body.reason)
            .map_err(fleet_error)?;
        brake_status(&fleet)
    })
    .await
}

/// Resume the fleet (operator): queued requests may start again. Answers
/// the brake and pause status. The body, optional, gives the reason.
#[utoipa::path(post, path = "/api/v1/fleet/resume", tag = "fleet",
    request_body(content = Option<ChangeReason>, description = "why, for the change log"),
    responses((status = 200, body = Object), (status = 401, body = ErrorBody),
              (status = 403, body = ErrorBody)))]
pub async fn resume(
    Auth(who, ..): Auth<need::Operator>,
    State(state): State<AppState>,
    ApiBody(body): ApiBody<ChangeReason>,
) -> Result<Json<Value>, ApiError> {
    let by = change_by(&who, body.reason.as_deref())?;
    let fleet = state.app.fleet().clone();
    blocking(move || {
        fleet.resume(&by).map_err(fleet_error)?;
        brake_status(&fleet)
    })
    .await
}

/// The open fleet requests, oldest first: node, kind, who asked (actor,
/// execution), since when, the node's state, the gate a queued one waits
/// on (`schedule`, `window`, `pause`, `brake`, `settle`, `budget` with
/// the budget's `hold`), and what cancelling it would do (`cancel`:
/// `drop`, `give_back` or `refused`, explained in `cancel_note`).
#[utoipa::path(get, path = "/api/v1/fleet/requests", tag = "fleet",
    responses((status = 200, body = Vec<Object>), (status = 401, body = ErrorBody)))]
pub async fn requests(
    _: Auth<need::Viewer>,
    State(state): State<AppState>,
) -> Result<Json<Value>, ApiError> {
    let fleet = state.app.fleet().clone();
    blocking(move || Ok(Json(json_value(fleet.queue().map_err(fleet_error)?)?))).await
}

/// Why a request is cancelled.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CancelRequest {
    /// Kept in the request, the node's history and the audit log.
    reason: String,
}

/// Cancel an open fleet request (operator). A queued request is dropped;
/// one whose drain has started gives its node back (an undrain request,
/// `given_back`); a node rebooting or already restoring refuses (409,
/// saying what to do instead), as does a request that already ended.
#[utoipa::path(post, path = "/api/v1/fleet/requests/{id}/cancel", tag = "fleet",
    params(("id" = String, Path, description = "request id")),
    request_body = CancelRequest,
    responses((status = 200, body = Object, description = "what the cancel did"),
              (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
              (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
              (status = 409, body = ErrorBody)))]
pub async fn cancel_request(
    Auth(who, ..): Auth<need::Operator>,
    State(state): State<AppState>,
    ApiPath(id): ApiPath<String>,
    ApiJson(body): ApiJson<CancelRequest>,
) -> Result<Json<Value>, ApiError> {
    if body.reason.trim().is_empty() {
        return Err(ApiError::BadRequest(
            "body field `reason`: say why the request is cancelled (it is audited)".into(),
        ));
    }
    let fleet = state.app.fleet().clone();
    blocking(move || {
        let done = fleet
            .cancel_request(&id, &who.actor(), &body.reason)
            .map_err(fleet_error)?;
        Ok(Json(json_value(done)?))
    })
    .await
}

/// The maintenance windows, each with `open_now` and how many `nodes` it
/// covers.
#[utoipa::path(get, path = "/api/v1/fleet/windows", tag = "fleet",
    responses((status = 200, body = Vec<Object>), (status = 401, body = ErrorBody)))]
pub async fn windows(
    _: Auth<need::Viewer>,
    State(state): State<AppState>,
) -> Result<Json<Value>, ApiError> {
    let fleet = state.app.fleet().clone();
    blocking(move || Ok(Json(json_value(fleet.windows().map_err(fleet_error)?)?))).await
}

/// A maintenance window: on `days` (default every day) from `start` to
/// `end` (`HH:MM`, local time in `tz`; an end before the start runs past
/// midnight), for the nodes `selector` matches (default all).
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct WindowSpec {
    /// `mon`, `tue`, ... `sun`.
    #[serde(default)]
    days: Vec<String>,
    start: String,
    end: String,
    /// An IANA time zone (default `UTC`).
    tz: Option<String>,
    /// A label selector, e.g. `cluster=batch`.
    selector: Option<String>,
    /// Why, for the change log.
    reason: Option<String>,
}

/// Add or replace a maintenance window (operator, audited): when
/// `--policy window` requests may start. Answers the window as listed.
#[utoipa::path(put, path = "/api/v1/fleet/windows/{name}", tag = "fleet",
    params(("name" = String, Path, description = "window name")),
    request_body = WindowSpec,
    responses((status = 200, body = Object), (status = 400, body = ErrorBody),
              (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)))]
pub async fn set_window(
    Auth(who, ..): Auth<need::Operator>,
    State(state): State<AppState>,
    ApiPath(name): ApiPath<String>,
    ApiJson(spec): ApiJson<WindowSpec>,
) -> Result<Json<Value>, ApiError> {
    let window = drover_fleet::settings::Window {
        name: name.clone(),
        days: spec.days,
        start: spec.start,
        end: spec.end,
        tz: spec.tz.unwrap_or_else(|| "UTC".into()),
        selector: spec.selector.filter(|s| !s.trim().is_empty()),
    };
    let by = change_by(&who, spec.reason.as_deref())?;
    let fleet = state.app.fleet().clone();
    blocking(move || {
        fleet.add_window(window, by).map_err(fleet_error)?;
        let view = fleet
            .windows()
            .map_err(fleet_error)?
            .into_iter()
            .find(|w| w.window.name == name);
        Ok(Json(json_value(view)?))
    })
    .await
}

/// Remove a maintenance window (operator, audited). The body, optional,
/// gives the reason.
#[utoipa::path(delete, path = "/api/v1/fleet/windows/{name}", tag = "fleet",
    params(("name" = String, Path, description = "window name")),
    request_body(content = Option<ChangeReason>, description = "why, for the change log"),
    responses((status = 204), (status = 401, body = ErrorBody),
              (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn remove_window(
    Auth(who, ..): Auth<need::Operator>,
    State(state): State<AppState>,
    ApiPath(name): ApiPath<String>,
    ApiBody(body): ApiBody<ChangeReason>,
) -> Result<StatusCode, ApiError> {
    let by = change_by(&who, body.reason.as_deref())?;
    let fleet = state.app.fleet().clone();
    blocking(move || {
        fleet.remove_window(&name, by).map_err(fleet_error)?;
        Ok(StatusCode::NO_CONTENT)
    })
    .await
}
