//! Rules: StackStorm rule YAML → validated [`Rule`].
//!
//! Owns the rule format and the errors a rule author sees. The format is
//! st2's, so existing st2 rules load unchanged:
//!
//! ```yaml
//! name: on_no_contact            # required
//! pack: batchops                 # default "default", as in st2
//! description: Reboot nodes that stopped reporting
//! enabled: true                  # default false, as in st2
//! type: {ref: standard}          # or backstop: fires only when no standard rule matched
//! trigger:
//!   type: batch.no_contact       # required
//!   parameters: {}               # for parameterized triggers (webhooks, timers)
//! criteria:                      # all must pass
//!   trigger.node: {type: matchwildcard, pattern: "b*"}
//!   trigger.minutes: {type: greaterthan, pattern: 5}   # 5 is a number: "5" would not compare
//! action:
//!   ref: batchops.handle_no_contact   # required
//!   parameters:
//!     node: "{{ trigger.node }}"
//! drover:                        # drover's extensions (st2 has no such key)
//!   throttle: {once_within: 1h, group_by: [trigger.node]}
//!   threshold: {count: 3, within: 10m, group_by: [trigger.node]}
//! ```
//!
//! st2's bookkeeping keys (`id`, `ref`, `uid`, `tags`, `context`,
//! `metadata_file`, `trigger.ref`, `trigger.description`,
//! `action.description`) are accepted and ignored; any other unknown key is
//! refused with a suggestion. drover's extensions live under one `drover:`
//! key so a rule stays readable as st2's format plus one block, and deleting
//! that block gives a valid st2 rule again.
//!
//! YAML is read as YAML 1.2, where st2's PyYAML reads 1.1: `yes`, `no`,
//! `on` and `off` are strings here, not booleans (write `true`/`false`).
//!
//! Checking happens in two places, both reporting
//! `file:line:column: field.path: message (hint)`: shapes, operator names,
//! keys and durations inside deserialization (the YAML parser knows the
//! line), then whole-value rules after it (patterns for their operator,
//! templates compiled once into the rule's environment), with the line
//! recovered from the text. It reads no files.

use std::fmt;
use std::marker::PhantomData;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use serde::Deserialize;
use serde::de::{self, DeserializeSeed, Deserializer, IgnoredAny, MapAccess, Visitor};
use serde_json::{Map, Value};

use crate::error::ParseError;
use crate::operators::{self, Matcher, OPERATOR_NAMES, Operator};
use crate::path::{self, KeyPath, Root};
use crate::template::{TemplateRef, Templates, is_template};
use drover_text::{closest, locate};

/// Largest `count` of a threshold: the state keeps that many times per group.
pub const MAX_THRESHOLD_COUNT: u32 = 10_000;
/// Longest throttle or threshold window: state lives at most this long.
pub const MAX_STORM_WINDOW: Duration = Duration::from_secs(30 * 24 * 3600);
/// The pack of a rule that names none (st2's default pack).
pub const DEFAULT_PACK: &str = "default";

/// A validated rule. Cheap to clone (compiled templates are shared).
#[derive(Clone, Debug)]
pub struct Rule {
    /// The rule's name within its pack.
    pub name: String,
    /// Its pack (`default` when the file names none).
    pub pack: String,
    /// `pack.name`.
    pub reference: String,
    /// One line for humans; may be empty.
    pub description: String,
    /// Whether the engine evaluates it (st2's default: false).
    pub enabled: bool,
    /// Standard, or backstop (fires only when no standard rule matched).
    pub kind: RuleKind,
    /// The trigger it listens to.
    pub trigger: TriggerSpec,
    /// All must pass, in this order.
    pub criteria: Vec<Criterion>,
    /// What to run when it fires.
    pub action: ActionSpec,
    /// At most one firing per window and group.
    pub throttle: Option<Throttle>,
    /// Fire only when enough matching events arrive within a window.
    pub threshold: Option<Threshold>,
    /// Things that load but deserve a look (shown by the tester), e.g. a
    /// parameter that looks like a template but is not one.
    pub warnings: Vec<String>,
    pub(crate) params: Vec<(String, Tmpl)>,
    pub(crate) templates: Arc<Templates>,
}

/// st2's rule types.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum RuleKind {
    /// An ordinary rule.
    Standard,
    /// Evaluated only when no standard rule on the same trigger matched.
    Backstop,
}

