//! `nodes`: read node facts (declaration only), and ask the fleet
//! controller for changes (grant with a label selector, then the fleet's
//! own decision). In a dry run changes are planned with the decision they
//! would get and the controller's simulated answer.

use drover_fleet::{Answer, FleetError, GrantRef, Kind, NewRequest, Origin, Outcome, Policy};
use drover_policy::{Capability, Target};
use serde_json::json;

use crate::bindings::PluginError;
use crate::bindings::drover::plugin::nodes::{self, Host, Node, RequestStatus};
use crate::call::{CallCtx, denied};
use crate::grants::Check;

/// Most nodes one `select` returns: a bound on what a plugin can make the
/// host copy into its memory.
const MAX_LISTED: usize = 10_000;
/// How many of a node's latest requests `facts` lists.
const FACTS_REQUESTS: usize = 5;
/// Longest reason a plugin may attach to a request.
const MAX_REASON_BYTES: usize = 4096;

type R<T> = wasmtime::Result<Result<T, PluginError>>;

/// A change a plugin asks of the fleet controller.
enum Change {
    Reboot,
    Drain,
    SetState(String),
    /// `set-state production` of a drained node.
    Undrain,
}

impl Change {
    fn name(&self) -> &'static str {
        match self {
            Change::Reboot => "reboot",
            Change::Drain => "drain",
            Change::SetState(_) | Change::Undrain => "set-state",
        }
    }
}

fn fleet_error(e: FleetError) -> PluginError {
    match e {
        FleetError::UnknownNode(_) => PluginError::NotFound(e.to_string()),
        FleetError::UnknownState(_) | FleetError::Invalid(_) | FleetError::Import(_) => {
            PluginError::Invalid(e.to_string())
        }
        FleetError::Store(e) => PluginError::Failed(format!("fleet: {e}")),
    }
}

/// The controller's answer as the plugin sees it. A refusal by the fleet
/// (storm brake, a node in intervention) is `error::denied` with the
/// controller's reason, like a refusal by the grant check: the WIT
/// `outcome` stays accepted | queued, so plugins built against it need no
/// rebuild.
fn to_wit(a: Answer) -> Result<RequestStatus, PluginError> {
    let detail = if a.request_id.is_empty() {
        a.detail
    } else {
        format!("request {}: {}", a.request_id, a.detail)
    };
    match a.outcome {
        Outcome::Accepted => Ok(RequestStatus {
            outcome: nodes::Outcome::Accepted,
            detail,
        }),
        Outcome::Queued => Ok(RequestStatus {
            outcome: nodes::Outcome::Queued,
            detail,
        }),
        Outcome::Denied => Err(PluginError::Denied(format!("fleet: {detail}"))),
    }
}

