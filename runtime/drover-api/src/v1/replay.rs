//! `POST /api/v1/packs/{name}/replay`: stored trigger instances through a
//! candidate version of a pack as dry runs, next to what the live version
//! did (`drover replay`, drover-engine's `replay`; operator). It runs on
//! the blocking pool, on its own connections to the database and a
//! scratch copy, at most [`API_MAX_LIMIT`] triggers, one replay at a time
//! per server (a second one gets 409). The server's priority is left
//! alone: the limit keeps a replay short instead.

use std::path::PathBuf;
use std::sync::{Mutex, TryLockError};

use axum::Json;
use axum::extract::State;
use drover_engine::replay::{self, Replay, ReplayError, Setup, Spec};
use serde::Deserialize;
use utoipa::ToSchema;

use super::ErrorBody;
use crate::auth::{Auth, need};
use crate::extract::ApiPath;
use crate::{ApiError, AppState};

/// The most triggers one replay through the API takes (the CLI on the
/// host takes up to `drover_engine::replay::MAX_LIMIT`).
pub const API_MAX_LIMIT: usize = 10_000;

/// Held while a replay runs: one at a time per server.
static RUNNING: Mutex<()> = Mutex::new(());

/// What to replay, as `drover replay`'s flags.
#[derive(Clone, Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReplayRequest {
    /// The candidate version (default: the one waiting in shadow mode).
    pub version: Option<String>,
    /// Triggers received since: an age (`7d`, `12h`) or a time
    /// (`2026-01-31T12:00:00Z`), at most 400 days back (default `7d`
    /// unless `ids`).
    pub since: Option<String>,
    /// Triggers received before: an age or a time.
    pub until: Option<String>,
    /// Only these trigger types (default: the candidate's rules' types).
    #[serde(default)]
    pub types: Vec<String>,
    /// Only this rule of the candidate (`pack.name`).
    pub rule: Option<String>,
    /// These trigger instances instead of a window.
    #[serde(default)]
    pub ids: Vec<String>,
    /// At most this many triggers, oldest first (1 to 10000; default 1000).
    pub limit: Option<usize>,
    /// List every trigger, not only those that act differently.
    #[serde(default)]
    pub all: bool,
}

impl ReplayRequest {
    /// The replay of pack `name` this asks for, its fields checked (400
    /// naming the field); `candidate` gives the default version.
    pub fn spec(
        self,
        name: &str,
        candidate: impl FnOnce() -> Option<String>,
    ) -> Result<Spec, ApiError> {
        let version = match self.version.filter(|v| !v.trim().is_empty()) {
            Some(v) => v,
            None => candidate().ok_or_else(|| {
                ApiError::BadRequest(format!(
                    "version: {name} has no version waiting in shadow mode; give the \
                     candidate version (`drover pack list` shows the installed versions)"
                ))
            })?,
        };
        let limit = self.limit.unwrap_or(replay::DEFAULT_LIMIT);
        if limit == 0 || limit > API_MAX_LIMIT {
            return Err(ApiError::BadRequest(format!(
                "limit {limit}: give 1 to {API_MAX_LIMIT} triggers (the API's cap; \
                 `drover replay` on the host takes up to {})",
                replay::MAX_LIMIT
            )));
        }
        let since = match (self.since.filter(|s| !s.is_empty()), self.ids.is_empty()) {
            (Some(s), _) => Some(s),
            (None, true) => Some("7d".to_owned()),
            (None, false) => None,
        };
        let since_ms = since
            .map(|s| replay::parse_time("since", &s))
            .transpose()
            .map_err(ApiError::BadRequest)?;
        let until_ms = self
            .until
            .filter(|s| !s.is_empty())
            .map(|s| replay::parse_time("until", &s))
            .transpose()
            .map_err(ApiError::BadRequest)?;
        if let (Some(s), Some(u)) = (since_ms, until_ms)
            && u <= s
        {
            return Err(ApiError::BadRequest(
                "until is not after since: nothing to replay".into(),
            ));
        }
        Ok(Spec {
            pack: name.to_owned(),
            version,
            since_ms,
            until_ms,
            types: self.types,
            rule: self.rule.filter(|r| !r.is_empty()),
            ids: self.ids,
            limit,
            all: self.all,
            rule_file: None,
            workflow_file: None,
        })
    }
}