/// The trigger a rule listens to.
#[derive(Clone, Debug, PartialEq)]
pub struct TriggerSpec {
    /// The trigger type, e.g. `batch.no_contact`.
    pub type_: String,
    /// Parameters of a parameterized trigger (a webhook's url, a timer's
    /// interval); empty for most.
    pub parameters: Map<String, Value>,
}

/// The action a rule runs.
#[derive(Clone, Debug, PartialEq)]
pub struct ActionSpec {
    /// `pack.action`.
    pub reference: String,
    /// The parameters as written (templates unrendered).
    pub parameters: Map<String, Value>,
}

/// How `search` combines its items and child criteria.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Condition {
    /// Some item matches every child criterion.
    Any,
    /// Every item matches every child criterion (true for an empty list).
    All,
    /// Every item matches some child criterion.
    All2Any,
    /// Some item matches some child criterion.
    Any2Any,
}

impl Condition {
    const NAMES: [(&'static str, Condition); 4] = [
        ("any", Condition::Any),
        ("all", Condition::All),
        ("all2any", Condition::All2Any),
        ("any2any", Condition::Any2Any),
    ];

    /// The name as written in a rule.
    pub fn name(self) -> &'static str {
        Self::NAMES
            .iter()
            .find(|(_, c)| *c == self)
            .map(|(n, _)| *n)
            .unwrap_or("any")
    }
}

/// One criterion: a key, an operator and a pattern.
#[derive(Clone, Debug)]
pub struct Criterion {
    /// The key as written, `#tag` included.
    pub key: String,
    /// The parsed key.
    pub path: KeyPath,
    /// The operator.
    pub operator: Operator,
    /// The operator's name as written (an alias such as `eq` stays `eq`).
    pub operator_name: String,
    /// The pattern as written (`None` when absent); for `search`, the child
    /// criteria as a map.
    pub pattern_source: Option<Value>,
    pub(crate) pattern: Pattern,
    /// Where a rule set keeps this key's value for the evaluation under
    /// way (see `RuleSet::new`); [`NO_SLOT`] outside a rule set.
    pub(crate) slot: u32,
}

/// No memo slot: the path is resolved each time.
pub(crate) const NO_SLOT: u32 = u32::MAX;

impl Criterion {
    /// `search`'s condition and child criteria.
    pub fn search(&self) -> Option<(Condition, &[Criterion])> {
        match &self.pattern {
            Pattern::Search {
                condition,
                children,
            } => Some((*condition, children)),
            _ => None,
        }
    }

    /// Whether the pattern is a template rendered for each event.
    pub fn is_templated(&self) -> bool {
        matches!(self.pattern, Pattern::Template(_))
    }
}

/// A pattern, prepared at load time.
#[derive(Clone, Debug)]
pub(crate) enum Pattern {
    /// `exists`/`nexists` without a pattern.
    Absent,
    /// `pattern: null` for an operator that needs one: never matches.
    Null,
    /// A fixed value, with its compiled regex/wildcard/period when it has one.
    Static {
        value: Value,
        matcher: Option<Matcher>,
    },
    /// A template, rendered per event.
    Template(TemplateRef),
    /// `search`'s child criteria.
    Search {
        condition: Condition,
        children: Vec<Criterion>,
    },
}

/// `drover.throttle`: at most one firing per `once_within` for each group.
#[derive(Clone, Debug, PartialEq)]
pub struct Throttle {
    /// The window after a firing during which the same group is suppressed.
    pub once_within: Duration,
    /// Keys whose values form the group (none: one group for the rule).
    pub group_by: Vec<KeyPath>,
}

/// `drover.threshold`: fire only when `count` matching events of one group
/// arrive within `within`.
#[derive(Clone, Debug, PartialEq)]
pub struct Threshold {
    /// Events needed.
    pub count: u32,
    /// The sliding window they must fall in.
    pub within: Duration,
    /// Keys whose values form the group.
    pub group_by: Vec<KeyPath>,
}

/// Parameter values with their templates compiled.
#[derive(Clone, Debug)]
pub(crate) enum Tmpl {
    Const(Value),
    Text(TemplateRef),
    List(Vec<Tmpl>),
    Map(Vec<(String, Tmpl)>),
}

impl Rule {
    /// Parses and validates a rule. `origin` is only used in messages
    /// (usually the path of the file the text came from). JSON is YAML, so
    /// rules created through the API parse here too.
    pub fn parse(origin: &Path, text: &str) -> Result<Rule, ParseError> {
        let raw: RawRule = deserialize(origin, text)?;
        resolve(&Cx { origin, text }, raw)
    }

