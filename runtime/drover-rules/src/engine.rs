//! Matching trigger instances against rules, and rendering what fires.
//!
//! Owns [`RuleSet`] (rules indexed by trigger, so the cost of an event does
//! not grow with rules on other triggers), the evaluation of criteria (all
//! ANDed, in order, stopping at the first that fails, as st2 does),
//! backstop rules, storm control, and parameter rendering. It is pure: the
//! clock, the key-value store and pack configurations come in through
//! [`Context`], throttle/threshold memory through [`StormState`], and the
//! result is data ([`Match`]) for the runtime to record as rule
//! enforcements and to turn into executions.
//!
//! Per event and rule: criteria → (threshold → throttle) → parameters. A
//! rule with criteria does not match an empty payload (st2). Backstop rules
//! are evaluated only when no standard rule's criteria passed.

use std::borrow::Cow;
use std::cell::{OnceCell, RefCell};
use std::collections::HashMap;
use std::sync::Arc;

use jiff::Timestamp;
use serde::Serialize;
use serde_json::{Map, Value};

use crate::index::Index;
use crate::operators::{self, CheckError};
use crate::path::{KeyPath, Resolved, Root};
use crate::rule::{Condition, Criterion, NO_SLOT, Pattern, Rule, RuleKind, Tmpl};
use crate::storm::{Gate, StormState};
use crate::template::{KvStore, PackConfigs, Vars};

/// What evaluation may consult besides the event: the time, the key-value
/// store and pack configurations.
#[derive(Clone)]
pub struct Context {
    /// "Now", for `timediff_*` and storm control.
    pub now: Timestamp,
    /// `kv.*` / `st2kv.system.*` in templates (none: every key is missing).
    pub kv: Option<Arc<dyn KvStore>>,
    /// `config.*` in templates (none: every pack's config is `{}`).
    pub configs: Option<Arc<dyn PackConfigs>>,
}

impl Context {
    /// A context at `now` with no key-value store and no pack configs.
    pub fn new(now: Timestamp) -> Context {
        Context {
            now,
            kv: None,
            configs: None,
        }
    }

    /// With a key-value store.
    pub fn with_kv(mut self, kv: Arc<dyn KvStore>) -> Context {
        self.kv = Some(kv);
        self
    }

    /// With pack configurations.
    pub fn with_configs(mut self, configs: Arc<dyn PackConfigs>) -> Context {
        self.configs = Some(configs);
        self
    }
}

/// One rule's verdict on an event, for the runtime to record (st2's rule
/// enforcement) and, when it fired, to run.
#[derive(Clone, Debug)]
pub struct Match {
    /// The rule.
    pub rule: Arc<Rule>,
    /// What happened.
    pub outcome: Outcome,
}

/// What a matching rule did with an event.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum Outcome {
    /// Criteria passed, storm control let it through, parameters rendered:
    /// run the action with these.
    Fired {
        /// The rendered parameters.
        parameters: Map<String, Value>,
        /// Events of this group the throttle held back since the previous
        /// firing.
        suppressed: u64,
    },
    /// It should fire, but a parameter did not render (e.g. a key missing
    /// from the payload): a failed enforcement.
    RenderFailed {
        /// Which parameter and why.
        error: String,
    },
    /// A criterion could not be evaluated (its template failed, or rendered
    /// an invalid regex): a failed enforcement, as in st2.
    CriteriaFailed {
        /// The criterion's key.
        criterion: String,
        /// Why.
        error: String,
    },
    /// Criteria passed; the throttle held it back.
    Throttled {
        /// The group.
        group: String,
        /// When the group may fire again.
        until: Timestamp,
        /// Events suppressed in this window so far.
        suppressed: u64,
    },
    /// Criteria passed; counted toward a threshold not reached yet.
    Waiting {
        /// The group.
        group: String,
        /// Events in the window.
        seen: u32,
        /// Events needed.
        needed: u32,
    },
}

