//! `testkit.facts`: reads `node` and its facts, returns
//! `{"node": {"name", "state", "labels"}, "facts": {...}}`.

use drover_sdk::prelude::*;

#[derive(serde::Deserialize)]
struct Input {
    node: String,
}

fn run(input: Input, _ctx: &Context) -> Result<Value, Error> {
    let node = nodes::get(&input.node)?;
    let facts = nodes::facts(&input.node)?;
    Ok(json!({"node": node, "facts": facts}))
}

drover_sdk::export_action!(run);
