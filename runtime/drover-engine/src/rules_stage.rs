//! The rules stage: takes pending trigger instances in arrival order,
//! evaluates the rules on their type, and records per trigger, in one
//! transaction, its enforcements, the executions they request and its
//! `processed` state.
//!
//! Rendered parameters are validated against the action's schema here, so
//! a rule that cannot produce a valid request leaves a `failed`
//! enforcement with the reason instead of a doomed execution.
//!
//! Side-by-side shadow: each trigger also goes through the rules of every
//! candidate (a shadowed new version of a trusted pack, see
//! [`crate::catalog::Candidate`]). Their enforcements are recorded with the
//! trigger, marked with the candidate's version, and the executions they
//! request are dry runs pinned to that version, so the live outcome and the
//! candidate's plan can be set side by side. Candidates keep throttles and
//! thresholds of their own, in memory: they never move the live rules'.

use std::collections::HashMap;
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use drover_core::{
    Enforcement, EnforcementState, ExecutionId, ExecutionRequest, TriggerInstance, now_ms,
};
use drover_pack::{ActionRef, Plugin};
use drover_rules::{Context, KvStore, Match, Outcome, RuleSet, StormState};
use serde_json::Value;

use crate::catalog::Candidate;
use crate::{Catalog, Shared};

/// Trigger instances taken per round.
const BATCH: u32 = 512;
/// How long the stage sleeps without a signal before looking again.
const IDLE_POLL: Duration = Duration::from_millis(200);

pub(crate) fn spawn(shared: Arc<Shared>) -> JoinHandle<()> {
    shared
        .clone()
        .spawn("drover-rules".into(), move || Stage::new(shared).run())
        .expect("spawn the rules stage")
}

struct Stage {
    shared: Arc<Shared>,
    /// Throttle and threshold memory, saved with each trigger whose rules
    /// use it and loaded at start, so windows and counts survive restarts.
    storm: StormState,
    /// Each candidate's throttle and threshold memory, by `pack@version`
    /// (not persisted: a restart starts their windows afresh).
    candidate_storms: HashMap<String, StormState>,
    kv: Arc<dyn KvStore>,
    /// Each action's plugin (a Wasm action or a workflow, or why it cannot
    /// run) by action and pinned version, looked up once; cleared when the
    /// catalog is reloaded (a reinstalled pack changes them).
    actions: HashMap<(String, Option<String>), Result<Plugin, String>>,
    generation: i64,
}

impl Stage {
    fn new(shared: Arc<Shared>) -> Stage {
        let kv: Arc<dyn KvStore> = Arc::new(StageKv {
            shared: shared.clone(),
        });
        let storm = load_storm(&shared);
        Stage {
            shared,
            storm,
            candidate_storms: HashMap::new(),
            kv,
            actions: HashMap::new(),
            generation: 0,
        }
    }

    fn run(mut self) {
        while !self.shared.stopping() {
            let batch = match self.shared.app.store().pending_triggers(None, BATCH) {
                Ok(b) => b,
                Err(e) => {
                    tracing::error!(error = %e, "cannot read pending triggers");
                    std::thread::sleep(IDLE_POLL);
                    continue;
                }
            };
            if batch.is_empty() {
                self.shared.triggers_waiting.wait(IDLE_POLL);
                continue;
            }
            self.process(batch);
        }
    }