/// Why a rule set could not be built.
#[derive(Debug, thiserror::Error)]
pub enum RuleSetError {
    /// Two rules share a reference.
    #[error("rule {0:?} is defined twice; rule references (pack.name) must be unique")]
    Duplicate(String),
}

/// Rules indexed by the trigger they listen to.
#[derive(Clone, Debug, Default)]
pub struct RuleSet {
    rules: Vec<Arc<Rule>>,
    by_trigger: HashMap<TriggerKey, Group>,
    /// The distinct `trigger` key paths the rules read (criteria keys,
    /// `{{ trigger.x }}` parameters): an evaluation resolves each once,
    /// however many rules read it.
    slots: HashMap<KeyPath, u32>,
}

/// A trigger type and its parameters (canonical JSON; `{}` for none).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
struct TriggerKey {
    type_: String,
    parameters: String,
}

impl TriggerKey {
    fn new(type_: &str, parameters: &Map<String, Value>) -> TriggerKey {
        TriggerKey {
            type_: type_.to_owned(),
            parameters: serde_json::to_string(parameters).unwrap_or_default(),
        }
    }
}

/// The rules of one trigger, standard and backstop, as positions in
/// `RuleSet::rules` (in load order), each with its index.
#[derive(Clone, Debug, Default)]
struct Group {
    standard: Vec<usize>,
    backstop: Vec<usize>,
    index: [Index; 2],
}

impl RuleSet {
    /// Indexes `rules`; refuses two with the same reference.
    pub fn new(rules: impl IntoIterator<Item = Rule>) -> Result<RuleSet, RuleSetError> {
        let mut set = RuleSet::default();
        for mut rule in rules {
            set.assign_slots(&mut rule);
            if set.get(&rule.reference).is_some() {
                return Err(RuleSetError::Duplicate(rule.reference));
            }
            let key = TriggerKey::new(&rule.trigger.type_, &rule.trigger.parameters);
            let group = set.by_trigger.entry(key).or_default();
            let index = set.rules.len();
            match rule.kind {
                RuleKind::Standard => group.standard.push(index),
                RuleKind::Backstop => group.backstop.push(index),
            }
            set.rules.push(Arc::new(rule));
        }
        for group in set.by_trigger.values_mut() {
            group.index = [
                Index::build(&set.rules, &group.standard),
                Index::build(&set.rules, &group.backstop),
            ];
        }
        Ok(set)
    }

    /// Gives each `trigger` path of `rule`'s criteria and parameters its
    /// memo slot (the same path in any rule: the same slot).
    fn assign_slots(&mut self, rule: &mut Rule) {
        let mut slot = |path: &KeyPath| -> u32 {
            if path.root() != Root::Trigger {
                return NO_SLOT;
            }
            let next = self.slots.len() as u32;
            *self.slots.entry(path.clone()).or_insert(next)
        };
        for c in &mut rule.criteria {
            c.slot = slot(&c.path);
        }
        fn walk(t: &mut Tmpl, slot: &mut dyn FnMut(&KeyPath) -> u32) {
            match t {
                Tmpl::Const(_) => {}
                Tmpl::Text(t) => {
                    if let Some(path) = &t.path {
                        t.slot = slot(path);
                    }
                }
                Tmpl::List(items) => items.iter_mut().for_each(|t| walk(t, slot)),
                Tmpl::Map(entries) => entries.iter_mut().for_each(|(_, t)| walk(t, slot)),
            }
        }
        for (_, t) in &mut rule.params {
            walk(t, &mut slot);
        }
    }

    /// Every rule, in load order.
    pub fn rules(&self) -> &[Arc<Rule>] {
        &self.rules
    }

    /// The rule with this reference (`pack.name`).
    pub fn get(&self, reference: &str) -> Option<&Arc<Rule>> {
        self.rules.iter().find(|r| r.reference == reference)
    }

    /// How many rules.
    pub fn len(&self) -> usize {
        self.rules.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.rules.is_empty()
    }

