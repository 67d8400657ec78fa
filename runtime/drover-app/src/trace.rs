//! Traces: from a trigger instance to what the rules made of it (each rule
//! of its type, matched or not and why), the enforcements, the executions
//! they requested and those executions' effects; and back, from an
//! execution to the rule and trigger instance that started it.
//!
//! Matches are what the pipeline recorded (`enforcements`). A rule that has
//! no enforcement for the instance is evaluated *now*, with the rule tester
//! against the stored payload, to say why it did not match: the rule or the
//! kv values it reads may have changed since, and the trace says so rather
//! than guess the past. Effects are the audit records of the run and of its
//! workflow's children (a live run), or its plan (a dry run).

use std::path::Path;
use std::sync::Arc;

use drover_core::{
    AuditRecord, Enforcement, EnforcementState, Execution, ExecutionId, TriggerInstance,
};
use drover_rules::{Context, KvStore, Rule, test_rule};
use drover_store::{AuditFilter, Store, StoreError};
use serde::Serialize;

/// At most this many effects are listed per execution (with the children
/// of a workflow); the trace says when there were more.
const MAX_EFFECTS: usize = 100;
/// At most this many children of a workflow are read for their effects.
const MAX_CHILDREN: usize = 50;
/// At most this many matches of one event are followed to their runs
/// (one per rule that matched: more is not a real installation's).
const MAX_FOLLOWED: usize = 50;

/// What the pipeline made of one trigger instance.
#[derive(Clone, Debug, Serialize)]
pub struct Trace {
    pub trigger: TriggerInstance,
    /// `pending` (the rules have not seen it yet) or `processed`.
    pub state: String,
    /// Each rule of the trigger's type installed now, then any rule that
    /// matched it but is no longer installed.
    pub rules: Vec<RuleTrace>,
    /// What the rules of a shadowed candidate version did with it beside
    /// them (side-by-side shadow: dry runs of that version); the
    /// enforcement names the version.
    pub candidates: Vec<RuleTrace>,
}

/// One rule's part in a trace.
#[derive(Clone, Debug, Serialize)]
pub struct RuleTrace {
    pub rule: String,
    /// `None`: the rule is no longer installed.
    pub enabled: Option<bool>,
    /// `scheduled`, `failed`, `suppressed` (what the pipeline recorded), or,
    /// with no enforcement: `no_match`, `matches_now` (it would match today:
    /// changed, enabled or installed after the event), `disabled`,
    /// `pending`, `unreadable`.
    pub verdict: String,
    /// Why, in words: the enforcement's reason, the first criteria that
    /// failed, or what could not be evaluated.
    pub why: Option<String>,
    /// The criteria that did not pass, evaluated now.
    pub misses: Vec<Miss>,
    pub enforcement: Option<Enforcement>,
    pub execution: Option<ExecutionTrace>,
}

/// A criterion that did not pass.
#[derive(Clone, Debug, Serialize)]
pub struct Miss {
    pub key: String,
    pub found: bool,
    pub value: serde_json::Value,
    pub operator: String,
    pub pattern: Option<serde_json::Value>,
    pub reason: Option<String>,
}

/// An execution an enforcement requested, with its effects.
#[derive(Clone, Debug, Serialize)]
pub struct ExecutionTrace {
    pub id: ExecutionId,
    pub action: String,
    /// The execution's status, or `requested`/`running` while it runs.
    pub status: String,
    pub dry_run: bool,
    pub error: Option<String>,
    /// Its `node` parameter, when it has one.
    pub node: Option<String>,
    /// Its parameters, as validated (with defaults).
    pub parameters: serde_json::Value,
    /// How many child executions a workflow ran.
    pub children: usize,
    pub effects: Vec<EffectTrace>,
    /// More effects than [`MAX_EFFECTS`] (or children than
    /// [`MAX_CHILDREN`]) were left out.
    pub truncated: bool,
}

/// One effect: a host call's check (live) or a planned effect (dry run).
#[derive(Clone, Debug, Serialize)]
pub struct EffectTrace {
    /// The execution that made the call (a workflow's child, or the run).
    pub execution_id: Option<ExecutionId>,
    /// The workflow task that asked, when known.
    pub task: Option<String>,
    pub capability: String,
    pub target: String,
    /// `allowed` or `denied`.
    pub decision: String,
    /// The gate that refused or delayed it (`grant`, `brake`, `budget`, …).
    pub gate: Option<String>,
    pub reason: String,
    /// Planned by a dry run, not performed.
    pub planned: bool,
}

