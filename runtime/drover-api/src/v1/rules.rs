//! `/api/v1/rules`: list and show (viewer), enable and disable
//! (operator: it changes what fires, not what may be done), and testing a
//! payload against a stored rule (viewer: it changes nothing).

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;

use axum::Json;
use axum::extract::State;
use drover_app::rules::RuleError;
use drover_rules::{Context, Rule, TriggerInstance, test_rule};
use drover_store::StoredRule;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use utoipa::{IntoParams, ToSchema};

use super::ErrorBody;
use crate::auth::{Auth, need};
use crate::error::blocking;
use crate::extract::{ApiJson, ApiPath, ApiQuery};
use crate::v1::executions::internal;
use crate::{ApiError, AppState};

#[derive(Serialize, ToSchema)]
pub struct RuleItem {
    #[serde(rename = "ref")]
    reference: String,
    pack: String,
    enabled: bool,
    /// `pack` (shipped in a pack) or `api`.
    origin: String,
    trigger: Option<String>,
    action: Option<String>,
    description: Option<String>,
    updated_at_ms: i64,
}

fn item(stored: &StoredRule) -> RuleItem {
    let rule = Rule::parse(Path::new(&stored.reference), &stored.definition).ok();
    RuleItem {
        reference: stored.reference.clone(),
        pack: stored.pack.clone(),
        enabled: stored.enabled,
        origin: stored.origin.clone(),
        trigger: rule.as_ref().map(|r| r.trigger.type_.clone()),
        action: rule.as_ref().map(|r| r.action.reference.clone()),
        description: rule.as_ref().map(|r| r.description.clone()),
        updated_at_ms: stored.updated_at_ms,
    }
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ListQuery {
    /// Only rules of this pack.
    pack: Option<String>,
}

/// Stored rules.
#[utoipa::path(get, path = "/api/v1/rules", tag = "rules", params(ListQuery),
    responses((status = 200, body = Vec<RuleItem>), (status = 401, body = ErrorBody)))]
pub async fn list(
    _: Auth<need::Viewer>,
    State(state): State<AppState>,
    ApiQuery(q): ApiQuery<ListQuery>,
) -> Result<Json<Vec<RuleItem>>, ApiError> {
    let store = state.store().clone();
    let rules = blocking(move || Ok(store.list_rules()?)).await?;
    Ok(Json(
        rules
            .iter()
            .filter(|r| q.pack.as_deref().is_none_or(|p| r.pack == p))
            .map(item)
            .collect(),
    ))
}

async fn find(state: &AppState, reference: String) -> Result<StoredRule, ApiError> {
    let store = state.store().clone();
    blocking(move || {
        store
            .list_rules()?
            .into_iter()
            .find(|r| r.reference == reference)
            .ok_or_else(|| {
                ApiError::NotFound(format!(
                    "no rule {reference:?} (GET /api/v1/rules lists them)"
                ))
            })
    })
    .await
}

/// A rule with its parsed form and YAML source.
#[derive(Serialize, ToSchema)]
pub struct RuleDetail {
    #[serde(flatten)]
    item: RuleItem,
    /// The rule as drover reads it (criteria, action, parameters).
    #[schema(value_type = Object)]
    rule: Value,
    /// The YAML it was installed from.
    definition: String,
}

/// One rule.
#[utoipa::path(get, path = "/api/v1/rules/{ref}", tag = "rules",
    params(("ref" = String, Path, description = "`pack.name`")),
    responses((status = 200, body = RuleDetail), (status = 401, body = ErrorBody),
              (status = 404, body = ErrorBody)))]
pub async fn get(
    _: Auth<need::Viewer>,
    State(state): State<AppState>,
    ApiPath(reference): ApiPath<String>,
) -> Result<Json<RuleDetail>, ApiError> {
    let stored = find(&state, reference).await?;
    let rule = Rule::parse(Path::new(&stored.reference), &stored.definition)
        .map(|r| r.to_json())
        .map_err(internal)?;
    Ok(Json(RuleDetail {
        item: item(&stored),
        rule,
        definition: stored.definition,
    }))
}

/// A rule enabled or disabled.
#[derive(Serialize, ToSchema)]
pub struct Toggled {
    #[serde(rename = "ref")]
    reference: String,
    enabled: bool,
    /// When it takes effect.
    note: String,
}

