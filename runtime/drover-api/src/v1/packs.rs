//! `/api/v1/packs`: installed packs, each plugin's capabilities declared
//! vs granted, the difference between two versions, promotion out of
//! shadow mode (admin) and rollback to the version live before
//! (operator).

use axum::Json;
use axum::extract::State;
use drover_app::packs::{self as app_packs, PromoteError, RollbackError};
use drover_core::Grant;
use drover_pack::Pack;
use drover_store::InstalledPack;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::{IntoParams, ToSchema};

use super::ErrorBody;
use crate::auth::{Auth, need};
use crate::error::blocking;
use crate::extract::{ApiPath, ApiQuery};
use crate::v1::executions::internal;
use crate::{ApiError, AppState};

/// An installed pack version.
#[derive(Serialize, ToSchema)]
pub struct PackItem {
    name: String,
    version: String,
    description: String,
    /// Plugin name → component sha256.
    #[schema(value_type = Object)]
    plugins: Value,
    installed_at_ms: i64,
    installed_by: String,
    /// Everything it causes is a dry run until it is promoted.
    shadow: bool,
    /// The version rules, workflows and runs use (the newest trusted one,
    /// else the newest).
    live: bool,
    /// Who signed the archive it was installed from: the trusted key's
    /// name and fingerprint (`batch-team SHA256:…`), `unsigned` or
    /// `untrusted SHA256:…` (installed with --allow-unsigned); null for a
    /// pack directory.
    signer: Option<String>,
}

fn item(p: &InstalledPack) -> PackItem {
    PackItem {
        name: p.name.clone(),
        version: p.version.clone(),
        description: p.manifest["description"].as_str().unwrap_or("").to_owned(),
        plugins: serde_json::to_value(&p.digests).unwrap_or_default(),
        installed_at_ms: p.installed_at_ms,
        installed_by: p.installed_by.clone(),
        shadow: p.shadow,
        live: p.live,
        signer: p.signer.clone(),
    }
}

/// Installed packs (every installed version).
#[utoipa::path(get, path = "/api/v1/packs", tag = "packs",
    responses((status = 200, body = Vec<PackItem>), (status = 401, body = ErrorBody)))]
pub async fn list(
    _: Auth<need::Viewer>,
    State(state): State<AppState>,
) -> Result<Json<Vec<PackItem>>, ApiError> {
    let store = state.store().clone();
    let packs = blocking(move || Ok(store.list_packs()?)).await?;
    Ok(Json(packs.iter().map(item).collect()))
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct VersionQuery {
    /// A version (default: the live one).
    version: Option<String>,
}

/// A capability a plugin declares, and what is granted.
#[derive(Serialize, ToSchema)]
pub struct CapabilityView {
    capability: String,
    /// False for capabilities declaring is enough for (`log`, `kv`, node reads).
    needs_grant: bool,
    /// Active grants covering this plugin's current component.
    grants: Vec<GrantScope>,
}

#[derive(Serialize, ToSchema)]
pub struct GrantScope {
    id: String,
    scope: String,
}

#[derive(Serialize, ToSchema)]
pub struct PluginView {
    name: String,
    kind: String,
    description: String,
    digest: Option<String>,
    /// Parameters, one line each (`name: type, required ...`).
    parameters: Vec<String>,
    capabilities: Vec<CapabilityView>,
}

/// A pack with its plugins' capabilities declared vs granted.
#[derive(Serialize, ToSchema)]
pub struct PackDetail {
    #[serde(flatten)]
    pack: PackItem,
    source_dir: String,
    plugins_detail: Vec<PluginView>,
}

/// One pack: plugins, parameters, capabilities declared vs granted.
#[utoipa::path(get, path = "/api/v1/packs/{name}", tag = "packs",
    params(("name" = String, Path, description = "pack name"), VersionQuery),
    responses((status = 200, body = PackDetail), (status = 401, body = ErrorBody),
              (status = 404, body = ErrorBody)))]
