//! Timers: StackStorm's `core.st2.IntervalTimer`, `core.st2.CronTimer` and
//! `core.st2.DateTimer` trigger types, fired by one thread of the pipeline.
//!
//! Every enabled rule on a timer type defines a timer, keyed by the type and
//! its canonical parameters (rules spelling one schedule differently share
//! it; the catalog rewrites their parameters to the canonical form so the
//! rules stage matches them). A rule whose parameters make no schedule is
//! logged, naming the rule and the field, and gets no timer.
//!
//! At each due slot the timer stores a trigger instance (source
//! `timer:<type>`, payload `{"executed_at": <the slot, RFC 3339>,
//! "schedule": null}` as st2 sends, and the timer's canonical parameters)
//! **in the same transaction** as the slot in `timer_state`: a restart never
//! fires a slot twice.
//!
//! Missed slots (drover was down, or the machine stalled) follow
//! APScheduler's misfire rules, which st2's timers run on: a slot later than
//! the misfire grace ([`MISFIRE_GRACE`]) is skipped, and several due slots
//! coalesce into one, the latest. So after a restart at most the latest
//! missed slot fires, once, and only if it is recent; a backlog is never
//! replayed in bulk (an hourly report after a week of downtime should run
//! once, not 168 times). st2 itself keeps its jobs in memory and fires no
//! missed slot at all; drover, which remembers its slots, allows the grace
//! so that a restart across a slot does not lose it.
//!
//! Interval timers count from their anchor, when drover first saw the timer
//! (persisted): the first slot is one interval later. A date timer fires
//! once; a date already past when drover first sees it never fires.

pub mod schedule;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use drover_core::{TriggerInstance, now_ms};
use drover_rules::{Rule, RuleSet};
use drover_store::{Store, StoreError};
use jiff::{SignedDuration, Timestamp};
use serde_json::json;

pub use schedule::{CRON, DATE, INTERVAL, Schedule, SpecError, TimerSpec, is_timer};

use crate::Shared;

/// How late a slot may fire (APScheduler's `misfire_grace_time`).
pub const MISFIRE_GRACE: SignedDuration = SignedDuration::from_secs(60);
/// Longest sleep of the timer thread, which bounds how long shutdown waits.
const MAX_SLEEP: Duration = Duration::from_millis(200);

/// Checks a rule's timer parameters (`Ok` for a rule not on a timer).
pub fn check_rule(rule: &Rule) -> Result<(), SpecError> {
    if is_timer(&rule.trigger.type_) {
        TimerSpec::parse(&rule.trigger.type_, &rule.trigger.parameters)?;
    }
    Ok(())
}

/// Rewrites the parameters of rules on timers to their canonical form, so
/// that every rule on one timer matches its trigger instances. Rules with
/// invalid parameters are left as written (they get no timer).
pub(crate) fn canonicalize(rules: &mut [Rule]) {
    for rule in rules {
        if is_timer(&rule.trigger.type_)
            && let Ok(spec) = TimerSpec::parse(&rule.trigger.type_, &rule.trigger.parameters)
        {
            rule.trigger.parameters = spec.canonical;
        }
    }
}

/// One timer and where it stands.
struct Timer {
    spec: TimerSpec,
    key: String,
    anchor: Timestamp,
    /// Slots up to here are fired or skipped.
    baseline: Timestamp,
    /// The rules on it, for the logs.
    rules: Vec<String>,
}

/// The timers of a rule set over a store. [`TimerService::tick`] takes the
/// time as an argument, so tests drive it with a fake clock.
pub struct TimerService {
    store: Store,
    timers: Vec<Timer>,
    grace: SignedDuration,
}

