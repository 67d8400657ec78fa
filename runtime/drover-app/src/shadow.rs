//! Side-by-side shadow reports: while a candidate (a shadowed new version
//! of a trusted pack) waits, the pipeline runs every trigger through its
//! rules too, as dry runs of that version, beside the live version's real
//! ones (see `drover_engine`'s rules stage). A report pairs, per trigger,
//! what the live version did with what the candidate planned, and puts the
//! triggers on which they would act differently first.
//!
//! "Acting differently", per rule: one side started an execution and the
//! other did not (or was held back differently: failed, throttled), the
//! action or its rendered parameters differ, or the runs' effects differ.
//! Effects are the host calls that change the world (node changes and
//! health reports, commands, HTTP, kv), compared as sets of (capability,
//! target, whether the grants allow it): a call the candidate would make
//! without a grant is a difference, while the fleet's gates (brake,
//! budgets), which answer each request at its own moment, are not.

use std::collections::{BTreeMap, BTreeSet};

use drover_core::{Enforcement, ExecutionId};
use drover_store::{Store, StoreError};
use serde::Serialize;
use serde_json::Value;

use crate::catalog::Installed;
use crate::trace::{EffectTrace, audited_effects, gate_of, node_of};

/// At most this many enforcements are read for one report.
const SCAN: u32 = 5_000;
/// At most this many triggers are compared in one report.
pub const MAX_TRIGGERS: usize = 500;

/// Capabilities whose calls change the world; reads (probes, node facts,
/// secrets, logs) may differ in number between a live run and a dry one
/// without the runs acting differently.
const ACTING: &[&str] = &[
    "nodes.reboot",
    "nodes.drain",
    "nodes.set-state",
    "nodes.health",
    "command",
    "http",
    "kv",
];

#[derive(Debug, thiserror::Error)]
pub enum ShadowError {
    #[error("no pack {0:?} is installed (see `drover pack list`)")]
    NotInstalled(String),
    #[error(
        "no candidate of {pack} waits in shadow mode (the live version is {live}); install a new version of the pack: it arrives shadowed and its rules run beside the live ones"
    )]
    NoCandidate { pack: String, live: String },
    #[error(
        "{pack}@{version} is not a candidate: {why} (installed: {installed}; see `drover pack list`)"
    )]
    NotACandidate {
        pack: String,
        version: String,
        why: String,
        installed: String,
    },
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// What a candidate would have done, beside what the live version did.
#[derive(Clone, Debug, Serialize)]
pub struct ShadowReport {
    pub pack: String,
    pub live_version: String,
    pub candidate_version: String,
    /// The report covers triggers from this time on (or the candidate's
    /// first one, if later).
    pub since_ms: i64,
    /// Triggers compared.
    pub triggers: usize,
    /// Of those, on which the candidate would act differently.
    pub differing: usize,
    /// Of those, whose runs have not all ended yet (not compared).
    pub running: usize,
    /// Calls that change the world, by capability: live, candidate.
    pub effects: BTreeMap<String, EffectCount>,
    /// More triggers matched than were compared.
    pub truncated: bool,
    /// What to keep in mind reading it.
    pub notes: Vec<String>,
    /// Per trigger: those that differ first, then newest first.
    pub items: Vec<Comparison>,
}

/// Calls of one capability on each side.
#[derive(Clone, Debug, Default, Serialize)]
pub struct EffectCount {
    pub live: usize,
    pub candidate: usize,
}

/// One trigger, both sides.
#[derive(Clone, Debug, Serialize)]
pub struct Comparison {
    pub trigger_id: String,
    pub trigger_type: Option<String>,
    pub received_at_ms: Option<i64>,
    /// The payload's `node`, when it has one.
    pub node: Option<String>,
    pub differs: bool,
    /// A run on either side has not ended: compared when it has.
    pub running: bool,
    /// How they differ, in words, one line each.
    pub differences: Vec<String>,
    pub live: Vec<Outcome>,
    pub candidate: Vec<Outcome>,
}

/// What one rule did with the trigger, on one side.
#[derive(Clone, Debug, Serialize)]
pub struct Outcome {
    pub rule: String,
    /// `scheduled`, `failed` or `suppressed`.
    pub verdict: String,
    pub reason: Option<String>,
    pub execution_id: Option<ExecutionId>,
    pub action: Option<String>,
    /// The execution's status, `requested`/`running`, or `None` when it
    /// is gone (collected by retention).
    pub status: Option<String>,
    pub dry_run: bool,
    pub parameters: Option<Value>,
    /// Its calls that change the world (with its workflow's children).
    pub effects: Vec<Effect>,
    pub truncated: bool,
}

