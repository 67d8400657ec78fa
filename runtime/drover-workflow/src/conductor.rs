//! The conductor: a pure, serializable workflow state machine.
//!
//! State in, event in, new state and the tasks to run out. No I/O, no clock,
//! no randomness: the same events replayed on the same [`Workflow`] give the
//! same state, so a runtime may persist either the [`WorkflowState`]
//! (serde) or the events, or both.
//!
//! ```
//! use drover_workflow::{ActionEvent, Conductor, Status, Workflow};
//!
//! let wf = Workflow::parse("wf.yaml", "version: 1.0\ntasks:\n  hello:\n    action: core.echo message='hi'\n", None)?;
//! let mut c = Conductor::new(&wf, Default::default());
//! c.request_status(Status::Running)?;
//! for task in c.next_tasks() {
//!     c.on_action_event(&task.task_id, task.route, ActionEvent::status(Status::Running))?;
//!     c.on_action_event(&task.task_id, task.route, ActionEvent::succeeded("hi".into()))?;
//! }
//! assert_eq!(c.status(), Some(Status::Succeeded));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # Semantics
//!
//! Orquesta's `WorkflowConductor` (orquesta 1.6.0), event for event: task
//! state entries appended to a sequence, routes created at splits, joins
//! (`all` or a count) with unreachable-join errors, fail-fast with
//! remediation, engine commands processed synchronously, retries that re-stage
//! the same entry, with-items with concurrency, pause/resume/cancel, rerun of
//! failed tasks, output rendered on completion. `../shared/orquesta-fixtures`
//! is the conformance suite (see [`crate::rehearse`]).
//!
//! # Cost: O(1) amortized per event
//!
//! Upstream answers "are there active tasks?", "is this join satisfied?",
//! "which tasks are staged?" by scanning the whole task sequence or the graph
//! on every event, and serializes the whole state into every expression
//! context: O(n) per event, O(n²) per workflow. Here:
//!
//! - the graph facts are precomputed ([`crate::index`]);
//! - staged tasks live in a map keyed by (task, route), the ready ones also in
//!   an ordered set (so `next_tasks` touches only tasks that are ready);
//! - the current entry of each (task, route) is a map lookup; the counts of
//!   active/pausing/paused/canceling/canceled entries are counters updated on
//!   every status change;
//! - each join keeps, per route, the number of inbound tasks that have an
//!   entry and the number whose transition into the join is satisfied,
//!   updated when a transition is evaluated (O(1) per edge);
//! - with-items tasks keep counters of their items' statuses and a set of the
//!   items not started yet;
//! - expressions see the state through shared pointers (`Arc`), never a copy;
//!   a task's context is materialized once when it is staged (copy only when
//!   a transition publishes).
//!
//! Each event therefore costs O(out-degree of the task) for its transitions
//! (each edge is evaluated once per run of its source) plus the size of the
//! data it publishes. Rare requests (pause, cancel, rerun) cost what they
//! touch; rendering the output scans the terminal tasks once.
//!
//! # Memory: what later events read
//!
//! The state keeps every published context and task entry, as upstream's
//! does. A runner that stores each delta can have the conductor drop them
//! once stored ([`Conductor::forget_stored`]): it then holds the current
//! and terminal entries, the staged tasks, and for each of their context
//! lists a merged value and a [`patch`], so a 100,000-iteration loop holds
//! what one iteration needs.
//!
//! # The dispatch contract
//!
//! [`Conductor::next_tasks`] is level-triggered, like upstream's
//! `get_next_tasks`: a staged task is returned on every call until an event
//! for it arrives (normally `running`/`requested`), and a with-items task is
//! returned with its not-yet-started items until each has an item event. A
//! runtime that reports `running` for what it starts before asking again
//! pays O(1) per task.

mod delta;
mod held;
mod patch;
#[cfg(test)]
pub(crate) mod testing;

/// The error Orquesta logs for a task whose action failed (the cause is
/// in the action's own result or error).
pub const ACTION_FAILED: &str = "Execution failed. See result for details.";

pub use delta::{STATE_LISTS, StateDelta, StatePart};

use std::collections::{BTreeSet, HashSet};
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use self::held::Held;
use self::patch::Patch;
use crate::expr::{CurrentTask, JsonMap, Scope, StatusLookup, Template};
use crate::index::{Engine, FxMap, FxSet, GNode, IndexSet, NodeMap};
use crate::spec::{IntOrExpr, Workflow};
use crate::status::{
    self, Items, Outlook, Status, TaskEvent, WorkflowEvent, task_transition, workflow_transition,
};

/// Why the conductor refused a request or an event. The state is unchanged
/// when one of these is returned.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConductorError {
    #[error("task `{0}` does not exist in the workflow")]
    UnknownTask(String),
    #[error("task `{0}` is not staged or has not started yet")]
    NotStaged(String),
    #[error("task `{task}` has no item {item_id}")]
    InvalidItem { task: String, item_id: usize },
    #[error("unable to process event \"{event}\" for task `{task}` in \"{status}\" status")]
    InvalidTaskEvent {
        task: String,
        status: String,
        event: String,
    },
    #[error("unable to process event \"{event}\" for workflow in \"{status}\" status")]
    InvalidWorkflowEvent { status: String, event: String },
    #[error("the workflow is still active and cannot be rerun")]
    NotRerunnable,
    #[error("unable to rerun task|route(s) that do not exist: {}", .0.join(", "))]
    InvalidRerun(Vec<String>),
    #[error("the state does not belong to this workflow: {0}")]
    StateMismatch(String),
    #[error("this conductor forgot what it stored; rerun from the stored state")]
    Forgetful,
}

/// An action execution event for a task (or one item of a with-items task).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ActionEvent {
    pub status: Status,
    /// The action's result (`result()` in expressions).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub result: Option<serde_json::Value>,
    /// For with-items tasks: which item this event is for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub item_id: Option<usize>,
}

impl ActionEvent {
    /// A status change without a result (`running`, `requested`, ...).
    pub fn status(status: Status) -> ActionEvent {
        ActionEvent {
            status,
            result: None,
            item_id: None,
        }
    }

    /// Success with a result.
    pub fn succeeded(result: serde_json::Value) -> ActionEvent {
        ActionEvent {
            status: Status::Succeeded,
            result: Some(result),
            item_id: None,
        }
    }

    /// Failure with a result (the error).
    pub fn failed(result: serde_json::Value) -> ActionEvent {
        ActionEvent {
            status: Status::Failed,
            result: Some(result),
            item_id: None,
        }
    }

    /// The same event for one item of a with-items task.
    pub fn for_item(mut self, item_id: usize) -> ActionEvent {
        self.item_id = Some(item_id);
        self
    }
}

/// A task ready to run, as returned by [`Conductor::next_tasks`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TaskDispatch {
    pub task_id: String,
    pub route: u32,
    /// Seconds to wait before starting (task `delay`, or the retry delay).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub delay: Option<u64>,
    /// What to run: one request, or one per item to start now (with-items).
    /// A with-items task over an empty list has none: report `running`,
    /// then `succeeded`, for the task itself.
    pub actions: Vec<ActionRequest>,
    /// For with-items tasks: the number of items and the concurrency.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub items_count: Option<usize>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub concurrency: Option<u64>,
    /// Whether this run is a retry of the task.
    #[serde(default)]
    pub retry: bool,
}

/// One action to execute, with its rendered input.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ActionRequest {
    /// The item this request is for (with-items tasks).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub item_id: Option<usize>,
    /// The action reference; `None` for a task without an action (report it
    /// `running` then `succeeded`).
    pub action: Option<String>,
    pub input: serde_json::Value,
}

/// A task to rerun ([`Conductor::request_rerun`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RerunRequest {
    pub task_id: String,
    #[serde(default)]
    pub route: u32,
    /// For with-items tasks: rerun every item, not only the failed ones.
    #[serde(default)]
    pub reset_items: bool,
}

/// An entry of the error log, shaped as upstream's.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ErrorEntry {
    #[serde(rename = "type")]
    pub kind: String,
    pub message: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub task_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub route: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub task_transition_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub result: Option<serde_json::Value>,
}

/// The retry bookkeeping of a task state entry.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RetryState {
    /// The condition's source, if any.
    pub when: Option<String>,
    pub count: u64,
    pub delay: u64,
    /// How many times the task was retried.
    pub tally: u64,
}

/// No frame: the end of a chain.
const NO_FRAME: u32 = u32::MAX;

/// One link of a context-id list: the list is `prev`'s list plus `id`.
///
/// Upstream copies a task's whole list of context ids (`ctxs.in`) into
/// every task it leads to, so a workflow whose tasks publish holds (and
/// stores) O(n²) ids. Here lists are chains of frames in one append-only
/// table: publishing adds one frame and the lists of a chain share their
/// common prefix, so each task costs O(1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
struct Frame(u32, u32);

/// A task's list of context ids (upstream's `ctxs.in`), as the last frame
/// of its chain, and its merged value, computed once.
#[derive(Debug, Clone)]
struct CtxList {
    frame: u32,
    /// The list as stored by a drover before frames (converted by
    /// [`Conductor::resume`]).
    legacy: Option<Vec<u32>>,
    merged: Option<Arc<JsonMap>>,
    /// In a conductor that forgets: the contexts after the first (the
    /// root context, which joins and the output leave out) as one patch,
    /// so that merging them reads no forgotten context.
    rest: Option<Arc<Patch>>,
}

impl CtxList {
    fn at(frame: u32, merged: Option<Arc<JsonMap>>) -> CtxList {
        CtxList {
            frame,
            legacy: None,
            merged,
            rest: None,
        }
    }
}

impl Serialize for CtxList {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match &self.legacy {
            Some(ids) => ids.serialize(s),
            None => self.frame.serialize(s),
        }
    }
}

impl<'de> Deserialize<'de> for CtxList {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Stored {
            Frame(u32),
            Legacy(Vec<u32>),
        }
        Ok(match Stored::deserialize(d)? {
            Stored::Frame(frame) => CtxList::at(frame, None),
            Stored::Legacy(ids) => CtxList {
                frame: NO_FRAME,
                legacy: Some(ids),
                merged: None,
                rest: None,
            },
        })
    }
}

/// One run of a task on a route (upstream's task state entry).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TaskEntry {
    pub id: Arc<str>,
    pub route: u32,
    /// `None` until the first event.
    pub status: Option<Status>,
    #[serde(default, skip_serializing_if = "is_false")]
    pub term: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retry: Option<RetryState>,
    ctxs: CtxList,
    prev: Prev,
    /// Evaluated transitions, by position in the node's outbound edges.
    next: Vec<Option<bool>>,
    #[serde(skip)]
    node: u32,
}

fn is_false(b: &bool) -> bool {
    !*b
}

