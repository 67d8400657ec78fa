//! The `rules` table: rule definitions (their YAML source) from packs or
//! created through the CLI/API, and whether each is enabled; the rules
//! whose recent enforcements went wrong (the web UI's dashboard).

use drover_core::ChangeBy;
use serde::Serialize;

use crate::Result;

/// A stored rule.
#[derive(Clone, Debug, Serialize)]
pub struct StoredRule {
    /// `pack.name`.
    pub reference: String,
    pub pack: String,
    /// The rule's YAML source.
    pub definition: String,
    pub enabled: bool,
    /// `pack` or `api`.
    pub origin: String,
    pub updated_at_ms: i64,
}

/// A rule whose recent enforcements or executions went wrong.
#[derive(Clone, Debug, Serialize)]
pub struct FailingRule {
    pub rule: String,
    /// Among its enforcements in the window: those that failed to start
    /// an execution, or whose execution failed, was denied or timed out.
    pub failures: u64,
    /// Its enforcements in the window.
    pub enforcements: u64,
    /// The newest failure's reason or execution error.
    pub last_error: Option<String>,
}

/// Rule definitions, whether each is enabled, and failing rules.
pub trait RuleStore: Send + Sync {
    /// Replaces the rules a pack ships (origin `pack`) with `rules`
    /// (reference, YAML, enabled), in one transaction. Rules created
    /// through the API are kept.
    fn replace_pack_rules(&self, pack: &str, rules: Vec<(String, String, bool)>) -> Result<()>;

    /// Every stored rule, by reference.
    fn list_rules(&self) -> Result<Vec<StoredRule>>;

    /// Enables or disables a rule; false when there is no such rule. When
    /// the rule's state changes, the change (`rule.enable` or
    /// `rule.disable`) is recorded in the same transaction; setting the
    /// state it already has records nothing.
    fn set_rule_enabled(&self, reference: &str, enabled: bool, by: &ChangeBy) -> Result<bool>;

    /// Rules with failures among the newest `window` enforcements, most
    /// failures first.
    fn failing_rules(&self, window: u32, limit: u32) -> Result<Vec<FailingRule>>;
}
