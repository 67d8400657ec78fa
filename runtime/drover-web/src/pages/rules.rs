//! Rules: the list, one rule's criteria and source, enable/disable, and
//! a payload tester in the page (drover-rules' tester, with the store's kv
//! values, as `drover rule test` does with files).

use std::path::Path as FsPath;

use axum::extract::{Path, State};
use axum::http::HeaderMap;
use axum::response::{Html, IntoResponse, Redirect, Response};
use drover_rules::{Rule, TriggerInstance, test_rule};
use drover_store::{Store, StoredRule};
use serde::{Deserialize, Serialize};

use super::Page;
use crate::auth::{Page as Auth, Post, need};
use crate::{WebError, WebState};

#[derive(Serialize)]
struct Row {
    reference: String,
    pack: String,
    enabled: bool,
    origin: String,
    trigger: String,
    action: String,
    description: String,
    criteria: Vec<Crit>,
    /// Why the stored definition does not parse, if it does not.
    problem: Option<String>,
}

#[derive(Serialize)]
struct Crit {
    key: String,
    operator: String,
    pattern: String,
}

fn row(stored: &StoredRule) -> Row {
    let parsed = Rule::parse(FsPath::new(&stored.reference), &stored.definition);
    let (trigger, action, description, criteria, problem) = match &parsed {
        Ok(r) => (
            r.trigger.type_.clone(),
            r.action.reference.clone(),
            r.description.clone(),
            r.criteria
                .iter()
                .map(|c| Crit {
                    key: c.key.clone(),
                    operator: c.operator_name.clone(),
                    pattern: c
                        .pattern_source
                        .as_ref()
                        .map(|p| match p {
                            serde_json::Value::String(s) => s.clone(),
                            other => other.to_string(),
                        })
                        .unwrap_or_default(),
                })
                .collect(),
            None,
        ),
        Err(e) => (
            String::new(),
            String::new(),
            String::new(),
            Vec::new(),
            Some(e.to_string()),
        ),
    };
    Row {
        reference: stored.reference.clone(),
        pack: stored.pack.clone(),
        enabled: stored.enabled,
        origin: stored.origin.clone(),
        trigger,
        action,
        description,
        criteria,
        problem,
    }
}

fn find(store: &Store, reference: &str) -> Result<StoredRule, WebError> {
    store
        .list_rules()?
        .into_iter()
        .find(|r| r.reference == reference)
        .ok_or_else(|| WebError::NotFound(format!("no rule {reference:?}")))
}

pub async fn list(State(state): State<WebState>, Auth(me, ..): Auth<need::Viewer>) -> Page {
    let rules: Vec<Row> = state
        .blocking(|store| Ok(store.list_rules()?.iter().map(row).collect()))
        .await?;
    Ok(Html(state.templates.page(
        "rules.html",
        &me,
        ctx! { page => "rules", rules },
    )?))
}

/// The rule's YAML as it applies: `drover rule enable|disable` (or this
/// page) overrides the file's top-level `enabled`, so the definition shown
/// says the state in force and what the file said.
fn as_applied(definition: &str, enabled: bool) -> String {
    let said = |line: &str| {
        let value = line.strip_prefix("enabled:")?.split('#').next()?.trim();
        Some(value.to_owned())
    };
    let mut found = false;
    let mut out: Vec<String> = definition
        .lines()
        .map(|line| match said(line) {
            Some(value) => {
                found = true;
                if value == enabled.to_string() {
                    line.to_owned()
                } else {
                    format!("enabled: {enabled}  # set in drover; the file says {value}")
                }
            }
            None => line.to_owned(),
        })
        .collect();
    if !found && enabled {
        out.push("enabled: true  # set in drover; the file does not say".to_owned());
    }
    out.join("\n")
}

/// How many of a rule's latest matches its page lists.
const RECENT_MATCHES: u32 = 20;

async fn render_detail(
    state: &WebState,
    me: &drover_api::auth::Principal,
    reference: String,
    payload: Option<String>,
    report: Option<serde_json::Value>,
) -> Page {
    let (stored, matches) = state
        .blocking(move |store| {
            let stored = find(store, &reference)?;
            let matches = drover_app::trace::rule_matches(store, &reference, RECENT_MATCHES)?;
            Ok((stored, matches))
        })
        .await?;
    let rule = row(&stored);
    let payload = payload.unwrap_or_else(|| "{}".to_owned());
    Ok(Html(state.templates.page(
        "rule.html",
        me,
        ctx! {
            page => "rules", rule,
            definition => as_applied(&stored.definition, stored.enabled),
            payload, report, matches,
            recent => RECENT_MATCHES,
        },
    )?))
}

