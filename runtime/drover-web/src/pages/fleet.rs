//! The fleet: racks as a grid of nodes coloured by state and marked by
//! health (silent, unreachable: what checks and monitoring last reported;
//! the grid re-renders when the change feed says a node changed), and drain or
//! reboot of one node through drover-fleet's controller, always shown
//! first as its dry run (its answer under the budgets, brake and windows)
//! and only then requested; likewise giving a repaired node back to
//! production (a set-state, which cancels its open request). In an
//! incident: the storm brake (why it engaged, which nodes it counts
//! unhealthy, release with a reason), the budgets with their use and the
//! nodes holding them (per group for a rack budget), and fleet
//! pause/resume. Then the queue of open requests, each with the gate it
//! waits on, and their cancel (previewed with what it would do: drop it,
//! or give a node being drained back; then a reason and a confirmation);
//! and the maintenance windows, added and removed by operators. The
//! budgets and the queue follow the change feed with the grid.

use std::collections::BTreeMap;

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Redirect, Response};
use drover_app::nodes::{NodeRequestError, OperatorRequest};
use drover_fleet::controller::{BrakeStatus, BudgetView, WindowView};
use drover_fleet::settings::Window;
use drover_fleet::{Fleet, FleetError, Kind, Origin, QueueEntry};
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
/// counts unhealthy), the budgets with their use and holders, whether the
/// fleet is paused, the open requests and the maintenance windows.
#[derive(Serialize)]
struct Controls {
    brake: BrakeStatus,
    unhealthy: Vec<String>,
    #[serde(flatten)]
    live: LiveControls,
    windows: Vec<WindowView>,
}

/// The parts of the controls that follow the change feed: the budgets
/// (who holds them) and the queue.
#[derive(Serialize)]
struct LiveControls {
    budgets: Vec<BudgetView>,
    /// The oldest [`MAX_QUEUE_SHOWN`] open requests.
    queue: Vec<QueueEntry>,
    /// How many are open in all.
    queue_total: usize,
}

/// Most open requests the page lists (`drover fleet queue` lists all).
const MAX_QUEUE_SHOWN: usize = 200;

fn failed(e: FleetError) -> WebError {
    WebError::Internal(e.to_string())
}

fn live_controls(fleet: &Fleet) -> Result<LiveControls, WebError> {
    let p = fleet.panel().map_err(failed)?;
    Ok(live_of(p.budgets, p.queue))
}

/// The parts of a panel that follow the fleet live.
fn live_of(budgets: Vec<BudgetView>, mut queue: Vec<QueueEntry>) -> LiveControls {
    let queue_total = queue.len();
    queue.truncate(MAX_QUEUE_SHOWN);
    LiveControls {
        budgets,
        queue,
        queue_total,
    }
}

async fn controls(state: &WebState) -> Result<Controls, WebError> {
    let fleet = state.api.app.fleet().clone();
    state
        .blocking(move |_| {
            // One reading of the fleet for every control.
            let p = fleet.panel().map_err(failed)?;
            Ok(Controls {
                brake: p.brake,
                unhealthy: p.unhealthy,
                live: live_of(p.budgets, p.queue),
                windows: p.windows,
            })
        })
        .await
}

#[derive(Deserialize, Default)]
pub struct PageQuery {
    node: Option<String>,
    /// What the last control did (`released`, `paused`, `resumed`,
    /// `cancelled`, `given-back`, `window-added`, `window-removed`).
    done: Option<String>,
    /// The request (or window) it did it to.
    what: Option<String>,
    /// An open request to preview the cancel of.
    cancel: Option<String>,
}

/// What the page shows besides the fleet: a notice of what was done, a
/// cancel to preview, a refused form with what was typed.
#[derive(Default)]
struct Shown {
    node: String,
    notice: Option<String>,
    cancel: Option<String>,
    cancel_error: Option<String>,
    window_error: Option<String>,
    window_form: Option<WindowForm>,
}

