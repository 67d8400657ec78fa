//! The controller's decisions, pure: a [`World`] (inventory, open
//! requests, budgets, settings, recent unhealthy signals) and the
//! functions that move it — [`World::submit`] for new requests,
//! [`World::step`] for deadlines, admission and the driver calls due now,
//! [`World::apply`] for what the drivers answered, [`World::queue`] and
//! [`World::cancel`] for the open requests an operator reads and ends.
//! No I/O and no clock:
//! `now` is an argument, so tests replay any timing. The store-backed
//! controller (`controller.rs`) loads a World inside a transaction, runs
//! these, and writes back what changed ([`World::take_changes`]).
//!
//! Lifecycle (BrainSlug's): production → draining → drained → rebooting
//! → restoring → production, each phase with a deadline; a missed
//! deadline or a failed step puts the node in intervention with the
//! reason. A reboot climbs the node class's escalation ladder (graceful
//! restart, then force restart, …) before giving up.

use std::collections::{BTreeSet, HashMap};

use drover_core::Decision;
use serde::Serialize;

use crate::budget::{Budget, Hold, Usage};
use crate::driver::PowerAction;
use crate::model::{Gate, GrantRef, Kind, Node, Origin, Outcome, Policy, Request, State, Status};
use crate::settings::Settings;
use crate::{FleetError, fmt_duration, fmt_time};

/// A request as a caller makes it.
#[derive(Clone, Debug)]
pub struct NewRequest {
    pub id: String,
    pub node: String,
    pub kind: Kind,
    pub reason: String,
    pub actor: String,
    pub origin: Origin,
    pub execution_id: Option<String>,
    /// The grant a plugin made it under (checked again before it starts);
    /// `None` for operators.
    pub grant: Option<GrantRef>,
    pub policy: Policy,
    /// Overrides the default drain timeout.
    pub drain_timeout_ms: Option<i64>,
    /// Overrides the default reboot timeout.
    pub reboot_timeout_ms: Option<i64>,
}

/// The controller's answer to one request.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Answer {
    pub node: String,
    pub outcome: Outcome,
    /// The request that carries it (an existing one when joined).
    pub request_id: String,
    /// True when the node already had an open request this one joined.
    pub joined: bool,
    pub detail: String,
    /// The budget that delays it, and who holds it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hold: Option<Hold>,
    /// Which of the fleet's gates delays or refuses it (none: accepted).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub gate: Option<Gate>,
}

/// What cancelling an open request does ([`World::cancel`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum CancelPlan {
    /// Not started (or nothing to undo): the request is dropped.
    Drop,
    /// The drain has started: the node is given back (an undrain).
    GiveBack,
    /// Mid-reboot or already restoring: refused, with what to do instead.
    Refused,
}

/// An open request as the queue shows it.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct QueueEntry {
    #[serde(flatten)]
    pub request: Request,
    /// The node's state now.
    pub state: State,
    /// The gate a queued request waits on (none: active, or it starts at
    /// the controller's next tick).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub gate: Option<Gate>,
    /// The full budget and who holds it, when the gate is a budget.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hold: Option<Hold>,
    /// Queued, but nothing holds it back: it starts at the next tick.
    pub starts_next: bool,
    /// What cancelling it would do, and why ([`CancelPlan`]).
    pub cancel: CancelPlan,
    pub cancel_note: String,
}

/// What [`World::cancel`] did.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Cancelled {
    pub request_id: String,
    pub node: String,
    pub kind: Kind,
    /// The request's status when it was cancelled.
    pub was: Status,
    /// The node's state when it was cancelled.
    pub state: State,
    /// The undrain request that gives the node back, if it was out.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub given_back: Option<String>,
    /// The cancelled request's final detail.
    pub detail: String,
}

/// A line of a node's history, to be stored.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct History {
    pub node: String,
    pub at_ms: i64,
    pub event: String,
    pub from: State,
    pub to: State,
    pub request_id: Option<String>,
    pub actor: String,
    pub detail: String,
}

/// An effect (or refusal) to be audited.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Effect {
    pub at_ms: i64,
    pub node: String,
    pub request_id: Option<String>,
    pub execution_id: Option<String>,
    pub actor: String,
    /// `fleet.drain`, `fleet.reboot`, `fleet.undrain`,
    /// `fleet.intervention`, `fleet.request`, `fleet.brake`, `fleet.set-state`.
    pub capability: String,
    pub decision: Decision,
    pub reason: String,
    /// Set when the effect is an operator's change of configuration (the
    /// brake's release): its reason and the state before and after.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub change: Option<drover_core::Change>,
}

/// A driver call the controller wants made.
#[derive(Clone, Debug, PartialEq)]
pub struct Action {
    pub request_id: String,
    pub node: String,
    pub driver: String,
    pub options: serde_json::Value,
    pub op: Op,
    /// The phase and rung it was issued in: a result for an older phase
    /// is stale and ignored.
    pub phase: State,
    pub step: u32,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Op {
    Drain,
    IsDrained,
    Reboot(PowerAction),
    IsUp,
    Undrain,
}

impl Op {
    pub fn name(self) -> &'static str {
        match self {
            Op::Drain => "drain",
            Op::IsDrained => "is-drained",
            Op::Reboot(PowerAction::GracefulRestart) => "graceful-restart",
            Op::Reboot(PowerAction::ForceRestart) => "force-restart",
            Op::IsUp => "is-up",
            Op::Undrain => "undrain",
        }
    }
}

/// What a driver answered: `Ok(true)` for a done call or a yes.
pub type ActionResult = Result<bool, String>;

/// What changed since the World was made, to be stored.
#[derive(Debug, Default)]
pub struct Changes {
    pub nodes: Vec<Node>,
    pub requests: Vec<Request>,
    pub history: Vec<History>,
    pub effects: Vec<Effect>,
    pub settings: Option<Settings>,
}