pub async fn get(
    _: Auth<need::Viewer>,
    State(state): State<AppState>,
    ApiPath(name): ApiPath<String>,
    ApiQuery(q): ApiQuery<VersionQuery>,
) -> Result<Json<PackDetail>, ApiError> {
    let store = state.store().clone();
    blocking(move || {
        let installed = store
            .get_pack(&name, q.version.as_deref())?
            .ok_or_else(|| not_installed(&name, q.version.as_deref()))?;
        let pack: Pack = serde_json::from_value(installed.manifest.clone()).map_err(internal)?;
        let grants = store.active_grants(&pack.name, &pack.version)?;
        let plugins_detail = pack
            .plugins
            .iter()
            .map(|p| {
                let digest = installed.digests.get(&p.name).cloned();
                PluginView {
                    name: p.name.clone(),
                    kind: p.kind.to_string(),
                    description: p.description.clone(),
                    parameters: p.parameters.describe(),
                    capabilities: p
                        .capabilities
                        .iter()
                        .map(|cap| CapabilityView {
                            capability: cap.to_string(),
                            needs_grant: cap.needs_grant(),
                            grants: covering(&grants, cap.name(), &p.name, digest.as_deref()),
                        })
                        .collect(),
                    digest,
                }
            })
            .collect();
        Ok(Json(PackDetail {
            pack: item(&installed),
            source_dir: installed.source_dir.clone(),
            plugins_detail,
        }))
    })
    .await
}

fn covering(grants: &[Grant], cap: &str, plugin: &str, digest: Option<&str>) -> Vec<GrantScope> {
    grants
        .iter()
        .filter(|g| g.capability == cap && g.digests.get(plugin).map(String::as_str) == digest)
        .map(|g| GrantScope {
            id: g.id.to_string(),
            scope: g.scope.clone(),
        })
        .collect()
}

fn not_installed(name: &str, version: Option<&str>) -> ApiError {
    ApiError::NotFound(match version {
        Some(v) => format!("{name}@{v} is not installed (GET /api/v1/packs lists packs)"),
        None => format!("no pack {name:?} is installed (GET /api/v1/packs lists packs)"),
    })
}

#[derive(Serialize, ToSchema)]
pub struct Promoted {
    name: String,
    version: String,
    /// False when it was not in shadow mode.
    changed: bool,
    note: String,
}

/// Take a pack version out of shadow mode (operator; admin when it asks
/// for a capability needing a grant that the live version does not
/// declare: 403 lists them): without `version`, the newest shadowed one
/// (as `drover pack promote NAME` does). A running serve picks it up
/// within about a second, and its rules start real executions. The body's
/// `reason` is required: it goes to the change log.
#[utoipa::path(post, path = "/api/v1/packs/{name}/promote", tag = "packs",
    params(("name" = String, Path, description = "pack name"), VersionQuery),
    request_body = crate::v1::ChangeReason,
    responses((status = 200, body = Promoted), (status = 400, body = ErrorBody),
              (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
              (status = 404, body = ErrorBody)))]
pub async fn promote(
    Auth(who, ..): Auth<need::Operator>,
    State(state): State<AppState>,
    ApiPath(name): ApiPath<String>,
    ApiQuery(q): ApiQuery<VersionQuery>,
    crate::extract::ApiBody(body): crate::extract::ApiBody<crate::v1::ChangeReason>,
) -> Result<Json<Promoted>, ApiError> {
    let by = crate::v1::change_by(&who, body.reason.as_deref())?;
    let store = state.store().clone();
    blocking(move || {
        let done = app_packs::promote(&store, &name, q.version.as_deref(), &by, who.role).map_err(
            |e| match e {
                PromoteError::NotInstalled(_) => not_installed(&name, q.version.as_deref()),
                PromoteError::NoReason(_) => ApiError::BadRequest(e.to_string()),
                PromoteError::NeedsAdmin { .. } => ApiError::Forbidden(e.to_string()),
                PromoteError::Manifest(..) => ApiError::Internal(e.to_string()),
                PromoteError::Store(e) => e.into(),
            },
        )?;
        Ok(Json(Promoted {
            note: done.note(),
            name: done.name,
            version: done.version,
            changed: done.changed,
        }))
    })
    .await
}

