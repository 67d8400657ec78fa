//! Executions: the list (filters, keyset pagination: "older" pages start
//! below the last id shown, never at an OFFSET) and one execution with its
//! parameters, result, logs, dry-run plan and, for a workflow, its graph
//! coloured by task status.

use axum::extract::{Path, Query, State};
use axum::response::Html;
use drover_core::{ExecStatus, Execution, ExecutionId};
use drover_pack::Pack;
use drover_store::{ExecutionQuery, Store};
use drover_workflow::{Workflow, WorkflowState};
use serde::{Deserialize, Serialize};

use super::{PAGE_SIZE, Page, non_empty};
use crate::auth::{Page as Auth, need};
use crate::{WebError, WebState};

#[derive(Deserialize, Default)]
pub struct ListQuery {
    action: Option<String>,
    status: Option<String>,
    node: Option<String>,
    before: Option<String>,
}

#[derive(Serialize)]
struct Filters {
    action: String,
    status: String,
    node: String,
    before: String,
    /// The query string of the filters (without `before`).
    query: String,
}

fn filter(q: ListQuery) -> Result<(ExecutionQuery, Filters), WebError> {
    let action = non_empty(q.action);
    let node = non_empty(q.node);
    let status = match non_empty(q.status) {
        None => None,
        Some(s) => Some(ExecStatus::parse(&s).ok_or_else(|| {
            WebError::BadRequest(format!(
                "status {s:?} is not one of succeeded, failed, denied, timeout"
            ))
        })?),
    };
    let before = match non_empty(q.before) {
        None => None,
        Some(b) => Some(
            b.parse::<ExecutionId>()
                .map_err(|e| WebError::BadRequest(format!("before: {e}")))?,
        ),
    };
    let mut query = Vec::new();
    if let Some(a) = &action {
        query.push(format!("action={}", drover_api::path_segment(a)));
    }
    if let Some(s) = status {
        query.push(format!("status={s}"));
    }
    if let Some(n) = &node {
        query.push(format!("node={}", drover_api::path_segment(n)));
    }
    Ok((
        ExecutionQuery {
            action: action.clone(),
            status,
            after: before,
            min_id: None,
            node: node.clone(),
            limit: PAGE_SIZE,
        },
        Filters {
            action: action.unwrap_or_default(),
            node: node.unwrap_or_default(),
            status: status.map(|s| s.as_str().to_owned()).unwrap_or_default(),
            before: before.map(|b| b.to_string()).unwrap_or_default(),
            query: query.join("&"),
        },
    ))
}

async fn rows_context(
    state: &WebState,
    q: ListQuery,
) -> Result<(serde_json::Value, Filters), WebError> {
    let (f, filters) = filter(q)?;
    let (page, actions) = state
        .blocking(move |store| {
            // Built from the given filters only, so SQLite walks the
            // primary key (or the action/status index) from the cursor.
            let page = store.execution_page(&f)?;
            Ok((page, action_names(store)?))
        })
        .await?;
    let (rows, next) = (page.items, page.next_after.map(|id| id.to_string()));
    Ok((
        ctx! { rows, next, actions, statuses => ExecStatus::ALL.map(|s| s.as_str()) },
        filters,
    ))
}

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

pub async fn list(
    State(state): State<WebState>,
    Auth(me, ..): Auth<need::Viewer>,
    Query(q): Query<ListQuery>,
) -> Page {
    let (ctx, filters) = rows_context(&state, q).await?;
    Ok(Html(state.templates.page(
        "executions.html",
        &me,
        ctx! { page => "executions", filters, ..ctx },
    )?))
}

/// The table body alone: what the live list re-fetches.
pub async fn rows(
    State(state): State<WebState>,
    _: Auth<need::Viewer>,
    Query(q): Query<ListQuery>,
) -> Page {
    let (ctx, filters) = rows_context(&state, q).await?;
    Ok(Html(
        state
            .templates
            .render("execution_rows.html", ctx! { filters, ..ctx })?,
    ))
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
    children: Vec<drover_store::ChildRow>,
    parent: Option<drover_store::ChildLink>,
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
    let graph = match &run {
        Some(run) => workflow_graph(store, &run.action, &run.state),
        None => None,
    };
    let children = if run.is_some() {
        store.execution_children(id)?
    } else {
        Vec::new()
    };
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
        children,
        parent,
        audit,
        waiting_on,
        inquiry,
    })
}

/// The SVG of workflow `action` (from its installed pack) coloured by the
/// run's stored conductor state; `None` when either cannot be read (the
/// page then simply has no picture, and the reason is logged).
fn workflow_graph(store: &Store, action: &str, state: &serde_json::Value) -> Option<String> {
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
        let st: WorkflowState = serde_json::from_value(state.clone()).map_err(|e| e.to_string())?;
        Ok(drover_workflow::graph::to_svg(&wf, Some(&st)))
    };
    draw()
        .inspect_err(|e| tracing::warn!(%action, error = %e, "cannot draw the workflow graph"))
        .ok()
}

fn parse_id(id: &str) -> Result<ExecutionId, WebError> {
    id.parse()
        .map_err(|e: drover_core::IdError| WebError::NotFound(e.to_string()))
}

pub async fn detail(
    State(state): State<WebState>,
    Auth(me, ..): Auth<need::Viewer>,
    Path(id): Path<String>,
) -> Page {
    let id = parse_id(&id)?;
    let detail = state.blocking(move |store| load(store, id)).await?;
    Ok(Html(state.templates.page(
        "execution.html",
        &me,
        ctx! { page => "executions", d => detail },
    )?))
}

/// The live part of the detail page (status, result, plan, graph).
pub async fn detail_live(
    State(state): State<WebState>,
    _: Auth<need::Viewer>,
    Path(id): Path<String>,
) -> Page {
    let id = parse_id(&id)?;
    let detail = state.blocking(move |store| load(store, id)).await?;
    Ok(Html(
        state
            .templates
            .render("execution_live.html", ctx! { d => detail })?,
    ))
}