    /// The rule in st2's JSON shape (for storage and display): what it was
    /// written as, normalized (`ref` computed, defaults filled in).
    pub fn to_json(&self) -> Value {
        let mut criteria = Map::new();
        for c in &self.criteria {
            criteria.insert(c.key.clone(), criterion_json(c));
        }
        let mut rule = serde_json::json!({
            "name": self.name,
            "pack": self.pack,
            "ref": self.reference,
            "description": self.description,
            "enabled": self.enabled,
            "trigger": {"type": self.trigger.type_, "parameters": self.trigger.parameters},
            "criteria": criteria,
            "action": {"ref": self.action.reference, "parameters": self.action.parameters},
        });
        if self.kind == RuleKind::Backstop {
            rule["type"] = serde_json::json!({"ref": "backstop"});
        }
        let mut drover = Map::new();
        if let Some(t) = &self.throttle {
            drover.insert(
                "throttle".into(),
                serde_json::json!({
                    "once_within": humantime::format_duration(t.once_within).to_string(),
                    "group_by": t.group_by.iter().map(ToString::to_string).collect::<Vec<_>>(),
                }),
            );
        }
        if let Some(t) = &self.threshold {
            drover.insert(
                "threshold".into(),
                serde_json::json!({
                    "count": t.count,
                    "within": humantime::format_duration(t.within).to_string(),
                    "group_by": t.group_by.iter().map(ToString::to_string).collect::<Vec<_>>(),
                }),
            );
        }
        if !drover.is_empty() {
            rule["drover"] = Value::Object(drover);
        }
        rule
    }
}

fn criterion_json(c: &Criterion) -> Value {
    let mut m = Map::new();
    m.insert("type".into(), Value::String(c.operator_name.clone()));
    if let Some(p) = &c.pattern_source {
        m.insert("pattern".into(), p.clone());
    }
    if let Some((condition, _)) = c.search() {
        m.insert("condition".into(), Value::String(condition.name().into()));
    }
    Value::Object(m)
}

// ---------------------------------------------------------------- raw format

#[derive(Deserialize)]
#[serde(
    deny_unknown_fields,
    expecting = "a rule: a map with name, trigger, criteria and action"
)]
struct RawRule {
    name: String,
    pack: Option<String>,
    description: Option<String>,
    enabled: Option<bool>,
    #[serde(rename = "type")]
    kind: Option<RawRuleType>,
    trigger: RawTrigger,
    criteria: Option<Ordered<RawCriterion, TriggerKeys>>,
    action: RawAction,
    drover: Option<RawDrover>,
    // st2's bookkeeping: accepted, ignored.
    #[serde(rename = "id")]
    _id: Option<IgnoredAny>,
    #[serde(rename = "ref")]
    _ref: Option<IgnoredAny>,
    #[serde(rename = "uid")]
    _uid: Option<IgnoredAny>,
    #[serde(rename = "tags")]
    _tags: Option<IgnoredAny>,
    #[serde(rename = "context")]
    _context: Option<IgnoredAny>,
    #[serde(rename = "metadata_file")]
    _metadata_file: Option<IgnoredAny>,
}

#[derive(Deserialize)]
#[serde(
    deny_unknown_fields,
    expecting = "a rule type: {ref: standard} or {ref: backstop}"
)]
struct RawRuleType {
    #[serde(rename = "ref")]
    reference: RuleKind,
    #[serde(rename = "parameters")]
    _parameters: Option<IgnoredAny>,
}

#[derive(Deserialize)]
#[serde(
    deny_unknown_fields,
    expecting = "a trigger: a map with type (and parameters)"
)]
struct RawTrigger {
    #[serde(rename = "type")]
    type_: String,
    parameters: Option<Map<String, Value>>,
    #[serde(rename = "description")]
    _description: Option<IgnoredAny>,
    #[serde(rename = "ref")]
    _ref: Option<IgnoredAny>,
}

#[derive(Deserialize)]
#[serde(
    deny_unknown_fields,
    expecting = "an action: a map with ref (and parameters)"
)]
struct RawAction {
    #[serde(rename = "ref")]
    reference: String,
    parameters: Option<Ordered<Value, ParamKeys>>,
    #[serde(rename = "description")]
    _description: Option<IgnoredAny>,
}

#[derive(Deserialize)]
#[serde(
    deny_unknown_fields,
    expecting = "a criterion: a map with type and pattern"
)]
struct RawCriterion {
    #[serde(rename = "type")]
    operator: OperatorName,
    /// `None` when absent; `Some(Null)` for `pattern: null` (st2 accepts
    /// it: such a criterion never matches).
    #[serde(default, deserialize_with = "present")]
    pattern: Option<serde_norway::Value>,
    condition: Option<RawCondition>,
}

