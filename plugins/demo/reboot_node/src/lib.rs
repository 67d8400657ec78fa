//! `demo.reboot_node`: asks the fleet controller to reboot `node` and
//! reports how it answered, with the request's id to follow it by (see
//! `batchops.wait_for_node`). A host error (e.g. `denied`) is returned
//! unchanged.

use drover_sdk::prelude::*;

#[derive(serde::Deserialize)]
struct Input {
    node: String,
    #[serde(default = "default_reason")]
    reason: String,
}

fn default_reason() -> String {
    "requested by demo.reboot_node".to_owned()
}

fn run(input: Input, _ctx: &Context) -> Result<Value, Error> {
    log::info(&format!(
        "asking to reboot {}: {}",
        input.node, input.reason
    ));
    let status = nodes::reboot(&input.node, &input.reason)?;
    log::info(&format!(
        "reboot of {} {}: {}",
        input.node,
        status.outcome.as_str(),
        status.detail
    ));
    Ok(json!({
        "node": input.node,
        "outcome": status.outcome,
        "request": status.request_id(),
        "detail": status.detail,
    }))
}

drover_sdk::export_action!(run);
