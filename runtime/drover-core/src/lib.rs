//! drover's domain types, shared by every other crate: executions and their
//! status, dry-run plans, audit records, grants, nodes, log lines and ids.
//!
//! Plain data with serde; no I/O, no wasmtime, no SQL. Anything that knows
//! how to *store* or *produce* these lives elsewhere (`drover-store`,
//! `drover-host`). Beside the data, [`Stop`]: the stop tree every
//! long-running part of `drover serve` hangs on.

mod audit;
mod event;
mod execution;
mod grant;
mod id;
mod node;
mod stop;
mod time;

pub use audit::{
    AuditRecord, Change, ChangeBy, ChangeRecord, Decision, MAX_REASON_CHARS, ReasonError,
    diff_lines, kinds,
};
pub use event::{Enforcement, EnforcementState, ExecutionRequest, TriggerInstance};
pub use execution::{ExecStatus, Execution, LogLevel, LogLine, PlannedEffect};
pub use grant::Grant;
pub use id::{ExecutionId, GrantId, IdError, id_floor};
pub use node::{GrantRef, NodeRow};
pub use stop::Stop;
pub use time::{fmt_time, now_ms};
