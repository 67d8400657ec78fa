//! The fleet: racks as a grid of nodes coloured by state and marked by
//! health (silent, unreachable: what checks and monitoring last reported;
//! the grid re-renders when the change feed says a node changed), and drain or
//! reboot of one node through drover-fleet's controller, always shown
//! first as its dry run (its answer under the budgets, brake and windows)
//! and only then requested; likewise giving a repaired node back to
//! production (a set-state, which cancels its open request). In an
//! incident: the storm brake (why it engaged, which nodes it counts
//! unhealthy, release with a reason), the budgets and their use, and
//! fleet pause/resume.

use std::collections::BTreeMap;

use axum::extract::{Query, State};
use axum::response::{Html, IntoResponse, Redirect, Response};
use drover_app::nodes::{NodeRequestError, OperatorRequest};
use drover_fleet::controller::{BrakeStatus, BudgetView};
use drover_fleet::{Fleet, Kind, Origin};
use drover_store::NodeCell;
use serde::{Deserialize, Serialize};
use serde_json::json;

use super::{Page, non_empty};
use crate::auth::{Page as Auth, Post, need};
use crate::{WebError, WebState};

#[derive(Serialize)]
struct Rack {
    rack: String,
    nodes: Vec<NodeCell>,
    /// State -> count.
    states: BTreeMap<String, usize>,
    /// Health -> count, for the nodes with a current report.
    health: BTreeMap<String, usize>,
}

/// The whole fleet in numbers: nodes per state and per current health.
#[derive(Serialize, Default)]
struct Totals {
    states: BTreeMap<String, usize>,
    health: BTreeMap<String, usize>,
}

/// Most changed nodes sent one by one; past it the whole grid is sent.
const MAX_CHANGED: u32 = 200;

/// The grid as it is now, and the node history cursor it reflects.
struct Grid {
    racks: Vec<Rack>,
    totals: Totals,
    cursor: i64,
}

async fn racks(state: &WebState) -> Result<Grid, WebError> {
    // The cursor first: a change made while the cells are read is sent
    // again rather than missed.
    let (cursor, cells) = state
        .blocking(|store| Ok((store.node_history_cursor()?, store.node_cells()?)))
        .await?;
    let mut racks: Vec<Rack> = Vec::new();
    let mut totals = Totals::default();
    for cell in cells {
        if racks.last().is_none_or(|r| r.rack != cell.rack) {
            racks.push(Rack {
                rack: cell.rack.clone(),
                nodes: Vec::new(),
                states: BTreeMap::new(),
                health: BTreeMap::new(),
            });
        }
        let Some(r) = racks.last_mut() else { continue };
        *totals.states.entry(cell.state.clone()).or_default() += 1;
        *r.states.entry(cell.state.clone()).or_default() += 1;
        if let Some(h) = &cell.health {
            *totals.health.entry(h.clone()).or_default() += 1;
            *r.health.entry(h.clone()).or_default() += 1;
        }
        r.nodes.push(cell);
    }
    Ok(Grid {
        racks,
        totals,
        cursor,
    })
}

/// The health a report can give, worst first (the legend's order).
const HEALTHS: [&str; 3] = ["silent", "unreachable", "answering"];

/// What an operator needs in an incident: the brake (and which nodes it
/// counts unhealthy), the budgets with their use, and whether the fleet
/// is paused.
#[derive(Serialize)]
struct Controls {
    brake: BrakeStatus,
    unhealthy: Vec<String>,
    budgets: Vec<BudgetView>,
}

async fn controls(state: &WebState) -> Result<Controls, WebError> {
    let fleet = state.api.app.fleet().clone();
    state
        .blocking(move |_| {
            let failed = |e: drover_fleet::FleetError| WebError::Internal(e.to_string());
            Ok(Controls {
                brake: fleet.brake_status().map_err(failed)?,
                unhealthy: fleet.unhealthy_nodes().map_err(failed)?,
                budgets: fleet.budgets().map_err(failed)?,
            })
        })
        .await
}

#[derive(Deserialize, Default)]
pub struct PageQuery {
    node: Option<String>,
    /// What the last control did (`released`, `paused`, `resumed`).
    done: Option<String>,
}

