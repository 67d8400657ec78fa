//! Operators' requests on workflow runs: pause, resume, cancel, rerun.
//!
//! Pause and cancel are stored on the top-level run (`control`) and read by
//! the runner at each transition, so they reach the run whichever process
//! drives it (`drover serve`, another `drover run`). A run that is parked
//! (paused, waiting on an inquiry) or was left by a crash has no driver:
//! resume, cancel and rerun then either drive it in the calling thread
//! ([`Continue::Foreground`], the CLI's default) or queue it for `drover
//! serve` ([`Continue::Queue`]).

use drover_app::App;
use drover_core::{ExecStatus, ExecutionId};
use drover_host::RunOptions;
use drover_pack::ActionRef;
use drover_store::{StoreError, WorkflowRun};
use drover_workflow::{Conductor, ConductorError, RerunRequest, WorkflowState};

use super::{Outcome, WorkflowError, alive_elsewhere, begin, parse, resume};

/// Who continues a run that nothing drives.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Continue {
    /// This thread drives it to its end (or its next wait).
    Foreground,
    /// It goes back in the queue; `drover serve` continues it.
    Queue,
}

/// Why a request on a run was refused.
#[derive(Debug, thiserror::Error)]
pub enum ControlError {
    #[error("no workflow execution {0} (see `drover exec list`)")]
    Unknown(ExecutionId),
    #[error(
        "{id} is an execution of {action}, not a workflow: only workflows pause, resume, cancel or rerun"
    )]
    NotAWorkflow { id: ExecutionId, action: String },
    #[error("workflow execution {id} already ended {status}: nothing to {verb}{hint}")]
    Finished {
        id: ExecutionId,
        status: ExecStatus,
        verb: &'static str,
        hint: String,
    },
    #[error("workflow execution {id} is not paused{why}: nothing to resume")]
    NotPaused { id: ExecutionId, why: String },
    #[error(
        "workflow execution {id} has not ended: only an ended workflow reruns (pause or cancel it first)"
    )]
    NotEnded { id: ExecutionId },
    #[error("workflow execution {id}: {source}")]
    Rerun {
        id: ExecutionId,
        source: Box<ConductorError>,
    },
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Workflow(Box<WorkflowError>),
}

impl From<WorkflowError> for ControlError {
    fn from(e: WorkflowError) -> Self {
        ControlError::Workflow(Box::new(e))
    }
}

/// What a pause, resume or cancel did.
#[derive(Clone, Debug)]
pub enum Done {
    /// Asked of the process that drives the run (`pid`, when known): it
    /// acts at its next transition, once its running tasks end.
    Asked { root: ExecutionId, pid: Option<u32> },
    /// The run was parked (or left by a crash) and is queued for serve.
    Queued { root: ExecutionId },
    /// This thread drove it; how that ended.
    Drove(Box<Outcome>),
}

/// The top-level run of workflow execution `id` (walking up from a
/// subworkflow), or why there is none to act on.
fn root_run(app: &App, id: ExecutionId, verb: &'static str) -> Result<WorkflowRun, ControlError> {
    let store = app.store();
    let Some(mut run) = store.get_workflow_run_record(id)? else {
        return Err(match store.get_execution(id)? {
            Some(exec) => ControlError::NotAWorkflow {
                id,
                action: exec.action,
            },
            None => ControlError::Unknown(id),
        });
    };
    while let Some(link) = run.link.clone() {
        match store.get_workflow_run_record(link.parent)? {
            Some(parent) => run = parent,
            None => break,
        }
    }
    if run.finished {
        let status = store
            .get_execution(run.id)?
            .map_or(ExecStatus::Failed, |e| e.status);
        let hint = match (verb, status) {
            ("rerun", _) => String::new(),
            (_, ExecStatus::Succeeded) => String::new(),
            _ => format!(
                " (`drover exec rerun {}` goes on from its failed tasks)",
                run.id
            ),
        };
        return Err(ControlError::Finished {
            id: run.id,
            status,
            verb,
            hint,
        });
    }
    Ok(run)
}

/// Which process drives a run now.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Driver {
    /// This one (`drover serve` answering over its API): the runner reads
    /// `control` at its next transition.
    Here,
    /// Another live process, e.g. a `drover run` in the foreground.
    Elsewhere(u32),
}

impl Driver {
    fn pid(self) -> Option<u32> {
        match self {
            Driver::Here => None,
            Driver::Elsewhere(pid) => Some(pid),
        }
    }
}

/// Who drives `run` now; `None` when nothing does (parked, queued, or
/// left by a process that is gone). A run this process took is driven
/// here from the take on, before its runner starts, so a request in
/// between is not mistaken for a stranded run and driven twice.
fn driver(app: &App, run: &WorkflowRun) -> Result<Option<Driver>, StoreError> {
    let state = app.store().request_state(run.id)?;
    if state.as_deref() != Some("running") {
        return Ok(None);
    }
    Ok(match run.owner_pid {
        Some(pid) if pid == std::process::id() => Some(Driver::Here),
        Some(pid) if alive_elsewhere(pid) => Some(Driver::Elsewhere(pid)),
        _ => None,
    })
}

/// Asks run `id` (its top-level run) to pause: running tasks finish, no new
/// task starts, then it parks until `resume`.
pub fn pause(app: &App, id: ExecutionId) -> Result<Done, ControlError> {
    let run = root_run(app, id, "pause")?;
    app.store()
        .workflow_set_control(run.id, Some("pause".into()))?;
    let pid = driver(app, &run)?.and_then(Driver::pid);
    Ok(Done::Asked { root: run.id, pid })
}

