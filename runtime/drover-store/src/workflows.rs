//! The `workflow_runs` table and the workflow columns of `executions`
//! (`parent`, `task`, `route`), and how an unfinished run stands
//! ([`Progress`]: running, pending on an inquiry or a delay, paused).
//!
//! Every change to a run is one write: the conductor state together with
//! what caused it (a child about to start, a child's stored execution), so
//! after a crash the state and the children always agree.

use drover_core::{Execution, ExecutionId};
use serde::Serialize;
use serde_json::Value;

use crate::{ExecutionSummary, Result};

/// Where a child execution sits in its workflow.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ChildLink {
    pub parent: ExecutionId,
    pub task: String,
    pub route: u32,
}

/// A workflow run as stored while it runs.
#[derive(Clone, Debug)]
pub struct WorkflowRun {
    /// The workflow execution's id.
    pub id: ExecutionId,
    /// `pack.workflow`.
    pub action: String,
    /// Set for a subworkflow.
    pub link: Option<ChildLink>,
    pub parameters: Value,
    pub dry_run: bool,
    pub actor: String,
    pub started_at_ms: i64,
    /// The serialized conductor state.
    pub state: Value,
    /// The child started and not yet recorded, as the runner described it.
    pub inflight: Option<Value>,
    pub finished: bool,
    /// The process that drives it (set by [`Self::workflow_start`] and
    /// [`Self::workflow_claim`]).
    pub owner_pid: Option<u32>,
    /// What an operator asked and the runner has not done yet: `pause` or
    /// `cancel` (on the top-level run).
    pub control: Option<String>,
    /// Why the run waits with nothing driving it (`paused`, `inquiry ID`).
    pub parked: Option<String>,
    /// sha256 of the workflow file it runs.
    pub digest: String,
    /// Deadline given to each child action (`drover run --timeout`).
    pub timeout_ms: Option<u64>,
    /// The version of its pack it runs (it resumes with that one after a
    /// promotion or a rollback); empty for runs stored before versions
    /// were pinned.
    pub pack_version: String,
}

/// A write of a run's state: its head and the list items that changed (see
/// the `workflow_state_parts` migration). The store does not interpret
/// the state: `list` is a JSON pointer into the head where the items go
/// back when it is read.
#[derive(Clone, Debug, Default)]
pub struct StateWrite {
    /// The state as JSON, with the lists that have parts empty.
    pub head: String,
    pub parts: Vec<StatePart>,
    /// The parts are all of them: drop those stored before.
    pub replace: bool,
}

/// One item of one of a state's lists.
#[derive(Clone, Debug)]
pub struct StatePart {
    pub list: &'static str,
    pub index: u32,
    pub value: String,
}

/// A child of a workflow execution, for `exec get --tree`.
#[derive(Clone, Debug, Serialize)]
pub struct ChildRow {
    #[serde(flatten)]
    pub summary: ExecutionSummary,
    pub task: String,
    pub route: u32,
    pub error: Option<String>,
}

/// How an unfinished workflow run stands.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Progress {
    /// `running`, `pending` (parked: an inquiry, a delay), `paused`,
    /// `pausing` or `canceling`.
    pub status: &'static str,
    /// What it waits on (`inquiry ID`, `paused`), except a delay.
    pub waiting_on: Option<String>,
    /// The end of the task delay it waits for, in Unix milliseconds.
    pub delay_until_ms: Option<i64>,
}

impl WorkflowRun {
    /// Where this run stands, from what parks it and what was asked of it.
    pub fn progress(&self) -> Progress {
        if let Some(ms) = self
            .parked
            .as_deref()
            .and_then(|w| w.strip_prefix("delay until "))
            .and_then(|ms| ms.parse::<i64>().ok())
        {
            return Progress {
                status: "pending",
                waiting_on: None,
                delay_until_ms: Some(ms),
            };
        }
        let (status, waiting_on) = match (&self.parked, self.control.as_deref()) {
            (Some(why), _) if why == "paused" => ("paused", Some(why.clone())),
            (Some(why), _) => ("pending", Some(why.clone())),
            (None, Some("pause")) => ("pausing", None),
            (None, Some("cancel")) => ("canceling", None),
            _ => ("running", None),
        };
        Progress {
            status,
            waiting_on,
            delay_until_ms: None,
        }
    }
}

