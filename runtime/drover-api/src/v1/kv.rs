//! `/api/v1/kv` and `/api/v1/secrets`. kv: read (viewer), write and
//! delete (operator). Secrets: names (viewer) and setting a value (admin);
//! a value is never returned by anything.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use drover_app::secrets::{SecretError, set_secret};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::ErrorBody;
use crate::auth::{Auth, need};
use crate::error::blocking;
use crate::extract::{ApiJson, ApiPath, ApiQuery};
use crate::{ApiError, AppState};

/// Refuses a scope that is not `system`, `user:NAME` or `pack:NAME` (a bare
/// pack name is no scope: a pack's keys are under `pack:NAME`).
fn check_scope(scope: &str) -> Result<(), ApiError> {
    drover_app::kv::check_scope(scope).map_err(kv_error)
}

fn kv_error(e: drover_app::kv::KvError) -> ApiError {
    match e {
        drover_app::kv::KvError::Store(e) => e.into(),
        e => ApiError::BadRequest(e.to_string()),
    }
}

#[derive(Serialize, ToSchema)]
pub struct KvPair {
    scope: String,
    key: String,
    value: String,
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct PrefixQuery {
    /// Only keys starting with this.
    prefix: Option<String>,
}

/// The live keys of a scope (`system`, `user:NAME` or `pack:NAME`).
#[utoipa::path(get, path = "/api/v1/kv/{scope}", tag = "kv",
    params(("scope" = String, Path, description = "`system`, `user:NAME` or `pack:NAME`"), PrefixQuery),
    responses((status = 200, body = Vec<KvPair>), (status = 400, body = ErrorBody),
              (status = 401, body = ErrorBody)))]
pub async fn list(
    _: Auth<need::Viewer>,
    State(state): State<AppState>,
    ApiPath(scope): ApiPath<String>,
    ApiQuery(q): ApiQuery<PrefixQuery>,
) -> Result<Json<Vec<KvPair>>, ApiError> {
    check_scope(&scope)?;
    let store = state.store().clone();
    let s = scope.clone();
    let pairs = blocking(move || Ok(store.kv_list(&s, q.prefix.as_deref().unwrap_or(""))?)).await?;
    Ok(Json(
        pairs
            .into_iter()
            .map(|(key, value)| KvPair {
                scope: scope.clone(),
                key,
                value,
            })
            .collect(),
    ))
}

/// One key.
#[utoipa::path(get, path = "/api/v1/kv/{scope}/{key}", tag = "kv",
    params(("scope" = String, Path, description = "`system`, `user:NAME` or `pack:NAME`"),
           ("key" = String, Path, description = "the key")),
    responses((status = 200, body = KvPair), (status = 400, body = ErrorBody),
              (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn get(
    _: Auth<need::Viewer>,
    State(state): State<AppState>,
    ApiPath((scope, key)): ApiPath<(String, String)>,
) -> Result<Json<KvPair>, ApiError> {
    check_scope(&scope)?;
    let store = state.store().clone();
    let (s, k) = (scope.clone(), key.clone());
    let value = blocking(move || Ok(store.kv_get(&s, &k)?)).await?;
    match value {
        Some(value) => Ok(Json(KvPair { scope, key, value })),
        None => Err(ApiError::NotFound(format!(
            "no key {key:?} in scope {scope:?} (it may have expired)"
        ))),
    }
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct KvSet {
    value: String,
    /// Seconds until the key expires.
    ttl_seconds: Option<u32>,
}

/// Set a key (operator).
#[utoipa::path(put, path = "/api/v1/kv/{scope}/{key}", tag = "kv",
    params(("scope" = String, Path, description = "`system`, `user:NAME` or `pack:NAME`"),
           ("key" = String, Path, description = "the key")),
    request_body = KvSet,
    responses((status = 200, body = KvPair), (status = 400, body = ErrorBody),
              (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)))]
pub async fn set(
    _: Auth<need::Operator>,
    State(state): State<AppState>,
    ApiPath((scope, key)): ApiPath<(String, String)>,
    ApiJson(req): ApiJson<KvSet>,
) -> Result<Json<KvPair>, ApiError> {
    let store = state.store().clone();
    let (s, k, v) = (scope.clone(), key.clone(), req.value.clone());
    blocking(move || drover_app::kv::set(&store, &s, &k, &v, req.ttl_seconds).map_err(kv_error))
        .await?;
    Ok(Json(KvPair {
        scope,
        key,
        value: req.value,
    }))
}

/// Delete a key (operator).
#[utoipa::path(delete, path = "/api/v1/kv/{scope}/{key}", tag = "kv",
    params(("scope" = String, Path, description = "`system`, `user:NAME` or `pack:NAME`"),
           ("key" = String, Path, description = "the key")),
    responses((status = 204, description = "deleted"), (status = 400, body = ErrorBody),
              (status = 401, body = ErrorBody),
              (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn delete(
    _: Auth<need::Operator>,
    State(state): State<AppState>,
    ApiPath((scope, key)): ApiPath<(String, String)>,
) -> Result<StatusCode, ApiError> {
    check_scope(&scope)?;
    let store = state.store().clone();
    let (s, k) = (scope.clone(), key.clone());
    if blocking(move || Ok(store.kv_delete(&s, &k)?)).await? {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(ApiError::NotFound(format!(
            "no key {key:?} in scope {scope:?}"
        )))
    }
}

/// Secret names; values are never shown.
#[utoipa::path(get, path = "/api/v1/secrets", tag = "secrets",
    responses((status = 200, body = Vec<String>), (status = 401, body = ErrorBody)))]
pub async fn secret_names(
    _: Auth<need::Viewer>,
    State(state): State<AppState>,
) -> Result<Json<Vec<String>>, ApiError> {
    let store = state.store().clone();
    Ok(Json(blocking(move || Ok(store.secret_names()?)).await?))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SecretSet {
    /// Stored encrypted; never returned.
    value: String,
}

/// Set a secret (admin). Write-only: the answer has no value.
#[utoipa::path(put, path = "/api/v1/secrets/{name}", tag = "secrets",
    params(("name" = String, Path, description = "letters, digits and `._-/`")),
    request_body = SecretSet,
    responses((status = 204, description = "stored"), (status = 400, body = ErrorBody),
              (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)))]
pub async fn secret_set(
    _: Auth<need::Admin>,
    State(state): State<AppState>,
    ApiPath(name): ApiPath<String>,
    ApiJson(req): ApiJson<SecretSet>,
) -> Result<StatusCode, ApiError> {
    let store = state.store().clone();
    blocking(move || {
        set_secret(&store, &name, &req.value).map_err(|e| match e {
            SecretError::Store(e) => e.into(),
            e => ApiError::BadRequest(e.to_string()),
        })
    })
    .await?;
    Ok(StatusCode::NO_CONTENT)
}