/// Through [`drover_app::rules::set_enabled`], as `drover rule
/// enable|disable` and the web UI.
async fn set_enabled(
    state: AppState,
    reference: String,
    enabled: bool,
    by: drover_core::ChangeBy,
) -> Result<Json<Toggled>, ApiError> {
    let store = state.store().clone();
    blocking(move || {
        let done = drover_app::rules::set_enabled(&store, &reference, enabled, &by).map_err(
            |e| match e {
                RuleError::Unknown(_) => ApiError::NotFound(e.to_string()),
                RuleError::Store(e) => e.into(),
            },
        )?;
        Ok(Json(Toggled {
            reference: done.reference,
            enabled: done.enabled,
            note: done.note,
        }))
    })
    .await
}

/// Enable a rule (operator). The body, optional, gives the reason.
#[utoipa::path(post, path = "/api/v1/rules/{ref}/enable", tag = "rules",
    params(("ref" = String, Path, description = "`pack.name`")),
    request_body(content = Option<crate::v1::ChangeReason>, description = "why, for the change log"),
    responses((status = 200, body = Toggled), (status = 400, body = ErrorBody),
              (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
              (status = 404, body = ErrorBody)))]
pub async fn enable(
    Auth(who, ..): Auth<need::Operator>,
    State(state): State<AppState>,
    ApiPath(reference): ApiPath<String>,
    crate::extract::ApiBody(body): crate::extract::ApiBody<crate::v1::ChangeReason>,
) -> Result<Json<Toggled>, ApiError> {
    let by = crate::v1::change_by(&who, body.reason.as_deref())?;
    set_enabled(state, reference, true, by).await
}

/// Disable a rule (operator). The body, optional, gives the reason.
#[utoipa::path(post, path = "/api/v1/rules/{ref}/disable", tag = "rules",
    params(("ref" = String, Path, description = "`pack.name`")),
    request_body(content = Option<crate::v1::ChangeReason>, description = "why, for the change log"),
    responses((status = 200, body = Toggled), (status = 400, body = ErrorBody),
              (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
              (status = 404, body = ErrorBody)))]
pub async fn disable(
    Auth(who, ..): Auth<need::Operator>,
    State(state): State<AppState>,
    ApiPath(reference): ApiPath<String>,
    crate::extract::ApiBody(body): crate::extract::ApiBody<crate::v1::ChangeReason>,
) -> Result<Json<Toggled>, ApiError> {
    let by = crate::v1::change_by(&who, body.reason.as_deref())?;
    set_enabled(state, reference, false, by).await
}

/// A trigger instance to test a rule against, as st2-rule-tester reads it.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TestRequest {
    /// The trigger type (default: the rule's own).
    trigger: Option<String>,
    /// The payload.
    #[serde(default)]
    #[schema(value_type = Object)]
    payload: Map<String, Value>,
    /// Key-value pairs templates see as `kv.KEY` / `st2kv.system.KEY`.
    #[serde(default)]
    kv: HashMap<String, String>,
    /// Evaluate at this time (RFC 3339) instead of now, for `timediff_*`.
    now: Option<String>,
}

/// Test a payload against a stored rule: each criterion's verdict and the
/// rendered parameters. Changes nothing.
#[utoipa::path(post, path = "/api/v1/rules/{ref}/test", tag = "rules",
    params(("ref" = String, Path, description = "`pack.name`")),
    request_body = TestRequest,
    responses((status = 200, description = "the report (verdict match, no_match or error)",
               body = Object),
              (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
              (status = 404, body = ErrorBody)))]
pub async fn test(
    _: Auth<need::Viewer>,
    State(state): State<AppState>,
    ApiPath(reference): ApiPath<String>,
    ApiJson(req): ApiJson<TestRequest>,
) -> Result<Json<Value>, ApiError> {
    let now = match req.now.as_deref() {
        None => jiff::Timestamp::now(),
        Some(t) => t
            .parse()
            .map_err(|e| ApiError::BadRequest(format!("now: {e}; use RFC 3339")))?,
    };
    let stored = find(&state, reference).await?;
    blocking(move || {
        let rule =
            Rule::parse(Path::new(&stored.reference), &stored.definition).map_err(internal)?;
        let instance = TriggerInstance {
            trigger: req.trigger.unwrap_or_else(|| rule.trigger.type_.clone()),
            payload: Value::Object(req.payload),
            id: None,
            occurrence_time: None,
        };
        let mut cx = Context::new(now);
        if !req.kv.is_empty() {
            let kv = req.kv;
            cx = cx.with_kv(Arc::new(move |_pack: &str, key: &str| kv.get(key).cloned()));
        }
        let report = test_rule(&rule, &instance, &cx);
        serde_json::to_value(report).map(Json).map_err(internal)
    })
    .await
}
