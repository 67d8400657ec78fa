//! drover's fleet controller: the node inventory and everything that
//! decides when a node may be taken out of production.
//!
//! - [`model`]: states, requests, policies, outcomes;
//! - [`budget`]: group semaphores and max unavailable ([`budget::Usage`]);
//! - [`settings`]: storm brake, pause, maintenance windows, escalation
//!   ladders, default timeouts;
//! - [`world`]: the pure decisions — submit, step (deadlines, admission,
//!   driver calls due), apply (driver answers);
//! - [`planner`]: rolling schedules (waves) under the budgets;
//! - [`driver`] and [`sim`]: the driver trait, the registry, the
//!   simulated fleet; [`drivers`]: the real ones, `redfish` and `command`
//!   (which runs its argv through `drover-process`);
//! - [`inventory`]: YAML and CSV import/export with per-row errors;
//! - [`controller`]: the store around the pure core — one transaction per
//!   decision, the `tick` loop `drover serve` runs — and [`Fleet`], the
//!   library API for the CLI, the host's `nodes` interface and the REST
//!   API.

pub mod budget;
pub mod controller;
pub mod driver;
pub mod drivers;
pub mod inventory;
pub mod model;
pub mod planner;
pub mod settings;
pub mod sim;
pub mod world;

pub use budget::{Budget, Hold, Rule};
pub use controller::{
    BrakeStatus, Controller, Fleet, NodeDetail, NodeHealth, NodeInfo, TickReport,
};
pub use controller::{BudgetView, DryRun, GroupUse, Holder, Panel, WindowView};
pub use driver::{Driver, DriverError, Drivers, NodeTarget, PowerAction, SecretLookup};
pub use model::{Gate, GrantRef, Kind, Node, Origin, Outcome, Policy, Request, State, Status};
pub use planner::Schedule;
pub use settings::Settings;
pub use world::{Answer, CancelPlan, Cancelled, NewRequest, QueueEntry, World};

use drover_store::StoreError;

/// States a node can be in, as text.
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
    #[error("no node named {0:?} in the inventory (see `drover node list`)")]
    UnknownNode(String),
    #[error("no fleet request {0:?} (`drover fleet queue` lists the open ones)")]
    UnknownRequest(String),
    #[error("no window named {0:?} (see `drover fleet window list`)")]
    UnknownWindow(String),
    /// The change does not fit the current state (a request that ended,
    /// a node mid-reboot); the message says what to do instead.
    #[error("{0}")]
    Conflict(String),
    #[error("unknown node state {0:?} (expected one of: {states})", states = STATES.join(", "))]
    UnknownState(String),
    #[error("{0}")]
    Invalid(String),
    #[error("{}", inventory::format_errors(.0))]
    Import(Vec<inventory::RowError>),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// A fresh request id (a ULID: sorts by creation time).
pub fn new_request_id() -> String {
    ulid::Ulid::new().to_string()
}

pub use drover_core::fmt_time;

/// A duration as `4h`, `10m`, `90s`, `1h30m`, `250ms`.
pub fn fmt_duration(ms: i64) -> String {
    if ms < 1000 {
        return format!("{ms}ms");
    }
    let s = ms / 1000;
    let (h, m, sec) = (s / 3600, s % 3600 / 60, s % 60);
    let mut out = String::new();
    if h > 0 {
        out.push_str(&format!("{h}h"));
    }
    if m > 0 {
        out.push_str(&format!("{m}m"));
    }
    if sec > 0 || out.is_empty() {
        out.push_str(&format!("{sec}s"));
    }
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn durations_read_well() {
        assert_eq!(super::fmt_duration(4 * 3600 * 1000), "4h");
        assert_eq!(super::fmt_duration(90_000), "1m30s");
        assert_eq!(super::fmt_duration(250), "250ms");
    }
}
