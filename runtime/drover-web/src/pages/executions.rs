//! Executions: the list is [`super::find`]'s; here is one execution with its
//! parameters, result, logs, dry-run plan and, for a workflow, its graph
//! coloured by task status (each task a link to its execution), its tasks
//! with retries folded and their timeline ([`super::tasks`]), and the
//! buttons that act on it ([`super::run_control`]).

use std::collections::HashMap;

use axum::extract::{Path, Query, State};
use axum::response::Html;
use drover_core::{Execution, ExecutionId};
use drover_pack::Pack;
use drover_store::Store;
use drover_workflow::{Workflow, WorkflowState};
use serde::{Deserialize, Serialize};

use super::Page;
use crate::auth::{Page as Auth, need};
use crate::{WebError, WebState};

pub use super::find::{children, list, rows};

/// `pack.action` of every installed action, for the filter and run forms.
pub fn action_names(store: &Store) -> Result<Vec<String>, WebError> {
    let mut names: Vec<String> = Vec::new();
    for p in store.list_packs()? {
        let pack: Pack = serde_json::from_value(p.manifest)
            .map_err(|e| WebError::Internal(format!("stored manifest of {}: {e}", p.name)))?;
        for plugin in &pack.plugins {
            if plugin.kind == drover_pack::PluginKind::Action {
                names.push(format!("{}.{}", pack.name, plugin.name));
            }
        }
    }
    names.sort();
    names.dedup();
    Ok(names)
}

/// What the detail page shows.
#[derive(Serialize)]
struct Detail {
    id: String,
    /// Stored (finished) execution, if it is.
    execution: Option<Execution>,
    /// `requested` or `running` while it has no execution row.
    pending: Option<String>,
    action: String,
    dry_run: bool,
    parameters: serde_json::Value,
    /// The workflow picture, coloured by task status.
    graph: Option<String>,
    /// A workflow's tasks, retried attempts folded into their run.
    tasks: Vec<super::tasks::TaskRun>,
    /// When each task ran.
    timeline: Vec<super::tasks::Bar>,
    /// The buttons that apply (pause, cancel, run again, ...).
    actions: super::run_control::Actions,
    parent: Option<drover_store::ChildLink>,
    /// The rule and event that started it (or the workflow it runs in).
    origin: Option<drover_app::trace::Origin>,
    audit: Vec<drover_core::AuditRecord>,
    /// What an unfinished workflow waits on (`inquiry ID`, `paused`, a
    /// delay), and the inquiry's id when it is one.
    waiting_on: Option<String>,
    inquiry: Option<String>,
}

fn load(store: &Store, id: ExecutionId) -> Result<Detail, WebError> {
    let execution = store.get_execution(id)?;
    let (pending, action, dry_run, parameters) = match &execution {
        Some(e) => (None, e.action.clone(), e.dry_run, e.parameters.clone()),
        None => match store.open_request(id)? {
            Some((req, st)) => (Some(st), req.action, req.dry_run, req.parameters),
            None => match store.get_workflow_run(id)? {
                Some(run) => (
                    Some("running".to_owned()),
                    run.action,
                    run.dry_run,
                    run.parameters,
                ),
                None => return Err(WebError::NotFound(format!("no execution {id}"))),
            },
        },
    };
    let run = store.get_workflow_run(id)?;
    let state: Option<WorkflowState> = run.as_ref().and_then(|r| {
        serde_json::from_value(r.state.clone())
            .inspect_err(|e| tracing::warn!(%id, error = %e, "cannot read the workflow state"))
            .ok()
    });
    let children = if run.is_some() {
        store.execution_children(id)?
    } else {
        Vec::new()
    };
    let tasks = super::tasks::fold(children, state.as_ref());
    let timeline = super::tasks::timeline(&tasks);
    let graph = match (&run, &state) {
        (Some(run), Some(st)) => workflow_graph(
            store,
            &run.action,
            st,
            &super::tasks::latest_by_task(&tasks),
        ),
        _ => None,
    };
    // A workflow asked to pause or cancel, or paused, says so.
    let pending = match (&pending, &run) {
        (Some(_), Some(r)) if !r.finished => {
            let p = r.progress().status;
            if matches!(p, "paused" | "pausing" | "canceling") {
                Some(p.to_owned())
            } else {
                pending
            }
        }
        _ => pending,
    };
    let actions =
        super::run_control::actions(store, execution.as_ref(), run.as_ref(), state.as_ref());
    let waiting_on = match (&execution, &run) {
        (None, Some(run)) => {
            let p = run.progress();
            p.delay_until_ms
                .map(|ms| format!("a delay until {}", crate::templates::time(ms)))
                .or(p.waiting_on)
        }
        _ => None,
    };
    let inquiry = waiting_on
        .as_deref()
        .and_then(|w| w.strip_prefix("inquiry "))
        .map(str::to_owned);
    let parent = store.execution_link(id)?;
    let origin = drover_app::trace::origin(store, id)?;
    let audit = store.list_audit(&drover_store::AuditFilter {
        execution_id: Some(id),
        limit: 200,
        ..Default::default()
    })?;
    Ok(Detail {
        id: id.to_string(),
        execution,
        pending,
        action,
        dry_run,
        parameters,
        graph,
        tasks,
        timeline,
        actions,
        parent,
        origin,
        audit,
        waiting_on,
        inquiry,
    })
}

