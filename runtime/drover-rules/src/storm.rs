//! Storm control: `drover.throttle` and `drover.threshold` as pure state
//! machines over (rule, group, time).
//!
//! A rule whose criteria passed asks [`StormState::admit`] whether it may
//! fire. The group is the JSON list of the `group_by` values in the payload
//! (a missing key is `null`), e.g. `["b7s01"]`; without `group_by` the rule
//! has one group.
//!
//! - **threshold** `{count: N, within: W}`: the event is counted in its
//!   group's sliding window of length `W`; the rule fires on the N-th event
//!   inside the window, which then starts empty again. Events before that
//!   are `Waiting`.
//! - **throttle** `{once_within: P}`: after a firing, further firings of the
//!   same group are suppressed (and counted) until `P` has passed since that
//!   firing; the next firing reports how many were suppressed.
//!
//! A rule with both counts toward the threshold first, then asks the
//! throttle. The state is plain data (serde), passed in and out so the
//! runtime can persist it; it holds nothing but times and counts, is pruned
//! by [`StormState::prune`], and is capped per rule by [`MAX_GROUPS`]. Time
//! comes from the caller; a clock that steps back keeps suppressing (a
//! remediation too few rather than one too many).

use std::collections::BTreeMap;

use jiff::{SignedDuration, Timestamp};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::path::KeyPath;
use crate::rule::Rule;

/// Groups remembered per rule and mechanism. A rule grouped by node on a
/// fleet of thousands needs thousands; past the cap the entry touched
/// longest ago is forgotten (at worst one extra firing or a reset count).
pub const MAX_GROUPS: usize = 100_000;

/// Throttle and threshold memory of every rule, keyed by rule reference.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct StormState {
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    rules: BTreeMap<String, RuleStorm>,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
struct RuleStorm {
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    throttle: BTreeMap<String, ThrottleSlot>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    threshold: BTreeMap<String, Vec<Timestamp>>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
struct ThrottleSlot {
    fired_at: Timestamp,
    suppressed: u64,
}

/// What storm control says about one matching event.
#[derive(Clone, Debug, PartialEq)]
pub enum Gate {
    /// Fire. `suppressed`: events of this group the throttle held back since
    /// its previous firing.
    Fire {
        /// Events suppressed since the previous firing of this group.
        suppressed: u64,
    },
    /// Held back by the throttle until `until`.
    Throttled {
        /// The group, e.g. `["b7s01"]`.
        group: String,
        /// When the group may fire again.
        until: Timestamp,
        /// Events suppressed so far in this window, this one included.
        suppressed: u64,
    },
    /// Counted toward the threshold, which is not reached yet.
    Waiting {
        /// The group.
        group: String,
        /// Events in the window, this one included.
        seen: u32,
        /// Events needed.
        needed: u32,
    },
}

/// The group of `payload` for `keys`: the JSON list of their values.
pub fn group_key(keys: &[KeyPath], payload: &Value) -> String {
    if keys.is_empty() {
        return String::new();
    }
    let values: Vec<&Value> = keys
        .iter()
        .map(|k| k.resolve(payload).found().unwrap_or(&Value::Null))
        .collect();
    serde_json::to_string(&values).unwrap_or_default()
}

fn span(d: std::time::Duration) -> SignedDuration {
    SignedDuration::try_from(d).unwrap_or(SignedDuration::MAX)
}

impl StormState {
    /// An empty state.
    pub fn new() -> StormState {
        StormState::default()
    }

    /// Whether nothing is remembered.
    pub fn is_empty(&self) -> bool {
        self.rules.is_empty()
    }

