//! Enabling and disabling a rule: the rule must be stored, and a running
//! `drover serve` picks the change up from the catalog's generation. One
//! implementation for `drover rule enable|disable` (local and over
//! `--server`), `POST /api/v1/rules/{ref}/enable|disable` and the web UI's
//! rule page, so they refuse and answer alike.

use drover_core::ChangeBy;
use drover_store::{Store, StoreError};
use serde::{Deserialize, Serialize};

#[derive(Debug, thiserror::Error)]
pub enum RuleError {
    #[error("no rule {0:?} (see `drover rule list`)")]
    Unknown(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// What enabling or disabling did.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Toggled {
    #[serde(rename = "ref")]
    pub reference: String,
    pub enabled: bool,
    /// When it takes effect.
    pub note: String,
}

impl Toggled {
    /// What the CLI prints, local or remote.
    pub fn message(&self) -> String {
        format!(
            "rule {} {}; {}",
            self.reference,
            if self.enabled { "enabled" } else { "disabled" },
            self.note
        )
    }
}

/// When a change of a rule takes effect.
pub const NOTE: &str = "a running `drover serve` applies it within a second";

/// Enables (or disables) stored rule `reference`, by `by`; a change of
/// its state is recorded in the change log in the same transaction.
pub fn set_enabled(
    store: &Store,
    reference: &str,
    enabled: bool,
    by: &ChangeBy,
) -> Result<Toggled, RuleError> {
    if !store.set_rule_enabled(reference, enabled, by)? {
        return Err(RuleError::Unknown(reference.to_owned()));
    }
    Ok(Toggled {
        reference: reference.to_owned(),
        enabled,
        note: NOTE.to_owned(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_unknown_rule_is_refused_by_name() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("drover.db")).unwrap();
        let err = set_enabled(&store, "demo.nope", false, &"user:t".into()).unwrap_err();
        assert!(matches!(&err, RuleError::Unknown(r) if r == "demo.nope"));
        assert!(err.to_string().contains("drover rule list"), "{err}");
        assert!(store.list_rules().unwrap().is_empty(), "nothing stored");
        store
            .replace_pack_rules("demo", vec![("demo.r".into(), "x: 1".into(), true)])
            .unwrap();
        let done = set_enabled(&store, "demo.r", false, &"user:t".into()).unwrap();
        assert_eq!(
            done.message(),
            "rule demo.r disabled; a running `drover serve` applies it within a second"
        );
        assert!(!store.list_rules().unwrap()[0].enabled);
    }
}