/// Deserializes a field that is present, even as `null`, to `Some`.
fn present<'de, D: Deserializer<'de>>(d: D) -> Result<Option<serde_norway::Value>, D::Error> {
    serde_norway::Value::deserialize(d).map(Some)
}

#[derive(Deserialize)]
#[serde(
    deny_unknown_fields,
    expecting = "drover's extensions: throttle and threshold"
)]
struct RawDrover {
    throttle: Option<RawThrottle>,
    threshold: Option<RawThreshold>,
}

#[derive(Deserialize)]
#[serde(
    deny_unknown_fields,
    expecting = "a throttle: {once_within: 1h, group_by: [trigger.node]}"
)]
struct RawThrottle {
    once_within: Window,
    #[serde(default)]
    group_by: Vec<GroupKey>,
}

#[derive(Deserialize)]
#[serde(
    deny_unknown_fields,
    expecting = "a threshold: {count: 3, within: 10m, group_by: [trigger.node]}"
)]
struct RawThreshold {
    count: Count,
    within: Window,
    #[serde(default)]
    group_by: Vec<GroupKey>,
}

/// An operator name, checked against st2's list.
struct OperatorName(String, Operator);

/// Implements `Deserialize` for a type read from one string by `parse`;
/// checking inside the visitor makes the YAML error point at the value.
macro_rules! from_str_field {
    ($ty:ty, $expecting:literal, $parse:expr) => {
        impl<'de> Deserialize<'de> for $ty {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                struct V;
                impl Visitor<'_> for V {
                    type Value = $ty;
                    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                        f.write_str($expecting)
                    }
                    fn visit_str<E: de::Error>(self, s: &str) -> Result<$ty, E> {
                        let parse: fn(&str) -> Result<$ty, String> = $parse;
                        parse(s).map_err(E::custom)
                    }
                }
                d.deserialize_str(V)
            }
        }
    };
}

from_str_field!(OperatorName, "an operator such as equals", |name| {
    Operator::from_name(name)
        .map(|op| OperatorName(name.to_owned(), op))
        .ok_or_else(|| unknown_operator(name))
});

fn unknown_operator(name: &str) -> String {
    let hint = closest(name, OPERATOR_NAMES.iter().map(|(n, _)| *n))
        .map(|near| format!("; did you mean {near:?}?"))
        .unwrap_or_default();
    let canonical: Vec<&str> = {
        let mut seen = Vec::new();
        for (_, op) in OPERATOR_NAMES {
            if !seen.contains(&op.name()) {
                seen.push(op.name());
            }
        }
        seen
    };
    format!(
        "unknown operator {name:?}{hint} (operators: {}; aliases: eq, neq, ieq, lt, gt, td_lt, td_gt, in, nin)",
        canonical.join(", ")
    )
}

struct RawCondition(Condition);

from_str_field!(
    RawCondition,
    "a search condition: any, all, all2any or any2any",
    |name| {
        Condition::NAMES
        .iter()
        .find(|(n, _)| *n == name)
        .map(|(_, c)| RawCondition(*c))
        .ok_or_else(|| {
            let names = Condition::NAMES.map(|(n, _)| n);
            let hint = closest(name, names)
                .map(|near| format!("; did you mean {near:?}?"))
                .unwrap_or_default();
            format!("unknown search condition {name:?}{hint} (conditions: any, all, all2any, any2any)")
        })
    }
);

/// A window: `10m`, `1h`, `1h 30m`, or a number of seconds.
struct Window(Duration);

impl<'de> Deserialize<'de> for Window {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = Window;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a duration such as 10m or 1h")
            }
            fn visit_u64<E: de::Error>(self, secs: u64) -> Result<Window, E> {
                check_window(Duration::from_secs(secs), &secs.to_string()).map_err(E::custom)
            }
            fn visit_i64<E: de::Error>(self, secs: i64) -> Result<Window, E> {
                match u64::try_from(secs) {
                    Ok(secs) => self.visit_u64(secs),
                    Err(_) => Err(E::custom(format!(
                        "window {secs} is negative (write e.g. 10m)"
                    ))),
                }
            }
            fn visit_str<E: de::Error>(self, s: &str) -> Result<Window, E> {
                let d = humantime::parse_duration(s.trim()).map_err(|_| {
                    E::custom(format!("invalid duration {s:?} (write e.g. 30s, 10m, 1h)"))
                })?;
                check_window(d, s).map_err(E::custom)
            }
        }
        d.deserialize_any(V)
    }
}