    fn process(&mut self, batch: Vec<TriggerInstance>) {
        let now = jiff::Timestamp::now();
        let cx = Context::new(now).with_kv(self.kv.clone());
        // One catalog for the whole batch, even if a reload happens meanwhile.
        let catalog = self.shared.catalog();
        if catalog.generation() != self.generation {
            self.actions.clear();
            self.generation = catalog.generation();
        }
        // Forget windows that can no longer matter, so the state stays small.
        catalog.rules().prune_storm(&mut self.storm, now);
        let storms = &mut self.candidate_storms;
        storms.retain(|key, _| catalog.candidates().iter().any(|c| c.key() == *key));
        for candidate in catalog.candidates() {
            let storm = storms.entry(candidate.key()).or_default();
            candidate.rules.prune_storm(storm, now);
        }
        let mut records = Vec::with_capacity(batch.len());
        let mut requested = false;
        let mut stormy = false;
        for trigger in batch {
            let matches = evaluate(catalog.rules(), &trigger, &cx, &mut self.storm);
            stormy |= matches
                .iter()
                .any(|m| m.rule.throttle.is_some() || m.rule.threshold.is_some());
            let (mut enforcements, mut requests) = self.enforce(&catalog, &trigger, matches, None);
            for candidate in catalog.candidates() {
                let storm = self.candidate_storms.entry(candidate.key()).or_default();
                let matches = evaluate(&candidate.rules, &trigger, &cx, storm);
                let (e, r) = self.enforce(&catalog, &trigger, matches, Some(candidate));
                enforcements.extend(e);
                requests.extend(r);
            }
            requested |= !requests.is_empty();
            records.push((trigger.id, enforcements, requests));
        }
        // The whole batch in one write (one savepoint in the group commit),
        // with the throttle/threshold state as it is after the batch.
        let storm = stormy
            .then(|| serde_json::to_string(&self.storm).ok())
            .flatten();
        let counts: Vec<_> = records
            .iter()
            .flat_map(|(_, enforcements, _)| {
                enforcements
                    .iter()
                    .filter(|e| e.candidate.is_none())
                    .map(|e| e.state)
            })
            .collect();
        let triggers = records.len() as u64;
        // Wait for the write before the next round reads pending triggers
        // again, or it would see these once more.
        let written = self
            .shared
            .app
            .store()
            .record_enforcements_many(records, storm)
            .and_then(|w| w.wait());
        if let Err(e) = written {
            // Nothing of the batch was stored: its triggers stay pending and
            // are evaluated again, from the stored throttle/threshold state.
            tracing::error!(error = %e, "cannot record rule enforcements");
            self.storm = load_storm(&self.shared);
            std::thread::sleep(IDLE_POLL);
            return;
        }
        let metrics = &self.shared.metrics;
        metrics
            .triggers_processed
            .fetch_add(triggers, std::sync::atomic::Ordering::Relaxed);
        for state in counts {
            metrics.enforcement(state);
        }
        if requested {
            self.shared.requests_waiting.notify();
        }
    }

    /// The enforcements of `matches` and the executions they request; for
    /// a `candidate`'s rules, dry runs of that version.
    fn enforce(
        &mut self,
        catalog: &Catalog,
        trigger: &TriggerInstance,
        matches: Vec<Match>,
        candidate: Option<&Candidate>,
    ) -> (Vec<Enforcement>, Vec<ExecutionRequest>) {
        let mut enforcements = Vec::new();
        let mut requests = Vec::new();
        for m in matches {
            let id = ulid::Ulid::new().to_string();
            let at_ms = now_ms();
            let mut enforcement = Enforcement {
                id: id.clone(),
                trigger_instance_id: trigger.id.clone(),
                rule_ref: m.rule.reference.clone(),
                execution_id: None,
                state: EnforcementState::Failed,
                reason: None,
                at_ms,
                candidate: candidate.map(|c| c.version.clone()),
            };
            match m.outcome {
                Outcome::Fired { parameters, .. } => {
                    let action = &m.rule.action.reference;
                    // A candidate's own actions run at its version; another
                    // pack's action at that pack's live one (dry all the same).
                    let pin = candidate
                        .filter(|c| action.split_once('.').map(|(p, _)| p) == Some(&c.pack))
                        .map(|c| c.version.clone());
                    match self.validate(action, pin.as_deref(), Value::Object(parameters)) {
                        Ok(parameters) => {
                            let exec = ExecutionId::new();
                            enforcement.state = EnforcementState::Scheduled;
                            enforcement.execution_id = Some(exec);
                            requests.push(ExecutionRequest {
                                id: exec,
                                action: action.clone(),
                                parameters,
                                // A shadow pack's rules fire, but only dry;
                                // so does a trusted rule calling a shadow
                                // pack's action (the executor holds to it
                                // too, whoever calls), and any rule on a
                                // trigger a shadow pack produced.
                                dry_run: candidate.is_some()
                                    || catalog.is_shadow(&m.rule.pack)
                                    || catalog.is_shadow_action(action)
                                    || trigger.shadow,
                                actor: match candidate {
                                    Some(c) => format!("rule:{}@{}", m.rule.reference, c.version),
                                    None => format!("rule:{}", m.rule.reference),
                                },
                                enforcement_id: Some(id),
                                requested_at_ms: at_ms,
                                pack_version: pin,
                            });
                        }
                        Err(reason) => enforcement.reason = Some(reason),
                    }
                }
                Outcome::RenderFailed { error } => enforcement.reason = Some(error),
                Outcome::CriteriaFailed { criterion, error } => {
                    enforcement.reason = Some(format!("criterion {criterion}: {error}"));
                }
                Outcome::Throttled {
                    group,
                    until,
                    suppressed,
                } => {
                    enforcement.state = EnforcementState::Suppressed;
                    enforcement.reason = Some(format!(
                        "throttled: group {group} fires again after {until} ({suppressed} suppressed so far)"
                    ));
                }
                Outcome::Waiting {
                    group,
                    seen,
                    needed,
                } => {
                    enforcement.state = EnforcementState::Suppressed;
                    enforcement.reason = Some(format!(
                        "threshold: {seen} of {needed} events in group {group}"
                    ));
                }
            }
            enforcements.push(enforcement);
        }
        (enforcements, requests)
    }

