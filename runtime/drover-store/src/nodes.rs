//! The `nodes` table read outside the controller's transactions: one node,
//! all nodes, the count, and the web UI's fleet grid (each node's rack and
//! state, nodes per rack and state). The inventory starts as the default simulated
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

/// A node's place and state, for the fleet grid.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct NodeCell {
    pub name: String,
    /// The `rack` label; empty when the node has none.
    pub rack: String,
    pub state: String,
}

/// How many nodes of one rack are in one state.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct RackHealth {
    pub rack: String,
    pub state: String,
    pub nodes: u64,
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

    /// Node counts per rack and state.
    fn rack_health(&self) -> Result<Vec<RackHealth>>;
}
