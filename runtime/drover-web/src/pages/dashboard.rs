//! The dashboard: recent executions, the queue, inquiries waiting for an
//! answer, ongoing incidents, failing rules, fleet health by rack and the
//! storm brake. Every query is bounded (see `drover_store::web`).

use std::collections::BTreeMap;

use axum::extract::State;
use axum::response::Html;
use drover_store::ExecutionFilter;
use serde::Serialize;

use super::Page;
use crate::WebState;
use crate::auth::{Page as Auth, need};

/// How many of the newest enforcements "failing rules" looks at.
const RULE_WINDOW: u32 = 1000;

#[derive(Serialize)]
struct Rack {
    rack: String,
    total: u64,
    /// State -> nodes, for the states present.
    states: BTreeMap<String, u64>,
    /// Nodes not in production.
    out: u64,
    /// Health -> nodes with a current report (the Fleet page's counts).
    health: BTreeMap<String, u64>,
    /// Some node is out of production, silent or unreachable.
    attention: bool,
}

pub async fn page(State(state): State<WebState>, Auth(me, ..): Auth<need::Viewer>) -> Page {
    let data = data(&state).await?;
    Ok(Html(state.templates.page(
        "dashboard.html",
        &me,
        ctx! { page => "dashboard", ..data },
    )?))
}

pub async fn live(State(state): State<WebState>, _: Auth<need::Viewer>) -> Page {
    let data = data(&state).await?;
    Ok(Html(state.templates.render("dashboard_live.html", data)?))
}

async fn data(state: &WebState) -> Result<serde_json::Value, crate::WebError> {
    state
        .blocking(|store| {
            let recent = store.list_executions(&ExecutionFilter {
                limit: 10,
                ..Default::default()
            })?;
            let (queued, running) = store.queue_depth()?;
            let (inquiries, _) = store.pending_inquiries_marker()?;
            let failing = store.failing_rules(RULE_WINDOW, 10)?;
            // The same cells as the Fleet page's grid, so both count alike.
            let mut racks: BTreeMap<String, Rack> = BTreeMap::new();
            for cell in store.node_cells()? {
                let r = racks.entry(cell.rack.clone()).or_insert_with(|| Rack {
                    rack: cell.rack.clone(),
                    total: 0,
                    states: BTreeMap::new(),
                    out: 0,
                    health: BTreeMap::new(),
                    attention: false,
                });
                r.total += 1;
                if cell.state != "production" {
                    r.out += 1;
                }
                *r.states.entry(cell.state).or_default() += 1;
                if let Some(h) = cell.health {
                    r.attention |= h != "answering";
                    *r.health.entry(h).or_default() += 1;
                }
                r.attention |= r.out > 0;
            }
            let racks: Vec<Rack> = racks.into_values().collect();
            let brake = drover_fleet::Fleet::new(store.clone())
                .brake_status()
                .map_err(|e| crate::WebError::Internal(e.to_string()))?;
            let nodes: u64 = racks.iter().map(|r| r.total).sum();
            let out: u64 = racks.iter().map(|r| r.out).sum();
            let health_of = |h: &str| -> u64 { racks.iter().filter_map(|r| r.health.get(h)).sum() };
            let (silent, unreachable) = (health_of("silent"), health_of("unreachable"));
            // Ongoing incidents of the last day, the newest first (from
            // the newest rows only: the Incidents page counts them all).
            let now = drover_core::now_ms();
            let found = drover_app::incidents::incidents(
                    store,
                    now - 86_400_000,
                    now + 1,
                    now,
                    drover_app::incidents::Depth::SUMMARY,
                )
                .map_err(|e| crate::WebError::Internal(e.to_string()))?;
            let incidents_partial = found.truncated;
            let incidents: Vec<serde_json::Value> = found
                .items
                .into_iter()
                    .filter(|i| i.ongoing)
                    .take(3)
                    .map(|i| serde_json::json!({ "id": i.id, "title": i.title, "kind": i.kind }))
                    .collect();
            Ok(ctx! {
                recent, queued, running, inquiries, failing, racks, nodes, out, silent, unreachable, brake,
                incidents, incidents_partial,
                rule_window => RULE_WINDOW,
            })
        })
        .await
}