pub async fn page(
    State(state): State<WebState>,
    Auth(me, ..): Auth<need::Viewer>,
    Query(q): Query<PageQuery>,
) -> Page {
    let Grid {
        racks,
        totals,
        cursor,
    } = racks(&state).await?;
    let controls = controls(&state).await?;
    let notice = non_empty(q.done).and_then(|d| match d.as_str() {
        "released" => Some("Brake released: automatic requests are admitted again."),
        "paused" => Some("Fleet paused: no new request is admitted until resumed."),
        "resumed" => Some("Fleet resumed."),
        _ => None,
    });
    Ok(Html(state.templates.page(
        "fleet.html",
        &me,
        ctx! {
            page => "fleet", racks, totals, cursor, node => non_empty(q.node).unwrap_or_default(),
            states => drover_fleet::STATES, healths => HEALTHS, controls, notice,
        },
    )?))
}

#[derive(Deserialize)]
pub struct ControlForm {
    #[serde(default)]
    reason: String,
}

fn reason_of(form: &ControlForm, what: &str) -> Result<String, WebError> {
    non_empty(Some(form.reason.trim().to_owned()))
        .ok_or_else(|| WebError::BadRequest(format!("reason: say why you {what} (it is audited)")))
}

/// Runs a fleet control on the blocking pool, then shows the page again
/// with what it did (`done`).
async fn control<F>(state: &WebState, done: &'static str, f: F) -> Result<Response, WebError>
where
    F: FnOnce(&Fleet) -> Result<(), drover_fleet::FleetError> + Send + 'static,
{
    let fleet = state.api.app.fleet().clone();
    state
        .blocking(move |_| {
            f(&fleet).map_err(|e| match e {
                drover_fleet::FleetError::Invalid(m) => WebError::BadRequest(m),
                e => WebError::Internal(e.to_string()),
            })
        })
        .await?;
    Ok(Redirect::to(&format!("/ui/fleet?done={done}#controls")).into_response())
}

/// `POST /ui/fleet/brake/release` (admin, like the API): releases the
/// storm brake, audited with the reason.
pub async fn release_brake(
    State(state): State<WebState>,
    Post(me, form, ..): Post<need::Admin, ControlForm>,
) -> Result<Response, WebError> {
    let reason = reason_of(&form, "release the brake")?;
    let actor = me.actor();
    control(&state, "released", move |fleet| {
        fleet.release_brake_because(&actor, Some(&reason)).map(drop)
    })
    .await
}

/// `POST /ui/fleet/pause` (operator): no new request is admitted.
pub async fn pause(
    State(state): State<WebState>,
    Post(me, form, ..): Post<need::Operator, ControlForm>,
) -> Result<Response, WebError> {
    let reason = reason_of(&form, "pause the fleet")?;
    let actor = me.actor();
    control(&state, "paused", move |fleet| {
        fleet.pause(&actor, &reason).map(drop)
    })
    .await
}

/// `POST /ui/fleet/resume` (operator).
pub async fn resume(
    State(state): State<WebState>,
    Post(me, form, ..): Post<need::Operator, ControlForm>,
) -> Result<Response, WebError> {
    let by = super::change_by(&me, &form.reason)?;
    control(&state, "resumed", move |fleet| fleet.resume(&by).map(drop)).await
}

/// The grid alone.
pub async fn grid(State(state): State<WebState>, _: Auth<need::Viewer>) -> Page {
    let Grid {
        racks,
        totals,
        cursor,
    } = racks(&state).await?;
    Ok(Html(state.templates.render(
        "fleet_grid.html",
        ctx! { racks, totals, cursor, states => drover_fleet::STATES, healths => HEALTHS },
    )?))
}

#[derive(Deserialize)]
pub struct ChangesQuery {
    after: i64,
}

/// `GET /ui/fleet/changes?after=CURSOR`: what changed on the grid since
/// the page's cursor, as out-of-band swaps (each changed chip, its rack's
/// heading, the legend, the new cursor), so that a change costs a few
/// hundred bytes per node rather than the whole grid; past
/// [`MAX_CHANGED`] nodes, or when the inventory changed, the whole grid.
pub async fn changes(
    State(state): State<WebState>,
    _: Auth<need::Viewer>,
    Query(q): Query<ChangesQuery>,
) -> Page {
    let after = q.after;
    let (changed, cursor, inventory) = state
        .blocking(move |store| {
            let (changed, cursor) = store.nodes_changed_since(after, MAX_CHANGED + 1)?;
            let inventory = !changed.is_empty() && store.inventory_changed(after, cursor)?;
            Ok((changed, cursor, inventory))
        })
        .await?;
    // Nodes added, removed or moved to another rack: the grid is drawn
    // again (a chip cannot be patched into a rack it is not in).
    let whole = changed.len() > MAX_CHANGED as usize || inventory;
    if changed.is_empty() {
        return Ok(Html(state.templates.render(
            "fleet_changes.html",
            ctx! { whole, cursor, nodes => Vec::<NodeCell>::new() },
        )?));
    }
    let grid = racks(&state).await?;
    let changed: std::collections::HashSet<String> = changed.into_iter().collect();
    let mut nodes = Vec::new();
    let mut touched = Vec::new();
    if !whole {
        for r in &grid.racks {
            let before = nodes.len();
            nodes.extend(
                r.nodes
                    .iter()
                    .filter(|n| changed.contains(&n.name))
                    .cloned(),
            );
            if nodes.len() > before {
                touched.push(Rack {
                    rack: r.rack.clone(),
                    nodes: Vec::new(),
                    states: r.states.clone(),
                    health: r.health.clone(),
                });
            }
        }
    }
    // The whole grid carries its own cursor; otherwise the one read with
    // the changes (the grid's may be newer: those come again next time).
    let cursor = if whole { grid.cursor } else { cursor };
    let racks = if whole { grid.racks } else { touched };
    Ok(Html(state.templates.render(
        "fleet_changes.html",
        ctx! {
            whole, cursor, nodes, racks, totals => grid.totals,
            states => drover_fleet::STATES, healths => HEALTHS,
        },
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

/// `POST /ui/fleet/change`: without `confirm=yes`, the fleet controller's
/// dry run (its answer, the waves, what holds the plan back) and a button
/// to make the request; with it, the request (the controller audits it).
pub async fn change(
    State(state): State<WebState>,
    Post(me, form, ..): Post<need::Operator, ChangeForm>,
) -> Result<Response, WebError> {
    // `None`: back to production by hand, a set-state, not a request.
    let kind = match form.change.as_str() {
        "drain" => Some(Kind::Drain),
        "reboot" => Some(Kind::Reboot),
        "production" => None,
        other => {
            return Err(WebError::BadRequest(format!(
                "change {other:?} is not drain, reboot or production"
            )));
        }
    };
    let to_production = kind.is_none();
    let node = form.node.trim().to_owned();
    let reason = non_empty(Some(form.reason.clone()))
        .unwrap_or_else(|| format!("{} from the web UI", form.change));
    let confirmed = form.confirm == "yes";
    let actor = me.actor();
    let (current, answer, plan) = {
        let reason = reason.clone();
        state
            .blocking(move |store| {
                let fleet = Fleet::new(store.clone());
                let current = fleet
                    .node(&node)
                    .map_err(|e| WebError::BadRequest(e.to_string()))?;
                let Some(kind) = kind else {
                    let set = if confirmed {
                        Fleet::set_state
                    } else {
                        Fleet::set_state_dry_run
                    };
                    let answer = set(
                        &fleet,
                        &node,
                        "production",
                        &reason,
                        &actor,
                        Origin::Operator,
                        None,
                    );
                    let answer = answer.map(|a| serde_json::to_value(a).unwrap_or_default());
                    return Ok((current, answer.map_err(|e| e.to_string()), None));
                };
                let req = OperatorRequest::new(kind, vec![node], &reason, &actor);
                let refused = |e: NodeRequestError| WebError::BadRequest(e.to_string());
                let (answer, plan) = if confirmed {
                    (req.submit(&fleet).map_err(refused)?.remove(0), None)
                } else {
                    let mut plan = req.dry_run(&fleet).map_err(refused)?;
                    (plan["answers"][0].take(), Some(plan))
                };
                // One answer per node: the controller's, or `{"node", "error"}`.
                let answer = match answer.get("error") {
                    Some(e) => Err(e.as_str().unwrap_or_default().to_owned()),
                    None => Ok(answer),
                };
                Ok((current, answer, plan))
            })
            .await?
    };
    let (status, refused) = match answer {
        Ok(a) => (Some(a), None),
        Err(e) => (None, Some(e)),
    };
    let (waves, blocked, notes) = match plan {
        Some(mut p) => (p["waves"].take(), p["blocked"].take(), p["notes"].take()),
        None => (json!([]), json!([]), json!([])),
    };
    Ok(Html(state.templates.page(
        "fleet_change.html",
        &me,
        ctx! {
            page => "fleet",
            node => current,
            verb => if to_production { "give back to production" } else { form.change.as_str() },
            change => form.change,
            reason,
            status,
            refused,
            waves,
            blocked,
            notes,
            performed => confirmed,
        },
    )?)
    .into_response())
}
