//! What one trigger instance made a pack's live version do, next to what a
//! candidate version would do with it, and the differences between the two.
//!
//! Each side is a list of [`RuleOutcome`]s: one per rule of the pack that
//! matched the trigger (fired, suppressed by its throttle or threshold, or
//! failed to render), with the action it started, its parameters and its
//! effects. The live side comes from what the pipeline recorded (see
//! [`RuleOutcome::live`], over [`crate::trace`]); the candidate side from a
//! replay's fresh dry runs or a shadow's stored ones. [`compare`] pairs the
//! two sides by rule reference and says how they differ. It reads nothing
//! and writes nothing.
//!
//! A trigger **acts differently** under the candidate when any of these
//! holds (the definition `drover replay --help` and docs/operations.md
//! state):
//!
//! - a different set of rules fired (a rule fired on one side only);
//! - a rule that fired on both sides started a different action, or the
//!   same action with different parameters (as validated, defaults
//!   included);
//! - its effects differ: the multiset of (capability, target, granted) of
//!   the effects on nodes ([`COMPARED`]: reboot, drain, set-state and
//!   commands) differs, where *granted* is whether the grants allow the
//!   call. The fleet's gates (brake, budgets, windows) answer each request
//!   at its own moment, so a reboot the brake held on one side and let
//!   through on the other is the same effect; a reboot the candidate's
//!   grants would not allow is not. Other effects (http calls, health
//!   reports, kv writes) are listed but not compared: the live audit log
//!   does not record an http call's method, so a live GET and a planned
//!   POST cannot be told apart.
//!
//! A suppressed or failed match fires nothing: a rule suppressed live and
//! failed in the candidate does not act differently.

use std::collections::{BTreeMap, BTreeSet};

use drover_core::{Enforcement, EnforcementState, ExecutionId, PlannedEffect};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::trace::ExecutionTrace;

/// The capabilities whose effects are compared (see the module doc).
pub const COMPARED: &[&str] = &["nodes.reboot", "nodes.drain", "nodes.set-state", "command"];

/// One effect of a run: a host call's check (live) or a planned effect.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq, PartialOrd, Ord)]
pub struct Effect {
    pub capability: String,
    pub target: String,
    /// `allowed` or `denied`.
    pub decision: String,
    /// The gate that refused or delayed it (`grant`, `brake`, `budget`…).
    pub gate: Option<String>,
    /// The check's or the fleet's reason.
    pub reason: String,
}

impl Effect {
    /// Compared between the sides (see [`COMPARED`]).
    pub fn compared(&self) -> bool {
        COMPARED.contains(&self.capability.as_str())
    }

    /// Whether the grants allow it: allowed, or refused by a fleet gate
    /// (not by `grant`).
    pub fn granted(&self) -> bool {
        self.decision == "allowed" || self.gate.as_deref().is_some_and(|g| g != "grant")
    }

    fn key(&self) -> (&str, &str, bool) {
        (&self.capability, &self.target, self.granted())
    }
}

impl From<&PlannedEffect> for Effect {
    fn from(p: &PlannedEffect) -> Effect {
        Effect {
            capability: p.capability.clone(),
            target: p.target.clone(),
            decision: p.decision.as_str().to_owned(),
            gate: p.gate.clone(),
            reason: p.reason.clone(),
        }
    }
}

/// What one rule made of a trigger, on one side.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct RuleOutcome {
    /// The rule's reference (`pack.name`): a candidate's rule pairs with
    /// the live rule of the same reference.
    pub rule: String,
    /// `fired` (an execution was requested), `suppressed` (throttle or
    /// threshold) or `failed` (its parameters did not render or validate).
    pub verdict: String,
    /// Why it was suppressed or failed.
    pub why: Option<String>,
    /// The stored run (none for a replay's fresh dry run).
    pub execution_id: Option<ExecutionId>,
    pub action: Option<String>,
    /// The execution's parameters, as validated.
    pub parameters: Option<Value>,
    /// How the run ended (`succeeded`, `failed`…; `requested`/`running`
    /// while live work goes on; `collected` when retention removed it).
    pub status: Option<String>,
    /// Whether the run was a dry run (always, on the candidate side).
    pub dry_run: bool,
    pub error: Option<String>,
    /// The run's result (a workflow's output), when known.
    pub result: Option<Value>,
    pub effects: Vec<Effect>,
    /// Effects were left out (too many).
    pub truncated: bool,
}

impl RuleOutcome {
    /// A match with nothing run yet: suppressed or failed (`why`), or
    /// fired with the run to be filled in.
    pub fn new(rule: &str, verdict: &str, why: Option<String>) -> RuleOutcome {
        RuleOutcome {
            rule: rule.to_owned(),
            verdict: verdict.to_owned(),
            why,
            execution_id: None,
            action: None,
            parameters: None,
            status: None,
            dry_run: false,
            error: None,
            result: None,
            effects: Vec::new(),
            truncated: false,
        }
    }

