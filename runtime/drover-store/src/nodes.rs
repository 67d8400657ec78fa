//! The `nodes` table read outside the controller's transactions: one node,
//! all nodes, the count, and the web UI's fleet grid (each node's rack,
//! state and health); and each node's health as
//! checks and monitoring last reported it (`node_health`). The inventory starts as the default simulated
//! fleet (migration 0001); `drover node import` replaces it.

use serde::Serialize;

use crate::Result;

pub use drover_core::NodeRow;

/// A change request as `drover node show --history` lists it (the
/// pre-controller shape, kept for callers that only need these fields).
#[derive(Clone, Debug, Serialize)]
pub struct FleetRequest {
    pub id: String,
    pub node: String,
    pub kind: String,
    pub reason: String,
    pub execution_id: Option<String>,
    pub status: String,
    pub created_at_ms: i64,
}

/// A node's place, state and health, for the fleet grid.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct NodeCell {
    pub name: String,
    /// The `rack` label; empty when the node has none.
    pub rack: String,
    pub state: String,
    /// The latest health report, when it is newer than the node's last
    /// change of state (`answering`, `unreachable`, `silent`).
    pub health: Option<String>,
}

/// What a check or monitoring saw of a node (`nodes.report-health`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct HealthReport {
    pub node: String,
    /// `answering`, `unreachable` or `silent`.
    pub health: String,
    /// How it was seen, in the reporter's words.
    pub detail: String,
    /// Who reported it: `pack.plugin`.
    pub source: String,
    pub at_ms: i64,
}

/// The node inventory read outside the controller's transactions.
pub trait NodeStore: Send + Sync {
    fn get_node(&self, name: &str) -> Result<Option<NodeRow>>;

    /// Every node, ordered by name (shorter names first, so n2 < n10).
    fn list_nodes(&self) -> Result<Vec<NodeRow>>;

    fn count_nodes(&self) -> Result<u64>;

    /// A node's requests, newest first.
    fn fleet_requests(&self, node: &str) -> Result<Vec<FleetRequest>>;

    /// Every node with its rack and state, by rack then name (numbers in
    /// names sorted by length first, so `n2` comes before `n10`).
    fn node_cells(&self) -> Result<Vec<NodeCell>>;

    /// Records a health report as the node's latest; when the health
    /// changed, also a `health` line of the node's history. Returns
    /// whether it changed. The caller has checked that the node exists.
    fn record_node_health(&self, report: HealthReport) -> Result<bool>;

    /// The node's latest health report, current or not.
    fn node_health(&self, node: &str) -> Result<Option<HealthReport>>;

    /// Where the nodes' history ends now: every change of state or health
    /// adds a line after it (the fleet grid's cursor).
    fn node_history_cursor(&self) -> Result<i64>;

    /// The nodes with a line of history after `cursor` (at most `limit`
    /// names, by name), and the cursor after them.
    fn nodes_changed_since(&self, cursor: i64, limit: u32) -> Result<(Vec<String>, i64)>;

    /// Whether a node was added, removed or relabelled (an inventory
    /// import) after history line `cursor` and up to `upto`: a grid must
    /// then be drawn again, not patched.
    fn inventory_changed(&self, cursor: i64, upto: i64) -> Result<bool>;

    /// Lines of the nodes' history after line `after` (exclusive), oldest
    /// first, at most `limit`: how a replay rebuilds the fleet of a past
    /// moment, a page at a time.
    fn node_history_page(&self, after: i64, limit: u32) -> Result<Vec<crate::HistoryRow>>;
}