/// One call that changes the world.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub struct Effect {
    pub capability: String,
    pub target: String,
    /// The grants allow it (the fleet may still have held it).
    pub granted: bool,
    /// `allowed` or `denied`.
    pub decision: String,
    pub gate: Option<String>,
    pub task: Option<String>,
}

/// The candidate a report is about: `version`, or without one the pack's
/// waiting candidate; with the live version.
fn resolve(
    installed: &Installed,
    pack: &str,
    version: Option<&str>,
) -> Result<(String, String), ShadowError> {
    let live = installed
        .get(pack, None)
        .ok_or_else(|| ShadowError::NotInstalled(pack.to_owned()))?;
    let live_version = live.record.version.clone();
    let Some(version) = version else {
        return match installed.candidate(pack) {
            Some(c) => Ok((live_version, c.record.version.clone())),
            None => Err(ShadowError::NoCandidate {
                pack: pack.to_owned(),
                live: live_version,
            }),
        };
    };
    let not = |why: &str| ShadowError::NotACandidate {
        pack: pack.to_owned(),
        version: version.to_owned(),
        why: why.to_owned(),
        installed: installed
            .all()
            .iter()
            .filter(|v| v.record.name == pack)
            .map(|v| v.record.version.clone())
            .collect::<Vec<_>>()
            .join(", "),
    };
    match installed.get(pack, Some(version)) {
        None => Err(not("that version is not installed")),
        Some(v) if v.record.live => Err(not("it is the live version")),
        Some(v) if !v.record.shadow => Err(not(
            "it is trusted (not in shadow mode); a trusted version that is not live is not run beside the live one",
        )),
        Some(_) if live.record.shadow => Err(not(
            "the live version is itself in shadow mode, so its own rules run dry",
        )),
        Some(_) => Ok((live_version, version.to_owned())),
    }
}

/// The side-by-side report of `pack`'s candidate (`version`, or the one
/// waiting) since `since_ms`.
pub fn report(
    store: &Store,
    installed: &Installed,
    pack: &str,
    version: Option<&str>,
    since_ms: i64,
) -> Result<ShadowReport, ShadowError> {
    let (live_version, candidate_version) = resolve(installed, pack, version)?;
    let enforcements = store.shadow_enforcements(pack, &candidate_version, since_ms, SCAN)?;
    let mut truncated = enforcements.len() as u32 >= SCAN;
    // By trigger, newest first (the enforcements come newest first).
    let mut order: Vec<String> = Vec::new();
    let mut by_trigger: BTreeMap<String, Vec<Enforcement>> = BTreeMap::new();
    for e in enforcements {
        let list = by_trigger
            .entry(e.trigger_instance_id.clone())
            .or_insert_with(|| {
                order.push(e.trigger_instance_id.clone());
                Vec::new()
            });
        list.push(e);
    }
    if order.len() > MAX_TRIGGERS {
        order.truncate(MAX_TRIGGERS);
        truncated = true;
    }
    let mut effects: BTreeMap<String, EffectCount> = BTreeMap::new();
    let mut items = Vec::with_capacity(order.len());
    for trigger_id in order {
        let mut list = by_trigger.remove(&trigger_id).unwrap_or_default();
        list.reverse();
        let (candidate, live): (Vec<_>, Vec<_>) =
            list.into_iter().partition(|e| e.candidate.is_some());
        let live = outcomes(store, live)?;
        let candidate = outcomes(store, candidate)?;
        for (side, count) in [(&live, 0), (&candidate, 1)] {
            for effect in side.iter().flat_map(|o| &o.effects) {
                let entry = effects.entry(effect.capability.clone()).or_default();
                *(if count == 0 {
                    &mut entry.live
                } else {
                    &mut entry.candidate
                }) += 1;
            }
        }
        let running = live.iter().chain(&candidate).any(|o| {
            matches!(
                o.status.as_deref(),
                Some("requested" | "running" | "waiting" | "pending" | "paused")
            )
        });
        let differences = if running {
            Vec::new()
        } else {
            compare(&live, &candidate)
        };
        let trigger = store.get_trigger(&trigger_id)?;
        items.push(Comparison {
            node: trigger.as_ref().and_then(|t| node_of(&t.payload)),
            trigger_type: trigger.as_ref().map(|t| t.trigger_type.clone()),
            received_at_ms: trigger.map(|t| t.received_at_ms),
            trigger_id,
            differs: !differences.is_empty(),
            running,
            differences,
            live,
            candidate,
        });
    }
    // Stable: newest first within each group.
    items.sort_by_key(|c| !c.differs);
    let mut notes = vec![format!(
        "Effects are compared as calls that change the world ({}), with whether the grants \
         allow them; the fleet's brake and budgets answer each request at its own moment and \
         are not compared.",
        ACTING.join(", ")
    )];
    if items
        .iter()
        .flat_map(|c| &c.candidate)
        .flat_map(|o| &o.effects)
        .any(|e| e.capability == "command")
    {
        notes.push(
            "A dry run does not run commands on real nodes: the candidate's steps after a \
             command saw exit code 0 and no output (a simulated node answers as it would)."
                .to_owned(),
        );
    }
    Ok(ShadowReport {
        pack: pack.to_owned(),
        live_version,
        candidate_version,
        since_ms,
        triggers: items.len(),
        differing: items.iter().filter(|c| c.differs).count(),
        running: items.iter().filter(|c| c.running).count(),
        effects,
        truncated,
        notes,
        items,
    })
}

