//! The `audit` table: append records, list them newest first; and the
//! change log, the audit records that carry a change (see
//! `drover_core::AuditRecord::change`), listed on their own.

use drover_core::{AuditRecord, ChangeRecord, Decision, ExecutionId};

use crate::Result;

/// Which audit records to list, newest first.
#[derive(Clone, Debug, Default)]
pub struct AuditFilter {
    pub execution_id: Option<ExecutionId>,
    pub pack: Option<String>,
    pub decision: Option<Decision>,
    /// Only records about this target (a node, a URL, a key...).
    pub target: Option<String>,
    /// Keyset pagination: only records with a smaller id.
    pub before: Option<i64>,
    pub limit: u32,
}

/// Which changes to list, newest first.
#[derive(Clone, Debug, Default)]
pub struct ChangeFilter {
    /// Only changes made at or after this time (ms since the epoch).
    pub since_ms: Option<i64>,
    /// Only this kind (`grant.add`), or every kind under a prefix
    /// (`grant`, `fleet`).
    pub kind: Option<String>,
    /// Only changes of this subject, or of subjects under it: `batchops`
    /// matches `batchops@0.2.0`, `batchops@0.1.0 nodes.reboot` and
    /// `batchops.on_no_contact`.
    pub subject: Option<String>,
    /// Only changes by this actor (`user:ann`).
    pub actor: Option<String>,
    /// Keyset pagination: only changes with a smaller id.
    pub before: Option<i64>,
    pub limit: u32,
}

/// The audit log: append records, list them newest first.
pub trait AuditStore: Send + Sync {
    /// Appends a record and waits until it is durable; returns its id.
    fn append_audit(&self, rec: AuditRecord) -> Result<i64>;

    fn list_audit(&self, filter: &AuditFilter) -> Result<Vec<AuditRecord>>;

    /// The change log: audit records that carry a change, newest first.
    fn list_changes(&self, filter: &ChangeFilter) -> Result<Vec<ChangeRecord>>;
}
