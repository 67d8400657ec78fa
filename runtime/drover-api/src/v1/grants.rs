//! `/api/v1/grants`: list (viewer); give and revoke (admin).

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use drover_app::RevokeError;
use drover_core::Grant;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::{IntoParams, ToSchema};

use super::{ChangeReason, ErrorBody, change_by};
use crate::auth::{Auth, need};
use crate::error::blocking;
use crate::extract::{ApiBody, ApiJson, ApiPath, ApiQuery};
use crate::{ApiError, AppState};

/// A grant: a capability given to one pack version, bound to the digests
/// of the plugins that declare it, within a scope.
#[derive(Serialize, ToSchema)]
pub struct GrantView {
    id: String,
    pack: String,
    version: String,
    capability: String,
    scope: String,
    /// Plugin name → component sha256 the grant is bound to.
    #[schema(value_type = Object)]
    digests: Value,
    created_at_ms: i64,
    created_by: String,
    revoked_at_ms: Option<i64>,
}

fn view(g: Grant) -> GrantView {
    GrantView {
        id: g.id.to_string(),
        digests: serde_json::to_value(&g.digests).unwrap_or_default(),
        pack: g.pack,
        version: g.version,
        capability: g.capability,
        scope: g.scope,
        created_at_ms: g.created_at_ms,
        created_by: g.created_by,
        revoked_at_ms: g.revoked_at_ms,
    }
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ListQuery {
    /// Only grants of this pack (name).
    pack: Option<String>,
    /// Include revoked grants.
    #[serde(default)]
    all: bool,
}

/// Grants, newest first.
#[utoipa::path(get, path = "/api/v1/grants", tag = "grants", params(ListQuery),
    responses((status = 200, body = Vec<GrantView>), (status = 400, body = ErrorBody),
              (status = 401, body = ErrorBody)))]
pub async fn list(
    _: Auth<need::Viewer>,
    State(state): State<AppState>,
    ApiQuery(q): ApiQuery<ListQuery>,
) -> Result<Json<Vec<GrantView>>, ApiError> {
    let store = state.store().clone();
    let grants = blocking(move || Ok(store.list_grants(q.pack.as_deref(), q.all)?)).await?;
    Ok(Json(grants.into_iter().map(view).collect()))
}

/// What to grant.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct GiveRequest {
    /// `PACK@VERSION`, e.g. `demo@0.1.0`.
    pack: String,
    /// e.g. `nodes.reboot`, `http`, `secrets`.
    capability: String,
    /// In the capability's grammar: `rack=r01`, `*.example.com:443`,
    /// `redfish.*`, `*`.
    scope: String,
    /// Only this plugin of the pack (default: every plugin declaring it).
    plugin: Option<String>,
    /// Why, for the change log (optional; one line, at most 500 characters).
    reason: Option<String>,
}

/// Give a grant (admin).
#[utoipa::path(post, path = "/api/v1/grants", tag = "grants", request_body = GiveRequest,
    responses((status = 201, body = GrantView), (status = 400, body = ErrorBody),
              (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)))]
pub async fn give(
    Auth(who, ..): Auth<need::Admin>,
    State(state): State<AppState>,
    ApiJson(req): ApiJson<GiveRequest>,
) -> Result<(StatusCode, Json<GrantView>), ApiError> {
    let by = change_by(&who, req.reason.as_deref())?;
    let store = state.store().clone();
    let grant = blocking(move || {
        drover_app::give_grant(
            &store,
            &req.pack,
            &req.capability,
            &req.scope,
            req.plugin.as_deref(),
            &by,
        )
        .map_err(|e| {
            if e.is_bad_request() {
                ApiError::BadRequest(e.to_string())
            } else {
                ApiError::Internal(e.to_string())
            }
        })
    })
    .await?;
    Ok((StatusCode::CREATED, Json(view(grant))))
}

/// Revoke a grant (admin). The body, optional, gives the reason.
#[utoipa::path(delete, path = "/api/v1/grants/{id}", tag = "grants",
    params(("id" = String, Path, description = "grant id")),
    request_body(content = Option<ChangeReason>, description = "why, for the change log"),
    responses((status = 200, body = GrantView), (status = 400, body = ErrorBody),
              (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
              (status = 404, body = ErrorBody)))]
pub async fn revoke(
    Auth(who, ..): Auth<need::Admin>,
    State(state): State<AppState>,
    ApiPath(id): ApiPath<String>,
    ApiBody(body): ApiBody<ChangeReason>,
) -> Result<Json<GrantView>, ApiError> {
    let by = change_by(&who, body.reason.as_deref())?;
    let store = state.store().clone();
    blocking(move || {
        drover_app::revoke_grant(&store, &id, &by)
            .map(|g| Json(view(g)))
            .map_err(|e| match e {
                RevokeError::Id(_) => ApiError::BadRequest(e.to_string()),
                RevokeError::NotActive(_) => ApiError::NotFound(e.to_string()),
                RevokeError::Store(e) => e.into(),
            })
    })
    .await
}