    /// The live side of one enforcement, from the pipeline's records: the
    /// execution it requested as [`crate::trace::execution_trace`] reads it
    /// (`None`: collected by retention, or never requested).
    pub fn live(e: &Enforcement, run: Option<&ExecutionTrace>) -> RuleOutcome {
        let verdict = match e.state {
            EnforcementState::Scheduled => "fired",
            EnforcementState::Suppressed => "suppressed",
            _ => "failed",
        };
        let mut out = RuleOutcome::new(&e.rule_ref, verdict, e.reason.clone());
        out.execution_id = e.execution_id;
        match run {
            Some(run) => {
                out.action = Some(run.action.clone());
                out.parameters = Some(run.parameters.clone());
                out.status = Some(run.status.clone());
                out.dry_run = run.dry_run;
                out.error = run.error.clone();
                out.truncated = run.truncated;
                out.effects = run
                    .effects
                    .iter()
                    .map(|x| Effect {
                        capability: x.capability.clone(),
                        target: x.target.clone(),
                        decision: x.decision.clone(),
                        gate: x.gate.clone(),
                        reason: x.reason.clone(),
                    })
                    .collect();
            }
            None if e.execution_id.is_some() => out.status = Some("collected".to_owned()),
            None => {}
        }
        out
    }

    pub fn fired(&self) -> bool {
        self.verdict == "fired"
    }
}

/// One way the candidate differs from the live version on a trigger.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Difference {
    /// The rule fired on one side only; `live`/`candidate` say what the
    /// other side made of it (`fired`, `suppressed`, `failed`, `no_match`).
    Fired {
        rule: String,
        live: String,
        candidate: String,
    },
    /// The rule started another action.
    Action {
        rule: String,
        live: String,
        candidate: String,
    },
    /// The same action with other parameters (each key that differs;
    /// `null`: absent on that side).
    Parameters {
        rule: String,
        changed: Vec<ParameterChange>,
    },
    /// Other effects on nodes (see [`COMPARED`]).
    Effects {
        rule: String,
        only_live: Vec<Effect>,
        only_candidate: Vec<Effect>,
    },
}

impl std::fmt::Display for Difference {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Difference::Fired {
                rule,
                live,
                candidate,
            } => write!(f, "{rule}: live {live}, candidate {candidate}"),
            Difference::Action {
                rule,
                live,
                candidate,
            } => write!(f, "{rule}: action {live} → {candidate}"),
            Difference::Parameters { rule, changed } => {
                let keys: Vec<String> = changed
                    .iter()
                    .map(|c| format!("{}: {} → {}", c.key, c.live, c.candidate))
                    .collect();
                write!(f, "{rule}: parameters {}", keys.join("; "))
            }
            Difference::Effects {
                rule,
                only_live,
                only_candidate,
            } => {
                let list = |v: &[Effect]| {
                    v.iter()
                        .map(|e| {
                            let refused = if e.granted() { "" } else { " (not granted)" };
                            format!("{} {}{refused}", e.capability, e.target)
                        })
                        .collect::<Vec<_>>()
                        .join(", ")
                };
                write!(
                    f,
                    "{rule}: effects only live [{}], only candidate [{}]",
                    list(only_live),
                    list(only_candidate)
                )
            }
        }
    }
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct ParameterChange {
    pub key: String,
    pub live: Value,
    pub candidate: Value,
}

/// How the two sides of one trigger differ (empty: it acts the same).
pub fn compare(live: &[RuleOutcome], candidate: &[RuleOutcome]) -> Vec<Difference> {
    let verdicts = |side: &[RuleOutcome]| -> BTreeMap<String, String> {
        let mut m = BTreeMap::new();
        for r in side {
            // Fired wins when a rule matched twice (it does not today).
            let v = m.entry(r.rule.clone()).or_insert_with(|| r.verdict.clone());
            if r.fired() {
                *v = r.verdict.clone();
            }
        }
        m
    };
    let (lv, cv) = (verdicts(live), verdicts(candidate));
    let rules: BTreeSet<&String> = lv.keys().chain(cv.keys()).collect();
    let mut out = Vec::new();
    for rule in rules {
        let l = lv.get(rule).map_or("no_match", String::as_str);
        let c = cv.get(rule).map_or("no_match", String::as_str);
        if (l == "fired") != (c == "fired") {
            out.push(Difference::Fired {
                rule: rule.clone(),
                live: l.to_owned(),
                candidate: c.to_owned(),
            });
            continue;
        }
        if l != "fired" {
            continue;
        }
        let first = |side: &'_ [RuleOutcome]| {
            side.iter()
                .find(|r| &r.rule == rule && r.fired())
                .cloned()
                .expect("a fired verdict has its outcome")
        };
        let (l, c) = (first(live), first(candidate));
        out.extend(pair(&l, &c));
    }
    out
}

