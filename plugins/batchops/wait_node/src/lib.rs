//! `batchops.wait_for_node`: has `node` come back from the reboot that
//! `request` (the id `batchops.reboot` answered with) asked for? Returns
//! `{"node", "state", "back", "held", "why"}`.
//!
//! The request decides, not the node's state alone: a reboot that waits
//! for a budget or the brake's settle time leaves the node in production,
//! and that is not "back". A request that is done with the node in
//! production is back; one that ended in intervention, was denied or
//! cancelled is a final answer too (`back` false, `why` says which). A
//! request held by the storm brake is one as well (`held` true): the
//! brake is the fleet's incident, which an operator resolves, and the
//! controller carries the reboot through once it is released; waiting
//! out the retries would only end in one alarm per held node. A
//! request still queued or active fails the action, so a workflow waits
//! with Orquesta's `retry: {count, delay}` and gives up when the count
//! runs out. Without `request` (or once it has left the node's recent
//! requests) the state decides: production or intervention.

use drover_sdk::prelude::*;

#[derive(serde::Deserialize)]
struct Input {
    node: String,
    #[serde(default)]
    request: Option<String>,
}

fn run(input: Input, _ctx: &Context) -> Result<Value, Error> {
    let facts = nodes::facts(&input.node)?;
    let state = facts["state"].as_str().unwrap_or("").to_owned();
    let answer = |back: bool, held: bool, why: String| {
        Ok(json!({"node": input.node, "state": state, "back": back, "held": held, "why": why}))
    };
    let request = input.request.as_deref().and_then(|id| {
        facts["requests"]
            .as_array()?
            .iter()
            .find(|r| r["id"] == id)
            .cloned()
    });
    if let Some(r) = request {
        let status = r["status"].as_str().unwrap_or("");
        let detail = r["detail"].as_str().unwrap_or("");
        return match status {
            "done" if state == "production" => answer(true, false, "rebooted and back".into()),
            "done" => answer(false, false, format!("the reboot ended with the node {state}")),
            // The detail starts with "intervention: ".
            "intervention" => answer(false, false, format!("the reboot ended in {detail}")),
            "denied" | "cancelled" => {
                answer(false, false, format!("the reboot was {status}: {detail}"))
            }
            "queued" if detail.contains("storm brake engaged") => answer(
                false,
                true,
                format!("the reboot is held by the storm brake ({detail})"),
            ),
            _ => Err(Error::failed(format!(
                "the reboot of {} is {status} ({detail}); {} is {state}",
                input.node, input.node
            ))),
        };
    }
    match state.as_str() {
        "production" => answer(true, false, "in production".into()),
        "intervention" => answer(false, false, "the node went to intervention".into()),
        other => Err(Error::failed(format!(
            "{} is {other}, not back in production yet",
            input.node
        ))),
    }
}

drover_sdk::export_action!(run);
