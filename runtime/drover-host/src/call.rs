//! One plugin call: the sandbox state a `Store` carries, the helpers every
//! host interface uses (grant check with audit, plan recording, output
//! accounting), and the classification of how the call ended.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use drover_core::{AuditRecord, ExecStatus, ExecutionId, LogLevel, LogLine, PlannedEffect, now_ms};
use drover_policy::{Capability, Target};
use serde_json::Value;
use wasmtime::Trap;
use wasmtime::component::ResourceTable;
use wasmtime_wasi::p2::pipe::MemoryOutputPipe;
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};

use crate::bindings::PluginError;
use crate::grants::{Check, GrantSet, grant_needed};
use crate::limits::{CallLimiter, LimitHit};
use crate::ports::{PortError, Ports};

/// What host interfaces reach: shared by every call of a runtime.
pub(crate) struct Services {
    /// Storage and the fleet, as the application provides them.
    pub(crate) ports: Arc<dyn Ports>,
    pub(crate) http: ureq::Agent,
    /// How `command` reaches nodes.
    pub(crate) ssh: crate::ssh::SshSettings,
    /// How `http` and `probe` resolve names (once per call: see
    /// [`crate::net`]).
    pub(crate) lookup: Box<dyn crate::net::Lookup>,
}

/// The data of one call's `Store`.
pub struct HostState {
    pub(crate) wasi: WasiCtx,
    pub(crate) table: ResourceTable,
    pub(crate) limiter: CallLimiter,
    pub(crate) call: CallCtx,
}

impl WasiView for HostState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}

/// Why the host stopped a call on its own (beyond wasmtime's traps).
#[derive(Clone, Debug)]
pub(crate) enum HostStop {
    OutputCap { cap: usize },
}

/// What host interfaces know about the call they serve.
pub struct CallCtx {
    pub(crate) services: Arc<Services>,
    pub(crate) exec_id: ExecutionId,
    pub(crate) pack: String,
    pub(crate) version: String,
    pub(crate) plugin: String,
    pub(crate) digest: String,
    pub(crate) declared: Vec<Capability>,
    pub(crate) grants: GrantSet,
    pub(crate) dry_run: bool,
    pub(crate) actor: String,
    pub(crate) started: Instant,
    pub(crate) deadline: Instant,
    pub(crate) output_cap: usize,
    log_bytes: usize,
    pub(crate) logs: Vec<LogLine>,
    pub(crate) plan: Vec<PlannedEffect>,
    /// A dry run's planned kv writes (`None`: deleted), so the plugin's
    /// later reads see them and it goes down the path it would really take.
    pub(crate) kv_planned: HashMap<(String, String), Option<String>>,
    pub(crate) stopped: Option<HostStop>,
    /// The secret values this call read: masked in everything recorded
    /// about it (see [`crate::redact`]).
    pub(crate) secrets: crate::redact::Secrets,
}

/// The fixed facts of a call, from which a [`CallCtx`] is made.
pub(crate) struct CallSpec {
    pub(crate) exec_id: ExecutionId,
    pub(crate) pack: String,
    pub(crate) version: String,
    pub(crate) plugin: String,
    pub(crate) digest: String,
    pub(crate) declared: Vec<Capability>,
    pub(crate) grants: GrantSet,
    pub(crate) dry_run: bool,
    pub(crate) actor: String,
    pub(crate) timeout: Duration,
    pub(crate) output_cap: usize,
}

impl CallCtx {
    pub(crate) fn new(services: Arc<Services>, spec: CallSpec) -> CallCtx {
        let started = Instant::now();
        CallCtx {
            services,
            exec_id: spec.exec_id,
            pack: spec.pack,
            version: spec.version,
            plugin: spec.plugin,
            digest: spec.digest,
            declared: spec.declared,
            grants: spec.grants,
            dry_run: spec.dry_run,
            actor: spec.actor,
            started,
            deadline: started + spec.timeout,
            output_cap: spec.output_cap,
            log_bytes: 0,
            logs: Vec::new(),
            plan: Vec::new(),
            kv_planned: HashMap::new(),
            stopped: None,
            secrets: crate::redact::Secrets::default(),
        }
    }

    /// `pack.plugin`.
    pub(crate) fn action(&self) -> String {
        format!("{}.{}", self.pack, self.plugin)
    }

    /// Time left before the deadline; host calls that wait (HTTP) wait no
    /// longer than this.
    pub(crate) fn remaining(&self) -> Duration {
        self.deadline.saturating_duration_since(Instant::now())
    }

    /// Adds a log line, counting it against the output cap. Past the cap
    /// the call is stopped: a plugin that floods its log is broken, and
    /// letting it go on would only burn CPU until its deadline.
    pub(crate) fn log(&mut self, level: LogLevel, message: String) -> wasmtime::Result<()> {
        self.log_bytes = self.log_bytes.saturating_add(message.len());
        if self.log_bytes > self.output_cap {
            self.stopped = Some(HostStop::OutputCap {
                cap: self.output_cap,
            });
            return Err(wasmtime::format_err!(
                "log output exceeded the cap of {} bytes",
                self.output_cap
            ));
        }
        self.logs.push(LogLine {
            at_ms: self.started.elapsed().as_millis() as u64,
            level,
            message,
        });
        Ok(())
    }

