//! Jinja templates in rules: criteria patterns and action parameters.
//!
//! Owns the minijinja environment a rule's templates compile into, the
//! variables they see, and the one rule that matters most: **a template is
//! rendered once**. A payload field that contains `{{ 7*7 }}` reaches the
//! action as that text; nothing that comes out of a render is rendered
//! again (st2 renders parameter values recursively — a template-injection
//! hole drover does not have).
//!
//! Variables, the same for patterns and parameters:
//!
//! | name                    | value                                        |
//! |-------------------------|----------------------------------------------|
//! | `trigger`               | the trigger instance's payload               |
//! | `item`                  | inside a `search` criterion: the list item   |
//! | `kv`, `st2kv.system`    | the key-value store: `kv.maintenance.b7s01` reads the key `maintenance.b7s01`; a missing key renders as `""`, as in st2 |
//! | `st2kv.user`            | user-scoped keys ([`KvStore::get_user`]): the runtime decides whose |
//! | `config`, `config_context` | the rule's pack configuration             |
//!
//! Types: a string that is exactly one expression, `"{{ trigger.count }}"`,
//! keeps the expression's JSON type (a number stays a number, a list a
//! list, `none` is `null`); anything else (`"n={{ x }}"`, `{% if %}`
//! blocks) renders to a string. st2 gets the same effect for patterns with
//! its `to_complex` rewrite and for parameters by casting to the action's
//! schema; drover decides here, once, and the action's schema is checked
//! later by the scheduler. Strings without `{{` or `{%` are not templates.
//!
//! In parameters, undefined variables are errors (st2 uses
//! `StrictUndefined` there), except that `is defined` and `| default(…)`
//! work. In criteria patterns they render as `""`, as st2's pattern
//! rendering does, so such a criterion compares against the empty string
//! (and usually does not match) instead of making the rule unenforceable. Each render is bounded by
//! [`MAX_TEMPLATE_FUEL`]. Filters: minijinja's built-ins plus st2's
//! `to_json_string`, `to_complex`, `from_json_string`, `json_escape`,
//! `regex_match`, `regex_search`, `regex_replace`, `regex_substring`,
//! `basename` and `dirname`.

use std::fmt;
use std::sync::Arc;

use minijinja::value::{Object, ObjectRepr, Serde};
use minijinja::{Environment, Error, ErrorKind, UndefinedBehavior};
use serde_json::Value;

use crate::path::{KeyPath, Root};

/// Work allowed for one render (minijinja "fuel": about one unit per
/// instruction, or per 64 bytes allocated). Enough for loops over a few
/// thousand payload items; a runaway template stops with an error instead of
/// holding the rules engine.
pub const MAX_TEMPLATE_FUEL: u64 = 200_000;

/// The name the value of a one-expression template is captured under.
const CAPTURE: &str = "__drover_value";

/// Reads the key-value store for templates (`kv.*`, `st2kv.system.*`).
///
/// `pack` is the pack of the rule being rendered; the runtime decides which
/// scope that maps to. Implemented for closures.
pub trait KvStore: Send + Sync {
    /// The value of `key`, if set.
    fn get(&self, pack: &str, key: &str) -> Option<String>;

    /// The value of the user-scoped `key` (`st2kv.user.KEY`) for a rule of
    /// `pack`, if set. None by default.
    fn get_user(&self, pack: &str, key: &str) -> Option<String> {
        let _ = (pack, key);
        None
    }
}

impl<F: Fn(&str, &str) -> Option<String> + Send + Sync> KvStore for F {
    fn get(&self, pack: &str, key: &str) -> Option<String> {
        self(pack, key)
    }
}

/// Pack configurations for templates (`config.*`). Implemented for closures.
pub trait PackConfigs: Send + Sync {
    /// The configuration of `pack`, if it has one.
    fn config(&self, pack: &str) -> Option<Value>;
}

impl<F: Fn(&str) -> Option<Value> + Send + Sync> PackConfigs for F {
    fn config(&self, pack: &str) -> Option<Value> {
        self(pack)
    }
}

/// Whether `s` is a template (st2's test: it contains `{{` or `{%`).
pub fn is_template(s: &str) -> bool {
    s.contains("{{") || s.contains("{%")
}

