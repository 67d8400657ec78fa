//! `/api/v1/packs/{name}/shadow-report`: what a waiting candidate version
//! would have done beside what the live version did, per trigger, the
//! differences first (drover-app's `shadow`; viewer).

use axum::Json;
use axum::extract::State;
use drover_app::shadow::ShadowError;
use serde::Deserialize;
use serde_json::Value;
use utoipa::IntoParams;

use super::ErrorBody;
use crate::auth::{Auth, need};
use crate::error::blocking;
use crate::extract::{ApiPath, ApiQuery};
use crate::{ApiError, AppState};

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ShadowQuery {
    /// The candidate version (default: the one waiting in shadow mode).
    version: Option<String>,
    /// Only triggers this recent: a duration from `1m` to `30d` (default:
    /// everything the candidate saw).
    since: Option<String>,
}

/// The candidate's dry runs beside the live version's real ones, per
/// trigger: `pack`, `live_version`, `candidate_version`, `triggers`,
/// `differing`, `running`, `effects` (by capability: live, candidate),
/// `truncated`, `notes` and `items` (trigger, `differs`, `differences`,
/// and each side's rules with their runs and world-changing calls).
#[utoipa::path(get, path = "/api/v1/packs/{name}/shadow-report", tag = "packs",
    params(("name" = String, Path, description = "pack name"), ShadowQuery),
    responses((status = 200, body = Object), (status = 400, body = ErrorBody),
              (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn report(
    _: Auth<need::Viewer>,
    State(state): State<AppState>,
    ApiPath(name): ApiPath<String>,
    ApiQuery(q): ApiQuery<ShadowQuery>,
) -> Result<Json<Value>, ApiError> {
    let since_ms = match q.since.as_deref() {
        Some(since) => {
            drover_core::now_ms()
                - drover_app::incidents::range_ms(since).map_err(ApiError::BadRequest)?
        }
        None => 0,
    };
    let app = state.app.clone();
    blocking(move || {
        let installed = app.packs()?;
        let report = drover_app::shadow::report(
            app.store(),
            &installed,
            &name,
            q.version.as_deref(),
            since_ms,
        )
        .map_err(|e| match e {
            ShadowError::Store(e) => e.into(),
            ShadowError::NotInstalled(_) => ApiError::NotFound(e.to_string()),
            e => ApiError::BadRequest(e.to_string()),
        })?;
        Ok(Json(
            serde_json::to_value(report).map_err(|e| ApiError::Internal(e.to_string()))?,
        ))
    })
    .await
}