fn check_window(d: Duration, text: &str) -> Result<Window, String> {
    if d < Duration::from_secs(1) {
        return Err(format!("window {text:?} is too short: write at least 1s"));
    }
    if d > MAX_STORM_WINDOW {
        return Err(format!(
            "window {text:?} is too long: write at most {}",
            humantime::format_duration(MAX_STORM_WINDOW)
        ));
    }
    Ok(Window(d))
}

/// A threshold count, 1..=[`MAX_THRESHOLD_COUNT`].
struct Count(u32);

impl<'de> Deserialize<'de> for Count {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = Count;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "a count from 1 to {MAX_THRESHOLD_COUNT}")
            }
            fn visit_i64<E: de::Error>(self, n: i64) -> Result<Count, E> {
                u32::try_from(n)
                    .ok()
                    .filter(|n| (1..=MAX_THRESHOLD_COUNT).contains(n))
                    .map(Count)
                    .ok_or_else(|| {
                        E::custom(format!(
                            "count {n} is out of range: write 1 to {MAX_THRESHOLD_COUNT}"
                        ))
                    })
            }
            fn visit_u64<E: de::Error>(self, n: u64) -> Result<Count, E> {
                self.visit_i64(i64::try_from(n).unwrap_or(i64::MAX))
            }
        }
        d.deserialize_i64(V)
    }
}

/// A `group_by` key: a path into the payload.
struct GroupKey(KeyPath);

from_str_field!(GroupKey, "a key such as trigger.node", |text| {
    KeyPath::parse(text, Root::Trigger).map(GroupKey)
});

/// A map that keeps its order and refuses repeated keys; `K` checks keys.
struct Ordered<V, K> {
    entries: Vec<(String, V)>,
    keys: PhantomData<K>,
}

/// What the keys of an [`Ordered`] map are, and how to check one.
trait KeyKind {
    const WHAT: &'static str;
    fn check(key: &str) -> Result<(), String>;
}

/// Criteria keys: paths from `trigger`, with an optional `#tag`.
struct TriggerKeys;
impl KeyKind for TriggerKeys {
    const WHAT: &'static str = "criteria key";
    fn check(key: &str) -> Result<(), String> {
        KeyPath::parse(path::split_tag(key).0, Root::Trigger).map(drop)
    }
}

/// `search` child keys: paths from `item`.
struct ItemKeys;
impl KeyKind for ItemKeys {
    const WHAT: &'static str = "search key";
    fn check(key: &str) -> Result<(), String> {
        KeyPath::parse(path::split_tag(key).0, Root::Item).map(drop)
    }
}

/// Action parameter names.
struct ParamKeys;
impl KeyKind for ParamKeys {
    const WHAT: &'static str = "parameter";
    fn check(key: &str) -> Result<(), String> {
        if key.is_empty() {
            Err("empty parameter name".into())
        } else {
            Ok(())
        }
    }
}

impl<'de, V: Deserialize<'de>, K: KeyKind> Deserialize<'de> for Ordered<V, K> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct MapVisitor<V, K>(PhantomData<(V, K)>);
        impl<'de, V: Deserialize<'de>, K: KeyKind> Visitor<'de> for MapVisitor<V, K> {
            type Value = Ordered<V, K>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "a map from {} to its value", K::WHAT)
            }
            fn visit_none<E: de::Error>(self) -> Result<Self::Value, E> {
                self.visit_unit()
            }
            fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
                Ok(Ordered {
                    entries: Vec::new(),
                    keys: PhantomData,
                })
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
                let mut entries: Vec<(String, V)> = Vec::new();
                while let Some(key) = map.next_key_seed(KeySeed::<V, K> {
                    seen: &entries,
                    kind: PhantomData,
                })? {
                    let value = map.next_value()?;
                    entries.push((key, value));
                }
                Ok(Ordered {
                    entries,
                    keys: PhantomData,
                })
            }
        }
        d.deserialize_any(MapVisitor(PhantomData))
    }
}

struct KeySeed<'a, V, K> {
    seen: &'a [(String, V)],
    kind: PhantomData<K>,
}

impl<'de, V, K: KeyKind> DeserializeSeed<'de> for KeySeed<'_, V, K> {
    type Value = String;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<String, D::Error> {
        d.deserialize_str(self)
    }
}