/// The expression of a string that is exactly `{{ expr }}`, if it is one.
fn single_expression(source: &str) -> Option<&str> {
    let inner = source.strip_prefix("{{")?.strip_suffix("}}")?;
    let inner = inner.strip_prefix(['-', '+']).unwrap_or(inner);
    let inner = inner.strip_suffix(['-', '+']).unwrap_or(inner);
    let inner = inner.trim();
    if inner.is_empty()
        || ["{{", "}}", "{%", "%}", "{#"]
            .iter()
            .any(|m| inner.contains(m))
    {
        return None;
    }
    Some(inner)
}

/// A compiled template, named in its rule's environment.
#[derive(Clone, Debug)]
pub(crate) struct TemplateRef {
    name: String,
    /// The source as written.
    pub(crate) source: String,
    /// Exactly one expression: the result keeps its type.
    native: bool,
    /// The expression is a plain key path (`{{ trigger.node }}`): found
    /// values are read straight from the JSON, without the template engine.
    pub(crate) path: Option<KeyPath>,
    /// The rule set's memo slot for `path` (a `trigger` path), or
    /// `NO_SLOT`.
    pub(crate) slot: u32,
    /// A criterion's pattern: compiled in the lenient environment.
    lenient: bool,
}

/// The plain key path an expression is, if it is one: `trigger.a`,
/// `item['b']`, `trigger.list[0]` (no spaces, filters or variables).
fn plain_path(expr: &str) -> Option<KeyPath> {
    let (root, rest) = if let Some(rest) = expr.strip_prefix("trigger") {
        (Root::Trigger, rest)
    } else {
        (Root::Item, expr.strip_prefix("item")?)
    };
    let mut chars = rest.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '.' => {
                let first = chars.next()?;
                if !(first.is_ascii_alphabetic() || first == '_') {
                    return None;
                }
                while chars
                    .next_if(|c| c.is_ascii_alphanumeric() || *c == '_')
                    .is_some()
                {}
            }
            '[' => match chars.next()? {
                q @ ('\'' | '"') => {
                    while chars.next_if(|c| *c != q && *c != '\\').is_some() {}
                    chars.next().filter(|c| *c == q)?;
                    chars.next().filter(|c| *c == ']')?;
                }
                d if d.is_ascii_digit() => {
                    while chars.next_if(char::is_ascii_digit).is_some() {}
                    chars.next().filter(|c| *c == ']')?;
                }
                _ => return None,
            },
            _ => return None,
        }
    }
    KeyPath::parse(expr, root).ok()
}

/// One rule's compiled templates.
pub(crate) struct Templates {
    env: Environment<'static>,
    /// Criteria patterns: the same, but an undefined value renders as `""`
    /// (st2 renders patterns with jinja's default `Undefined`), so such a
    /// criterion simply does not match instead of making the rule
    /// unenforceable.
    patterns: Environment<'static>,
}

impl fmt::Debug for Templates {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let count = self.env.templates().count() + self.patterns.templates().count();
        f.debug_struct("Templates").field("count", &count).finish()
    }
}

/// An environment for rule templates with `undefined` behaviour.
fn environment(undefined: UndefinedBehavior) -> Environment<'static> {
    let mut env = Environment::new();
    env.set_undefined_behavior(undefined);
    env.set_auto_escape_callback(|_| minijinja::AutoEscape::None);
    env.set_fuel(Some(MAX_TEMPLATE_FUEL));
    env.set_syntax(
        minijinja::syntax::SyntaxConfig::builder()
            .trim_blocks(true)
            .lstrip_blocks(true)
            .build()
            .expect("the default delimiters are valid"),
    );
    filters::register(&mut env);
    env
}

impl Templates {
    pub(crate) fn new() -> Templates {
        Templates {
            env: environment(UndefinedBehavior::Strict),
            patterns: environment(UndefinedBehavior::Lenient),
        }
    }

    /// Compiles a parameter's `source` under `name` (e.g.
    /// `action.parameters.node`): an undefined value is an error.
    pub(crate) fn add(&mut self, name: String, source: &str) -> Result<TemplateRef, String> {
        compile(&mut self.env, name, source, false)
    }

    /// Compiles a criterion's pattern: an undefined value renders as `""`.
    pub(crate) fn add_pattern(
        &mut self,
        name: String,
        source: &str,
    ) -> Result<TemplateRef, String> {
        compile(&mut self.patterns, name, source, true)
    }