/// Where an execution came from: its rule and trigger instance.
#[derive(Clone, Debug, Serialize)]
pub struct Origin {
    /// The top-level execution the enforcement requested (the execution
    /// itself, or the workflow it runs in).
    pub root: ExecutionId,
    pub rule: String,
    pub enforcement_id: String,
    pub trigger_id: String,
    pub trigger_type: Option<String>,
    pub received_at_ms: Option<i64>,
}

/// The rule tester's context as `drover serve` evaluates rules: `kv.*`
/// reads the system scope, never the rule's pack's own keys.
pub fn tester_context(store: &Store) -> Context {
    let store = store.clone();
    let kv: Arc<dyn KvStore> =
        Arc::new(move |_pack: &str, key: &str| store.kv_get("system", key).ok().flatten());
    Context::new(jiff::Timestamp::now()).with_kv(kv)
}

/// The trace of trigger instance `id`, or `None` when it is not stored.
pub fn trace(store: &Store, id: &str) -> Result<Option<Trace>, StoreError> {
    let Some(summary) = store.trigger_summary(id)? else {
        return Ok(None);
    };
    let trigger = summary.instance;
    let instance = drover_rules::TriggerInstance {
        trigger: trigger.trigger_type.clone(),
        payload: trigger.payload.clone(),
        id: Some(trigger.id.clone()),
        occurrence_time: None,
    };
    let cx = tester_context(store);
    let (candidate_enforcements, mut enforcements): (Vec<_>, Vec<_>) = summary
        .enforcements
        .into_iter()
        .partition(|e| e.candidate.is_some());
    let mut rules = Vec::new();
    let mut followed = 0;
    for stored in store.list_rules()? {
        let mine = take_where(&mut enforcements, |e| e.rule_ref == stored.reference);
        // What the pipeline recorded comes first; only a rule without a
        // match is read and evaluated now.
        if !mine.is_empty() {
            for e in mine {
                rules.push(enforced(store, e, Some(stored.enabled), &mut followed)?);
            }
            continue;
        }
        match Rule::parse(Path::new(&stored.reference), &stored.definition) {
            Ok(mut rule) if rule.trigger.type_ == trigger.trigger_type => {
                rule.enabled = stored.enabled;
                rules.push(evaluate(&rule, &instance, &cx, &summary.state));
            }
            Ok(_) => {}
            Err(e) if stored.definition.contains(&trigger.trigger_type) => {
                rules.push(unmatched(
                    &stored.reference,
                    stored.enabled,
                    "unreadable",
                    Some(format!("the stored rule does not parse: {e}")),
                    Vec::new(),
                ));
            }
            Err(_) => {}
        }
    }
    // Rules that matched then and are gone now.
    for e in enforcements {
        rules.push(enforced(store, e, None, &mut followed)?);
    }
    let candidates = candidate_enforcements
        .into_iter()
        .map(|e| enforced(store, e, None, &mut followed))
        .collect::<Result<_, _>>()?;
    Ok(Some(Trace {
        trigger,
        state: summary.state,
        rules,
        candidates,
    }))
}

/// Removes and returns the items of `v` that satisfy `pred`.
fn take_where<T>(v: &mut Vec<T>, pred: impl Fn(&T) -> bool) -> Vec<T> {
    let (taken, kept) = std::mem::take(v).into_iter().partition(|x| pred(x));
    *v = kept;
    taken
}

fn unmatched(
    rule: &str,
    enabled: bool,
    verdict: &str,
    why: Option<String>,
    misses: Vec<Miss>,
) -> RuleTrace {
    RuleTrace {
        rule: rule.to_owned(),
        enabled: Some(enabled),
        verdict: verdict.to_owned(),
        why,
        misses,
        enforcement: None,
        execution: None,
    }
}

