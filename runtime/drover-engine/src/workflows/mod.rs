//! The durable workflow runner (`runner: workflow` actions).
//!
//! A run keeps its [`Conductor`] in memory and dispatches the tasks it
//! returns as child executions through the [`Runtime`]: Wasm actions on a
//! few threads at once (with-items under its `concurrency`, parallel
//! branches), subworkflows (run by this same code), and `core.ask`
//! inquiries ([`ask`]). Every change is one store transaction holding the
//! conductor state and what caused it:
//!
//! - the children in flight, stored before a non-idempotent child starts
//!   (an idempotent one may be recorded with the next write: run twice it
//!   does no harm);
//! - a finished child's execution (linked to the run, its task and route)
//!   with the state after its event;
//! - at the end, the workflow execution with its queue entry `done`.
//!
//! A top-level run has an `execution_requests` row (its queue entry): the
//! process that drives it holds it `running`. A run with nothing left to do
//! but wait (paused, or an inquiry not answered) *parks*: its state is
//! stored, the entry becomes `waiting` and the thread is released. A resume
//! or a response puts it back in the queue for `drover serve`, or a CLI
//! command takes it and drives it in the foreground ([`control`]).
//!
//! After a crash ([`recover_request`], [`recover_runs`], called when
//! `drover serve` starts) a run continues from its stored state. A child
//! found in flight is run again only if its action is `idempotent: true` (or
//! is a subworkflow, which resumes itself); otherwise it is recorded as
//! abandoned and the workflow fails with an error naming the task (then
//! `drover exec rerun` can go on from there). Pause and cancel requests are
//! stored on the run and read at each transition, so they reach whichever
//! process drives it. `drover-workflow` stays pure: all I/O is here.

pub mod ask;
pub mod control;
mod driver;
pub(crate) mod serve;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use drover_app::App;
use drover_core::{ExecStatus, Execution, ExecutionId, ExecutionRequest, now_ms};
use drover_host::{RunError, RunOptions};
use drover_pack::{ActionRef, Pack, Plugin, WorkflowEntry};
use drover_store::{ChildLink, StoreError, WorkflowRun};
use drover_workflow::{Conductor, ConductorError, Status, Workflow, WorkflowState};
use serde::Serialize;
use serde_json::Value;
use sha2::{Digest, Sha256};

pub use control::{Continue, ControlError};

/// Why a workflow could not be run (a failing task is not an error: it
/// gives a failed workflow execution).
#[derive(Debug, thiserror::Error)]
pub enum WorkflowError {
    #[error(transparent)]
    Run(#[from] RunError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("{action} is not a workflow; run it as an action")]
    NotAWorkflow { action: String },
    #[error("{action}: the installed workflow does not parse: {message}")]
    Spec { action: String, message: String },
    #[error("{action}: {source}")]
    Conductor {
        action: String,
        source: ConductorError,
    },
    #[error("workflow run {id}: stored state is unusable: {message}")]
    State { id: ExecutionId, message: String },
}

/// How a drive of a run ended.
#[derive(Clone, Debug, Serialize)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum Outcome {
    /// The workflow ended; its execution is stored.
    Finished(Box<Execution>),
    /// The workflow waits (paused, an inquiry): stored, nothing drives it.
    Parked {
        id: ExecutionId,
        /// `paused` or `inquiry ID` (the first one it waits on).
        why: String,
    },
}

/// What every run of one tree (a top-level run and its subworkflows)
/// shares.
#[derive(Clone)]
pub(crate) struct Tree {
    /// The top-level run (its queue entry, its control requests).
    pub(crate) root: ExecutionId,
    /// Under `drover serve`: a run that only waits out a `delay` parks
    /// (serve wakes it) instead of holding its thread.
    pub(crate) park_delays: bool,
    /// The tree's count of task runs; `None` for a top-level run, whose
    /// own workflow sets the ceiling.
    pub(crate) steps: Option<Arc<Steps>>,
    /// In a dry run: the answer its `core.ask` tasks take (`drover run
    /// --dry-run --answer`); see [`ask::dry_run_answer`]. Held in memory
    /// only: a dry run paused and resumed falls back to the defaults.
    pub(crate) dry_answer: Option<Arc<Value>>,
}