/// See [`Self::execution_children_head`].
#[derive(Clone, Debug)]
pub struct ChildrenHead {
    pub first: Vec<ChildRow>,
    pub count: u64,
    /// When the last child started.
    pub last_started_ms: Option<i64>,
}

/// Workflow runs: their state, children and progress.
pub trait WorkflowStore: Send + Sync {
    /// Records a new run with its initial `state` (`run.state` is not
    /// read). A run that exists already (a subworkflow started again after
    /// a crash) keeps its record and takes `state`.
    fn workflow_start(&self, run: WorkflowRun, state: StateWrite) -> Result<()>;

    /// In one transaction: stores finished children of run `id` (each
    /// linked to its task; a subworkflow child's own run marked finished)
    /// and the run's new `state` with what is still in flight.
    fn workflow_children_done(
        &self,
        id: ExecutionId,
        state: StateWrite,
        children: Vec<(Execution, ChildLink)>,
        inflight: Option<Value>,
    ) -> Result<crate::Pending<()>>;

    /// Parks top-level run `id`: nothing drives it until a resume or an
    /// inquiry response queues it again. Its queue entry becomes `waiting`.
    /// Returns false (and parks nothing) if one of its inquiries was
    /// answered or timed out meanwhile: the caller goes on driving it.
    fn workflow_park(&self, id: ExecutionId, why: String) -> Result<bool>;

    /// Takes a parked (or crashed) top-level run for this process to drive
    /// in the foreground: its queue entry goes from `waiting` (or
    /// `requested`) to `running`. False if someone else drives it or it
    /// finished.
    fn workflow_take(&self, id: ExecutionId) -> Result<bool>;

    /// Puts parked top-level run `id` back in the queue for `drover serve`;
    /// false if it is not parked.
    fn workflow_requeue(&self, id: ExecutionId) -> Result<bool>;

    /// Queues again every top-level run parked for a delay (`parked` =
    /// `delay until MS`) that is due; returns them.
    fn wake_delayed(&self, now: i64) -> Result<Vec<ExecutionId>>;

    /// Sets (or clears) what an operator asks of run `id`.
    fn workflow_set_control(&self, id: ExecutionId, control: Option<String>) -> Result<()>;

    /// What an operator asks of run `id` (read at each transition).
    fn workflow_control(&self, id: ExecutionId) -> Result<Option<String>>;

    /// The state of the queue entry of top-level run `id`.
    fn request_state(&self, id: ExecutionId) -> Result<Option<String>>;

    /// Makes this process the driver of unfinished run `id` (and of its
    /// unfinished subworkflows); false if it finished meanwhile.
    fn workflow_claim(&self, id: ExecutionId) -> Result<bool>;

    /// In one transaction: stores the workflow execution `exec` (linked if
    /// it is a subworkflow), marks its run finished with `state` and its
    /// queue entry (if any) done.
    fn workflow_finish(
        &self,
        state: StateWrite,
        exec: Execution,
        link: Option<ChildLink>,
    ) -> Result<()>;

    /// One run, finished or not.
    fn get_workflow_run(&self, id: ExecutionId) -> Result<Option<WorkflowRun>>;

    /// Run `id`'s record without its state (`state` is null): for what
    /// reads only whether and how it runs, which need not load a long
    /// workflow's whole state.
    fn get_workflow_run_record(&self, id: ExecutionId) -> Result<Option<WorkflowRun>>;

    /// Runs left unfinished (by a crash or a stop), oldest first; top-level
    /// runs only (a subworkflow is resumed by its parent).
    fn unfinished_workflow_runs(&self) -> Result<Vec<WorkflowRun>>;

    /// Subworkflow runs of run `parent` that have not ended (not stored as
    /// executions yet), oldest first.
    fn unfinished_subworkflows(&self, parent: ExecutionId) -> Result<Vec<WorkflowRun>>;

    /// Where execution `id` sits in its workflow, if it is a child.
    fn execution_link(&self, id: ExecutionId) -> Result<Option<ChildLink>>;

    /// The children of workflow execution `parent`, in the order they ran.
    fn execution_children(&self, parent: ExecutionId) -> Result<Vec<ChildRow>>;

    /// The first `limit` children of workflow execution `parent` (all of
    /// them with `None`), in the order they ran, with how many it has: a
    /// summary of a long loop that does not hold a row per iteration.
    fn execution_children_head(
        &self,
        parent: ExecutionId,
        limit: Option<usize>,
    ) -> Result<ChildrenHead>;
}
