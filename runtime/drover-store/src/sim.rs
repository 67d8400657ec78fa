//! Faults injected into the simulated fleet (driver `sim`): which nodes
//! hang. A hung node does not answer the host's probes or ssh until the
//! fleet controller has rebooted it (a `node_history` row leaving
//! `rebooting` after the fault), and no node answers while it reboots.
//! Demos and tests use this to make "dead" nodes the remediation finds.

use crate::Result;

/// A node `drover sim hang` made unresponsive.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct SimFault {
    pub node: String,
    pub since_ms: i64,
    pub actor: String,
    /// Still in effect (no reboot since).
    pub active: bool,
}

/// Faults injected into the simulated fleet.
pub trait SimStore: Send + Sync {
    /// Makes `nodes` hang from `now_ms` on (a newer fault replaces an older one).
    fn sim_hang(&self, nodes: Vec<String>, now_ms: i64, actor: &str) -> Result<()>;

    /// Removes the faults of `nodes` (as if repaired by hand); how many there were.
    fn sim_heal(&self, nodes: Vec<String>) -> Result<usize>;

    /// Every recorded fault, newest first.
    fn sim_faults(&self) -> Result<Vec<SimFault>>;

    /// Whether simulated node `node` answers now: not rebooting, and no
    /// fault since its last reboot.
    fn sim_answers(&self, node: &str, state: &str) -> Result<bool>;
}
