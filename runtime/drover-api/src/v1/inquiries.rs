//! `/api/v1/inquiries`: the questions workflows wait on (`core.ask`), and
//! answering them. An answer is checked against the inquiry's schema and
//! roles, recorded, and its workflow queued for `drover serve`: the handler
//! never drives the workflow itself.

use axum::Json;
use axum::extract::State;
use drover_core::ExecutionId;
use drover_engine::workflows::Continue;
use drover_engine::workflows::ask::{self, InquiryError, Responder};
use drover_store::{Inquiry, RespondError};
use serde::Deserialize;
use serde_json::{Map, Value};
use utoipa::{IntoParams, ToSchema};

use super::ErrorBody;
use super::executions::{internal, parse_id, parse_limit};
use crate::auth::{Auth, Principal, need};
use crate::error::blocking;
use crate::extract::{ApiJson, ApiPath, ApiQuery};
use crate::{ApiError, AppState};

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct InquiryQuery {
    /// `pending` (default), `responded`, `timed_out` (or `expired`),
    /// `canceled` or `all`.
    state: Option<String>,
    /// Most to return, 1 to 1000 (default 50), newest first.
    limit: Option<u32>,
}

const STATES: [&str; 4] = ["pending", "responded", "timed_out", "canceled"];

/// Inquiries, newest first (pending ones unless `state` says otherwise).
#[utoipa::path(get, path = "/api/v1/inquiries", tag = "inquiries", params(InquiryQuery),
    responses((status = 200, body = Vec<Object>), (status = 400, body = ErrorBody),
              (status = 401, body = ErrorBody)))]
pub async fn list(
    _: Auth<need::Viewer>,
    State(state): State<AppState>,
    ApiQuery(q): ApiQuery<InquiryQuery>,
) -> Result<Json<Value>, ApiError> {
    let limit = parse_limit(q.limit)?;
    let wanted = match q.state.as_deref() {
        None => Some("pending"),
        Some("all") => None,
        // What the store calls a timed-out inquiry.
        Some("expired") => Some("timed_out"),
        Some(s) if STATES.contains(&s) => Some(s),
        Some(s) => {
            return Err(ApiError::BadRequest(format!(
                "state {s:?}: expected pending, responded, timed_out, canceled or all"
            )));
        }
    }
    .map(str::to_owned);
    let store = state.store().clone();
    blocking(move || {
        let rows = match wanted.as_deref() {
            // Through the pending index: the cost follows what waits.
            Some("pending") => store.pending_inquiries(limit)?,
            other => store.list_inquiries(other, limit)?,
        };
        Ok(Json(serde_json::to_value(rows).map_err(internal)?))
    })
    .await
}

/// One inquiry: workflow, task, schema, roles, deadline, answer.
#[utoipa::path(get, path = "/api/v1/inquiries/{id}", tag = "inquiries",
    params(("id" = String, Path, description = "inquiry id")),
    responses((status = 200, body = Object), (status = 400, body = ErrorBody),
              (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn get(
    _: Auth<need::Viewer>,
    State(state): State<AppState>,
    ApiPath(id): ApiPath<String>,
) -> Result<Json<Value>, ApiError> {
    let id = parse_id(&id)?;
    let store = state.store().clone();
    blocking(move || {
        let q = store.get_inquiry(id)?.ok_or_else(|| {
            ApiError::NotFound(format!(
                "no inquiry {id} (GET /api/v1/inquiries?state=all lists them)"
            ))
        })?;
        Ok(Json(serde_json::to_value(q).map_err(internal)?))
    })
    .await
}

/// An answer.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Response {
    /// The response object, checked against the inquiry's schema.
    #[schema(value_type = Object)]
    response: Map<String, Value>,
}

/// `who`'s answer to inquiry `id` through the one operation
/// ([`drover_engine::workflows::ask::answer`]: roles, schema, record,
/// queue for `drover serve`), its refusals as the API's errors.
async fn answer(
    state: &AppState,
    who: &Principal,
    id: ExecutionId,
    response: Map<String, Value>,
) -> Result<Inquiry, ApiError> {
    let role = who.role;
    let responder = Responder::with_role(who.actor(), role);
    let app = state.app.clone();
    let answered = blocking(move || {
        ask::answer(
            &app,
            id,
            Value::Object(response),
            &responder,
            Continue::Queue,
        )
        .map_err(|e| match e {
            InquiryError::Respond(RespondError::Unknown(_)) => ApiError::NotFound(e.to_string()),
            InquiryError::Respond(RespondError::NotPending { .. }) => {
                ApiError::Conflict(e.to_string())
            }
            InquiryError::Role { .. } => ApiError::Forbidden(e.for_role(role)),
            InquiryError::Invalid { .. } => ApiError::BadRequest(e.to_string()),
            other => ApiError::Internal(other.to_string()),
        })
    })
    .await?;
    state.intake.notify_queued();
    Ok(answered.inquiry)
}

/// Answer an inquiry (operator). The response must match the inquiry's
/// schema (400 names the field) and, when the inquiry names roles, the
/// caller's role must be one of them (403). The workflow is queued for
/// `drover serve`, which continues it.
#[utoipa::path(post, path = "/api/v1/inquiries/{id}/respond", tag = "inquiries",
    params(("id" = String, Path, description = "inquiry id")),
    request_body = Response,
    responses((status = 200, body = Object, description = "the answered inquiry"),
              (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
              (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
              (status = 409, body = ErrorBody)))]
pub async fn respond(
    Auth(who, ..): Auth<need::Operator>,
    State(state): State<AppState>,
    ApiPath(id): ApiPath<String>,
    ApiJson(body): ApiJson<Response>,
) -> Result<Json<Value>, ApiError> {
    let id = parse_id(&id)?;
    let answered = answer(&state, &who, id, body.response).await?;
    Ok(Json(serde_json::to_value(answered).map_err(internal)?))
}
