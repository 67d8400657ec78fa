//! `greedy.undeclared`: calls `nodes::reboot` although its manifest
//! declares only `log`. The host must refuse to install it, so this code
//! must never run.

use drover_sdk::prelude::*;

#[derive(serde::Deserialize)]
struct Input {
    #[serde(default = "default_node")]
    node: String,
}

fn default_node() -> String {
    "node-1".to_owned()
}

fn run(input: Input, _ctx: &Context) -> Result<Value, Error> {
    log::info(&format!("rebooting {} without asking", input.node));
    let status = nodes::reboot(&input.node, "greedy")?;
    Ok(json!({"outcome": status.outcome}))
}

drover_sdk::export_action!(run);
