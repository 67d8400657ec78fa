//! The fleet: racks as a grid of nodes coloured by state (the grid
//! re-renders when the change feed says a node changed), and drain or
//! reboot of one node, always shown first as a dry run (what the fleet
//! controller would answer) and only then performed.

use std::collections::BTreeMap;

use axum::extract::{Query, State};
use axum::response::{Html, IntoResponse, Response};
use drover_core::{AuditRecord, Decision, now_ms};
use drover_fleet::{Change, Fleet};
use drover_store::NodeCell;
use serde::{Deserialize, Serialize};

use super::{Page, non_empty};
use crate::auth::{Page as Auth, Post, need};
use crate::{WebError, WebState};

#[derive(Serialize)]
struct Rack {
    rack: String,
    nodes: Vec<NodeCell>,
    /// State -> count.
    states: BTreeMap<String, usize>,
}

async fn racks(state: &WebState) -> Result<(Vec<Rack>, BTreeMap<String, usize>), WebError> {
    let cells = state.blocking(|store| Ok(store.node_cells()?)).await?;
    let mut racks: Vec<Rack> = Vec::new();
    let mut totals: BTreeMap<String, usize> = BTreeMap::new();
    for cell in cells {
        *totals.entry(cell.state.clone()).or_default() += 1;
        match racks.last_mut() {
            Some(r) if r.rack == cell.rack => {
                *r.states.entry(cell.state.clone()).or_default() += 1;
                r.nodes.push(cell);
            }
            _ => racks.push(Rack {
                rack: cell.rack.clone(),
                states: BTreeMap::from([(cell.state.clone(), 1)]),
                nodes: vec![cell],
            }),
        }
    }
    Ok((racks, totals))
}

#[derive(Deserialize, Default)]
pub struct FleetQuery {
    node: Option<String>,
}

pub async fn page(
    State(state): State<WebState>,
    Auth(me, ..): Auth<need::Viewer>,
    Query(q): Query<FleetQuery>,
) -> Page {
    let (racks, totals) = racks(&state).await?;
    Ok(Html(state.templates.page(
        "fleet.html",
        &me,
        ctx! {
            page => "fleet", racks, totals, node => non_empty(q.node).unwrap_or_default(),
            states => drover_fleet::STATES,
        },
    )?))
}

/// The grid alone, for the live re-fetch.
pub async fn grid(State(state): State<WebState>, _: Auth<need::Viewer>) -> Page {
    let (racks, totals) = racks(&state).await?;
    Ok(Html(state.templates.render(
        "fleet_grid.html",
        ctx! { racks, totals, states => drover_fleet::STATES },
    )?))
}

#[derive(Deserialize)]
pub struct ChangeForm {
    node: String,
    change: String,
    #[serde(default)]
    reason: String,
    #[serde(default)]
    confirm: String,
}

/// `POST /ui/fleet/change`: without `confirm=yes`, the dry run and a
/// button to perform it; with it, the request (audited).
pub async fn change(
    State(state): State<WebState>,
    Post(me, form, ..): Post<need::Operator, ChangeForm>,
) -> Result<Response, WebError> {
    let change = match form.change.as_str() {
        "drain" => Change::Drain,
        "reboot" => Change::Reboot,
        other => {
            return Err(WebError::BadRequest(format!(
                "change {other:?} is not drain or reboot"
            )));
        }
    };
    let node = form.node.trim().to_owned();
    let reason = non_empty(Some(form.reason.clone()))
        .unwrap_or_else(|| format!("{} from the web UI", change.name()));
    let confirmed = form.confirm == "yes";
    let (n, c, r, who) = (node.clone(), change.clone(), reason.clone(), me.clone());
    let outcome = state
        .blocking(move |store| {
            let fleet = Fleet::new(store.clone());
            let current = fleet
                .node(&n)
                .map_err(|e| WebError::BadRequest(e.to_string()))?;
            if !confirmed {
                let sim = fleet
                    .simulate(&c, &n)
                    .map_err(|e| WebError::BadRequest(e.to_string()))?;
                return Ok((current, sim));
            }
            store.append_audit(AuditRecord {
                id: 0,
                at_ms: now_ms(),
                execution_id: None,
                actor: who.actor(),
                pack: "operator".into(),
                plugin: "web".into(),
                capability: format!("nodes.{}", c.name()),
                target: n.clone(),
                decision: Decision::Allowed,
                reason: r.clone(),
                dry_run: false,
            })?;
            let done = fleet
                .request(&c, &n, &r, None)
                .map_err(|e| WebError::BadRequest(e.to_string()))?;
            Ok((current, done))
        })
        .await?;
    let (current, status) = outcome;
    Ok(Html(state.templates.page(
        "fleet_change.html",
        &me,
        ctx! {
            page => "fleet",
            node => current,
            change => change.name(),
            reason,
            status,
            performed => confirmed,
        },
    )?)
    .into_response())
}
