//! `batchops.facts`: reads `node` from the fleet and returns `{"node":
//! {"name", "state", "labels"}, "facts": {...}, "host"}`, where `host` is
//! what to probe: the `address` fact when the node has one, else its name.

use drover_sdk::prelude::*;

#[derive(serde::Deserialize)]
struct Input {
    node: String,
}

fn run(input: Input, _ctx: &Context) -> Result<Value, Error> {
    let node = nodes::get(&input.node)?;
    let facts = nodes::facts(&input.node)?;
    let host = facts
        .pointer("/options/address")
        .or_else(|| facts.get("address"))
        .and_then(Value::as_str)
        .unwrap_or(&input.node)
        .to_owned();
    Ok(json!({"node": node, "facts": facts, "host": host}))
}

drover_sdk::export_action!(run);