    /// The grant check for one use of `cap`, written to the audit log
    /// whatever it decides. A use that needs no grant is checked (the
    /// capability must be declared) but not audited unless refused.
    pub(crate) fn check(
        &mut self,
        cap: Capability,
        target: &Target<'_>,
        target_text: &str,
    ) -> Check {
        let check = self.decide(cap, target, target_text);
        self.record_if(grant_needed(cap, target), cap, target_text, check)
    }

    /// The grant check alone, not audited yet: for a call that refines the
    /// decision (`http`, `probe`: the resolved addresses) before
    /// [`Self::record`]ing it.
    pub(crate) fn decide(&self, cap: Capability, target: &Target<'_>, target_text: &str) -> Check {
        self.grants.check(
            &self.declared,
            &self.plugin,
            &self.digest,
            cap,
            target,
            target_text,
        )
    }

    /// Writes the audit record of a decided check (see [`Self::check`]).
    pub(crate) fn record(&mut self, cap: Capability, target_text: &str, check: Check) -> Check {
        self.record_if(cap.needs_grant(), cap, target_text, check)
    }

    /// [`Self::record`]; a use that needs no grant is audited only when
    /// refused, unless `needed` (a `kv` use of another scope).
    fn record_if(
        &mut self,
        needed: bool,
        cap: Capability,
        target_text: &str,
        check: Check,
    ) -> Check {
        if (needed || !check.allowed())
            && let Err(e) = self.audit(cap, target_text, &check)
        {
            tracing::error!(error = %e, "cannot write an audit record");
            // No effect without a durable audit record.
            return Check::deny(format!(
                "refused because the audit record could not be written: {e}"
            ));
        }
        check
    }

    fn audit(&mut self, cap: Capability, target: &str, check: &Check) -> Result<(), PortError> {
        let rec = AuditRecord {
            id: 0,
            at_ms: now_ms(),
            execution_id: Some(self.exec_id),
            actor: self.actor.clone(),
            pack: format!("{}@{}", self.pack, self.version),
            plugin: self.plugin.clone(),
            capability: cap.to_string(),
            target: self.secrets.text(target),
            decision: check.decision,
            reason: self.secrets.text(&check.reason),
            dry_run: self.dry_run,
            change: None,
        };
        self.services.ports.audit(rec)
    }

    /// Records a planned effect of a dry run.
    pub(crate) fn plan(
        &mut self,
        cap: Capability,
        operation: &str,
        target: &str,
        check: &Check,
        simulated_result: Value,
    ) {
        self.plan_request(cap, operation, target, check, simulated_result, None);
    }

    /// [`Self::plan`] with the request that would have been sent (HTTP),
    /// already masked by the caller.
    pub(crate) fn plan_request(
        &mut self,
        cap: Capability,
        operation: &str,
        target: &str,
        check: &Check,
        simulated_result: Value,
        request: Option<Value>,
    ) {
        // The host's own check is the only gate it knows of here.
        let gate = (!check.allowed()).then(|| "grant".to_owned());
        self.plan_gated(
            cap,
            operation,
            target,
            check,
            gate,
            simulated_result,
            request,
        );
    }

    /// [`Self::plan_request`] naming the gate that answered (a fleet
    /// change: the controller's brake, budget, window...).
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn plan_gated(
        &mut self,
        cap: Capability,
        operation: &str,
        target: &str,
        check: &Check,
        gate: Option<String>,
        simulated_result: Value,
        mut request: Option<Value>,
    ) {
        let seq = self.plan.len() as u32 + 1;
        if let Some(request) = &mut request {
            self.secrets.json(request);
        }
        self.plan.push(PlannedEffect {
            seq,
            action: self.action(),
            capability: cap.to_string(),
            operation: self.secrets.text(operation),
            target: self.secrets.text(target),
            decision: check.decision,
            reason: self.secrets.text(&check.reason),
            gate,
            simulated_result,
            request,
            task: None,
            route: None,
        });
    }
}

/// Turns a denied check into the plugin-visible error.
pub(crate) fn denied(check: &Check) -> PluginError {
    PluginError::Denied(check.reason.clone())
}

/// How a call ended, ready to become an execution.
pub(crate) struct Ending {
    pub(crate) status: ExecStatus,
    pub(crate) result: Option<Value>,
    pub(crate) error: Option<String>,
}