impl Tree {
    /// The tree of a new top-level run.
    pub(crate) fn top(root: ExecutionId, park_delays: bool) -> Tree {
        Tree {
            root,
            park_delays,
            steps: None,
            dry_answer: None,
        }
    }
}

/// The ceiling on task runs of one tree: every action started (each
/// with-items item) and every task without an action counts one, in the
/// top-level run and all its subworkflows, so neither a loop (`next: do:
/// self`) nor a workflow calling itself runs forever. The count is kept
/// in each run's stored state (`Conductor::task_runs`): runs of one tree
/// store snapshots of one growing number, and a run driven again takes the
/// largest it finds.
pub(crate) struct Steps {
    used: AtomicU64,
    limit: u64,
    /// The top-level workflow (`pack.plugin`), whose `max_steps` this is.
    action: String,
    /// The message, once the ceiling was reached: every run of the tree
    /// that fails says it (not only the one that hit it).
    hit: std::sync::OnceLock<String>,
}

impl Steps {
    fn new(action: &str, plugin: &Plugin) -> Steps {
        Steps {
            used: AtomicU64::new(0),
            limit: plugin
                .workflow
                .as_ref()
                .map_or(WorkflowEntry::DEFAULT_MAX_STEPS, WorkflowEntry::max_steps),
            action: action.to_owned(),
            hit: std::sync::OnceLock::new(),
        }
    }

    /// Why the tree stopped, if it reached its ceiling.
    pub(crate) fn hit(&self) -> Option<&String> {
        self.hit.get()
    }

    /// The count so far.
    pub(crate) fn used(&self) -> u64 {
        self.used.load(Ordering::Relaxed)
    }

    /// Takes in a count stored by a run of this tree.
    pub(crate) fn seen(&self, stored: u64) {
        self.used.fetch_max(stored, Ordering::Relaxed);
    }

    /// Counts `n` task runs; the failure message if that passes the
    /// ceiling (nothing is counted then).
    pub(crate) fn charge(&self, n: u64) -> Result<(), String> {
        let before = self.used.fetch_add(n, Ordering::Relaxed);
        if before + n <= self.limit {
            return Ok(());
        }
        self.used.fetch_sub(n, Ordering::Relaxed);
        let (pack, plugin) = self.action.split_once('.').unwrap_or((&self.action, ""));
        let message = format!(
            "workflow {} exceeded its limit of {} task runs (subworkflows included); if it \
             really needs more, raise `max_steps` of plugin {plugin:?} in pack {pack}'s \
             pack.yaml (plugins.{plugin}.max_steps, at most {}), else look for a loop that \
             never ends",
            self.action,
            self.limit,
            WorkflowEntry::MAX_MAX_STEPS
        );
        Err(self.hit.get_or_init(|| message).clone())
    }
}

/// What a run needs besides its conductor.
#[derive(Clone)]
pub(crate) struct Meta {
    pub(crate) id: ExecutionId,
    /// The top-level run (its queue entry, its control requests).
    pub(crate) root: ExecutionId,
    pub(crate) park_delays: bool,
    pub(crate) steps: Arc<Steps>,
    pub(crate) action: String,
    pub(crate) pack: Arc<Pack>,
    pub(crate) digest: String,
    pub(crate) params: Value,
    pub(crate) opts: RunOptions,
    pub(crate) started_at_ms: i64,
    pub(crate) link: Option<ChildLink>,
    /// See [`Tree::dry_answer`].
    pub(crate) dry_answer: Option<Arc<Value>>,
}

/// Runs workflow `action` in this thread (a `drover run`) until it ends or
/// parks; a finished one is stored with its children (`parent` = its id).
pub fn run_workflow(
    app: &App,
    action: &ActionRef,
    params: Value,
    opts: &RunOptions,
) -> Result<Outcome, WorkflowError> {
    run_workflow_as(app, action, None, params, opts, None)
}

/// [`run_workflow`] from a given installed version of its pack (a shadowed
/// candidate runs dry), or the live one with `None`; in a dry run, its
/// `core.ask` tasks take `answer` (no inquiry is created; see
/// [`ask::dry_run_answer`]).
pub fn run_workflow_as(
    app: &App,
    action: &ActionRef,
    version: Option<&str>,
    params: Value,
    opts: &RunOptions,
    answer: Option<Value>,
) -> Result<Outcome, WorkflowError> {
    let (pack, plugin) = app.runtime().action_plugin_version(action, version)?;
    let params = validate(action, &plugin, params)?;
    let id = ExecutionId::new();
    let mut tree = Tree::top(id, false);
    tree.dry_answer = answer.map(Arc::new);
    start(app, id, tree, pack, &plugin, params, opts, None)
}