#[derive(Serialize, ToSchema)]
pub struct RolledBack {
    name: String,
    /// The version that was live, now back in shadow mode.
    from: String,
    /// The version live again.
    to: String,
    note: String,
}

/// Roll a pack back (operator): its live version goes back into shadow
/// mode, so the trusted version live before it is live again, with its
/// rules, policies, sensors and grants, in one transaction (as `drover
/// pack rollback NAME` does). It brings back only what was live and
/// granted before, so it takes the operator role, as an on-call undo.
/// The body's `reason` is required: it goes to the change log. 409 when
/// no earlier trusted version is installed.
#[utoipa::path(post, path = "/api/v1/packs/{name}/rollback", tag = "packs",
    params(("name" = String, Path, description = "pack name")),
    request_body = crate::v1::ChangeReason,
    responses((status = 200, body = RolledBack), (status = 400, body = ErrorBody),
              (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
              (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub async fn rollback(
    Auth(who, ..): Auth<need::Operator>,
    State(state): State<AppState>,
    ApiPath(name): ApiPath<String>,
    crate::extract::ApiBody(body): crate::extract::ApiBody<crate::v1::ChangeReason>,
) -> Result<Json<RolledBack>, ApiError> {
    let by = crate::v1::change_by(&who, body.reason.as_deref())?;
    let store = state.store().clone();
    blocking(move || {
        let done = app_packs::rollback(&store, &name, &by).map_err(|e| match e {
            RollbackError::NotInstalled(_) => not_installed(&name, None),
            RollbackError::NoReason(_) | RollbackError::Versioned(..) => {
                ApiError::BadRequest(e.to_string())
            }
            RollbackError::NothingEarlier { .. } => ApiError::Conflict(e.to_string()),
            RollbackError::Store(e) => e.into(),
        })?;
        Ok(Json(RolledBack {
            note: done.note(),
            name: done.name,
            from: done.from,
            to: done.to,
        }))
    })
    .await
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct DiffQuery {
    /// The version to compare from (default: the live one).
    from: Option<String>,
    /// The version to compare to (default: the newest shadowed candidate).
    to: Option<String>,
}

/// The difference between two installed versions of a pack (as `drover
/// pack diff NAME FROM TO --json` prints it): `capabilities` first (each
/// plugin's, added/removed/unchanged, with the grants each version has and
/// `missing_grant` where the new one lacks what it needs), then `rules`,
/// `workflows`, `plugins` (parameters, limits, components), `triggers` and
/// `policies`, each changed item with its `fields` and a line diff. 404
/// names the versions installed.
#[utoipa::path(get, path = "/api/v1/packs/{name}/diff", tag = "packs",
    params(("name" = String, Path, description = "pack name"), DiffQuery),
    responses((status = 200, body = Object, description = "the difference, capabilities first"),
              (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
              (status = 404, body = ErrorBody)))]
pub async fn diff(
    _: Auth<need::Viewer>,
    State(state): State<AppState>,
    ApiPath(name): ApiPath<String>,
    ApiQuery(q): ApiQuery<DiffQuery>,
) -> Result<Json<drover_app::pack_diff::PackDiff>, ApiError> {
    let store = state.store().clone();
    blocking(move || {
        drover_app::pack_diff::diff_installed(&store, &name, q.from.as_deref(), q.to.as_deref())
            .map(Json)
            .map_err(|e| match e {
                drover_app::pack_diff::DiffError::Store(e) => e.into(),
                e if e.is_not_found() => ApiError::NotFound(
                    e.to_string()
                        .replace("`drover pack list`", "GET /api/v1/packs"),
                ),
                e => internal(e),
            })
    })
    .await
}
