//! The change log: who changed automation (installs, promotions, grants,
//! revocations, rules enabled or disabled, budgets, fleet settings, the
//! brake's release), when, why and the diff, newest first; filtered by
//! age, kind, subject and actor in the URL, paged by keyset on the id.

use axum::extract::{Query, State};
use axum::response::Html;
use drover_core::kinds;
use serde::{Deserialize, Serialize};

use super::{PAGE_SIZE, Page, non_empty};
use crate::auth::{Page as Auth, need};
use crate::{WebError, WebState};

#[derive(Deserialize, Default)]
pub struct ChangeQuery {
    since: Option<String>,
    kind: Option<String>,
    subject: Option<String>,
    actor: Option<String>,
    before: Option<String>,
}

#[derive(Serialize)]
struct Filters {
    since: String,
    kind: String,
    subject: String,
    actor: String,
    /// The filters as a query string, for the next page's link.
    query: String,
}

/// A change as a row: its fields and its diff, one line per field.
#[derive(Serialize)]
struct Row {
    at_ms: i64,
    actor: String,
    kind: String,
    subject: String,
    reason: String,
    summary: String,
    diff: Vec<String>,
}

pub async fn list(
    State(state): State<WebState>,
    Auth(me, ..): Auth<need::Viewer>,
    Query(q): Query<ChangeQuery>,
) -> Page {
    let (since, kind) = (non_empty(q.since), non_empty(q.kind));
    let (subject, actor) = (non_empty(q.subject), non_empty(q.actor));
    let before = match non_empty(q.before) {
        None => None,
        Some(b) => Some(
            b.parse::<i64>()
                .map_err(|_| WebError::BadRequest(format!("before {b:?} is not a change's id")))?,
        ),
    };
    let filter = drover_api::v1::changes::filter(
        since.as_deref(),
        kind.as_deref(),
        subject.as_deref(),
        actor.as_deref(),
        before,
        PAGE_SIZE,
    )
    .map_err(WebError::BadRequest)?;
    let query: Vec<String> = [
        ("since", &since),
        ("kind", &kind),
        ("subject", &subject),
        ("actor", &actor),
    ]
    .into_iter()
    .filter_map(|(k, v)| Some(format!("{k}={}", drover_api::path_segment(v.as_deref()?))))
    .collect();
    let changes = state
        .blocking(move |store| Ok(store.list_changes(&filter)?))
        .await?;
    let next = (changes.len() as u32 == PAGE_SIZE)
        .then(|| changes.last().map(|c| c.id))
        .flatten();
    let rows: Vec<Row> = changes
        .into_iter()
        .map(|c| Row {
            diff: c.diff_lines(),
            at_ms: c.at_ms,
            actor: c.actor,
            kind: c.kind,
            subject: c.subject,
            reason: c.reason.unwrap_or_default(),
            summary: c.summary,
        })
        .collect();
    let filters = Filters {
        since: since.unwrap_or_default(),
        kind: kind.unwrap_or_default(),
        subject: subject.unwrap_or_default(),
        actor: actor.unwrap_or_default(),
        query: query.join("&"),
    };
    Ok(Html(state.templates.page(
        "changes.html",
        &me,
        ctx! { page => "changes", rows, next, filters, kinds => kinds::ALL },
    )?))
}