    /// Renders `t`. `payload` and `item` serve plain key paths; `vars`
    /// makes the template context (see [`Vars`]) when the engine is needed.
    pub(crate) fn render(
        &self,
        t: &TemplateRef,
        payload: &Value,
        item: Option<&Value>,
        vars: impl FnOnce() -> minijinja::Value,
    ) -> Result<Value, String> {
        if let Some(path) = &t.path {
            let root = match path.root() {
                Root::Trigger => Some(payload),
                Root::Item => item,
            };
            // A missing key goes the slow way, for minijinja's own answer
            // (it indexes strings, say) or its error.
            if let Some(found) = root.and_then(|r| path.resolve(r).found()) {
                return Ok(found.clone());
            }
        }
        let vars = vars();
        let env = if t.lenient { &self.patterns } else { &self.env };
        let template = env.get_template(&t.name).map_err(|e| describe(&e))?;
        if !t.native {
            return template
                .render(&vars)
                .map(Value::String)
                .map_err(|e| describe(&e));
        }
        let captured = template.render_captured(&vars).map_err(|e| describe(&e))?;
        let value = captured.state().lookup(CAPTURE).unwrap_or_default();
        if value.is_undefined() && t.lenient {
            return Ok(Value::String(String::new()));
        }
        if value.is_undefined() {
            let expr = single_expression(&t.source).unwrap_or(&t.source);
            return Err(format!(
                "undefined value: `{expr}` is not defined (in {})",
                t.name
            ));
        }
        serde_json::to_value(&value)
            .map_err(|e| format!("cannot turn the result into JSON: {e} (in {})", t.name))
    }
}

/// Compiles `source` under `name` into `env`.
fn compile(
    env: &mut Environment<'static>,
    name: String,
    source: &str,
    lenient: bool,
) -> Result<TemplateRef, String> {
    let (native, body) = match single_expression(source) {
        Some(expr) => (true, format!("{{% set {CAPTURE} = ({expr}) %}}")),
        None => (false, source.to_owned()),
    };
    let compiled = env.add_template_owned(name.clone(), body);
    let native = match (compiled, native) {
        (Ok(()), native) => native,
        // `{{ a }}{{ b }}`-like strings the quick test above took for one
        // expression: compile them as they are.
        (Err(_), true) => {
            env.add_template_owned(name.clone(), source.to_owned())
                .map_err(|e| describe(&e))?;
            false
        }
        (Err(e), false) => return Err(describe(&e)),
    };
    let path = native
        .then(|| single_expression(source).and_then(plain_path))
        .flatten();
    Ok(TemplateRef {
        name,
        source: source.to_owned(),
        native,
        path,
        slot: crate::rule::NO_SLOT,
        lenient,
    })
}

/// minijinja's message on one line: `kind: detail (in name:line)`.
fn describe(e: &Error) -> String {
    let mut text = e.to_string();
    if e.kind() == ErrorKind::UndefinedError && e.detail().is_none() {
        text = text.replacen(
            "undefined value",
            "undefined value (a missing key or variable; use `| default(…)` or `is defined`)",
            1,
        );
    }
    text
}

/// The variables of one render: built once per trigger instance and rule
/// pack, cloned cheaply (values are reference-counted).
#[derive(Clone, Debug)]
pub(crate) struct Vars {
    trigger: minijinja::Value,
    kv: KvVars,
    config: minijinja::Value,
}

/// `kv`/`st2kv.system` and `st2kv.user`.
#[derive(Clone, Debug)]
pub(crate) struct KvVars {
    system: minijinja::Value,
    user: minijinja::Value,
}

impl Vars {
    #[cfg(test)]
    pub(crate) fn new(
        payload: &Value,
        pack: &str,
        kv: Option<&Arc<dyn KvStore>>,
        configs: Option<&Arc<dyn PackConfigs>>,
    ) -> Vars {
        Vars {
            trigger: Self::payload(payload),
            kv: Self::kv(pack, kv),
            config: Self::config(pack, configs),
        }
    }

    /// The payload as a template value (converted once, then shared).
    pub(crate) fn payload(payload: &Value) -> minijinja::Value {
        minijinja::Value::from(Serde(payload))
    }

    pub(crate) fn kv(pack: &str, kv: Option<&Arc<dyn KvStore>>) -> KvVars {
        let namespace = |user| {
            minijinja::Value::from_object(KvNamespace {
                store: kv.cloned(),
                pack: pack.into(),
                prefix: String::new(),
                user,
            })
        };
        KvVars {
            system: namespace(false),
            user: namespace(true),
        }
    }

