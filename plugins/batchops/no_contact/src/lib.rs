//! `batchops.no_contact`: turns monitoring reports into
//! `batchops.no_contact` triggers.
//!
//! Reports arrive as messages on the subscriptions the pack declares (a
//! NATS subject, a webhook): `{"node": "b7s01", "since": "…", "status":
//! "no_contact"}` (`host` is accepted for `node`). A report without a
//! status, or with `no_contact`/`down`/`unreachable`, becomes a trigger;
//! `ok`/`up` reports are ignored. Each report is also the node's health
//! (silent, or answering for `ok`/`up`) when `nodes.health` is granted.
//! `poll` has nothing to do: the sensor only reacts to messages.

use drover_sdk::nodes::Health;
use drover_sdk::prelude::*;

#[derive(serde::Deserialize)]
struct Config {}

#[derive(serde::Deserialize)]
struct Report {
    #[serde(alias = "host")]
    node: String,
    #[serde(default)]
    status: Option<String>,
    #[serde(default)]
    since: Option<String>,
}

fn poll(_config: Config) -> Result<Vec<Trigger>, Error> {
    Ok(Vec::new())
}

fn on_message(source: &str, report: Report) -> Result<Vec<Trigger>, Error> {
    let node = report.node.trim();
    if node.is_empty() {
        return Err(Error::invalid(format!(
            "a report from {source} has an empty `node`"
        )));
    }
    match report.status.as_deref() {
        None | Some("no_contact" | "down" | "unreachable") => {
            report_health(node, Health::Silent, source, report.since.as_deref());
        }
        Some("ok" | "up") => {
            report_health(node, Health::Answering, source, None);
            return Ok(Vec::new());
        }
        Some(other) => {
            log::warn(&format!(
                "ignoring a report for {node} from {source} with unknown status {other:?} \
                 (expected no_contact, down, unreachable, ok or up)"
            ));
            return Ok(Vec::new());
        }
    }
    Ok(vec![Trigger::new(
        "batchops.no_contact",
        json!({"node": node, "since": report.since.unwrap_or_default()}),
    )?])
}

/// Best effort: the trigger is what matters; a report the operator did not
/// grant is logged and changes nothing else.
fn report_health(node: &str, health: Health, source: &str, since: Option<&str>) {
    let detail = match since {
        Some(since) if !since.is_empty() => format!("monitoring ({source}): no contact since {since}"),
        _ if health == Health::Silent => format!("monitoring ({source}): no contact"),
        _ => format!("monitoring ({source}): ok"),
    };
    if let Err(e) = nodes::report_health(node, health, &detail) {
        log::warn(&format!("cannot report the health of {node}: {e}"));
    }
}

drover_sdk::export_sensor!(poll, on_message);
