//! The audit trail: one record for every allowed or denied use of a
//! capability that needs a grant, real or planned, and for every change an
//! operator makes to automation.
//!
//! A **change** (installing or promoting a pack version, giving or
//! revoking a grant, enabling or disabling a rule, a fleet budget or
//! setting, releasing the storm brake) is an audit record that carries a
//! [`Change`]: the operator's reason and the state before and after. The
//! change log is that subset of the audit log, not a second log beside it:
//! one row per change, written in the transaction that makes it, so the
//! two can never disagree and the audit log's retention keeps both. In
//! such a record `capability` is the change's kind ([`kinds`]), `target`
//! its subject (`batchops@0.2.0`, `batchops@0.1.0 nodes.reboot`,
//! `batchops.on_no_contact`, a budget's name) and `reason` a one-line
//! summary; [`ChangeRecord`] is the same row under those names.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::ExecutionId;

/// What the grant check (and later the fleet budgets) said.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Decision {
    Allowed,
    Denied,
}

impl Decision {
    pub fn as_str(self) -> &'static str {
        match self {
            Decision::Allowed => "allowed",
            Decision::Denied => "denied",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "allowed" => Some(Decision::Allowed),
            "denied" => Some(Decision::Denied),
            _ => None,
        }
    }
}

/// One audited capability use.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AuditRecord {
    /// Assigned by the store; 0 before it is stored.
    pub id: i64,
    /// Milliseconds since the Unix epoch.
    pub at_ms: i64,
    pub execution_id: Option<ExecutionId>,
    /// Who asked for the execution: `user:NAME`, later `rule:REF`.
    pub actor: String,
    /// `pack@version`.
    pub pack: String,
    pub plugin: String,
    pub capability: String,
    /// The node, host, secret name or argv the call was about.
    pub target: String,
    pub decision: Decision,
    pub reason: String,
    /// A planned effect of a dry run, not a performed one.
    pub dry_run: bool,
    /// Set when the record is a change an operator made (see the module
    /// doc); absent for capability uses.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub change: Option<Change>,
}

impl AuditRecord {
    /// The record of a change: `kind` (one of [`kinds`]) of `subject`,
    /// about pack `pack` (`name@version`, or `drover` for the fleet),
    /// summed up in `summary`.
    pub fn of_change(
        by: &ChangeBy,
        kind: &str,
        subject: &str,
        pack: &str,
        summary: String,
        before: Value,
        after: Value,
    ) -> AuditRecord {
        AuditRecord {
            id: 0,
            at_ms: crate::now_ms(),
            execution_id: None,
            actor: by.actor.clone(),
            pack: pack.to_owned(),
            plugin: "drover".into(),
            capability: kind.to_owned(),
            target: subject.to_owned(),
            decision: Decision::Allowed,
            reason: summary,
            dry_run: false,
            change: Some(Change {
                reason: by.reason.clone(),
                before,
                after,
            }),
        }
    }
}

/// The kinds of change, as stored in an audit record's `capability`.
pub mod kinds {
    /// A pack version installed (or reinstalled).
    pub const PACK_INSTALL: &str = "pack.install";
    /// A pack version taken out of shadow mode.
    pub const PACK_PROMOTE: &str = "pack.promote";
    /// A pack version put back into shadow mode.
    pub const PACK_SHADOW: &str = "pack.shadow";
    /// A pack rolled back: its live version put back into shadow mode, so
    /// the trusted version before it is live again.
    pub const PACK_ROLLBACK: &str = "pack.rollback";
    pub const GRANT_ADD: &str = "grant.add";
    pub const GRANT_REVOKE: &str = "grant.revoke";
    pub const RULE_ENABLE: &str = "rule.enable";
    pub const RULE_DISABLE: &str = "rule.disable";
    /// A fleet budget set, replaced or removed.
    pub const FLEET_BUDGET: &str = "fleet.budget";
    /// Fleet settings: the brake's threshold, pause and resume, windows,
    /// escalation ladders.
    pub const FLEET_SETTINGS: &str = "fleet.settings";
    /// The storm brake released by an operator.
    pub const FLEET_BRAKE: &str = "fleet.brake";
    /// A publisher key trusted to sign pack archives.
    pub const TRUST_ADD: &str = "trust.add";
    /// A publisher key no longer trusted.
    pub const TRUST_REMOVE: &str = "trust.remove";

