//! Acting on runs from the execution page: pause, resume and cancel a
//! workflow in flight, rerun an ended one from its failed tasks, and run
//! any ended execution again with the same parameters.
//!
//! Each goes through the operation the CLI and the API call:
//! [`drover_engine::workflows::control`] (`drover exec pause|resume|
//! cancel|rerun`, `POST /api/v1/executions/{id}/...`), with the API's
//! choice of continuing a parked run in `drover serve` (queued, never
//! driven in the handler); "run again" queues the stored action and
//! parameters like the run form and `POST /api/v1/executions`, checked
//! against the installed schema. Every route is an operator's form post
//! with its CSRF token ([`Post`]); the page shows only the buttons that
//! apply to the run's state, and asks before a cancel and before a live
//! run of something that acts.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use drover_api::auth::Principal;
use drover_app::App;
use drover_core::{ExecStatus, Execution, ExecutionId};
use drover_engine::workflows::Outcome;
use drover_engine::workflows::control::{self, Continue, ControlError, Done};
use drover_store::{Store, WorkflowRun};
use drover_workflow::WorkflowState;
use serde::{Deserialize, Serialize};

use super::executions::{parse_id, render_detail};
use crate::auth::{Post, need};
use crate::{WebError, WebState};

/// The buttons the execution page offers, by the run's state.
#[derive(Serialize, Default, Debug)]
pub struct Actions {
    pub pause: bool,
    pub resume: bool,
    pub cancel: bool,
    /// An ended execution whose action is still installed.
    pub run_again: bool,
    /// An ended top-level workflow that failed: the failed tasks a rerun
    /// starts from (empty: no rerun button).
    pub rerun_from: Vec<String>,
    /// What the browser asks first (none: no question).
    pub cancel_question: Option<String>,
    pub run_again_question: Option<String>,
    pub rerun_question: Option<String>,
}

/// What applies to execution `e` (ended) or workflow run `run` (with
/// `state`, its conductor state, when it could be read).
pub fn actions(
    store: &Store,
    e: Option<&Execution>,
    run: Option<&WorkflowRun>,
    state: Option<&WorkflowState>,
) -> Actions {
    let mut a = Actions::default();
    // Subworkflows are acted on through their top-level run.
    let top = run.filter(|r| r.link.is_none());
    match (e, top) {
        (None, Some(run)) if !run.finished => {
            match run.progress().status {
                "canceling" => {}
                "paused" | "pausing" => (a.resume, a.cancel) = (true, true),
                _ => (a.pause, a.cancel) = (true, true),
            }
            if a.cancel {
                a.cancel_question = Some(format!(
                    "Cancel workflow {}? Running tasks finish, nothing new starts, open inquiries close; it ends canceled.",
                    run.action
                ));
            }
        }
        (Some(e), top) => {
            if let Ok((_, plugin)) = super::run::find_action(store, &e.action) {
                a.run_again = true;
                if !e.dry_run {
                    a.run_again_question = super::run::live_run_question(&e.action, &plugin)
                        .map(|q| format!("{q} It runs again with the same parameters."));
                }
            }
            if let (Some(run), Some(state)) = (top, state)
                && run.finished
                && e.status != ExecStatus::Succeeded
            {
                a.rerun_from = failed_tasks(state);
                if !a.rerun_from.is_empty() && !e.dry_run {
                    a.rerun_question = Some(format!(
                        "Rerun workflow {} for real from {}? Those tasks run again and perform their effects; the tasks that succeeded do not.",
                        e.action,
                        a.rerun_from.join(", ")
                    ));
                }
            }
        }
        _ => {}
    }
    a
}

/// The tasks a rerun without `--task` runs again: those that ended the
/// run failed (its terminal, abended entries), each named once.
fn failed_tasks(state: &WorkflowState) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for e in state.sequence() {
        if e.term && e.status.is_some_and(drover_workflow::Status::is_abended) {
            let name = e.id.to_string();
            if !out.contains(&name) {
                out.push(name);
            }
        }
    }
    out
}

/// The notice shown after `done` (the redirect's `?done=`).
pub fn notice(done: &str) -> Option<&'static str> {
    Some(match done {
        "pause" => {
            "Pause requested: running tasks finish and no new task starts; then the workflow waits until you resume it."
        }
        "resume" => "Resumed: the server continues the workflow.",
        "cancel" => {
            "Cancel requested: running tasks finish, no new task starts, open inquiries close; then it ends canceled."
        }
        "rerun" => {
            "Rerun of the failed tasks, as this new execution: the server runs it from where the last one failed."
        }
        "again" => "Run again with the same parameters, as this new execution.",
        _ => return None,
    })
}

/// A control form has nothing but its CSRF token.
#[derive(Deserialize)]
pub struct Empty {}