pub async fn page(
    State(state): State<WebState>,
    Auth(me, ..): Auth<need::Viewer>,
    Query(q): Query<PageQuery>,
) -> Result<Response, WebError> {
    let what = non_empty(q.what).unwrap_or_default();
    let notice = non_empty(q.done).and_then(|d| match d.as_str() {
        "released" => Some("Brake released: automatic requests are admitted again.".to_owned()),
        "paused" => Some("Fleet paused: no new request is admitted until resumed.".to_owned()),
        "resumed" => Some("Fleet resumed.".to_owned()),
        "cancelled" => Some(format!("Request {what} cancelled.")),
        "given-back" => Some(format!(
            "Request {what} cancelled: its node is given back to production."
        )),
        "window-added" => Some(format!("Window {what} added.")),
        "window-removed" => Some(format!("Window {what} removed.")),
        _ => None,
    });
    let shown = Shown {
        node: non_empty(q.node).unwrap_or_default(),
        notice,
        cancel: non_empty(q.cancel),
        ..Shown::default()
    };
    render(&state, &me, StatusCode::OK, shown).await
}

/// The Fleet page, with `status` (a refused form comes back as a 4xx with
/// the page and the refusal in it, what was typed kept).
async fn render(
    state: &WebState,
    me: &drover_api::auth::Principal,
    mut status: StatusCode,
    mut shown: Shown,
) -> Result<Response, WebError> {
    let Grid {
        racks,
        totals,
        cursor,
    } = racks(state).await?;
    let controls = controls(state).await?;
    if !crate::auth::Viewer::of(me).operator {
        // Only operators cancel: nothing to preview for the others.
        shown.cancel = None;
    }
    // The cancel to preview: an open request, else why not.
    let cancelling = shown.cancel.as_ref().and_then(|id| {
        let found = controls.live.queue.iter().find(|q| &q.request.id == id);
        if found.is_none() && shown.cancel_error.is_none() {
            shown.cancel_error = Some(format!(
                "no open fleet request {id:?}: it ended or never was (the queue below lists the open ones)"
            ));
            if status == StatusCode::OK {
                status = StatusCode::NOT_FOUND;
            }
        }
        found.cloned()
    });
    let window_form = shown.window_form.take().unwrap_or_default();
    let html = state.templates.page(
        "fleet.html",
        me,
        ctx! {
            page => "fleet", racks, totals, cursor, node => shown.node,
            states => drover_fleet::STATES, healths => HEALTHS, controls,
            notice => shown.notice, cancel_id => shown.cancel, cancelling,
            cancel_error => shown.cancel_error, window_error => shown.window_error,
            window_form, days => DAYS,
        },
    )?;
    Ok((status, Html(html)).into_response())
}

/// The days a window may name, in the form's order.
const DAYS: [&str; 7] = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"];

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

#[derive(Deserialize)]
pub struct CancelForm {
    #[serde(default)]
    reason: String,
}

/// `POST /ui/fleet/requests/{id}/cancel` (operator, like the API): ends
/// an open request with a reason (audited). A refusal (no reason, an
/// unknown or ended request, a node mid-reboot) comes back in the page,
/// at the cancel's preview, with its status.
pub async fn cancel(
    State(state): State<WebState>,
    Path(id): Path<String>,
    Post(me, form, ..): Post<need::Operator, CancelForm>,
) -> Result<Response, WebError> {
    let refused = |message: String, id: String| Shown {
        cancel: Some(id),
        cancel_error: Some(message),
        ..Shown::default()
    };
    let reason = form.reason.trim().to_owned();
    if reason.is_empty() {
        let shown = refused(
            "reason: say why you cancel the request (it is audited)".into(),
            id,
        );
        return render(&state, &me, StatusCode::BAD_REQUEST, shown).await;
    }
    let fleet = state.api.app.fleet().clone();
    let actor = me.actor();
    let done = {
        let id = id.clone();
        state
            .blocking(move |_| Ok(fleet.cancel_request(&id, &actor, &reason)))
            .await?
    };
    match done {
        Ok(done) => {
            let what = if done.given_back.is_some() {
                "given-back"
            } else {
                "cancelled"
            };
            Ok(Redirect::to(&format!(
                "/ui/fleet?done={what}&what={}#queue",
                drover_api::path_segment(&done.request_id)
            ))
            .into_response())
        }
        Err(e) => {
            let status = match &e {
                FleetError::UnknownRequest(_) => StatusCode::NOT_FOUND,
                FleetError::Conflict(_) => StatusCode::CONFLICT,
                FleetError::Invalid(_) => StatusCode::BAD_REQUEST,
                _ => return Err(failed(e)),
            };
            render(&state, &me, status, refused(e.to_string(), id)).await
        }
    }
}