    pub(crate) fn config(pack: &str, configs: Option<&Arc<dyn PackConfigs>>) -> minijinja::Value {
        let config = configs
            .and_then(|c| c.config(pack))
            .unwrap_or_else(|| Value::Object(Default::default()));
        minijinja::Value::from(Serde(config))
    }

    pub(crate) fn from_parts(
        trigger: minijinja::Value,
        kv: KvVars,
        config: minijinja::Value,
    ) -> Vars {
        Vars {
            trigger,
            kv,
            config,
        }
    }

    /// The root context; `item` is set inside `search`.
    pub(crate) fn context(&self, item: Option<&Value>) -> minijinja::Value {
        let st2kv = minijinja::context! {
            system => self.kv.system.clone(),
            user => self.kv.user.clone(),
        };
        match item {
            None => minijinja::context! {
                trigger => self.trigger.clone(),
                kv => self.kv.system.clone(),
                st2kv => st2kv,
                config => self.config.clone(),
                config_context => self.config.clone(),
            },
            Some(item) => minijinja::context! {
                trigger => self.trigger.clone(),
                item => Serde(item),
                kv => self.kv.system.clone(),
                st2kv => st2kv,
                config => self.config.clone(),
                config_context => self.config.clone(),
            },
        }
    }
}

/// `kv` in templates: attribute access builds a dotted key, looked up in the
/// store; a missing key renders as `""` (st2's `KeyValueLookup`).
struct KvNamespace {
    store: Option<Arc<dyn KvStore>>,
    pack: Arc<str>,
    prefix: String,
    /// `st2kv.user`: read with [`KvStore::get_user`].
    user: bool,
}

impl fmt::Debug for KvNamespace {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "kv({:?})", self.prefix)
    }
}

impl Object for KvNamespace {
    fn repr(self: &Arc<Self>) -> ObjectRepr {
        ObjectRepr::Plain
    }

    fn get_value(self: &Arc<Self>, key: &minijinja::Value) -> Option<minijinja::Value> {
        let name = key.as_str()?;
        let full = if self.prefix.is_empty() {
            name.to_owned()
        } else {
            format!("{}.{name}", self.prefix)
        };
        let found = self.store.as_ref().and_then(|s| {
            if self.user {
                s.get_user(&self.pack, &full)
            } else {
                s.get(&self.pack, &full)
            }
        });
        if let Some(value) = found {
            return Some(minijinja::Value::from(value));
        }
        Some(minijinja::Value::from_object(KvNamespace {
            store: self.store.clone(),
            pack: self.pack.clone(),
            prefix: full,
            user: self.user,
        }))
    }

    fn is_true(self: &Arc<Self>) -> bool {
        false
    }

    fn render(self: &Arc<Self>, _f: &mut fmt::Formatter<'_>) -> fmt::Result {
        Ok(())
    }
}

/// st2's template filters that rules commonly use.
mod filters {
    use minijinja::value::{Rest, Value as JValue};
    use minijinja::{Environment, Error, ErrorKind};

    pub(super) fn register(env: &mut Environment<'static>) {
        env.add_filter("to_json_string", to_json_string);
        env.add_filter("to_complex", to_json_string);
        env.add_filter("from_json_string", from_json_string);
        env.add_filter("json_escape", json_escape);
        env.add_filter("regex_match", regex_match);
        env.add_filter("regex_search", regex_search);
        env.add_filter("regex_replace", regex_replace);
        env.add_filter("regex_substring", regex_substring);
        env.add_filter("basename", basename);
        env.add_filter("dirname", dirname);
    }

    fn invalid(message: String) -> Error {
        Error::new(ErrorKind::InvalidOperation, message)
    }

    fn to_json(value: &JValue) -> Result<String, Error> {
        serde_json::to_string(value).map_err(|e| invalid(format!("cannot serialize to JSON: {e}")))
    }

    fn to_json_string(value: JValue, _options: Rest<JValue>) -> Result<String, Error> {
        to_json(&value)
    }

    fn from_json_string(text: &str) -> Result<JValue, Error> {
        serde_json::from_str::<serde_json::Value>(text)
            .map(|v| JValue::from(minijinja::value::Serde(v)))
            .map_err(|e| invalid(format!("not JSON: {e}")))
    }

    fn json_escape(value: JValue) -> Result<String, Error> {
        Ok(to_json(&value)?.trim_matches('"').to_owned())
    }