/// Classifies the outcome of instantiate + `run`. `timeout_overridden`:
/// the deadline came from the run's options, not pack.yaml.
pub(crate) fn classify(
    outcome: wasmtime::Result<Result<String, PluginError>>,
    state: &HostState,
    timeout: Duration,
    timeout_overridden: bool,
    stdout: &MemoryOutputPipe,
    stderr: &MemoryOutputPipe,
) -> Ending {
    let failed = |msg: String| Ending {
        status: ExecStatus::Failed,
        result: None,
        error: Some(msg),
    };
    match outcome {
        Ok(Ok(text)) => {
            if text.len() > state.call.output_cap {
                return failed(format!(
                    "the result is {} bytes, over the output cap of {} bytes; return less, \
                     or raise `output` in pack.yaml",
                    text.len(),
                    state.call.output_cap
                ));
            }
            match serde_json::from_str::<Value>(&text) {
                Ok(v) => Ending {
                    status: ExecStatus::Succeeded,
                    result: Some(v),
                    error: None,
                },
                Err(e) => failed(format!(
                    "the plugin returned a result that is not JSON: {e}"
                )),
            }
        }
        Ok(Err(err)) => {
            let (status, msg) = plugin_error(err);
            Ending {
                status,
                result: None,
                error: Some(msg),
            }
        }
        Err(trap) => classify_trap(trap, state, timeout, timeout_overridden, stdout, stderr),
    }
}

/// The status and message of an error a plugin returned.
pub(crate) fn plugin_error(err: PluginError) -> (ExecStatus, String) {
    match err {
        PluginError::Denied(m) => (ExecStatus::Denied, format!("denied: {m}")),
        PluginError::Unsupported(m) => (ExecStatus::Failed, format!("unsupported: {m}")),
        PluginError::Invalid(m) => (ExecStatus::Failed, format!("invalid: {m}")),
        PluginError::NotFound(m) => (ExecStatus::Failed, format!("not found: {m}")),
        PluginError::Failed(m) => (ExecStatus::Failed, m),
    }
}

/// Classifies a call that ended in a trap (deadline, limit, output cap,
/// panic, other trap).
pub(crate) fn classify_trap(
    err: wasmtime::Error,
    state: &HostState,
    timeout: Duration,
    timeout_overridden: bool,
    stdout: &MemoryOutputPipe,
    stderr: &MemoryOutputPipe,
) -> Ending {
    let failed = |msg: String| Ending {
        status: ExecStatus::Failed,
        result: None,
        error: Some(msg),
    };
    if err.downcast_ref::<Trap>() == Some(&Trap::Interrupt) {
        return Ending {
            status: ExecStatus::Timeout,
            result: None,
            error: Some(if timeout_overridden {
                format!(
                    "stopped after {timeout:?}: the action ran past the deadline set for this \
                     run; give it longer, or make it finish sooner"
                )
            } else {
                format!(
                    "stopped after {timeout:?}: the action ran past its deadline (`timeout` in \
                     pack.yaml); make it finish sooner, or raise `timeout` if it really needs longer"
                )
            }),
        };
    }
    if let Some(hit) = state.limiter.hit {
        return failed(match hit {
            LimitHit::Memory { desired } => format!(
                "memory limit of {} MiB exceeded (the plugin asked for {} MiB, all its memories \
                 together); raise `memory` in pack.yaml if it really needs more",
                state.limiter.memory_cap >> 20,
                desired.div_ceil(1 << 20)
            ),
            LimitHit::Table { desired } => {
                format!("table limit exceeded (the plugin asked for {desired} elements)")
            }
        });
    }
    if let Some(HostStop::OutputCap { cap }) = state.call.stopped {
        return failed(format!(
            "output cap of {cap} bytes exceeded: the plugin logged more than that; \
             log less, or raise `output` in pack.yaml"
        ));
    }
    let cap = state.call.output_cap;
    for (name, pipe) in [("stdout", stdout), ("stderr", stderr)] {
        if pipe.contents().len() >= cap {
            return failed(format!(
                "output cap of {cap} bytes exceeded: the plugin wrote more than that to {name}; \
                 write less (log through the `log` interface), or raise `output` in pack.yaml"
            ));
        }
    }
    let err_text = String::from_utf8_lossy(&stderr.contents()).into_owned();
    if let Some(panic) = panic_message(&err_text) {
        return failed(format!("the plugin panicked at {panic}"));
    }
    failed(format!("the plugin trapped: {}", root_cause(&err)))
}

/// Pulls "src/lib.rs:3:5: message" out of a Rust panic report on stderr.
fn panic_message(stderr: &str) -> Option<String> {
    let rest = &stderr[stderr.find("panicked at ")? + "panicked at ".len()..];
    let (location, after) = rest.split_once('\n').unwrap_or((rest, ""));
    let message: Vec<&str> = after
        .lines()
        .take_while(|l| !l.starts_with("note:") && !l.starts_with("stack backtrace"))
        .collect();
    Some(format!(
        "{} {}",
        location.trim_end_matches(':').to_owned() + ":",
        message.join("\n")
    ))
}

fn root_cause(err: &wasmtime::Error) -> String {
    match err.downcast_ref::<Trap>() {
        Some(trap) => trap.to_string(),
        None => err.root_cause().to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::panic_message;

    #[test]
    fn panic_messages_are_extracted() {
        let s = "thread '<unnamed>' (1) panicked at src/lib.rs:25:24:\nplugin bug: index out of range\nnote: run with `RUST_BACKTRACE=1`\n";
        assert_eq!(
            panic_message(s).unwrap(),
            "src/lib.rs:25:24: plugin bug: index out of range"
        );
        assert_eq!(panic_message("nothing"), None);
    }
}
