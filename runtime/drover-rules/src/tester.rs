//! The rule tester: one rule, one trigger instance, and why it matches or
//! not — drover's `st2-rule-tester`.
//!
//! Owns the trigger-instance file format (st2-rule-tester's:
//! `{"trigger": "<type>", "payload": {…}}`, in JSON or YAML) and the
//! [`Report`]: per criterion the value found (or that the key is missing),
//! the operator, the rendered pattern and the verdict; then the rendered
//! parameters or the error. As st2's tester does, it evaluates the rule even
//! when it is disabled and checks that the instance is of the rule's
//! trigger. Unlike the engine it evaluates every criterion (not only up to
//! the first failure) so the report is complete. Storm control is not
//! applied: one event says nothing about a window. It does no I/O: the CLI
//! reads the files and prints [`Report`]'s `Display` or its JSON.

use std::fmt::{self, Write as _};
use std::path::Path;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::engine::{self, Context, Env};
use crate::error::ParseError;
use crate::operators::CheckError;
use crate::path::Resolved;
use crate::rule::{Rule, explain};
use drover_text::yaml::without_location;

/// A trigger instance as st2-rule-tester reads it.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct TriggerInstance {
    /// The trigger type (st2: the trigger reference), e.g. `batch.no_contact`.
    pub trigger: String,
    /// The payload.
    pub payload: Value,
    /// st2's `id`, when the file has one.
    pub id: Option<String>,
    /// st2's `occurrence_time`, when the file has one.
    pub occurrence_time: Option<String>,
}

#[derive(Deserialize)]
#[serde(
    deny_unknown_fields,
    expecting = "a trigger instance: {\"trigger\": \"<type>\", \"payload\": {...}}"
)]
struct RawInstance {
    trigger: String,
    #[serde(default)]
    payload: Option<Value>,
    id: Option<String>,
    occurrence_time: Option<String>,
    #[serde(rename = "status")]
    _status: Option<serde::de::IgnoredAny>,
}

impl TriggerInstance {
    /// Parses a trigger-instance file: JSON when `origin` ends in `.json`,
    /// YAML otherwise.
    pub fn parse(origin: &Path, text: &str) -> Result<TriggerInstance, ParseError> {
        let json = origin
            .extension()
            .is_some_and(|e| e.eq_ignore_ascii_case("json"));
        let raw: RawInstance = if json {
            let mut de = serde_json::Deserializer::from_str(text);
            serde_path_to_error::deserialize(&mut de).map_err(|e| {
                let path = e.path().to_string();
                let inner = e.into_inner();
                let (line, column) = (inner.line(), inner.column());
                if inner.is_syntax() || inner.is_eof() {
                    ParseError::Syntax {
                        origin: origin.to_owned(),
                        format: "JSON",
                        line: Some(line),
                        column: Some(column),
                        message: inner.to_string().replacen(
                            &format!(" at line {line} column {column}"),
                            "",
                            1,
                        ),
                    }
                } else {
                    ParseError::Invalid {
                        origin: origin.to_owned(),
                        line: Some(line),
                        column: Some(column),
                        message: explain(&inner.to_string().replacen(
                            &format!(" at line {line} column {column}"),
                            "",
                            1,
                        )),
                        path,
                    }
                }
            })?
        } else {
            drover_text::yaml::check(text).map_err(|p| ParseError::Syntax {
                origin: origin.to_owned(),
                format: "YAML",
                line: p.line,
                column: p.column,
                message: p.message,
            })?;
            serde_path_to_error::deserialize(serde_norway::Deserializer::from_str(text)).map_err(
                |e| {
                    let path = e.path().to_string();
                    let inner = e.into_inner();
                    let location = inner.location();
                    ParseError::Invalid {
                        origin: origin.to_owned(),
                        line: location.as_ref().map(|l| l.line()),
                        column: location.as_ref().map(|l| l.column()),
                        message: explain(&without_location(&inner.to_string(), location.as_ref())),
                        path,
                    }
                },
            )?
        };
        let payload = raw.payload.unwrap_or(Value::Object(Map::new()));
        if !payload.is_object() {
            return Err(ParseError::Invalid {
                origin: origin.to_owned(),
                line: None,
                column: None,
                path: "payload".into(),
                message: format!(
                    "the payload must be an object (a map), not {}",
                    crate::python::type_name(Some(&payload))
                ),
            });
        }
        Ok(TriggerInstance {
            trigger: raw.trigger,
            payload,
            id: raw.id,
            occurrence_time: raw.occurrence_time,
        })
    }
}

