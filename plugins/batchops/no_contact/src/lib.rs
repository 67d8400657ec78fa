//! `batchops.no_contact`: turns monitoring reports into
//! `batchops.no_contact` triggers.
//!
//! Reports arrive as messages on the subscriptions the pack declares (a
//! NATS subject, a webhook): `{"node": "b7s01", "since": "…", "status":
//! "no_contact"}` (`host` is accepted for `node`). A report without a
//! status, or with `no_contact`/`down`/`unreachable`, becomes a trigger;
//! `ok`/`up` reports are ignored. `poll` has nothing to do: the sensor
//! only reacts to messages.

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
        None | Some("no_contact" | "down" | "unreachable") => {}
        Some("ok" | "up") => return Ok(Vec::new()),
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

drover_sdk::export_sensor!(poll, on_message);
