//! The fleet controller, as far as the plugin runtime needs it today: the
//! node inventory (seeded with a simulated fleet of 1,000 nodes) and change
//! requests (reboot, drain, set-state) that the `sim` driver accepts at
//! once. Lifecycle deadlines, budgets and windows grow here in the
//! fleet-controller issue; callers already go through [`Fleet::request`] so
//! they will get those decisions unchanged.
//!
//! - [`driver`]: the contract every driver implements.
//! - [`drivers`]: the real drivers, `redfish` and `command`.
//! - [`process`]: running a local argv with a deadline and capped output
//!   (the `command` driver, and the host's `command` and `probe`).

pub mod driver;
pub mod drivers;
pub mod process;

use drover_core::{ExecutionId, now_ms};
use drover_store::{FleetRequest, NodeRow, Store, StoreError};
use serde::Serialize;

/// States a node can be in.
pub const STATES: [&str; 6] = [
    "production",
    "draining",
    "drained",
    "rebooting",
    "restoring",
    "intervention",
];

#[derive(Debug, thiserror::Error)]
pub enum FleetError {
    #[error("no node named {0:?} in the inventory")]
    UnknownNode(String),
    #[error("unknown node state {0:?} (expected one of: {states})", states = STATES.join(", "))]
    UnknownState(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// A change a caller asks of the fleet controller.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Change {
    Reboot,
    Drain,
    SetState(String),
}

impl Change {
    /// The operation's name in plans and audit records.
    pub fn name(&self) -> &'static str {
        match self {
            Change::Reboot => "reboot",
            Change::Drain => "drain",
            Change::SetState(_) => "set-state",
        }
    }

    /// The state a node enters when the change is taken on.
    fn next_state(&self) -> &str {
        match self {
            Change::Reboot => "rebooting",
            Change::Drain => "draining",
            Change::SetState(s) => s,
        }
    }
}

/// How the controller answered.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    Accepted,
    Queued,
}

#[derive(Clone, Debug, Serialize)]
pub struct RequestStatus {
    pub outcome: Outcome,
    pub request_id: String,
    pub detail: String,
}

/// The fleet controller over the inventory in the store.
#[derive(Clone)]
pub struct Fleet {
    store: Store,
}

impl Fleet {
    pub fn new(store: Store) -> Fleet {
        Fleet { store }
    }

    pub fn node(&self, name: &str) -> Result<NodeRow, FleetError> {
        self.store
            .get_node(name)?
            .ok_or_else(|| FleetError::UnknownNode(name.to_owned()))
    }

    /// Checks a change without performing it: what a dry run is told.
    pub fn simulate(&self, change: &Change, node: &str) -> Result<RequestStatus, FleetError> {
        self.validate(change, node)?;
        Ok(RequestStatus {
            outcome: Outcome::Accepted,
            request_id: "dry-run".into(),
            detail: format!("dry run: would {} {node}", change.name()),
        })
    }

    /// Takes a change on. The `sim` driver accepts every valid request at
    /// once and moves the node to the change's state.
    pub fn request(
        &self,
        change: &Change,
        node: &str,
        reason: &str,
        execution: Option<ExecutionId>,
    ) -> Result<RequestStatus, FleetError> {
        self.validate(change, node)?;
        let id = ulid::Ulid::new().to_string();
        self.store.record_fleet_request(
            FleetRequest {
                id: id.clone(),
                node: node.to_owned(),
                kind: change.name().to_owned(),
                reason: reason.to_owned(),
                execution_id: execution.map(|e| e.to_string()),
                status: "accepted".into(),
                created_at_ms: now_ms(),
            },
            change.next_state(),
        )?;
        Ok(RequestStatus {
            outcome: Outcome::Accepted,
            detail: format!("request {id}: {node} is {}", change.next_state()),
            request_id: id,
        })
    }

    fn validate(&self, change: &Change, node: &str) -> Result<(), FleetError> {
        if let Change::SetState(s) = change
            && !STATES.contains(&s.as_str())
        {
            return Err(FleetError::UnknownState(s.clone()));
        }
        self.node(node).map(drop)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fleet() -> (tempfile::TempDir, Fleet, Store) {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("d.db")).unwrap();
        (dir, Fleet::new(store.clone()), store)
    }

    #[test]
    fn a_reboot_is_recorded_and_moves_the_node() {
        let (_d, fleet, store) = fleet();
        let st = fleet
            .request(&Change::Reboot, "n001", "kernel", None)
            .unwrap();
        assert_eq!(st.outcome, Outcome::Accepted);
        assert_eq!(fleet.node("n001").unwrap().state, "rebooting");
        let reqs = store.fleet_requests("n001").unwrap();
        assert_eq!(reqs.len(), 1);
        assert_eq!(reqs[0].reason, "kernel");
    }

    #[test]
    fn simulate_changes_nothing() {
        let (_d, fleet, store) = fleet();
        fleet.simulate(&Change::Drain, "n002").unwrap();
        assert_eq!(fleet.node("n002").unwrap().state, "production");
        assert!(store.fleet_requests("n002").unwrap().is_empty());
    }

    #[test]
    fn unknown_nodes_and_states_are_refused() {
        let (_d, fleet, _s) = fleet();
        assert!(matches!(
            fleet.request(&Change::Reboot, "zz", "r", None),
            Err(FleetError::UnknownNode(_))
        ));
        let err = fleet
            .request(&Change::SetState("gone".into()), "n001", "r", None)
            .unwrap_err()
            .to_string();
        assert!(err.contains("expected one of: production"), "{err}");
    }
}