    fn regex(pattern: &str) -> Result<regex::Regex, Error> {
        crate::operators::build_regex(pattern, false)
            .map_err(|e| invalid(format!("invalid regex {pattern:?}: {e}")))
    }

    fn regex_match(value: &str, pattern: &str) -> Result<bool, Error> {
        let r = regex(&format!(r"\A(?:{pattern})"))?;
        Ok(r.is_match(value))
    }

    fn regex_search(value: &str, pattern: &str) -> Result<bool, Error> {
        Ok(regex(pattern)?.is_match(value))
    }

    /// Python's `re.sub`: `\1` and `\g<name>` in the replacement.
    fn regex_replace(value: &str, pattern: &str, replacement: &str) -> Result<String, Error> {
        let mut rust = String::new();
        let mut chars = replacement.chars().peekable();
        while let Some(c) = chars.next() {
            match c {
                '$' => rust.push_str("$$"),
                '\\' => match chars.peek().copied() {
                    Some(d) if d.is_ascii_digit() => {
                        let mut n = String::new();
                        while let Some(d) = chars.peek().copied().filter(char::is_ascii_digit) {
                            n.push(d);
                            chars.next();
                        }
                        rust.push_str(&format!("${{{n}}}"));
                    }
                    Some('g') => {
                        chars.next();
                        let mut name = String::new();
                        if chars.next_if_eq(&'<').is_some() {
                            for d in chars.by_ref() {
                                if d == '>' {
                                    break;
                                }
                                name.push(d);
                            }
                        }
                        rust.push_str(&format!("${{{name}}}"));
                    }
                    Some('n') => {
                        chars.next();
                        rust.push('\n');
                    }
                    Some('t') => {
                        chars.next();
                        rust.push('\t');
                    }
                    Some('\\') => {
                        chars.next();
                        rust.push('\\');
                    }
                    _ => rust.push('\\'),
                },
                c => rust.push(c),
            }
        }
        Ok(regex(pattern)?
            .replace_all(value, rust.as_str())
            .into_owned())
    }

    /// Python's `re.findall(pattern, value)[index]`.
    fn regex_substring(value: &str, pattern: &str, index: Option<usize>) -> Result<String, Error> {
        let r = regex(pattern)?;
        let index = index.unwrap_or(0);
        r.captures_iter(value)
            .nth(index)
            .map(|c| {
                c.get(1)
                    .or_else(|| c.get(0))
                    .map_or(String::new(), |m| m.as_str().to_owned())
            })
            .ok_or_else(|| {
                invalid(format!(
                    "regex_substring: no match number {index} of {pattern:?} in {value:?}"
                ))
            })
    }

    /// Python's `os.path.basename`.
    fn basename(path: &str) -> String {
        path.rsplit('/').next().unwrap_or("").to_owned()
    }