#[derive(Clone)]
pub struct World {
    pub nodes: Vec<Node>,
    index: HashMap<String, usize>,
    /// Open requests (and those closed since the World was made), oldest
    /// first.
    pub requests: Vec<Request>,
    /// The open request of each node: at most one.
    open: HashMap<usize, usize>,
    pub budgets: Vec<Budget>,
    pub settings: Settings,
    /// Latest unhealthy signal per node (for the storm brake).
    unhealthy: HashMap<String, i64>,
    holds: HashMap<String, Hold>,
    /// The gate that delays or refused each request, by id (see [`Gate`]).
    gates: HashMap<String, Gate>,
    dirty_nodes: BTreeSet<usize>,
    dirty_requests: BTreeSet<usize>,
    settings_dirty: bool,
    history: Vec<History>,
    effects: Vec<Effect>,
}

impl World {
    pub fn new(
        nodes: Vec<Node>,
        requests: Vec<Request>,
        budgets: Vec<Budget>,
        settings: Settings,
        signals: impl IntoIterator<Item = (String, i64)>,
    ) -> World {
        let index: HashMap<String, usize> = nodes
            .iter()
            .enumerate()
            .map(|(i, n)| (n.name.clone(), i))
            .collect();
        let mut unhealthy: HashMap<String, i64> = HashMap::new();
        for (n, at) in signals {
            let e = unhealthy.entry(n).or_insert(at);
            *e = (*e).max(at);
        }
        let mut w = World {
            nodes,
            index,
            requests: Vec::new(),
            open: HashMap::new(),
            budgets,
            settings,
            unhealthy,
            holds: HashMap::new(),
            gates: HashMap::new(),
            dirty_nodes: BTreeSet::new(),
            dirty_requests: BTreeSet::new(),
            settings_dirty: false,
            history: Vec::new(),
            effects: Vec::new(),
        };
        for r in requests.into_iter().filter(|r| r.status.open()) {
            // A request for a node no longer in the inventory cannot go on.
            let Some(&ni) = w.index.get(&r.node) else {
                let mut r = r;
                r.status = Status::Cancelled;
                r.detail = "the node was removed from the inventory".into();
                w.requests.push(r);
                w.dirty_requests.insert(w.requests.len() - 1);
                continue;
            };
            if w.open.contains_key(&ni) {
                continue;
            }
            w.requests.push(r);
            w.open.insert(ni, w.requests.len() - 1);
        }
        w
    }

    pub fn node_index(&self, name: &str) -> Option<usize> {
        self.index.get(name).copied()
    }

    /// The open request of a node.
    pub fn open_request(&self, node: &str) -> Option<&Request> {
        let ni = self.node_index(node)?;
        self.open.get(&ni).map(|&ri| &self.requests[ri])
    }

    /// Nodes counted unhealthy for the brake now.
    /// The nodes counted unhealthy within the brake's window now, by name.
    pub fn unhealthy_nodes(&self, now_ms: i64) -> Vec<String> {
        let from = self.settings.brake.counting_from(now_ms);
        let mut names: Vec<String> = self
            .unhealthy
            .iter()
            .filter(|&(_, &t)| t >= from)
            .map(|(n, _)| n.clone())
            .collect();
        names.sort();
        names
    }

    pub fn unhealthy_count(&self, now_ms: i64) -> usize {
        let from = self.settings.brake.counting_from(now_ms);
        self.unhealthy.values().filter(|&&t| t >= from).count()
    }

    /// Everything changed since the World was made (or last taken).
    pub fn take_changes(&mut self) -> Changes {
        let nodes = std::mem::take(&mut self.dirty_nodes)
            .into_iter()
            .map(|i| self.nodes[i].clone())
            .collect();
        let requests = std::mem::take(&mut self.dirty_requests)
            .into_iter()
            .map(|i| self.requests[i].clone())
            .collect();
        Changes {
            nodes,
            requests,
            history: std::mem::take(&mut self.history),
            effects: std::mem::take(&mut self.effects),
            settings: std::mem::take(&mut self.settings_dirty).then(|| self.settings.clone()),
        }
    }

    // ----- requests -------------------------------------------------------

    /// Takes requests on, in order: each joins the node's open request,
    /// is refused, or is queued; then the queue is admitted once.
    pub fn submit(&mut self, new: Vec<NewRequest>, now: i64) -> Vec<Result<Answer, FleetError>> {
        let mut placed: Vec<Result<(usize, bool), FleetError>> = Vec::with_capacity(new.len());
        for n in new {
            placed.push(self.place(n, now));
        }
        self.admit(now);
        placed
            .into_iter()
            .map(|p| p.map(|(ri, joined)| self.answer(ri, joined)))
            .collect()
    }

    fn answer(&self, ri: usize, joined: bool) -> Answer {
        let r = &self.requests[ri];
        let outcome = match r.status {
            Status::Queued => Outcome::Queued,
            Status::Denied => Outcome::Denied,
            _ => Outcome::Accepted,
        };
        let detail = if joined {
            format!("joined request {}: {}", r.id, r.detail)
        } else {
            r.detail.clone()
        };
        Answer {
            node: r.node.clone(),
            outcome,
            request_id: r.id.clone(),
            joined,
            detail,
            hold: self.holds.get(&r.id).cloned(),
            gate: self.gates.get(&r.id).copied(),
        }
    }

