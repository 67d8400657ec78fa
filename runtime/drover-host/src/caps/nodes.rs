//! `nodes`: read node facts (declaration only), and ask the fleet
//! controller for changes (grant with a label selector, then the fleet's
//! own decision). In a dry run changes are planned with the decision they
//! would get and the controller's simulated answer.

use drover_core::{GrantRef, NodeRow};
use drover_policy::{Capability, Target};
use serde_json::json;

use crate::bindings::PluginError;
use crate::bindings::drover::plugin::nodes::{self, Health, Host, Node, RequestStatus};
use crate::call::{CallCtx, denied};
use crate::grants::Check;
use crate::ports::{ChangeAnswer, ChangeKind, ChangeOutcome, NodeChange, PortError};

/// Most nodes one `select` returns: a bound on what a plugin can make the
/// host copy into its memory.
const MAX_LISTED: usize = 10_000;
/// How many of a node's latest requests `facts` lists.
const FACTS_REQUESTS: usize = 5;
/// Longest reason a plugin may attach to a request.
const MAX_REASON_BYTES: usize = 4096;
/// Longest detail a plugin may attach to a health report.
const MAX_HEALTH_DETAIL_BYTES: usize = 1024;

type R<T> = wasmtime::Result<Result<T, PluginError>>;

fn operation(kind: &ChangeKind) -> &'static str {
    match kind {
        ChangeKind::Reboot => "reboot",
        ChangeKind::Drain => "drain",
        ChangeKind::SetState(_) | ChangeKind::Undrain => "set-state",
    }
}

fn fleet_error(e: PortError) -> PluginError {
    match e {
        PortError::NotFound(_) => PluginError::NotFound(e.to_string()),
        PortError::Invalid(_) => PluginError::Invalid(e.to_string()),
        PortError::Failed(e) => PluginError::Failed(format!("fleet: {e}")),
    }
}

/// The controller's answer as the plugin sees it. A refusal by the fleet
/// (storm brake, a node in intervention) is `error::denied` with the
/// controller's reason, like a refusal by the grant check: the WIT
/// `outcome` stays accepted | queued, so plugins built against it need no
/// rebuild.
fn to_wit(a: ChangeAnswer) -> Result<RequestStatus, PluginError> {
    let detail = if a.request_id.is_empty() {
        a.detail
    } else {
        format!("request {}: {}", a.request_id, a.detail)
    };
    match a.outcome {
        ChangeOutcome::Accepted => Ok(RequestStatus {
            outcome: nodes::Outcome::Accepted,
            detail,
        }),
        ChangeOutcome::Queued => Ok(RequestStatus {
            outcome: nodes::Outcome::Queued,
            detail,
        }),
        ChangeOutcome::Denied => Err(PluginError::Denied(format!("fleet: {detail}"))),
    }
}

/// The decision a dry run plans: the fleet's refusal first, naming its
/// gate (`brake: storm brake engaged ...`), then the grant that let the
/// request reach the fleet; the grant's own reason when the fleet took it
/// or queued it.
fn fleet_decision(grant: Check, answer: &ChangeAnswer) -> Check {
    if answer.outcome != ChangeOutcome::Denied {
        return grant;
    }
    let why = answer
        .detail
        .strip_prefix("denied: ")
        .unwrap_or(&answer.detail);
    let gate = answer.gate.as_deref().unwrap_or("fleet");
    Check::deny(format!(
        "{gate}: {why} (the grant allowed it: {})",
        grant.reason
    ))
}