/// A rule of the trigger's type with no enforcement: why not, as the rule
/// tester sees it now.
fn evaluate(
    rule: &Rule,
    instance: &drover_rules::TriggerInstance,
    cx: &Context,
    state: &str,
) -> RuleTrace {
    let report = test_rule(rule, instance, cx);
    let misses: Vec<Miss> = report
        .criteria
        .iter()
        .filter(|c| !c.passed)
        .map(|c| Miss {
            key: c.key.clone(),
            found: c.found,
            value: c.value.clone(),
            operator: c.operator.clone(),
            pattern: c.pattern.clone(),
            reason: c.reason.clone(),
        })
        .collect();
    let (verdict, why) = if state == "pending" {
        (
            "pending",
            Some("the rules have not processed this event yet".to_owned()),
        )
    } else if !rule.enabled {
        ("disabled", Some("the rule is disabled now".to_owned()))
    } else if let Some(error) = &report.error {
        ("no_match", Some(error.clone()))
    } else if report.matched {
        (
            "matches_now",
            Some(
                "it matches as the rule and kv stand now, but no enforcement was recorded: \
                 the rule was installed, enabled or changed after the event"
                    .to_owned(),
            ),
        )
    } else if let Some(m) = misses.first() {
        ("no_match", Some(describe_miss(m)))
    } else {
        ("no_match", report.notes.first().cloned())
    };
    unmatched(&rule.reference, rule.enabled, verdict, why, misses)
}

fn describe_miss(m: &Miss) -> String {
    let pattern = m
        .pattern
        .as_ref()
        .map(|p| format!(" {p}"))
        .unwrap_or_default();
    let found = if m.found {
        format!("is {}", m.value)
    } else {
        "is missing".to_owned()
    };
    let mut text = format!("{} {found}; the rule wants {}{pattern}", m.key, m.operator);
    if let Some(r) = &m.reason {
        text.push_str(&format!(" ({r})"));
    }
    text
}

fn enforced(
    store: &Store,
    e: Enforcement,
    enabled: Option<bool>,
    followed: &mut usize,
) -> Result<RuleTrace, StoreError> {
    let execution = match e.execution_id {
        Some(id) if *followed < MAX_FOLLOWED => {
            *followed += 1;
            execution_trace(store, id)?
        }
        _ => None,
    };
    let why = match (e.state, &e.reason) {
        (_, Some(r)) => Some(r.clone()),
        (EnforcementState::Suppressed, None) => {
            Some("held back by the rule's throttle or threshold".to_owned())
        }
        _ => None,
    };
    Ok(RuleTrace {
        rule: e.rule_ref.clone(),
        enabled,
        verdict: e.state.as_str().to_owned(),
        why,
        misses: Vec::new(),
        enforcement: Some(e),
        execution,
    })
}

/// An execution with its effects (`None` when it is neither stored nor
/// queued: collected by retention).
pub fn execution_trace(
    store: &Store,
    id: ExecutionId,
) -> Result<Option<ExecutionTrace>, StoreError> {
    let Some(exec) = store.get_execution(id)? else {
        return Ok(store.open_request(id)?.map(|(req, state)| ExecutionTrace {
            id,
            action: req.action,
            status: state,
            dry_run: req.dry_run,
            error: None,
            node: node_of(&req.parameters),
            parameters: req.parameters,
            children: 0,
            effects: Vec::new(),
            truncated: false,
        }));
    };
    let children = store.execution_children(id)?;
    let (effects, truncated) = if exec.dry_run {
        planned(&exec)
    } else {
        let tasks: Vec<_> = children
            .iter()
            .map(|c| (c.summary.id, c.task.clone()))
            .collect();
        audited_effects(store, id, &tasks)?
    };
    Ok(Some(ExecutionTrace {
        id,
        action: exec.action.clone(),
        status: exec.status.as_str().to_owned(),
        dry_run: exec.dry_run,
        error: exec.error.clone(),
        node: node_of(&exec.parameters),
        parameters: exec.parameters.clone(),
        children: children.len(),
        effects,
        truncated,
    }))
}

/// The audit records of run `id` and of its workflow's `children` (id,
/// task), in order: every host call's check, performed or (in a dry run)
/// planned; at most [`MAX_EFFECTS`] from [`MAX_CHILDREN`] children, and
/// whether more were left out.
fn audited_effects(
    store: &Store,
    id: ExecutionId,
    children: &[(ExecutionId, String)],
) -> Result<(Vec<EffectTrace>, bool), StoreError> {
    let mut effects = Vec::new();
    let mut truncated = children.len() > MAX_CHILDREN;
    let ids = std::iter::once((id, None)).chain(
        children
            .iter()
            .take(MAX_CHILDREN)
            .map(|(child, task)| (*child, Some(task.clone()))),
    );
    for (execution, task) in ids {
        let left = MAX_EFFECTS.saturating_sub(effects.len());
        if left == 0 {
            truncated = true;
            break;
        }
        let mut records = store.list_audit(&AuditFilter {
            execution_id: Some(execution),
            limit: left as u32 + 1,
            ..Default::default()
        })?;
        if records.len() > left {
            records.truncate(left);
            truncated = true;
        }
        // The log lists newest first; a trace reads in order.
        records.reverse();
        effects.extend(records.into_iter().map(|r| performed(r, task.clone())));
    }
    Ok((effects, truncated))
}

