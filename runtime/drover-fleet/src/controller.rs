//! The store around the pure core. [`Fleet`] is the library API (CLI,
//! the host's `nodes` interface, the REST API): every decision loads a
//! [`World`] inside one write transaction, decides, and writes back the
//! changed nodes and requests with their history and audit records, so
//! the CLI and a running `drover serve` see and respect each other's
//! decisions. [`Controller`] is the loop that moves nodes through their
//! lifecycle: a transaction to decide (and record intent), the driver
//! calls outside it, a transaction to record their answers.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::thread::JoinHandle;
use std::time::Duration;

use drover_core::{AuditRecord, ChangeBy, Stop, kinds, now_ms};
use drover_store::{BudgetRow, FleetTx, HealthReport, HistoryRow, NodeRow, Store, StoreError};
use serde::Serialize;

use crate::budget::{Budget, Rule, Usage};
use crate::driver::{Drivers, NodeTarget, SecretLookup, StoreSecrets};
use crate::inventory::{ImportReport, NodeSpec};
use crate::model::{Kind, Node, Origin, Request, State};
use crate::settings::{Pause, Rung, Settings, Window};
use crate::sim::Clock;
use crate::world::{
    Action, ActionResult, Answer, Cancelled, Changes, NewRequest, Op, QueueEntry, World,
};
use crate::{FleetError, planner};

const SETTINGS_KEY: &str = "settings";
/// Present once an inventory has been imported (the default simulated
/// fleet is replaced by the first import).
const INVENTORY_KEY: &str = "inventory";

fn load_settings(tx: &dyn FleetTx) -> Result<Settings, FleetError> {
    match tx.setting(SETTINGS_KEY)? {
        None => Ok(Settings::default()),
        Some(v) => serde_json::from_value(v)
            .map_err(|e| StoreError::Corrupt(format!("fleet settings: {e}")).into()),
    }
}

fn load_budgets(tx: &dyn FleetTx) -> Result<Vec<Budget>, FleetError> {
    tx.budgets()?
        .into_iter()
        .map(|b| {
            let rule: Rule = serde_json::from_value(b.spec)
                .map_err(|e| StoreError::Corrupt(format!("budget {}: {e}", b.name)))?;
            Ok(Budget { name: b.name, rule })
        })
        .collect()
}

fn load_world(tx: &dyn FleetTx, now: i64) -> Result<World, FleetError> {
    let nodes = tx
        .nodes()?
        .into_iter()
        .map(Node::from_row)
        .collect::<Result<Vec<_>, _>>()?;
    let requests = tx
        .open_requests()?
        .into_iter()
        .map(Request::from_row)
        .collect::<Result<Vec<_>, _>>()?;
    let settings = load_settings(tx)?;
    let signals = tx.history_events_since(
        &["auto-request", "intervention"],
        now - settings.brake.window_ms,
    )?;
    Ok(World::new(
        nodes,
        requests,
        load_budgets(tx)?,
        settings,
        signals,
    ))
}

/// Checks the queued requests plugins made against the grants of their
/// pack version again, for the node as it is now (its labels may have
/// changed since: `drover node import`, a relabel), and denies the ones
/// no grant covers any more ([`World::recheck_grants`]). Called before
/// every admission.
fn recheck_grants(tx: &dyn FleetTx, w: &mut World, now: i64) -> Result<(), FleetError> {
    let mut grants: std::collections::HashMap<(String, String), Vec<drover_core::Grant>> =
        Default::default();
    for r in &w.requests {
        if let (crate::Status::Queued, Some(g)) = (r.status, &r.grant)
            && let std::collections::hash_map::Entry::Vacant(slot) =
                grants.entry((g.pack.clone(), g.version.clone()))
        {
            slot.insert(tx.active_grants(&g.pack, &g.version)?);
        }
    }
    if grants.is_empty() {
        return Ok(());
    }
    w.recheck_grants(now, |g, node| {
        let active = grants
            .get(&(g.pack.clone(), g.version.clone()))
            .map_or(&[][..], Vec::as_slice);
        still_granted(active, g, node)
    });
    Ok(())
}

/// Does one of `active` (the grants of `g`'s pack version) still let `g`'s
/// plugin build make its request of `node`?
fn still_granted(
    active: &[drover_core::Grant],
    g: &crate::GrantRef,
    node: &Node,
) -> Result<(), String> {
    use drover_policy::{Capability, Scope, Target};
    let pack = format!("{}@{}", g.pack, g.version);
    let Ok(cap) = g.capability.parse::<Capability>() else {
        return Err(format!("unknown capability {:?}", g.capability));
    };
    let scopes: Vec<(String, Scope)> = active
        .iter()
        .filter(|a| {
            a.capability == g.capability
                && a.digests.get(&g.plugin).map(String::as_str) == Some(g.digest.as_str())
        })
        .filter_map(|a| Some((a.id.to_string(), Scope::parse_stored(cap, &a.scope).ok()?)))
        .collect();
    if scopes.is_empty() {
        return Err(format!(
            "{pack} has no active grant of {cap} for this build of {} any more (revoked?)",
            g.plugin
        ));
    }
    let target = Target::Node {
        name: &node.name,
        labels: &node.labels,
    };
    if scopes.iter().any(|(_, s)| s.allows(&target)) {
        return Ok(());
    }
    let labels: Vec<String> = node
        .labels
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect();
    let granted: Vec<String> = scopes
        .iter()
        .map(|(id, s)| format!("'{s}' (grant {id})"))
        .collect();
    Err(format!(
        "{} (labels now {}) is outside the granted scope of {cap} to {pack}: {}",
        node.name,
        labels.join(","),
        granted.join(", ")
    ))
}