fn refused(e: ControlError) -> WebError {
    match e {
        ControlError::Unknown(_) => WebError::NotFound(e.to_string()),
        ControlError::NotAWorkflow { .. } | ControlError::Rerun { .. } => {
            WebError::BadRequest(e.to_string())
        }
        ControlError::Finished { .. }
        | ControlError::NotPaused { .. }
        | ControlError::NotEnded { .. } => WebError::Conflict(e.to_string()),
        other => WebError::Internal(other.to_string()),
    }
}

/// The execution a pause, resume or cancel acted on.
fn acted_on(done: Done) -> ExecutionId {
    match done {
        Done::Asked { root, .. } | Done::Queued { root } => root,
        Done::Drove(outcome) => outcome_id(*outcome),
    }
}

fn outcome_id(o: Outcome) -> ExecutionId {
    match o {
        Outcome::Finished(e) => e.id,
        Outcome::Parked { id, .. } => id,
    }
}

/// Runs `f` on execution `id` on the blocking pool, wakes the scheduler
/// (a queued run goes on), and sends the browser to the execution it names
/// with `done`; a refusal shows on the execution's page with its status.
async fn act<F>(state: &WebState, me: &Principal, id: &str, done: &'static str, f: F) -> Response
where
    F: FnOnce(&App, &Store, ExecutionId, String) -> Result<ExecutionId, WebError> + Send + 'static,
{
    let id = match parse_id(id) {
        Ok(id) => id,
        Err(e) => return e.into_response(),
    };
    let app = state.api.app.clone();
    let intake = state.api.intake.clone();
    let actor = me.actor();
    let result = state
        .blocking(move |store| {
            let target = f(&app, store, id, actor)?;
            intake.notify_queued();
            Ok(target)
        })
        .await;
    let (status, message) = match result {
        Ok(target) => {
            return Redirect::to(&format!("/ui/executions/{target}?done={done}")).into_response();
        }
        Err(WebError::Conflict(m)) => (StatusCode::CONFLICT, m),
        Err(WebError::BadRequest(m)) => (StatusCode::BAD_REQUEST, m),
        Err(e) => return e.into_response(),
    };
    match render_detail(state, me, id, None, Some(message)).await {
        Ok(page) => (status, page).into_response(),
        Err(e) => e.into_response(),
    }
}

/// `POST /ui/executions/{id}/pause`: `drover exec pause`.
pub async fn pause(
    State(state): State<WebState>,
    Path(id): Path<String>,
    Post(me, Empty {}, ..): Post<need::Operator, Empty>,
) -> Response {
    act(&state, &me, &id, "pause", |app, _, id, _| {
        control::pause(app, id).map(acted_on).map_err(refused)
    })
    .await
}

/// `POST /ui/executions/{id}/resume`: `drover exec resume --queue`.
pub async fn resume(
    State(state): State<WebState>,
    Path(id): Path<String>,
    Post(me, Empty {}, ..): Post<need::Operator, Empty>,
) -> Response {
    act(&state, &me, &id, "resume", |app, _, id, _| {
        control::resume_run(app, id, Continue::Queue)
            .map(acted_on)
            .map_err(refused)
    })
    .await
}

/// `POST /ui/executions/{id}/cancel`: `drover exec cancel --queue`.
pub async fn cancel(
    State(state): State<WebState>,
    Path(id): Path<String>,
    Post(me, Empty {}, ..): Post<need::Operator, Empty>,
) -> Response {
    act(&state, &me, &id, "cancel", |app, _, id, _| {
        control::cancel(app, id, Continue::Queue)
            .map(acted_on)
            .map_err(refused)
    })
    .await
}

/// `POST /ui/executions/{id}/rerun`: `drover exec rerun --queue` from the
/// failed tasks; the browser goes to the new execution.
pub async fn rerun(
    State(state): State<WebState>,
    Path(id): Path<String>,
    Post(me, Empty {}, ..): Post<need::Operator, Empty>,
) -> Response {
    act(
        &state,
        &me,
        &id,
        "rerun",
        |app, _, id, _| match control::rerun(app, id, &[], Continue::Queue).map_err(refused)? {
            Err(new) => Ok(new),
            Ok(outcome) => Ok(outcome_id(outcome)),
        },
    )
    .await
}

/// `POST /ui/executions/{id}/run-again`: the ended execution's action,
/// parameters and mode (dry run or not), queued anew.
pub async fn run_again(
    State(state): State<WebState>,
    Path(id): Path<String>,
    Post(me, Empty {}, ..): Post<need::Operator, Empty>,
) -> Response {
    let intake = state.api.intake.clone();
    act(&state, &me, &id, "again", move |_, store, id, actor| {
        let Some(e) = store.get_execution(id)? else {
            return Err(
                if store.get_workflow_run(id)?.is_some() || store.open_request(id)?.is_some() {
                    WebError::Conflict(format!(
                        "execution {id} has not ended: it runs again once it has"
                    ))
                } else {
                    WebError::NotFound(format!("no execution {id}"))
                },
            );
        };
        super::run::queue(store, &intake, &e.action, e.parameters, e.dry_run, actor)
    })
    .await
}
