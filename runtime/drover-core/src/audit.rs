//! The audit trail: one record for every allowed or denied use of a
//! capability that needs a grant, real or planned.

use serde::{Deserialize, Serialize};

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
}