impl<V, K: KeyKind> Visitor<'_> for KeySeed<'_, V, K> {
    type Value = String;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "a {}", K::WHAT)
    }
    fn visit_str<E: de::Error>(self, s: &str) -> Result<String, E> {
        K::check(s).map_err(E::custom)?;
        if self.seen.iter().any(|(seen, _)| seen == s) {
            return Err(E::custom(format!(
                "{} {s:?} is given twice; to test a key twice add a tag: \"{s}#2\"",
                K::WHAT
            )));
        }
        Ok(s.to_owned())
    }
}

// ------------------------------------------------------------ deserializing

/// YAML syntax first (so its errors are about syntax), then the shapes.
fn deserialize<T: de::DeserializeOwned>(origin: &Path, text: &str) -> Result<T, ParseError> {
    drover_text::yaml::deserialize(
        text,
        "the rule is empty: write at least name, trigger and action",
        st2_bookkeeping,
    )
    .map_err(|p| {
        let origin = origin.to_owned();
        if p.syntax {
            ParseError::Syntax {
                origin,
                format: "YAML",
                line: p.line,
                column: p.column,
                message: p.message,
            }
        } else {
            ParseError::Invalid {
                origin,
                line: p.line,
                column: p.column,
                path: p.path,
                message: p.message,
            }
        }
    })
}

/// st2's bookkeeping keys, ignored on input, are kept out of "valid keys"
/// lists (`ref` is bookkeeping only at the top, where `name` is valid).
fn st2_bookkeeping(key: &str, valid: &[&str]) -> bool {
    ["id", "uid", "tags", "context", "metadata_file"].contains(&key)
        || (key == "ref" && valid.contains(&"name"))
}

/// Rewrites serde's generic messages in drover's words, with suggestions.
pub(crate) fn explain(message: &str) -> String {
    drover_text::explain_serde(message, st2_bookkeeping)
}

// -------------------------------------------------------------- validating

/// Where stage-2 errors point.
struct Cx<'a> {
    origin: &'a Path,
    text: &'a str,
}

impl Cx<'_> {
    fn invalid(&self, path: &[&str], message: impl Into<String>) -> ParseError {
        let location = locate(self.text, path);
        ParseError::Invalid {
            origin: self.origin.to_owned(),
            line: location.map(|(line, _)| line),
            column: location.map(|(_, column)| column),
            path: path.join("."),
            message: message.into(),
        }
    }
}

fn resolve(cx: &Cx<'_>, raw: RawRule) -> Result<Rule, ParseError> {
    // st2 accepts any name (even with spaces); drover refuses only what
    // would break a reference or a terminal.
    let name = raw.name.trim().to_owned();
    if name.is_empty() || name.chars().any(|c| c.is_control() || c == '#') {
        return Err(cx.invalid(
            &["name"],
            format!(
                "invalid rule name {:?}: write a name such as on_no_contact                  (no control characters or #)",
                raw.name
            ),
        ));
    }
    let pack = raw.pack.unwrap_or_else(|| DEFAULT_PACK.to_owned());
    if pack.is_empty()
        || !pack
            .chars()
            .all(|c| c.is_alphanumeric() || "_-".contains(c))
    {
        return Err(cx.invalid(
            &["pack"],
            format!("invalid pack name {pack:?}: use letters, digits, _ and - (e.g. batchops)"),
        ));
    }
    let trigger_type = raw.trigger.type_.trim().to_owned();
    if trigger_type.is_empty() || trigger_type.contains(char::is_whitespace) {
        return Err(cx.invalid(
            &["trigger", "type"],
            format!(
                "invalid trigger type {:?}: write a reference such as batch.no_contact",
                raw.trigger.type_
            ),
        ));
    }
    let action_ref = raw.action.reference.trim().to_owned();
    if !action_ref
        .split_once('.')
        .is_some_and(|(p, a)| !p.is_empty() && !a.is_empty())
        || action_ref.contains(char::is_whitespace)
    {
        return Err(cx.invalid(
            &["action", "ref"],
            format!(
                "invalid action reference {:?}: write PACK.ACTION (e.g. batchops.handle_no_contact)",
                raw.action.reference
            ),
        ));
    }

    let mut templates = Templates::new();
    let mut warnings = Vec::new();
    let criteria = raw
        .criteria
        .map(|c| c.entries)
        .unwrap_or_default()
        .into_iter()
        .map(|(key, c)| {
            resolve_criterion(
                cx,
                &mut templates,
                &mut warnings,
                &["criteria".to_owned()],
                key,
                c,
                Root::Trigger,
            )
        })
        .collect::<Result<Vec<_>, _>>()?;

    let raw_params = raw.action.parameters.map(|p| p.entries).unwrap_or_default();
    let mut params = Vec::with_capacity(raw_params.len());
    let mut parameters = Map::new();
    for (name, value) in raw_params {
        let tmpl = compile_param(
            &mut templates,
            &mut warnings,
            format!("action.parameters.{name}"),
            &value,
        );
        params.push((name.clone(), tmpl));
        parameters.insert(name, value);
    }

    let (throttle, threshold) = match raw.drover {
        Some(d) => (
            d.throttle.map(|t| Throttle {
                once_within: t.once_within.0,
                group_by: t.group_by.into_iter().map(|g| g.0).collect(),
            }),
            d.threshold.map(|t| Threshold {
                count: t.count.0,
                within: t.within.0,
                group_by: t.group_by.into_iter().map(|g| g.0).collect(),
            }),
        ),
        None => (None, None),
    };

    Ok(Rule {
        reference: format!("{pack}.{name}"),
        name,
        pack,
        description: raw.description.unwrap_or_default(),
        enabled: raw.enabled.unwrap_or(false),
        kind: raw.kind.map_or(RuleKind::Standard, |k| k.reference),
        trigger: TriggerSpec {
            type_: trigger_type,
            parameters: raw.trigger.parameters.unwrap_or_default(),
        },
        criteria,
        action: ActionSpec {
            reference: action_ref,
            parameters,
        },
        throttle,
        threshold,
        warnings,
        params,
        templates: Arc::new(templates),
    })
}