/// The differences of one rule that fired on both sides.
fn pair(live: &RuleOutcome, candidate: &RuleOutcome) -> Vec<Difference> {
    let rule = live.rule.clone();
    let mut out = Vec::new();
    // A live run collected by retention left no action to compare.
    if let (Some(l), Some(c)) = (&live.action, &candidate.action)
        && l != c
    {
        out.push(Difference::Action {
            rule: rule.clone(),
            live: l.clone(),
            candidate: c.clone(),
        });
    } else if let (Some(l), Some(c)) = (&live.parameters, &candidate.parameters) {
        let changed = parameter_changes(l, c);
        if !changed.is_empty() {
            out.push(Difference::Parameters {
                rule: rule.clone(),
                changed,
            });
        }
    }
    // Without the live run (collected by retention) there is nothing to
    // compare the plan with.
    if live.status.as_deref() != Some("collected") {
        let (only_live, only_candidate) = effect_changes(&live.effects, &candidate.effects);
        if !only_live.is_empty() || !only_candidate.is_empty() {
            out.push(Difference::Effects {
                rule,
                only_live,
                only_candidate,
            });
        }
    }
    out
}

fn parameter_changes(live: &Value, candidate: &Value) -> Vec<ParameterChange> {
    let (Value::Object(l), Value::Object(c)) = (live, candidate) else {
        return if live == candidate {
            Vec::new()
        } else {
            vec![ParameterChange {
                key: String::new(),
                live: live.clone(),
                candidate: candidate.clone(),
            }]
        };
    };
    let keys: BTreeSet<&String> = l.keys().chain(c.keys()).collect();
    keys.into_iter()
        .filter(|k| l.get(*k) != c.get(*k))
        .map(|k| ParameterChange {
            key: k.clone(),
            live: l.get(k).cloned().unwrap_or(Value::Null),
            candidate: c.get(k).cloned().unwrap_or(Value::Null),
        })
        .collect()
}

/// The compared effects each side has that the other lacks (as multisets:
/// two reboots against one leaves one).
fn effect_changes(live: &[Effect], candidate: &[Effect]) -> (Vec<Effect>, Vec<Effect>) {
    let mut left: Vec<&Effect> = candidate.iter().filter(|e| e.compared()).collect();
    let mut only_live = Vec::new();
    for e in live.iter().filter(|e| e.compared()) {
        match left.iter().position(|c| c.key() == e.key()) {
            Some(i) => {
                left.remove(i);
            }
            None => only_live.push(e.clone()),
        }
    }
    (only_live, left.into_iter().cloned().collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn effect(cap: &str, target: &str, decision: &str) -> Effect {
        Effect {
            capability: cap.into(),
            target: target.into(),
            decision: decision.into(),
            gate: None,
            reason: String::new(),
        }
    }

    fn fired(rule: &str, params: Value, effects: Vec<Effect>) -> RuleOutcome {
        let mut r = RuleOutcome::new(rule, "fired", None);
        r.action = Some("p.act".into());
        r.parameters = Some(params);
        r.status = Some("succeeded".into());
        r.effects = effects;
        r
    }

    #[test]
    fn the_same_run_acts_the_same() {
        let run = fired(
            "p.r",
            json!({"node": "n1"}),
            vec![effect("nodes.reboot", "n1", "allowed")],
        );
        let one = std::slice::from_ref(&run);
        assert!(compare(one, one).is_empty());
    }

    #[test]
    fn a_rule_firing_on_one_side_only_differs() {
        let run = fired("p.r", json!({}), vec![]);
        let d = compare(&[run], &[RuleOutcome::new("p.r", "suppressed", None)]);
        assert_eq!(
            d,
            vec![Difference::Fired {
                rule: "p.r".into(),
                live: "fired".into(),
                candidate: "suppressed".into()
            }]
        );
        let d = compare(&[], &[fired("p.new", json!({}), vec![])]);
        assert!(matches!(&d[0], Difference::Fired { live, .. } if live == "no_match"));
        // Nothing fired on either side: the same.
        let d = compare(
            &[RuleOutcome::new("p.r", "suppressed", None)],
            &[RuleOutcome::new("p.r", "failed", None)],
        );
        assert!(d.is_empty());
    }

    #[test]
    fn parameters_and_node_effects_are_compared_other_effects_are_not() {
        let live = fired(
            "p.r",
            json!({"node": "n1", "since": "a"}),
            vec![
                effect("nodes.reboot", "n1", "allowed"),
                effect("http", "x", "allowed"),
            ],
        );
        let candidate = fired(
            "p.r",
            json!({"node": "n1", "since": "b"}),
            vec![effect("nodes.reboot", "n1", "denied")],
        );
        let d = compare(&[live], &[candidate]);
        assert_eq!(d.len(), 2, "{d:?}");
        assert!(matches!(&d[0], Difference::Parameters { changed, .. }
            if changed.len() == 1 && changed[0].key == "since"));
        assert!(
            matches!(&d[1], Difference::Effects { only_live, only_candidate, .. }
            if only_live.len() == 1 && only_candidate[0].decision == "denied")
        );
    }

    #[test]
    fn effects_compare_as_multisets() {
        let r = |n| {
            fired(
                "p.r",
                json!({}),
                vec![effect("nodes.reboot", "n1", "allowed"); n],
            )
        };
        assert!(compare(&[r(1)], &[r(1)]).is_empty());
        let d = compare(&[r(2)], &[r(1)]);
        assert!(
            matches!(&d[0], Difference::Effects { only_live, only_candidate, .. }
            if only_live.len() == 1 && only_candidate.is_empty())
        );
    }
}
