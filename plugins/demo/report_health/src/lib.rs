//! `demo.report_health`: tells drover what was seen of `node`
//! (`answering`, `unreachable` or `silent`, with a `detail`), the way a
//! monitoring integration does; the fleet grid shows it beside the node's
//! lifecycle state. A host error (e.g. `denied`) is returned unchanged.

use drover_sdk::nodes::Health;
use drover_sdk::prelude::*;

#[derive(serde::Deserialize)]
struct Input {
    node: String,
    health: String,
    #[serde(default)]
    detail: String,
}

fn run(input: Input, _ctx: &Context) -> Result<Value, Error> {
    let health = match input.health.as_str() {
        "answering" => Health::Answering,
        "unreachable" => Health::Unreachable,
        "silent" => Health::Silent,
        other => {
            return Err(Error::invalid(format!(
                "health {other:?} is not answering, unreachable or silent"
            )));
        }
    };
    nodes::report_health(&input.node, health, &input.detail)?;
    Ok(json!({"node": input.node, "health": input.health}))
}

drover_sdk::export_action!(run);