fn resolve_criterion(
    cx: &Cx<'_>,
    templates: &mut Templates,
    warnings: &mut Vec<String>,
    parent: &[String],
    key: String,
    raw: RawCriterion,
    root: Root,
) -> Result<Criterion, ParseError> {
    let here: Vec<String> = parent.iter().cloned().chain([key.clone()]).collect();
    let at =
        |field: &str| -> Vec<String> { here.iter().cloned().chain([field.to_owned()]).collect() };
    let err = |field: &str, message: String| {
        let path = at(field);
        let path: Vec<&str> = path.iter().map(String::as_str).collect();
        cx.invalid(&path, message)
    };
    let path = KeyPath::parse(path::split_tag(&key).0, root)
        .expect("criteria keys are checked while deserializing");
    let OperatorName(operator_name, op) = raw.operator;
    if operator_name != op.name() && !OPERATOR_NAMES.iter().any(|(n, _)| *n == operator_name) {
        warnings.push(format!(
            "{}.type: `{operator_name}` is read as `{}` (operator names ignore case, as in StackStorm)",
            here.join("."),
            op.name()
        ));
    }

    if raw.condition.is_some() && op != Operator::Search {
        return Err(err(
            "condition",
            format!("condition only applies to the search operator, not {operator_name}"),
        ));
    }
    let Some(source) = raw.pattern else {
        if op.needs_pattern() {
            return Err(err(
                "type",
                format!(
                    "{operator_name} needs a pattern: add `pattern: …` beside `type: {operator_name}`"
                ),
            ));
        }
        return Ok(Criterion {
            key,
            path,
            operator: op,
            operator_name,
            slot: NO_SLOT,
            pattern_source: None,
            pattern: Pattern::Absent,
        });
    };

    if op == Operator::Search {
        let Some(RawCondition(condition)) = raw.condition else {
            return Err(err(
                "type",
                "search needs a condition: add `condition: any` (or all, all2any, any2any)".into(),
            ));
        };
        let pattern_json = norway_to_json(&source).map_err(|m| err("pattern", m))?;
        let prefix = at("pattern");
        let children: Ordered<RawCriterion, ItemKeys> = serde_path_to_error::deserialize(source)
            .map_err(|e| {
                let inner: Vec<String> = e
                    .path()
                    .iter()
                    .filter_map(|s| match s {
                        serde_path_to_error::Segment::Map { key } => Some(key.clone()),
                        _ => None,
                    })
                    .collect();
                let full: Vec<String> = prefix.iter().cloned().chain(inner).collect();
                let full: Vec<&str> = full.iter().map(String::as_str).collect();
                let message = e.into_inner().to_string();
                cx.invalid(&full, explain(&message))
            })?;
        if !matches!(pattern_json, Value::Object(_)) {
            return Err(err(
                "pattern",
                "search needs a map of child criteria as its pattern, e.g. \
                 `item.name: {type: equals, pattern: x}`"
                    .into(),
            ));
        }
        let children = children
            .entries
            .into_iter()
            .map(|(k, c)| resolve_criterion(cx, templates, warnings, &prefix, k, c, Root::Item))
            .collect::<Result<Vec<_>, _>>()?;
        return Ok(Criterion {
            key,
            path,
            operator: op,
            operator_name,
            slot: NO_SLOT,
            pattern_source: Some(pattern_json),
            pattern: Pattern::Search {
                condition,
                children,
            },
        });
    }

    let value = norway_to_json(&source).map_err(|m| err("pattern", m))?;
    if value.is_null() && op.needs_pattern() {
        warnings.push(format!(
            "{}.pattern: null never matches (as in StackStorm): give a pattern or remove the criterion",
            here.join(".")
        ));
    }
    let pattern = match &value {
        Value::Null if !op.needs_pattern() => Pattern::Absent,
        Value::Null => Pattern::Null,
        Value::String(s) if is_template(s) => {
            let name = at("pattern").join(".");
            let t = templates
                .add_pattern(name, s)
                .map_err(|e| err("pattern", format!("invalid template: {e}")))?;
            Pattern::Template(t)
        }
        _ => {
            check_static_pattern(op, &value).map_err(|m| err("pattern", m))?;
            let matcher = operators::prepare(op, &value).map_err(|m| err("pattern", m))?;
            Pattern::Static {
                value: value.clone(),
                matcher,
            }
        }
    };
    Ok(Criterion {
        key,
        path,
        operator: op,
        operator_name,
        slot: NO_SLOT,
        pattern_source: Some(value),
        pattern,
    })
}