fn save(tx: &dyn FleetTx, c: Changes) -> Result<(), FleetError> {
    for n in &c.nodes {
        tx.set_node_state(&n.name, n.state.as_str(), n.since_ms, &n.note)?;
    }
    for r in &c.requests {
        tx.upsert_request(&r.to_row())?;
    }
    for h in &c.history {
        tx.add_history(&HistoryRow {
            id: 0,
            node: h.node.clone(),
            at_ms: h.at_ms,
            event: h.event.clone(),
            from_state: h.from.as_str().into(),
            to_state: h.to.as_str().into(),
            request_id: h.request_id.clone(),
            actor: h.actor.clone(),
            detail: h.detail.clone(),
        })?;
    }
    for e in &c.effects {
        tx.audit(&AuditRecord {
            id: 0,
            at_ms: e.at_ms,
            execution_id: e.execution_id.as_deref().and_then(|x| x.parse().ok()),
            actor: e.actor.clone(),
            pack: "drover".into(),
            plugin: "fleet".into(),
            capability: e.capability.clone(),
            target: if e.change.is_some() && e.capability == kinds::FLEET_BRAKE {
                // The operator's release: the change log's subject.
                "brake".into()
            } else if e.node.is_empty() {
                "fleet".into()
            } else {
                e.node.clone()
            },
            decision: e.decision,
            reason: e.reason.clone(),
            dry_run: false,
            change: e.change.clone(),
        })?;
    }
    if let Some(s) = &c.settings {
        tx.set_setting(
            SETTINGS_KEY,
            &serde_json::to_value(s).map_err(StoreError::from)?,
            now_ms(),
        )?;
    }
    Ok(())
}

/// Records an operator's change of the fleet's configuration in the
/// audit log's change log (pack `drover`, plugin `fleet`), in `tx`.
fn record_change(
    tx: &dyn FleetTx,
    by: &ChangeBy,
    kind: &str,
    subject: &str,
    summary: String,
    before: serde_json::Value,
    after: serde_json::Value,
) -> Result<(), FleetError> {
    let mut rec = AuditRecord::of_change(by, kind, subject, "drover", summary, before, after);
    rec.plugin = "fleet".into();
    tx.audit(&rec)?;
    Ok(())
}

/// An operator's reason, checked (length, one line) as every change's is.
fn change_by(actor: &str, reason: Option<&str>) -> Result<ChangeBy, FleetError> {
    ChangeBy::new(actor, reason).map_err(|e| FleetError::Invalid(e.to_string()))
}

fn fleet_audit(
    tx: &dyn FleetTx,
    actor: &str,
    capability: &str,
    reason: String,
) -> Result<(), FleetError> {
    tx.audit(&AuditRecord {
        id: 0,
        at_ms: now_ms(),
        execution_id: None,
        actor: actor.to_owned(),
        pack: "drover".into(),
        plugin: "fleet".into(),
        capability: capability.into(),
        target: "fleet".into(),
        decision: drover_core::Decision::Allowed,
        reason,
        dry_run: false,
        change: None,
    })?;
    Ok(())
}

/// A node in a listing: what it is, where it is, what it waits for.
#[derive(Clone, Debug, Serialize)]
pub struct NodeInfo {
    pub name: String,
    pub labels: std::collections::BTreeMap<String, String>,
    pub state: State,
    pub driver: String,
    pub since_ms: i64,
    pub note: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub request: Option<RequestSummary>,
}

#[derive(Clone, Debug, Serialize)]
pub struct RequestSummary {
    pub id: String,
    pub kind: Kind,
    pub status: crate::Status,
    pub detail: String,
}

/// One node in full.
#[derive(Clone, Debug, Serialize)]
pub struct NodeDetail {
    pub node: Node,
    /// The node's requests, newest first.
    pub requests: Vec<Request>,
    /// Its history, newest first (when asked for).
    pub history: Vec<HistoryRow>,
    /// What checks or monitoring last saw of it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub health: Option<NodeHealth>,
}

/// A node's latest health report, and whether it still holds: a report
/// older than the node's last change of state is history (a reboot
/// answers an old "silent").
#[derive(Clone, Debug, Serialize)]
pub struct NodeHealth {
    #[serde(flatten)]
    pub report: HealthReport,
    pub current: bool,
}

/// What the storm brake and the pause say now.
#[derive(Clone, Debug, Serialize)]
pub struct BrakeStatus {
    pub engaged: bool,
    pub reason: String,
    pub engaged_at_ms: Option<i64>,
    pub threshold_percent: f64,
    pub window_ms: i64,
    /// Nodes counted unhealthy within the window now, of `total`.
    pub unhealthy: usize,
    pub total: usize,
    pub released_at_ms: Option<i64>,
    pub released_by: Option<String>,
    pub paused: Option<Pause>,
}

/// A budget with how much of it is in use, and by whom.
#[derive(Clone, Debug, Serialize)]
pub struct BudgetView {
    pub name: String,
    #[serde(flatten)]
    pub rule: Rule,
    pub description: String,
    /// Unavailable nodes in the fullest group (the fleet for max unavailable).
    pub used: u32,
    pub limit: u32,
    pub created_at_ms: i64,
    pub created_by: String,
    /// The nodes holding its slots now (out of production and counted by
    /// it), by name, at most [`MAX_HOLDERS_LISTED`]; `held_by` counts
    /// them all.
    pub holders: Vec<Holder>,
    pub held_by: usize,
    /// For a group semaphore: each group with a node out (full ones
    /// first, then by name), with its holders. Empty for max unavailable.
    pub groups: Vec<GroupUse>,
}

/// How many holders a budget view lists by name (per budget, and per
/// group); the counts are always whole.
pub const MAX_HOLDERS_LISTED: usize = 50;