    /// Decides whether `rule`, whose criteria passed for `payload`, fires
    /// at `now`, and records the event.
    pub fn admit(&mut self, rule: &Rule, payload: &Value, now: Timestamp) -> Gate {
        if rule.throttle.is_none() && rule.threshold.is_none() {
            return Gate::Fire { suppressed: 0 };
        }
        let state = self.rules.entry(rule.reference.clone()).or_default();
        if let Some(t) = &rule.threshold {
            let group = group_key(&t.group_by, payload);
            let start = now - span(t.within);
            if !state.threshold.contains_key(&group) && state.threshold.len() >= MAX_GROUPS {
                evict_oldest(&mut state.threshold, |w| w.last().copied());
            }
            let window = state.threshold.entry(group.clone()).or_default();
            window.retain(|&at| at > start && at <= now);
            window.push(now);
            let seen = u32::try_from(window.len()).unwrap_or(u32::MAX);
            if seen < t.count {
                return Gate::Waiting {
                    group,
                    seen,
                    needed: t.count,
                };
            }
            state.threshold.remove(&group);
        }
        if let Some(t) = &rule.throttle {
            let group = group_key(&t.group_by, payload);
            let until_of = |fired_at: Timestamp| fired_at + span(t.once_within);
            if let Some(slot) = state.throttle.get_mut(&group)
                && now < until_of(slot.fired_at)
            {
                slot.suppressed += 1;
                return Gate::Throttled {
                    group,
                    until: until_of(slot.fired_at),
                    suppressed: slot.suppressed,
                };
            }
            if !state.throttle.contains_key(&group) && state.throttle.len() >= MAX_GROUPS {
                evict_oldest(&mut state.throttle, |s| Some(s.fired_at));
            }
            let previous = state.throttle.insert(
                group,
                ThrottleSlot {
                    fired_at: now,
                    suppressed: 0,
                },
            );
            return Gate::Fire {
                suppressed: previous.map_or(0, |p| p.suppressed),
            };
        }
        Gate::Fire { suppressed: 0 }
    }