pub async fn detail(
    State(state): State<WebState>,
    Auth(me, ..): Auth<need::Viewer>,
    Path(reference): Path<String>,
) -> Page {
    render_detail(&state, &me, reference, None, None).await
}

#[derive(Deserialize)]
pub struct EnabledForm {
    enabled: String,
    /// Why, for the change log (optional).
    #[serde(default)]
    reason: String,
}

pub async fn set_enabled(
    State(state): State<WebState>,
    Path(reference): Path<String>,
    Post(me, form, ..): Post<need::Operator, EnabledForm>,
) -> Result<Response, WebError> {
    let enabled = match form.enabled.as_str() {
        "true" => true,
        "false" => false,
        other => {
            return Err(WebError::BadRequest(format!(
                "enabled must be true or false, not {other:?}"
            )));
        }
    };
    let by = super::change_by(&me, &form.reason)?;
    let r = reference.clone();
    state
        .blocking(move |store| {
            drover_app::rules::set_enabled(store, &r, enabled, &by).map_err(|e| match e {
                drover_app::rules::RuleError::Unknown(_) => WebError::NotFound(e.to_string()),
                drover_app::rules::RuleError::Store(e) => e.into(),
            })
        })
        .await?;
    Ok(Redirect::to(&format!("/ui/rules/{reference}")).into_response())
}

#[derive(Deserialize)]
pub struct TestForm {
    payload: String,
}

/// Tests the rule against a payload typed into the page. With htmx the
/// report replaces the result box; without it the whole page comes back.
pub async fn test(
    State(state): State<WebState>,
    Path(reference): Path<String>,
    headers: HeaderMap,
    Post(me, form, ..): Post<need::Viewer, TestForm>,
) -> Result<Response, WebError> {
    let r = reference.clone();
    let text = form.payload.clone();
    let outcome = state
        .blocking(move |store| {
            let stored = find(store, &r)?;
            let mut rule = Rule::parse(FsPath::new(&stored.reference), &stored.definition)
                .map_err(|e| WebError::Conflict(format!("the stored rule does not parse: {e}")))?;
            rule.enabled = stored.enabled;
            let payload: serde_json::Value = match serde_json::from_str(&text) {
                Ok(v) => v,
                Err(e) => return Ok(Err(format!("the payload is not JSON: {e}"))),
            };
            let instance = TriggerInstance {
                trigger: rule.trigger.type_.clone(),
                payload,
                id: None,
                occurrence_time: None,
            };
            let cx = drover_app::trace::tester_context(store);
            Ok(Ok(test_rule(&rule, &instance, &cx)))
        })
        .await?;
    let report = match outcome {
        Ok(report) => crate::templates::to_json(&report),
        Err(problem) => ctx! { problem },
    };
    if headers.contains_key("hx-request") {
        return Ok(
            Html(state.templates.render("rule_test.html", ctx! { report })?).into_response(),
        );
    }
    Ok(
        render_detail(&state, &me, reference, Some(form.payload), Some(report))
            .await?
            .into_response(),
    )
}

#[cfg(test)]
mod tests {
    use super::as_applied;

    #[test]
    fn the_definition_shows_the_state_in_force() {
        let file = "name: r\nenabled: true\ntrigger:\n  type: t\n";
        assert_eq!(as_applied(file, true), file.trim_end());
        let off = as_applied(file, false);
        assert!(
            off.contains("enabled: false  # set in drover; the file says true"),
            "{off}"
        );
        assert!(!off.contains("enabled: true"), "{off}");
        // Nested keys are not the rule's: only a top-level line counts.
        let nested = "name: r\naction:\n  parameters:\n    enabled: true\n";
        assert_eq!(
            as_applied(nested, true),
            format!(
                "{}\nenabled: true  # set in drover; the file does not say",
                nested.trim_end()
            )
        );
        assert_eq!(as_applied(nested, false), nested.trim_end());
    }
}
