//! Finding runs: the executions list. Top-level runs by default, each
//! workflow with the count of its task runs and a toggle that loads them
//! (`/ui/executions/{id}/children`); `tasks=1` lists task runs too. Filters
//! (action, status, node, actor, rule, since/until, a bounded search over
//! parameters) are drover-api's [`drover_api::v1::finding::Filters`], so
//! the page and `GET /api/v1/executions` answer alike; they live in the
//! URL. Pages are keyset ("older" starts below the last id shown).

use axum::extract::{Path, Query, State};
use axum::response::Html;
use drover_api::v1::finding::Filters as ApiFilters;
use drover_core::{ExecStatus, now_ms};
use drover_store::SEARCH_SCAN;
use serde::{Deserialize, Serialize};

use super::executions::{action_names, parse_id};
use super::{PAGE_SIZE, Page, non_empty};
use crate::auth::{Page as Auth, need};
use crate::{WebError, WebState};

/// The most task runs the toggle lists (the workflow's page has them all).
const CHILDREN_SHOWN: usize = 200;

#[derive(Deserialize, Default)]
pub struct ListQuery {
    action: Option<String>,
    status: Option<String>,
    node: Option<String>,
    actor: Option<String>,
    rule: Option<String>,
    since: Option<String>,
    until: Option<String>,
    q: Option<String>,
    /// `1`: task runs too (the flat list).
    tasks: Option<String>,
    before: Option<String>,
}

/// The filters as the form shows them again.
#[derive(Serialize)]
struct Shown {
    action: String,
    status: String,
    node: String,
    actor: String,
    rule: String,
    since: String,
    until: String,
    q: String,
    tasks: bool,
    before: String,
    /// The query string of the filters (without `before`), URL-encoded.
    query: String,
}

fn filters(q: ListQuery) -> (ApiFilters, Shown) {
    let tasks = matches!(q.tasks.as_deref(), Some("1" | "on" | "true"));
    let fields = [
        ("action", non_empty(q.action)),
        ("status", non_empty(q.status)),
        ("node", non_empty(q.node)),
        ("actor", non_empty(q.actor)),
        ("rule", non_empty(q.rule)),
        ("since", non_empty(q.since)),
        ("until", non_empty(q.until)),
        ("q", non_empty(q.q)),
    ];
    let mut query: Vec<String> = fields
        .iter()
        .filter_map(|(k, v)| {
            v.as_ref()
                .map(|v| format!("{k}={}", drover_api::path_segment(v)))
        })
        .collect();
    if tasks {
        query.push("tasks=1".to_owned());
    }
    let [action, status, node, actor, rule, since, until, search] = fields.map(|(_, v)| v);
    let before = non_empty(q.before);
    let shown = Shown {
        action: action.clone().unwrap_or_default(),
        status: status.clone().unwrap_or_default(),
        node: node.clone().unwrap_or_default(),
        actor: actor.clone().unwrap_or_default(),
        rule: rule.clone().unwrap_or_default(),
        since: since.clone().unwrap_or_default(),
        until: until.clone().unwrap_or_default(),
        q: search.clone().unwrap_or_default(),
        tasks,
        before: before.clone().unwrap_or_default(),
        query: query.join("&"),
    };
    let api = ApiFilters {
        action,
        status,
        node,
        actor,
        rule,
        since,
        until,
        q: search,
        after: before,
        top_level: !tasks,
    };
    (api, shown)
}

/// One row: the summary, and a workflow's count of task runs.
#[derive(Serialize)]
struct Row {
    #[serde(flatten)]
    summary: drover_store::ExecutionSummary,
    children: u64,
}

async fn rows_context(
    state: &WebState,
    q: ListQuery,
) -> Result<(serde_json::Value, Shown), WebError> {
    let (api, shown) = filters(q);
    let query = api
        .query(PAGE_SIZE, now_ms())
        .map_err(|e| WebError::BadRequest(e.to_string()))?;
    let grouped = query.top_level;
    let (page, counts, actions, rules) = state
        .blocking(move |store| {
            // Built from the given filters only, so SQLite walks one index
            // from the cursor (see `execution_page`).
            let page = store.execution_page(&query)?;
            let counts = if grouped {
                let ids: Vec<_> = page.items.iter().map(|e| e.id).collect();
                store.child_counts(&ids)?
            } else {
                Default::default()
            };
            let mut rules: Vec<String> = store
                .list_rules()?
                .into_iter()
                .map(|r| r.reference)
                .collect();
            rules.sort();
            Ok((page, counts, action_names(store)?, rules))
        })
        .await?;
    let rows: Vec<Row> = page
        .items
        .into_iter()
        .map(|summary| Row {
            children: counts.get(&summary.id).copied().unwrap_or(0),
            summary,
        })
        .collect();
    let next = page.next_after.map(|id| id.to_string());
    let search = page.search;
    Ok((
        ctx! { rows, next, actions, rules, search, grouped,
        search_scan => SEARCH_SCAN,
        statuses => ExecStatus::ALL.map(|s| s.as_str()) },
        shown,
    ))
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

/// A workflow's task runs, in the order they ran: what its row's toggle
/// loads.
pub async fn children(
    State(state): State<WebState>,
    _: Auth<need::Viewer>,
    Path(id): Path<String>,
) -> Page {
    let id = parse_id(&id)?;
    let head = state
        .blocking(move |store| Ok(store.execution_children_head(id, Some(CHILDREN_SHOWN))?))
        .await?;
    let more = head.count.saturating_sub(head.first.len() as u64);
    Ok(Html(state.templates.render(
        "execution_children.html",
        ctx! { id => id.to_string(), children => head.first, more },
    )?))
}