    fn place(&mut self, n: NewRequest, now: i64) -> Result<(usize, bool), FleetError> {
        let ni = self
            .node_index(&n.node)
            .ok_or_else(|| FleetError::UnknownNode(n.node.clone()))?;
        let state = self.nodes[ni].state;
        if let Some(&ri) = self.open.get(&ni) {
            let r = &mut self.requests[ri];
            match (r.kind, n.kind) {
                (Kind::Undrain, _) | (_, Kind::Undrain) => {
                    return Err(FleetError::Invalid(format!(
                        "{} has request {} ({} {}) in progress; ask again once it ends",
                        n.node,
                        r.id,
                        r.kind.as_str(),
                        r.status.as_str()
                    )));
                }
                (Kind::Drain, Kind::Reboot) => {
                    r.kind = Kind::Reboot;
                    // The reboot is the joiner's: its grant (none for an
                    // operator) is the one to check again.
                    r.grant = n.grant.clone();
                    r.updated_ms = now;
                    self.dirty_requests.insert(ri);
                    self.note(
                        ni,
                        now,
                        "joined",
                        Some(ri),
                        &n.actor,
                        &format!(
                            "reboot request joins drain request {}: it now reboots too ({})",
                            self.requests[ri].id, n.reason
                        ),
                    );
                }
                _ => {
                    let id = r.id.clone();
                    self.note(
                        ni,
                        now,
                        "joined",
                        Some(ri),
                        &n.actor,
                        &format!(
                            "{} request joins request {id} ({})",
                            n.kind.as_str(),
                            n.reason
                        ),
                    );
                }
            }
            return Ok((ri, true));
        }
        if n.kind == Kind::Undrain && state != State::Drained {
            return Err(FleetError::Invalid(format!(
                "{} is {state}, not drained: nothing to undrain",
                n.node
            )));
        }
        let mut r = Request {
            id: n.id,
            node: n.node.clone(),
            kind: n.kind,
            reason: n.reason,
            execution_id: n.execution_id,
            actor: n.actor,
            origin: n.origin,
            grant: n.grant,
            policy: n.policy,
            drain_timeout_ms: n.drain_timeout_ms.unwrap_or(self.settings.drain_timeout_ms),
            reboot_timeout_ms: n
                .reboot_timeout_ms
                .unwrap_or(self.settings.reboot_timeout_ms),
            status: Status::Queued,
            detail: "queued".into(),
            created_ms: now,
            updated_ms: now,
            life: Default::default(),
        };
        let automatic = r.origin == Origin::Automation && r.kind != Kind::Undrain;
        let event = if automatic { "auto-request" } else { "request" };
        self.history.push(History {
            node: r.node.clone(),
            at_ms: now,
            event: event.into(),
            from: state,
            to: state,
            request_id: Some(r.id.clone()),
            actor: r.actor.clone(),
            detail: format!("{} requested ({}): {}", r.kind.as_str(), r.policy, r.reason),
        });
        let mut denial = None;
        if automatic {
            if state == State::Intervention {
                denial = Some((
                    Gate::Intervention,
                    format!(
                        "{} is in intervention ({}); automation may not touch it until a person resolves it \
                     (`drover node set-state {} production`)",
                        r.node, self.nodes[ni].note, r.node
                    ),
                ));
            } else {
                self.signal(&r.node, now);
                if self.settings.brake.engaged {
                    denial = Some((Gate::Brake, self.brake_text()));
                }
            }
        }
        if let Some((gate, reason)) = denial {
            self.gates.insert(r.id.clone(), gate);
            r.status = Status::Denied;
            r.detail = format!("denied: {reason}");
            r.life.held_by = Some(gate);
            self.effects.push(Effect {
                at_ms: now,
                node: r.node.clone(),
                request_id: Some(r.id.clone()),
                execution_id: r.execution_id.clone(),
                actor: r.actor.clone(),
                capability: format!("fleet.{}", r.kind.as_str()),
                decision: Decision::Denied,
                reason: reason.clone(),
                change: None,
            });
            self.requests.push(r);
            let ri = self.requests.len() - 1;
            self.dirty_requests.insert(ri);
            return Ok((ri, false));
        }
        self.requests.push(r);
        let ri = self.requests.len() - 1;
        self.dirty_requests.insert(ri);
        self.open.insert(ni, ri);
        Ok((ri, false))
    }

    fn brake_text(&self) -> String {
        let b = &self.settings.brake;
        format!(
            "storm brake engaged since {}: {}; automatic requests stop until an operator runs `drover brake release`",
            b.engaged_at_ms.map(fmt_time).unwrap_or_default(),
            b.reason
        )
    }

    /// Records an unhealthy signal for the brake, and engages it when the
    /// threshold is crossed.
    fn signal(&mut self, node: &str, now: i64) {
        self.unhealthy.insert(node.to_owned(), now);
        let count = self.unhealthy_count(now);
        let total = self.nodes.len();
        let b = &mut self.settings.brake;
        if !b.engaged && b.trips(count, total) {
            b.engaged = true;
            b.engaged_at_ms = Some(now);
            b.reason = format!(
                "{count} of {total} nodes unhealthy within {} (threshold {}%)",
                fmt_duration(b.window_ms),
                b.threshold_percent
            );
            self.settings_dirty = true;
            self.effects.push(Effect {
                at_ms: now,
                node: node.to_owned(),
                request_id: None,
                execution_id: None,
                actor: "fleet-controller".into(),
                capability: "fleet.brake".into(),
                decision: Decision::Denied,
                reason: format!("storm brake engaged: {}", self.settings.brake.reason),
                change: None,
            });
            tracing::warn!(reason = %self.settings.brake.reason, "storm brake engaged");
        }
    }

    /// Releases the storm brake; signals before now no longer count.
    pub fn release_brake(&mut self, actor: &str, now: i64) -> bool {
        self.release_brake_because(actor, None, now)
    }

    /// [`World::release_brake`] with the operator's reason, kept in the
    /// audit record.
    pub fn release_brake_because(&mut self, actor: &str, why: Option<&str>, now: i64) -> bool {
        let b = &mut self.settings.brake;
        let was = b.engaged;
        b.engaged = false;
        b.released_at_ms = Some(now);
        b.released_by = Some(actor.to_owned());
        self.settings_dirty = true;
        self.effects.push(Effect {
            at_ms: now,
            node: String::new(),
            request_id: None,
            execution_id: None,
            actor: actor.to_owned(),
            capability: "fleet.brake".into(),
            decision: Decision::Allowed,
            reason: match (was, why) {
                (true, None) => format!("storm brake released (was: {})", b.reason),
                (true, Some(why)) => {
                    format!("storm brake released (was: {}); why: {why}", b.reason)
                }
                (false, None) => "storm brake reset (was not engaged)".into(),
                (false, Some(why)) => format!("storm brake reset (was not engaged); why: {why}"),
            },
            change: Some(drover_core::Change {
                reason: why.map(str::to_owned),
                before: serde_json::json!({"engaged": was, "reason": b.reason}),
                after: serde_json::json!({"engaged": false, "reason": b.reason}),
            }),
        });
        was
    }

    /// Marks settings as changed (after an operator edited them).
    pub fn settings_changed(&mut self) {
        self.settings_dirty = true;
    }