    /// Every kind, for help texts and checking a filter.
    pub const ALL: &[&str] = &[
        PACK_INSTALL,
        PACK_PROMOTE,
        PACK_SHADOW,
        PACK_ROLLBACK,
        GRANT_ADD,
        GRANT_REVOKE,
        RULE_ENABLE,
        RULE_DISABLE,
        FLEET_BUDGET,
        FLEET_SETTINGS,
        FLEET_BRAKE,
        TRUST_ADD,
        TRUST_REMOVE,
    ];
}

/// What a change did: the operator's reason, and the state it changed
/// before and after, as JSON (`null` for what did not exist: a grant
/// before it was given, a budget after it was removed).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Change {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    pub before: Value,
    pub after: Value,
}

/// The longest reason a change keeps, in characters. A reason is a line
/// for the change log (a ticket and a sentence), not the ticket itself;
/// the cap keeps one operator from filling the log or the page.
pub const MAX_REASON_CHARS: usize = 500;

/// Why a reason is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ReasonError {
    #[error(
        "the reason is {0} characters long, more than the {MAX_REASON_CHARS} kept: sum it up and name the ticket (e.g. \"CHG-1234: ssh timeout raised\")"
    )]
    TooLong(usize),
    #[error("the reason contains a control character (a line break?): write it on one line")]
    Control,
}

/// Who makes a change and why: what every change to automation carries
/// into its record.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChangeBy {
    /// `user:NAME`, `token:NAME`...
    pub actor: String,
    /// The operator's reason (`--reason`), when given.
    pub reason: Option<String>,
}

impl ChangeBy {
    /// `actor`, giving `reason`: trimmed, empty as none, refused when
    /// longer than [`MAX_REASON_CHARS`] or with a control character.
    pub fn new(actor: &str, reason: Option<&str>) -> Result<ChangeBy, ReasonError> {
        let reason = reason.map(str::trim).filter(|r| !r.is_empty());
        if let Some(r) = reason {
            let n = r.chars().count();
            if n > MAX_REASON_CHARS {
                return Err(ReasonError::TooLong(n));
            }
            if r.chars().any(char::is_control) {
                return Err(ReasonError::Control);
            }
        }
        Ok(ChangeBy {
            actor: actor.to_owned(),
            reason: reason.map(str::to_owned),
        })
    }
}

/// `actor`, giving no reason.
impl From<&str> for ChangeBy {
    fn from(actor: &str) -> ChangeBy {
        ChangeBy {
            actor: actor.to_owned(),
            reason: None,
        }
    }
}

impl From<&String> for ChangeBy {
    fn from(actor: &String) -> ChangeBy {
        ChangeBy::from(actor.as_str())
    }
}

impl From<&ChangeBy> for ChangeBy {
    fn from(by: &ChangeBy) -> ChangeBy {
        by.clone()
    }
}

/// One entry of the change log: an audit record with a [`Change`], under
/// the change log's names.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ChangeRecord {
    /// The audit record's id (keyset pagination: `before`).
    pub id: i64,
    /// Milliseconds since the Unix epoch.
    pub at_ms: i64,
    pub actor: String,
    /// One of [`kinds`].
    pub kind: String,
    /// What changed: `batchops@0.2.0`, `batchops@0.1.0 nodes.reboot`, a
    /// rule's reference, a budget's name, `brake`...
    pub subject: String,
    /// The operator's reason, when one was given.
    pub reason: Option<String>,
    /// One line saying what was done.
    pub summary: String,
    pub before: Value,
    pub after: Value,
}