/// The tester's verdict, as an exit status would say it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    /// The rule matches and its parameters render.
    Match,
    /// The rule does not match.
    NoMatch,
    /// The rule matches (or might) but cannot be enforced: a criterion or a
    /// parameter failed to render.
    Error,
}

/// What the tester found.
#[derive(Clone, Debug, Serialize)]
pub struct Report {
    /// Match, no match, or error.
    pub verdict: Verdict,
    /// The rule's reference.
    pub rule: String,
    /// Whether the rule is enabled (the tester evaluates it either way).
    pub enabled: bool,
    /// The rule's trigger type.
    pub trigger: String,
    /// The instance's trigger type.
    pub instance_trigger: String,
    /// Whether they agree.
    pub trigger_matches: bool,
    /// Every criterion, in order.
    pub criteria: Vec<CriterionReport>,
    /// Whether the trigger and every criterion passed.
    pub matched: bool,
    /// The action the rule runs.
    pub action: String,
    /// The rendered parameters, when it matched and they rendered.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub parameters: Option<Map<String, Value>>,
    /// Why the rule could not be enforced, if so.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// Things worth knowing (disabled rule, storm control not applied, …).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub notes: Vec<String>,
}

/// One criterion's evaluation.
#[derive(Clone, Debug, Serialize)]
pub struct CriterionReport {
    /// The key as written.
    pub key: String,
    /// Whether the key exists in the payload (a `null` value exists).
    pub found: bool,
    /// The value found (`null` when missing: see `found`).
    pub value: Value,
    /// The operator as written.
    pub operator: String,
    /// The pattern after rendering (`None` when absent or unrenderable).
    pub pattern: Option<Value>,
    /// Whether it passed.
    pub passed: bool,
    /// Why it did not pass, when there is more to say than "no".
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// For `search`: each item with its child criteria.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub items: Vec<ItemReport>,
}

/// One list item inside a `search` criterion.
#[derive(Clone, Debug, Serialize)]
pub struct ItemReport {
    /// Its position in the list.
    pub index: usize,
    /// The child criteria on it.
    pub criteria: Vec<CriterionReport>,
}