/// A node holding a budget's slot, and why it is out.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Holder {
    pub node: String,
    pub state: State,
}

/// One group of a group semaphore (`rack=r07`) with nodes out.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct GroupUse {
    pub group: String,
    pub used: u32,
    pub limit: u32,
    /// No other node of the group may go out now.
    pub full: bool,
    /// At most [`MAX_HOLDERS_LISTED`], by name.
    pub holders: Vec<Holder>,
}

/// A maintenance window, whether it is open now and how many nodes it
/// covers.
#[derive(Clone, Debug, Serialize)]
pub struct WindowView {
    #[serde(flatten)]
    pub window: Window,
    pub open_now: bool,
    /// Nodes its selector covers (all of them without one).
    pub nodes: usize,
}

/// A dry run of requests: each answer, and the rolling schedule.
/// The Fleet page's controls, read together ([`Fleet::panel`]).
#[derive(Clone, Debug, Serialize)]
pub struct Panel {
    pub brake: BrakeStatus,
    /// The nodes the brake counts unhealthy now, by name.
    pub unhealthy: Vec<String>,
    pub budgets: Vec<BudgetView>,
    pub queue: Vec<QueueEntry>,
    pub windows: Vec<WindowView>,
}

fn brake_of(w: &World, now: i64) -> BrakeStatus {
    let b = &w.settings.brake;
    BrakeStatus {
        engaged: b.engaged,
        reason: b.reason.clone(),
        engaged_at_ms: b.engaged_at_ms,
        threshold_percent: b.threshold_percent,
        window_ms: b.window_ms,
        unhealthy: w.unhealthy_count(now),
        total: w.nodes.len(),
        released_at_ms: b.released_at_ms,
        released_by: b.released_by.clone(),
        paused: w.settings.pause.clone(),
    }
}

fn windows_of(w: &World, now: i64) -> Vec<WindowView> {
    w.settings
        .windows
        .iter()
        .map(|win| WindowView {
            open_now: win.is_open(now),
            nodes: w.nodes.iter().filter(|n| win.covers(n)).count(),
            window: win.clone(),
        })
        .collect()
}

#[derive(Clone, Debug, Serialize)]
pub struct DryRun {
    pub answers: Vec<Result<Answer, String>>,
    /// Waves of node names that may be out together.
    pub waves: Vec<Vec<String>>,
    /// Nodes no wave can take, with the hold.
    pub blocked: Vec<(String, String)>,
    /// What else holds the plan back (pause, brake, windows).
    pub notes: Vec<String>,
}

/// The fleet: inventory, requests, budgets, brake. Cheap to clone.
#[derive(Clone)]
pub struct Fleet {
    store: Store,
}

impl Fleet {
    pub fn new(store: Store) -> Fleet {
        Fleet { store }
    }

    pub fn store(&self) -> &Store {
        &self.store
    }

    /// Runs `f` in one write transaction. A non-store error must come
    /// before `f` writes anything (the transaction still commits).
    fn txn<R, F>(&self, f: F) -> Result<R, FleetError>
    where
        F: FnOnce(&dyn FleetTx) -> Result<R, FleetError> + Send + 'static,
        R: Send + 'static,
    {
        self.store.fleet_write(move |tx| match f(tx) {
            Ok(r) => Ok(Ok(r)),
            Err(FleetError::Store(e)) => Err(e),
            Err(e) => Ok(Err(e)),
        })?
    }

    /// Loads a World on the reader connection (for dry runs and views).
    pub fn world(&self, now: i64) -> Result<World, FleetError> {
        let w = self.store.fleet_read(|tx| {
            Ok(load_world(tx, now).map_err(|e| match e {
                FleetError::Store(s) => s,
                other => StoreError::Corrupt(other.to_string()),
            }))
        })?;
        Ok(w?)
    }

    pub fn node(&self, name: &str) -> Result<NodeRow, FleetError> {
        self.store
            .get_node(name)?
            .ok_or_else(|| FleetError::UnknownNode(name.to_owned()))
    }

    /// Nodes matching a label selector (`rack=r07`, `rack in (r1,r2)`)
    /// and/or a state, with their open request.
    pub fn list(
        &self,
        selector: Option<&str>,
        state: Option<&str>,
    ) -> Result<Vec<NodeInfo>, FleetError> {
        let sel = selector
            .map(|s| {
                drover_policy::Selector::parse(s)
                    .map_err(|e| FleetError::Invalid(format!("--label {s:?}: {e}")))
            })
            .transpose()?;
        let state = state.map(State::parse).transpose()?;
        let (nodes, requests) = self
            .store
            .fleet_read(|tx| Ok((tx.nodes()?, tx.open_requests()?)))?;
        let mut open: std::collections::HashMap<String, RequestSummary> = Default::default();
        for r in requests {
            let r = Request::from_row(r)?;
            open.entry(r.node.clone()).or_insert(RequestSummary {
                id: r.id,
                kind: r.kind,
                status: r.status,
                detail: r.detail,
            });
        }
        let mut out = Vec::new();
        for n in nodes {
            let n = Node::from_row(n)?;
            if sel.as_ref().is_some_and(|s| !s.matches(&n.name, &n.labels))
                || state.is_some_and(|s| s != n.state)
            {
                continue;
            }
            out.push(NodeInfo {
                request: open.remove(&n.name),
                name: n.name,
                labels: n.labels,
                state: n.state,
                driver: n.driver,
                since_ms: n.since_ms,
                note: n.note,
            });
        }
        Ok(out)
    }