impl CallCtx {
    fn read_node(&mut self, name: &str) -> Result<NodeRow, PluginError> {
        let node = self.services.ports.node(name).map_err(fleet_error)?;
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
        kind: ChangeKind,
        name: &str,
        reason: &str,
    ) -> Result<RequestStatus, PluginError> {
        if reason.len() > MAX_REASON_BYTES {
            return Err(PluginError::Invalid(format!(
                "a reason must be at most {MAX_REASON_BYTES} bytes"
            )));
        }
        let cap = match kind {
            ChangeKind::Reboot => Capability::NodesReboot,
            ChangeKind::Drain => Capability::NodesDrain,
            ChangeKind::SetState(_) | ChangeKind::Undrain => Capability::NodesSetState,
        };
        let node = self.services.ports.node(name).map_err(fleet_error)?;
        let target = Target::Node {
            name,
            labels: &node.labels,
        };
        // A dry run audits once, with the decision of the last gate that
        // answered (the fleet's brake may refuse what the grant allowed);
        // a real change is audited before the fleet sees it.
        let check = if self.dry_run {
            self.decide(cap, &target, name)
        } else {
            self.check(cap, &target, name)
        };
        if !check.allowed() {
            if self.dry_run {
                let check = self.record(cap, name, check);
                let refused = json!({"error": "denied", "reason": check.reason});
                self.plan(cap, operation(&kind), name, &check, refused);
                return Err(denied(&check));
            }
            return Err(denied(&check));
        }
        // Giving a drained node back to production goes through the driver
        // (undrain), not around it.
        let undrain = matches!(&kind, ChangeKind::SetState(s) if s == "production")
            && node.state == "drained";
        let kind = if undrain { ChangeKind::Undrain } else { kind };
        let change = NodeChange {
            node: name.to_owned(),
            kind: kind.clone(),
            reason: reason.to_owned(),
            actor: self.actor.clone(),
            execution_id: self.exec_id.to_string(),
            // The controller checks it against the grants again before it
            // starts it: the node's labels may change while it waits.
            grant: GrantRef {
                pack: self.pack.clone(),
                version: self.version.clone(),
                plugin: self.plugin.clone(),
                digest: self.digest.clone(),
                capability: cap.to_string(),
                grant_id: check.grant.clone().unwrap_or_default(),
            },
        };
        let answer = self
            .services
            .ports
            .request(change, self.dry_run)
            .map_err(fleet_error)?;
        if self.dry_run {
            let decided = self.record(cap, name, fleet_decision(check, &answer));
            let gate = if decided.allowed() {
                answer.gate.clone()
            } else {
                answer.gate.clone().or_else(|| Some("grant".into()))
            };
            self.plan_gated(
                cap,
                operation(&kind),
                name,
                &decided,
                gate,
                answer.record.clone(),
                None,
            );
        }
        to_wit(answer)
    }
}

impl CallCtx {
    /// `report-health`: the grant (label selector) decides whether this
    /// plugin may speak for the node; a dry run plans the report instead
    /// of recording it.
    fn report_health(
        &mut self,
        name: &str,
        health: Health,
        detail: &str,
    ) -> Result<(), PluginError> {
        if detail.len() > MAX_HEALTH_DETAIL_BYTES {
            return Err(PluginError::Invalid(format!(
                "a health report's detail must be at most {MAX_HEALTH_DETAIL_BYTES} bytes"
            )));
        }
        let health = match health {
            Health::Answering => "answering",
            Health::Unreachable => "unreachable",
            Health::Silent => "silent",
        };
        let node = self.services.ports.node(name).map_err(fleet_error)?;
        let cap = Capability::NodesHealth;
        let check = self.check(
            cap,
            &Target::Node {
                name,
                labels: &node.labels,
            },
            name,
        );
        let report = json!({"health": health, "detail": detail});
        if self.dry_run {
            self.plan(cap, "report-health", name, &check, report);
        }
        if !check.allowed() {
            return Err(denied(&check));
        }
        if self.dry_run {
            return Ok(());
        }
        let source = self.action();
        self.services
            .ports
            .report_health(name, health, detail, &source)
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
        let nodes = match self.services.ports.nodes() {
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
        let (n, latest) = match self.services.ports.node_requests(&name, FACTS_REQUESTS) {
            Ok(d) => d,
            Err(e) => return Ok(Err(fleet_error(e))),
        };
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
        let requests: Vec<_> = latest
            .iter()
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
        Ok(self.change(ChangeKind::Reboot, &name, &reason))
    }

    fn drain(&mut self, name: String, reason: String) -> R<RequestStatus> {
        Ok(self.change(ChangeKind::Drain, &name, &reason))
    }

    fn set_state(&mut self, name: String, state: String, reason: String) -> R<RequestStatus> {
        Ok(self.change(ChangeKind::SetState(state), &name, &reason))
    }

    fn report_health(&mut self, name: String, health: Health, detail: String) -> R<()> {
        Ok(CallCtx::report_health(self, &name, health, &detail))
    }
}