/// The version of pack `name` waiting in shadow mode, if any.
pub fn waiting_candidate(state: &AppState, name: &str) -> Result<Option<String>, ApiError> {
    Ok(state
        .app
        .packs()?
        .candidate(name)
        .map(|p| p.record.version.clone()))
}

/// Runs `spec` on the blocking pool: 409 while another replay runs, 404
/// for an unknown pack or version (the CLI's message), 400 for an unknown
/// rule.
pub async fn run(state: &AppState, spec: Spec) -> Result<Replay, ApiError> {
    let Some(db) = state.config.db.clone() else {
        return Err(ApiError::Internal(
            "replay: the server was started without its database path".into(),
        ));
    };
    crate::error::blocking(move || {
        alone(|| {
            let data: PathBuf = db.parent().map(PathBuf::from).unwrap_or_default();
            let setup = Setup {
                db: &db,
                cache_dir: &data.join("cache"),
                ssh: drover_host::ssh::SshSettings::in_dir(data.join("ssh")),
            };
            replay::replay(&setup, &spec, |_| {}).map_err(|e| match e {
                ReplayError::UnknownPack { .. } | ReplayError::UnknownVersion { .. } => {
                    ApiError::NotFound(e.to_string())
                }
                ReplayError::UnknownRule { .. }
                | ReplayError::Invalid(_)
                | ReplayError::CandidateRule { .. } => ApiError::BadRequest(e.to_string()),
                ReplayError::Store(e) => e.into(),
                e => ApiError::Internal(e.to_string()),
            })
        })
    })
    .await
}

/// Runs `f` unless another replay is running (409).
fn alone<T>(f: impl FnOnce() -> Result<T, ApiError>) -> Result<T, ApiError> {
    let _running = match RUNNING.try_lock() {
        Ok(guard) => guard,
        // A replay that panicked left nothing half-done behind the lock.
        Err(TryLockError::Poisoned(e)) => e.into_inner(),
        Err(TryLockError::WouldBlock) => {
            return Err(ApiError::Conflict(
                "a replay is running on this server; try again when it is done".into(),
            ));
        }
    };
    f()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_replay_meanwhile_is_refused_with_409_and_the_next_one_runs() {
        let inner = alone(|| Ok(alone(|| Ok(()))));
        let Ok(Err(e)) = inner else {
            panic!("the nested replay ran: {inner:?}");
        };
        assert_eq!(e.status(), axum::http::StatusCode::CONFLICT);
        assert!(e.to_string().contains("a replay is running"), "{e}");
        assert!(alone(|| Ok(())).is_ok());
    }
}

/// Replays stored trigger instances through a candidate version of the
/// pack as dry runs (operator): per trigger, what the live version did
/// next to what the candidate would do, a summary first (`candidate`,
/// `live`, `summary`, `approximations`, `triggers`), as `drover replay
/// --json`. Nothing is stored; dry runs happen on a scratch copy of the
/// database. At most 10000 triggers; 409 while another replay runs.
#[utoipa::path(post, path = "/api/v1/packs/{name}/replay", tag = "packs",
    params(("name" = String, Path, description = "pack name")),
    request_body = ReplayRequest,
    responses((status = 200, body = Object), (status = 400, body = ErrorBody),
              (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
              (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub async fn replay(
    _: Auth<need::Operator>,
    State(state): State<AppState>,
    ApiPath(name): ApiPath<String>,
    crate::extract::ApiBody(body): crate::extract::ApiBody<ReplayRequest>,
) -> Result<Json<Replay>, ApiError> {
    let spec = body.spec(&name, || waiting_candidate(&state, &name).ok().flatten())?;
    Ok(Json(run(&state, spec).await?))
}