/// Each enforcement with its execution and that run's world-changing calls.
fn outcomes(store: &Store, list: Vec<Enforcement>) -> Result<Vec<Outcome>, StoreError> {
    list.into_iter()
        .map(|e| {
            let mut out = Outcome {
                rule: e.rule_ref,
                verdict: e.state.as_str().to_owned(),
                reason: e.reason,
                execution_id: e.execution_id,
                action: None,
                status: None,
                dry_run: false,
                parameters: None,
                effects: Vec::new(),
                truncated: false,
            };
            let Some(id) = e.execution_id else {
                return Ok(out);
            };
            if let Some(exec) = store.get_execution(id)? {
                let children: Vec<_> = store
                    .execution_children(id)?
                    .into_iter()
                    .map(|c| (c.summary.id, c.task))
                    .collect();
                let (effects, truncated) = audited_effects(store, id, &children)?;
                out.effects = acting(effects);
                out.truncated = truncated;
                out.action = Some(exec.action);
                out.status = Some(exec.status.as_str().to_owned());
                out.dry_run = exec.dry_run;
                out.parameters = Some(exec.parameters);
            } else if let Some((req, state)) = store.open_request(id)? {
                out.action = Some(req.action);
                out.status = Some(state);
                out.dry_run = req.dry_run;
                out.parameters = Some(req.parameters);
            }
            Ok(out)
        })
        .collect()
}

/// The calls of `effects` that change the world, once each, in order.
fn acting(effects: Vec<EffectTrace>) -> Vec<Effect> {
    let mut seen = BTreeSet::new();
    effects
        .into_iter()
        .filter(|e| ACTING.contains(&e.capability.as_str()))
        .map(|e| {
            // Denied by a fleet gate (not `grant`): the grant allowed it.
            let granted = e.decision == "allowed"
                || gate_of(&e.reason).is_some_and(|g| g != "grant")
                || e.gate.as_deref().is_some_and(|g| g != "grant");
            Effect {
                capability: e.capability,
                target: e.target,
                granted,
                decision: e.decision,
                gate: e.gate,
                task: e.task,
            }
        })
        .filter(|e| seen.insert((e.capability.clone(), e.target.clone(), e.granted)))
        .collect()
}

/// How the candidate's outcome differs from the live one's, per rule (by
/// reference: a rule keeps its name across versions).
pub fn compare(live: &[Outcome], candidate: &[Outcome]) -> Vec<String> {
    let mut rules: Vec<&str> = live
        .iter()
        .chain(candidate)
        .map(|o| o.rule.as_str())
        .collect();
    rules.sort_unstable();
    rules.dedup();
    let mut out = Vec::new();
    for rule in rules {
        let l = live.iter().find(|o| o.rule == rule);
        let c = candidate.iter().find(|o| o.rule == rule);
        match (l, c) {
            (Some(l), None) => out.push(format!(
                "{rule}: live {}; the candidate's rules did not match",
                what(l)
            )),
            (None, Some(c)) => out.push(format!(
                "{rule}: the candidate {}; the live rules did not match",
                what(c)
            )),
            (Some(l), Some(c)) => differ(rule, l, c, &mut out),
            (None, None) => {}
        }
    }
    out
}

fn what(o: &Outcome) -> String {
    match (o.verdict.as_str(), &o.action) {
        ("scheduled", Some(action)) => format!("started {action}"),
        ("scheduled", None) => "started a run".to_owned(),
        (verdict, _) => match &o.reason {
            Some(r) => format!("{verdict} ({r})"),
            None => verdict.to_owned(),
        },
    }
}

