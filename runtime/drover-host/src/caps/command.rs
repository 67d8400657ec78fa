//! `command`: run an argv on a node over ssh. Always an effect: a dry run
//! plans it with its grant decision. Real runs arrive with the fleet
//! controller; until then they answer `unsupported` after the grant check.

use drover_policy::{Capability, Target};
use serde_json::json;

use crate::bindings::PluginError;
use crate::bindings::drover::plugin::command::{Host, Output};
use crate::call::{CallCtx, denied};

impl Host for CallCtx {
    fn run(
        &mut self,
        node: String,
        argv: Vec<String>,
        _timeout_ms: u32,
    ) -> wasmtime::Result<Result<Output, PluginError>> {
        let text = format!("{node}: {}", argv.join(" "));
        let check = self.check(Capability::Command, &Target::Argv(&argv), &text);
        if self.dry_run {
            let simulated = json!({"exit_code": 0, "stdout": "", "stderr": ""});
            self.plan(Capability::Command, "run", &text, &check, simulated);
        }
        if !check.allowed() {
            return Ok(Err(denied(&check)));
        }
        if self.dry_run {
            return Ok(Ok(Output {
                exit_code: 0,
                stdout: String::new(),
                stderr: String::new(),
            }));
        }
        Ok(Err(PluginError::Unsupported(
            "running commands on nodes is not available in this drover version".into(),
        )))
    }
}
