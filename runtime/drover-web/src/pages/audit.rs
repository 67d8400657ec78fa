//! The audit log: every allowed and denied capability use, newest first,
//! filtered by pack, decision or execution, paged by keyset on the id.

use axum::extract::{Query, State};
use axum::response::Html;
use drover_core::{Decision, ExecutionId};
use drover_store::AuditFilter;
use serde::{Deserialize, Serialize};

use super::{PAGE_SIZE, Page, non_empty};
use crate::auth::{Page as Auth, need};
use crate::{WebError, WebState};

#[derive(Deserialize, Default)]
pub struct AuditQuery {
    pack: Option<String>,
    decision: Option<String>,
    execution: Option<String>,
    target: Option<String>,
    before: Option<String>,
}

#[derive(Serialize)]
struct Filters {
    pack: String,
    decision: String,
    execution: String,
    target: String,
    query: String,
}

pub async fn list(
    State(state): State<WebState>,
    Auth(me, ..): Auth<need::Viewer>,
    Query(q): Query<AuditQuery>,
) -> Page {
    let pack = non_empty(q.pack);
    let target = non_empty(q.target);
    let decision = match non_empty(q.decision) {
        None => None,
        Some(d) => Some(Decision::parse(&d).ok_or_else(|| {
            WebError::BadRequest(format!("decision {d:?} is not allowed or denied"))
        })?),
    };
    let execution = match non_empty(q.execution) {
        None => None,
        Some(e) => Some(
            e.parse::<ExecutionId>()
                .map_err(|e| WebError::BadRequest(format!("execution: {e}")))?,
        ),
    };
    let before = match non_empty(q.before) {
        None => None,
        Some(b) => Some(b.parse::<i64>().map_err(|_| {
            WebError::BadRequest(format!("before {b:?} is not an audit record id"))
        })?),
    };
    let mut query = Vec::new();
    if let Some(p) = &pack {
        query.push(format!("pack={}", drover_api::path_segment(p)));
    }
    if let Some(d) = decision {
        query.push(format!("decision={}", d.as_str()));
    }
    if let Some(e) = execution {
        query.push(format!("execution={e}"));
    }
    if let Some(t) = &target {
        query.push(format!("target={}", drover_api::path_segment(t)));
    }
    let filter = AuditFilter {
        execution_id: execution,
        pack: pack.clone(),
        decision,
        target: target.clone(),
        before,
        limit: PAGE_SIZE,
    };
    let records = state
        .blocking(move |store| Ok(store.list_audit(&filter)?))
        .await?;
    let next = (records.len() as u32 == PAGE_SIZE)
        .then(|| records.last().map(|r| r.id))
        .flatten();
    let filters = Filters {
        pack: pack.unwrap_or_default(),
        decision: decision.map(|d| d.as_str().to_owned()).unwrap_or_default(),
        execution: execution.map(|e| e.to_string()).unwrap_or_default(),
        target: target.unwrap_or_default(),
        query: query.join("&"),
    };
    Ok(Html(state.templates.page(
        "audit.html",
        &me,
        ctx! { page => "audit", records, next, filters },
    )?))
}
