//! `batchops.ping`: is `node` reachable? Pings `host` (the node's name
//! when not given) and returns `{"node", "host", "reachable",
//! "latency_ms", "detail"}`.
//!
//! Unreachable is a result, not a failure: the workflow routes on
//! `result().reachable`. What it saw is also reported as the node's
//! health (answering or unreachable) when `nodes.health` is granted; a
//! refused report is logged and changes nothing else. Only a host error (a probe that was not granted,
//! a bad host) fails the action, so a misconfiguration never looks like a
//! dead node and never leads to a reboot.

use drover_sdk::nodes::Health;
use drover_sdk::prelude::*;

#[derive(serde::Deserialize)]
struct Input {
    node: String,
    #[serde(default)]
    host: Option<String>,
    #[serde(default = "default_timeout_ms")]
    timeout_ms: u32,
}

fn default_timeout_ms() -> u32 {
    2_000
}

fn run(input: Input, _ctx: &Context) -> Result<Value, Error> {
    let host = input.host.unwrap_or_else(|| input.node.clone());
    let probe = probe::ping(&host, input.timeout_ms)?;
    log::info(&format!(
        "ping {host}: {}",
        if probe.reachable {
            "reachable"
        } else {
            "no answer"
        }
    ));
    let (health, seen) = if probe.reachable {
        (Health::Answering, format!("answers ping ({host})"))
    } else {
        (Health::Unreachable, format!("no answer to ping ({host})"))
    };
    if let Err(e) = nodes::report_health(&input.node, health, &seen) {
        log::warn(&format!("cannot report the health of {}: {e}", input.node));
    }
    Ok(json!({
        "node": input.node,
        "host": host,
        "reachable": probe.reachable,
        "latency_ms": probe.latency_ms,
        "detail": probe.detail,
    }))
}

drover_sdk::export_action!(run);