/// Withdraws a pause and continues the run (`how`), or lets the process
/// driving it go on.
pub fn resume_run(app: &App, id: ExecutionId, how: Continue) -> Result<Done, ControlError> {
    let store = app.store();
    // An inquiry past its deadline times out now (its run goes back to
    // the queue), so a run that waited on it can go on.
    store.expire_inquiries(drover_core::now_ms())?;
    let run = root_run(app, id, "resume")?;
    let paused = run.control.as_deref() == Some("pause") || run.parked.as_deref() == Some("paused");
    let state = store.request_state(run.id)?;
    let stranded = match state.as_deref() {
        // Left by a process that stopped (crash) or queued and not taken.
        Some("running") => driver(app, &run)?.is_none(),
        Some("requested") | None => true,
        _ => false,
    };
    if !paused && !stranded {
        let why = match &run.parked {
            Some(w) if w.starts_with("inquiry ") => format!(
                "; it waits for {w}: answer it with `drover inquiry respond {}`",
                w.trim_start_matches("inquiry ")
            ),
            _ => "; it is running".into(),
        };
        return Err(ControlError::NotPaused { id: run.id, why });
    }
    store.workflow_set_control(run.id, None)?;
    if let Some(d) = driver(app, &run)? {
        // Withdrawing a pause its driver has not acted on is the resume.
        return Ok(Done::Asked {
            root: run.id,
            pid: d.pid(),
        });
    }
    go_on(app, run.id, how)
}

/// Asks run `id` to cancel: running tasks finish, nothing new starts,
/// pending inquiries are canceled, and it ends `canceled`.
pub fn cancel(app: &App, id: ExecutionId, how: Continue) -> Result<Done, ControlError> {
    let run = root_run(app, id, "cancel")?;
    app.store()
        .workflow_set_control(run.id, Some("cancel".into()))?;
    if let Some(d) = driver(app, &run)? {
        return Ok(Done::Asked {
            root: run.id,
            pid: d.pid(),
        });
    }
    go_on(app, run.id, how)
}

fn go_on(app: &App, root: ExecutionId, how: Continue) -> Result<Done, ControlError> {
    match continue_run(app, root, how)? {
        Some(outcome) => Ok(Done::Drove(Box::new(outcome))),
        None if how == Continue::Queue => Ok(Done::Queued { root }),
        None => Ok(Done::Asked { root, pid: None }),
    }
}

/// Continues top-level run `root` that nothing drives: in this thread, or
/// queued. `None` if queued, or if another process drives it.
pub fn continue_run(
    app: &App,
    root: ExecutionId,
    how: Continue,
) -> Result<Option<Outcome>, ControlError> {
    let store = app.store();
    let Some(run) = store.get_workflow_run_record(root)? else {
        return Err(ControlError::Unknown(root));
    };
    // A queue entry left `running` by a dead process, or none (older runs).
    match store.request_state(root)?.as_deref() {
        Some("running") if driver(app, &run)?.is_none() => {
            store.requeue_requests(vec![root])?;
        }
        None => {
            super::recover_runs(app)?;
        }
        _ => {}
    }
    if how == Continue::Queue {
        store.workflow_requeue(root)?;
        return Ok(None);
    }
    if !store.workflow_take(root)? {
        return Ok(None);
    }
    let run = store
        .get_workflow_run(root)?
        .ok_or(ControlError::Unknown(root))?;
    Ok(Some(resume(app, run, None)?))
}

/// Starts a new run of ended workflow execution `id` from its stored state:
/// `tasks` run again (none given: every failed task), then the workflow goes
/// on with the context they had. Returns the new run's outcome (or, with
/// [`Continue::Queue`], its id once queued).
pub fn rerun(
    app: &App,
    id: ExecutionId,
    tasks: &[RerunRequest],
    how: Continue,
) -> Result<Result<Outcome, ExecutionId>, ControlError> {
    let store = app.store();
    let Some(mut run) = store.get_workflow_run(id)? else {
        return Err(match store.get_execution(id)? {
            Some(exec) => ControlError::NotAWorkflow {
                id,
                action: exec.action,
            },
            None => ControlError::Unknown(id),
        });
    };
    if !run.finished {
        return Err(ControlError::NotEnded { id });
    }
    let action: ActionRef = run.action.parse().map_err(|e| WorkflowError::State {
        id,
        message: format!("{e}"),
    })?;
    let (pack, plugin) = app
        .runtime()
        .action_plugin(&action)
        .map_err(WorkflowError::from)?;
    let wf = parse(&run.action, &plugin)?;
    let bad = |message: String| WorkflowError::State { id, message };
    let state: WorkflowState =
        serde_json::from_value(run.state.take()).map_err(|e| bad(e.to_string()))?;
    let mut c = Conductor::resume(&wf, state).map_err(|e| bad(e.to_string()))?;
    // A rerun is a new run: a new budget of task runs.
    c.set_task_runs(0);
    c.request_rerun(tasks)
        .map_err(|source| ControlError::Rerun {
            id,
            source: Box::new(source),
        })?;
    let opts = RunOptions {
        dry_run: run.dry_run,
        actor: run.actor.clone(),
        timeout: run.timeout_ms.map(std::time::Duration::from_millis),
    };
    let new = ExecutionId::new();
    let drive = how == Continue::Foreground;
    let outcome = begin(
        app,
        new,
        super::Tree::top(new, false),
        pack,
        &plugin,
        run.parameters.clone(),
        &opts,
        None,
        c,
        drive,
    )?;
    Ok(outcome.ok_or(new))
}