/// Refuses fixed patterns with which the operator can never pass.
fn check_static_pattern(op: Operator, value: &Value) -> Result<(), String> {
    let kind = crate::python::type_name(Some(value));
    if op.needs_string_pattern() && !value.is_string() {
        let quoted = match value {
            Value::Number(_) | Value::Bool(_) => format!(" (quote it: pattern: \"{value}\")"),
            _ => String::new(),
        };
        return Err(format!(
            "{op} compares strings, but the pattern is {kind} {value}{quoted}"
        ));
    }
    if matches!(op, Operator::Inside | Operator::NInside)
        && !matches!(value, Value::Array(_) | Value::String(_) | Value::Object(_))
    {
        return Err(format!(
            "{op} tests membership, but the pattern is {kind} {value}: write a list such as [a, b]"
        ));
    }
    Ok(())
}

/// YAML value → JSON value (map keys must be strings).
fn norway_to_json(v: &serde_norway::Value) -> Result<Value, String> {
    serde_json::to_value(v).map_err(|e| format!("not representable as JSON: {e}"))
}

/// Compiles a parameter value: every string with `{{` or `{%` is a template.
/// A string that is not a valid template stays text (st2 does the same, for
/// e.g. `docker ps --format '{{.Names}}'`), with a warning.
fn compile_param(
    templates: &mut Templates,
    warnings: &mut Vec<String>,
    name: String,
    value: &Value,
) -> Tmpl {
    match value {
        Value::String(s) if is_template(s) => match templates.add(name.clone(), s) {
            Ok(t) => Tmpl::Text(t),
            Err(e) => {
                warnings.push(format!(
                    "{name}: not a valid template, passed as text ({e})"
                ));
                Tmpl::Const(value.clone())
            }
        },
        Value::Array(items) => {
            let parts: Vec<Tmpl> = items
                .iter()
                .enumerate()
                .map(|(i, v)| compile_param(templates, warnings, format!("{name}[{i}]"), v))
                .collect();
            if parts.iter().all(|p| matches!(p, Tmpl::Const(_))) {
                Tmpl::Const(value.clone())
            } else {
                Tmpl::List(parts)
            }
        }
        Value::Object(map) => {
            let parts: Vec<(String, Tmpl)> = map
                .iter()
                .map(|(k, v)| {
                    (
                        k.clone(),
                        compile_param(templates, warnings, format!("{name}.{k}"), v),
                    )
                })
                .collect();
            if parts.iter().all(|(_, p)| matches!(p, Tmpl::Const(_))) {
                Tmpl::Const(value.clone())
            } else {
                Tmpl::Map(parts)
            }
        }
        _ => Tmpl::Const(value.clone()),
    }
}

#[cfg(test)]
#[path = "rule_tests.rs"]
mod tests;
