//! `/api/v1/trust`: the publisher keys this drover trusts to sign pack
//! archives. Listing is `viewer` (public keys and pack patterns, nothing
//! secret); trusting and distrusting a key are `admin`, as grants are: a
//! trusted key decides which signed archives install live.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use drover_app::trust::TrustError;
use drover_store::TrustedKey;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::{ChangeReason, ErrorBody, change_by};
use crate::auth::{Auth, need};
use crate::error::blocking;
use crate::extract::{ApiBody, ApiJson, ApiPath};
use crate::{ApiError, AppState};

/// The longest public key text accepted (an OpenSSH ed25519 line is
/// about 100 bytes; the CLI reads files up to the same limit).
const MAX_PUBLIC_KEY_BYTES: usize = 16 * 1024;

/// A trusted publisher key.
#[derive(Serialize, ToSchema)]
pub struct TrustedKeyView {
    /// The operator's name for it, shown as the signer of what it signs.
    name: String,
    /// The OpenSSH public key line (`ssh-ed25519 AAAA… NAME`).
    public_key: String,
    /// `SHA256:…`.
    fingerprint: String,
    /// Pack name patterns (`*`, `?`) it may sign.
    packs: Vec<String>,
    added_at_ms: i64,
    added_by: String,
}

fn view(k: TrustedKey) -> TrustedKeyView {
    TrustedKeyView {
        name: k.name,
        public_key: k.public_key,
        fingerprint: k.fingerprint,
        packs: k.packs,
        added_at_ms: k.added_at_ms,
        added_by: k.added_by,
    }
}

/// Each refusal as the status that says whose fault it is.
fn api_error(e: TrustError) -> ApiError {
    match e {
        TrustError::BadName(_) | TrustError::Key(_) | TrustError::BadPattern { .. } => {
            ApiError::BadRequest(e.to_string())
        }
        TrustError::NameTaken(_) | TrustError::KeyTaken { .. } => ApiError::Conflict(e.to_string()),
        TrustError::NotTrusted(_) => ApiError::NotFound(e.to_string()),
        TrustError::Store(e) => e.into(),
    }
}

/// Trusted keys, by name.
#[utoipa::path(get, path = "/api/v1/trust", tag = "trust",
    responses((status = 200, body = Vec<TrustedKeyView>), (status = 401, body = ErrorBody)))]
pub async fn list(
    _: Auth<need::Viewer>,
    State(state): State<AppState>,
) -> Result<Json<Vec<TrustedKeyView>>, ApiError> {
    let store = state.store().clone();
    let keys = blocking(move || Ok(store.list_trusted_keys()?)).await?;
    Ok(Json(keys.into_iter().map(view).collect()))
}

/// A key to trust.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TrustRequest {
    /// Your name for the key, e.g. `batch-team`.
    name: String,
    /// The publisher's OpenSSH ed25519 public key (the `.pub` file's line,
    /// as `drover key new` writes it).
    public_key: String,
    /// The pack names it may sign: comma-separated names or patterns with
    /// `*` and `?`, e.g. `batch*,ops_*` (default: every pack).
    packs: Option<String>,
    /// Why, for the change log (optional; one line, at most 500 characters).
    reason: Option<String>,
}

/// Trust a publisher key (admin).
#[utoipa::path(post, path = "/api/v1/trust", tag = "trust", request_body = TrustRequest,
    responses((status = 201, body = TrustedKeyView), (status = 400, body = ErrorBody),
              (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
              (status = 409, body = ErrorBody)))]
pub async fn add(
    Auth(who, ..): Auth<need::Admin>,
    State(state): State<AppState>,
    ApiJson(req): ApiJson<TrustRequest>,
) -> Result<(StatusCode, Json<TrustedKeyView>), ApiError> {
    let by = change_by(&who, req.reason.as_deref())?;
    if req.public_key.len() > MAX_PUBLIC_KEY_BYTES {
        return Err(ApiError::BadRequest(format!(
            "public_key: {} bytes; an OpenSSH public key is one line, well under {} KiB",
            req.public_key.len(),
            MAX_PUBLIC_KEY_BYTES / 1024
        )));
    }
    let store = state.store().clone();
    let key = blocking(move || {
        drover_app::trust::add_trust(
            &store,
            "public_key",
            &req.public_key,
            &req.name,
            req.packs.as_deref(),
            &by,
        )
        .map_err(api_error)
    })
    .await?;
    Ok((StatusCode::CREATED, Json(view(key))))
}

/// Stop trusting a key (admin): archives it signed are refused from now
/// on; versions installed already stay installed. The body, optional,
/// gives the reason.
#[utoipa::path(delete, path = "/api/v1/trust/{name}", tag = "trust",
    params(("name" = String, Path, description = "the key's name")),
    request_body(content = Option<ChangeReason>, description = "why, for the change log"),
    responses((status = 200, body = TrustedKeyView), (status = 400, body = ErrorBody),
              (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
              (status = 404, body = ErrorBody)))]
pub async fn remove(
    Auth(who, ..): Auth<need::Admin>,
    State(state): State<AppState>,
    ApiPath(name): ApiPath<String>,
    ApiBody(body): ApiBody<ChangeReason>,
) -> Result<Json<TrustedKeyView>, ApiError> {
    let by = change_by(&who, body.reason.as_deref())?;
    let store = state.store().clone();
    blocking(move || {
        drover_app::trust::remove_trust(&store, &name, &by)
            .map(|k| Json(view(k)))
            .map_err(api_error)
    })
    .await
}