/// Whether `action` is an installed workflow.
pub fn is_workflow(app: &App, action: &ActionRef) -> Result<bool, RunError> {
    is_workflow_version(app, action, None)
}

/// Whether `action`, in version `version` of its pack (the live one with
/// `None`), is a workflow.
pub fn is_workflow_version(
    app: &App,
    action: &ActionRef,
    version: Option<&str>,
) -> Result<bool, RunError> {
    Ok(app
        .runtime()
        .action_plugin_version(action, version)?
        .1
        .is_workflow())
}

/// Drives the workflow of queued request `req` (claimed by the scheduler):
/// starts it, or continues its stored run (parked or interrupted).
pub fn run_request(app: &App, req: &ExecutionRequest) -> Result<Outcome, WorkflowError> {
    match app.store().get_workflow_run(req.id)? {
        Some(run) if run.finished => {
            // Finished and stored: the entry is done already.
            match app.store().get_execution(req.id)? {
                Some(exec) => Ok(Outcome::Finished(Box::new(exec))),
                None => Err(WorkflowError::State {
                    id: req.id,
                    message: "finished but not stored".into(),
                }),
            }
        }
        Some(run) => {
            app.store().workflow_claim(run.id)?;
            let tree = Tree::top(run.id, true);
            resume(app, run, Some(tree))
        }
        None => {
            let action: ActionRef = req.action.parse().map_err(|e| WorkflowError::Spec {
                action: req.action.clone(),
                message: format!("{e}"),
            })?;
            let version = req.pack_version.as_deref();
            let (pack, plugin) = app.runtime().action_plugin_version(&action, version)?;
            let params = validate(&action, &plugin, req.parameters.clone())?;
            let opts = RunOptions {
                dry_run: req.dry_run,
                actor: req.actor.clone(),
                timeout: None,
            };
            let tree = Tree::top(req.id, true);
            start(app, req.id, tree, pack, &plugin, params, &opts, None)
        }
    }
}

/// Called by `drover serve` at start for a request a stopped process left
/// `running`: if it is a workflow, re-queue it (its run continues from its
/// stored state) unless a live process still drives it. True if handled.
pub fn recover_request(app: &App, req: &ExecutionRequest) -> bool {
    let is_wf = req
        .action
        .parse::<ActionRef>()
        .ok()
        .is_some_and(|a| is_workflow(app, &a).unwrap_or(false));
    if !is_wf {
        return false;
    }
    let store = app.store();
    let owner = store.get_workflow_run_record(req.id).ok().flatten();
    if owner
        .as_ref()
        .and_then(|r| r.owner_pid)
        .is_some_and(alive_elsewhere)
    {
        tracing::info!(run = %req.id, "workflow run driven by a live process; left alone");
        return true;
    }
    tracing::info!(run = %req.id, action = %req.action, "re-queueing interrupted workflow run");
    if let Err(e) = store.requeue_requests(vec![req.id]) {
        tracing::error!(error = %e, run = %req.id, "cannot re-queue a workflow run");
    }
    true
}

/// Gives every unfinished top-level run without a queue entry (stopped
/// before entries existed) one, so `drover serve` continues it.
pub fn recover_runs(app: &App) -> Result<usize, StoreError> {
    let store = app.store();
    let mut queued = 0;
    for run in store.unfinished_workflow_runs()? {
        if store.request_state(run.id)?.is_some() {
            continue;
        }
        store.request_execution(ExecutionRequest {
            id: run.id,
            action: run.action.clone(),
            parameters: run.parameters.clone(),
            dry_run: run.dry_run,
            actor: run.actor.clone(),
            enforcement_id: None,
            requested_at_ms: now_ms(),
            pack_version: Some(run.pack_version.clone()).filter(|v| !v.is_empty()),
        })?;
        queued += 1;
    }
    Ok(queued)
}

/// Whether `pid` is a live process other than this one.
fn alive_elsewhere(pid: u32) -> bool {
    pid != std::process::id() && std::path::Path::new(&format!("/proc/{pid}")).exists()
}