impl TimerService {
    /// The timers of the enabled rules, with their persisted state (created
    /// with `now` as anchor for timers seen for the first time).
    pub fn new(store: Store, rules: &RuleSet, now: Timestamp) -> Result<TimerService, StoreError> {
        let mut by_key: BTreeMap<String, (TimerSpec, Vec<String>)> = BTreeMap::new();
        for rule in rules.rules() {
            if !rule.enabled || !is_timer(&rule.trigger.type_) {
                continue;
            }
            match TimerSpec::parse(&rule.trigger.type_, &rule.trigger.parameters) {
                Ok(spec) => {
                    by_key
                        .entry(spec.key())
                        .or_insert_with(|| (spec, Vec::new()))
                        .1
                        .push(rule.reference.clone());
                }
                Err(e) => tracing::error!(
                    rule = %rule.reference,
                    field = %format!("trigger.parameters.{}", e.field),
                    "rule {}: invalid {} parameters, no timer: {e}",
                    rule.reference,
                    rule.trigger.type_,
                ),
            }
        }
        let mut timers = Vec::with_capacity(by_key.len());
        for (key, (spec, rules)) in by_key {
            let state = store.timer_state(&key, now.as_millisecond())?;
            let anchor = Timestamp::from_millisecond(state.anchor_ms).unwrap_or(now);
            let last = state
                .last_slot_ms
                .and_then(|ms| Timestamp::from_millisecond(ms).ok());
            let baseline = last.map_or(anchor, |l| l.max(anchor));
            tracing::info!(timer = %key, rules = ?rules, "timer scheduled");
            timers.push(Timer {
                spec,
                key,
                anchor,
                baseline,
                rules,
            });
        }
        Ok(TimerService {
            store,
            timers,
            grace: MISFIRE_GRACE,
        })
    }

    /// With another misfire grace (tests).
    pub fn with_grace(mut self, grace: SignedDuration) -> TimerService {
        self.grace = grace;
        self
    }

    /// How many timers.
    pub fn len(&self) -> usize {
        self.timers.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.timers.is_empty()
    }

    /// Fires every timer due at `now` (at most one slot each, the latest
    /// within the grace) and returns `(timer key, slot)` of those fired.
    pub fn tick(&mut self, now: Timestamp) -> Vec<(String, Timestamp)> {
        let earliest = now.checked_sub(self.grace).unwrap_or(now);
        let mut fired = Vec::new();
        for timer in &mut self.timers {
            let from = timer.baseline.max(earliest);
            let mut due = None;
            let mut t = from;
            while let Some(slot) = timer.spec.schedule.next_after(t, timer.anchor) {
                if slot > now {
                    break;
                }
                due = Some(slot);
                t = slot;
            }
            let Some(slot) = due else {
                // Slots before `from` are past the grace: skipped for good.
                timer.baseline = from;
                continue;
            };
            let instance = TriggerInstance {
                id: ulid::Ulid::new().to_string(),
                trigger_type: timer.spec.trigger_type.clone(),
                payload: json!({"executed_at": slot.to_string(), "schedule": null}),
                source: format!("timer:{}", timer.spec.trigger_type),
                received_at_ms: now_ms(),
                trigger_parameters: Some(timer.spec.canonical.clone()),
                // A timer is drover's own; the rule's pack decides.
                shadow: false,
            };
            match self
                .store
                .fire_timer_slot(&timer.key, slot.as_millisecond(), instance)
                .and_then(|p| p.wait())
            {
                Ok(stored) => {
                    timer.baseline = slot;
                    if stored {
                        tracing::debug!(timer = %timer.key, %slot, "timer fired");
                        fired.push((timer.key.clone(), slot));
                    }
                }
                // Retried on the next tick (while within the grace).
                Err(e) => tracing::error!(
                    timer = %timer.key, rules = ?timer.rules, error = %e,
                    "cannot store a timer's trigger instance"
                ),
            }
        }
        fired
    }

    /// The earliest next slot of any timer, if any will come.
    pub fn next_wake(&self) -> Option<Timestamp> {
        self.timers
            .iter()
            .filter_map(|t| t.spec.schedule.next_after(t.baseline, t.anchor))
            .min()
    }
}

/// Starts the timer thread, if any rule is on a timer.
pub(crate) fn spawn(shared: Arc<Shared>) -> Option<JoinHandle<()>> {
    let store = shared.app.store().clone();
    let mut service = match TimerService::new(store, shared.catalog().rules(), Timestamp::now()) {
        Ok(s) => s,
        Err(e) => {
            tracing::error!(error = %e, "cannot load timer state; timers are off");
            return None;
        }
    };
    if service.is_empty() {
        return None;
    }
    let thread = shared
        .clone()
        .spawn("drover-timers".into(), move || {
            while !shared.stopping() {
                if !service.tick(Timestamp::now()).is_empty() {
                    shared.triggers_waiting.notify();
                }
                let sleep = service
                    .next_wake()
                    .and_then(|w| Duration::try_from(w.duration_since(Timestamp::now())).ok())
                    .unwrap_or(MAX_SLEEP)
                    .clamp(Duration::from_millis(1), MAX_SLEEP);
                shared.stop.sleep(sleep);
            }
        })
        .expect("spawn the timer thread");
    Some(thread)
}

#[cfg(test)]
mod tests;