    /// Evaluates an event of a trigger without parameters (the usual case)
    /// against the enabled rules on it. Updates `storm` for rules with
    /// throttle or threshold.
    pub fn evaluate(
        &self,
        trigger_type: &str,
        payload: &Value,
        cx: &Context,
        storm: &mut StormState,
    ) -> Vec<Match> {
        self.evaluate_parameterized(trigger_type, &Map::new(), payload, cx, storm)
    }

    /// Like [`evaluate`](Self::evaluate) for an event of a parameterized
    /// trigger (a webhook at one url, a timer with one interval): only rules
    /// whose `trigger.parameters` equal `trigger_parameters` see it.
    pub fn evaluate_parameterized(
        &self,
        trigger_type: &str,
        trigger_parameters: &Map<String, Value>,
        payload: &Value,
        cx: &Context,
        storm: &mut StormState,
    ) -> Vec<Match> {
        let Some(group) = self
            .by_trigger
            .get(&TriggerKey::new(trigger_type, trigger_parameters))
        else {
            return Vec::new();
        };
        let env = Env::with_slots(payload, cx, self.slots.len());
        let mut out = Vec::new();
        let mut passed = Vec::new();
        for index in &group.index {
            if !passed.is_empty() {
                break;
            }
            for candidate in index.candidates(payload) {
                let rule = &self.rules[candidate as usize];
                match criteria_pass(rule, &env) {
                    Ok(true) => passed.push(rule),
                    Ok(false) => {}
                    Err((criterion, error)) => out.push(Match {
                        rule: rule.clone(),
                        outcome: Outcome::CriteriaFailed { criterion, error },
                    }),
                }
            }
        }
        out.reserve_exact(passed.len());
        for rule in passed {
            let outcome = match storm.admit(rule, payload, cx.now) {
                Gate::Fire { suppressed } => match render_parameters(rule, &env) {
                    Ok(parameters) => Outcome::Fired {
                        parameters,
                        suppressed,
                    },
                    Err(error) => Outcome::RenderFailed { error },
                },
                Gate::Throttled {
                    group,
                    until,
                    suppressed,
                } => Outcome::Throttled {
                    group,
                    until,
                    suppressed,
                },
                Gate::Waiting {
                    group,
                    seen,
                    needed,
                } => Outcome::Waiting {
                    group,
                    seen,
                    needed,
                },
            };
            out.push(Match {
                rule: rule.clone(),
                outcome,
            });
        }
        out
    }

    /// Forgets storm state that can no longer matter (see
    /// [`StormState::prune`]), including that of rules not in this set.
    pub fn prune_storm(&self, storm: &mut StormState, now: Timestamp) {
        let rules: Vec<&Rule> = self.rules.iter().map(AsRef::as_ref).collect();
        storm.prune(now, &rules);
    }
}

/// What one evaluation shares between rules: the payload converted for
/// templates once, and each pack's template variables once.
pub(crate) struct Env<'a> {
    pub(crate) payload: &'a Value,
    pub(crate) cx: &'a Context,
    trigger: OnceCell<minijinja::Value>,
    vars: RefCell<HashMap<String, Vars>>,
    /// What each memo slot's path found in the payload, once looked up.
    found: Vec<OnceCell<Resolved<'a>>>,
}

impl<'a> Env<'a> {
    pub(crate) fn new(payload: &'a Value, cx: &'a Context) -> Env<'a> {
        Env::with_slots(payload, cx, 0)
    }

    fn with_slots(payload: &'a Value, cx: &'a Context, slots: usize) -> Env<'a> {
        Env {
            payload,
            cx,
            trigger: OnceCell::new(),
            vars: RefCell::new(HashMap::new()),
            found: (0..slots).map(|_| OnceCell::new()).collect(),
        }
    }

    /// What `path` (a `trigger` path with memo slot `slot`) finds in the
    /// payload: looked up once per evaluation.
    fn resolve(&self, slot: u32, path: &KeyPath) -> Resolved<'a> {
        match self.found.get(slot as usize) {
            Some(cell) => *cell.get_or_init(|| path.resolve(self.payload)),
            None => path.resolve(self.payload),
        }
    }

    fn vars(&self, pack: &str) -> Vars {
        if let Some(v) = self.vars.borrow().get(pack) {
            return v.clone();
        }
        let trigger = self
            .trigger
            .get_or_init(|| Vars::payload(self.payload))
            .clone();
        let vars = Vars::from_parts(
            trigger,
            Vars::kv(pack, self.cx.kv.as_ref()),
            Vars::config(pack, self.cx.configs.as_ref()),
        );
        self.vars.borrow_mut().insert(pack.to_owned(), vars.clone());
        vars
    }
}