pub(crate) fn validate(
    action: &ActionRef,
    plugin: &Plugin,
    params: Value,
) -> Result<Value, RunError> {
    plugin
        .parameters
        .validate(params)
        .map_err(|problem| RunError::Params {
            action: action.to_string(),
            problem,
            params: plugin.parameters.describe(),
        })
}

pub(crate) fn parse(action: &str, plugin: &Plugin) -> Result<Workflow, WorkflowError> {
    let Some(entry) = &plugin.workflow else {
        return Err(WorkflowError::NotAWorkflow {
            action: action.to_owned(),
        });
    };
    Workflow::parse(&entry.entry, &entry.text, None).map_err(|e| WorkflowError::Spec {
        action: action.to_owned(),
        message: e.to_string(),
    })
}

/// `sha256:` of the workflow file a run follows (shown as its digest).
pub(crate) fn digest(plugin: &Plugin) -> String {
    let text = plugin.workflow.as_ref().map_or("", |w| w.text.as_str());
    format!("sha256:{}", hex::encode(Sha256::digest(text.as_bytes())))
}

/// What changed in `c`'s state since it was last stored: O(1) per
/// transition, not the whole state (see [`drover_workflow::StateDelta`]).
pub(crate) fn state_write(c: &mut Conductor<'_>) -> drover_store::StateWrite {
    store_form(c.take_delta())
}

fn store_form(delta: drover_workflow::StateDelta) -> drover_store::StateWrite {
    drover_store::StateWrite {
        head: delta.head,
        parts: delta
            .parts
            .into_iter()
            .map(|p| drover_store::StatePart {
                list: p.list,
                index: p.index,
                value: p.value,
            })
            .collect(),
        replace: delta.replace,
    }
}

#[allow(clippy::too_many_arguments)]
pub(crate) fn start(
    app: &App,
    id: ExecutionId,
    tree: Tree,
    pack: Arc<Pack>,
    plugin: &Plugin,
    params: Value,
    opts: &RunOptions,
    link: Option<ChildLink>,
) -> Result<Outcome, WorkflowError> {
    let action = format!("{}.{}", pack.name, plugin.name);
    let wf = parse(&action, plugin)?;
    let inputs = params.as_object().cloned().unwrap_or_default();
    let mut c = Conductor::new(&wf, inputs);
    c.request_status(Status::Running)
        .map_err(|source| WorkflowError::Conductor {
            action: action.clone(),
            source,
        })?;
    let outcome = begin(app, id, tree, pack, plugin, params, opts, link, c, true)?;
    Ok(outcome.expect("begin drives when asked to"))
}

/// Stores a new run with state `c` and drives it (`drive`), or leaves it
/// queued for `drover serve` (`None`).
#[allow(clippy::too_many_arguments)]
pub(crate) fn begin(
    app: &App,
    id: ExecutionId,
    tree: Tree,
    pack: Arc<Pack>,
    plugin: &Plugin,
    params: Value,
    opts: &RunOptions,
    link: Option<ChildLink>,
    c: Conductor<'_>,
    drive: bool,
) -> Result<Option<Outcome>, WorkflowError> {
    // A shadow pack's workflow runs dry, and so does every child it calls,
    // trusted or not (liveness follows the least-trusted link). A child
    // action of a shadow pack is dry by itself (`Runtime::execute_as`).
    let shadowed;
    let opts = if !opts.dry_run && app.runtime().is_shadow(&pack) {
        shadowed = RunOptions {
            dry_run: true,
            ..opts.clone()
        };
        &shadowed
    } else {
        opts
    };
    let action = format!("{}.{}", pack.name, plugin.name);
    let meta = Meta {
        id,
        root: tree.root,
        park_delays: tree.park_delays,
        steps: tree
            .steps
            .unwrap_or_else(|| Arc::new(Steps::new(&action, plugin))),
        action,
        digest: digest(plugin),
        pack,
        params,
        opts: opts.clone(),
        started_at_ms: now_ms(),
        link,
        dry_answer: tree.dry_answer.clone(),
    };
    // The whole state, as head and parts: a resumed run appends to what
    // is stored, so nothing may stay inline in the head (a rerun's state
    // too, stored under its new id).
    let mut c = c;
    let state = store_form(c.take_full_delta());
    app.store().workflow_start(
        WorkflowRun {
            id,
            action: meta.action.clone(),
            link: meta.link.clone(),
            parameters: meta.params.clone(),
            dry_run: opts.dry_run,
            actor: opts.actor.clone(),
            started_at_ms: meta.started_at_ms,
            state: Value::Null,
            inflight: None,
            finished: false,
            owner_pid: None,
            control: None,
            parked: None,
            digest: meta.digest.clone(),
            timeout_ms: opts.timeout.map(|t| t.as_millis() as u64),
            pack_version: meta.pack.version.clone(),
        },
        state,
    )?;
    if !drive {
        app.store().requeue_requests(vec![id])?;
        return Ok(None);
    }
    driver::drive(app, &meta, c, Vec::new()).map(Some)
}