    /// An operator's (or automation's) direct state change. Cancels the
    /// node's open request. Automation may only set `production` or
    /// `intervention`.
    #[allow(clippy::too_many_arguments)]
    pub fn set_state(
        &mut self,
        node: &str,
        to: State,
        reason: &str,
        actor: &str,
        origin: Origin,
        execution_id: Option<String>,
        now: i64,
    ) -> Result<Answer, FleetError> {
        let ni = self
            .node_index(node)
            .ok_or_else(|| FleetError::UnknownNode(node.to_owned()))?;
        if origin == Origin::Automation && !matches!(to, State::Production | State::Intervention) {
            return Err(FleetError::Invalid(format!(
                "automation may set a node only to production or intervention; \
                 ask for a drain or a reboot instead of {to}"
            )));
        }
        if origin == Origin::Automation && self.nodes[ni].state == State::Intervention {
            let why = format!(
                "{node} is in intervention ({}); automation may not change it until a person resolves it",
                self.nodes[ni].note
            );
            self.effects.push(Effect {
                at_ms: now,
                node: node.to_owned(),
                request_id: None,
                execution_id,
                actor: actor.to_owned(),
                capability: "fleet.set-state".into(),
                decision: Decision::Denied,
                reason: why.clone(),
                change: None,
            });
            return Ok(Answer {
                node: node.to_owned(),
                outcome: Outcome::Denied,
                request_id: String::new(),
                joined: false,
                detail: format!("denied: {why}"),
                hold: None,
                gate: Some(Gate::Intervention),
            });
        }
        let mut detail = format!("{node} set to {to}: {reason}");
        if let Some(ri) = self.open.remove(&ni) {
            let r = &mut self.requests[ri];
            r.status = Status::Cancelled;
            r.detail = format!("cancelled by {actor}: set-state {to} ({reason})");
            r.updated_ms = now;
            self.dirty_requests.insert(ri);
            detail.push_str(&format!(" (request {} cancelled)", r.id));
        }
        self.transition(ni, to, now, "set-state", None, actor, reason);
        if to == State::Intervention {
            self.signal(node, now);
        }
        self.effects.push(Effect {
            at_ms: now,
            node: node.to_owned(),
            request_id: None,
            execution_id,
            actor: actor.to_owned(),
            capability: "fleet.set-state".into(),
            decision: Decision::Allowed,
            reason: detail.clone(),
            change: None,
        });
        Ok(Answer {
            node: node.to_owned(),
            outcome: Outcome::Accepted,
            request_id: String::new(),
            joined: false,
            detail,
            hold: None,
            gate: None,
        })
    }

    // ----- the queue and cancelling ------------------------------------------

    /// What cancelling the open request `ri` would do, and why, in words
    /// an operator can act on.
    fn cancel_plan(&self, ri: usize) -> (CancelPlan, String) {
        let r = &self.requests[ri];
        let state = self
            .node_index(&r.node)
            .map_or(State::Production, |ni| self.nodes[ni].state);
        let node = &r.node;
        match (r.status, state) {
            (Status::Queued, _) => (
                CancelPlan::Drop,
                format!("it has not started: cancelling drops it and leaves {node} {state}"),
            ),
            (Status::Active, State::Draining | State::Drained) => (
                CancelPlan::GiveBack,
                format!("{node} is {state}: cancelling gives it back to production (an undrain)"),
            ),
            (Status::Active, State::Rebooting) => (
                CancelPlan::Refused,
                format!(
                    "{node} is rebooting and a power action cannot be taken back; the request \
                     gives it back once it is up, or, if it is stuck, set its state by hand \
                     (`drover node set-state {node} intervention --reason ...`)"
                ),
            ),
            (Status::Active, State::Restoring) => (
                CancelPlan::Refused,
                format!(
                    "{node} is already being given back to production (restoring); \
                     the request ends on its own"
                ),
            ),
            (Status::Active, _) => (
                CancelPlan::Drop,
                format!("{node} is {state}: cancelling ends the request and leaves the node so"),
            ),
            _ => (
                CancelPlan::Refused,
                format!("it already ended ({})", r.status.as_str()),
            ),
        }
    }

    /// The open requests, oldest first: each with its node's state, the
    /// gate a queued one waits on (and the budget holding it), and what
    /// cancelling it would do. Decided on a copy of the world, as the
    /// next admission would see it: nothing is admitted or changed.
    pub fn queue(&self, now: i64) -> Vec<QueueEntry> {
        let mut probe = self.clone();
        probe.admit(now);
        let mut out = Vec::new();
        for (ri, r) in self.requests.iter().enumerate() {
            if !r.status.open() {
                continue;
            }
            let Some(ni) = self.node_index(&r.node) else {
                continue;
            };
            let (cancel, cancel_note) = self.cancel_plan(ri);
            let mut request = r.clone();
            let (gate, hold, starts_next) = if r.status == Status::Queued {
                let p = &probe.requests[ri];
                let starts = p.status != Status::Queued;
                if !starts {
                    request.detail = p.detail.clone();
                }
                (
                    probe.gates.get(&r.id).copied(),
                    probe.holds.get(&r.id).cloned(),
                    starts,
                )
            } else {
                (None, None, false)
            };
            out.push(QueueEntry {
                request,
                state: self.nodes[ni].state,
                gate,
                hold,
                starts_next,
                cancel,
                cancel_note,
            });
        }
        out
    }