    /// Python's `os.path.dirname`.
    fn dirname(path: &str) -> String {
        match path.rfind('/') {
            None => String::new(),
            Some(i) => {
                let head = &path[..=i];
                if head.bytes().all(|b| b == b'/') {
                    head.to_owned()
                } else {
                    head.trim_end_matches('/').to_owned()
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn render(source: &str, payload: Value) -> Result<Value, String> {
        let mut t = Templates::new();
        let r = t.add("t".into(), source)?;
        let kv: Arc<dyn KvStore> = Arc::new(|_: &str, key: &str| match key {
            "maintenance.b7s01" => Some("true".to_owned()),
            "greeting" => Some("{{ 6*7 }}".to_owned()),
            _ => None,
        });
        let configs: Arc<dyn PackConfigs> =
            Arc::new(|pack: &str| (pack == "batchops").then(|| json!({"region": "eu"})));
        let vars = Vars::new(&payload, "batchops", Some(&kv), Some(&configs));
        t.render(&r, &payload, None, || vars.context(None))
    }

    #[test]
    fn plain_paths_skip_the_engine_with_the_same_result() {
        for (expr, plain) in [
            ("trigger.a", true),
            ("trigger.a.b_2", true),
            ("trigger['x-y']", true),
            ("trigger[\"x y\"].z", true),
            ("trigger.list[10]", true),
            ("item.name", true),
            ("trigger.a | upper", false),
            ("trigger[name]", false),
            ("trigger.*", false),
            ("trigger. a", false),
            ("trigger.a[-1]", false),
            ("triggers.a", false),
            ("kv.a", false),
        ] {
            assert_eq!(plain_path(expr).is_some(), plain, "{expr}");
        }
        let p =
            json!({"a": {"b": [1, {"c": "d"}]}, "s": "xyz", "n": null, "f": 1.0, "big": u64::MAX});
        for source in [
            "{{ trigger.a }}",
            "{{ trigger.a.b[1] }}",
            "{{ trigger.n }}",
            "{{ trigger.f }}",
            "{{ trigger.big }}",
            "{{ trigger.s[0] }}",
        ] {
            let mut slow = Templates::new();
            let mut r = slow.add("t".into(), source).unwrap();
            let fast = render(source, p.clone());
            r.path = None;
            let vars = Vars::new(&p, "x", None, None);
            assert_eq!(
                slow.render(&r, &p, None, || vars.context(None)),
                fast,
                "{source}"
            );
        }
        assert_eq!(render("{{ trigger.s[0] }}", p.clone()), Ok(json!("x")));
        assert!(render("{{ trigger.missing }}", p).is_err());
    }

    #[test]
    fn one_expression_keeps_its_type() {
        let p = json!({"count": 5, "node": "b7s01", "list": [1, 2], "none": null, "f": 1.5});
        assert_eq!(render("{{ trigger.count }}", p.clone()), Ok(json!(5)));
        assert_eq!(render("{{trigger.count}}", p.clone()), Ok(json!(5)));
        assert_eq!(render("{{- trigger.count -}}", p.clone()), Ok(json!(5)));
        assert_eq!(render("{{ trigger.list }}", p.clone()), Ok(json!([1, 2])));
        assert_eq!(render("{{ trigger.none }}", p.clone()), Ok(json!(null)));
        assert_eq!(render("{{ trigger.f }}", p.clone()), Ok(json!(1.5)));
        assert_eq!(
            render("{{ trigger.count > 3 }}", p.clone()),
            Ok(json!(true))
        );
        assert_eq!(render("{{ trigger }}", p.clone()), Ok(p.clone()));
        assert_eq!(render("n={{ trigger.count }}", p.clone()), Ok(json!("n=5")));
        assert_eq!(render(" {{ trigger.count }}", p.clone()), Ok(json!(" 5")));
        assert_eq!(
            render("{{ trigger.count }}{{ trigger.node }}", p.clone()),
            Ok(json!("5b7s01"))
        );
        assert_eq!(render("{{ '}}' }}", p.clone()), Ok(json!("}}")));
        assert_eq!(
            render("{% if trigger.count > 3 %}big{% endif %}", p),
            Ok(json!("big"))
        );
    }

    #[test]
    fn payload_text_is_never_rendered_again() {
        let p = json!({"msg": "{{ 7*7 }}", "cmd": "{% for x in range(3) %}x{% endfor %}"});
        assert_eq!(
            render("{{ trigger.msg }}", p.clone()),
            Ok(json!("{{ 7*7 }}"))
        );
        assert_eq!(
            render("say {{ trigger.msg }}", p.clone()),
            Ok(json!("say {{ 7*7 }}"))
        );
        assert_eq!(render("{{ trigger.cmd }}", p.clone()), Ok(p["cmd"].clone()));
        assert_eq!(render("{{ trigger }}", p.clone()), Ok(p.clone()));
        // Nor a value from the key-value store.
        assert_eq!(render("{{ kv.greeting }}", p), Ok(json!("{{ 6*7 }}")));
    }

    #[test]
    fn undefined_is_an_error_unless_defaulted() {
        let p = json!({"node": "b7s01"});
        let e = render("{{ trigger.missing }}", p.clone()).unwrap_err();
        assert!(e.contains("undefined value"), "{e}");
        let e = render("x {{ trigger.missing }}", p.clone()).unwrap_err();
        assert!(e.contains("undefined value"), "{e}");
        let e = render("{{ trigger.missing.deeper }}", p.clone()).unwrap_err();
        assert!(e.contains("undefined"), "{e}");
        assert_eq!(
            render("{{ trigger.missing | default('x') }}", p.clone()),
            Ok(json!("x"))
        );
        assert_eq!(
            render(
                "{{ 'y' if trigger.missing is defined else 'n' }}",
                p.clone()
            ),
            Ok(json!("n"))
        );
        assert!(render("{{ nothing }}", p).is_err());
    }

    #[test]
    fn st2kv_user_reads_the_user_scope_the_runtime_picks() {
        struct Scoped;
        impl KvStore for Scoped {
            fn get(&self, _pack: &str, key: &str) -> Option<String> {
                (key == "k").then(|| "system".to_owned())
            }
            fn get_user(&self, pack: &str, key: &str) -> Option<String> {
                (key == "k").then(|| format!("user of {pack}"))
            }
        }
        let kv: Arc<dyn KvStore> = Arc::new(Scoped);
        let mut t = Templates::new();
        let payload = json!({});
        let r = t
            .add(
                "t".into(),
                "{{ st2kv.user.k }}|{{ st2kv.system.k }}|{{ kv.k }}|[{{ st2kv.user.other }}]",
            )
            .unwrap();
        let vars = Vars::new(&payload, "ops", Some(&kv), None);
        assert_eq!(
            t.render(&r, &payload, None, || vars.context(None)),
            Ok(json!("user of ops|system|system|[]"))
        );
    }

    #[test]
    fn kv_and_config() {
        let p = json!({"node": "b7s01"});
        assert_eq!(
            render("{{ kv.maintenance.b7s01 }}", p.clone()),
            Ok(json!("true"))
        );
        assert_eq!(
            render("{{ st2kv.system.maintenance.b7s01 }}", p.clone()),
            Ok(json!("true"))
        );
        assert_eq!(
            render("{{ kv.maintenance[trigger.node] }}", p.clone()),
            Ok(json!("true"))
        );
        assert_eq!(
            render("{{ kv.maintenance.b7s02 }}", p.clone()),
            Ok(json!(""))
        );
        assert_eq!(render("[{{ kv.nothing }}]", p.clone()), Ok(json!("[]")));
        assert_eq!(
            render("{{ 'on' if kv.nothing else 'off' }}", p.clone()),
            Ok(json!("off"))
        );
        assert_eq!(render("{{ config.region }}", p.clone()), Ok(json!("eu")));
        assert_eq!(render("{{ config_context.region }}", p), Ok(json!("eu")));
    }

    #[test]
    fn st2_filters() {
        let p = json!({"a": {"b": [1, "x"]}, "path": "/var/log/syslog", "s": "node-42 up"});
        assert_eq!(
            render("{{ trigger.a | to_json_string }}", p.clone()),
            Ok(json!(r#"{"b":[1,"x"]}"#))
        );
        assert_eq!(
            render(
                "{{ (trigger.a | to_json_string | from_json_string).b[1] }}",
                p.clone()
            ),
            Ok(json!("x"))
        );
        assert_eq!(
            render("{{ trigger.path | basename }}", p.clone()),
            Ok(json!("syslog"))
        );
        assert_eq!(
            render("{{ trigger.path | dirname }}", p.clone()),
            Ok(json!("/var/log"))
        );
        assert_eq!(
            render("{{ trigger.s | regex_match('node') }}", p.clone()),
            Ok(json!(true))
        );
        assert_eq!(
            render("{{ trigger.s | regex_match('up') }}", p.clone()),
            Ok(json!(false))
        );
        assert_eq!(
            render("{{ trigger.s | regex_search('up') }}", p.clone()),
            Ok(json!(true))
        );
        assert_eq!(
            render(
                r"{{ trigger.s | regex_replace('node-(\\d+)', 'n\\1') }}",
                p.clone()
            ),
            Ok(json!("n42 up"))
        );
        assert_eq!(
            render(r"{{ trigger.s | regex_substring('(\\d+)') }}", p.clone()),
            Ok(json!("42"))
        );
        assert_eq!(render("{{ 'a\"b' | json_escape }}", p), Ok(json!("a\\\"b")));
    }

    #[test]
    fn no_html_escaping_and_bounded_work() {
        let p = json!({"s": "<b>&</b>"});
        assert_eq!(
            render("x{{ trigger.s }}", p.clone()),
            Ok(json!("x<b>&</b>"))
        );
        let e = render(
            "{% for i in range(100000) %}{% for j in range(100) %}x{% endfor %}{% endfor %}",
            p,
        )
        .unwrap_err();
        assert!(e.contains("fuel"), "{e}");
    }

    #[test]
    fn syntax_errors_are_reported() {
        let mut t = Templates::new();
        let e = t
            .add("action.parameters.x".into(), "{{ trigger.x ")
            .unwrap_err();
        assert!(e.contains("action.parameters.x"), "{e}");
    }
}
