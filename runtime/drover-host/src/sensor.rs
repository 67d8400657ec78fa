//! Sensors (`world sensor`): one `poll` or `on-message` call in a fresh
//! sandbox, with the same limits, grants, audit and dry-run handling as an
//! action (see [`Runtime::sandboxed`]). A call returns the triggers the
//! sensor emitted, each checked to be of a trigger type its own pack
//! declares, or a classified failure. Payload schemas are checked where the
//! triggers enter the pipeline (`drover_engine::Intake::accept`).

use std::sync::Arc;
use std::time::Duration;

use drover_core::{AuditRecord, ExecStatus, ExecutionId, LogLine, PlannedEffect, now_ms};
use drover_pack::{ActionRef, Pack, Plugin, PluginKind, Subscription};
use drover_policy::{Capability, Target};
use serde::Serialize;
use serde_json::Value;

use crate::bindings::drover::plugin::types::Trigger;
use crate::bindings::sensor::SensorPre;
use crate::call::{HostState, classify_trap, plugin_error};
use crate::executor::{RunError, RunOptions, Runtime, component_err, run_logs};
use crate::grants::{Check, GrantSet};

/// A sensor looked up and ready to instantiate.
#[derive(Clone)]
pub struct PreparedSensor {
    pub pack: Arc<Pack>,
    pub plugin: Plugin,
    pub digest: String,
    pre: SensorPre<HostState>,
}

impl PreparedSensor {
    /// `pack.plugin`.
    pub fn name(&self) -> String {
        format!("{}.{}", self.pack.name, self.plugin.name)
    }
}

/// Which export to call.
#[derive(Clone, Copy, Debug)]
pub enum SensorInput<'a> {
    /// `poll(config)`.
    Poll { config: &'a Value },
    /// `on-message(source, payload)`; `source` names the subscription.
    Message { source: &'a str, payload: &'a Value },
}

/// A trigger a sensor emitted, of a type its pack declares.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct EmittedTrigger {
    /// `pack.name`.
    pub trigger_type: String,
    pub payload: Value,
}

/// How a sensor call failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum SensorFailureKind {
    /// It trapped: a panic, a limit, an output cap.
    Trap,
    /// It ran past its deadline.
    Timeout,
    /// It returned an error, or triggers the host rejected.
    Error,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, thiserror::Error)]
#[error("{kind:?}: {message}")]
pub struct SensorFailure {
    pub kind: SensorFailureKind,
    pub message: String,
}

/// One sensor call's outcome and logs.
#[derive(Debug)]
pub struct SensorCall {
    pub outcome: Result<Vec<EmittedTrigger>, SensorFailure>,
    /// In a dry run: the effects it asked for, recorded, not performed.
    pub plan: Vec<PlannedEffect>,
    pub logs: Vec<LogLine>,
    pub duration: Duration,
}

impl Runtime {
    /// Looks a sensor up (newest installed version of its pack) and readies
    /// its component.
    pub fn prepare_sensor(&self, sensor: &ActionRef) -> Result<PreparedSensor, RunError> {
        let (pack, plugin, digest) = self.lookup(sensor, PluginKind::Sensor)?;
        if plugin.kind != PluginKind::Sensor {
            return Err(RunError::NotASensor {
                sensor: sensor.to_string(),
            });
        }
        let pre = self.sensor_pre(&sensor.to_string(), &digest)?;
        Ok(PreparedSensor {
            pack: Arc::new(pack),
            plugin,
            digest,
            pre,
        })
    }

    /// Every sensor of the installed packs (newest version of each pack),
    /// ready to call, by name.
    pub fn installed_sensors(&self) -> Result<Vec<PreparedSensor>, RunError> {
        let mut seen = std::collections::HashSet::new();
        let mut out = Vec::new();
        for installed in self.services.ports.all_installed()? {
            // Newest install first per name: keep the first.
            if !seen.insert(installed.pack.name.clone()) {
                continue;
            }
            let pack = installed.pack;
            for plugin in pack.plugins.iter().filter(|p| p.kind == PluginKind::Sensor) {
                out.push(self.prepare_sensor(&ActionRef {
                    pack: pack.name.clone(),
                    plugin: plugin.name.clone(),
                })?);
            }
        }
        out.sort_by_key(PreparedSensor::name);
        Ok(out)
    }