fn differ(rule: &str, l: &Outcome, c: &Outcome, out: &mut Vec<String>) {
    if l.verdict != c.verdict {
        out.push(format!(
            "{rule}: live {}; the candidate {}",
            what(l),
            what(c)
        ));
        return;
    }
    if l.action != c.action {
        out.push(format!(
            "{rule}: live started {}; the candidate {}",
            l.action.as_deref().unwrap_or("?"),
            c.action.as_deref().unwrap_or("?")
        ));
        return;
    }
    if let (Some(Value::Object(lp)), Some(Value::Object(cp))) = (&l.parameters, &c.parameters) {
        let keys: BTreeSet<&String> = lp.keys().chain(cp.keys()).collect();
        for key in keys {
            let (a, b) = (lp.get(key), cp.get(key));
            if a != b {
                let shown = |v: Option<&Value>| v.map_or("(absent)".to_owned(), Value::to_string);
                out.push(format!(
                    "{rule}: parameter {key}: live {}, the candidate {}",
                    shown(a),
                    shown(b)
                ));
            }
        }
    }
    let key = |e: &Effect| (e.capability.clone(), e.target.clone());
    for e in &l.effects {
        match c.effects.iter().find(|x| key(x) == key(e)) {
            None => out.push(format!("{rule}: only live: {} {}", e.capability, e.target)),
            Some(x) if x.granted != e.granted => out.push(format!(
                "{rule}: {} {}: live {}, the candidate {}",
                e.capability,
                e.target,
                granted_word(e.granted),
                granted_word(x.granted)
            )),
            Some(_) => {}
        }
    }
    for x in &c.effects {
        if !l.effects.iter().any(|e| key(e) == key(x)) {
            out.push(format!(
                "{rule}: only the candidate: {} {}{}",
                x.capability,
                x.target,
                if x.granted { "" } else { " (not granted)" }
            ));
        }
    }
}

fn granted_word(granted: bool) -> &'static str {
    if granted { "granted" } else { "not granted" }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn outcome(rule: &str, action: &str, node: &str, effects: &[(&str, &str, bool)]) -> Outcome {
        Outcome {
            rule: rule.into(),
            verdict: "scheduled".into(),
            reason: None,
            execution_id: None,
            action: Some(action.into()),
            status: Some("succeeded".into()),
            dry_run: false,
            parameters: Some(serde_json::json!({ "node": node })),
            effects: effects
                .iter()
                .map(|(capability, target, granted)| Effect {
                    capability: (*capability).into(),
                    target: (*target).into(),
                    granted: *granted,
                    decision: if *granted { "allowed" } else { "denied" }.into(),
                    gate: None,
                    task: None,
                })
                .collect(),
            truncated: false,
        }
    }

    #[test]
    fn the_same_calls_on_both_sides_are_no_difference() {
        let l = outcome("p.r", "p.fix", "b1", &[("nodes.reboot", "b1", true)]);
        let same = std::slice::from_ref(&l);
        assert!(compare(same, same).is_empty());
    }

    #[test]
    fn a_rule_firing_on_one_side_only_is_a_difference() {
        let l = outcome("p.r", "p.fix", "b1", &[]);
        let said = compare(std::slice::from_ref(&l), &[]);
        assert_eq!(
            said,
            ["p.r: live started p.fix; the candidate's rules did not match"]
        );
        let said = compare(&[], &[l]);
        assert_eq!(
            said,
            ["p.r: the candidate started p.fix; the live rules did not match"]
        );
    }

    #[test]
    fn different_calls_parameters_and_grants_are_named() {
        let l = outcome("p.r", "p.fix", "b1", &[("nodes.reboot", "b1", true)]);
        let c = outcome(
            "p.r",
            "p.fix",
            "b2",
            &[
                ("http", "http://t/ticket", true),
                ("nodes.drain", "b1", false),
            ],
        );
        let said = compare(std::slice::from_ref(&l), &[c]);
        assert_eq!(
            said,
            [
                "p.r: parameter node: live \"b1\", the candidate \"b2\"",
                "p.r: only live: nodes.reboot b1",
                "p.r: only the candidate: http http://t/ticket",
                "p.r: only the candidate: nodes.drain b1 (not granted)",
            ]
        );
        let mut denied = l.clone();
        denied.effects[0].granted = false;
        assert_eq!(
            compare(&[l], &[denied]),
            ["p.r: nodes.reboot b1: live granted, the candidate not granted"]
        );
    }

    #[test]
    fn a_fleet_refusal_still_counts_as_granted_and_reads_are_left_out() {
        let trace = |capability: &str, decision: &str, reason: &str| EffectTrace {
            execution_id: None,
            task: None,
            capability: capability.into(),
            target: "b1".into(),
            decision: decision.into(),
            gate: None,
            reason: reason.into(),
            planned: false,
        };
        let acted = acting(vec![
            trace("probe", "allowed", "grant 1"),
            trace("nodes.reboot", "denied", "brake: storm brake engaged"),
            trace("nodes.reboot", "denied", "brake: storm brake engaged"),
            trace("nodes.drain", "denied", "no grant covers nodes.drain on b1"),
        ]);
        let got: Vec<_> = acted
            .iter()
            .map(|e| (e.capability.as_str(), e.granted))
            .collect();
        assert_eq!(got, [("nodes.reboot", true), ("nodes.drain", false)]);
    }
}