    /// One node with its requests and (when `history` > 0) its history.
    pub fn show(&self, name: &str, history: u32) -> Result<NodeDetail, FleetError> {
        let name = name.to_owned();
        let (node, requests, hist) = self.store.fleet_read(|tx| {
            Ok((
                tx.node(&name)?,
                tx.node_requests(&name, 20)?,
                if history > 0 {
                    tx.history(&name, history)?
                } else {
                    Vec::new()
                },
            ))
        })?;
        let node = node.ok_or(FleetError::UnknownNode(name))?;
        let health = self
            .store
            .node_health(&node.name)?
            .map(|report| NodeHealth {
                current: report.at_ms >= node.since_ms,
                report,
            });
        Ok(NodeDetail {
            health,
            node: Node::from_row(node)?,
            requests: requests
                .into_iter()
                .map(Request::from_row)
                .collect::<Result<_, _>>()?,
            history: hist,
        })
    }

    /// Requests made in `[since_ms, until_ms)`, oldest first, at most
    /// `limit` (the newest when there are more).
    pub fn requests_between(
        &self,
        since_ms: i64,
        until_ms: i64,
        limit: u32,
    ) -> Result<Vec<Request>, FleetError> {
        self.store
            .fleet_read(|tx| tx.requests_between(since_ms, until_ms, limit))?
            .into_iter()
            .map(Request::from_row)
            .collect()
    }

    /// Submits requests (one transaction): each is accepted, queued (the
    /// detail names the budget and its holders), denied, or joins the
    /// node's open request.
    pub fn request(
        &self,
        reqs: Vec<NewRequest>,
    ) -> Result<Vec<Result<Answer, FleetError>>, FleetError> {
        self.txn(move |tx| {
            let now = now_ms();
            let mut w = load_world(tx, now)?;
            recheck_grants(tx, &mut w, now)?;
            let answers = w.submit(reqs, now);
            save(tx, w.take_changes())?;
            Ok(answers)
        })
    }

    /// One request.
    pub fn request_one(&self, req: NewRequest) -> Result<Answer, FleetError> {
        self.request(vec![req])?
            .pop()
            .unwrap_or_else(|| Err(FleetError::Invalid("no answer".into())))
    }

    /// What the requests would get, and the rolling schedule, without
    /// changing anything.
    pub fn dry_run(&self, reqs: Vec<NewRequest>) -> Result<DryRun, FleetError> {
        let now = now_ms();
        let mut w = self.world(now)?;
        let mut targets = Vec::new();
        for r in &reqs {
            if r.kind != Kind::Undrain
                && let Some(i) = w.node_index(&r.node)
            {
                targets.push(i);
            }
        }
        let schedule = planner::plan(&w.nodes, &w.budgets, &targets);
        let mut notes = Vec::new();
        if let Some(p) = &w.settings.pause {
            notes.push(format!(
                "the fleet is paused by {} ({}): nothing starts until `drover fleet resume`",
                p.by, p.reason
            ));
        }
        if w.settings.brake.engaged {
            notes.push(format!(
                "the storm brake is engaged ({}): automatic requests are refused",
                w.settings.brake.reason
            ));
        }
        let names = |ix: &[usize]| {
            ix.iter()
                .map(|&i| w.nodes[i].name.clone())
                .collect::<Vec<_>>()
        };
        let waves: Vec<Vec<String>> = schedule.waves.iter().map(|wv| names(wv)).collect();
        let blocked = schedule
            .blocked
            .iter()
            .map(|(i, h)| (w.nodes[*i].name.clone(), h.to_string()))
            .collect();
        let answers = w
            .submit(reqs, now)
            .into_iter()
            .map(|a| a.map_err(|e| e.to_string()))
            .collect();
        Ok(DryRun {
            answers,
            waves,
            blocked,
            notes,
        })
    }

    /// Sets a node's state directly, cancelling its open request.
    pub fn set_state(
        &self,
        node: &str,
        state: &str,
        reason: &str,
        actor: &str,
        origin: Origin,
        execution_id: Option<String>,
    ) -> Result<Answer, FleetError> {
        let to = State::parse(state)?;
        let (node, reason, actor) = (node.to_owned(), reason.to_owned(), actor.to_owned());
        self.txn(move |tx| {
            let now = now_ms();
            let mut w = load_world(tx, now)?;
            let a = w.set_state(&node, to, &reason, &actor, origin, execution_id, now)?;
            save(tx, w.take_changes())?;
            Ok(a)
        })
    }

    /// What [`set_state`](Self::set_state) would answer, changing nothing
    /// (the same change on the in-memory world, not saved).
    pub fn set_state_dry_run(
        &self,
        node: &str,
        state: &str,
        reason: &str,
        actor: &str,
        origin: Origin,
        execution_id: Option<String>,
    ) -> Result<Answer, FleetError> {
        let to = State::parse(state)?;
        let now = now_ms();
        self.world(now)?
            .set_state(node, to, reason, actor, origin, execution_id, now)
    }

    // ----- budgets ---------------------------------------------------------