/// Tests `rule` against `instance`.
pub fn test_rule(rule: &Rule, instance: &TriggerInstance, cx: &Context) -> Report {
    let env = Env::new(&instance.payload, cx);
    let trigger_matches = rule.trigger.type_ == instance.trigger;
    let mut notes = Vec::new();
    if !rule.enabled {
        notes.push(
            "the rule is disabled (enabled is false or missing; st2's default is false): \
             the tester evaluates it anyway, the engine will not"
                .to_owned(),
        );
    }
    if !trigger_matches {
        notes.push(format!(
            "the instance is of trigger {:?}, the rule listens to {:?}",
            instance.trigger, rule.trigger.type_
        ));
    }
    let empty = !rule.criteria.is_empty()
        && instance
            .payload
            .as_object()
            .is_none_or(serde_json::Map::is_empty);
    if empty {
        notes.push("the payload is empty: a rule with criteria never matches it (st2)".to_owned());
    }
    let criteria: Vec<CriterionReport> = rule
        .criteria
        .iter()
        .map(|c| report_criterion(rule, c, &instance.payload, None, &env))
        .collect();
    let criteria_error = criteria.iter().find_map(|c| {
        c.reason
            .as_ref()
            .filter(|_| c.is_broken())
            .map(|r| format!("criterion {}: {r}", c.key))
    });
    let matched = trigger_matches && !empty && criteria.iter().all(|c| c.passed);
    let (parameters, error) = match (criteria_error, matched) {
        (Some(e), _) => (None, Some(e)),
        (None, true) => match engine::render_parameters(rule, &env) {
            Ok(p) => (Some(p), None),
            Err(e) => (None, Some(e)),
        },
        (None, false) => (None, None),
    };
    if matched {
        if let Some(t) = &rule.throttle {
            notes.push(format!(
                "throttle (once within {}) is not applied by the tester",
                humantime::format_duration(t.once_within)
            ));
        }
        if let Some(t) = &rule.threshold {
            notes.push(format!(
                "threshold ({} events within {}) is not applied by the tester",
                t.count,
                humantime::format_duration(t.within)
            ));
        }
    }
    notes.extend(rule.warnings.iter().cloned());
    let verdict = if error.is_some() {
        Verdict::Error
    } else if matched {
        Verdict::Match
    } else {
        Verdict::NoMatch
    };
    Report {
        verdict,
        rule: rule.reference.clone(),
        enabled: rule.enabled,
        trigger: rule.trigger.type_.clone(),
        instance_trigger: instance.trigger.clone(),
        trigger_matches,
        criteria,
        matched,
        action: rule.action.reference.clone(),
        parameters,
        error,
        notes,
    }
}

impl CriterionReport {
    /// Whether the rule (not the payload) is at fault.
    fn is_broken(&self) -> bool {
        self.reason
            .as_deref()
            .is_some_and(|r| r.starts_with(BROKEN))
            || self
                .items
                .iter()
                .any(|i| i.criteria.iter().any(Self::is_broken))
    }
}

/// Marks reasons that come from a broken pattern.
const BROKEN: &str = "broken pattern: ";

fn report_criterion(
    rule: &Rule,
    c: &crate::rule::Criterion,
    root: &Value,
    item: Option<&Value>,
    env: &Env<'_>,
) -> CriterionReport {
    let checked = engine::check_criterion(rule, c, root, item, env);
    let (found, value) = match checked.value {
        Resolved::Found(v) => (true, v.clone()),
        Resolved::Missing => (false, Value::Null),
    };
    let reason = match &checked.result {
        Ok(true) => None,
        Err(CheckError::Pattern(m)) => Some(format!("{BROKEN}{m}")),
        Err(CheckError::Type(m)) if !found => Some(format!("the key is missing ({m})")),
        Err(CheckError::Type(m)) => Some(m.clone()),
        Ok(false) if !found => Some("the key is missing".to_owned()),
        Ok(false) if value.is_null() => {
            Some("the value is null, which st2 treats like a missing key".to_owned())
        }
        Ok(false) => None,
    };
    let mut items = Vec::new();
    if let Some((_, children)) = c.search()
        && let Ok(list) = engine::search_items(checked.value.as_python())
    {
        for (index, it) in list.iter().enumerate() {
            items.push(ItemReport {
                index,
                criteria: children
                    .iter()
                    .map(|child| report_criterion(rule, child, it, Some(it), env))
                    .collect(),
            });
        }
    }
    CriterionReport {
        key: c.key.clone(),
        found,
        value,
        operator: c.operator_name.clone(),
        pattern: checked.pattern.map(|p| p.into_owned()),
        passed: checked.result == Ok(true),
        reason,
        items,
    }
}

