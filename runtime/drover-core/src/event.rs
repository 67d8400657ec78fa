//! The event pipeline's records: trigger instances, rule enforcements and
//! queued execution requests.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::ExecutionId;

/// One event, as stored before its source was acknowledged.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TriggerInstance {
    /// A ULID: arrival order.
    pub id: String,
    /// `pack.name`, e.g. `batch.no_contact`.
    pub trigger_type: String,
    pub payload: Value,
    /// `webhook`, `sensor:<ref>`, `timer:<ref>`, `cli`.
    pub source: String,
    pub received_at_ms: i64,
    /// The parameters of a parameterized trigger (a timer's schedule, in
    /// canonical form): only rules on the same parameters see it. `None`
    /// for triggers without parameters.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trigger_parameters: Option<serde_json::Map<String, Value>>,
    /// Produced by a shadow pack (its sensor, or a webhook into its trigger
    /// type): liveness follows the least-trusted link, so every execution
    /// a rule starts for it is a dry run, whatever the rule's pack.
    #[serde(default)]
    pub shadow: bool,
}

/// What a rule match led to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EnforcementState {
    /// An execution was requested.
    Scheduled,
    /// The match could not become an execution (bad template, bad
    /// parameter, unknown action); `reason` says why.
    Failed,
    /// Held back by the rule's throttle or threshold.
    Suppressed,
}

impl EnforcementState {
    pub fn as_str(self) -> &'static str {
        match self {
            EnforcementState::Scheduled => "scheduled",
            EnforcementState::Failed => "failed",
            EnforcementState::Suppressed => "suppressed",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        [Self::Scheduled, Self::Failed, Self::Suppressed]
            .into_iter()
            .find(|v| v.as_str() == s)
    }
}

/// One rule match of one trigger instance.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Enforcement {
    pub id: String,
    pub trigger_instance_id: String,
    pub rule_ref: String,
    pub execution_id: Option<ExecutionId>,
    pub state: EnforcementState,
    pub reason: Option<String>,
    pub at_ms: i64,
    /// The shadowed candidate version whose rule matched (side-by-side
    /// shadow: its executions are dry runs of that version), or `None` for
    /// a rule in force.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub candidate: Option<String>,
}

/// An execution waiting in (or taken from) the queue.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ExecutionRequest {
    /// The id the execution will have.
    pub id: ExecutionId,
    /// `pack.action`.
    pub action: String,
    pub parameters: Value,
    pub dry_run: bool,
    /// Who asked: `rule:<ref>`, `user:<name>`.
    pub actor: String,
    pub enforcement_id: Option<String>,
    pub requested_at_ms: i64,
    /// The version of the action's pack to run (a shadowed candidate's dry
    /// run), or `None` for the live version.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pack_version: Option<String>,
}