    /// Creates or replaces a budget, by `by` (an actor, or a [`ChangeBy`]
    /// with the operator's reason); the change log records the rule before
    /// and after in the same transaction.
    pub fn set_budget(&self, budget: Budget, by: impl Into<ChangeBy>) -> Result<(), FleetError> {
        let by: ChangeBy = by.into();
        check_name("budget", &budget.name)?;
        match &budget.rule {
            Rule::GroupSemaphore { label, max } => {
                if label.is_empty() {
                    return Err(FleetError::Invalid(
                        "a groupsemaphore needs --label, e.g. --label rack".into(),
                    ));
                }
                if *max == 0 {
                    return Err(FleetError::Invalid(
                        "--max 0 would stop every change; use `drover fleet pause` to stop them"
                            .into(),
                    ));
                }
            }
            Rule::MaxUnavailable { max, percent } => {
                if max.is_none() && percent.is_none() || *max == Some(0) {
                    return Err(FleetError::Invalid(
                        "--max-unavailable needs a count of at least 1 or a percentage (2%)".into(),
                    ));
                }
            }
        }
        self.txn(move |tx| {
            let total = tx.nodes()?.len();
            let before = budget_spec(tx, &budget.name)?;
            let spec = serde_json::to_value(&budget.rule).map_err(StoreError::from)?;
            tx.put_budget(&BudgetRow {
                name: budget.name.clone(),
                spec: spec.clone(),
                created_at_ms: now_ms(),
                created_by: by.actor.clone(),
            })?;
            record_change(
                tx,
                &by,
                kinds::FLEET_BUDGET,
                &budget.name,
                format!("budget set: {}", budget.describe(total)),
                before,
                spec,
            )
        })
    }

    /// Removes a budget (false when there is none), by `by`; the change
    /// log records its rule in the same transaction.
    pub fn remove_budget(&self, name: &str, by: impl Into<ChangeBy>) -> Result<bool, FleetError> {
        let (name, by) = (name.to_owned(), by.into());
        self.txn(move |tx| {
            let before = budget_spec(tx, &name)?;
            let gone = tx.remove_budget(&name)?;
            if gone {
                record_change(
                    tx,
                    &by,
                    kinds::FLEET_BUDGET,
                    &name,
                    "budget removed".into(),
                    before,
                    serde_json::Value::Null,
                )?;
            }
            Ok(gone)
        })
    }

    /// Everything the Fleet page's controls show, from one reading of the
    /// fleet (each of [`Fleet::brake_status`], [`Fleet::budgets`],
    /// [`Fleet::queue`], … reads it on its own).
    pub fn panel(&self) -> Result<Panel, FleetError> {
        let now = now_ms();
        let w = self.world(now)?;
        Ok(Panel {
            brake: brake_of(&w, now),
            unhealthy: w.unhealthy_nodes(now),
            budgets: self.budgets_of(&w)?,
            queue: w.queue(now),
            windows: windows_of(&w, now),
        })
    }

    pub fn budgets(&self) -> Result<Vec<BudgetView>, FleetError> {
        self.budgets_of(&self.world(now_ms())?)
    }

    fn budgets_of(&self, w: &World) -> Result<Vec<BudgetView>, FleetError> {
        let rows = self.store.fleet_read(|tx| tx.budgets())?;
        let total = w.nodes.len();
        let holder = |i: usize| Holder {
            node: w.nodes[i].name.clone(),
            state: w.nodes[i].state,
        };
        let mut out = Vec::new();
        for b in &w.budgets {
            let one = [b.clone()];
            let usage = Usage::new(&w.nodes, &one);
            let used = usage.max_used(0);
            let row = rows.iter().find(|r| r.name == b.name);
            // Per group, the nodes out that it counts (by name: nodes are
            // listed in name order).
            let index = usage.holders_index();
            let mut all: Vec<usize> = index.values().flatten().copied().collect();
            all.sort_unstable();
            all.dedup();
            let mut groups: Vec<GroupUse> = match b.rule {
                Rule::GroupSemaphore { .. } => index
                    .iter()
                    .map(|(&(_, g), nodes)| GroupUse {
                        group: usage.group_name(0, g).to_owned(),
                        used: nodes.len() as u32,
                        limit: usage.limit_of(0),
                        full: nodes.len() as u32 >= usage.limit_of(0),
                        holders: nodes
                            .iter()
                            .take(MAX_HOLDERS_LISTED)
                            .map(|&i| holder(i))
                            .collect(),
                    })
                    .collect(),
                Rule::MaxUnavailable { .. } => Vec::new(),
            };
            groups.sort_by(|a, b| b.full.cmp(&a.full).then_with(|| a.group.cmp(&b.group)));
            out.push(BudgetView {
                name: b.name.clone(),
                rule: b.rule.clone(),
                description: b.describe(total),
                used,
                limit: b.limit(total),
                created_at_ms: row.map_or(0, |r| r.created_at_ms),
                created_by: row.map(|r| r.created_by.clone()).unwrap_or_default(),
                held_by: all.len(),
                holders: all
                    .into_iter()
                    .take(MAX_HOLDERS_LISTED)
                    .map(holder)
                    .collect(),
                groups,
            });
        }
        Ok(out)
    }

    // ----- brake, pause, windows, ladders -----------------------------------

    pub fn brake_status(&self) -> Result<BrakeStatus, FleetError> {
        let now = now_ms();
        Ok(brake_of(&self.world(now)?, now))
    }

    /// Releases the brake; returns whether it was engaged.
    pub fn release_brake(&self, actor: &str) -> Result<bool, FleetError> {
        self.release_brake_because(actor, None)
    }

    /// [`Fleet::release_brake`] with the operator's reason, audited as a
    /// change (the brake before and after).
    pub fn release_brake_because(
        &self,
        actor: &str,
        why: Option<&str>,
    ) -> Result<bool, FleetError> {
        let by = change_by(actor, why)?;
        let actor = by.actor.clone();
        let why = by.reason.clone();
        self.txn(move |tx| {
            let now = now_ms();
            let mut w = load_world(tx, now)?;
            let was = w.release_brake_because(&actor, why.as_deref(), now);
            save(tx, w.take_changes())?;
            Ok(was)
        })
    }

    /// The nodes the brake counts unhealthy now, by name.
    pub fn unhealthy_nodes(&self) -> Result<Vec<String>, FleetError> {
        let now = now_ms();
        Ok(self.world(now)?.unhealthy_nodes(now))
    }