impl CallCtx {
    fn fleet(&self) -> &drover_fleet::Fleet {
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

    /// What the fleet would answer, without changing anything.
    fn fleet_dry_run(&self, change: &Change, req: NewRequest) -> Result<Answer, FleetError> {
        match change {
            Change::SetState(state) => self.fleet().set_state_dry_run(
                &req.node,
                state,
                &req.reason,
                &req.actor,
                Origin::Automation,
                req.execution_id,
            ),
            _ => {
                let mut dr = self.fleet().dry_run(vec![req])?;
                dr.answers
                    .pop()
                    .unwrap_or_else(|| Err("no answer".into()))
                    .map_err(FleetError::Invalid)
            }
        }
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
            Change::SetState(_) | Change::Undrain => Capability::NodesSetState,
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
        // Giving a drained node back to production goes through the driver
        // (undrain), not around it.
        let undrain =
            matches!(&change, Change::SetState(s) if s == "production") && node.state == "drained";
        let change = if undrain { Change::Undrain } else { change };
        let req = NewRequest {
            id: ulid::Ulid::new().to_string(),
            node: name.to_owned(),
            kind: match change {
                Change::Drain => Kind::Drain,
                Change::Undrain => Kind::Undrain,
                _ => Kind::Reboot,
            },
            reason: reason.to_owned(),
            actor: self.actor.clone(),
            origin: Origin::Automation,
            execution_id: Some(self.exec_id.to_string()),
            // The controller checks it against the grants again before it
            // starts it: the node's labels may change while it waits.
            grant: Some(GrantRef {
                pack: self.pack.clone(),
                version: self.version.clone(),
                plugin: self.plugin.clone(),
                digest: self.digest.clone(),
                capability: cap.to_string(),
                grant_id: check.grant.clone().unwrap_or_default(),
            }),
            policy: Policy::Asap,
            drain_timeout_ms: None,
            reboot_timeout_ms: None,
        };
        if self.dry_run {
            let answer = self.fleet_dry_run(&change, req).map_err(fleet_error)?;
            // A budget or brake refusal is planned as denied, with the
            // controller's reason; the grant check's reason otherwise.
            let decided = if answer.outcome == Outcome::Denied {
                Check::deny(format!("{}; fleet: {}", check.reason, answer.detail))
            } else {
                check
            };
            self.plan(cap, change.name(), name, &decided, json!(answer));
            return to_wit(answer);
        }
        let answer = match change {
            Change::SetState(state) => self.fleet().set_state(
                name,
                &state,
                reason,
                &self.actor,
                Origin::Automation,
                Some(self.exec_id.to_string()),
            ),
            _ => self.fleet().request_one(req),
        }
        .map_err(fleet_error)?;
        to_wit(answer)
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

    fn select(&mut self, selector: String) -> R<Vec<Node>> {
        let wanted = if selector.trim() == "*" {
            None
        } else {
            match drover_policy::Selector::parse(&selector) {
                Ok(s) => Some(s),
                Err(e) => {
                    return Ok(Err(PluginError::Invalid(format!(
                        "selector {selector:?}: {e}"
                    ))));
                }
            }
        };
        let nodes = match self.services.store.list_nodes() {
            Ok(n) => n,
            Err(e) => return Ok(Err(PluginError::Failed(format!("fleet: {e}")))),
        };
        let mut out = Vec::new();
        for n in nodes {
            if out.len() == MAX_LISTED {
                break;
            }
            if wanted
                .as_ref()
                .is_some_and(|s| !s.matches(&n.name, &n.labels))
            {
                continue;
            }
            let target = Target::Node {
                name: &n.name,
                labels: &n.labels,
            };
            // Not declared: the first check says so (and is audited).
            let check = self.check(Capability::NodesRead, &target, &n.name);
            if !check.allowed() {
                return Ok(Err(denied(&check)));
            }
            out.push(Node {
                name: n.name,
                state: n.state,
                labels: n.labels.into_iter().collect(),
            });
        }
        Ok(Ok(out))
    }

    fn facts(&mut self, name: String) -> R<String> {
        // One read: the node with its requests. The latest requests let a
        // plugin follow the one it made (the id `reboot` answered with) to
        // its end, rather than guess from the state: a queued reboot
        // leaves the node in production.
        let detail = match self.fleet().show(&name, 0) {
            Ok(d) => d,
            Err(e) => return Ok(Err(fleet_error(e))),
        };
        let n = &detail.node;
        let check = self.check(
            Capability::NodesRead,
            &Target::Node {
                name: &name,
                labels: &n.labels,
            },
            &name,
        );
        if !check.allowed() {
            return Ok(Err(denied(&check)));
        }
        let requests: Vec<_> = detail
            .requests
            .iter()
            .take(FACTS_REQUESTS)
            .map(|r| {
                json!({
                    "id": r.id,
                    "kind": r.kind,
                    "status": r.status,
                    "detail": r.detail,
                    "created_ms": r.created_ms,
                    "updated_ms": r.updated_ms,
                })
            })
            .collect();
        Ok(Ok(json!({
            "name": n.name,
            "state": n.state,
            "labels": n.labels,
            "driver": n.driver,
            "since_ms": n.since_ms,
            "note": n.note,
            "requests": requests,
        })
        .to_string()))
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