    fn sensor_pre(&self, sensor: &str, digest: &str) -> Result<SensorPre<HostState>, RunError> {
        if let Some(pre) = self
            .sensor_pres
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(digest)
        {
            return Ok(pre.clone());
        }
        let pre = self
            .instance_pre(sensor, digest)
            .and_then(|pre| SensorPre::new(pre).map_err(|e| component_err(sensor, digest, e)))?;
        self.sensor_pres
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(digest.to_owned(), pre.clone());
        Ok(pre)
    }

    /// Calls `poll` or `on-message` once in a fresh sandbox. `opts.actor`
    /// is what the audit log names, by convention `sensor:pack.name`.
    pub fn call_sensor(
        &self,
        s: &PreparedSensor,
        input: SensorInput<'_>,
        opts: &RunOptions,
    ) -> Result<SensorCall, RunError> {
        let id = ExecutionId::new();
        let run = self.sandboxed(id, &s.pack, &s.plugin, &s.digest, opts, |store| {
            let sensor = s.pre.instantiate(&mut *store)?;
            match input {
                SensorInput::Poll { config } => sensor.call_poll(&mut *store, &config.to_string()),
                SensorInput::Message { source, payload } => {
                    sensor.call_on_message(&mut *store, source, &payload.to_string())
                }
            }
        })?;
        let outcome = match run.outcome {
            Ok(Ok(triggers)) => check_triggers(&s.pack, triggers, run.state.call.output_cap),
            Ok(Err(err)) => Err(SensorFailure {
                kind: SensorFailureKind::Error,
                message: plugin_error(err).1,
            }),
            Err(trap) => {
                let ending = classify_trap(
                    trap,
                    &run.state,
                    run.timeout,
                    opts.timeout.is_some(),
                    &run.stdout,
                    &run.stderr,
                );
                Err(SensorFailure {
                    kind: if ending.status == ExecStatus::Timeout {
                        SensorFailureKind::Timeout
                    } else {
                        SensorFailureKind::Trap
                    },
                    message: ending.error.unwrap_or_default(),
                })
            }
        };
        let mut logs = run_logs(run.state.call.logs, &run.stdout, &run.stderr, run.duration);
        // Secret values the sensor read appear nowhere a viewer reads.
        run.state.call.secrets.logs(&mut logs);
        let mut plan = run.state.call.plan;
        run.state.call.secrets.plan(&mut plan);
        Ok(SensorCall {
            outcome,
            plan,
            logs,
            duration: run.duration,
        })
    }
}

impl Runtime {
    /// Whether the pack version `s` runs is in shadow mode (or no longer
    /// installed): its calls must then be dry runs. Read on every call, so
    /// `drover pack promote` applies from the next poll.
    pub fn sensor_is_shadow(&self, s: &PreparedSensor) -> Result<bool, RunError> {
        Ok(self
            .services
            .ports
            .installed(&s.pack.name, Some(&s.pack.version))?
            .is_none_or(|p| p.shadow))
    }

    /// Decides whether `s` may open subscription `sub`: only under a
    /// `subscribe` grant to its pack version and component digest whose
    /// scope covers it. The decision is audited (actor `sensor:pack.name`)
    /// whatever it is; a denial's reason names the grant to give.
    pub fn check_subscription(
        &self,
        s: &PreparedSensor,
        sub: &Subscription,
    ) -> Result<Check, RunError> {
        let grants = GrantSet::new(
            &s.pack.name,
            &s.pack.version,
            self.services
                .ports
                .active_grants(&s.pack.name, &s.pack.version)?,
        );
        let target = match sub {
            Subscription::Nats(subject) => Target::Nats(subject),
            Subscription::Webhook { name, .. } => Target::Webhook(name),
        };
        let text = sub.to_string();
        let declared = if s.plugin.declares(Capability::Subscribe) {
            vec![Capability::Subscribe]
        } else {
            Vec::new()
        };
        let check = grants.check(
            &declared,
            &s.plugin.name,
            &s.digest,
            Capability::Subscribe,
            &target,
            &text,
        );
        self.services.ports.audit(AuditRecord {
            id: 0,
            at_ms: now_ms(),
            execution_id: None,
            actor: format!("sensor:{}", s.name()),
            pack: format!("{}@{}", s.pack.name, s.pack.version),
            plugin: s.plugin.name.clone(),
            capability: Capability::Subscribe.to_string(),
            target: text,
            decision: check.decision,
            reason: check.reason.clone(),
            dry_run: false,
            change: None,
        })?;
        Ok(check)
    }
}

