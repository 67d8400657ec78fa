//! `batchops.wait_for_node`: has `node` come back? Returns `{"node",
//! "state", "back"}`.
//!
//! `production` is back; `intervention` is a final answer too (`back`
//! false: a human has it now). Any other state (draining, rebooting,
//! restoring…) fails the action, so a workflow waits with Orquesta's
//! `retry: {count, delay}` and gives up when the count runs out.

use drover_sdk::prelude::*;

#[derive(serde::Deserialize)]
struct Input {
    node: String,
}

fn run(input: Input, _ctx: &Context) -> Result<Value, Error> {
    let node = nodes::get(&input.node)?;
    match node.state.as_str() {
        "production" | "intervention" => Ok(json!({
            "node": input.node,
            "state": node.state,
            "back": node.state == "production",
        })),
        other => Err(Error::failed(format!(
            "{} is {other}, not back in production yet",
            input.node
        ))),
    }
}

drover_sdk::export_action!(run);
