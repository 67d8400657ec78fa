//! `batchops.fleet_health`: the daily look at the batch fleet. Counts the
//! nodes a selector picks by state, and lists those that need a human:
//! every node in intervention, and any node out of production (draining,
//! drained, rebooting, restoring) for longer than `stuck_after_minutes`.
//! Returns `{"selector", "total", "by_state", "attention": [{"node",
//! "state", "since_ms", "note"}], "summary"}`. Reads only.

use std::collections::BTreeMap;

use drover_sdk::prelude::*;

#[derive(serde::Deserialize)]
struct Input {
    #[serde(default = "batch")]
    selector: String,
    #[serde(default = "four_hours")]
    stuck_after_minutes: i64,
}

fn batch() -> String {
    "cluster=batch".to_owned()
}

fn four_hours() -> i64 {
    240
}

fn run(input: Input, _ctx: &Context) -> Result<Value, Error> {
    let now_ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0);
    let stuck_before = now_ms - input.stuck_after_minutes * 60_000;
    let nodes = nodes::select(&input.selector)?;
    let mut by_state: BTreeMap<String, usize> = BTreeMap::new();
    let mut attention = Vec::new();
    for node in &nodes {
        *by_state.entry(node.state.clone()).or_default() += 1;
        if node.state == "production" {
            continue;
        }
        // Only the few nodes out of production cost a second look.
        let facts = nodes::facts(&node.name)?;
        let since = facts["since_ms"].as_i64().unwrap_or(0);
        if node.state == "intervention" || since < stuck_before {
            attention.push(json!({
                "node": node.name,
                "state": node.state,
                "since_ms": since,
                "note": facts["note"],
            }));
        }
    }
    let summary = if attention.is_empty() {
        format!(
            "{} nodes ({}): none needs a human",
            nodes.len(),
            input.selector
        )
    } else {
        let names: Vec<&str> = attention
            .iter()
            .filter_map(|a| a["node"].as_str())
            .take(20)
            .collect();
        format!(
            "{} of {} nodes ({}) need a human: {}{}",
            attention.len(),
            nodes.len(),
            input.selector,
            names.join(", "),
            if attention.len() > names.len() {
                ", …"
            } else {
                ""
            }
        )
    };
    log::info(&summary);
    Ok(json!({
        "selector": input.selector,
        "total": nodes.len(),
        "by_state": by_state,
        "attention": attention,
        "summary": summary,
    }))
}

drover_sdk::export_action!(run);