pub(crate) fn node_of(parameters: &serde_json::Value) -> Option<String> {
    parameters
        .get("node")
        .and_then(|n| n.as_str())
        .map(str::to_owned)
}

fn planned(exec: &Execution) -> (Vec<EffectTrace>, bool) {
    let plan = exec.plan.as_deref().unwrap_or_default();
    let effects = plan
        .iter()
        .take(MAX_EFFECTS)
        .map(|p| EffectTrace {
            execution_id: Some(exec.id),
            task: p.task.clone(),
            capability: p.capability.clone(),
            target: p.target.clone(),
            decision: p.decision.as_str().to_owned(),
            gate: p.gate.clone(),
            reason: p.reason.clone(),
            planned: true,
        })
        .collect();
    (effects, plan.len() > MAX_EFFECTS)
}

fn performed(r: AuditRecord, task: Option<String>) -> EffectTrace {
    EffectTrace {
        execution_id: r.execution_id,
        task,
        capability: r.capability,
        target: r.target,
        decision: r.decision.as_str().to_owned(),
        gate: gate_of(&r.reason),
        reason: r.reason,
        planned: r.dry_run,
    }
}

/// The fleet gate a refusal's reason names first (`brake: storm brake
/// engaged …`), as the host writes it.
fn gate_of(reason: &str) -> Option<String> {
    let (head, _) = reason.split_once(':')?;
    drover_fleet::Gate::parse(head).map(|g| g.as_str().to_owned())
}

/// Where execution `id` came from, walking up to the workflow it runs in;
/// `None` when no rule started it (an operator did, or its records were
/// collected).
pub fn origin(store: &Store, id: ExecutionId) -> Result<Option<Origin>, StoreError> {
    let mut root = id;
    // Workflows nest a few levels; the bound keeps a corrupt cycle finite.
    for _ in 0..16 {
        match store.execution_link(root)? {
            Some(link) => root = link.parent,
            None => break,
        }
    }
    let Some(e) = store.enforcement_of_execution(root)? else {
        return Ok(None);
    };
    let trigger = store.get_trigger(&e.trigger_instance_id)?;
    Ok(Some(Origin {
        root,
        rule: e.rule_ref,
        enforcement_id: e.id,
        trigger_id: e.trigger_instance_id,
        trigger_type: trigger.as_ref().map(|t| t.trigger_type.clone()),
        received_at_ms: trigger.map(|t| t.received_at_ms),
    }))
}

/// One of a rule's recent matches, for the rule's page.
#[derive(Clone, Debug, Serialize)]
pub struct RuleMatch {
    pub enforcement: Enforcement,
    /// The execution's status (or `requested`/`running`), when it has one.
    pub status: Option<String>,
    pub node: Option<String>,
    pub dry_run: bool,
}

/// Rule `reference`'s most recent matches, newest first.
pub fn rule_matches(
    store: &Store,
    reference: &str,
    limit: u32,
) -> Result<Vec<RuleMatch>, StoreError> {
    store
        .rule_enforcements(reference, None, limit)?
        .into_iter()
        .map(|enforcement| {
            let (status, node, dry_run) = match enforcement.execution_id {
                Some(id) => match store.get_execution(id)? {
                    Some(x) => (
                        Some(x.status.as_str().to_owned()),
                        node_of(&x.parameters),
                        x.dry_run,
                    ),
                    None => match store.open_request(id)? {
                        Some((req, state)) => (Some(state), node_of(&req.parameters), req.dry_run),
                        None => (None, None, false),
                    },
                },
                None => (None, None, false),
            };
            Ok(RuleMatch {
                enforcement,
                status,
                node,
                dry_run,
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::gate_of;

    #[test]
    fn a_refusal_names_its_gate_first() {
        assert_eq!(
            gate_of("brake: storm brake engaged (the grant allowed it: x)").as_deref(),
            Some("brake")
        );
        assert_eq!(gate_of("allowed by grant 3: nodes.reboot"), None);
        assert_eq!(gate_of("no colon here"), None);
    }
}
