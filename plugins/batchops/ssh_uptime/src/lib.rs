//! `batchops.ssh_uptime`: runs `uptime` on `node` over ssh and returns
//! `{"node", "ok", "uptime", "exit_code", "stderr"}`.
//!
//! A node that answers ping but not ssh (the connection fails or times
//! out, `uptime` exits non-zero) is half alive: `ok` is false and the
//! workflow decides. A refusal or a bad argument (the command was not
//! granted) fails the action instead, for the same reason as in
//! `batchops.ping`.

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
    let out = match command::run(&input.node, &["uptime"], input.timeout_ms) {
        Ok(out) => out,
        // ssh itself failed: the node does not answer.
        Err(e) if e.kind() == "failed" => {
            log::warn(&format!("ssh to {} failed: {}", input.node, e.message()));
            return Ok(json!({
                "node": input.node,
                "ok": false,
                "uptime": "",
                "exit_code": 255,
                "stderr": e.message(),
            }));
        }
        Err(e) => return Err(e),
    };
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
