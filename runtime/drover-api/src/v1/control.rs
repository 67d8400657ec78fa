//! `/api/v1/executions/{id}/pause|resume|cancel|rerun`: operators' requests
//! on workflow executions (`drover_engine::workflows::control`). A run that
//! must go on is queued for `drover serve` (the CLI's `--queue`), never
//! driven in the handler. A run this very process drives (serve's own
//! workers) is only asked: it acts at its next transition.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use drover_engine::workflows::control::{self, Continue, ControlError, Done};
use drover_workflow::RerunRequest;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::ErrorBody;
use super::executions::parse_id;
use crate::auth::{Auth, need};
use crate::error::blocking;
use crate::extract::{ApiJson, ApiPath};
use crate::{ApiError, AppState};

/// What became of the request.
#[derive(Serialize, ToSchema)]
pub struct ControlAnswer {
    /// The top-level workflow execution acted on (for rerun: the new one).
    id: String,
    /// `pause`, `resume`, `cancel` or `rerun`.
    request: String,
    /// `requested` (the process driving it acts at its next step) or
    /// `queued` (`drover serve` continues it).
    status: String,
    /// For rerun: the ended execution it reruns.
    #[serde(skip_serializing_if = "Option::is_none")]
    rerun_of: Option<String>,
}

fn control_error(e: ControlError) -> ApiError {
    match e {
        ControlError::Unknown(_) => ApiError::NotFound(e.to_string()),
        ControlError::NotAWorkflow { .. } | ControlError::Rerun { .. } => {
            ApiError::BadRequest(e.to_string())
        }
        ControlError::Finished { .. }
        | ControlError::NotPaused { .. }
        | ControlError::NotEnded { .. } => ApiError::Conflict(e.to_string()),
        other => ApiError::Internal(other.to_string()),
    }
}

fn answer(done: Done, verb: &str) -> (StatusCode, Json<ControlAnswer>) {
    let (id, status) = match done {
        Done::Asked { root, .. } => (root, "requested"),
        Done::Queued { root } => (root, "queued"),
        // Never with Continue::Queue; reported as queued for completeness.
        Done::Drove(outcome) => match *outcome {
            drover_engine::workflows::Outcome::Finished(e) => (e.id, "ended"),
            drover_engine::workflows::Outcome::Parked { id, .. } => (id, "queued"),
        },
    };
    (
        StatusCode::ACCEPTED,
        Json(ControlAnswer {
            id: id.to_string(),
            request: verb.into(),
            status: status.into(),
            rerun_of: None,
        }),
    )
}

type Answered = Result<(StatusCode, Json<ControlAnswer>), ApiError>;

/// Pause a workflow (operator): running tasks finish, no new task starts,
/// then it waits for resume.
#[utoipa::path(post, path = "/api/v1/executions/{id}/pause", tag = "executions",
    params(("id" = String, Path, description = "workflow execution id")),
    responses((status = 202, body = ControlAnswer), (status = 400, body = ErrorBody),
              (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
              (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub async fn pause(
    _: Auth<need::Operator>,
    State(state): State<AppState>,
    ApiPath(id): ApiPath<String>,
) -> Answered {
    let id = parse_id(&id)?;
    blocking(move || {
        let done = control::pause(&state.app, id).map_err(control_error)?;
        Ok(answer(done, "pause"))
    })
    .await
}

/// Resume a paused workflow (operator); `drover serve` continues it.
#[utoipa::path(post, path = "/api/v1/executions/{id}/resume", tag = "executions",
    params(("id" = String, Path, description = "workflow execution id")),
    responses((status = 202, body = ControlAnswer), (status = 400, body = ErrorBody),
              (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
              (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub async fn resume(
    _: Auth<need::Operator>,
    State(state): State<AppState>,
    ApiPath(id): ApiPath<String>,
) -> Answered {
    let id = parse_id(&id)?;
    blocking(move || {
        let done = control::resume_run(&state.app, id, Continue::Queue).map_err(control_error)?;
        state.intake.notify_queued();
        Ok(answer(done, "resume"))
    })
    .await
}

/// Cancel a workflow (operator): running tasks finish, nothing new starts,
/// pending inquiries are canceled, and it ends `canceled`.
#[utoipa::path(post, path = "/api/v1/executions/{id}/cancel", tag = "executions",
    params(("id" = String, Path, description = "workflow execution id")),
    responses((status = 202, body = ControlAnswer), (status = 400, body = ErrorBody),
              (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
              (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub async fn cancel(
    _: Auth<need::Operator>,
    State(state): State<AppState>,
    ApiPath(id): ApiPath<String>,
) -> Answered {
    let id = parse_id(&id)?;
    blocking(move || {
        let done = control::cancel(&state.app, id, Continue::Queue).map_err(control_error)?;
        state.intake.notify_queued();
        Ok(answer(done, "cancel"))
    })
    .await
}

/// Which tasks to run again.
#[derive(Deserialize, ToSchema, Default)]
#[serde(deny_unknown_fields)]
pub struct RerunBody {
    /// Tasks to run again, `TASK` or `TASK@ROUTE`; none: every failed task.
    #[serde(default)]
    tasks: Vec<String>,
    /// With-items tasks: run every item again, not only the failed ones.
    #[serde(default)]
    reset_items: bool,
}

/// Rerun an ended workflow from its stored state (operator): a new
/// execution, queued for `drover serve`.
#[utoipa::path(post, path = "/api/v1/executions/{id}/rerun", tag = "executions",
    params(("id" = String, Path, description = "ended workflow execution id")),
    request_body = RerunBody,
    responses((status = 202, body = ControlAnswer), (status = 400, body = ErrorBody),
              (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
              (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub async fn rerun(
    _: Auth<need::Operator>,
    State(state): State<AppState>,
    ApiPath(id): ApiPath<String>,
    ApiJson(body): ApiJson<RerunBody>,
) -> Answered {
    let id = parse_id(&id)?;
    let mut tasks = Vec::new();
    for (i, t) in body.tasks.iter().enumerate() {
        let (task, route) = match t.split_once('@') {
            Some((task, route)) => (
                task,
                route.parse().map_err(|_| {
                    ApiError::BadRequest(format!(
                        "body field `tasks[{i}]`: {t:?}: the route after @ must be a number"
                    ))
                })?,
            ),
            None => (t.as_str(), 0),
        };
        tasks.push(RerunRequest {
            task_id: task.to_owned(),
            route,
            reset_items: body.reset_items,
        });
    }
    blocking(move || {
        let new =
            match control::rerun(&state.app, id, &tasks, Continue::Queue).map_err(control_error)? {
                Err(new) => new,
                Ok(drover_engine::workflows::Outcome::Finished(e)) => e.id,
                Ok(drover_engine::workflows::Outcome::Parked { id, .. }) => id,
            };
        state.intake.notify_queued();
        Ok((
            StatusCode::ACCEPTED,
            Json(ControlAnswer {
                id: new.to_string(),
                request: "rerun".into(),
                status: "queued".into(),
                rerun_of: Some(id.to_string()),
            }),
        ))
    })
    .await
}