    /// Changes settings in one transaction, by `by`: the change log
    /// records it as `subject` (`brake`, `pause`, `window NAME`...) summed
    /// up by `what`, with `part` of the settings before and after.
    pub fn edit_settings<F, P>(
        &self,
        by: impl Into<ChangeBy>,
        subject: String,
        what: String,
        part: P,
        f: F,
    ) -> Result<Settings, FleetError>
    where
        F: FnOnce(&mut Settings) -> Result<(), FleetError> + Send + 'static,
        P: Fn(&Settings) -> serde_json::Value + Send + 'static,
    {
        let by: ChangeBy = by.into();
        self.txn(move |tx| {
            let mut s = load_settings(tx)?;
            let before = part(&s);
            f(&mut s)?;
            tx.set_setting(
                SETTINGS_KEY,
                &serde_json::to_value(&s).map_err(StoreError::from)?,
                now_ms(),
            )?;
            record_change(
                tx,
                &by,
                kinds::FLEET_SETTINGS,
                &subject,
                what,
                before,
                part(&s),
            )?;
            Ok(s)
        })
    }

    pub fn settings(&self) -> Result<Settings, FleetError> {
        let s = self.store.fleet_read(|tx| {
            Ok(load_settings(tx).map_err(|e| StoreError::Corrupt(e.to_string())))
        })?;
        Ok(s?)
    }

    pub fn configure_brake(
        &self,
        threshold_percent: Option<f64>,
        window_ms: Option<i64>,
        settle_ms: Option<i64>,
        by: impl Into<ChangeBy>,
    ) -> Result<Settings, FleetError> {
        if let Some(t) = threshold_percent
            && !(t > 0.0 && t <= 100.0)
        {
            return Err(FleetError::Invalid(format!(
                "--threshold {t}%: must be above 0 and at most 100"
            )));
        }
        self.edit_settings(
            by,
            "brake".into(),
            format!(
                "brake set: threshold {threshold_percent:?}%, window {window_ms:?} ms, \
                 settle {settle_ms:?} ms"
            ),
            |s| {
                serde_json::json!({
                    "threshold_percent": s.brake.threshold_percent,
                    "window_ms": s.brake.window_ms,
                    "settle_ms": s.brake.settle_ms,
                })
            },
            move |s| {
                if let Some(t) = threshold_percent {
                    s.brake.threshold_percent = t;
                }
                if let Some(w) = window_ms {
                    s.brake.window_ms = w;
                }
                if let Some(t) = settle_ms {
                    s.brake.settle_ms = t;
                }
                Ok(())
            },
        )
    }

    /// Pauses the fleet; `reason` is the pause's and the change's.
    pub fn pause(&self, actor: &str, reason: &str) -> Result<Settings, FleetError> {
        let by = change_by(actor, Some(reason))?;
        let p = Pause {
            since_ms: now_ms(),
            by: actor.to_owned(),
            reason: reason.to_owned(),
        };
        self.edit_settings(
            by,
            "pause".into(),
            format!("fleet paused: {reason}"),
            pause_state,
            move |s| {
                s.pause = Some(p);
                Ok(())
            },
        )
    }

    pub fn resume(&self, by: impl Into<ChangeBy>) -> Result<Settings, FleetError> {
        self.edit_settings(
            by,
            "pause".into(),
            "fleet resumed".into(),
            pause_state,
            |s| {
                s.pause = None;
                Ok(())
            },
        )
    }

    pub fn add_window(
        &self,
        window: Window,
        by: impl Into<ChangeBy>,
    ) -> Result<Settings, FleetError> {
        check_name("window", &window.name)?;
        window.validate()?;
        let name = window.name.clone();
        self.edit_settings(
            by,
            format!("window {name}"),
            format!("window {name} added"),
            window_state(name.clone()),
            move |s| {
                s.windows.retain(|w| w.name != window.name);
                s.windows.push(window);
                Ok(())
            },
        )
    }

    pub fn remove_window(
        &self,
        name: &str,
        by: impl Into<ChangeBy>,
    ) -> Result<Settings, FleetError> {
        let name = name.to_owned();
        self.edit_settings(
            by,
            format!("window {name}"),
            format!("window {name} removed"),
            window_state(name.clone()),
            move |s| {
                let before = s.windows.len();
                s.windows.retain(|w| w.name != name);
                if s.windows.len() == before {
                    return Err(FleetError::UnknownWindow(name));
                }
                Ok(())
            },
        )
    }

    /// The maintenance windows, each with whether it is open now and how
    /// many nodes it covers.
    pub fn windows(&self) -> Result<Vec<WindowView>, FleetError> {
        let now = now_ms();
        Ok(windows_of(&self.world(now)?, now))
    }

    // ----- the queue ---------------------------------------------------------

    /// The open requests, oldest first, each with the gate it waits on
    /// and what cancelling it would do ([`World::queue`]).
    pub fn queue(&self) -> Result<Vec<QueueEntry>, FleetError> {
        let now = now_ms();
        Ok(self.world(now)?.queue(now))
    }

    /// Cancels an open request ([`World::cancel`]: a queued one is
    /// dropped, a node being drained is given back, a rebooting one
    /// refuses), in one transaction, audited as `fleet.cancel`. A request
    /// that ended is named with how it ended.
    pub fn cancel_request(
        &self,
        id: &str,
        actor: &str,
        reason: &str,
    ) -> Result<Cancelled, FleetError> {
        let (id, actor, reason) = (id.to_owned(), actor.to_owned(), reason.to_owned());
        self.txn(move |tx| {
            let now = now_ms();
            let mut w = load_world(tx, now)?;
            let done = match w.cancel(&id, &actor, &reason, now) {
                Err(FleetError::UnknownRequest(_)) if !id.is_empty() => match tx.request(&id)? {
                    Some(r) => {
                        let r = Request::from_row(r)?;
                        return Err(FleetError::Conflict(format!(
                            "request {id} ({} of {}) already ended ({}): nothing to cancel; {}",
                            r.kind.as_str(),
                            r.node,
                            r.status.as_str(),
                            r.detail
                        )));
                    }
                    None => return Err(FleetError::UnknownRequest(id)),
                },
                other => other?,
            };
            save(tx, w.take_changes())?;
            Ok(done)
        })
    }