    /// An operator cancels an open request, with a reason (audited as
    /// `fleet.cancel`). A queued request is dropped and its node left as
    /// it is. A request whose drain has started (draining, drained) gives
    /// its node back: a new undrain request of `actor`'s starts at once,
    /// whatever the budgets, pause or brake, since it only frees a slot.
    /// A rebooting node refuses (a power action cannot be taken back), as
    /// does one already restoring: [`FleetError::Conflict`] says what to
    /// do instead. A driver answer still in flight for the cancelled
    /// request is ignored by [`World::apply`] (it is no longer the node's
    /// open request).
    pub fn cancel(
        &mut self,
        id: &str,
        actor: &str,
        reason: &str,
        now: i64,
    ) -> Result<Cancelled, FleetError> {
        let ri = self
            .requests
            .iter()
            .position(|r| r.id == id && !id.is_empty())
            .ok_or_else(|| FleetError::UnknownRequest(id.to_owned()))?;
        let r = &self.requests[ri];
        let what = format!("request {id} ({} of {})", r.kind.as_str(), r.node);
        if !r.status.open() {
            return Err(FleetError::Conflict(format!(
                "{what} already ended ({}): nothing to cancel; {}",
                r.status.as_str(),
                r.detail
            )));
        }
        let reason = reason.trim();
        if reason.is_empty() {
            return Err(FleetError::Invalid(format!(
                "cancelling {what} needs a reason (it is audited)"
            )));
        }
        let (plan, why) = self.cancel_plan(ri);
        if plan == CancelPlan::Refused {
            return Err(FleetError::Conflict(format!(
                "{what} cannot be cancelled now: {why}"
            )));
        }
        let ni = self
            .node_index(&r.node)
            .ok_or_else(|| FleetError::UnknownNode(r.node.clone()))?;
        let (node, kind, was, exec) = (r.node.clone(), r.kind, r.status, r.execution_id.clone());
        let state = self.nodes[ni].state;
        let undrain_id = (plan == CancelPlan::GiveBack).then(crate::new_request_id);
        let mut detail = format!("cancelled by {actor}: {reason}");
        if let Some(u) = &undrain_id {
            detail.push_str(&format!(
                "; {node} was {state} and is given back to production (undrain request {u})"
            ));
        }
        self.close(ri, Status::Cancelled, detail.clone(), now);
        self.note(
            ni,
            now,
            "cancelled",
            Some(ri),
            actor,
            &format!("{what}: {detail}"),
        );
        self.effects.push(Effect {
            at_ms: now,
            node: node.clone(),
            request_id: Some(id.to_owned()),
            execution_id: exec,
            actor: actor.to_owned(),
            capability: "fleet.cancel".into(),
            decision: Decision::Allowed,
            reason: format!("{what}, {}, cancelled: {reason}", was.as_str()),
            change: None,
        });
        if let Some(u) = &undrain_id {
            let give_back = Request {
                id: u.clone(),
                node: node.clone(),
                kind: Kind::Undrain,
                reason: format!("request {id} cancelled: {reason}"),
                execution_id: None,
                actor: actor.to_owned(),
                origin: Origin::Operator,
                grant: None,
                policy: Policy::Asap,
                drain_timeout_ms: self.settings.drain_timeout_ms,
                reboot_timeout_ms: self.settings.reboot_timeout_ms,
                status: Status::Queued,
                detail: "queued".into(),
                created_ms: now,
                updated_ms: now,
                life: Default::default(),
            };
            self.history.push(History {
                node: node.clone(),
                at_ms: now,
                event: "request".into(),
                from: state,
                to: state,
                request_id: Some(u.clone()),
                actor: actor.to_owned(),
                detail: format!("undrain requested (asap): {}", give_back.reason),
            });
            self.requests.push(give_back);
            let gi = self.requests.len() - 1;
            self.dirty_requests.insert(gi);
            self.open.insert(ni, gi);
            self.start(gi, now);
        }
        Ok(Cancelled {
            request_id: id.to_owned(),
            node,
            kind,
            was,
            state,
            given_back: undrain_id,
            detail,
        })
    }

    /// Checks every queued request a plugin made against its grant again
    /// (`still_granted`, given the node as it is now), and denies those it
    /// no longer covers: the node's labels or the grants changed while it
    /// waited. Run before admission, so nothing starts on an old check.
    /// An active request is not stopped half-way (its node is already out
    /// of production); operators' requests carry no grant.
    pub fn recheck_grants(
        &mut self,
        now: i64,
        still_granted: impl Fn(&GrantRef, &Node) -> Result<(), String>,
    ) {
        for ri in 0..self.requests.len() {
            let r = &self.requests[ri];
            if r.status != Status::Queued {
                continue;
            }
            let (Some(grant), Some(ni)) = (&r.grant, self.node_index(&r.node)) else {
                continue;
            };
            let Err(why) = still_granted(grant, &self.nodes[ni]) else {
                continue;
            };
            let reason = format!("the grant no longer covers it: {why}");
            let r = &mut self.requests[ri];
            r.status = Status::Denied;
            r.detail = format!("denied: {reason}");
            r.updated_ms = now;
            let (id, kind, actor, exec) = (
                r.id.clone(),
                r.kind,
                r.actor.clone(),
                r.execution_id.clone(),
            );
            self.dirty_requests.insert(ri);
            if self.open.get(&ni) == Some(&ri) {
                self.open.remove(&ni);
            }
            let state = self.nodes[ni].state;
            self.history.push(History {
                node: self.nodes[ni].name.clone(),
                at_ms: now,
                event: "denied".into(),
                from: state,
                to: state,
                request_id: Some(id.clone()),
                actor: "fleet-controller".into(),
                detail: format!("{} request {id} denied: {reason}", kind.as_str()),
            });
            self.effects.push(Effect {
                at_ms: now,
                node: self.nodes[ni].name.clone(),
                request_id: Some(id),
                execution_id: exec,
                actor,
                capability: format!("fleet.{}", kind.as_str()),
                decision: Decision::Denied,
                reason,
                change: None,
            });
        }
    }

    // ----- the controller's step -----------------------------------------

    /// One controller step: missed deadlines, admission of queued
    /// requests, and the driver calls due now. One-shot calls (drain,
    /// reboot, undrain) are marked issued and audited here, before they
    /// are made.
    pub fn step(&mut self, now: i64) -> Vec<Action> {
        self.expire(now);
        self.admit(now);
        self.actions(now)
    }

