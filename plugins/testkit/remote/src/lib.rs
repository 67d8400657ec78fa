//! `testkit.remote`: runs `argv` on `node` through the `command` interface
//! and returns `{"exit_code", "stdout", "stderr"}`.

use drover_sdk::prelude::*;

#[derive(serde::Deserialize)]
struct Input {
    node: String,
    argv: Vec<String>,
    #[serde(default = "default_timeout")]
    timeout_ms: u32,
}

fn default_timeout() -> u32 {
    10_000
}

fn run(input: Input, _ctx: &Context) -> Result<Value, Error> {
    let out = command::run(&input.node, &input.argv, input.timeout_ms)?;
    Ok(json!({
        "exit_code": out.exit_code,
        "stdout": out.stdout,
        "stderr": out.stderr,
    }))
}

drover_sdk::export_action!(run);