impl ChangeRecord {
    /// The change `rec` records, if it is one.
    pub fn from_audit(rec: AuditRecord) -> Option<ChangeRecord> {
        let change = rec.change?;
        Some(ChangeRecord {
            id: rec.id,
            at_ms: rec.at_ms,
            actor: rec.actor,
            kind: rec.capability,
            subject: rec.target,
            reason: change.reason,
            summary: rec.reason,
            before: change.before,
            after: change.after,
        })
    }

    /// The difference, one line per field that changed: `enabled: true →
    /// false`; a whole value added (`+ …`) or removed (`- …`) when the
    /// other side is `null`.
    pub fn diff_lines(&self) -> Vec<String> {
        diff_lines(&self.before, &self.after)
    }
}

/// See [`ChangeRecord::diff_lines`].
pub fn diff_lines(before: &Value, after: &Value) -> Vec<String> {
    fn show(v: &Value) -> String {
        match v {
            Value::Null => "—".into(),
            Value::String(s) => s.clone(),
            other => other.to_string(),
        }
    }
    match (before, after) {
        (Value::Object(b), Value::Object(a)) => {
            let mut keys: Vec<&String> = b.keys().chain(a.keys()).collect();
            keys.sort();
            keys.dedup();
            keys.into_iter()
                .filter_map(|k| {
                    let (x, y) = (
                        b.get(k).unwrap_or(&Value::Null),
                        a.get(k).unwrap_or(&Value::Null),
                    );
                    (x != y).then(|| format!("{k}: {} → {}", show(x), show(y)))
                })
                .collect()
        }
        (Value::Null, Value::Null) => Vec::new(),
        (Value::Null, Value::Object(a)) => a
            .iter()
            .map(|(k, v)| format!("+ {k}: {}", show(v)))
            .collect(),
        (Value::Object(b), Value::Null) => b
            .iter()
            .map(|(k, v)| format!("- {k}: {}", show(v)))
            .collect(),
        (b, a) if b == a => Vec::new(),
        (b, a) => vec![format!("{} → {}", show(b), show(a))],
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_reason_is_trimmed_capped_and_on_one_line() {
        let by = ChangeBy::new("user:ann", Some("  CHG-1: why  ")).unwrap();
        assert_eq!(by.reason.as_deref(), Some("CHG-1: why"));
        assert_eq!(ChangeBy::new("user:ann", Some("   ")).unwrap().reason, None);
        let long = "x".repeat(MAX_REASON_CHARS + 1);
        let err = ChangeBy::new("user:ann", Some(&long)).unwrap_err();
        assert_eq!(err, ReasonError::TooLong(MAX_REASON_CHARS + 1));
        assert!(err.to_string().contains("more than the 500 kept"), "{err}");
        assert!(ChangeBy::new("u", Some(&"é".repeat(MAX_REASON_CHARS))).is_ok());
        assert_eq!(
            ChangeBy::new("u", Some("a\nb")).unwrap_err(),
            ReasonError::Control
        );
    }

    #[test]
    fn a_diff_names_what_changed() {
        assert_eq!(
            diff_lines(
                &json!({"enabled": true, "pack": "p"}),
                &json!({"enabled": false, "pack": "p"})
            ),
            vec!["enabled: true → false"]
        );
        assert_eq!(
            diff_lines(&Value::Null, &json!({"scope": "rack=r01"})),
            vec!["+ scope: rack=r01"]
        );
        assert_eq!(
            diff_lines(
                &json!({"live": "0.1.0"}),
                &json!({"live": "0.2.0", "shadow": false})
            ),
            vec!["live: 0.1.0 → 0.2.0", "shadow: — → false"]
        );
        assert_eq!(diff_lines(&json!(1), &json!(2)), vec!["1 → 2"]);
    }
}
