//! `drover exec pause|resume|cancel|rerun`: operators' requests on workflow
//! executions (see `drover_engine::workflows::control`), and how a drive
//! that ended or parked is printed (shared with `drover run`).
//!
//! Exit codes: 0 the request was taken (or the workflow it drove
//! succeeded), 1 the workflow it drove ended failed/canceled, 2 the
//! request was refused (unknown id, already ended, ...), 3 the workflow
//! it drove waits again (paused, an inquiry).

use std::path::Path;
use std::process::ExitCode;

use anyhow::Result;
use clap::Args;
use drover_core::{ExecStatus, ExecutionId};
use drover_engine::workflows::control::{self, Done};
use drover_engine::workflows::{Continue, Outcome};
use drover_workflow::RerunRequest;
use serde_json::json;

use crate::context::open_app;
use crate::output;

/// Exit code of a workflow that waits.
pub const WAITING: u8 = 3;

#[derive(Args, Debug)]
pub struct PauseArgs {
    /// The workflow execution id.
    pub id: String,
    #[arg(long)]
    pub json: bool,
}

#[derive(Args, Debug)]
pub struct ControlArgs {
    /// The workflow execution id.
    pub id: String,
    /// Queue the run for `drover serve` instead of continuing it here.
    #[arg(long)]
    pub queue: bool,
    #[arg(long)]
    pub json: bool,
}

#[derive(Args, Debug)]
pub struct RerunArgs {
    /// The ended workflow execution id.
    pub id: String,
    /// A task to run again (repeatable; `TASK` or `TASK@ROUTE`). Without
    /// any, every failed task runs again.
    #[arg(long = "task", value_name = "TASK")]
    pub tasks: Vec<String>,
    /// With-items tasks: run every item again, not only the failed ones.
    #[arg(long)]
    pub reset_items: bool,
    /// Queue the new run for `drover serve` instead of running it here.
    #[arg(long)]
    pub queue: bool,
    #[arg(long)]
    pub json: bool,
}

fn how(queue: bool) -> Continue {
    if queue {
        Continue::Queue
    } else {
        Continue::Foreground
    }
}

pub fn pause(db: &Path, args: PauseArgs) -> Result<ExitCode> {
    let app = open_app(db)?;
    let id: ExecutionId = args.id.parse()?;
    let done = control::pause(&app, id)?;
    done_message(&done, "pause", args.json)
}

pub fn resume(db: &Path, args: ControlArgs) -> Result<ExitCode> {
    let app = open_app(db)?;
    let id: ExecutionId = args.id.parse()?;
    let done = control::resume_run(&app, id, how(args.queue))?;
    done_message(&done, "resume", args.json)
}

pub fn cancel(db: &Path, args: ControlArgs) -> Result<ExitCode> {
    let app = open_app(db)?;
    let id: ExecutionId = args.id.parse()?;
    let done = control::cancel(&app, id, how(args.queue))?;
    done_message(&done, "cancel", args.json)
}

pub fn rerun(db: &Path, args: RerunArgs) -> Result<ExitCode> {
    let app = open_app(db)?;
    let id: ExecutionId = args.id.parse()?;
    let mut tasks = Vec::new();
    for t in &args.tasks {
        let (task, route) = match t.split_once('@') {
            Some((task, route)) => (
                task,
                route.parse().map_err(|_| {
                    anyhow::anyhow!("--task {t:?}: the route after @ must be a number")
                })?,
            ),
            None => (t.as_str(), 0),
        };
        tasks.push(RerunRequest {
            task_id: task.to_owned(),
            route,
            reset_items: args.reset_items,
        });
    }
    match control::rerun(&app, id, &tasks, how(args.queue))? {
        Ok(outcome) => {
            if !args.json {
                let new = match &outcome {
                    Outcome::Finished(e) => e.id,
                    Outcome::Parked { id, .. } => *id,
                };
                println!("rerun of {id}: new execution {new}");
            }
            print_outcome(&outcome, args.json)
        }
        Err(new) => {
            if args.json {
                output::json(&json!({"id": new, "rerun_of": id, "status": "queued"}))?;
            } else {
                println!(
                    "rerun of {id} queued as {new}: `drover serve` runs it (`drover exec get {new} --tree` to follow)"
                );
            }
            Ok(ExitCode::SUCCESS)
        }
    }
}

fn done_message(done: &Done, verb: &str, json_out: bool) -> Result<ExitCode> {
    match done {
        Done::Drove(outcome) => print_outcome(outcome, json_out),
        Done::Queued { root } => {
            if json_out {
                output::json(&json!({"id": root, "request": verb, "status": "queued"}))?;
            } else {
                println!("{root}: {verb} done; queued for `drover serve`, which continues it");
            }
            Ok(ExitCode::SUCCESS)
        }
        Done::Asked { root, pid } => {
            if json_out {
                output::json(
                    &json!({"id": root, "request": verb, "status": "requested", "pid": pid}),
                )?;
            } else {
                let by = pid.map_or("the process driving it".to_owned(), |p| {
                    format!("process {p}")
                });
                let then = match verb {
                    "pause" => format!(
                        "running tasks finish, no new task starts; then it waits for `drover exec resume {root}`"
                    ),
                    "cancel" => {
                        "running tasks finish, no new task starts; then it ends canceled".into()
                    }
                    _ => "it goes on".into(),
                };
                println!("{root}: {verb} requested; {by} acts at its next step: {then}");
            }
            Ok(ExitCode::SUCCESS)
        }
    }
}

/// Prints how a drive ended; the exit code follows the workflow.
pub fn print_outcome(outcome: &Outcome, json_out: bool) -> Result<ExitCode> {
    match outcome {
        Outcome::Finished(exec) => {
            if json_out {
                output::json(exec)?;
            } else {
                output::execution(exec);
            }
            Ok(match exec.status {
                ExecStatus::Succeeded => ExitCode::SUCCESS,
                _ => ExitCode::from(1),
            })
        }
        Outcome::Parked { id, why } => {
            let status = if why == "paused" { "paused" } else { "pending" };
            if json_out {
                output::json(&json!({"id": id, "status": status, "waiting_on": why}))?;
            } else if let Some(q) = why.strip_prefix("inquiry ") {
                println!(
                    "workflow {id} waits for inquiry {q}: `drover inquiry get {q}` shows it, \
                     `drover inquiry respond {q} key=value...` answers it"
                );
            } else {
                println!("workflow {id} is paused: `drover exec resume {id}` continues it");
            }
            Ok(ExitCode::from(WAITING))
        }
    }
}