    /// The action's parameters with defaults (the schema of its pack's
    /// `version`, else the live one's), or why it cannot run.
    fn validate(
        &mut self,
        action: &str,
        version: Option<&str>,
        params: Value,
    ) -> Result<Value, String> {
        let app = &self.shared.app;
        let key = (action.to_owned(), version.map(str::to_owned));
        let prepared = self.actions.entry(key).or_insert_with(|| {
            let reference: ActionRef = action.parse().map_err(|e| format!("{e}"))?;
            app.runtime()
                .action_plugin_version(&reference, version)
                .map(|(_, plugin)| plugin)
                .map_err(|e| e.to_string())
        });
        let plugin = prepared.as_ref().map_err(Clone::clone)?;
        plugin
            .parameters
            .validate(params)
            .map_err(|e| format!("{action}: {e}"))
    }
}

/// The matches of `rules` for `trigger`: a parameterized trigger (a
/// timer's) only those of rules on the same parameters.
fn evaluate(
    rules: &RuleSet,
    trigger: &TriggerInstance,
    cx: &Context,
    storm: &mut StormState,
) -> Vec<Match> {
    match &trigger.trigger_parameters {
        Some(params) => {
            rules.evaluate_parameterized(&trigger.trigger_type, params, &trigger.payload, cx, storm)
        }
        None => rules.evaluate(&trigger.trigger_type, &trigger.payload, cx, storm),
    }
}

/// What rule templates read from the key-value store: `kv.<key>` and
/// `st2kv.system.<key>` read the `system` scope (what `drover kv set`
/// writes by default); `st2kv.user.<key>` reads `user:<NAME>`, NAME being
/// the user who installed the rule's pack (`drover kv set --scope
/// user:NAME`), as st2 resolves it for the rule's owner.
struct StageKv {
    shared: Arc<Shared>,
}

impl KvStore for StageKv {
    fn get(&self, _pack: &str, key: &str) -> Option<String> {
        self.shared.app.store().kv_get("system", key).ok().flatten()
    }

    fn get_user(&self, pack: &str, key: &str) -> Option<String> {
        let user = self.shared.catalog().owner(pack)?.to_owned();
        self.shared
            .app
            .store()
            .kv_get(&format!("user:{user}"), key)
            .ok()
            .flatten()
    }
}

/// The saved throttle/threshold state, or a fresh one (logged) when it is
/// missing or unreadable.
fn load_storm(shared: &Shared) -> StormState {
    match shared.app.store().rule_state("*") {
        Ok(Some(text)) => serde_json::from_str(&text).unwrap_or_else(|e| {
            tracing::warn!(error = %e, "ignoring unreadable throttle/threshold state");
            StormState::new()
        }),
        Ok(None) => StormState::new(),
        Err(e) => {
            tracing::warn!(error = %e, "cannot read throttle/threshold state");
            StormState::new()
        }
    }
}