    pub fn set_ladder(
        &self,
        class: &str,
        rungs: Vec<Rung>,
        by: impl Into<ChangeBy>,
    ) -> Result<Settings, FleetError> {
        check_name("class", class)?;
        let class = class.to_owned();
        let key = class.clone();
        self.edit_settings(
            by,
            format!("ladder {class}"),
            format!("escalation ladder for class {class} set"),
            move |s| serde_json::to_value(s.ladders.get(&key)).unwrap_or_default(),
            move |s| {
                s.ladders.insert(class, rungs);
                Ok(())
            },
        )
    }

    // ----- inventory ---------------------------------------------------------

    /// Imports nodes in one transaction. `replace`: nodes not in the file
    /// are removed (refused for a node with an open request). The first
    /// import replaces the default simulated fleet.
    pub fn import(
        &self,
        specs: Vec<NodeSpec>,
        replace: bool,
        actor: &str,
    ) -> Result<ImportReport, FleetError> {
        let actor = actor.to_owned();
        self.txn(move |tx| {
            let first = tx.setting(INVENTORY_KEY)?.is_none();
            let replace = replace || first;
            let existing = tx.nodes()?;
            let open = tx.open_requests()?;
            let wanted: std::collections::HashSet<&str> = specs.iter().map(|s| s.name.as_str()).collect();
            let mut report = ImportReport {
                replaced_default: first,
                ..ImportReport::default()
            };
            if replace {
                let busy: Vec<&str> = open
                    .iter()
                    .filter(|r| !wanted.contains(r.node.as_str()))
                    .map(|r| r.node.as_str())
                    .collect();
                if !busy.is_empty() {
                    return Err(FleetError::Invalid(format!(
                        "cannot remove nodes with open requests: {} (wait for them, or set their state first)",
                        busy.join(", ")
                    )));
                }
            }
            let now = now_ms();
            // Each node added, removed or changed gets a line of history:
            // the web UI's grid follows the history, and redraws whole
            // when the inventory changed.
            let line = |node: &str, event: &str, state: &str, detail: String| HistoryRow {
                id: 0,
                node: node.to_owned(),
                at_ms: now,
                event: event.to_owned(),
                from_state: state.to_owned(),
                to_state: state.to_owned(),
                request_id: None,
                actor: actor.clone(),
                detail,
            };
            if replace {
                for n in &existing {
                    if !wanted.contains(n.name.as_str()) {
                        tx.delete_node(&n.name)?;
                        tx.add_history(&line(&n.name, "removed", &n.state, "removed by an inventory import".into()))?;
                        report.removed += 1;
                    }
                }
            }
            for s in &specs {
                match existing.iter().find(|n| n.name == s.name) {
                    Some(n) => {
                        report.updated += 1;
                        if n.labels != s.labels || n.driver != s.driver || n.options != s.options {
                            tx.add_history(&line(&s.name, "updated", &n.state, "labels, driver or options changed by an inventory import".into()))?;
                        }
                    }
                    None => {
                        report.added += 1;
                        tx.add_history(&line(&s.name, "added", "production", "added by an inventory import".into()))?;
                    }
                }
                tx.upsert_node(&NodeRow {
                    name: s.name.clone(),
                    labels: s.labels.clone(),
                    state: "production".into(),
                    driver: s.driver.clone(),
                    options: s.options.clone(),
                    since_ms: now,
                    note: String::new(),
                })?;
            }
            tx.set_setting(INVENTORY_KEY, &serde_json::json!({"imported_at_ms": now, "by": actor}), now)?;
            fleet_audit(
                tx,
                &actor,
                "fleet.import",
                format!("{} added, {} updated, {} removed", report.added, report.updated, report.removed),
            )?;
            Ok(report)
        })
    }

    /// The inventory as import specs (state is not exported).
    pub fn export(&self) -> Result<Vec<NodeSpec>, FleetError> {
        Ok(self
            .store
            .list_nodes()?
            .into_iter()
            .map(|n| NodeSpec {
                name: n.name,
                labels: n.labels,
                driver: n.driver,
                options: n.options,
            })
            .collect())
    }
}

/// A budget's stored rule, `null` when there is none.
fn budget_spec(tx: &dyn FleetTx, name: &str) -> Result<serde_json::Value, FleetError> {
    Ok(tx
        .budgets()?
        .into_iter()
        .find(|b| b.name == name)
        .map_or(serde_json::Value::Null, |b| b.spec))
}

/// The pause, for a change's before and after.
fn pause_state(s: &Settings) -> serde_json::Value {
    serde_json::to_value(&s.pause).unwrap_or_default()
}

/// Window `name`, for a change's before and after.
fn window_state(name: String) -> impl Fn(&Settings) -> serde_json::Value + Send + 'static {
    move |s| serde_json::to_value(s.windows.iter().find(|w| w.name == name)).unwrap_or_default()
}

fn check_name(what: &str, name: &str) -> Result<(), FleetError> {
    if name.is_empty()
        || !name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'))
    {
        return Err(FleetError::Invalid(format!(
            "{what} name {name:?}: use letters, digits, '.', '_' and '-'"
        )));
    }
    Ok(())
}

