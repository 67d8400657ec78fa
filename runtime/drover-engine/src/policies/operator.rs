//! The operator's own policies: `drover policy set|list|remove` (local and
//! over `--server`) and `/api/v1/policies`. A pack's policies govern only
//! its own actions; a limit on another pack's action (one `core.sleep` at
//! a time, retry a vendor's action) is the operator's decision, made here
//! and audited. Each operation is one function both front ends call, so
//! they check, store, audit and answer alike. It lives in drover-engine,
//! beside the policy grammar ([`Policy::parse`]) it checks against.

use std::path::Path;

use drover_app::App;
use drover_core::{AuditRecord, Decision, now_ms};
use drover_pack::{ActionRef, ActionRefError};
use drover_rules::ParseError;
use drover_store::{Store, StoreError};
use serde::{Deserialize, Serialize};

use super::{OPERATOR, Policy, PolicyKind};

/// Largest policy definition accepted: what drover reads of one pack file.
pub const MAX_DEFINITION_BYTES: usize = drover_text::yaml::MAX_FILE_BYTES as usize;

/// Why an operator policy change was refused. Every message says what to
/// do.
#[derive(Debug, thiserror::Error)]
pub enum OperatorPolicyError {
    #[error(
        "the policy is {0} bytes; at most {MAX_DEFINITION_BYTES} are read (a policy is a few \
         lines of YAML)"
    )]
    TooLarge(usize),
    #[error(transparent)]
    Parse(#[from] ParseError),
    #[error(transparent)]
    Action(#[from] ActionRefError),
    #[error(
        "{source_name}: resource_ref: {action} is not an installed action (see `drover pack \
         show`): {cause}"
    )]
    UnknownAction {
        source_name: String,
        action: String,
        cause: String,
    },
    #[error(
        "no operator policy {0:?} (`drover policy list` shows them; a pack's policies go with \
         the pack)"
    )]
    Unknown(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl OperatorPolicyError {
    /// Whether the request was wrong (as opposed to the store failing).
    pub fn is_bad_request(&self) -> bool {
        !matches!(self, OperatorPolicyError::Store(_))
    }
}

/// A policy in force, as `drover policy list` and `GET /api/v1/policies`
/// show it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PolicyView {
    #[serde(rename = "ref")]
    pub reference: String,
    /// `operator`, or `pack NAME`.
    pub owner: String,
    /// The action it governs, `pack.action`.
    pub action: String,
    pub enabled: bool,
    /// What it does, in words.
    pub policy: String,
}

impl PolicyView {
    fn of(policy: &Policy) -> PolicyView {
        PolicyView {
            reference: policy.reference.clone(),
            owner: if policy.pack == OPERATOR {
                "operator".to_owned()
            } else {
                format!("pack {}", policy.pack)
            },
            action: policy.resource_ref.clone(),
            enabled: policy.enabled,
            policy: describe(&policy.kind),
        }
    }

    /// What setting it printed.
    pub fn set_message(&self) -> String {
        format!(
            "policy {} set on {}: {}; `drover serve` applies it within a second",
            self.reference, self.action, self.policy
        )
    }

    /// What removing it printed.
    pub fn removed_message(&self) -> String {
        format!("policy {} removed", self.reference)
    }
}

/// Every policy in force: the packs' (each on its own actions) and the
/// operator's.
pub fn list(store: &Store) -> Result<Vec<PolicyView>, OperatorPolicyError> {
    store
        .list_policies()?
        .into_iter()
        .map(|stored| {
            let policy = Policy::parse(
                Path::new(&stored.reference),
                &stored.definition,
                &stored.pack,
                None,
            )?;
            Ok(PolicyView::of(&policy))
        })
        .collect()
}

/// Adds or replaces an operator policy from `definition` (the format of a
/// pack's `policies/*.yaml`; `source` names it in errors, e.g. the file):
/// size, grammar, and an installed action, then stored and audited as
/// `actor`'s change. Nothing is stored when a check fails.
pub fn set(
    app: &App,
    source: &str,
    definition: &str,
    actor: &str,
) -> Result<PolicyView, OperatorPolicyError> {
    if definition.len() > MAX_DEFINITION_BYTES {
        return Err(OperatorPolicyError::TooLarge(definition.len()));
    }
    let policy = Policy::parse(Path::new(source), definition, OPERATOR, None)?;
    let action: ActionRef = policy.resource_ref.parse()?;
    if let Err(e) = app.runtime().action_plugin(&action) {
        return Err(OperatorPolicyError::UnknownAction {
            source_name: source.to_owned(),
            action: policy.resource_ref.clone(),
            cause: e.to_string(),
        });
    }
    let store = app.store();
    store.put_policy(OPERATOR, &policy.reference, definition)?;
    audit(store, "policy.set", &policy, actor)?;
    Ok(PolicyView::of(&policy))
}