/// Parses the payloads and refuses a trigger of a type the sensor's pack
/// does not declare: a sensor speaks only for its own pack.
fn check_triggers(
    pack: &Pack,
    triggers: Vec<Trigger>,
    output_cap: usize,
) -> Result<Vec<EmittedTrigger>, SensorFailure> {
    let error = |message: String| SensorFailure {
        kind: SensorFailureKind::Error,
        message,
    };
    let size: usize = triggers.iter().map(|t| t.payload.len()).sum();
    if size > output_cap {
        return Err(error(format!(
            "the triggers are {size} bytes, over the output cap of {output_cap} bytes; \
             emit less, or raise `output` in pack.yaml"
        )));
    }
    let declared = || {
        pack.triggers
            .iter()
            .map(|t| format!("{}.{}", pack.name, t.name))
            .collect::<Vec<_>>()
    };
    triggers
        .into_iter()
        .map(|t| {
            let own = t
                .trigger_type
                .strip_prefix(&pack.name)
                .and_then(|rest| rest.strip_prefix('.'))
                .and_then(|name| pack.trigger(name));
            if own.is_none() {
                let list = declared();
                return Err(error(format!(
                    "emitted a trigger of type {:?}, which pack {} does not declare ({}); \
                     a sensor may emit only its own pack's trigger types",
                    t.trigger_type,
                    pack.name,
                    if list.is_empty() {
                        "it declares none".to_owned()
                    } else {
                        format!("it declares {}", list.join(", "))
                    }
                )));
            }
            let payload: Value = serde_json::from_str(&t.payload).map_err(|e| {
                error(format!(
                    "the payload of a {} trigger is not JSON: {e}",
                    t.trigger_type
                ))
            })?;
            Ok(EmittedTrigger {
                trigger_type: t.trigger_type,
                payload,
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::{SensorFailureKind, check_triggers};
    use crate::bindings::drover::plugin::types::Trigger;

    fn pack() -> drover_pack::Pack {
        drover_pack::parse_manifest(
            Path::new("pack.yaml"),
            "name: mon\nversion: 0.1.0\nplugins:\n  s: {kind: sensor, component: s.wasm}\n\
             triggers:\n  down: {payload: {node: {type: string}}}\n",
        )
        .unwrap()
    }

    fn trigger(t: &str, payload: &str) -> Trigger {
        Trigger {
            trigger_type: t.into(),
            payload: payload.into(),
        }
    }

    #[test]
    fn only_the_packs_own_trigger_types_pass() {
        let ok = check_triggers(&pack(), vec![trigger("mon.down", r#"{"node":"n1"}"#)], 1024);
        assert_eq!(ok.unwrap()[0].payload["node"], "n1");
        for other in ["core.down", "mon.up", "down", "monx.down"] {
            let err = check_triggers(&pack(), vec![trigger(other, "{}")], 1024).unwrap_err();
            assert_eq!(err.kind, SensorFailureKind::Error);
            assert!(
                err.message.contains("it declares mon.down"),
                "{}",
                err.message
            );
        }
        let err = check_triggers(&pack(), vec![trigger("mon.down", "{")], 1024).unwrap_err();
        assert!(err.message.contains("not JSON"), "{}", err.message);
        let err = check_triggers(&pack(), vec![trigger("mon.down", &"x".repeat(2000))], 1024)
            .unwrap_err();
        assert!(err.message.contains("output cap"), "{}", err.message);
    }
}