    /// Forgets what can no longer matter at `now`: throttle windows that
    /// have passed with nothing suppressed, threshold events outside their
    /// window, and every rule not in `rules` (e.g. deleted). Throttle slots
    /// with suppressed events stay until the group fires again, so the count
    /// is reported.
    pub fn prune(&mut self, now: Timestamp, rules: &[&Rule]) {
        self.rules.retain(|reference, state| {
            let Some(rule) = rules.iter().find(|r| &r.reference == reference) else {
                return false;
            };
            match &rule.throttle {
                Some(t) => state.throttle.retain(|_, slot| {
                    slot.suppressed > 0 || now < slot.fired_at + span(t.once_within)
                }),
                None => state.throttle.clear(),
            }
            match &rule.threshold {
                Some(t) => {
                    let start = now - span(t.within);
                    state.threshold.retain(|_, window| {
                        window.retain(|&at| at > start);
                        !window.is_empty()
                    });
                }
                None => state.threshold.clear(),
            }
            !(state.throttle.is_empty() && state.threshold.is_empty())
        });
    }
}

/// Removes the entry whose time (per `at`) is oldest.
fn evict_oldest<V>(map: &mut BTreeMap<String, V>, at: impl Fn(&V) -> Option<Timestamp>) {
    if let Some(key) = map
        .iter()
        .min_by_key(|(_, v)| at(v))
        .map(|(k, _)| k.clone())
    {
        map.remove(&key);
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use serde_json::json;

    use super::*;

    fn rule(drover: &str) -> Rule {
        let text = format!(
            "name: r\npack: p\ntrigger: {{type: t.x}}\naction: {{ref: p.a}}\ndrover:\n{drover}"
        );
        Rule::parse(Path::new("r.yaml"), &text).unwrap()
    }

    fn at(secs: i64) -> Timestamp {
        Timestamp::from_second(1_800_000_000 + secs).unwrap()
    }

    #[test]
    fn throttle_once_per_window_per_group() {
        let r = rule("  throttle: {once_within: 1h, group_by: [trigger.node]}");
        let mut s = StormState::new();
        let a = json!({"node": "a"});
        let b = json!({"node": "b"});
        assert_eq!(s.admit(&r, &a, at(0)), Gate::Fire { suppressed: 0 });
        assert_eq!(s.admit(&r, &b, at(10)), Gate::Fire { suppressed: 0 });
        assert_eq!(
            s.admit(&r, &a, at(60)),
            Gate::Throttled {
                group: r#"["a"]"#.into(),
                until: at(3600),
                suppressed: 1
            }
        );
        assert!(matches!(
            s.admit(&r, &a, at(3599)),
            Gate::Throttled { suppressed: 2, .. }
        ));
        // The window is counted from the firing, not from the last event.
        assert_eq!(s.admit(&r, &a, at(3600)), Gate::Fire { suppressed: 2 });
        assert!(matches!(s.admit(&r, &a, at(3601)), Gate::Throttled { .. }));
        // A clock that steps back keeps suppressing.
        assert!(matches!(s.admit(&r, &b, at(5)), Gate::Throttled { .. }));
    }

    #[test]
    fn threshold_counts_in_a_sliding_window() {
        let r = rule("  threshold: {count: 3, within: 10m, group_by: [trigger.node]}");
        let mut s = StormState::new();
        let a = json!({"node": "a"});
        let wait = |seen| Gate::Waiting {
            group: r#"["a"]"#.into(),
            seen,
            needed: 3,
        };
        assert_eq!(s.admit(&r, &a, at(0)), wait(1));
        assert_eq!(s.admit(&r, &a, at(300)), wait(2));
        // The first event left the window (600 s later): still two.
        assert_eq!(s.admit(&r, &a, at(600)), wait(2));
        assert_eq!(s.admit(&r, &a, at(601)), Gate::Fire { suppressed: 0 });
        // It starts over.
        assert_eq!(s.admit(&r, &a, at(602)), wait(1));
        // Other groups count apart.
        assert!(matches!(
            s.admit(&r, &json!({"node": "b"}), at(603)),
            Gate::Waiting { seen: 1, .. }
        ));
    }

    #[test]
    fn threshold_then_throttle() {
        let r = rule("  threshold: {count: 2, within: 10m}\n  throttle: {once_within: 1h}");
        let mut s = StormState::new();
        let e = json!({"node": "a"});
        assert!(matches!(s.admit(&r, &e, at(0)), Gate::Waiting { .. }));
        assert_eq!(s.admit(&r, &e, at(1)), Gate::Fire { suppressed: 0 });
        assert!(matches!(s.admit(&r, &e, at(2)), Gate::Waiting { .. }));
        assert!(matches!(
            s.admit(&r, &e, at(3)),
            Gate::Throttled { suppressed: 1, .. }
        ));
    }

    #[test]
    fn state_round_trips_and_prunes() {
        let r = rule("  throttle: {once_within: 1h, group_by: [trigger.node, trigger.rack]}");
        let mut s = StormState::new();
        s.admit(&r, &json!({"node": "a"}), at(0));
        let text = serde_json::to_string(&s).unwrap();
        assert!(text.contains(r#"[\"a\",null]"#), "{text}");
        let mut back: StormState = serde_json::from_str(&text).unwrap();
        assert_eq!(back, s);
        back.prune(at(10), &[&r]);
        assert_eq!(back, s);
        back.prune(at(3600), &[&r]);
        assert!(back.is_empty());
        s.prune(at(10), &[]);
        assert!(s.is_empty());
    }

    #[test]
    fn no_storm_control_keeps_no_state() {
        let r = Rule::parse(
            Path::new("r.yaml"),
            "name: r\ntrigger: {type: t}\naction: {ref: p.a}",
        )
        .unwrap();
        let mut s = StormState::new();
        assert_eq!(s.admit(&r, &json!({}), at(0)), Gate::Fire { suppressed: 0 });
        assert!(s.is_empty());
    }
}
