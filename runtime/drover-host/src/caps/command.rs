//! `command`: run an argv on a node over ssh (see [`crate::ssh`] for the
//! client's argv and where address, user, port and keys come from).
//!
//! The grant's scope (`NODES: COMMANDS`: a label selector for the node,
//! argv patterns for the command) is checked against the node's current
//! labels and the argv before anything runs; the refusal names the granted
//! scopes. Always an effect: a dry run plans it with
//! its grant decision and answers a simulated success. A real run is
//! bounded by the asked timeout and the execution's deadline (the local
//! ssh client is killed then; the remote process may outlive it, as with
//! any dropped ssh session), and its output by the execution's output cap.

use std::time::Duration;

use drover_policy::{Capability, Target};
use drover_process::{self as process, ProcessError};
use serde_json::json;

use crate::bindings::PluginError;
use crate::bindings::drover::plugin::command::{Host, Output};
use crate::call::{CallCtx, denied};
use crate::ports::PortError;
use crate::ssh::{self, NodeSsh};

/// Output kept per stream, at most (the execution's cap may be lower).
const MAX_OUTPUT_BYTES: usize = 1 << 20;
/// Longest remote argv accepted.
const MAX_ARGV: usize = 256;
/// ssh's exit code for its own failures (connect, auth, host key).
const SSH_FAILED: i32 = 255;

impl CallCtx {
    fn command_run(
        &mut self,
        node: &str,
        argv: &[String],
        timeout_ms: u32,
    ) -> Result<Output, PluginError> {
        if argv.is_empty() || argv[0].is_empty() {
            return Err(PluginError::Invalid(
                "an empty argv: give the program and its arguments".into(),
            ));
        }
        if argv.len() > MAX_ARGV || argv.iter().any(|a| a.contains('\0')) {
            return Err(PluginError::Invalid(format!(
                "an argv has at most {MAX_ARGV} elements and no NUL bytes"
            )));
        }
        if timeout_ms == 0 {
            return Err(PluginError::Invalid("timeout-ms must be at least 1".into()));
        }
        let row = self.services.ports.node(node).map_err(|e| match e {
            PortError::NotFound(_) => PluginError::NotFound(e.to_string()),
            e => PluginError::Failed(format!("fleet: {e}")),
        })?;
        // Recorded with credential-looking arguments masked (and any secret
        // value the call read: see `crate::redact`).
        let text = format!("{node}: {}", crate::redact::argv(argv));
        // The grant covers nodes (by their labels now) and argvs together.
        let target = Target::Command {
            name: node,
            labels: &row.labels,
            argv,
        };
        let check = self.check(Capability::Command, &target, &text);
        if self.dry_run {
            let simulated = json!({"exit_code": 0, "stdout": "", "stderr": ""});
            self.plan(Capability::Command, "run", &text, &check, simulated);
        }
        if !check.allowed() {
            return Err(denied(&check));
        }
        // A simulated node's answer has no effect anywhere, so a dry run
        // gets it too (the steps after it see what the live run would);
        // a real node's command is not run: exit 0, no output.
        if let Some(answers) = self.sim_node_answers(&row)? {
            return Self::sim_command(answers, node, argv);
        }
        if self.dry_run {
            return Ok(Output {
                exit_code: 0,
                stdout: String::new(),
                stderr: String::new(),
            });
        }
        let opts = NodeSsh::from_options(&row.options)
            .map_err(|e| PluginError::Failed(format!("node {node}: bad options: {e}")))?;
        let timeout = Duration::from_millis(timeout_ms.into()).min(self.remaining());
        if timeout.is_zero() {
            return Err(PluginError::Failed(
                "no time left before the deadline".into(),
            ));
        }
        let cmd = ssh::command(&self.services.ssh, node, &opts, argv, timeout);
        let cap = self.output_cap.min(MAX_OUTPUT_BYTES);
        let shown = self.secrets.text(&crate::redact::argv(argv));
        tracing::debug!(node, argv = %shown, "command over ssh");
        match process::run(&cmd.argv, timeout, cap) {
            Ok(done) if done.status.code() == Some(SSH_FAILED) => {
                let why = done.stderr.tail_text(600);
                let hint = if why.contains("Host key verification failed")
                    || why.contains("No ED25519 host key is known")
                    || why.contains("host key is known")
                {
                    match &cmd.known_hosts {
                        Some(kh) => format!(
                            "; add the node's host key to {} (check its fingerprint first)",
                            kh.display()
                        ),
                        None => "; add the node's host key to the known hosts file".into(),
                    }
                } else {
                    String::new()
                };
                Err(PluginError::Failed(format!(
                    "ssh to {node} ({}) failed: {why}{hint}",
                    cmd.destination
                )))
            }
            Ok(done) => Ok(Output {
                exit_code: done
                    .status
                    .code()
                    .unwrap_or_else(|| 128 + done_signal(&done)),
                stdout: done.stdout.text(),
                stderr: done.stderr.text(),
            }),
            Err(ProcessError::TimedOut { .. }) => Err(PluginError::Failed(format!(
                "`{shown}` on {node} did not finish within {}ms; the ssh session was killed",
                timeout.as_millis()
            ))),
            Err(ProcessError::NotFound { .. }) => Err(PluginError::Unsupported(
                "the OpenSSH client `ssh` is not installed on the drover host \
                 (Debian: apt-get install openssh-client)"
                    .into(),
            )),
            Err(e) => Err(PluginError::Failed(format!("ssh to {node}: {e}"))),
        }
    }
}

fn done_signal(done: &process::Finished) -> i32 {
    use std::os::unix::process::ExitStatusExt;
    done.status.signal().unwrap_or(0)
}

impl Host for CallCtx {
    fn run(
        &mut self,
        node: String,
        argv: Vec<String>,
        timeout_ms: u32,
    ) -> wasmtime::Result<Result<Output, PluginError>> {
        Ok(self.command_run(&node, &argv, timeout_ms))
    }
}
