//! The durable workflow runner (`runner: workflow` actions).
//!
//! A run keeps its [`Conductor`] in memory and dispatches each task's action
//! one after another (with-items and parallel branches run sequentially) as
//! a child execution through the [`Runtime`]: a Wasm action, or another
//! workflow (a subworkflow, run by this same code). Every step is one store
//! transaction holding the conductor state and what caused it:
//!
//! - before a child starts: the state (task reported `running`) and the
//!   child as *in flight*;
//! - when it ends: the child's execution (linked to the run, its task and
//!   route), the state after its event, and nothing in flight;
//! - at the end: the workflow execution (status, output, errors and, in a
//!   dry run, the children's plans in order, each effect annotated with its
//!   task and route).
//!
//! So after a crash ([`resume_unfinished`], called by `drover serve` at
//! start) a run continues from its stored state. A child found in flight is
//! run again only if its action is `idempotent: true` (or is a subworkflow,
//! which resumes itself); otherwise it is recorded as abandoned and the
//! workflow fails with an error naming the task. `drover-workflow` stays
//! pure: all I/O is here.

use std::sync::Arc;
use std::time::Duration;

use drover_core::{ExecStatus, Execution, ExecutionId, LogLevel, LogLine, PlannedEffect, now_ms};
use drover_host::{RunError, RunOptions, Runtime};
use drover_pack::{ActionRef, Pack, Plugin};
use drover_store::{ChildLink, StoreError, WorkflowRun};
use drover_workflow::{ActionEvent, Conductor, ConductorError, Status, Workflow, WorkflowState};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

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

/// The child a run started and has not recorded yet.
#[derive(Clone, Debug, Serialize, Deserialize)]
struct Inflight {
    task: String,
    route: u32,
    item: Option<usize>,
    action: String,
    child: ExecutionId,
    input: Value,
}

/// What a run needs besides its conductor.
struct Meta {
    id: ExecutionId,
    action: String,
    pack: Arc<Pack>,
    params: Value,
    opts: RunOptions,
    started_at_ms: i64,
    link: Option<ChildLink>,
}

/// Runs workflow `action` to its end in this thread and stores it; returns
/// the workflow execution (its children are stored with `parent` = its id).
pub fn run_workflow(
    runtime: &Runtime,
    action: &ActionRef,
    params: Value,
    opts: &RunOptions,
) -> Result<Execution, WorkflowError> {
    let (pack, plugin) = runtime.action_plugin(action)?;
    let params = validate(action, &plugin, params)?;
    start(
        runtime,
        ExecutionId::new(),
        pack,
        &plugin,
        params,
        opts,
        None,
    )
}

/// Whether `action` is an installed workflow.
pub fn is_workflow(runtime: &Runtime, action: &ActionRef) -> Result<bool, RunError> {
    Ok(runtime.action_plugin(action)?.1.is_workflow())
}

/// Resumes every run left unfinished (by a crash or a kill), one after
/// another; returns what each ended as.
pub fn resume_unfinished(
    runtime: &Runtime,
) -> Result<Vec<Result<Execution, WorkflowError>>, StoreError> {
    let runs = runtime.store().unfinished_workflow_runs()?;
    Ok(runs
        .into_iter()
        .map(|run| {
            tracing::info!(run = %run.id, action = %run.action, "resuming workflow run");
            resume(runtime, run)
        })
        .collect())
}

fn validate(action: &ActionRef, plugin: &Plugin, params: Value) -> Result<Value, RunError> {
    plugin
        .parameters
        .validate(params)
        .map_err(|problem| RunError::Params {
            action: action.to_string(),
            problem,
            params: plugin.parameters.describe(),
        })
}