/// Python's truthiness of a payload (st2 skips rules with criteria when the
/// payload is empty).
fn is_falsy(v: &Value) -> bool {
    match v {
        Value::Null => true,
        Value::Bool(b) => !b,
        Value::Number(n) => n.as_f64() == Some(0.0),
        Value::String(s) => s.is_empty(),
        Value::Array(a) => a.is_empty(),
        Value::Object(o) => o.is_empty(),
    }
}

/// Whether every criterion passes; `Err((key, why))` when one could not be
/// evaluated.
fn criteria_pass(rule: &Rule, env: &Env<'_>) -> Result<bool, (String, String)> {
    if rule.criteria.is_empty() {
        return Ok(true);
    }
    if is_falsy(env.payload) {
        return Ok(false);
    }
    for c in &rule.criteria {
        let value = env.resolve(c.slot, &c.path);
        match check_resolved(rule, c, value, None, env).result {
            Ok(true) => {}
            Ok(false) | Err(CheckError::Type(_)) => return Ok(false),
            Err(CheckError::Pattern(e)) => return Err((c.key.clone(), e)),
        }
    }
    Ok(true)
}

/// One criterion's evaluation, with what it looked at (for the tester).
pub(crate) struct Checked<'v, 'r> {
    /// What the key found.
    pub(crate) value: Resolved<'v>,
    /// The pattern after rendering.
    pub(crate) pattern: Option<Cow<'r, Value>>,
    /// Pass, fail, or why it could not pass.
    pub(crate) result: Result<bool, CheckError>,
}

/// Evaluates `c` against `root` (the payload, or a list item inside
/// `search`, in which case `item` is that item for templates).
pub(crate) fn check_criterion<'v, 'r>(
    rule: &'r Rule,
    c: &'r Criterion,
    root: &'v Value,
    item: Option<&Value>,
    env: &Env<'_>,
) -> Checked<'v, 'r> {
    check_resolved(rule, c, c.path.resolve(root), item, env)
}

/// [`check_criterion`] with the key's value already looked up.
fn check_resolved<'v, 'r>(
    rule: &'r Rule,
    c: &'r Criterion,
    value: Resolved<'v>,
    item: Option<&Value>,
    env: &Env<'_>,
) -> Checked<'v, 'r> {
    let now = env.cx.now;
    let (pattern, result) = match &c.pattern {
        Pattern::Absent => (
            None,
            operators::check(c.operator, value.as_python(), None, None, now),
        ),
        Pattern::Null => (Some(Cow::Owned(Value::Null)), Ok(false)),
        Pattern::Static { value: p, matcher } => (
            Some(Cow::Borrowed(p)),
            operators::check(
                c.operator,
                value.as_python(),
                Some(p),
                matcher.as_ref(),
                now,
            ),
        ),
        Pattern::Template(t) => {
            let context = || env.vars(&rule.pack).context(item);
            match rule.templates.render(t, env.payload, item, context) {
                Ok(p) => {
                    let result =
                        operators::check(c.operator, value.as_python(), Some(&p), None, now);
                    (Some(Cow::Owned(p)), result)
                }
                Err(e) => (
                    None,
                    Err(CheckError::Pattern(format!(
                        "cannot render the pattern: {e}"
                    ))),
                ),
            }
        }
        Pattern::Search {
            condition,
            children,
        } => (
            c.pattern_source.as_ref().map(Cow::Borrowed),
            search(rule, *condition, children, value.as_python(), env),
        ),
    };
    Checked {
        value,
        pattern,
        result,
    }
}