/// The add-a-window form, as typed.
#[derive(Deserialize, Serialize, Default, Clone)]
pub struct WindowForm {
    #[serde(default)]
    name: String,
    /// Each ticked day (a repeated field).
    #[serde(default)]
    days: Vec<String>,
    #[serde(default)]
    start: String,
    #[serde(default)]
    end: String,
    #[serde(default)]
    tz: String,
    #[serde(default)]
    selector: String,
}

/// `POST /ui/fleet/windows` (operator, like the API): adds (or replaces)
/// a maintenance window, audited. A bad field comes back in the page with
/// what was typed.
pub async fn add_window(
    State(state): State<WebState>,
    Post(me, form, ..): Post<need::Operator, Vec<(String, String)>>,
) -> Result<Response, WebError> {
    // Repeated `days` fields: read as pairs (serde_urlencoded has no
    // sequences).
    let mut f = WindowForm::default();
    for (k, v) in form {
        match k.as_str() {
            "name" => f.name = v.trim().to_owned(),
            "days" => f.days.push(v),
            "start" => f.start = v.trim().to_owned(),
            "end" => f.end = v.trim().to_owned(),
            "tz" => f.tz = v.trim().to_owned(),
            "selector" => f.selector = v.trim().to_owned(),
            _ => {}
        }
    }
    let window = Window {
        name: f.name.clone(),
        days: f.days.clone(),
        start: f.start.clone(),
        end: f.end.clone(),
        tz: non_empty(Some(f.tz.clone())).unwrap_or_else(|| "UTC".into()),
        selector: non_empty(Some(f.selector.clone())),
    };
    let fleet = state.api.app.fleet().clone();
    let actor = me.actor();
    let added = state
        .blocking(move |_| Ok(fleet.add_window(window, &actor)))
        .await?;
    match added {
        Ok(_) => Ok(Redirect::to(&format!(
            "/ui/fleet?done=window-added&what={}#windows",
            drover_api::path_segment(&f.name)
        ))
        .into_response()),
        Err(FleetError::Invalid(why)) => {
            let shown = Shown {
                window_error: Some(why),
                window_form: Some(f),
                ..Shown::default()
            };
            render(&state, &me, StatusCode::BAD_REQUEST, shown).await
        }
        Err(e) => Err(failed(e)),
    }
}

/// `POST /ui/fleet/windows/{name}/remove` (operator): removes a window,
/// audited; an unknown one is a 404 in the page.
pub async fn remove_window(
    State(state): State<WebState>,
    Path(name): Path<String>,
    Post(me, _form, ..): Post<need::Operator, ControlForm>,
) -> Result<Response, WebError> {
    let fleet = state.api.app.fleet().clone();
    let actor = me.actor();
    let removed = {
        let name = name.clone();
        state
            .blocking(move |_| Ok(fleet.remove_window(&name, &actor)))
            .await?
    };
    match removed {
        Ok(_) => Ok(Redirect::to(&format!(
            "/ui/fleet?done=window-removed&what={}#windows",
            drover_api::path_segment(&name)
        ))
        .into_response()),
        Err(e @ FleetError::UnknownWindow(_)) => {
            let shown = Shown {
                window_error: Some(e.to_string()),
                ..Shown::default()
            };
            render(&state, &me, StatusCode::NOT_FOUND, shown).await
        }
        Err(e) => Err(failed(e)),
    }
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
    Auth(me, ..): Auth<need::Viewer>,
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
    // The budgets' holders and the queue move with the nodes and the
    // requests (the feed's `nodes` event covers both): sent whole, each a
    // few hundred bytes per row.
    let fleet = state.api.app.fleet().clone();
    let live = state.blocking(move |_| live_controls(&fleet)).await?;
    let me = crate::auth::Viewer::of(&me);
    if changed.is_empty() {
        return Ok(Html(state.templates.render(
            "fleet_changes.html",
            ctx! { whole, cursor, nodes => Vec::<NodeCell>::new(), live, me },
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
            states => drover_fleet::STATES, healths => HEALTHS, live, me,
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