    fn expire(&mut self, now: i64) {
        for ri in 0..self.requests.len() {
            let r = &self.requests[ri];
            if r.status != Status::Active {
                continue;
            }
            let Some(ni) = self.node_index(&r.node) else {
                continue;
            };
            let past = |t: Option<i64>| t.is_some_and(|t| now >= t);
            match self.nodes[ni].state {
                State::Draining if past(r.life.phase_deadline_ms) => {
                    let why = format!(
                        "drain did not finish within {} (drain deadline {})",
                        fmt_duration(r.drain_timeout_ms),
                        fmt_time(r.life.phase_deadline_ms.unwrap_or(now))
                    );
                    self.intervene(ri, now, why);
                }
                State::Rebooting if past(r.life.reboot_deadline_ms) => {
                    let why = format!(
                        "not back within {} of the reboot (reboot deadline {}), after {}",
                        fmt_duration(r.reboot_timeout_ms),
                        fmt_time(r.life.reboot_deadline_ms.unwrap_or(now)),
                        self.rungs_tried(ri)
                    );
                    self.intervene(ri, now, why);
                }
                State::Rebooting if past(r.life.phase_deadline_ms) => {
                    let ladder = self.settings.ladder(self.nodes[ni].class());
                    let why = ladder
                        .get(r.life.step as usize)
                        .map(|rung| {
                            format!(
                                "no answer within {} of {}",
                                fmt_duration(rung.timeout_ms),
                                rung.action.as_str()
                            )
                        })
                        .unwrap_or_else(|| "timed out".into());
                    self.escalate(ri, now, why);
                }
                State::Restoring if past(r.life.phase_deadline_ms) => {
                    self.intervene(
                        ri,
                        now,
                        "could not be given back (undrain) before its deadline".into(),
                    );
                }
                _ => {}
            }
        }
    }

