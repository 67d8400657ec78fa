//! Events: the stored trigger instances, newest first, and one instance's
//! trace: each rule of its type, matched or not and why, the enforcements,
//! the executions they requested and their effects (drover-app's
//! `trace`). Execution pages link back here through their origin.

use axum::extract::{Path, Query, State};
use axum::response::Html;
use serde::Deserialize;

use super::{PAGE_SIZE, Page, non_empty};
use crate::auth::{Page as Auth, need};
use crate::{WebError, WebState};

#[derive(Deserialize, Default)]
pub struct ListQuery {
    #[serde(rename = "type")]
    trigger_type: Option<String>,
    before: Option<String>,
}

pub async fn list(
    State(state): State<WebState>,
    Auth(me, ..): Auth<need::Viewer>,
    Query(q): Query<ListQuery>,
) -> Page {
    let trigger_type = non_empty(q.trigger_type);
    let before = non_empty(q.before);
    let t = trigger_type.clone();
    let triggers = state
        .blocking(move |store| {
            Ok(store.list_triggers(t.as_deref(), before.as_deref(), PAGE_SIZE)?)
        })
        .await?;
    let next = (triggers.len() as u32 >= PAGE_SIZE)
        .then(|| triggers.last().map(|t| t.instance.id.clone()))
        .flatten();
    Ok(Html(state.templates.page(
        "triggers.html",
        &me,
        ctx! {
            page => "triggers",
            triggers,
            next,
            trigger_type => trigger_type.unwrap_or_default(),
        },
    )?))
}

pub async fn detail(
    State(state): State<WebState>,
    Auth(me, ..): Auth<need::Viewer>,
    Path(id): Path<String>,
) -> Page {
    let trace = state
        .blocking(move |store| {
            drover_app::trace::trace(store, &id)?
                .ok_or_else(|| WebError::NotFound(format!("no trigger instance {id:?}")))
        })
        .await?;
    Ok(Html(state.templates.page(
        "trigger.html",
        &me,
        ctx! { page => "triggers", trace },
    )?))
}