fn parse(action: &str, plugin: &Plugin) -> Result<Workflow, WorkflowError> {
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

fn state_json(c: &Conductor<'_>) -> Result<Value, StoreError> {
    Ok(serde_json::to_value(c.state())?)
}

fn start(
    runtime: &Runtime,
    id: ExecutionId,
    pack: Arc<Pack>,
    plugin: &Plugin,
    params: Value,
    opts: &RunOptions,
    link: Option<ChildLink>,
) -> Result<Execution, WorkflowError> {
    let action = format!("{}.{}", pack.name, plugin.name);
    let wf = parse(&action, plugin)?;
    let inputs = params.as_object().cloned().unwrap_or_default();
    let mut c = Conductor::new(&wf, inputs);
    c.request_status(Status::Running)
        .map_err(|source| WorkflowError::Conductor {
            action: action.clone(),
            source,
        })?;
    let meta = Meta {
        id,
        action,
        pack,
        params,
        opts: opts.clone(),
        started_at_ms: now_ms(),
        link,
    };
    runtime.store().workflow_start(WorkflowRun {
        id,
        action: meta.action.clone(),
        link: meta.link.clone(),
        parameters: meta.params.clone(),
        dry_run: opts.dry_run,
        actor: opts.actor.clone(),
        started_at_ms: meta.started_at_ms,
        state: state_json(&c)?,
        inflight: None,
        finished: false,
        owner_pid: None,
    })?;
    drive(runtime, &meta, c, None)
}

fn resume(runtime: &Runtime, run: WorkflowRun) -> Result<Execution, WorkflowError> {
    let action: ActionRef = run.action.parse().map_err(|e| WorkflowError::State {
        id: run.id,
        message: format!("{e}"),
    })?;
    let (pack, plugin) = runtime.action_plugin(&action)?;
    let wf = parse(&run.action, &plugin)?;
    let bad = |message: String| WorkflowError::State {
        id: run.id,
        message,
    };
    let state: WorkflowState =
        serde_json::from_value(run.state.clone()).map_err(|e| bad(e.to_string()))?;
    let c = Conductor::resume(&wf, state).map_err(|e| bad(e.to_string()))?;
    let inflight: Option<Inflight> = run
        .inflight
        .clone()
        .map(serde_json::from_value)
        .transpose()
        .map_err(|e| bad(e.to_string()))?;
    let meta = Meta {
        id: run.id,
        action: run.action.clone(),
        pack,
        params: run.parameters.clone(),
        opts: RunOptions {
            dry_run: run.dry_run,
            actor: run.actor.clone(),
            timeout: None,
        },
        started_at_ms: run.started_at_ms,
        link: run.link.clone(),
    };
    drive(runtime, &meta, c, inflight)
}

/// Dispatches until the conductor has nothing left, then finishes.
fn drive(
    runtime: &Runtime,
    meta: &Meta,
    mut c: Conductor<'_>,
    inflight: Option<Inflight>,
) -> Result<Execution, WorkflowError> {
    let conductor_err = |source| WorkflowError::Conductor {
        action: meta.action.clone(),
        source,
    };
    if let Some(inf) = inflight {
        let again = match inf.action.parse::<ActionRef>() {
            Ok(a) => match runtime.action_plugin(&a) {
                Ok((_, p)) => p.is_workflow() || p.idempotent,
                Err(_) => false,
            },
            Err(_) => false,
        };
        if again {
            complete_child(runtime, meta, &mut c, &inf)?;
        } else {
            let message = format!(
                "task {:?} (route {}) was abandoned: its action {} was in flight when drover \
                 stopped and is not idempotent, so it is not run again; check what it did, \
                 then run the workflow again",
                inf.task, inf.route, inf.action
            );
            let now = now_ms();
            let child = Execution {
                id: inf.child,
                action: inf.action.clone(),
                pack_version: String::new(),
                digest: String::new(),
                parameters: inf.input.clone(),
                status: ExecStatus::Failed,
                result: Some(json!({"abandoned": true})),
                error: Some(format!("abandoned: {message}")),
                dry_run: meta.opts.dry_run,
                plan: meta.opts.dry_run.then(Vec::new),
                logs: Vec::new(),
                actor: meta.opts.actor.clone(),
                started_at_ms: now,
                finished_at_ms: now,
                duration_us: 0,
            };
            let _ = c.request_status(Status::Failed);
            runtime.store().workflow_child_done(
                meta.id,
                state_json(&c)?,
                child,
                ChildLink {
                    parent: meta.id,
                    task: inf.task.clone(),
                    route: inf.route,
                },
            )?;
            return finish(runtime, meta, c, Some(message));
        }
    }
    loop {
        let tasks = c.next_tasks();
        if tasks.is_empty() {
            break;
        }
        for task in tasks {
            if let Some(delay) = task.delay.filter(|_| !meta.opts.dry_run) {
                std::thread::sleep(Duration::from_secs(delay));
            }
            for req in task.actions {
                let event = |e: ActionEvent| match req.item_id {
                    Some(i) => e.for_item(i),
                    None => e,
                };
                c.on_action_event(
                    &task.task_id,
                    task.route,
                    event(ActionEvent::status(Status::Running)),
                )
                .map_err(conductor_err)?;
                let Some(action) = req.action.clone() else {
                    c.on_action_event(
                        &task.task_id,
                        task.route,
                        event(ActionEvent::succeeded(Value::Null)),
                    )
                    .map_err(conductor_err)?;
                    runtime
                        .store()
                        .workflow_step(meta.id, state_json(&c)?, None)?;
                    continue;
                };
                let inf = Inflight {
                    task: task.task_id.clone(),
                    route: task.route,
                    item: req.item_id,
                    action,
                    child: ExecutionId::new(),
                    input: req.input.clone(),
                };
                runtime.store().workflow_step(
                    meta.id,
                    state_json(&c)?,
                    Some(serde_json::to_value(&inf).map_err(StoreError::from)?),
                )?;
                complete_child(runtime, meta, &mut c, &inf)?;
            }
        }
    }
    finish(runtime, meta, c, None)
}

/// Runs the in-flight child `inf`, feeds its outcome to the conductor and
/// stores both in one transaction.
fn complete_child(
    runtime: &Runtime,
    meta: &Meta,
    c: &mut Conductor<'_>,
    inf: &Inflight,
) -> Result<(), WorkflowError> {
    let outcome = run_child(runtime, meta, inf)?;
    let event = match &outcome {
        Ok(exec) if exec.status == ExecStatus::Succeeded => {
            ActionEvent::succeeded(exec.result.clone().unwrap_or(Value::Null))
        }
        Ok(exec) => ActionEvent::failed(json!({
            "status": exec.status,
            "error": exec.error,
            "result": exec.result,
        })),
        Err(message) => ActionEvent::failed(json!({"error": message})),
    };
    let event = match inf.item {
        Some(i) => event.for_item(i),
        None => event,
    };
    c.on_action_event(&inf.task, inf.route, event)
        .map_err(|source| WorkflowError::Conductor {
            action: meta.action.clone(),
            source,
        })?;
    let state = state_json(c)?;
    match outcome {
        Ok(exec) => runtime.store().workflow_child_done(
            meta.id,
            state,
            exec,
            ChildLink {
                parent: meta.id,
                task: inf.task.clone(),
                route: inf.route,
            },
        )?,
        Err(_) => runtime.store().workflow_step(meta.id, state, None)?,
    }
    Ok(())
}

/// The child's execution (not stored yet), or why it could not run at all
/// (the task then fails). Store and state errors abort the run.
fn run_child(
    runtime: &Runtime,
    meta: &Meta,
    inf: &Inflight,
) -> Result<Result<Execution, String>, WorkflowError> {
    let action: ActionRef = match inf.action.parse() {
        Ok(a) => a,
        Err(e) => return Ok(Err(format!("{e}"))),
    };
    let (pack, plugin) = match runtime.action_plugin(&action) {
        Ok(found) => found,
        Err(e) => return Ok(Err(e.to_string())),
    };
    let opts = RunOptions {
        dry_run: meta.opts.dry_run,
        actor: meta.opts.actor.clone(),
        timeout: None,
    };
    let params = match validate(&action, &plugin, inf.input.clone()) {
        Ok(p) => p,
        Err(e) => return Ok(Err(e.to_string())),
    };
    if plugin.is_workflow() {
        let link = ChildLink {
            parent: meta.id,
            task: inf.task.clone(),
            route: inf.route,
        };
        let sub = match runtime.store().get_workflow_run(inf.child)? {
            Some(run) if !run.finished => resume(runtime, run),
            _ => start(runtime, inf.child, pack, &plugin, params, &opts, Some(link)),
        };
        return match sub {
            Ok(exec) => Ok(Ok(exec)),
            Err(WorkflowError::Store(e)) => Err(WorkflowError::Store(e)),
            Err(e) => Ok(Err(e.to_string())),
        };
    }
    let prepared = match runtime.prepare(&action) {
        Ok(p) => p,
        Err(RunError::Store(e)) => return Err(e.into()),
        Err(e) => return Ok(Err(e.to_string())),
    };
    match runtime.execute_as(inf.child, &prepared, params, &opts) {
        Ok(exec) => Ok(Ok(exec)),
        Err(RunError::Store(e)) => Err(e.into()),
        Err(e) => Ok(Err(e.to_string())),
    }
}

/// Builds the workflow execution; a top-level run stores it (a
/// subworkflow's parent stores it with its own state).
fn finish(
    runtime: &Runtime,
    meta: &Meta,
    mut c: Conductor<'_>,
    forced_error: Option<String>,
) -> Result<Execution, WorkflowError> {
    c.render_output();
    let succeeded = forced_error.is_none() && c.status() == Some(Status::Succeeded);
    let mut messages: Vec<String> = forced_error.into_iter().collect();
    // A failure handled by a transition (remediation) is not an error of a
    // workflow that succeeded.
    for e in c.errors().iter().filter(|_| !succeeded) {
        messages.push(match (&e.task_id, e.route) {
            (Some(task), Some(route)) => format!("task {task:?} (route {route}): {}", e.message),
            (Some(task), None) => format!("task {task:?}: {}", e.message),
            _ => e.message.clone(),
        });
    }
    if !succeeded && messages.is_empty() {
        messages.push(format!(
            "the workflow ended {}",
            c.status().map_or("without a status", |s| s.as_str())
        ));
    }
    let store = runtime.store();
    let children = store.execution_children(meta.id)?;
    let mut logs = Vec::new();
    let mut plan = meta.opts.dry_run.then(Vec::new);
    for child in &children {
        logs.push(LogLine {
            at_ms: (child.summary.started_at_ms - meta.started_at_ms).max(0) as u64,
            level: if child.summary.status == ExecStatus::Succeeded {
                LogLevel::Info
            } else {
                LogLevel::Warn
            },
            message: format!(
                "task {} (route {}): {} {} {}",
                child.task,
                child.route,
                child.summary.action,
                child.summary.status,
                child.summary.id
            ),
        });
        if let Some(plan) = &mut plan
            && let Some(exec) = store.get_execution(child.summary.id)?
        {
            for effect in exec.plan.unwrap_or_default() {
                let (task, route) = match effect.task {
                    // Already annotated by a subworkflow: keep its task.
                    Some(t) => (Some(t), effect.route),
                    None => (Some(child.task.clone()), Some(child.route)),
                };
                plan.push(PlannedEffect {
                    seq: plan.len() as u32 + 1,
                    task,
                    route,
                    ..effect
                });
            }
        }
    }
    let finished_at_ms = now_ms();
    let exec = Execution {
        id: meta.id,
        action: meta.action.clone(),
        pack_version: meta.pack.version.clone(),
        digest: String::new(),
        parameters: meta.params.clone(),
        status: if succeeded {
            ExecStatus::Succeeded
        } else {
            ExecStatus::Failed
        },
        result: c.output().map(|o| Value::Object(o.clone())),
        error: (!messages.is_empty()).then(|| messages.join("; ")),
        dry_run: meta.opts.dry_run,
        plan,
        logs,
        actor: meta.opts.actor.clone(),
        started_at_ms: meta.started_at_ms,
        finished_at_ms,
        duration_us: ((finished_at_ms - meta.started_at_ms).max(0) as u64) * 1000,
    };
    if meta.link.is_none() {
        store.workflow_finish(state_json(&c)?, exec.clone(), None)?;
    }
    Ok(exec)
}
