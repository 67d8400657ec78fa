//! A page per node: its labels, lifecycle state and health, its history as
//! a timeline (state changes, requests, driver steps, health reports), its
//! fleet requests, the executions about it (their `node` parameter) and the
//! audit records whose target it is; and what an operator may do to it:
//! drain, reboot or give it back (each previewed as a dry run on the Fleet
//! page's form), or run an installed action that takes a `node`. Every
//! list is bounded and read by index, so the page costs the same with
//! 5,000 nodes and a million executions.

use axum::extract::{Path, State};
use axum::response::Html;
use drover_fleet::Fleet;
use drover_store::{AuditFilter, ExecutionQuery};

use super::Page;
use crate::auth::{Page as Auth, need};
use crate::{WebError, WebState};

/// Most history lines, requests, executions and audit records shown.
const SHOWN: u32 = 50;

pub async fn page(
    State(state): State<WebState>,
    Auth(me, ..): Auth<need::Viewer>,
    Path(name): Path<String>,
) -> Page {
    let packs = state
        .api
        .app
        .packs()
        .map_err(|e| WebError::Internal(e.to_string()))?;
    // Installed actions that take a `node`: what may be run on this one
    // (the run form previews it as a dry run first).
    let mut actions: Vec<String> = packs
        .live()
        .flat_map(|p| {
            p.pack
                .plugins
                .iter()
                .filter(|a| a.kind == drover_pack::PluginKind::Action)
                .filter(|a| a.parameters.iter().any(|f| f.name() == "node"))
                .map(|a| format!("{}.{}", p.pack.name, a.name))
        })
        .collect();
    actions.sort();
    let (detail, executions, audit) = state
        .blocking(move |store| {
            let detail = Fleet::new(store.clone())
                .show(&name, SHOWN)
                .map_err(|e| match e {
                    drover_fleet::FleetError::UnknownNode(_) => {
                        WebError::NotFound(format!("no node {name:?} in the inventory"))
                    }
                    e => WebError::Internal(e.to_string()),
                })?;
            let executions = store.execution_page(&ExecutionQuery {
                node: Some(name.clone()),
                limit: SHOWN,
                ..Default::default()
            })?;
            let audit = store.list_audit(&AuditFilter {
                target: Some(name),
                limit: SHOWN,
                ..Default::default()
            })?;
            Ok((detail, executions, audit))
        })
        .await?;
    Ok(Html(state.templates.page(
        "node.html",
        &me,
        ctx! {
            page => "fleet",
            n => detail.node,
            health => detail.health,
            requests => detail.requests,
            history => detail.history,
            executions => executions.items,
            more_executions => executions.next_after.is_some(),
            audit,
            actions,
            shown => SHOWN,
        },
    )?))
}
