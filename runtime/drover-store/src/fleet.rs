//! The fleet controller's tables: requests, budgets, settings and node
//! history, reached through [`FleetTx`] so that one controller step (read
//! the inventory, decide, write the transitions and their audit records)
//! is one transaction. Decisions made inside [`Self::fleet_write`](crate::Store::fleet_write) are
//! therefore atomic across processes: the CLI and a running `drover
//! serve` never both admit a node against the same budget slot. The
//! meaning of the JSON columns belongs to `drover-fleet`.

use drover_core::AuditRecord;
use serde::Serialize;

use crate::{NodeRow, Result};

/// A fleet request as stored.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct RequestRow {
    pub id: String,
    pub node: String,
    pub kind: String,
    pub reason: String,
    pub execution_id: Option<String>,
    pub status: String,
    pub created_at_ms: i64,
    pub actor: String,
    /// The controller's fields (origin, policy, deadlines, phase, step).
    pub spec: serde_json::Value,
    pub detail: String,
    pub updated_at_ms: i64,
}

/// A budget as stored.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct BudgetRow {
    pub name: String,
    pub spec: serde_json::Value,
    pub created_at_ms: i64,
    pub created_by: String,
}

/// One line of a node's history.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct HistoryRow {
    pub id: i64,
    pub node: String,
    pub at_ms: i64,
    pub event: String,
    pub from_state: String,
    pub to_state: String,
    pub request_id: Option<String>,
    pub actor: String,
    pub detail: String,
}

/// The fleet tables inside one transaction: what a controller step reads
/// and writes. Outside a write transaction only the reading methods work.
pub trait FleetTx {
    fn nodes(&self) -> Result<Vec<NodeRow>>;

    fn node(&self, name: &str) -> Result<Option<NodeRow>>;

    /// Queued and active requests, oldest first (the admission order).
    fn open_requests(&self) -> Result<Vec<RequestRow>>;

    fn request(&self, id: &str) -> Result<Option<RequestRow>>;

    /// A node's requests, newest first.
    fn node_requests(&self, node: &str, limit: u32) -> Result<Vec<RequestRow>>;

    /// Requests made at or after `since_ms` and before `until_ms`, oldest
    /// first, at most `limit` (the newest ones when there are more).
    fn requests_between(&self, since_ms: i64, until_ms: i64, limit: u32)
    -> Result<Vec<RequestRow>>;

    fn upsert_request(&self, r: &RequestRow) -> Result<()>;

    /// Moves a node to `state`; false when there is no such node.
    fn set_node_state(&self, name: &str, state: &str, since_ms: i64, note: &str) -> Result<bool>;

    /// Inserts a node, or updates its labels, driver and options (its
    /// state is the controller's and stays).
    fn upsert_node(&self, n: &NodeRow) -> Result<()>;

    fn delete_node(&self, name: &str) -> Result<bool>;

    fn budgets(&self) -> Result<Vec<BudgetRow>>;

    fn put_budget(&self, b: &BudgetRow) -> Result<()>;

    fn remove_budget(&self, name: &str) -> Result<bool>;

    fn setting(&self, key: &str) -> Result<Option<serde_json::Value>>;

    fn set_setting(&self, key: &str, value: &serde_json::Value, now_ms: i64) -> Result<()>;

    fn add_history(&self, h: &HistoryRow) -> Result<()>;

    /// `(node, at)` of history events of the given kinds since `since_ms`.
    fn history_events_since(&self, events: &[&str], since_ms: i64) -> Result<Vec<(String, i64)>>;

    /// A node's history, newest first.
    fn history(&self, node: &str, limit: u32) -> Result<Vec<HistoryRow>>;

    /// The unrevoked grants of one pack version: the controller checks a
    /// plugin's queued request against them again before it starts it.
    fn active_grants(&self, pack: &str, version: &str) -> Result<Vec<drover_core::Grant>>;

    fn audit(&self, rec: &AuditRecord) -> Result<i64>;
}

/// One controller step, run inside a write transaction.
pub type FleetStep = Box<dyn FnOnce(&dyn FleetTx) -> Result<()> + Send>;

/// The fleet controller's transactions (see [`FleetTx`]). Callers use
/// [`Self::fleet_write`](crate::Store::fleet_write) and
/// [`Self::fleet_read`](crate::Store::fleet_read), which carry a result
/// type through these object-safe forms.
pub trait FleetStore: Send + Sync {
    /// Runs `f` in a write transaction; `f`'s error rolls back everything
    /// it wrote.
    fn fleet_write_with(&self, f: FleetStep) -> Result<()>;

    /// Runs `f` once on a read connection.
    fn fleet_read_with(&self, f: &mut dyn FnMut(&dyn FleetTx) -> Result<()>) -> Result<()>;
}