/// Compact JSON, cut to `max` characters.
fn short(v: &Value, max: usize) -> String {
    let text = v.to_string();
    if text.chars().count() <= max {
        return text;
    }
    let cut: String = text.chars().take(max.saturating_sub(1)).collect();
    format!("{cut}…")
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "rule     {}{}",
            self.rule,
            if self.enabled { "" } else { " (disabled)" }
        )?;
        writeln!(
            f,
            "trigger  {} {}",
            self.trigger,
            if self.trigger_matches {
                "(the instance's trigger)".to_owned()
            } else {
                format!("(MISMATCH: the instance is {})", self.instance_trigger)
            }
        )?;
        writeln!(f, "action   {}", self.action)?;
        writeln!(f)?;
        if self.criteria.is_empty() {
            writeln!(f, "criteria: none (every event of the trigger matches)")?;
        } else {
            writeln!(f, "criteria (all must pass):")?;
            let mut rows = Vec::new();
            flatten(&self.criteria, 1, &mut rows);
            let width = |i: usize| {
                rows.iter()
                    .filter_map(|r| match r {
                        Row::Criterion { depth, cells, .. } => {
                            Some(cells[i].chars().count() + if i == 1 { 2 * depth } else { 0 })
                        }
                        Row::Item { .. } => None,
                    })
                    .max()
                    .unwrap_or(0)
            };
            let widths = [width(0), width(1), width(2), width(3)];
            for row in rows {
                match row {
                    Row::Item { depth, text } => writeln!(f, "{}{text}", "  ".repeat(depth))?,
                    Row::Criterion {
                        depth,
                        cells,
                        reason,
                    } => {
                        // status, then the key indented by depth, then columns.
                        let mut line = format!("  {:<w$}  ", cells[0], w = widths[0]);
                        let key = format!("{}{}", "  ".repeat(depth - 1), cells[1]);
                        let _ = write!(line, "{key:<w$}  ", w = widths[1]);
                        let _ = write!(line, "{:<w$}  ", cells[2], w = widths[2]);
                        let _ = write!(line, "{:<w$}  {}", cells[3], cells[4], w = widths[3]);
                        writeln!(f, "{}", line.trim_end())?;
                        if let Some(reason) = reason {
                            writeln!(
                                f,
                                "  {:w$}  {}  {reason}",
                                "",
                                "  ".repeat(depth - 1),
                                w = widths[0]
                            )?;
                        }
                    }
                }
            }
        }
        writeln!(f)?;
        match self.verdict {
            Verdict::Match => writeln!(f, "result: MATCH")?,
            Verdict::NoMatch => writeln!(f, "result: NO MATCH")?,
            Verdict::Error => writeln!(f, "result: ERROR (the rule cannot be enforced)")?,
        }
        if let Some(e) = &self.error {
            writeln!(f, "error: {e}")?;
        }
        if let Some(params) = &self.parameters {
            if params.is_empty() {
                writeln!(f, "parameters: none")?;
            } else {
                writeln!(f, "parameters:")?;
                for (k, v) in params {
                    writeln!(f, "  {k}: {v}")?;
                }
            }
        }
        for note in &self.notes {
            writeln!(f, "note: {note}")?;
        }
        Ok(())
    }
}

enum Row {
    Criterion {
        depth: usize,
        cells: [String; 5],
        reason: Option<String>,
    },
    Item {
        depth: usize,
        text: String,
    },
}

fn flatten(criteria: &[CriterionReport], depth: usize, rows: &mut Vec<Row>) {
    for c in criteria {
        let value = if c.found {
            short(&c.value, 40)
        } else {
            "(missing)".to_owned()
        };
        let pattern = match (&c.pattern, c.items.is_empty()) {
            (Some(p), true) => short(p, 40),
            (Some(_), false) => format!("({} items searched)", c.items.len()),
            (None, _) => String::new(),
        };
        rows.push(Row::Criterion {
            depth,
            cells: [
                if c.passed { "PASS" } else { "FAIL" }.to_owned(),
                c.key.clone(),
                value,
                c.operator.clone(),
                pattern,
            ],
            reason: c.reason.clone(),
        });
        for item in &c.items {
            let passed = item.criteria.iter().all(|c| c.passed);
            rows.push(Row::Item {
                depth: depth + 3,
                text: format!(
                    "item[{}]: {}",
                    item.index,
                    if passed {
                        "every child passes"
                    } else {
                        "some child fails"
                    }
                ),
            });
            flatten(&item.criteria, depth + 2, rows);
        }
    }
}

#[cfg(test)]
#[path = "tester_tests.rs"]
mod tests;
