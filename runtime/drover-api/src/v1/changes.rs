//! `/api/v1/changes`: the change log (viewer). Every install, promotion,
//! grant, revocation, rule enable/disable, budget and fleet setting change
//! and brake release, with who, when, why and the diff, newest first,
//! paged by keyset like the audit log it is part of.

use axum::Json;
use axum::extract::State;
use drover_core::{ChangeRecord, kinds};
use drover_store::ChangeFilter;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::ErrorBody;
use crate::auth::{Auth, need};
use crate::error::blocking;
use crate::extract::ApiQuery;
use crate::v1::executions::parse_limit;
use crate::{ApiError, AppState};

#[derive(Deserialize, IntoParams, Default)]
#[into_params(parameter_in = Query)]
pub struct ChangeQuery {
    /// Only changes since this time: RFC 3339 (`2026-01-31T12:00:00Z`) or
    /// an age (`7d`, `12h`).
    since: Option<String>,
    /// Only this kind (`grant.add`), or every kind under a prefix
    /// (`grant`, `pack`, `rule`, `fleet`).
    kind: Option<String>,
    /// Only this subject or what is under it (`batchops` covers
    /// `batchops@0.2.0`, its grants and its rules).
    subject: Option<String>,
    /// Only changes by this actor (`user:ann`).
    actor: Option<String>,
    /// The `next_before` of the previous page.
    before: Option<i64>,
    /// Page size, 1 to 1000 (default 50).
    limit: Option<u32>,
}

/// A page of changes, newest first.
#[derive(Serialize, ToSchema)]
pub struct ChangeList {
    items: Vec<ChangeView>,
    next_before: Option<i64>,
}

/// One change.
#[derive(Serialize, ToSchema)]
pub struct ChangeView {
    /// The audit record's id.
    id: i64,
    at_ms: i64,
    actor: String,
    /// `pack.install`, `pack.promote`, `grant.add`, `grant.revoke`,
    /// `rule.enable`, `rule.disable`, `fleet.budget`, `fleet.settings`,
    /// `fleet.brake`, `trust.add`, `trust.remove`.
    kind: String,
    /// What changed: `batchops@0.2.0`, `batchops@0.1.0 nodes.reboot`,
    /// `batchops.on_no_contact`, a budget's name, `brake`, `pause`...
    subject: String,
    /// The operator's reason, when one was given.
    reason: Option<String>,
    summary: String,
    /// The state before (`null` when it did not exist).
    #[schema(value_type = Object)]
    before: serde_json::Value,
    /// The state after (`null` when it no longer exists).
    #[schema(value_type = Object)]
    after: serde_json::Value,
    /// The fields that changed, one line each (`enabled: true → false`).
    diff: Vec<String>,
}

impl From<ChangeRecord> for ChangeView {
    fn from(c: ChangeRecord) -> ChangeView {
        ChangeView {
            diff: c.diff_lines(),
            id: c.id,
            at_ms: c.at_ms,
            actor: c.actor,
            kind: c.kind,
            subject: c.subject,
            reason: c.reason,
            summary: c.summary,
            before: c.before,
            after: c.after,
        }
    }
}

/// The filter a query asks for, checked: what the CLI (locally), this
/// endpoint and the web UI's page share.
pub fn filter(
    since: Option<&str>,
    kind: Option<&str>,
    subject: Option<&str>,
    actor: Option<&str>,
    before: Option<i64>,
    limit: u32,
) -> Result<ChangeFilter, String> {
    let kind = kind.map(str::trim).filter(|k| !k.is_empty());
    if let Some(k) = kind
        && !kinds::ALL
            .iter()
            .any(|known| *known == k || known.starts_with(&format!("{k}.")))
    {
        return Err(format!(
            "unknown kind {k:?}: expected one of {} or a prefix (pack, grant, rule, fleet)",
            kinds::ALL.join(", ")
        ));
    }
    let text = |s: Option<&str>| {
        s.map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
    };
    Ok(ChangeFilter {
        since_ms: since
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(parse_since)
            .transpose()?,
        kind: kind.map(str::to_owned),
        subject: text(subject),
        actor: text(actor),
        before,
        limit,
    })
}

/// `--since`: an RFC 3339 time, or an age such as `7d` or `90m`.
pub fn parse_since(s: &str) -> Result<i64, String> {
    if let Ok(t) = s.parse::<jiff::Timestamp>() {
        return Ok(t.as_millisecond());
    }
    match humantime::parse_duration(s) {
        Ok(age) => Ok(drover_core::now_ms() - age.as_millis() as i64),
        Err(_) => Err(format!(
            "since {s:?}: write an age (7d, 12h, 30m) or a time (2026-01-31T12:00:00Z)"
        )),
    }
}

/// The change log, newest first.
#[utoipa::path(get, path = "/api/v1/changes", tag = "changes", params(ChangeQuery),
    responses((status = 200, body = ChangeList), (status = 400, body = ErrorBody),
              (status = 401, body = ErrorBody)))]
pub async fn list(
    _: Auth<need::Viewer>,
    State(state): State<AppState>,
    ApiQuery(q): ApiQuery<ChangeQuery>,
) -> Result<Json<ChangeList>, ApiError> {
    let filter = filter(
        q.since.as_deref(),
        q.kind.as_deref(),
        q.subject.as_deref(),
        q.actor.as_deref(),
        q.before,
        parse_limit(q.limit)?,
    )
    .map_err(ApiError::BadRequest)?;
    let limit = filter.limit as usize;
    let store = state.store().clone();
    let rows = blocking(move || Ok(store.list_changes(&filter)?)).await?;
    let next_before = (rows.len() == limit)
        .then(|| rows.last().map(|r| r.id))
        .flatten();
    Ok(Json(ChangeList {
        items: rows.into_iter().map(ChangeView::from).collect(),
        next_before,
    }))
}