/// The workflow of stored run `run` in the pack version it started with
/// (a promotion or a rollback since does not change a run under way), or
/// the live version when that one is no longer installed or the run
/// predates pinning.
fn pinned_plugin(
    app: &App,
    action: &ActionRef,
    run: &WorkflowRun,
) -> Result<(Arc<Pack>, Plugin), RunError> {
    if !run.pack_version.is_empty() {
        match app
            .runtime()
            .action_plugin_version(action, Some(&run.pack_version))
        {
            Ok(found) => return Ok(found),
            Err(e) => tracing::warn!(run = %run.id, version = %run.pack_version, error = %e,
                "the version this workflow run started with is gone; it continues with the live one"),
        }
    }
    app.runtime().action_plugin(action)
}

/// Continues stored run `run` (its conductor state and what was in flight).
pub(crate) fn resume(
    app: &App,
    mut run: WorkflowRun,
    tree: Option<Tree>,
) -> Result<Outcome, WorkflowError> {
    let action: ActionRef = run.action.parse().map_err(|e| WorkflowError::State {
        id: run.id,
        message: format!("{e}"),
    })?;
    let (pack, plugin) = pinned_plugin(app, &action, &run)?;
    let wf = parse(&run.action, &plugin)?;
    let bad = |message: String| WorkflowError::State {
        id: run.id,
        message,
    };
    let state: WorkflowState =
        serde_json::from_value(run.state.take()).map_err(|e| bad(e.to_string()))?;
    let c = Conductor::resume(&wf, state).map_err(|e| bad(e.to_string()))?;
    let inflight = driver::parse_inflight(run.inflight.clone()).map_err(bad)?;
    // Dry if it started dry, or its pack has been replaced by a shadow
    // version since.
    let dry_run = run.dry_run || app.runtime().is_shadow(&pack);
    let meta = Meta {
        id: run.id,
        root: tree.as_ref().map_or(run.id, |t| t.root),
        park_delays: tree.as_ref().is_some_and(|t| t.park_delays),
        steps: tree
            .as_ref()
            .and_then(|t| t.steps.clone())
            .unwrap_or_else(|| Arc::new(Steps::new(&run.action, &plugin))),
        dry_answer: tree.and_then(|t| t.dry_answer),
        action: run.action.clone(),
        digest: if run.digest.is_empty() {
            digest(&plugin)
        } else {
            run.digest.clone()
        },
        pack,
        params: run.parameters.clone(),
        opts: RunOptions {
            dry_run,
            actor: run.actor.clone(),
            timeout: run.timeout_ms.map(Duration::from_millis),
        },
        started_at_ms: run.started_at_ms,
        link: run.link.clone(),
    };
    driver::drive(app, &meta, c, inflight)
}

/// The execution status a workflow that ended `status` gets.
pub(crate) fn exec_status(status: Option<Status>, forced: bool) -> ExecStatus {
    match status {
        _ if forced => ExecStatus::Failed,
        Some(Status::Succeeded) => ExecStatus::Succeeded,
        Some(Status::Canceled) => ExecStatus::Canceled,
        _ => ExecStatus::Failed,
    }
}

impl Meta {
    /// The tree this run belongs to (for its subworkflows).
    pub(crate) fn tree(&self) -> Tree {
        Tree {
            root: self.root,
            park_delays: self.park_delays,
            steps: Some(self.steps.clone()),
            dry_answer: self.dry_answer.clone(),
        }
    }
}
