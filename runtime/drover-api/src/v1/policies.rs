//! `/api/v1/policies`: every policy in force (viewer), and the operator's
//! own (admin: a policy may hold back or retry any installed action).
//! The operations are `drover policy`'s own
//! (`drover_engine::policies::operator`): the same checks, audit record
//! and answers, locally and with `--server`.

use axum::Json;
use axum::extract::State;
use drover_engine::policies::operator::{
    self, MAX_DEFINITION_BYTES, OperatorPolicyError, PolicyView,
};
use serde::Deserialize;
use utoipa::ToSchema;

use super::ErrorBody;
use crate::auth::{Auth, need};
use crate::error::blocking;
use crate::extract::{ApiJson, ApiPath};
use crate::{ApiError, AppState};

/// Longest `source` accepted.
const MAX_SOURCE: usize = 256;

fn policy_error(e: OperatorPolicyError) -> ApiError {
    match e {
        OperatorPolicyError::Store(e) => e.into(),
        e @ OperatorPolicyError::Unknown(_) => ApiError::NotFound(e.to_string()),
        e => ApiError::BadRequest(e.to_string()),
    }
}

/// Every policy in force: the packs' (each on its own actions) and the
/// operator's.
#[utoipa::path(get, path = "/api/v1/policies", tag = "policies",
    responses((status = 200, body = Vec<Object>), (status = 401, body = ErrorBody)))]
pub async fn list(
    _: Auth<need::Viewer>,
    State(state): State<AppState>,
) -> Result<Json<Vec<PolicyView>>, ApiError> {
    let store = state.store().clone();
    blocking(move || operator::list(&store).map(Json).map_err(policy_error)).await
}

/// An operator policy.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PolicyRequest {
    /// The policy's YAML, in the format of a pack's `policies/*.yaml`
    /// (at most 1 MiB).
    definition: String,
    /// What errors call it, e.g. the file's name (default `policy`; at
    /// most 256 characters).
    source: Option<String>,
}

/// Add or replace an operator policy (admin). It may govern any installed
/// action; a running serve applies it within a second. 400 names the
/// problem (YAML, a field, an action that is not installed) and nothing
/// is stored.
#[utoipa::path(post, path = "/api/v1/policies", tag = "policies",
    request_body = PolicyRequest,
    responses((status = 200, body = Object, description = "the policy set"),
              (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
              (status = 403, body = ErrorBody)))]
pub async fn set(
    Auth(who, ..): Auth<need::Admin>,
    State(state): State<AppState>,
    ApiJson(req): ApiJson<PolicyRequest>,
) -> Result<Json<PolicyView>, ApiError> {
    if req.definition.len() > MAX_DEFINITION_BYTES {
        return Err(policy_error(OperatorPolicyError::TooLarge(
            req.definition.len(),
        )));
    }
    let source = req.source.unwrap_or_else(|| "policy".to_owned());
    if source.is_empty() || source.len() > MAX_SOURCE || source.chars().any(char::is_control) {
        return Err(ApiError::BadRequest(format!(
            "source must be 1 to {MAX_SOURCE} printable characters, e.g. the file's name"
        )));
    }
    let app = state.app.clone();
    let actor = who.actor();
    blocking(move || {
        operator::set(&app, &source, &req.definition, &actor)
            .map(Json)
            .map_err(policy_error)
    })
    .await
}

/// Remove an operator policy by name (admin; a pack's policies go with
/// the pack).
#[utoipa::path(delete, path = "/api/v1/policies/{name}", tag = "policies",
    params(("name" = String, Path, description = "the policy's name, without `drover.`")),
    responses((status = 200, body = Object, description = "the policy removed"),
              (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
              (status = 404, body = ErrorBody)))]
pub async fn remove(
    Auth(who, ..): Auth<need::Admin>,
    State(state): State<AppState>,
    ApiPath(name): ApiPath<String>,
) -> Result<Json<PolicyView>, ApiError> {
    let store = state.store().clone();
    let actor = who.actor();
    blocking(move || {
        operator::remove(&store, &name, &actor)
            .map(Json)
            .map_err(policy_error)
    })
    .await
}