/// The SVG of workflow `action` (from its installed pack) coloured by the
/// run's conductor state, each task that ran a link to its latest
/// execution (`links`: task to execution id); `None` when the workflow
/// cannot be read (the page then simply has no picture, and the reason is
/// logged).
fn workflow_graph(
    store: &Store,
    action: &str,
    st: &WorkflowState,
    links: &HashMap<String, String>,
) -> Option<String> {
    let (pack_name, name) = action.split_once('.')?;
    let draw = || -> Result<String, String> {
        let installed = store
            .get_pack(pack_name, None)
            .map_err(|e| e.to_string())?
            .ok_or("the pack is no longer installed")?;
        let pack: Pack = serde_json::from_value(installed.manifest).map_err(|e| e.to_string())?;
        let entry = pack
            .plugin(name)
            .and_then(|p| p.workflow.clone())
            .ok_or("the action is no longer a workflow")?;
        let wf = Workflow::parse(&entry.entry, &entry.text, None).map_err(|e| e.to_string())?;
        let link = |task: &str| links.get(task).map(|id| format!("/ui/executions/{id}"));
        Ok(drover_workflow::graph::to_svg_linked(&wf, Some(st), &link))
    };
    draw()
        .inspect_err(|e| tracing::warn!(%action, error = %e, "cannot draw the workflow graph"))
        .ok()
}

pub(crate) fn parse_id(id: &str) -> Result<ExecutionId, WebError> {
    id.parse()
        .map_err(|e: drover_core::IdError| WebError::NotFound(e.to_string()))
}

#[derive(Deserialize, Default)]
pub struct DetailQuery {
    /// What the last control did (see [`super::run_control::notice`]).
    done: Option<String>,
}

/// The detail page of execution `id`, with a notice (what was just done)
/// or the reason an action was refused.
pub(crate) async fn render_detail(
    state: &WebState,
    me: &drover_api::auth::Principal,
    id: ExecutionId,
    notice: Option<&str>,
    action_error: Option<String>,
) -> Result<Html<String>, WebError> {
    let detail = state.blocking(move |store| load(store, id)).await?;
    Ok(Html(state.templates.page(
        "execution.html",
        me,
        ctx! { page => "executions", d => detail, notice, action_error },
    )?))
}

pub async fn detail(
    State(state): State<WebState>,
    Auth(me, ..): Auth<need::Viewer>,
    Path(id): Path<String>,
    Query(q): Query<DetailQuery>,
) -> Page {
    let id = parse_id(&id)?;
    let notice = q.done.as_deref().and_then(super::run_control::notice);
    render_detail(&state, &me, id, notice, None).await
}

/// The live part of the detail page (status, actions, result, plan,
/// graph, tasks).
pub async fn detail_live(
    State(state): State<WebState>,
    Auth(me, ..): Auth<need::Viewer>,
    Path(id): Path<String>,
) -> Page {
    let id = parse_id(&id)?;
    let detail = state.blocking(move |store| load(store, id)).await?;
    let me = crate::auth::Viewer::of(&me);
    Ok(Html(
        state
            .templates
            .render("execution_live.html", ctx! { d => detail, me })?,
    ))
}