/// What one controller tick did.
#[derive(Clone, Debug, Default, Serialize)]
pub struct TickReport {
    /// Driver calls made.
    pub actions: usize,
    /// Of which failed.
    pub failures: usize,
    /// Requests still open after the tick.
    pub open: usize,
}

/// The loop that moves nodes through their lifecycle.
pub struct Controller {
    fleet: Fleet,
    drivers: Drivers,
    secrets: Arc<dyn SecretLookup>,
    clock: Clock,
    /// Threads making driver calls in parallel.
    pub workers: usize,
}

impl Controller {
    pub fn new(store: Store, drivers: Drivers, clock: Clock) -> Controller {
        Controller {
            secrets: Arc::new(StoreSecrets(store.clone())),
            fleet: Fleet::new(store),
            drivers,
            clock,
            workers: 16,
        }
    }

    /// The standard drivers on the wall clock.
    pub fn standard(store: Store) -> Controller {
        let clock = crate::sim::wall_clock();
        Controller::new(store, Drivers::standard(clock.clone()), clock)
    }

    pub fn fleet(&self) -> &Fleet {
        &self.fleet
    }

    /// One step: deadlines, admission, the driver calls due, their answers.
    pub fn tick(&self) -> Result<TickReport, FleetError> {
        let now = (self.clock)();
        let actions = self.fleet.txn(move |tx| {
            if tx.open_requests()?.is_empty() {
                return Ok(Vec::new());
            }
            let mut w = load_world(tx, now)?;
            recheck_grants(tx, &mut w, now)?;
            let actions = w.step(now);
            save(tx, w.take_changes())?;
            Ok(actions)
        })?;
        let n = actions.len();
        let results = perform(actions, &self.drivers, self.secrets.as_ref(), self.workers);
        let failures = results.iter().filter(|(_, r)| r.is_err()).count();
        let now = (self.clock)();
        let open = self.fleet.txn(move |tx| {
            let open = tx.open_requests()?;
            if open.is_empty() {
                return Ok(0);
            }
            let mut w = load_world(tx, now)?;
            if !results.is_empty() {
                w.apply(results, now);
            }
            // Nodes that came back free budget for what waits.
            recheck_grants(tx, &mut w, now)?;
            w.admit(now);
            save(tx, w.take_changes())?;
            Ok(w.requests.iter().filter(|r| r.status.open()).count())
        })?;
        Ok(TickReport {
            actions: n,
            failures,
            open,
        })
    }

    /// Ticks until nothing is open or `limit` passes.
    pub fn run_until_idle(
        &self,
        interval: Duration,
        limit: Duration,
    ) -> Result<TickReport, FleetError> {
        let end = std::time::Instant::now() + limit;
        loop {
            let r = self.tick()?;
            if r.open == 0 || std::time::Instant::now() >= end {
                return Ok(r);
            }
            std::thread::sleep(interval);
        }
    }

    /// Runs [`Controller::tick`] every `interval` on a thread until `stop`
    /// (its node of `drover serve`'s stop tree) is stopped.
    pub fn spawn(self, interval: Duration, stop: Stop) -> std::io::Result<JoinHandle<()>> {
        std::thread::Builder::new()
            .name("drover-fleet".into())
            .spawn(move || {
                while !stop.is_stopped() {
                    match self.tick() {
                        Ok(r) if r.actions > 0 => {
                            tracing::debug!(
                                actions = r.actions,
                                failures = r.failures,
                                open = r.open,
                                "fleet tick"
                            )
                        }
                        Ok(_) => {}
                        Err(e) => tracing::error!(error = %e, "fleet controller tick failed"),
                    }
                    stop.sleep(interval);
                }
            })
    }
}

/// Makes the driver calls, up to `workers` at a time.
pub fn perform(
    actions: Vec<Action>,
    drivers: &Drivers,
    secrets: &dyn SecretLookup,
    workers: usize,
) -> Vec<(Action, ActionResult)> {
    let one = |a: &Action| -> ActionResult {
        let driver = drivers.get(&a.driver)?;
        let target = NodeTarget {
            name: &a.node,
            options: &a.options,
            secrets,
        };
        let r = match a.op {
            Op::Drain => driver.drain(&target).map(|_| true),
            Op::IsDrained => driver.is_drained(&target),
            Op::Reboot(p) => driver.reboot(&target, p).map(|_| true),
            Op::IsUp => driver.is_up(&target),
            Op::Undrain => driver.undrain(&target).map(|_| true),
        };
        r.map_err(|e| {
            tracing::warn!(node = %a.node, op = a.op.name(), error = %e, "driver call failed");
            e.to_string()
        })
    };
    let workers = workers.clamp(1, actions.len().max(1));
    if workers == 1 || actions.len() < 8 {
        return actions
            .into_iter()
            .map(|a| {
                let r = one(&a);
                (a, r)
            })
            .collect();
    }
    let next = AtomicUsize::new(0);
    let results: Vec<std::sync::Mutex<Option<ActionResult>>> = actions
        .iter()
        .map(|_| std::sync::Mutex::new(None))
        .collect();
    std::thread::scope(|s| {
        for _ in 0..workers {
            s.spawn(|| {
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    let Some(a) = actions.get(i) else { break };
                    *results[i].lock().unwrap_or_else(|p| p.into_inner()) = Some(one(a));
                }
            });
        }
    });
    actions
        .into_iter()
        .zip(results)
        .map(|(a, r)| {
            let r = r
                .into_inner()
                .unwrap_or_else(|p| p.into_inner())
                .unwrap_or_else(|| Err("not run".into()));
            (a, r)
        })
        .collect()
}