/// The items `search` looks at: a list's elements, a dict as a one-item
/// list, a string's characters (Python iterates them); else Python's error.
pub(crate) fn search_items(value: Option<&Value>) -> Result<Vec<Cow<'_, Value>>, CheckError> {
    match value {
        Some(Value::Array(items)) => Ok(items.iter().map(Cow::Borrowed).collect()),
        Some(v @ Value::Object(_)) => Ok(vec![Cow::Borrowed(v)]),
        Some(Value::String(s)) => Ok(s
            .chars()
            .map(|c| Cow::Owned(Value::String(c.to_string())))
            .collect()),
        other => Err(CheckError::Type(format!(
            "'{}' object is not iterable",
            crate::python::type_name(other)
        ))),
    }
}

/// Combines per-item, per-child results as `condition` says.
pub(crate) fn combine(condition: Condition, items: &[Vec<bool>]) -> bool {
    let every_child = |r: &Vec<bool>| r.iter().all(|&b| b);
    let some_child = |r: &Vec<bool>| r.iter().any(|&b| b);
    match condition {
        Condition::Any => items.iter().any(every_child),
        Condition::All => items.iter().all(every_child),
        Condition::All2Any => items.iter().all(some_child),
        Condition::Any2Any => items.iter().any(some_child),
    }
}

/// One child criterion on one item: a type error is a plain "no" (st2
/// catches it), a broken pattern is reported.
pub(crate) fn child_result(result: &Result<bool, CheckError>) -> Result<bool, CheckError> {
    match result {
        Ok(b) => Ok(*b),
        Err(CheckError::Type(_)) => Ok(false),
        Err(e @ CheckError::Pattern(_)) => Err(e.clone()),
    }
}

fn search(
    rule: &Rule,
    condition: Condition,
    children: &[Criterion],
    value: Option<&Value>,
    env: &Env<'_>,
) -> Result<bool, CheckError> {
    let items = search_items(value)?;
    let mut results = Vec::with_capacity(items.len());
    for item in &items {
        let mut row = Vec::with_capacity(children.len());
        for child in children {
            let checked = check_criterion(rule, child, item, Some(item), env);
            row.push(child_result(&checked.result)?);
        }
        results.push(row);
    }
    Ok(combine(condition, &results))
}

/// Renders the action parameters, each template once.
pub(crate) fn render_parameters(rule: &Rule, env: &Env<'_>) -> Result<Map<String, Value>, String> {
    let context = OnceCell::new();
    let context = || {
        context
            .get_or_init(|| env.vars(&rule.pack).context(None))
            .clone()
    };
    let mut out = Map::new();
    for (name, tmpl) in &rule.params {
        let value = render_tmpl(rule, tmpl, env, &context)
            .map_err(|e| format!("failed to render parameter {name:?}: {e}"))?;
        out.insert(name.clone(), value);
    }
    Ok(out)
}

fn render_tmpl(
    rule: &Rule,
    tmpl: &Tmpl,
    env: &Env<'_>,
    context: &dyn Fn() -> minijinja::Value,
) -> Result<Value, String> {
    Ok(match tmpl {
        Tmpl::Const(v) => v.clone(),
        Tmpl::Text(t) => {
            // `{{ trigger.x }}` that finds a value: the memo has it. A
            // missing key goes the template engine's way, for its answer.
            if let (Some(path), true) = (&t.path, t.slot != NO_SLOT)
                && let Resolved::Found(v) = env.resolve(t.slot, path)
            {
                return Ok(v.clone());
            }
            rule.templates.render(t, env.payload, None, context)?
        }
        Tmpl::List(items) => Value::Array(
            items
                .iter()
                .map(|t| render_tmpl(rule, t, env, context))
                .collect::<Result<_, _>>()?,
        ),
        Tmpl::Map(entries) => Value::Object(
            entries
                .iter()
                .map(|(k, t)| Ok((k.clone(), render_tmpl(rule, t, env, context)?)))
                .collect::<Result<_, String>>()?,
        ),
    })
}

#[cfg(test)]
#[path = "engine_tests.rs"]
mod tests;
