//! Who is asking and who may: `/api/v1/whoami`, `/api/v1/login` and
//! `/api/v1/logout` (JSON sessions), and `/api/v1/tokens` (admin; the
//! checks are `drover_app::access`'s, as for `drover token`).

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use drover_app::access::{self, AccessError};
use drover_store::{ApiToken, Role};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::ErrorBody;
use crate::auth::{self, Auth, Principal, Via, need};
use crate::error::blocking;
use crate::extract::{ApiJson, ApiPath, ApiQuery};
use crate::{ApiError, AppState};

#[derive(Serialize, ToSchema)]
pub struct WhoAmI {
    name: String,
    /// `viewer`, `operator` or `admin`.
    role: String,
    /// `token` or `session`.
    via: String,
    /// With a session: the CSRF token to send in `X-CSRF-Token` on unsafe
    /// requests (and in forms' `csrf` field).
    csrf: Option<String>,
}

fn whoami_of(p: &Principal) -> WhoAmI {
    WhoAmI {
        name: p.name.clone(),
        role: p.role.to_string(),
        via: match p.via {
            Via::Token { .. } => "token".into(),
            Via::Session { .. } => "session".into(),
        },
        csrf: p.csrf().map(str::to_owned),
    }
}

/// Who the credentials belong to.
#[utoipa::path(get, path = "/api/v1/whoami", tag = "access",
    responses((status = 200, body = WhoAmI), (status = 401, body = ErrorBody)))]
pub async fn whoami(Auth(p, ..): Auth<need::Viewer>) -> Json<WhoAmI> {
    Json(whoami_of(&p))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LoginRequest {
    name: String,
    password: String,
}

/// Log in with a user's password: sets the session cookie (HttpOnly,
/// SameSite=Strict) and returns the session's CSRF token.
#[utoipa::path(post, path = "/api/v1/login", tag = "access", request_body = LoginRequest,
    security(()),
    responses((status = 200, body = WhoAmI), (status = 400, body = ErrorBody),
              (status = 401, body = ErrorBody)))]
pub async fn login(
    State(state): State<AppState>,
    ApiJson(req): ApiJson<LoginRequest>,
) -> Result<Response, ApiError> {
    let store = state.store().clone();
    let name = req.name.clone();
    let _turn = auth::login_permit().await;
    let session = blocking(move || auth::login(&store, &req.name, &req.password)).await?;
    let cookie = auth::session_cookie(&session.cookie_value, state.config.secure_cookies);
    let body = WhoAmI {
        name,
        role: session.role.to_string(),
        via: "session".into(),
        csrf: Some(session.csrf),
    };
    let mut resp = Json(body).into_response();
    resp.headers_mut().insert(
        header::SET_COOKIE,
        HeaderValue::from_str(&cookie).map_err(|e| ApiError::Internal(e.to_string()))?,
    );
    Ok(resp)
}

/// End the current session (needs `X-CSRF-Token`).
#[utoipa::path(post, path = "/api/v1/logout", tag = "access",
    responses((status = 204, description = "logged out"), (status = 401, body = ErrorBody),
              (status = 403, body = ErrorBody)))]
pub async fn logout(
    _: Auth<need::Viewer>,
    State(state): State<AppState>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    end_session(&state, &headers).await?;
    let mut resp = StatusCode::NO_CONTENT.into_response();
    resp.headers_mut().insert(
        header::SET_COOKIE,
        HeaderValue::from_str(&auth::clear_session_cookie(state.config.secure_cookies))
            .map_err(|e| ApiError::Internal(e.to_string()))?,
    );
    Ok(resp)
}

/// Deletes the request's session, if it has one.
pub(crate) async fn end_session(state: &AppState, headers: &HeaderMap) -> Result<(), ApiError> {
    if let Some(id) = auth::session_cookie_value(headers) {
        let hash = auth::sha256_hex(id);
        let store = state.store().clone();
        blocking(move || Ok(store.delete_session(&hash)?)).await?;
    }
    Ok(())
}

/// [`access`]'s refusals as the API's errors.
fn access_error(e: AccessError) -> ApiError {
    match e {
        AccessError::Store(e) => e.into(),
        e @ (AccessError::NoToken(_) | AccessError::NoUser(_)) => ApiError::NotFound(e.to_string()),
        e => ApiError::BadRequest(e.to_string()),
    }
}

/// An API token's record (never the token).
#[derive(Serialize, ToSchema)]
pub struct TokenView {
    id: String,
    name: String,
    role: String,
    created_at_ms: i64,
    created_by: String,
    revoked_at_ms: Option<i64>,
}

fn view(t: ApiToken) -> TokenView {
    TokenView {
        id: t.id,
        name: t.name,
        role: t.role.to_string(),
        created_at_ms: t.created_at_ms,
        created_by: t.created_by,
        revoked_at_ms: t.revoked_at_ms,
    }
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct TokenQuery {
    /// Include revoked tokens.
    #[serde(default)]
    all: bool,
}

/// API tokens (admin).
#[utoipa::path(get, path = "/api/v1/tokens", tag = "access", params(TokenQuery),
    responses((status = 200, body = Vec<TokenView>), (status = 401, body = ErrorBody),
              (status = 403, body = ErrorBody)))]
pub async fn tokens(
    _: Auth<need::Admin>,
    State(state): State<AppState>,
    ApiQuery(q): ApiQuery<TokenQuery>,
) -> Result<Json<Vec<TokenView>>, ApiError> {
    let store = state.store().clone();
    let all = blocking(move || Ok(store.list_tokens(q.all)?)).await?;
    Ok(Json(all.into_iter().map(view).collect()))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TokenRequest {
    /// What the token is for, e.g. `ci`.
    name: String,
    /// `viewer`, `operator` or `admin`.
    role: String,
}

#[derive(Serialize, ToSchema)]
pub struct NewToken {
    #[serde(flatten)]
    record: TokenView,
    /// The token. Shown only now: it is stored hashed.
    token: String,
}

/// Create an API token (admin). The token is in this answer only.
#[utoipa::path(post, path = "/api/v1/tokens", tag = "access", request_body = TokenRequest,
    responses((status = 201, body = NewToken), (status = 400, body = ErrorBody),
              (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)))]
pub async fn create_token(
    Auth(who, ..): Auth<need::Admin>,
    State(state): State<AppState>,
    ApiJson(req): ApiJson<TokenRequest>,
) -> Result<(StatusCode, Json<NewToken>), ApiError> {
    let role: Role = req.role.parse().map_err(ApiError::BadRequest)?;
    let store = state.store().clone();
    let (record, token) = blocking(move || {
        access::create_token(&store, &req.name, role, &who.actor()).map_err(access_error)
    })
    .await?;
    Ok((
        StatusCode::CREATED,
        Json(NewToken {
            record: view(record),
            token,
        }),
    ))
}

/// Revoke an API token (admin).
#[utoipa::path(delete, path = "/api/v1/tokens/{id}", tag = "access",
    params(("id" = String, Path, description = "token id")),
    responses((status = 200, body = TokenView), (status = 401, body = ErrorBody),
              (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn revoke_token(
    _: Auth<need::Admin>,
    State(state): State<AppState>,
    ApiPath(id): ApiPath<String>,
) -> Result<Json<TokenView>, ApiError> {
    let store = state.store().clone();
    blocking(move || {
        access::revoke_token(&store, &id)
            .map(|t| Json(view(t)))
            .map_err(access_error)
    })
    .await
}