impl TaskEntry {
    /// Back references: `source__tk` and the index of the source's entry,
    /// in arrival order (a later pair with the same key replaces an earlier).
    pub fn prev(&self) -> &[(Arc<str>, u32)] {
        &self.prev
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct ItemsState {
    values: Arc<Vec<serde_json::Value>>,
    status: Vec<Option<Status>>,
    results: Vec<serde_json::Value>,
    #[serde(skip)]
    counts: ItemCounts,
    #[serde(skip)]
    notrun: BTreeSet<u32>,
}

#[derive(Debug, Clone, Copy, Default, PartialEq)]
struct ItemCounts {
    active: u32,
    incomplete: u32,
    paused: u32,
    canceled: u32,
    failed: u32,
}

impl ItemCounts {
    fn of(s: Option<Status>) -> ItemCounts {
        ItemCounts {
            active: u32::from(s.is_some_and(Status::is_active)),
            incomplete: u32::from(!s.is_some_and(Status::is_completed)),
            paused: u32::from(matches!(s, Some(Status::Pending | Status::Paused))),
            canceled: u32::from(s == Some(Status::Canceled)),
            failed: u32::from(s.is_some_and(Status::is_abended)),
        }
    }

    fn add(&mut self, o: ItemCounts) {
        self.active += o.active;
        self.incomplete += o.incomplete;
        self.paused += o.paused;
        self.canceled += o.canceled;
        self.failed += o.failed;
    }

    fn sub(&mut self, o: ItemCounts) {
        self.active -= o.active;
        self.incomplete -= o.incomplete;
        self.paused -= o.paused;
        self.canceled -= o.canceled;
        self.failed -= o.failed;
    }
}

impl ItemsState {
    fn new(values: Vec<serde_json::Value>) -> ItemsState {
        let n = values.len();
        let mut s = ItemsState {
            values: Arc::new(values),
            status: vec![None; n],
            results: Vec::new(),
            counts: ItemCounts::default(),
            notrun: BTreeSet::new(),
        };
        s.reindex();
        s
    }

    fn reindex(&mut self) {
        self.counts = ItemCounts::default();
        self.notrun.clear();
        for (i, st) in self.status.iter().enumerate() {
            self.counts.add(ItemCounts::of(*st));
            if st.is_none() {
                self.notrun.insert(i as u32);
            }
        }
    }

    fn set(&mut self, i: usize, s: Option<Status>) {
        self.counts.sub(ItemCounts::of(self.status[i]));
        self.counts.add(ItemCounts::of(s));
        self.status[i] = s;
        if s.is_none() {
            self.notrun.insert(i as u32);
        } else {
            self.notrun.remove(&(i as u32));
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct Staged {
    /// Staging order (upstream keeps staged tasks in a list).
    seq: u64,
    id: Arc<str>,
    route: u32,
    ctxs: CtxList,
    prev: Prev,
    ready: bool,
    #[serde(default, skip_serializing_if = "is_false")]
    completed: bool,
    #[serde(default, skip_serializing_if = "is_false")]
    run_on_fail: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    retry: Option<RetryState>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    items: Option<ItemsState>,
    #[serde(skip)]
    node: u32,
}

/// The task sequence and routes: what `task_status()` reads. Shared with
/// expression scopes through an `Arc`, so an evaluation copies nothing.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
struct Ledger {
    sequence: Held<TaskEntry>,
    routes: Vec<Vec<Arc<str>>>,
    #[serde(skip)]
    current: NodeMap<u32>,
    #[serde(skip)]
    names: Arc<FxMap<Arc<str>, u32>>,
}

impl StatusLookup for Ledger {
    fn task_status(&self, task_id: &str, route: u32) -> Option<Status> {
        let node = *self.names.get(task_id)?;
        if let Some(&i) = self.current.get(&(node, route)) {
            return self.sequence[i as usize].status;
        }
        // As upstream: fall back to the longest earlier route this one
        // extends (the task ran before the split).
        let r = route as usize;
        if r > 0 && r < self.routes.len() {
            let cur = &self.routes[r];
            for prev in (0..r).rev() {
                if self.routes[prev].iter().all(|t| cur.contains(t)) {
                    return self.task_status(task_id, prev as u32);
                }
            }
        }
        None
    }
}

#[derive(Debug, Clone, Copy, Default)]
struct JoinCount {
    /// Inbound tasks with an entry on this route.
    seen: u32,
    /// Inbound tasks whose transition into the join is satisfied.
    satisfied: u32,
}

/// Derived indexes, rebuilt on [`Conductor::resume`].
#[derive(Debug, Clone, Default)]
struct Index {
    staged: NodeMap<u32>,
    ready: FxSet<(u32, u32)>,
    active: IndexSet,
    pausing: u32,
    paused: u32,
    canceling: u32,
    canceled: u32,
    joins: NodeMap<JoinCount>,
}

/// The complete, serializable state of one workflow execution.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct WorkflowState {
    status: Option<Status>,
    input: JsonMap,
    contexts: Held<Arc<JsonMap>>,
    /// The chains of context ids (see [`Frame`]).
    #[serde(default)]
    frames: Vec<Frame>,
    ledger: Arc<Ledger>,
    staged: Slab,
    next_stage: u64,
    errors: Vec<ErrorEntry>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    output: Option<JsonMap>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    reruns: Vec<Vec<u32>>,
    /// The runner's count of task runs (its ceiling, see
    /// [`Conductor::set_task_runs`]); the conductor does not interpret it.
    #[serde(default, skip_serializing_if = "is_zero")]
    task_runs: u64,
    #[serde(skip)]
    ix: Index,
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

impl WorkflowState {
    /// The workflow's status (`None` before the first request).
    pub fn status(&self) -> Option<Status> {
        self.status
    }

    /// Every task state entry, in the order they were created. Panics for
    /// the state of a conductor that forgot stored entries
    /// ([`Conductor::forget_stored`]): read that state from the store.
    pub fn sequence(&self) -> &[TaskEntry] {
        self.ledger.sequence.whole()
    }

    /// The routes: route `i` is the list of transitions taken at splits.
    pub fn routes(&self) -> &[Vec<Arc<str>>] {
        &self.ledger.routes
    }

    /// The error log.
    pub fn errors(&self) -> &[ErrorEntry] {
        &self.errors
    }

    /// The rendered output, once the workflow completed and
    /// [`Conductor::render_output`] ran.
    pub fn output(&self) -> Option<&JsonMap> {
        self.output.as_ref()
    }

    /// The contexts (upstream's `contexts`): context 0 is input + vars, the
    /// others are what transitions published. Panics as
    /// [`WorkflowState::sequence`] does.
    pub fn contexts(&self) -> &[Arc<JsonMap>] {
        self.contexts.whole()
    }

    /// The context ids `entry` started with (upstream's `ctxs.in`).
    pub fn context_ids(&self, entry: &TaskEntry) -> Vec<u32> {
        self.ids(&entry.ctxs)
    }

    /// A list's ids, oldest first: O(its length).
    fn ids(&self, ctxs: &CtxList) -> Vec<u32> {
        if let Some(ids) = &ctxs.legacy {
            return ids.clone();
        }
        let mut ids = Vec::new();
        let mut frame = ctxs.frame;
        while frame != NO_FRAME {
            let Frame(prev, id) = self.frames[frame as usize];
            ids.push(id);
            frame = prev;
        }
        ids.reverse();
        ids
    }

    /// A new list: `prev`'s plus `id`.
    fn push_frame(&mut self, prev: u32, id: u32) -> u32 {
        self.frames.push(Frame(prev, id));
        (self.frames.len() - 1) as u32
    }
}

/// Stores `ids` (a list read from an older state) as a new chain of frames;
/// returns its last frame.
fn chain(frames: &mut Vec<Frame>, ids: Vec<u32>) -> u32 {
    ids.into_iter().fold(NO_FRAME, |prev, id| {
        frames.push(Frame(prev, id));
        (frames.len() - 1) as u32
    })
}

/// A [`WorkflowState`] bound to its [`Workflow`]: every operation goes
/// through here.
#[derive(Debug)]
pub struct Conductor<'w> {
    wf: &'w Workflow,
    st: WorkflowState,
    /// What [`Conductor::take_delta`] has handed out.
    marks: delta::Marks,
    /// Set by [`Conductor::forget_stored`].
    forget: Option<Forget>,
}

/// What a conductor that forgets tracks.
#[derive(Debug, Default)]
struct Forget {
    /// A list could not be given its patch: contexts stay in memory.
    hold_contexts: bool,
    /// Older entries kept as their task's current one and replaced since
    /// the last delta: dropped after the next one, which may have to
    /// store their last change.
    replaced: Vec<u32>,
}

enum Ev {
    Action(ActionEvent),
    Engine(TaskEvent),
}

impl Ev {
    fn status(&self) -> Status {
        match self {
            Ev::Action(a) => a.status,
            Ev::Engine(TaskEvent::Fail) => Status::Failed,
            Ev::Engine(TaskEvent::Retry) => Status::Retrying,
            Ev::Engine(_) => Status::Succeeded,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Inbound {
    Satisfied,
    InProgress,
    NotSatisfied,
}

type Key = (u32, u32);

impl<'w> Conductor<'w> {
    /// Starts an execution: renders the input (defaults only; runtime values
    /// are data and never rendered) and the vars, and stages the start tasks.
    /// The status is unset until [`Conductor::request_status`]`(Running)`;
    /// a rendering error leaves it `failed` with the error logged.
    pub fn new(wf: &'w Workflow, inputs: JsonMap) -> Conductor<'w> {
        let ledger = Ledger {
            names: wf.graph.by_name.clone(),
            ..Ledger::default()
        };
        let st = WorkflowState {
            status: None,
            input: inputs,
            contexts: Held::default(),
            frames: Vec::new(),
            ledger: Arc::new(ledger),
            staged: Slab::default(),
            next_stage: 0,
            errors: Vec::new(),
            output: None,
            reruns: Vec::new(),
            task_runs: 0,
            ix: Index::default(),
        };
        let mut c = Conductor {
            wf,
            st,
            marks: delta::Marks::full(),
            forget: None,
        };
        let mut ctx = JsonMap::new();
        let mut errors = Vec::new();
        for p in &wf.input {
            let value = match (c.st.input.get(&p.name), &p.default) {
                (Some(v), _) => Ok(v.clone()),
                (None, Some(d)) => d.eval(&Scope::with_vars(Arc::new(ctx.clone()))),
                (None, None) => Ok(serde_json::Value::Null),
            };
            match value {
                Ok(v) => {
                    ctx.insert(p.name.clone(), v);
                }
                Err(e) => errors.push(e.message),
            }
        }
        for v in &wf.vars {
            match v.value.eval(&Scope::with_vars(Arc::new(ctx.clone()))) {
                Ok(val) => {
                    ctx.insert(v.name.clone(), val);
                }
                Err(e) => errors.push(e.message),
            }
        }
        if !errors.is_empty() {
            for e in errors {
                c.log_error(format!("ExpressionEvaluationError: {e}"), None, None, None);
            }
            let _ = c.request_status(Status::Failed);
            return c;
        }
        let ctx = Arc::new(ctx);
        c.st.contexts.push(ctx.clone());
        c.ledger_mut().routes.push(Vec::new());
        let root_frame = c.st.push_frame(NO_FRAME, 0);
        for &root in &wf.graph.roots {
            let ctxs = CtxList::at(root_frame, Some(ctx.clone()));
            c.add_staged(root, 0, ctxs, Prev::new(), true, None);
        }
        c
    }

    /// Binds a deserialized state to its workflow and rebuilds the indexes
    /// (O(size of the state), once).
    pub fn resume(
        wf: &'w Workflow,
        mut st: WorkflowState,
    ) -> Result<Conductor<'w>, ConductorError> {
        let g = &wf.graph;
        let node_of = |id: &str| {
            g.node(id)
                .ok_or_else(|| ConductorError::StateMismatch(format!("unknown task `{id}`")))
        };
        // Stored by a drover before frames: the next delta rewrites it all.
        let mut legacy = false;
        {
            let ledger = Arc::make_mut(&mut st.ledger);
            ledger.names = g.by_name.clone();
            ledger.current.clear();
            for (_, e) in ledger.sequence.iter_mut() {
                if let Some(ids) = e.ctxs.legacy.take() {
                    legacy = true;
                    e.ctxs.frame = chain(&mut st.frames, ids);
                }
            }
            for (i, e) in ledger.sequence.iter_mut() {
                e.node = node_of(&e.id)?;
                if e.next.len() != g.nodes[e.node as usize].out.len() {
                    return Err(ConductorError::StateMismatch(format!(
                        "transitions of `{}` differ",
                        e.id
                    )));
                }
                ledger.current.insert((e.node, e.route), i as u32);
            }
        }
        for s in st.staged.values_mut() {
            if let Some(ids) = s.ctxs.legacy.take() {
                legacy = true;
                s.ctxs.frame = chain(&mut st.frames, ids);
            }
            s.node = node_of(&s.id)?;
            if let Some(items) = &mut s.items {
                items.reindex();
            }
        }
        st.ix = Index::default();
        let marks = if legacy {
            delta::Marks::full()
        } else {
            delta::Marks::stored(&st)
        };
        let mut c = Conductor {
            wf,
            st,
            marks,
            forget: None,
        };
        for (k, s) in c.st.staged.iter() {
            c.st.ix.staged.insert((s.node, s.route), k);
            if s.ready && !s.completed {
                c.st.ix.ready.insert((s.node, s.route));
            }
        }
        let current: Vec<(Key, u32)> = c.st.ledger.current.iter().map(|(k, v)| (k, *v)).collect();
        for (key, idx) in current {
            let status = c.st.ledger.sequence[idx as usize].status;
            c.count_status(idx, status, true);
            for (j, positions) in &c.wf.graph.nodes[key.0 as usize].barrier_targets {
                let jc = c.st.ix.joins.entry_or_default((*j, key.1));
                jc.seen += 1;
                let e = &c.st.ledger.sequence[idx as usize];
                if positions.iter().any(|&p| e.next[p as usize] == Some(true)) {
                    jc.satisfied += 1;
                }
            }
        }
        Ok(c)
    }

    /// The workflow.
    pub fn workflow(&self) -> &'w Workflow {
        self.wf
    }

    /// The state.
    pub fn state(&self) -> &WorkflowState {
        &self.st
    }

    /// Gives the state back (to persist it).
    pub fn into_state(self) -> WorkflowState {
        self.st
    }

    /// Holds in memory only what later events can read, for a runner that
    /// stores every [`Conductor::take_delta`]: from now on each delta also
    /// drops the contexts and task entries it hands out that nothing will
    /// read again. Entries stay while they are their task's current one,
    /// running or terminal; lists merge forgotten contexts through their
    /// patches ([`patch`]); frames stay (8 bytes per published context: a
    /// join appends a list's ids). So a loop holds what one iteration
    /// needs, not its history, while what it stores is unchanged.
    ///
    /// What needs the whole state is then refused: serializing it,
    /// [`WorkflowState::sequence`], [`Conductor::take_full_delta`],
    /// [`Conductor::request_rerun`]. Read the stored state instead.
    pub fn forget_stored(&mut self) {
        if self.forget.is_some() {
            return;
        }
        let mut forget = Forget::default();
        // Every list still read gets its merged value and patch now, while
        // its contexts are all here.
        let staged: Vec<u32> = self.st.staged.iter().map(|(k, _)| k).collect();
        for k in staged {
            match self.cached(&self.st.staged[k].ctxs) {
                Some(ctxs) => self.st.staged.get_mut(k).expect("listed").ctxs = ctxs,
                None => forget.hold_contexts = true,
            }
        }
        let ledger = &self.st.ledger;
        let read: Vec<usize> = ledger
            .sequence
            .iter()
            .filter(|(i, e)| read_again(&ledger.current, *i, e))
            .map(|(i, _)| i)
            .collect();
        for i in read {
            match self.cached(&self.entry(i as u32).ctxs) {
                Some(ctxs) => self.ledger_mut().sequence[i].ctxs = ctxs,
                None => forget.hold_contexts = true,
            }
        }
        self.forget = Some(forget);
    }

    /// `ctxs` with its merged value and patch, from its contexts; `None`
    /// if it does not start with the root context (no state has such a
    /// list; its contexts then stay).
    fn cached(&self, ctxs: &CtxList) -> Option<CtxList> {
        if ctxs.merged.is_some() && ctxs.rest.is_some() {
            return Some(ctxs.clone());
        }
        let ids = self.st.ids(ctxs);
        if ids.first().is_some_and(|&i| i != 0) {
            return None;
        }
        let mut rest = Patch::default();
        for &i in ids.iter().skip(1) {
            rest.push(&self.st.contexts[i as usize]);
        }
        Some(CtxList {
            frame: ctxs.frame,
            legacy: ctxs.legacy.clone(),
            merged: Some(self.materialize_list(ctxs)),
            rest: Some(Arc::new(rest)),
        })
    }

    /// After a delta, in a conductor that forgets: drops what it handed
    /// out that no later event reads (O(what it drops)).
    fn drop_stored(&mut self) {
        let Some(forget) = &mut self.forget else {
            return;
        };
        let ledger = Arc::make_mut(&mut self.st.ledger);
        let len = ledger.sequence.len();
        let current = &ledger.current;
        for i in forget.replaced.drain(..) {
            let i = i as usize;
            if ledger
                .sequence
                .get(i)
                .is_some_and(|e| !read_again(current, i, e))
            {
                ledger.sequence.drop_kept(i);
            }
        }
        ledger
            .sequence
            .forget(len, |i, e| read_again(current, i, e));
        if !forget.hold_contexts {
            let len = self.st.contexts.len();
            self.st.contexts.forget(len, |_, _| false);
        }
    }

    /// The workflow's status (`None` before the first request).
    pub fn status(&self) -> Option<Status> {
        self.st.status
    }

    /// The error log.
    pub fn errors(&self) -> &[ErrorEntry] {
        &self.st.errors
    }

    /// The task runs the runner counted so far (stored with the state).
    pub fn task_runs(&self) -> u64 {
        self.st.task_runs
    }

    /// Records the runner's count of task runs, kept with the state so a
    /// ceiling on them survives parking and restarts.
    pub fn set_task_runs(&mut self, n: u64) {
        self.st.task_runs = n;
    }

    /// The rendered output, if any.
    pub fn output(&self) -> Option<&JsonMap> {
        self.st.output.as_ref()
    }

    /// The latest status of `task_id` on `route` (with upstream's route
    /// fallback), `None` if it never ran.
    pub fn task_status(&self, task_id: &str, route: u32) -> Option<Status> {
        self.st.ledger.task_status(task_id, route)
    }

    /// The terminal entries (`term`), with their index in the sequence.
    pub fn terminal_tasks(&self) -> Vec<(usize, &TaskEntry)> {
        self.st
            .ledger
            .sequence
            .iter()
            .filter(|(_, e)| e.term)
            .collect()
    }

    // ----- requests -----------------------------------------------------

    /// Requests a workflow status: `running` to start, `pausing`/`paused`,
    /// `resuming`/`running` to resume, `canceling`/`canceled`, `failed`.
    /// The request is pushed to every active task first (a with-items task
    /// pauses or cancels with its items).
    pub fn request_status(&mut self, status: Status) -> Result<(), ConductorError> {
        let current = self.st.status;
        let refused = || ConductorError::InvalidWorkflowEvent {
            status: status::opt_str(current).into(),
            event: format!("workflow_{status}"),
        };
        if matches!(
            current,
            Some(Status::Expired | Status::Abandoned | Status::Retrying | Status::Pending)
        ) {
            return Err(refused());
        }
        // Push the request to every active task first.
        let active: Vec<u32> = self.st.ix.active.iter().collect();
        for idx in active {
            let (node, route, cur) = {
                let e = &self.st.ledger.sequence[idx as usize];
                (e.node, e.route, e.status)
            };
            let items = if status.is_pause() || status.is_cancel() {
                self.staged(node, route)
                    .and_then(|s| s.items.as_ref())
                    .map(|i| (i.counts.active > 0, i.counts.incomplete > 0))
            } else {
                None
            };
            if let Ok(Some(new)) = task_transition(cur, TaskEvent::Workflow(status, items)) {
                self.set_status(idx, Some(new));
            }
        }
        let ix = &self.st.ix;
        let event = WorkflowEvent::Request {
            status,
            active: (status.is_pause() || status.is_cancel()).then_some(!ix.active.is_empty()),
            completed: current == Some(Status::Paused)
                && matches!(status, Status::Running | Status::Resuming)
                && ix.active.is_empty()
                && ix.ready.is_empty()
                && ix.paused == 0,
        };
        if let Ok(Some(new)) = workflow_transition(current, event) {
            self.st.status = Some(new);
        }
        let updated = self.st.status;
        if (status == Status::Paused && current == Some(Status::Pausing) && updated == current)
            || (status == Status::Canceled
                && current == Some(Status::Canceling)
                && updated == current)
        {
            return Ok(());
        }
        if Some(status) != current && current == updated {
            return Err(refused());
        }
        Ok(())
    }

    /// The tasks to run now, sorted by (task id, route). See the module docs
    /// for the dispatch contract. A task whose input fails to render fails
    /// the workflow (every such error is logged) and nothing is returned.
    pub fn next_tasks(&mut self) -> Vec<TaskDispatch> {
        let status = self.st.status;
        let candidates: Vec<Key> = if status == Some(Status::Failed) {
            let mut remediation: Vec<Key> = self
                .st
                .ix
                .ready
                .iter()
                .copied()
                .filter(|k| self.staged(k.0, k.1).is_some_and(|s| s.run_on_fail))
                .collect();
            remediation.sort_unstable();
            if remediation.is_empty() {
                return Vec::new();
            }
            remediation
        } else if status.is_some_and(Status::is_running) {
            let mut ready: Vec<Key> = self.st.ix.ready.iter().copied().collect();
            ready.sort_unstable();
            ready
        } else {
            return Vec::new();
        };
        let mut out = Vec::new();
        let mut failed = false;
        for (node, route) in candidates {
            match self.render_task(node, route) {
                Ok(Some(d)) => out.push(d),
                Ok(None) => {}
                Err(msg) => {
                    failed = true;
                    let id = self.wf.graph.nodes[node as usize].name.to_string();
                    self.log_error(msg, Some(id), Some(route), None);
                }
            }
        }
        if failed {
            let _ = self.request_status(Status::Failed);
            return Vec::new();
        }
        out
    }

    /// Processes an action event for `task_id` on `route`.
    pub fn on_action_event(
        &mut self,
        task_id: &str,
        route: u32,
        event: ActionEvent,
    ) -> Result<(), ConductorError> {
        let node = self
            .wf
            .graph
            .node(task_id)
            .ok_or_else(|| ConductorError::UnknownTask(task_id.into()))?;
        if self.wf.graph.nodes[node as usize].engine.is_some() {
            return Err(ConductorError::UnknownTask(task_id.into()));
        }
        // Refuse up front what upstream would crash on half-way.
        let staged = self.staged(node, route);
        let entry = self
            .current(node, route)
            .map(|i| &self.st.ledger.sequence[i as usize]);
        if staged.is_none() && entry.is_none() {
            return Err(ConductorError::NotStaged(task_id.into()));
        }
        if let Some(item_id) = event.item_id {
            let ok = staged
                .and_then(|s| s.items.as_ref())
                .is_some_and(|i| item_id < i.status.len());
            if !ok {
                return Err(ConductorError::InvalidItem {
                    task: task_id.into(),
                    item_id,
                });
            }
        }
        let fresh = match entry {
            None => true,
            Some(e) => e.status.is_some_and(Status::is_completed) && event.status.is_starting(),
        };
        if fresh && staged.is_none() {
            return Err(ConductorError::NotStaged(task_id.into()));
        }
        let cur = if fresh {
            None
        } else {
            entry.and_then(|e| e.status)
        };
        let refused = || ConductorError::InvalidTaskEvent {
            task: task_id.into(),
            status: status::opt_str(cur).into(),
            event: format!("action_{}", event.status),
        };
        match task_transition(cur, TaskEvent::Action(event.status, None)) {
            Err(()) => return Err(refused()),
            // A task must be started (requested, running, ...) first.
            Ok(None) if cur.is_none() => return Err(refused()),
            Ok(_) => {}
        }
        self.update(node, route, Ev::Action(event));
        Ok(())
    }

    /// Reruns a completed workflow: the given task runs (or, with none
    /// given, every terminal task that failed), terminal tasks with satisfied
    /// transitions continue, and the status becomes `resuming`.
    pub fn request_rerun(&mut self, requests: &[RerunRequest]) -> Result<(), ConductorError> {
        if self.forget.is_some() {
            return Err(ConductorError::Forgetful);
        }
        if !self.st.status.is_some_and(Status::is_completed) {
            return Err(ConductorError::NotRerunnable);
        }
        let mut tasks: Vec<(Key, &RerunRequest)> = Vec::new();
        let mut invalid = Vec::new();
        for r in requests {
            let key = self.wf.graph.node(&r.task_id).map(|n| (n, r.route));
            match key.filter(|k| self.st.ledger.current.contains_key(k)) {
                Some(k) => match tasks.iter_mut().find(|(x, _)| *x == k) {
                    Some(slot) => slot.1 = r,
                    None => tasks.push((k, r)),
                },
                None => invalid.push(format!("{}|{}", r.task_id, r.route)),
            }
        }
        if !invalid.is_empty() {
            return Err(ConductorError::InvalidRerun(invalid));
        }
        let mut candidates: Vec<(Key, u32)> = Vec::new();
        if tasks.is_empty() {
            for (i, e) in self.st.ledger.sequence.iter() {
                if e.term && e.status.is_some_and(Status::is_abended) {
                    let key = (e.node, e.route);
                    match candidates.iter_mut().find(|(k, _)| *k == key) {
                        Some(slot) => slot.1 = i as u32,
                        None => candidates.push((key, i as u32)),
                    }
                }
            }
        } else {
            let seqs: Vec<BTreeSet<u32>> = tasks
                .iter()
                .map(|(k, _)| self.task_sequence(k.0, k.1).into_iter().collect())
                .collect();
            for (i, (k, _)) in tasks.iter().enumerate() {
                let keep = tasks.len() == 1 || seqs.iter().any(|other| !seqs[i].is_subset(other));
                if keep {
                    candidates.push((*k, self.st.ledger.current[k]));
                }
            }
        }
        self.st
            .reruns
            .push(candidates.iter().map(|(_, i)| *i).collect());
        candidates.sort_by_key(|(k, _)| *k);
        for (key, _) in candidates {
            let reset = tasks
                .iter()
                .find(|(k, _)| *k == key)
                .is_some_and(|(_, r)| r.reset_items);
            self.rerun_task(key.0, key.1, reset);
        }
        let continuable: Vec<u32> = self
            .st
            .ledger
            .sequence
            .iter()
            .filter(|(_, e)| e.term && e.next.contains(&Some(true)))
            .map(|(i, _)| i as u32)
            .collect();
        for i in continuable {
            self.entry_mut(i).term = false;
        }
        self.st.output = None;
        self.st.status = Some(Status::Resuming);
        Ok(())
    }

    /// Renders the output once the workflow completed (upstream renders it
    /// from the merged contexts of the terminal tasks). An error is logged
    /// and fails the workflow.
    pub fn render_output(&mut self) {
        let status = self.st.status;
        if !status.is_some_and(Status::is_completed)
            || self.st.output.as_ref().is_some_and(|o| !o.is_empty())
        {
            return;
        }
        let mut ctx: Option<JsonMap> = None;
        for (_, e) in self.st.ledger.sequence.iter().filter(|(_, e)| e.term) {
            match (&mut ctx, &e.ctxs.rest) {
                (None, _) => ctx = Some((*self.materialize_list(&e.ctxs)).clone()),
                (Some(c), Some(rest)) => rest.apply(c),
                (Some(c), None) => {
                    let ids = self.st.ids(&e.ctxs);
                    let skip = usize::from(ids.first() == Some(&0));
                    for &i in &ids[skip..] {
                        merge_into(c, &self.st.contexts[i as usize]);
                    }
                }
            }
        }
        let mut scope = self.scope(Arc::new(ctx.unwrap_or_default()), None);
        let mut outputs = JsonMap::new();
        let mut errors = Vec::new();
        for o in &self.wf.output {
            scope.overlay = Some(Arc::new(outputs.clone()));
            match o.value.eval(&scope) {
                Ok(v) => {
                    outputs.insert(o.name.clone(), v);
                }
                Err(e) => errors.push(e.message),
            }
        }
        if !outputs.is_empty() {
            self.st.output = Some(outputs);
        }
        if !errors.is_empty() {
            for e in errors {
                self.log_error(format!("ExpressionEvaluationError: {e}"), None, None, None);
            }
            if !matches!(
                status,
                Some(Status::Expired | Status::Abandoned | Status::Canceled)
            ) {
                let _ = self.request_status(Status::Failed);
            }
        }
    }

    // ----- the event loop (upstream's update_task_state) ----------------

    fn update(&mut self, node: u32, route: u32, ev: Ev) {
        let wf = self.wf;
        let gnode = &wf.graph.nodes[node as usize];
        let task_id = gnode.name.clone();
        let has_items = gnode.task.is_some_and(|t| wf.tasks[t as usize].has_items());
        let ev_status = ev.status();

        let mut staged_key = self.st.ix.staged.get(&(node, route)).copied();
        let staged_has_items = staged_key.is_some_and(|k| self.st.staged[k].items.is_some());
        // A staged task without items leaves staging on any event (upstream
        // removes it right after creating the entry from it): take it.
        let taken = if staged_has_items {
            None
        } else {
            staged_key
                .take()
                .and_then(|_| self.take_staged(node, route))
        };
        let from_staged = |c: &mut Self| -> Option<(u32, CtxList, Prev)> {
            match (&taken, staged_key) {
                (Some(s), _) => Some((s.route, s.ctxs.clone(), s.prev.clone())),
                (None, Some(k)) => {
                    let s = &c.st.staged[k];
                    Some((s.route, s.ctxs.clone(), s.prev.clone()))
                }
                (None, None) => None,
            }
        };
        let mut idx = match self.current(node, route) {
            Some(i) if gnode.engine.is_none() => i,
            _ => {
                let Some((r, c, p)) = from_staged(self) else {
                    return;
                };
                self.add_task_state(node, r, c, p)
            }
        };
        if self.entry(idx).status.is_some_and(Status::is_completed) && ev_status.is_starting() {
            let Some((r, c, p)) = from_staged(self) else {
                return;
            };
            idx = self.add_task_state(node, r, c, p);
        }
        drop(taken);

        // Item bookkeeping and the item context of the event.
        let mut task_event = match &ev {
            Ev::Action(a) => TaskEvent::Action(a.status, None),
            Ev::Engine(e) => *e,
        };
        let mut item_event = false;
        if let Ev::Action(a) = &ev
            && let (Some(item_id), Some(k)) = (a.item_id, staged_key)
            && let Some(items) = self.st.staged.get_mut(k).and_then(|s| s.items.as_mut())
        {
            item_event = true;
            items.set(item_id, Some(a.status));
            if items.results.len() <= item_id {
                items.results.resize(item_id + 1, serde_json::Value::Null);
            }
            items.results[item_id] = a.result.clone().unwrap_or(serde_json::Value::Null);
            if matches!(
                a.status,
                Status::Resuming
                    | Status::Pending
                    | Status::Paused
                    | Status::Succeeded
                    | Status::Failed
                    | Status::Expired
                    | Status::Abandoned
                    | Status::Canceled
            ) {
                let mut others = items.counts;
                others.sub(ItemCounts::of(Some(a.status)));
                let active = others.active > 0;
                let kind = if !active && others.paused > 0 {
                    Items::Paused
                } else if !active && others.canceled > 0 {
                    Items::Canceled
                } else if !active && others.failed > 0 {
                    Items::Failed
                } else if others.incomplete > 0 {
                    Items::Incomplete
                } else {
                    Items::Completed
                };
                task_event = TaskEvent::Action(a.status, Some((active, kind)));
            }
        }
        if ev_status == Status::Failed {
            let result = match &ev {
                Ev::Action(a) => a.result.clone().filter(|r| !r.is_null()),
                Ev::Engine(_) => None,
            };
            self.log_entry(ErrorEntry {
                kind: "error".into(),
                message: ACTION_FAILED.into(),
                task_id: Some(task_id.to_string()),
                route: None,
                task_transition_id: None,
                result,
            });
        }

        let old = self.entry(idx).status;
        if let Ok(Some(new)) = task_transition(old, task_event) {
            self.set_status(idx, Some(new));
        }
        let new = self.entry(idx).status;

        if new == Some(Status::Retrying) {
            let entry = self.entry_mut(idx);
            if let Some(r) = &mut entry.retry {
                r.tally += 1;
            }
            let (c, p, r) = (entry.ctxs.clone(), entry.prev.clone(), entry.retry.clone());
            self.remove_staged(node, route);
            self.add_staged(node, route, c, p, true, r);
        }

        let mut completion = None;
        if new.is_some_and(Status::is_completed) {
            // The task's result: the action's, or the list of item results.
            let result = match &ev {
                Ev::Engine(_) => None,
                Ev::Action(_) if item_event => staged_key
                    .and_then(|k| self.st.staged.get(k))
                    .and_then(|s| s.items.as_ref())
                    .map(|i| serde_json::Value::Array(i.results.clone())),
                Ev::Action(a) if has_items => Some(
                    a.result
                        .clone()
                        .filter(truthy)
                        .unwrap_or_else(|| serde_json::Value::Array(Vec::new())),
                ),
                Ev::Action(a) => a.result.clone(),
            };
            if has_items && new.is_some_and(Status::is_abended) {
                if let Some(k) = self.st.ix.staged.get(&(node, route)).copied() {
                    self.set_staged_flags(k, None, Some(true));
                }
            } else {
                self.remove_staged(node, route);
            }
            let vars = self.materialize(idx);
            let task = CurrentTask {
                id: task_id.clone(),
                route,
                status: new,
                result: result.map(Arc::new),
            };
            if self.st.status.is_some_and(Status::is_active) && self.retry_due(idx, &vars, &task) {
                return self.update(node, route, Ev::Engine(TaskEvent::Retry));
            }
            completion = Some((vars, task));
        }

        let mut engine_queue: Vec<Key> = Vec::new();
        if let Some((vars, task)) = completion
            && new != old
        {
            self.transitions(node, route, idx, vars, task, &mut engine_queue);
            // Its merged context served its transitions; the tasks they
            // staged hold what they need. Keeping it would cost a map per
            // task run (a rerun merges it again from the frames). A
            // conductor that forgets cannot merge it again: it keeps it
            // while the entry is current ([`Conductor::add_task_state`]).
            if self.forget.is_none() {
                self.ledger_mut().sequence[idx as usize].ctxs.merged = None;
            }
        }

        self.workflow_task_event(node, route, idx);

        for (n, r) in engine_queue {
            let cmd = match wf.graph.nodes[n as usize].engine {
                Some(Engine::Continue) => TaskEvent::Continue,
                Some(Engine::Fail) => TaskEvent::Fail,
                _ => TaskEvent::Noop,
            };
            self.update(n, r, Ev::Engine(cmd));
        }

        if self.st.status.is_some_and(Status::is_completed) {
            self.entry_mut(idx).term = true;
        }
    }

    fn transitions(
        &mut self,
        node: u32,
        route: u32,
        idx: u32,
        vars: Arc<JsonMap>,
        task: CurrentTask,
        engine_queue: &mut Vec<Key>,
    ) {
        let wf = self.wf;
        let g = &wf.graph;
        let gnode = &g.nodes[node as usize];
        let Some(spec) = gnode.task.map(|t| &wf.tasks[t as usize]) else {
            self.entry_mut(idx).term = true;
            return;
        };
        if gnode.out.is_empty() {
            self.entry_mut(idx).term = true;
        }
        let mut has_manual_fail = false;
        let mut staged_next: Vec<Key> = Vec::new();
        for (pos, &e) in gnode.out.iter().enumerate() {
            let edge = &g.edges[e as usize];
            // A scope per evaluation: it shares the ledger, which must not be
            // shared while it is written to below (that would copy it).
            let scope = self.scope(vars.clone(), Some(task.clone()));
            let satisfied = match &edge.when {
                None => Ok(true),
                Some(w) => w.eval(&scope).map(|v| truthy(&v)),
            };
            let satisfied = match satisfied {
                Ok(s) => s,
                Err(err) => {
                    drop(scope);
                    let msg = format!("ExpressionEvaluationError: {}", err.message);
                    self.log_error(
                        msg,
                        Some(gnode.name.to_string()),
                        Some(route),
                        Some(edge.tid.to_string()),
                    );
                    let _ = self.request_status(Status::Failed);
                    continue;
                }
            };
            // Publish (upstream's finalize_context).
            let mut published = JsonMap::new();
            let mut errors = Vec::new();
            let mut rolling = scope;
            let publish = if satisfied {
                &spec.next[edge.transition as usize].publish[..]
            } else {
                &[]
            };
            for p in publish {
                rolling.overlay = Some(Arc::new(published.clone()));
                match p.value.eval(&rolling) {
                    Ok(v) => {
                        published.insert(p.name.clone(), v);
                    }
                    Err(err) => errors.push(err.message),
                }
            }
            drop(rolling);
            self.set_next(idx, pos as u32, satisfied);
            if !satisfied {
                continue;
            }
            if !errors.is_empty() {
                for msg in errors {
                    let msg = format!("ExpressionEvaluationError: {msg}");
                    self.log_error(
                        msg,
                        Some(gnode.name.to_string()),
                        Some(route),
                        Some(edge.tid.to_string()),
                    );
                }
                let _ = self.request_status(Status::Failed);
                continue;
            }
            let mut out = self.entry(idx).ctxs.clone();
            if !published.is_empty() {
                let base = self.materialize_list(&out);
                let published = Arc::new(published);
                self.st.contexts.push(published.clone());
                let cid = (self.st.contexts.len() - 1) as u32;
                let frame = self.st.push_frame(out.frame, cid);
                let mut merged = (*base).clone();
                merge_into(&mut merged, &published);
                let rest = out.rest.as_ref().map(|r| {
                    let mut r = (**r).clone();
                    r.push(&published);
                    Arc::new(r)
                });
                out = CtxList {
                    rest,
                    ..CtxList::at(frame, Some(Arc::new(merged)))
                };
            }
            let target = edge.target;
            let next_route = self.evaluate_route(edge.target, &edge.backref, route);
            let key = match self.st.ix.staged.get(&(target, next_route)).copied() {
                Some(k) => {
                    // Extend the staged task's context with this branch's
                    // (minus the root context, as upstream).
                    let mut ids: Vec<u32> = self.st.ids(&out);
                    if let Some(p) = ids.iter().position(|&i| i == 0) {
                        ids.remove(p);
                    }
                    if !ids.is_empty() {
                        // Merge in place: the staged task usually holds the
                        // only reference, so a join of n branches costs O(n).
                        let current = &mut self.st.staged.get_mut(k).expect("indexed").ctxs;
                        let mut frame = current.frame;
                        let mut rest = current.rest.take();
                        let mut merged = match current.merged.take() {
                            Some(m) => m,
                            None => self.materialize_ids(&self.st.ids(&CtxList::at(frame, None))),
                        };
                        let target = Arc::make_mut(&mut merged);
                        match (&mut rest, &out.rest) {
                            // A conductor that forgets: its contexts may
                            // be gone, their patch is not.
                            (Some(r), Some(add)) => {
                                add.apply(target);
                                Arc::make_mut(r).then(add);
                            }
                            _ => {
                                rest = None;
                                for &i in &ids {
                                    merge_into(target, &self.st.contexts[i as usize]);
                                }
                            }
                        }
                        for &i in &ids {
                            frame = self.st.push_frame(frame, i);
                        }
                        self.st.staged.get_mut(k).expect("indexed").ctxs = CtxList {
                            rest,
                            ..CtxList::at(frame, Some(merged))
                        };
                    }
                    let s = self.st.staged.get_mut(k).expect("indexed");
                    s.prev.push((edge.backref.clone(), idx));
                    s.items = None;
                    self.set_staged_flags(k, None, Some(false));
                    k
                }
                None => {
                    let prev = vec![(edge.backref.clone(), idx)];
                    self.add_staged(target, next_route, out, prev, false, None)
                }
            };
            let tnode = &g.nodes[target as usize];
            let ready = tnode.join.is_none() || self.inbound(target, route) == Inbound::Satisfied;
            self.set_staged_flags(key, Some(ready), None);
            if tnode.engine.is_some() {
                engine_queue.push((target, self.st.staged[key].route));
                has_manual_fail |= tnode.engine == Some(Engine::Fail);
            } else if ready {
                staged_next.push((target, next_route));
            }
        }
        if has_manual_fail {
            for (n, r) in staged_next {
                if let Some(k) = self.st.ix.staged.get(&(n, r)).copied() {
                    self.st.staged.get_mut(k).expect("indexed").run_on_fail = true;
                }
            }
        }
    }

    /// Feeds a task's new status to the workflow state machine.
    fn workflow_task_event(&mut self, node: u32, route: u32, idx: u32) {
        let Some(status) = self.entry(idx).status else {
            return;
        };
        let has_barrier_next = self.has_next(node, route, false);
        let has_next = self.has_next(node, route, true);
        let remediated = status.is_abended() && (has_next || has_barrier_next);
        let conditional = remediated
            || matches!(
                status,
                Status::Pending
                    | Status::Paused
                    | Status::Succeeded
                    | Status::Failed
                    | Status::Canceled
                    | Status::Retrying
            );
        let ix = &self.st.ix;
        let outlook = (remediated || status == Status::Succeeded).then_some({
            if ix.canceling > 0 || ix.canceled > 0 {
                Outlook::Canceled
            } else if ix.pausing > 0 || ix.paused > 0 {
                Outlook::Paused
            } else if !ix.ready.is_empty() || has_next {
                Outlook::Incomplete
            } else {
                Outlook::Completed
            }
        });
        let event = WorkflowEvent::Task {
            status,
            remediated,
            active: conditional.then_some(!ix.active.is_empty()),
            outlook,
        };
        let Ok(Some(new)) = workflow_transition(self.st.status, event) else {
            return;
        };
        self.st.status = Some(new);
        if new.is_completed() {
            let mut staged: Vec<&Staged> = self.st.staged.values().collect();
            staged.sort_by_key(|s| s.seq);
            let unreachable: Vec<(u32, u32)> = staged
                .into_iter()
                .filter(|s| !s.ready && self.wf.graph.nodes[s.node as usize].join.is_some())
                .filter(|s| self.inbound(s.node, s.route) == Inbound::NotSatisfied)
                .map(|s| (s.node, s.route))
                .collect();
            if !unreachable.is_empty() {
                self.st.status = Some(Status::Failed);
                for (n, r) in unreachable {
                    let id = self.wf.graph.nodes[n as usize].name.to_string();
                    let msg = format!(
                        "UnreachableJoinError: The join task|route \"{id}|{r}\" is partially satisfied but unreachable."
                    );
                    self.log_error(msg, Some(id), Some(r), None);
                }
            }
        }
    }

    fn has_next(&self, node: u32, route: u32, eval_join_ready: bool) -> bool {
        let Some(idx) = self.current(node, route) else {
            return false;
        };
        let e = self.entry(idx);
        if !e.status.is_some_and(Status::is_completed) {
            return false;
        }
        let g = &self.wf.graph;
        for (pos, &edge) in g.nodes[node as usize].out.iter().enumerate() {
            let target = g.edges[edge as usize].target;
            let tnode = &g.nodes[target as usize];
            if tnode.engine == Some(Engine::Continue) || e.next[pos] != Some(true) {
                continue;
            }
            if tnode.join.is_some() {
                if !eval_join_ready {
                    return true;
                }
                if self.inbound(target, route) == Inbound::NotSatisfied {
                    continue;
                }
            }
            return true;
        }
        false
    }

    /// Upstream's get_inbound_criteria_status, from the join counters.
    fn inbound(&self, node: u32, route: u32) -> Inbound {
        let n = &self.wf.graph.nodes[node as usize];
        let jc = self
            .st
            .ix
            .joins
            .get(&(node, route))
            .copied()
            .unwrap_or_default();
        if jc.satisfied >= n.requirement {
            Inbound::Satisfied
        } else if jc.seen < n.sources
            && (!self.st.ix.active.is_empty() || !self.st.ix.ready.is_empty())
        {
            Inbound::InProgress
        } else {
            Inbound::NotSatisfied
        }
    }

    fn evaluate_route(&mut self, target: u32, backref: &Arc<str>, route: u32) -> u32 {
        let t = &self.wf.graph.nodes[target as usize];
        if !t.split || t.in_cycle {
            return route;
        }
        let old = &self.st.ledger.routes[route as usize];
        if old.contains(backref) {
            return route;
        }
        let mut new = old.clone();
        new.push(backref.clone());
        let ledger = self.ledger_mut();
        ledger.routes.push(new);
        (ledger.routes.len() - 1) as u32
    }

    fn retry_due(&mut self, idx: u32, vars: &Arc<JsonMap>, task: &CurrentTask) -> bool {
        let e = self.entry(idx);
        let Some(r) = &e.retry else { return false };
        if r.tally >= r.count {
            return false;
        }
        let when = self.wf.graph.nodes[e.node as usize]
            .retry
            .as_ref()
            .and_then(|s| s.when.clone());
        let Some(when) = when else {
            return e.status.is_some_and(Status::is_abended);
        };
        let result = when.eval(&self.scope(vars.clone(), Some(task.clone())));
        match result {
            Ok(v) => truthy(&v),
            Err(err) => {
                let (id, route) = (task.id.to_string(), task.route);
                self.log_error(
                    format!("ExpressionEvaluationError: {}", err.message),
                    Some(id),
                    Some(route),
                    None,
                );
                let _ = self.request_status(Status::Failed);
                false
            }
        }
    }

    fn rerun_task(&mut self, node: u32, route: u32, reset_items: bool) {
        let idx = self.st.ledger.current[&(node, route)];
        let (ctxs, prev, id) = {
            let e = self.entry_mut(idx);
            e.term = false;
            (e.ctxs.clone(), e.prev.clone(), e.id.clone())
        };
        if let Some(k) = self.st.ix.staged.get(&(node, route)).copied() {
            self.set_staged_flags(k, None, Some(false));
        }
        self.st
            .errors
            .retain(|e| e.task_id.as_deref() != Some(&*id));
        let has_items = self.wf.graph.nodes[node as usize]
            .task
            .is_some_and(|t| self.wf.tasks[t as usize].has_items());
        if has_items {
            if let Some(k) = self.st.ix.staged.get(&(node, route)).copied()
                && let Some(items) = self.st.staged.get_mut(k).and_then(|s| s.items.as_mut())
            {
                for i in 0..items.status.len() {
                    if reset_items || items.status[i].is_some_and(Status::is_abended) {
                        items.set(i, None);
                    }
                }
            }
        } else {
            self.add_task_state(node, route, ctxs.clone(), prev.clone());
            self.add_staged(node, route, ctxs, prev, true, None);
        }
        for i in self.task_sequence(node, route) {
            self.entry_mut(i).term = false;
        }
    }

    /// Upstream's get_task_sequence: the current entry and every entry that
    /// a run of (node, route) led to directly.
    fn task_sequence(&self, node: u32, route: u32) -> Vec<u32> {
        let seq = &self.st.ledger.sequence;
        let mut out = vec![self.st.ledger.current[&(node, route)]];
        for (i, e) in seq.iter() {
            for v in last_wins(&e.prev) {
                let p = &seq[v as usize];
                if p.node == node && p.route == route {
                    out.push(i as u32);
                }
            }
        }
        out
    }

    // ----- rendering ----------------------------------------------------

    fn render_task(&mut self, node: u32, route: u32) -> Result<Option<TaskDispatch>, String> {
        let wf = self.wf;
        let g = &wf.graph;
        let gnode: &GNode = &g.nodes[node as usize];
        let key = self.st.ix.staged[&(node, route)];
        let staged = &self.st.staged[key];
        let ctxs = staged.ctxs.clone();
        let retry = staged.retry.clone();
        let vars = self.materialize_list(&ctxs);
        let status = self.current(node, route).and_then(|i| self.entry(i).status);
        let mut scope = self.scope(
            vars,
            Some(CurrentTask {
                id: gnode.name.clone(),
                route,
                status,
                result: None,
            }),
        );
        let spec = gnode.task.map(|t| &wf.tasks[t as usize]);
        let render_err =
            |e: crate::expr::ExprError| format!("ExpressionEvaluationError: {}", e.message);
        let mut delay = match spec.and_then(|s| s.delay.as_ref()) {
            Some(IntOrExpr::Int(0)) | None => None,
            Some(d) => Some(eval_int(d, &scope).map_err(|m| {
                format!("TypeError: The value of task delay is not type of integer. {m}")
            })?),
        };
        let render_one = |scope: &Scope, item_id: Option<usize>| -> Result<ActionRequest, String> {
            let action = match spec.and_then(|s| s.action.as_ref()) {
                None => None,
                Some(a) => Some(match a.eval(scope).map_err(render_err)? {
                    serde_json::Value::String(s) => s,
                    other => crate::expr::display(&other),
                }),
            };
            let input = match spec.and_then(|s| s.input.as_ref()) {
                None => serde_json::Value::Object(JsonMap::new()),
                Some(i) => match i.eval(scope).map_err(render_err)? {
                    v @ serde_json::Value::Object(_) => v,
                    other => {
                        return Err(format!(
                            "TypeError: the input of task `{}` is not a mapping: {other}",
                            gnode.name
                        ));
                    }
                },
            };
            Ok(ActionRequest {
                item_id,
                action,
                input,
            })
        };
        let mut dispatch = TaskDispatch {
            task_id: String::from(&*gnode.name),
            route,
            delay: None,
            actions: Vec::new(),
            items_count: None,
            concurrency: None,
            retry: retry.is_some(),
        };
        match spec.and_then(|s| s.with.as_ref()) {
            None => dispatch.actions.push(render_one(&scope, None)?),
            Some(with) => {
                let needs_items = self.st.staged[key]
                    .items
                    .as_ref()
                    .is_none_or(|i| i.status.is_empty());
                if needs_items {
                    let items = match with.items.eval(&scope).map_err(render_err)? {
                        serde_json::Value::Array(items) => items,
                        _ => {
                            return Err(format!(
                                "TypeError: The value of \"{}\" is not type of list.",
                                with.items.source()
                            ));
                        }
                    };
                    let items = match &with.keys {
                        None => items,
                        Some(keys) => items
                            .into_iter()
                            .map(|item| match item {
                                serde_json::Value::Array(values) => serde_json::Value::Object(
                                    keys.iter().cloned().zip(values).collect(),
                                ),
                                other if keys.len() == 1 => serde_json::Value::Object(
                                    JsonMap::from_iter([(keys[0].clone(), other)]),
                                ),
                                other => other,
                            })
                            .collect(),
                    };
                    self.st.staged.get_mut(key).expect("indexed").items =
                        Some(ItemsState::new(items));
                }
                let concurrency = match &with.concurrency {
                    None => None,
                    Some(c) => Some(
                        eval_int(c, &scope)
                            .map_err(|m| {
                                format!(
                                    "TypeError: The value of concurrency is not an integer. {m}"
                                )
                            })?
                            .max(1),
                    ),
                };
                let items = self.st.staged[key].items.as_ref().expect("set above");
                let selected: Vec<u32> = match concurrency {
                    Some(c) => {
                        let available = c.saturating_sub(u64::from(items.counts.active)) as usize;
                        items.notrun.iter().copied().take(available).collect()
                    }
                    None => items.notrun.iter().copied().collect(),
                };
                let values = items.values.clone();
                dispatch.items_count = Some(values.len());
                dispatch.concurrency = concurrency;
                for i in selected {
                    scope.item = Some(values[i as usize].clone());
                    dispatch.actions.push(render_one(&scope, Some(i as usize))?);
                }
            }
        }
        if let Some(r) = &retry {
            delay = Some(r.delay);
        }
        dispatch.delay = delay;
        let empty_items = dispatch.items_count == Some(0);
        Ok((!dispatch.actions.is_empty() || empty_items).then_some(dispatch))
    }

    // ----- bookkeeping --------------------------------------------------

    fn scope(&self, vars: Arc<JsonMap>, task: Option<CurrentTask>) -> Scope {
        Scope {
            vars,
            overlay: None,
            task,
            item: None,
            statuses: Some(self.st.ledger.clone() as Arc<dyn StatusLookup>),
        }
    }

    fn ledger_mut(&mut self) -> &mut Ledger {
        Arc::make_mut(&mut self.st.ledger)
    }

    fn entry(&self, idx: u32) -> &TaskEntry {
        &self.st.ledger.sequence[idx as usize]
    }

    fn entry_mut(&mut self, idx: u32) -> &mut TaskEntry {
        self.marks.dirty.insert(idx);
        &mut self.ledger_mut().sequence[idx as usize]
    }

    fn current(&self, node: u32, route: u32) -> Option<u32> {
        self.st.ledger.current.get(&(node, route)).copied()
    }

    fn staged(&self, node: u32, route: u32) -> Option<&Staged> {
        self.st
            .ix
            .staged
            .get(&(node, route))
            .map(|&k| &self.st.staged[k])
    }

    fn materialize(&mut self, idx: u32) -> Arc<JsonMap> {
        let ctxs = self.entry(idx).ctxs.clone();
        if let Some(m) = ctxs.merged {
            return m;
        }
        let m = self.materialize_ids(&self.st.ids(&ctxs));
        self.entry_mut(idx).ctxs.merged = Some(m.clone());
        m
    }

    fn materialize_list(&self, ctxs: &CtxList) -> Arc<JsonMap> {
        match &ctxs.merged {
            Some(m) => m.clone(),
            None => self.materialize_ids(&self.st.ids(ctxs)),
        }
    }

    fn materialize_ids(&self, ids: &[u32]) -> Arc<JsonMap> {
        if let [one] = ids {
            return self.st.contexts[*one as usize].clone();
        }
        let mut merged = JsonMap::new();
        for &i in ids {
            merge_into(&mut merged, &self.st.contexts[i as usize]);
        }
        Arc::new(merged)
    }

    fn add_task_state(&mut self, node: u32, route: u32, ctxs: CtxList, prev: Prev) -> u32 {
        let wf = self.wf;
        let gnode = &wf.graph.nodes[node as usize];
        let mut entry = TaskEntry {
            id: gnode.name.clone(),
            route,
            status: None,
            term: false,
            retry: None,
            ctxs,
            prev,
            next: vec![None; gnode.out.len()],
            node,
        };
        if let Some(spec) = &gnode.retry {
            let scope = Scope::with_vars(self.materialize_list(&entry.ctxs));
            let mut int = |v: &IntOrExpr, what: &str| match eval_int(v, &scope) {
                Ok(i) => Some(i),
                Err(m) => {
                    let msg = format!(
                        "ValueError: The retry {what} for task \"{}\" is not an integer. {m}",
                        gnode.name
                    );
                    self.st.errors.push(ErrorEntry {
                        kind: "error".into(),
                        message: msg,
                        task_id: Some(gnode.name.to_string()),
                        route: Some(route),
                        task_transition_id: None,
                        result: None,
                    });
                    None
                }
            };
            let count = int(&spec.count, "count");
            let delay = spec.delay.as_ref().map(|d| int(d, "delay"));
            entry.retry = Some(RetryState {
                when: spec.when.as_ref().map(|w| w.source().to_string()),
                count: count.unwrap_or(0),
                delay: delay.flatten().unwrap_or(0),
                tally: 0,
            });
        }
        let old = self.current(node, route);
        if let Some(old) = old {
            let status = self.entry(old).status;
            self.count_status(old, status, false);
            self.join_contribution(old, false);
            // No longer current: only the output may read its context
            // again, if it is terminal.
            let e = &mut self.ledger_mut().sequence[old as usize];
            if !e.term && status.is_some_and(Status::is_completed) {
                e.ctxs.merged = None;
                e.ctxs.rest = None;
            }
        }
        let ledger = self.ledger_mut();
        ledger.sequence.push(entry);
        let idx = (ledger.sequence.len() - 1) as u32;
        ledger.current.insert((node, route), idx);
        if let (Some(old), Some(forget)) = (old, &mut self.forget) {
            forget.replaced.push(old);
        }
        if old.is_none() {
            for (j, _) in &wf.graph.nodes[node as usize].barrier_targets {
                self.st.ix.joins.entry_or_default((*j, route)).seen += 1;
            }
        }
        idx
    }

    /// Adds or removes a current entry's "satisfied" contribution to the
    /// joins it feeds.
    fn join_contribution(&mut self, idx: u32, add: bool) {
        let wf = self.wf;
        let e = &self.st.ledger.sequence[idx as usize];
        for (j, positions) in &wf.graph.nodes[e.node as usize].barrier_targets {
            if positions.iter().any(|&p| e.next[p as usize] == Some(true)) {
                let jc = self.st.ix.joins.entry_or_default((*j, e.route));
                if add {
                    jc.satisfied += 1;
                } else {
                    jc.satisfied -= 1;
                }
            }
        }
    }

    fn set_next(&mut self, idx: u32, pos: u32, value: bool) {
        let (node, route) = {
            let e = self.entry(idx);
            (e.node, e.route)
        };
        let g = &self.wf.graph;
        let target = g.edges[g.nodes[node as usize].out[pos as usize] as usize].target;
        let join = g.nodes[node as usize]
            .barrier_targets
            .iter()
            .find(|(j, _)| *j == target);
        let before = join.map(|(_, ps)| {
            ps.iter()
                .any(|&p| self.entry(idx).next[p as usize] == Some(true))
        });
        self.entry_mut(idx).next[pos as usize] = Some(value);
        if let (Some((j, ps)), Some(before)) = (join, before) {
            let after = ps
                .iter()
                .any(|&p| self.entry(idx).next[p as usize] == Some(true));
            if before != after {
                let jc = self.st.ix.joins.entry_or_default((*j, route));
                if after {
                    jc.satisfied += 1;
                } else {
                    jc.satisfied -= 1;
                }
            }
        }
    }

    fn set_status(&mut self, idx: u32, status: Option<Status>) {
        let old = self.entry(idx).status;
        if old == status {
            return;
        }
        self.count_status(idx, old, false);
        self.entry_mut(idx).status = status;
        self.count_status(idx, status, true);
    }

    fn count_status(&mut self, idx: u32, status: Option<Status>, add: bool) {
        let Some(s) = status else { return };
        let ix = &mut self.st.ix;
        if s.is_active() {
            if add {
                ix.active.insert(idx);
            } else {
                ix.active.remove(idx);
            }
        }
        let counter = match s {
            Status::Pausing => &mut ix.pausing,
            Status::Paused | Status::Pending => &mut ix.paused,
            Status::Canceling => &mut ix.canceling,
            Status::Canceled => &mut ix.canceled,
            _ => return,
        };
        if add {
            *counter += 1;
        } else {
            *counter -= 1;
        }
    }

    fn add_staged(
        &mut self,
        node: u32,
        route: u32,
        ctxs: CtxList,
        prev: Prev,
        ready: bool,
        retry: Option<RetryState>,
    ) -> u32 {
        if let Some(old) = self.st.ix.staged.remove(&(node, route)) {
            self.st.staged.remove(old);
        }
        let seq = self.st.next_stage;
        self.st.next_stage += 1;
        let id = self.wf.graph.nodes[node as usize].name.clone();
        let key = self.st.staged.insert(Staged {
            seq,
            id,
            route,
            ctxs,
            prev,
            ready,
            completed: false,
            run_on_fail: false,
            retry,
            items: None,
            node,
        });
        self.st.ix.staged.insert((node, route), key);
        if ready {
            self.st.ix.ready.insert((node, route));
        }
        key
    }

    /// Removes a staged task without items and returns it.
    fn take_staged(&mut self, node: u32, route: u32) -> Option<Staged> {
        let key = self.st.ix.staged.remove(&(node, route))?;
        self.st.ix.ready.remove(&(node, route));
        self.st.staged.remove(key)
    }

    fn remove_staged(&mut self, node: u32, route: u32) {
        let Some(key) = self.st.ix.staged.get(&(node, route)).copied() else {
            return;
        };
        let s = &self.st.staged[key];
        if s.items.as_ref().is_some_and(|i| i.counts.active > 0) {
            return;
        }
        self.st.staged.remove(key);
        self.st.ix.staged.remove(&(node, route));
        self.st.ix.ready.remove(&(node, route));
    }

    fn set_staged_flags(&mut self, key: u32, ready: Option<bool>, completed: Option<bool>) {
        let s = self.st.staged.get_mut(key).expect("indexed");
        if let Some(r) = ready {
            s.ready = r;
        }
        if let Some(c) = completed {
            s.completed = c;
        }
        let k = (s.node, s.route);
        if s.ready && !s.completed {
            self.st.ix.ready.insert(k);
        } else {
            self.st.ix.ready.remove(&k);
        }
    }

    fn log_error(
        &mut self,
        message: String,
        task_id: Option<String>,
        route: Option<u32>,
        tid: Option<String>,
    ) {
        self.log_entry(ErrorEntry {
            kind: "error".into(),
            message,
            task_id,
            route,
            task_transition_id: tid,
            result: None,
        });
    }

    fn log_entry(&mut self, entry: ErrorEntry) {
        if !self.st.errors.contains(&entry) {
            self.st.errors.push(entry);
        }
    }
}

/// Whether entry `i` may be read by a later event: it is its task's current
/// entry, has not completed, or is terminal (the output merges its context).
fn read_again(current: &NodeMap<u32>, i: usize, e: &TaskEntry) -> bool {
    e.term
        || !e.status.is_some_and(Status::is_completed)
        || current.get(&(e.node, e.route)) == Some(&(i as u32))
}

/// Back references of an entry (upstream's `prev` dict): appended in
/// arrival order; a later pair with the same key replaces an earlier one.
type Prev = Vec<(Arc<str>, u32)>;

/// The values of `prev` with upstream's dict semantics (last write wins).
fn last_wins(prev: &Prev) -> Vec<u32> {
    let mut seen: HashSet<&str> = HashSet::new();
    let mut out: Vec<u32> = prev
        .iter()
        .rev()
        .filter(|(k, _)| seen.insert(k))
        .map(|(_, v)| *v)
        .collect();
    out.reverse();
    out
}

/// The staged tasks: a slab (O(1) insert/remove, dense), serialized as a
/// list in staging order.
#[derive(Debug, Clone, Default)]
struct Slab {
    items: Vec<Option<Staged>>,
    free: Vec<u32>,
}

impl Slab {
    fn insert(&mut self, s: Staged) -> u32 {
        match self.free.pop() {
            Some(k) => {
                self.items[k as usize] = Some(s);
                k
            }
            None => {
                self.items.push(Some(s));
                (self.items.len() - 1) as u32
            }
        }
    }

    fn remove(&mut self, k: u32) -> Option<Staged> {
        let s = self.items.get_mut(k as usize)?.take();
        if s.is_some() {
            self.free.push(k);
        }
        s
    }

    fn get(&self, k: u32) -> Option<&Staged> {
        self.items.get(k as usize)?.as_ref()
    }

    fn get_mut(&mut self, k: u32) -> Option<&mut Staged> {
        self.items.get_mut(k as usize)?.as_mut()
    }

    fn iter(&self) -> impl Iterator<Item = (u32, &Staged)> {
        self.items
            .iter()
            .enumerate()
            .filter_map(|(k, s)| Some((k as u32, s.as_ref()?)))
    }

    fn values(&self) -> impl Iterator<Item = &Staged> {
        self.items.iter().flatten()
    }

    fn values_mut(&mut self) -> impl Iterator<Item = &mut Staged> {
        self.items.iter_mut().flatten()
    }
}

impl std::ops::Index<u32> for Slab {
    type Output = Staged;
    fn index(&self, k: u32) -> &Staged {
        self.get(k).expect("a staged task")
    }
}

impl Serialize for Slab {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut staged: Vec<&Staged> = self.values().collect();
        staged.sort_by_key(|x| x.seq);
        staged.serialize(s)
    }
}

impl<'de> Deserialize<'de> for Slab {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let items = Vec::<Staged>::deserialize(d)?
            .into_iter()
            .map(Some)
            .collect();
        Ok(Slab {
            items,
            free: Vec::new(),
        })
    }
}

fn eval_int(v: &IntOrExpr, scope: &Scope) -> Result<u64, String> {
    match v {
        IntOrExpr::Int(i) => Ok(*i),
        IntOrExpr::Expr(t) => match t.eval(scope) {
            Ok(serde_json::Value::Number(n)) if n.is_u64() => Ok(n.as_u64().unwrap_or_default()),
            Ok(serde_json::Value::Number(n)) if n.is_i64() => Ok(0),
            Ok(other) => Err(format!("got {other}")),
            Err(e) => Err(e.message),
        },
    }
}

/// Python truthiness of a JSON value.
fn truthy(v: &serde_json::Value) -> bool {
    match v {
        serde_json::Value::Null => false,
        serde_json::Value::Bool(b) => *b,
        serde_json::Value::Number(n) => n.as_f64().is_some_and(|f| f != 0.0),
        serde_json::Value::String(s) => !s.is_empty(),
        serde_json::Value::Array(a) => !a.is_empty(),
        serde_json::Value::Object(o) => !o.is_empty(),
    }
}

/// Upstream's `merge_dicts(left, right, overwrite=True)`: nested mappings
/// merge, everything else is replaced.
fn merge_into(left: &mut JsonMap, right: &JsonMap) {
    for (k, v) in right {
        match (left.get_mut(k), v) {
            (Some(serde_json::Value::Object(l)), serde_json::Value::Object(r)) => merge_into(l, r),
            _ => {
                left.insert(k.clone(), v.clone());
            }
        }
    }
}

#[allow(dead_code)]
fn _assert_template_send_sync(t: Template) -> impl Send + Sync {
    t
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::testing::{Deltas, Lean};
    use super::*;

    fn wf(text: &str) -> Workflow {
        Workflow::parse("wf.yaml", text, None).unwrap_or_else(|e| panic!("{e}"))
    }

    fn start(wf: &Workflow) -> Conductor<'_> {
        let mut c = Conductor::new(wf, JsonMap::new());
        c.request_status(Status::Running).unwrap();
        c
    }

    fn run(c: &mut Conductor<'_>, task: &str, status: Status) {
        c.on_action_event(task, 0, ActionEvent::status(Status::Running))
            .unwrap();
        c.on_action_event(
            task,
            0,
            ActionEvent {
                status,
                result: None,
                item_id: None,
            },
        )
        .unwrap();
    }

    const JOIN: &str = "version: 1.0\ntasks:\n  s:\n    action: x\n    next: [{do: 'a, b, c'}]\n  a:\n    action: x\n    next: [{when: '{{ succeeded() }}', do: j}]\n  b:\n    action: x\n    next: [{when: '{{ succeeded() }}', do: j}]\n  c:\n    action: x\n    next: [{when: '{{ succeeded() }}', do: j}]\n  j:\n    join: 2\n    action: x\n";

    #[test]
    fn join_counters_follow_the_inbound_transitions() {
        let w = wf(JOIN);
        let j = w.graph.node("j").unwrap();
        let mut c = start(&w);
        c.next_tasks();
        run(&mut c, "s", Status::Succeeded);
        assert_eq!(c.next_tasks().len(), 3);
        for t in ["a", "b", "c"] {
            c.on_action_event(t, 0, ActionEvent::status(Status::Running))
                .unwrap();
        }
        let count = |c: &Conductor<'_>| c.st.ix.joins.get(&(j, 0)).map(|x| (x.seen, x.satisfied));
        assert_eq!(count(&c), Some((3, 0)));
        c.on_action_event("a", 0, ActionEvent::succeeded(json!(1)))
            .unwrap();
        assert_eq!(count(&c), Some((3, 1)));
        assert_eq!(c.inbound(j, 0), Inbound::NotSatisfied);
        assert!(c.next_tasks().is_empty());
        c.on_action_event("b", 0, ActionEvent::failed(json!(1)))
            .unwrap();
        assert_eq!(count(&c), Some((3, 1)));
        c.on_action_event("c", 0, ActionEvent::succeeded(json!(1)))
            .unwrap();
        assert_eq!(count(&c), Some((3, 2)));
        assert_eq!(c.inbound(j, 0), Inbound::Satisfied);
        // b failed without remediation: the workflow failed fast, so the
        // join is not handed out.
        assert_eq!(c.status(), Some(Status::Failed));
        assert!(c.next_tasks().is_empty());
    }

    #[test]
    fn item_counters_track_statuses() {
        let mut items = ItemsState::new(vec![json!(1), json!(2), json!(3)]);
        assert_eq!(
            items.counts,
            ItemCounts {
                incomplete: 3,
                ..ItemCounts::default()
            }
        );
        items.set(0, Some(Status::Running));
        items.set(1, Some(Status::Failed));
        assert_eq!(
            items.counts,
            ItemCounts {
                active: 1,
                incomplete: 2,
                failed: 1,
                ..ItemCounts::default()
            }
        );
        assert_eq!(items.notrun.iter().copied().collect::<Vec<_>>(), [2]);
        items.set(1, None);
        assert_eq!(items.notrun.iter().copied().collect::<Vec<_>>(), [1, 2]);
        let mut again = items.clone();
        again.reindex();
        assert_eq!(again.counts, items.counts);
    }

    #[test]
    fn retry_restages_the_same_entry() {
        let w = wf(
            "version: 1.0\ntasks:\n  t:\n    action: x\n    retry: {count: 2, when: '{{ failed() }}'}\n",
        );
        let mut c = start(&w);
        c.next_tasks();
        run(&mut c, "t", Status::Failed);
        run(&mut c, "t", Status::Failed);
        assert_eq!(c.st.ledger.sequence.len(), 1);
        assert_eq!(
            c.st.ledger.sequence[0].retry.as_ref().map(|r| r.tally),
            Some(2)
        );
        assert_eq!(c.status(), Some(Status::Running));
        run(&mut c, "t", Status::Failed);
        assert_eq!(c.status(), Some(Status::Failed));
        assert!(c.next_tasks().is_empty());
    }

    #[test]
    fn resume_rebuilds_every_index() {
        let w = wf(JOIN);
        let mut c = start(&w);
        c.next_tasks();
        run(&mut c, "s", Status::Succeeded);
        c.next_tasks();
        c.on_action_event("a", 0, ActionEvent::status(Status::Running))
            .unwrap();
        c.on_action_event("a", 0, ActionEvent::succeeded(json!(null)))
            .unwrap();
        c.on_action_event("b", 0, ActionEvent::status(Status::Running))
            .unwrap();
        let text = serde_json::to_string(c.state()).unwrap();
        let r = Conductor::resume(&w, serde_json::from_str(&text).unwrap()).unwrap();
        let mut ready: Vec<_> = r.st.ix.ready.iter().copied().collect();
        let mut want: Vec<_> = c.st.ix.ready.iter().copied().collect();
        ready.sort_unstable();
        want.sort_unstable();
        assert_eq!(ready, want);
        assert_eq!(
            r.st.ix.active.iter().collect::<Vec<_>>(),
            c.st.ix.active.iter().collect::<Vec<_>>()
        );
        let j = w.graph.node("j").unwrap();
        let counts = |c: &Conductor<'_>| c.st.ix.joins.get(&(j, 0)).map(|x| (x.seen, x.satisfied));
        assert_eq!(counts(&r), counts(&c));
        assert_eq!(serde_json::to_string(r.state()).unwrap(), text);
    }

    /// A loop that publishes a counter: the state grows by a constant per
    /// iteration (upstream's `ctxs.in` lists made it O(n²)).
    fn publishing_loop_state(n: u64) -> usize {
        let text = format!(
            "version: 1.0\nvars:\n  - count: 0\ntasks:\n  init:\n    action: x\n    next: [{{do: step}}]\n  step:\n    action: x\n    next:\n      - when: '{{{{ ctx().count < {n} }}}}'\n        publish: [{{count: '{{{{ ctx().count + 1 }}}}'}}]\n        do: step\n"
        );
        let w = wf(&text);
        let mut c = start(&w);
        c.next_tasks();
        run(&mut c, "init", Status::Succeeded);
        for _ in 0..=n {
            assert_eq!(c.next_tasks().len(), 1);
            run(&mut c, "step", Status::Succeeded);
        }
        assert_eq!(c.status(), Some(Status::Succeeded));
        assert_eq!(c.state().contexts().last().unwrap()["count"], json!(n));
        serde_json::to_string(c.state()).unwrap().len()
    }

    #[test]
    fn a_publishing_loop_has_linear_state() {
        let (small, large) = (publishing_loop_state(1_000), publishing_loop_state(4_000));
        let ratio = large as f64 / small as f64;
        assert!(
            ratio < 4.6,
            "4x the iterations, {ratio:.2}x the state ({small} -> {large} bytes)"
        );
    }

    /// A state stored before frames (lists of context ids in every entry)
    /// resumes with the same lists.
    #[test]
    fn states_with_id_lists_resume() {
        let w = wf(
            "version: 1.0\ntasks:\n  a:\n    action: x\n    next: [{publish: [{x: 1}], do: b}]\n  b:\n    action: x\n    next: [{publish: [{y: 2}], do: c}]\n  c:\n    action: x\n",
        );
        let mut c = start(&w);
        c.next_tasks();
        run(&mut c, "a", Status::Succeeded);
        c.next_tasks();
        run(&mut c, "b", Status::Succeeded);
        let ids: Vec<Vec<u32>> = c
            .state()
            .sequence()
            .iter()
            .map(|e| c.state().context_ids(e))
            .collect();
        assert_eq!(ids, [vec![0], vec![0, 1]]);
        // Rewrite the state as an older drover stored it.
        let mut old = serde_json::to_value(c.state()).unwrap();
        old.as_object_mut().unwrap().remove("frames");
        for (e, ids) in old["ledger"]["sequence"]
            .as_array_mut()
            .unwrap()
            .iter_mut()
            .zip(&ids)
        {
            e["ctxs"] = json!(ids);
        }
        for s in old["staged"].as_array_mut().unwrap() {
            if !s.is_null() {
                s["ctxs"] = json!([0, 1, 2]);
            }
        }
        let st: WorkflowState = serde_json::from_value(old).unwrap();
        let mut r = Conductor::resume(&w, st).unwrap();
        let again: Vec<Vec<u32>> = r
            .state()
            .sequence()
            .iter()
            .map(|e| r.state().context_ids(e))
            .collect();
        assert_eq!(again, ids);
        r.next_tasks();
        run(&mut r, "c", Status::Succeeded);
        assert_eq!(r.status(), Some(Status::Succeeded));
        assert_eq!(
            r.state().context_ids(r.state().sequence().last().unwrap()),
            [0, 1, 2]
        );
    }

    /// Deltas put back together are the state, at every step and across a
    /// resume; what they write per task stays flat.
    #[test]
    fn deltas_rebuild_the_state() {
        let text = "version: 1.0\nvars:\n  - count: 0\ntasks:\n  init:\n    action: x\n    next: [{do: step}]\n  step:\n    action: x\n    next:\n      - when: '{{ ctx().count < 300 }}'\n        publish: [{count: '{{ ctx().count + 1 }}'}]\n        do: step\n";
        let w = wf(text);
        let mut store = Deltas::default();
        let mut c = start(&w);
        store.apply(c.take_delta());
        c.next_tasks();
        run(&mut c, "init", Status::Succeeded);
        let mut per_task = Vec::new();
        for i in 0..=300 {
            if i == 150 {
                // Resume from what the deltas stored, as a runner does.
                let st: WorkflowState = serde_json::from_value(store.state()).unwrap();
                c = Conductor::resume(&w, st).unwrap();
            }
            assert_eq!(c.next_tasks().len(), 1);
            c.on_action_event("step", 0, ActionEvent::status(Status::Running))
                .unwrap();
            let before = store.written;
            store.apply(c.take_delta());
            c.on_action_event("step", 0, ActionEvent::succeeded(json!(i)))
                .unwrap();
            store.apply(c.take_delta());
            per_task.push(store.written - before);
            assert_eq!(
                store.state(),
                serde_json::to_value(c.state()).unwrap(),
                "step {i}"
            );
        }
        assert_eq!(c.status(), Some(Status::Succeeded));
        let (first, last) = (per_task[10], per_task[per_task.len() - 1]);
        assert!(
            last < first * 2,
            "bytes per task: {first} at the start, {last} at the end"
        );
    }

    const LOOP_WITH_OUTPUT: &str = "version: 1.0\nvars:\n  - count: 0\ntasks:\n  init:\n    action: x\n    next: [{do: step}]\n  step:\n    action: x\n    next:\n      - when: '{{ ctx().count < ctx().n }}'\n        publish: [{count: '{{ ctx().count + 1 }}'}]\n        do: step\ninput: [n]\noutput:\n  - count: '{{ ctx().count }}'\n";

    /// Runs the publishing loop `n` times, in a conductor that forgets and
    /// stores a delta every 7 iterations after the step ended and every 7
    /// while it runs; returns the most entries and contexts it held (before
    /// a delta), and checks that what it stored is the whole state of a
    /// conductor that holds everything.
    fn lean_loop_holds(n: u64) -> (usize, usize) {
        let w = wf(LOOP_WITH_OUTPUT);
        let inputs = json!({"n": n}).as_object().unwrap().clone();
        let mut pure = Conductor::new(&w, inputs.clone());
        pure.request_status(Status::Running).unwrap();
        let mut lean = Lean::start(&w, inputs);
        let mut most = (0, 0);
        for c in [&mut pure, &mut lean.c] {
            c.next_tasks();
            run(c, "init", Status::Succeeded);
        }
        for i in 0..=n {
            for c in [&mut pure, &mut lean.c] {
                assert_eq!(c.next_tasks().len(), 1);
                c.on_action_event("step", 0, ActionEvent::status(Status::Running))
                    .unwrap();
            }
            if i % 7 == 3 {
                // Stored while it runs: its end is then a change to an
                // entry the next iteration replaces before the next delta.
                lean.store.apply(lean.c.take_delta());
            }
            for c in [&mut pure, &mut lean.c] {
                c.on_action_event("step", 0, ActionEvent::succeeded(json!(i)))
                    .unwrap();
            }
            if i % 7 == 0 {
                let st = &lean.c.st;
                most.0 = most.0.max(st.ledger.sequence.held());
                most.1 = most.1.max(st.contexts.held());
                lean.store.apply(lean.c.take_delta());
                let st = &lean.c.st;
                // After a delta: the current entries of init and step.
                assert_eq!((st.ledger.sequence.held(), st.contexts.held()), (2, 0));
            }
        }
        pure.render_output();
        lean.c.render_output();
        assert_eq!(lean.c.output().unwrap()["count"], json!(n));
        lean.check(&pure).unwrap();
        assert_eq!(
            lean.c.request_rerun(&[]).unwrap_err(),
            ConductorError::Forgetful
        );
        most
    }

    /// What a long loop holds does not grow with its iterations: entries
    /// and contexts of finished iterations are stored and dropped.
    #[test]
    fn a_forgetting_loop_holds_one_iterations_worth() {
        let (small, large) = (lean_loop_holds(100), lean_loop_holds(10_000));
        assert_eq!(small, large, "held (entries, contexts) at 100 vs 10,000");
        assert!(large.0 <= 2 + 8 && large.1 <= 8, "{large:?}");
    }

    /// Joins after a loop, a terminal task per iteration (merged into the
    /// output), retries, nested mappings replaced and merged: a conductor
    /// that forgets stores what one that holds everything holds, whether a
    /// delta follows every call or only every second to sixth.
    #[test]
    fn forgetting_changes_nothing_stored() {
        let w = wf(r#"version: 1.0
vars:
  - count: 0
  - cfg: {keep: 1}
tasks:
  start:
    action: x
    next:
      - do: [spin, side]
  spin:
    action: x
    retry: {count: 1, when: '{{ failed() }}'}
    next:
      - when: '{{ succeeded() and ctx().count < 12 }}'
        publish:
          - count: '{{ ctx().count + 1 }}'
          - cfg: '{{ { "n": { "v": ctx().count } } if ctx().count % 3 else 7 }}'
        do: [spin, note]
      - when: '{{ succeeded() and ctx().count >= 12 }}'
        publish: [{cfg: {n: {w: 1}}}]
        do: both
  note:
    action: x
    next:
      - publish: [{noted: '{{ ctx().count }}'}]
  side:
    action: x
    next:
      - publish: [{side: {deep: 1}}, {cfg: {n: {side: true}}}]
        do: both
  both:
    join: all
    action: x
    input: {seen: '{{ ctx() }}'}
output:
  - count: '{{ ctx().count }}'
  - cfg: '{{ ctx().cfg }}'
  - noted: '{{ ctx().noted }}'
  - side: '{{ ctx().side }}'
"#);
        // A delta after every call, or only after every second to sixth.
        for stride in 1..=6 {
            let mut pure = start(&w);
            let mut lean = Lean::start(&w, JsonMap::new());
            let mut calls = 0;
            let mut check = |lean: &mut Lean<'_>, pure: &Conductor<'_>, at: &str| {
                calls += 1;
                if calls % stride == 0 {
                    lean.check(pure)
                        .unwrap_or_else(|e| panic!("stride {stride}, {at}: {e}"));
                }
            };
            for round in 0.. {
                let batch = pure.next_tasks();
                assert_eq!(lean.c.next_tasks(), batch, "round {round}");
                check(&mut lean, &pure, &format!("round {round}"));
                if batch.is_empty() {
                    break;
                }
                for t in &batch {
                    for c in [&mut pure, &mut lean.c] {
                        c.on_action_event(
                            &t.task_id,
                            t.route,
                            ActionEvent::status(Status::Running),
                        )
                        .unwrap();
                    }
                    check(
                        &mut lean,
                        &pure,
                        &format!("round {round}, {} running", t.task_id),
                    );
                }
                for t in &batch {
                    let ev = if t.task_id == "spin" && round % 5 == 2 {
                        ActionEvent::failed(json!({"round": round}))
                    } else {
                        ActionEvent::succeeded(json!({"round": round}))
                    };
                    for c in [&mut pure, &mut lean.c] {
                        c.on_action_event(&t.task_id, t.route, ev.clone()).unwrap();
                    }
                    check(
                        &mut lean,
                        &pure,
                        &format!("round {round}, {} ended", t.task_id),
                    );
                }
            }
            pure.render_output();
            lean.c.render_output();
            lean.check(&pure).unwrap();
            assert_eq!(
                pure.status(),
                Some(Status::Succeeded),
                "{:?}",
                pure.errors()
            );
            let output = serde_json::to_value(pure.output()).unwrap();
            assert_eq!(output["count"], json!(12));
            assert_eq!(output["side"], json!({"deep": 1}));
            let retried = pure
                .state()
                .sequence()
                .iter()
                .filter(|e| e.retry.as_ref().is_some_and(|r| r.tally > 0))
                .count();
            assert!(retried > 0, "some run of spin was retried");
        }
    }
}