    fn rungs_tried(&self, ri: usize) -> String {
        let r = &self.requests[ri];
        let Some(ni) = self.node_index(&r.node) else {
            return String::new();
        };
        let ladder = self.settings.ladder(self.nodes[ni].class());
        ladder
            .iter()
            .take(r.life.step as usize + 1)
            .map(|rung| rung.action.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    }

    /// Starts the queued requests that may start, oldest first; the rest
    /// get the reason they wait.
    pub fn admit(&mut self, now: i64) {
        self.holds.clear();
        let queued: Vec<usize> = (0..self.requests.len())
            .filter(|&ri| self.requests[ri].status == Status::Queued)
            .collect();
        if queued.is_empty() {
            return;
        }
        for &ri in &queued {
            self.gates.remove(&self.requests[ri].id);
        }
        let mut starts = Vec::new();
        let mut waits: Vec<(usize, Gate, String, Option<Hold>)> = Vec::new();
        let mut budget_waits: Vec<usize> = Vec::new();
        {
            let mut usage = Usage::new(&self.nodes, &self.budgets);
            for ri in queued {
                let r = &self.requests[ri];
                let Some(ni) = self.node_index(&r.node) else {
                    continue;
                };
                if r.kind == Kind::Undrain {
                    // Giving a node back frees budget: nothing holds it.
                    starts.push(ri);
                    continue;
                }
                let wait = match r.policy {
                    Policy::At(t) if now < t => {
                        Some((Gate::Schedule, format!("waiting until {}", fmt_time(t))))
                    }
                    Policy::Window if !self.settings.window_open(&self.nodes[ni], now) => Some((
                        Gate::Window,
                        if self
                            .settings
                            .windows
                            .iter()
                            .any(|w| w.covers(&self.nodes[ni]))
                        {
                            "waiting for a maintenance window".to_owned()
                        } else {
                            "waiting for a maintenance window, but none covers this node \
                             (`drover fleet window add`)"
                                .to_owned()
                        },
                    )),
                    _ => None,
                }
                .or_else(|| {
                    self.settings.pause.as_ref().map(|p| {
                        let why = format!(
                            "fleet paused by {} since {} ({}); `drover fleet resume` lets it start",
                            p.by,
                            fmt_time(p.since_ms),
                            p.reason
                        );
                        (Gate::Pause, why)
                    })
                })
                .or_else(|| {
                    (r.origin == Origin::Automation && self.settings.brake.engaged)
                        .then(|| (Gate::Brake, self.brake_text()))
                })
                .or_else(|| {
                    let settle = self.settings.brake.settle_ms;
                    (r.origin == Origin::Automation && now < r.created_ms + settle).then(|| {
                        let why = format!(
                            "settling: automatic requests wait {} before they start, so a \
                             storm trips the brake before anything acts",
                            crate::fmt_duration(settle)
                        );
                        (Gate::Settle, why)
                    })
                });
                if let Some((gate, why)) = wait {
                    waits.push((ri, gate, why, None));
                    continue;
                }
                if usage.check(ni).is_ok() {
                    usage.take(ni);
                    starts.push(ri);
                } else {
                    // Explained below, once this pass's starts have moved.
                    budget_waits.push(ri);
                }
            }
        }
        for ri in starts {
            self.start(ri, now);
        }
        // Name the budget and its holders as they are now that this pass's
        // starts have moved: one pass over the fleet, and one explanation
        // per (budget, group), however many requests wait on it.
        if !budget_waits.is_empty() {
            let usage = Usage::new(&self.nodes, &self.budgets);
            let index = usage.holders_index();
            let mut explained: HashMap<(usize, u32), Hold> = HashMap::new();
            for ri in budget_waits {
                let Some(ni) = self.node_index(&self.requests[ri].node) else {
                    continue;
                };
                let hold = usage.blocking(ni).and_then(|key| {
                    if let Some(h) = explained.get(&key) {
                        return Some(h.clone());
                    }
                    let h = usage.hold_in(ni, &index)?;
                    explained.insert(key, h.clone());
                    Some(h)
                });
                match hold {
                    Some(h) => waits.push((ri, Gate::Budget, format!("queued: {h}"), Some(h))),
                    None => waits.push((
                        ri,
                        Gate::Budget,
                        "queued: waiting for a budget".into(),
                        None,
                    )),
                }
            }
        }
        for (ri, gate, why, hold) in waits {
            self.gates.insert(self.requests[ri].id.clone(), gate);
            let r = &mut self.requests[ri];
            // Settling and waiting for the scheduled time are the normal
            // course, not a hold worth grouping.
            let held = (!matches!(gate, Gate::Settle | Gate::Schedule)).then_some(gate);
            if r.detail != why || (held.is_some() && r.life.held_by != held) {
                r.detail = why;
                r.life.held_by = held.or(r.life.held_by);
                r.updated_ms = now;
                self.dirty_requests.insert(ri);
            }
            if let Some(h) = hold {
                self.holds.insert(r.id.clone(), h);
            }
        }
    }

    fn start(&mut self, ri: usize, now: i64) {
        let Some(ni) = self.node_index(&self.requests[ri].node) else {
            return;
        };
        {
            let r = &mut self.requests[ri];
            r.status = Status::Active;
            r.updated_ms = now;
        }
        self.dirty_requests.insert(ri);
        let r = self.requests[ri].clone();
        match (r.kind, self.nodes[ni].state) {
            (Kind::Undrain, _) => {
                self.enter(
                    ri,
                    ni,
                    State::Restoring,
                    now,
                    self.settings.restore_timeout_ms,
                    "undrain started",
                );
            }
            (Kind::Drain, State::Drained) => {
                self.close(ri, Status::Done, "already drained".into(), now);
            }
            (Kind::Reboot, State::Production) | (Kind::Drain, _) => {
                self.enter(
                    ri,
                    ni,
                    State::Draining,
                    now,
                    r.drain_timeout_ms,
                    "drain started",
                );
            }
            (Kind::Reboot, _) => self.begin_reboot(ri, now),
        }
    }

    /// Moves the node into a phase of request `ri`.
    fn enter(&mut self, ri: usize, ni: usize, to: State, now: i64, timeout_ms: i64, what: &str) {
        let (id, actor) = {
            let r = &mut self.requests[ri];
            r.life.phase_started_ms = Some(now);
            r.life.phase_deadline_ms = Some(now + timeout_ms);
            r.life.issued = false;
            r.updated_ms = now;
            r.detail = format!(
                "{} is {to} (deadline {})",
                r.node,
                fmt_time(now + timeout_ms)
            );
            (r.id.clone(), r.actor.clone())
        };
        self.dirty_requests.insert(ri);
        let reason = self.requests[ri].reason.clone();
        self.transition(ni, to, now, what, Some(id), &actor, &reason);
    }

    fn begin_reboot(&mut self, ri: usize, now: i64) {
        let Some(ni) = self.node_index(&self.requests[ri].node) else {
            return;
        };
        let ladder = self.settings.ladder(self.nodes[ni].class()).to_vec();
        let Some(first) = ladder.first() else {
            let why = format!(
                "no escalation ladder for node class {:?} (`drover fleet ladder set`)",
                self.nodes[ni].class()
            );
            self.intervene(ri, now, why);
            return;
        };
        let timeout = first.timeout_ms;
        {
            let r = &mut self.requests[ri];
            r.life.step = 0;
            r.life.reboot_deadline_ms = Some(now + r.reboot_timeout_ms);
        }
        self.enter(ri, ni, State::Rebooting, now, timeout, "reboot started");
    }

    /// The next rung of the ladder, or intervention when there is none.
    fn escalate(&mut self, ri: usize, now: i64, why: String) {
        let Some(ni) = self.node_index(&self.requests[ri].node) else {
            return;
        };
        let ladder = self.settings.ladder(self.nodes[ni].class()).to_vec();
        let next = self.requests[ri].life.step as usize + 1;
        let Some(rung) = ladder.get(next) else {
            let why = format!(
                "{why}; the escalation ladder ({}) is exhausted",
                self.rungs_tried(ri)
            );
            self.intervene(ri, now, why);
            return;
        };
        let r = &mut self.requests[ri];
        r.life.step = next as u32;
        r.life.issued = false;
        r.life.phase_started_ms = Some(now);
        r.life.phase_deadline_ms = Some(now + rung.timeout_ms);
        r.updated_ms = now;
        r.detail = format!("{why}; escalating to {}", rung.action.as_str());
        self.dirty_requests.insert(ri);
        let (id, actor, detail) = (r.id.clone(), r.actor.clone(), r.detail.clone());
        self.note(ni, now, "escalate", Some(ri), &actor, &detail);
        let _ = id;
    }

    /// A failed step or missed deadline: the node needs a person.
    fn intervene(&mut self, ri: usize, now: i64, why: String) {
        let Some(ni) = self.node_index(&self.requests[ri].node) else {
            return;
        };
        let r = self.requests[ri].clone();
        self.close(
            ri,
            Status::Intervention,
            format!("intervention: {why}"),
            now,
        );
        self.transition(
            ni,
            State::Intervention,
            now,
            "intervention",
            Some(r.id.clone()),
            &r.actor,
            &why,
        );
        self.effects.push(Effect {
            at_ms: now,
            node: r.node.clone(),
            request_id: Some(r.id.clone()),
            execution_id: r.execution_id.clone(),
            actor: r.actor.clone(),
            capability: "fleet.intervention".into(),
            decision: Decision::Allowed,
            reason: why,
            change: None,
        });
        self.signal(&r.node, now);
    }

    fn close(&mut self, ri: usize, status: Status, detail: String, now: i64) {
        let r = &mut self.requests[ri];
        r.status = status;
        r.detail = detail;
        r.updated_ms = now;
        self.dirty_requests.insert(ri);
        if let Some(ni) = self.index.get(&r.node) {
            self.open.remove(ni);
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn transition(
        &mut self,
        ni: usize,
        to: State,
        now: i64,
        event: &str,
        request_id: Option<String>,
        actor: &str,
        detail: &str,
    ) {
        let node = &mut self.nodes[ni];
        let from = node.state;
        node.state = to;
        node.since_ms = now;
        node.note = detail.to_owned();
        self.dirty_nodes.insert(ni);
        self.history.push(History {
            node: node.name.clone(),
            at_ms: now,
            event: if to == State::Intervention {
                "intervention".into()
            } else {
                "state".into()
            },
            from,
            to,
            request_id,
            actor: actor.to_owned(),
            detail: format!("{event}: {detail}"),
        });
    }

    fn note(
        &mut self,
        ni: usize,
        now: i64,
        event: &str,
        ri: Option<usize>,
        actor: &str,
        detail: &str,
    ) {
        let state = self.nodes[ni].state;
        self.history.push(History {
            node: self.nodes[ni].name.clone(),
            at_ms: now,
            event: event.into(),
            from: state,
            to: state,
            request_id: ri.map(|ri| self.requests[ri].id.clone()),
            actor: actor.to_owned(),
            detail: detail.to_owned(),
        });
    }

    fn actions(&mut self, now: i64) -> Vec<Action> {
        let mut out = Vec::new();
        for ri in 0..self.requests.len() {
            if self.requests[ri].status != Status::Active {
                continue;
            }
            let Some(ni) = self.node_index(&self.requests[ri].node) else {
                continue;
            };
            let state = self.nodes[ni].state;
            let issued = self.requests[ri].life.issued;
            let op = match state {
                State::Draining if !issued => Op::Drain,
                State::Draining => Op::IsDrained,
                State::Rebooting if !issued => {
                    let ladder = self.settings.ladder(self.nodes[ni].class());
                    match ladder.get(self.requests[ri].life.step as usize) {
                        Some(rung) => Op::Reboot(rung.action.power()),
                        None => continue,
                    }
                }
                State::Rebooting => Op::IsUp,
                // Undrain is idempotent: repeated until it is answered.
                State::Restoring => Op::Undrain,
                _ => continue,
            };
            if matches!(op, Op::Drain | Op::Reboot(_) | Op::Undrain) && !issued {
                let r = &mut self.requests[ri];
                r.life.issued = true;
                r.updated_ms = now;
                self.dirty_requests.insert(ri);
                let r = &self.requests[ri];
                let what = match op {
                    Op::Reboot(_) => {
                        let ladder = self.settings.ladder(self.nodes[ni].class());
                        format!(
                            "{} (step {} of {}): {}",
                            op.name(),
                            r.life.step + 1,
                            ladder.len(),
                            r.reason
                        )
                    }
                    _ => format!("{}: {}", op.name(), r.reason),
                };
                self.effects.push(Effect {
                    at_ms: now,
                    node: r.node.clone(),
                    request_id: Some(r.id.clone()),
                    execution_id: r.execution_id.clone(),
                    actor: r.actor.clone(),
                    capability: match op {
                        Op::Reboot(_) => "fleet.reboot".into(),
                        _ => format!("fleet.{}", op.name()),
                    },
                    decision: Decision::Allowed,
                    reason: format!("request {}: {what}", r.id),
                    change: None,
                });
                let actor = r.actor.clone();
                self.note(ni, now, op.name(), Some(ri), &actor, &what);
            }
            let r = &self.requests[ri];
            out.push(Action {
                request_id: r.id.clone(),
                node: r.node.clone(),
                driver: self.nodes[ni].driver.clone(),
                options: self.nodes[ni].options.clone(),
                op,
                phase: state,
                step: r.life.step,
            });
        }
        out
    }

    /// Applies what the drivers answered. Results for a request that has
    /// moved on (another phase or rung, cancelled) are ignored.
    pub fn apply(&mut self, results: Vec<(Action, ActionResult)>, now: i64) {
        for (a, res) in results {
            let Some(ni) = self.node_index(&a.node) else {
                continue;
            };
            let Some(&ri) = self.open.get(&ni) else {
                continue;
            };
            let r = &self.requests[ri];
            if r.id != a.request_id
                || r.status != Status::Active
                || self.nodes[ni].state != a.phase
                || r.life.step != a.step
            {
                continue;
            }
            match (a.op, res) {
                (Op::Drain, Ok(_)) | (Op::IsDrained, Ok(false)) | (Op::IsUp, Ok(false)) => {}
                (Op::Reboot(_), Ok(_)) => {
                    let r = &mut self.requests[ri];
                    r.detail = format!(
                        "{} issued; waiting for {} to come back (until {})",
                        a.op.name(),
                        r.node,
                        fmt_time(r.life.phase_deadline_ms.unwrap_or(now))
                    );
                    self.dirty_requests.insert(ri);
                }
                (Op::IsDrained | Op::IsUp, Err(e)) => {
                    // A poll that fails is not an answer: the deadline decides.
                    let r = &mut self.requests[ri];
                    let d = format!("last check failed: {e}");
                    if r.detail != d {
                        r.detail = d;
                        self.dirty_requests.insert(ri);
                    }
                }
                (Op::Drain, Err(e)) => self.intervene(ri, now, format!("drain failed: {e}")),
                (Op::Undrain, Err(e)) => self.intervene(ri, now, format!("undrain failed: {e}")),
                (Op::Reboot(_), Err(e)) => {
                    self.escalate(ri, now, format!("{} failed: {e}", a.op.name()))
                }
                (Op::IsDrained, Ok(true)) => {
                    let r = self.requests[ri].clone();
                    self.transition(
                        ni,
                        State::Drained,
                        now,
                        "drained",
                        Some(r.id.clone()),
                        &r.actor,
                        &r.reason,
                    );
                    match r.kind {
                        Kind::Reboot => self.begin_reboot(ri, now),
                        _ => self.close(ri, Status::Done, format!("{} is drained", r.node), now),
                    }
                }
                (Op::IsUp, Ok(true)) => {
                    let timeout = self.settings.restore_timeout_ms;
                    self.enter(ri, ni, State::Restoring, now, timeout, "back up; restoring");
                }
                (Op::Undrain, Ok(_)) => {
                    let r = self.requests[ri].clone();
                    let took = now - r.created_ms;
                    self.transition(
                        ni,
                        State::Production,
                        now,
                        "restored",
                        Some(r.id.clone()),
                        &r.actor,
                        &r.reason,
                    );
                    self.close(
                        ri,
                        Status::Done,
                        format!(
                            "{} is back in production ({} after the request)",
                            r.node,
                            fmt_duration(took)
                        ),
                        now,
                    );
                }
            }
        }
    }

    /// Whether anything is still open (queued or active).
    pub fn busy(&self) -> bool {
        !self.open.is_empty()
    }

    /// Budgets over their limit now (after set-state or a lowered budget).
    pub fn overruns(&self) -> Vec<(String, String, u32, u32)> {
        Usage::new(&self.nodes, &self.budgets).overruns()
    }
}