/// Removes operator policy `name` (without the `drover.` prefix), audited
/// as `actor`'s change.
pub fn remove(store: &Store, name: &str, actor: &str) -> Result<PolicyView, OperatorPolicyError> {
    let reference = format!("{OPERATOR}.{name}");
    let Some(stored) = store
        .list_policies()?
        .into_iter()
        .find(|p| p.reference == reference && p.pack == OPERATOR)
    else {
        return Err(OperatorPolicyError::Unknown(name.to_owned()));
    };
    let policy = Policy::parse(Path::new(&reference), &stored.definition, OPERATOR, None)?;
    store.delete_policy(OPERATOR, &reference)?;
    audit(store, "policy.remove", &policy, actor)?;
    Ok(PolicyView::of(&policy))
}

/// The operator's change, in the audit log beside capability uses.
fn audit(store: &Store, what: &str, policy: &Policy, actor: &str) -> Result<(), StoreError> {
    store.append_audit(AuditRecord {
        id: 0,
        at_ms: now_ms(),
        execution_id: None,
        actor: actor.to_owned(),
        pack: OPERATOR.to_owned(),
        plugin: "policy".to_owned(),
        capability: what.to_owned(),
        target: policy.reference.clone(),
        decision: Decision::Allowed,
        reason: format!("{} on {}", describe(&policy.kind), policy.resource_ref),
        dry_run: false,
        change: None,
    })?;
    Ok(())
}

/// A policy's effect, in words.
pub fn describe(kind: &PolicyKind) -> String {
    match kind {
        PolicyKind::Concurrency {
            threshold,
            cancel,
            semaphore,
            key,
        } => format!(
            "concurrency {threshold} (semaphore {semaphore}{}), excess {}",
            key.as_ref()
                .map(|k| format!(", key {k}"))
                .unwrap_or_default(),
            if *cancel { "canceled" } else { "waits" }
        ),
        PolicyKind::Retry(r) => format!(
            "retry up to {} times after {} ms",
            r.max_retries, r.delay_ms
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn app() -> (tempfile::TempDir, App) {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("drover.db")).unwrap();
        let app = App::with_defaults(store, &dir.path().join("cache")).unwrap();
        (dir, app)
    }

    const ONE_SLEEP: &str = "name: one_sleep\nresource_ref: core.sleep\n\
        policy_type: action.concurrency\nparameters:\n  threshold: 1\n";

    #[test]
    fn refused_policies_store_and_audit_nothing() {
        let (_dir, app) = app();
        let store = app.store();
        let big = format!("{ONE_SLEEP}#{}\n", "x".repeat(MAX_DEFINITION_BYTES));
        assert!(matches!(
            set(&app, "big.yaml", &big, "user:t"),
            Err(OperatorPolicyError::TooLarge(_))
        ));
        let err = set(&app, "bad.yaml", "name: [unclosed", "user:t").unwrap_err();
        assert!(matches!(err, OperatorPolicyError::Parse(_)), "{err}");
        assert!(err.to_string().contains("bad.yaml"), "{err}");
        // No pack is installed: core.sleep is unknown.
        let err = set(&app, "one.yaml", ONE_SLEEP, "user:t").unwrap_err();
        assert!(
            matches!(&err, OperatorPolicyError::UnknownAction { action, .. } if action == "core.sleep"),
            "{err}"
        );
        assert!(
            err.to_string()
                .starts_with("one.yaml: resource_ref: core.sleep is not an installed action"),
            "{err}"
        );
        let err = remove(store, "one_sleep", "user:t").unwrap_err();
        assert!(matches!(&err, OperatorPolicyError::Unknown(n) if n == "one_sleep"));
        assert!(list(store).unwrap().is_empty(), "nothing stored");
        assert!(
            store
                .list_audit(&drover_store::AuditFilter {
                    limit: 100,
                    ..Default::default()
                })
                .unwrap()
                .is_empty(),
            "nothing audited"
        );
    }
}
