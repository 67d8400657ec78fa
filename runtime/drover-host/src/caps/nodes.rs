//! `nodes`: read node facts (declaration only), and ask the fleet
//! controller for changes (grant with a label selector, then the fleet's
//! own decision). In a dry run changes are planned with the decision they
//! would get and the controller's simulated answer.

use drover_fleet::{Change, Fleet, FleetError, Outcome, RequestStatus as FleetStatus};
use drover_policy::{Capability, Target};
use serde_json::json;

use crate::bindings::PluginError;
use crate::bindings::drover::plugin::nodes::{self, Host, Node, RequestStatus};
use crate::call::{CallCtx, denied};

/// Longest reason a plugin may attach to a request.
const MAX_REASON_BYTES: usize = 4096;

type R<T> = wasmtime::Result<Result<T, PluginError>>;

fn fleet_error(e: FleetError) -> PluginError {
    match e {
        FleetError::UnknownNode(_) => PluginError::NotFound(e.to_string()),
        FleetError::UnknownState(_) => PluginError::Invalid(e.to_string()),
        FleetError::Store(e) => PluginError::Failed(format!("fleet: {e}")),
    }
}

fn to_wit(s: FleetStatus) -> RequestStatus {
    RequestStatus {
        outcome: match s.outcome {
            Outcome::Accepted => nodes::Outcome::Accepted,
            Outcome::Queued => nodes::Outcome::Queued,
        },
        detail: s.detail,
    }
}

impl CallCtx {
    fn fleet(&self) -> &Fleet {
        &self.services.fleet
    }

    fn read_node(&mut self, name: &str) -> Result<drover_store::NodeRow, PluginError> {
        let node = self.fleet().node(name).map_err(fleet_error)?;
        let check = self.check(
            Capability::NodesRead,
            &Target::Node {
                name,
                labels: &node.labels,
            },
            name,
        );
        if !check.allowed() {
            return Err(denied(&check));
        }
        Ok(node)
    }

    fn change(
        &mut self,
        change: Change,
        name: &str,
        reason: &str,
    ) -> Result<RequestStatus, PluginError> {
        if reason.len() > MAX_REASON_BYTES {
            return Err(PluginError::Invalid(format!(
                "a reason must be at most {MAX_REASON_BYTES} bytes"
            )));
        }
        let cap = match change {
            Change::Reboot => Capability::NodesReboot,
            Change::Drain => Capability::NodesDrain,
            Change::SetState(_) => Capability::NodesSetState,
        };
        let node = self.fleet().node(name).map_err(fleet_error)?;
        let target = Target::Node {
            name,
            labels: &node.labels,
        };
        let check = self.check(cap, &target, name);
        if !check.allowed() {
            if self.dry_run {
                let refused = json!({"error": "denied", "reason": check.reason});
                self.plan(cap, change.name(), name, &check, refused);
            }
            return Err(denied(&check));
        }
        if self.dry_run {
            let simulated = self.fleet().simulate(&change, name).map_err(fleet_error)?;
            self.plan(cap, change.name(), name, &check, json!(simulated));
            return Ok(to_wit(simulated));
        }
        let exec = Some(self.exec_id);
        self.fleet()
            .request(&change, name, reason, exec)
            .map(to_wit)
            .map_err(fleet_error)
    }
}

impl Host for CallCtx {
    fn get(&mut self, name: String) -> R<Node> {
        Ok(self.read_node(&name).map(|n| Node {
            name: n.name,
            state: n.state,
            labels: n.labels.into_iter().collect(),
        }))
    }

    fn facts(&mut self, name: String) -> R<String> {
        Ok(self.read_node(&name).map(|n| {
            json!({
                "name": n.name,
                "state": n.state,
                "labels": n.labels,
                "driver": n.driver,
            })
            .to_string()
        }))
    }

    fn reboot(&mut self, name: String, reason: String) -> R<RequestStatus> {
        Ok(self.change(Change::Reboot, &name, &reason))
    }

    fn drain(&mut self, name: String, reason: String) -> R<RequestStatus> {
        Ok(self.change(Change::Drain, &name, &reason))
    }

    fn set_state(&mut self, name: String, state: String, reason: String) -> R<RequestStatus> {
        Ok(self.change(Change::SetState(state), &name, &reason))
    }
}
