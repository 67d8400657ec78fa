//! Executions: one run of an action, with its outcome, its logs and, for a
//! dry run, its plan.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::{Decision, ExecutionId, ExecutionRequest};

/// How an execution ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ExecStatus {
    /// The action returned a result.
    Succeeded,
    /// The action returned an error, trapped, panicked or hit a limit.
    Failed,
    /// The action stopped because a capability was refused.
    Denied,
    /// The action ran past its deadline and was stopped.
    Timeout,
    /// Canceled: an operator canceled it (a workflow: `drover exec
    /// cancel`), or it never ran because a concurrency policy with `action:
    /// cancel` found its semaphore full (st2's `canceled`).
    Canceled,
}

impl ExecStatus {
    pub const ALL: [ExecStatus; 5] = [
        ExecStatus::Succeeded,
        ExecStatus::Failed,
        ExecStatus::Denied,
        ExecStatus::Timeout,
        ExecStatus::Canceled,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            ExecStatus::Succeeded => "succeeded",
            ExecStatus::Failed => "failed",
            ExecStatus::Denied => "denied",
            ExecStatus::Timeout => "timeout",
            ExecStatus::Canceled => "canceled",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|v| v.as_str() == s)
    }
}

impl std::fmt::Display for ExecStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Severity of a plugin's log line.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LogLevel {
    Trace,
    Debug,
    Info,
    Warn,
    Error,
}

/// One line a plugin logged (or the host noted) during an execution.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct LogLine {
    /// Milliseconds since the execution started.
    pub at_ms: u64,
    pub level: LogLevel,
    pub message: String,
}

/// An effect a dry run would have had, in the order the plugin asked.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PlannedEffect {
    /// 1-based position in the plan.
    pub seq: u32,
    /// The plugin that asked, `pack.plugin`.
    pub action: String,
    /// Capability name, e.g. `nodes.reboot`, `http`, `kv`.
    pub capability: String,
    /// The operation, e.g. `reboot`, `POST`, `set`.
    pub operation: String,
    /// The node, URL, key or argv concerned.
    pub target: String,
    /// What the grant check, then the fleet, would decide.
    pub decision: Decision,
    pub reason: String,
    /// Which gate refused or delayed it: `grant` (the host's capability
    /// check), or one of the fleet's (`brake`, `budget`, `window`,
    /// `pause`, `settle`, `schedule`, `intervention`). Absent: allowed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gate: Option<String>,
    /// What the plugin was told happened.
    pub simulated_result: Value,
    /// For an HTTP request: the headers and body that would have been
    /// sent, credentials masked (absent for other effects).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request: Option<Value>,
    /// In a workflow's plan: the task that asked (absent for a lone action).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub task: Option<String>,
    /// In a workflow's plan: the task's route.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub route: Option<u32>,
}

/// One run of an action, as stored and shown.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Execution {
    pub id: ExecutionId,
    /// `pack.plugin`.
    pub action: String,
    pub pack_version: String,
    /// Digest of the component that ran.
    pub digest: String,
    pub parameters: Value,
    pub status: ExecStatus,
    pub result: Option<Value>,
    pub error: Option<String>,
    pub dry_run: bool,
    /// Present for dry runs (possibly empty), absent otherwise.
    pub plan: Option<Vec<PlannedEffect>>,
    pub logs: Vec<LogLine>,
    /// Who asked: `user:NAME`, later `rule:REF`.
    pub actor: String,
    pub started_at_ms: i64,
    pub finished_at_ms: i64,
    /// Time spent running the plugin (excludes storing the result).
    pub duration_us: u64,
}

impl Execution {
    /// The execution that closes a request which never ran (a concurrency
    /// policy cancelled it, its workflow could not start, its action is
    /// gone), with `reason` as its error, at `now_ms`.
    pub fn closed(req: &ExecutionRequest, status: ExecStatus, reason: &str, now_ms: i64) -> Self {
        Execution {
            id: req.id,
            action: req.action.clone(),
            pack_version: String::new(),
            digest: String::new(),
            parameters: req.parameters.clone(),
            status,
            result: None,
            error: Some(reason.to_owned()),
            dry_run: req.dry_run,
            plan: req.dry_run.then(Vec::new),
            logs: Vec::new(),
            actor: req.actor.clone(),
            started_at_ms: now_ms,
            finished_at_ms: now_ms,
            duration_us: 0,
        }
    }
}
