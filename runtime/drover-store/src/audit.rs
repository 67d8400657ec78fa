//! The `audit` table: append records, list them newest first.

use drover_core::{AuditRecord, Decision, ExecutionId};

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

/// The audit log: append records, list them newest first.
pub trait AuditStore: Send + Sync {
    /// Appends a record and waits until it is durable; returns its id.
    fn append_audit(&self, rec: AuditRecord) -> Result<i64>;

    fn list_audit(&self, filter: &AuditFilter) -> Result<Vec<AuditRecord>>;
}
