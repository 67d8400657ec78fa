//! `batchops.ssh_uptime`: runs `uptime` on `node` over ssh and returns
//! `{"node", "ok", "uptime", "exit_code", "stderr"}`.
//!
//! A node that answers ping but not ssh is half alive: `ok` is false and
//! the workflow decides. A host error (the command was not granted) fails
//! the action instead, for the same reason as in `batchops.ping`.

use drover_sdk::prelude::*;

#[derive(serde::Deserialize)]
struct Input {
    node: String,
    #[serde(default = "default_timeout_ms")]
    timeout_ms: u32,
}

fn default_timeout_ms() -> u32 {
    10_000
}

fn run(input: Input, _ctx: &Context) -> Result<Value, Error> {
    let out = command::run(&input.node, &["uptime"], input.timeout_ms)?;
    let ok = out.success();
    if !ok {
        log::warn(&format!(
            "uptime on {} exited with {}: {}",
            input.node,
            out.exit_code,
            out.stderr.trim()
        ));
    }
    Ok(json!({
        "node": input.node,
        "ok": ok,
        "uptime": out.stdout.trim(),
        "exit_code": out.exit_code,
        "stderr": out.stderr.trim(),
    }))
}

drover_sdk::export_action!(run);
