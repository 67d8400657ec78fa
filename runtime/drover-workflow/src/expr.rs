//! Expressions: Orquesta's Jinja dialect on minijinja, compiled once.
//!
//! A workflow value is a string that may hold `{{ expression }}`s (or
//! `{% block %}` statements). [`Template::compile`] parses it once, at load:
//!
//! | text                        | result                                        |
//! |-----------------------------|-----------------------------------------------|
//! | `hello`                     | the string, as is                             |
//! | `{{ ctx('x') }}`            | the expression's value, native type kept      |
//! | `a {{ x }} b {{ y }}`       | a string; each value printed (see below)      |
//! | anything with `{% ... %}`   | the template rendered as a string             |
//!
//! Values interpolated into a longer string print as Orquesta (Python)
//! prints them for scalars (`True`, `False`, `None`, `1.0`) and as JSON for
//! lists and mappings.
//!
//! **Render once.** The result of rendering is data: a string produced by an
//! expression (an action result, a published variable, a runtime input) is
//! never looked at for `{{ }}` again. Upstream Orquesta re-renders strings
//! recursively; drover deliberately does not (a template-injection hole).
//!
//! The functions are Orquesta's: `ctx()`/`ctx(name)`, `result()`,
//! `item()`/`item(key)`, `succeeded()`, `failed()`, `completed()`,
//! `task_status(task_id)`, plus `json(text)` and `zip(a, b, pad=...)` (also
//! as filters). As upstream, variables are reached through `ctx()` only and
//! anything undefined is an error. Evaluation reads a [`Scope`]; the
//! conductor builds one per evaluation out of shared (`Arc`) data, so an
//! evaluation costs nothing proportional to the size of the workflow.
//!
//! **Bounded work.** Every evaluation gets [`MAX_EXPRESSION_FUEL`] units of
//! minijinja fuel (about one per instruction and one per 64 bytes of data
//! made): an expression from a hostile pack (nested `{% for %}` loops, a
//! string multiplied a billion times) fails with a clear error instead of
//! holding a worker forever, in dry runs as in real ones.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::{Arc, LazyLock};

use minijinja::value::{Enumerator, Object, ObjectRepr, Rest, Value};
use minijinja::{Environment, Error, ErrorKind, Expression, State, UndefinedBehavior};
use serde_json::Map;

use crate::status::Status;

/// A JSON object (the data model of contexts, inputs and results).
pub type JsonMap = Map<String, serde_json::Value>;

/// An expression failed to parse or to evaluate.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct ExprError {
    /// The offending source text (one `{{ }}` or the whole template).
    pub expression: String,
    /// What went wrong.
    pub message: String,
}

/// Work allowed for one evaluation (minijinja fuel): about one unit per
/// instruction and per 64 bytes of data the expression makes. A loop over
/// a few thousand items fits easily; an unbounded one stops in well under
/// a second.
pub const MAX_EXPRESSION_FUEL: u64 = 500_000;

/// The shared environment for expressions: Orquesta's functions, strict
/// undefined values, no auto-escaping.
static ENV: LazyLock<Environment<'static>> = LazyLock::new(new_env);

fn new_env() -> Environment<'static> {
    let mut env = Environment::new();
    env.set_undefined_behavior(UndefinedBehavior::Strict);
    env.set_auto_escape_callback(|_| minijinja::AutoEscape::None);
    env.set_fuel(Some(MAX_EXPRESSION_FUEL));
    env.add_function("ctx", fn_ctx);
    env.add_function("result", fn_result);
    env.add_function("item", fn_item);
    env.add_function("succeeded", fn_succeeded);
    env.add_function("failed", fn_failed);
    env.add_function("completed", fn_completed);
    env.add_function("task_status", fn_task_status);
    env.add_function("json", fn_json);
    env.add_function("zip", fn_zip);
    env.add_filter("json", fn_json);
    env.add_filter("zip", fn_zip);
    env
}

/// The names callable in expressions (for validation hints).
pub const FUNCTIONS: [&str; 9] = [
    "ctx",
    "result",
    "item",
    "succeeded",
    "failed",
    "completed",
    "task_status",
    "json",
    "zip",
];

/// A compiled string value. Cheap to clone.
#[derive(Clone)]
pub struct Template(Arc<Inner>);

struct Inner {
    source: String,
    kind: Kind,
}

enum Kind {
    Literal,
    /// `{{ succeeded() }}`, `{{ failed() }}`, `{{ completed() }}`: by far the
    /// most common conditions, answered without running the VM.
    Status(String, fn(Option<Status>) -> bool),
    Single(String, Expression<'static, 'static>),
    Interp(Vec<Part>),
    Block(Environment<'static>),
}

enum Part {
    Text(String),
    Expr(String, Expression<'static, 'static>),
}

impl fmt::Debug for Template {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("Template").field(&self.0.source).finish()
    }
}

impl Template {
    /// Parses `source` once. Errors name the first bad expression.
    pub fn compile(source: &str) -> Result<Template, ExprError> {
        let kind = if source.contains("{%") {
            let mut env = new_env();
            env.add_template_owned("block", source.to_string())
                .map_err(|e| ExprError {
                    expression: source.to_string(),
                    message: describe(&e),
                })?;
            Kind::Block(env)
        } else {
            let mut parts = Vec::new();
            let mut rest = source;
            while let Some(start) = rest.find("{{") {
                let Some(len) = rest[start + 2..].find("}}") else {
                    return Err(ExprError {
                        expression: rest[start..].to_string(),
                        message: "unclosed expression: `{{` without `}}`".into(),
                    });
                };
                if start > 0 {
                    parts.push(Part::Text(rest[..start].to_string()));
                }
                let whole = &rest[start..start + 2 + len + 2];
                let inner = rest[start + 2..start + 2 + len].trim();
                let compiled = compile_expression(whole, inner)?;
                parts.push(Part::Expr(whole.to_string(), compiled));
                rest = &rest[start + 2 + len + 2..];
            }
            if !rest.is_empty() {
                parts.push(Part::Text(rest.to_string()));
            }
            match parts.len() {
                0 => Kind::Literal,
                1 if matches!(parts[0], Part::Text(_)) => Kind::Literal,
                1 => match parts.pop() {
                    Some(Part::Expr(src, e)) => {
                        let inner = inner_of(&src).to_string();
                        match inner.as_str() {
                            "succeeded()" => Kind::Status(inner, |s| s == Some(Status::Succeeded)),
                            "failed()" => Kind::Status(inner, |s| s == Some(Status::Failed)),
                            "completed()" => {
                                Kind::Status(inner, |s| s.is_some_and(Status::is_completed))
                            }
                            _ => Kind::Single(inner, e),
                        }
                    }
                    _ => unreachable!("checked above"),
                },
                _ => Kind::Interp(parts),
            }
        };
        Ok(Template(Arc::new(Inner {
            source: source.to_string(),
            kind,
        })))
    }

    /// A template for `{{ <expression> }}`.
    pub fn expression(expression: &str) -> Result<Template, ExprError> {
        Template::compile(&format!("{{{{ {expression} }}}}"))
    }

    /// The source text.
    pub fn source(&self) -> &str {
        &self.0.source
    }

    /// Whether the text holds any expression.
    pub fn is_literal(&self) -> bool {
        matches!(self.0.kind, Kind::Literal)
    }

    /// The source of each `{{ }}` expression (inner text, trimmed).
    pub fn expressions(&self) -> Vec<&str> {
        match &self.0.kind {
            Kind::Literal | Kind::Block(_) => Vec::new(),
            Kind::Single(src, _) | Kind::Status(src, _) => vec![src.as_str()],
            Kind::Interp(parts) => parts
                .iter()
                .filter_map(|p| match p {
                    Part::Expr(src, _) => Some(inner_of(src)),
                    Part::Text(_) => None,
                })
                .collect(),
        }
    }

    /// Evaluates in `scope`. A single whole-string expression keeps its type.
    pub fn eval(&self, scope: &Scope) -> Result<serde_json::Value, ExprError> {
        match &self.0.kind {
            Kind::Literal => Ok(serde_json::Value::String(self.0.source.clone())),
            Kind::Status(_, test) => match &scope.task {
                Some(task) => Ok(serde_json::Value::Bool(test(task.status))),
                None => Err(ExprError {
                    expression: self.0.source.clone(),
                    message: format!(
                        "Unable to evaluate expression '{}'. invalid operation: the current task is not set in the context",
                        self.0.source
                    ),
                }),
            },
            Kind::Single(_, e) => {
                let v = e
                    .eval(scope.to_value())
                    .map_err(|err| self.eval_error(&err))?;
                to_json(&v).map_err(|err| self.eval_error(&err))
            }
            Kind::Interp(parts) => {
                let root = scope.to_value();
                let mut out = String::new();
                for part in parts {
                    match part {
                        Part::Text(t) => out.push_str(t),
                        Part::Expr(src, e) => {
                            let v = e.eval(root.clone()).map_err(|err| err_for(src, &err))?;
                            let j = to_json(&v).map_err(|err| err_for(src, &err))?;
                            out.push_str(&display(&j));
                        }
                    }
                }
                Ok(serde_json::Value::String(out))
            }
            Kind::Block(env) => {
                let tmpl = env
                    .get_template("block")
                    .map_err(|err| self.eval_error(&err))?;
                tmpl.render(scope.to_value())
                    .map(serde_json::Value::String)
                    .map_err(|err| self.eval_error(&err))
            }
        }
    }

    fn eval_error(&self, err: &Error) -> ExprError {
        err_for(&self.0.source, err)
    }
}

/// The inner text of `{{ inner }}`, trimmed.
fn inner_of(whole: &str) -> &str {
    whole
        .strip_prefix("{{")
        .and_then(|w| w.strip_suffix("}}"))
        .unwrap_or(whole)
        .trim()
}

/// The variables an expression reads that it does not define (function
/// names included), for validation.
pub(crate) fn undeclared_names(expr: &str) -> Vec<String> {
    match ENV.compile_expression(expr) {
        Ok(e) => {
            let mut names: Vec<String> = e.undeclared_variables(false).into_iter().collect();
            names.sort();
            names
        }
        Err(_) => Vec::new(),
    }
}

fn compile_expression(whole: &str, inner: &str) -> Result<Expression<'static, 'static>, ExprError> {
    if inner.is_empty() {
        return Err(ExprError {
            expression: whole.to_string(),
            message: "empty expression".into(),
        });
    }
    ENV.compile_expression_owned(inner.to_string())
        .map_err(|e| ExprError {
            expression: whole.to_string(),
            message: describe(&e),
        })
}

fn err_for(src: &str, err: &Error) -> ExprError {
    ExprError {
        expression: src.to_string(),
        message: format!("Unable to evaluate expression '{src}'. {}", describe(err)),
    }
}

/// A one-line description of a minijinja error, without the template name.
fn describe(err: &Error) -> String {
    if err.kind() == ErrorKind::OutOfFuel {
        return format!(
            "out of fuel: the expression did more work than the {MAX_EXPRESSION_FUEL} units \
             one evaluation may use (a loop over a huge or nested range?); simplify it, or do \
             the work in an action"
        );
    }
    let mut msg = match err.detail() {
        Some(detail) => format!("{}: {detail}", err.kind()),
        None => err.kind().to_string(),
    };
    if let Some(line) = err.line().filter(|l| *l > 1) {
        msg.push_str(&format!(" (line {line})"));
    }
    let mut source = std::error::Error::source(err);
    while let Some(cause) = source {
        msg.push_str(&format!(": {cause}"));
        source = cause.source();
    }
    msg
}

/// How a value prints inside a longer string: Python's `str()` for scalars,
/// JSON for lists and mappings.
pub fn display(v: &serde_json::Value) -> String {
    match v {
        serde_json::Value::String(s) => s.clone(),
        serde_json::Value::Null => "None".into(),
        serde_json::Value::Bool(true) => "True".into(),
        serde_json::Value::Bool(false) => "False".into(),
        serde_json::Value::Number(n) => match n.as_f64() {
            Some(f) if n.is_f64() && f.is_finite() && f.fract() == 0.0 && f.abs() < 1e16 => {
                format!("{f:.1}")
            }
            _ => n.to_string(),
        },
        other => other.to_string(),
    }
}

/// A value tree whose strings may be templates (task input, publish, output).
#[derive(Debug, Clone)]
pub enum TValue {
    /// No expression anywhere below: returned as is.
    Const(serde_json::Value),
    /// A string with expressions.
    Str(Template),
    /// A list with at least one template below.
    List(Vec<TValue>),
    /// A mapping with at least one template below (keys may be templates).
    Map(Vec<(Template, TValue)>),
}

impl TValue {
    /// Compiles every string in `v`. Errors (all of them) carry the path
    /// below `v` (`""` for `v` itself, `.key`, `[0]`).
    pub fn compile(v: &serde_json::Value) -> Result<TValue, Vec<(String, ExprError)>> {
        let mut errors = Vec::new();
        let tv = TValue::compile_into(v, String::new(), &mut errors);
        if errors.is_empty() {
            Ok(tv)
        } else {
            Err(errors)
        }
    }

    /// Like [`TValue::compile`], but also returns what compiled (bad
    /// strings kept as literals), so validation can go on.
    pub(crate) fn compile_lossy(v: &serde_json::Value) -> (TValue, Vec<(String, ExprError)>) {
        let mut errors = Vec::new();
        let tv = TValue::compile_into(v, String::new(), &mut errors);
        (tv, errors)
    }

    fn compile_into(
        v: &serde_json::Value,
        path: String,
        errors: &mut Vec<(String, ExprError)>,
    ) -> TValue {
        match v {
            serde_json::Value::String(s) => match Template::compile(s) {
                Ok(t) if t.is_literal() => TValue::Const(v.clone()),
                Ok(t) => TValue::Str(t),
                Err(e) => {
                    errors.push((path, e));
                    TValue::Const(v.clone())
                }
            },
            serde_json::Value::Array(items) => {
                let out: Vec<TValue> = items
                    .iter()
                    .enumerate()
                    .map(|(i, item)| TValue::compile_into(item, format!("{path}[{i}]"), errors))
                    .collect();
                if out.iter().all(|t| matches!(t, TValue::Const(_))) {
                    TValue::Const(v.clone())
                } else {
                    TValue::List(out)
                }
            }
            serde_json::Value::Object(map) => {
                let mut out = Vec::with_capacity(map.len());
                let mut all_const = true;
                for (k, item) in map {
                    let key = match Template::compile(k) {
                        Ok(t) => t,
                        Err(e) => {
                            errors.push((format!("{path}.{k}"), e));
                            continue;
                        }
                    };
                    let val = TValue::compile_into(item, format!("{path}.{k}"), errors);
                    all_const &= key.is_literal() && matches!(val, TValue::Const(_));
                    out.push((key, val));
                }
                if all_const {
                    TValue::Const(v.clone())
                } else {
                    TValue::Map(out)
                }
            }
            _ => TValue::Const(v.clone()),
        }
    }

    /// Evaluates every template below, once.
    pub fn eval(&self, scope: &Scope) -> Result<serde_json::Value, ExprError> {
        match self {
            TValue::Const(v) => Ok(v.clone()),
            TValue::Str(t) => t.eval(scope),
            TValue::List(items) => items
                .iter()
                .map(|i| i.eval(scope))
                .collect::<Result<Vec<_>, _>>()
                .map(Into::into),
            TValue::Map(entries) => {
                let mut out = JsonMap::new();
                for (k, v) in entries {
                    let key = match k.eval(scope)? {
                        serde_json::Value::String(s) => s,
                        other => display(&other),
                    };
                    out.insert(key, v.eval(scope)?);
                }
                Ok(serde_json::Value::Object(out))
            }
        }
    }

    /// Every template below, with its path (for validation).
    pub fn templates(&self) -> Vec<(String, &Template)> {
        let mut out = Vec::new();
        self.collect(String::new(), &mut out);
        out
    }

    fn collect<'a>(&'a self, path: String, out: &mut Vec<(String, &'a Template)>) {
        match self {
            TValue::Const(_) => {}
            TValue::Str(t) => out.push((path, t)),
            TValue::List(items) => {
                for (i, item) in items.iter().enumerate() {
                    item.collect(format!("{path}[{i}]"), out);
                }
            }
            TValue::Map(entries) => {
                for (k, v) in entries {
                    if !k.is_literal() {
                        out.push((format!("{path}.{}", k.source()), k));
                    }
                    v.collect(format!("{path}.{}", k.source()), out);
                }
            }
        }
    }
}

/// Answers `task_status(task_id, route)` from the conductor's state.
pub trait StatusLookup: fmt::Debug + Send + Sync {
    /// The status of the latest entry of `task_id` on `route` (or on the
    /// route it split from, as upstream); `None` when never run.
    fn task_status(&self, task_id: &str, route: u32) -> Option<Status>;
}

/// The task an expression is evaluated for.
#[derive(Debug, Clone)]
pub struct CurrentTask {
    pub id: Arc<str>,
    pub route: u32,
    pub status: Option<Status>,
    /// `Some` once the task completed (`result()`).
    pub result: Option<Arc<serde_json::Value>>,
}

/// Everything an evaluation can see. Built per evaluation from shared data.
#[derive(Debug, Clone, Default)]
pub struct Scope {
    /// The context variables (`ctx()`).
    pub vars: Arc<JsonMap>,
    /// Variables published earlier in the same transition; they shadow `vars`.
    pub overlay: Option<Arc<JsonMap>>,
    /// The current task, if any (`result()`, `succeeded()`, ...).
    pub task: Option<CurrentTask>,
    /// The current with-items item (`item()`).
    pub item: Option<serde_json::Value>,
    /// The workflow's task statuses (`task_status()`).
    pub statuses: Option<Arc<dyn StatusLookup>>,
}

impl Scope {
    /// A scope with only variables.
    pub fn with_vars(vars: Arc<JsonMap>) -> Scope {
        Scope {
            vars,
            ..Scope::default()
        }
    }

    fn to_value(&self) -> Value {
        Value::from_object(self.clone())
    }

    fn lookup_var(&self, key: &str) -> Option<&serde_json::Value> {
        self.overlay
            .as_ref()
            .and_then(|o| o.get(key))
            .or_else(|| self.vars.get(key))
    }
}

const SCOPE_KEY: &str = "__scope";

impl Object for Scope {
    fn get_value(self: &Arc<Self>, key: &Value) -> Option<Value> {
        (key.as_str() == Some(SCOPE_KEY)).then(|| Value::from_dyn_object(self.clone()))
    }

    fn enumerate(self: &Arc<Self>) -> Enumerator {
        Enumerator::Empty
    }
}

/// `ctx()` without arguments: a read-only view of the variables.
#[derive(Debug)]
struct VarsView(Scope);

impl Object for VarsView {
    fn repr(self: &Arc<Self>) -> ObjectRepr {
        ObjectRepr::Map
    }

    fn get_value(self: &Arc<Self>, key: &Value) -> Option<Value> {
        self.0.lookup_var(key.as_str()?).map(to_mj)
    }

    fn enumerate(self: &Arc<Self>) -> Enumerator {
        let mut keys: Vec<Value> = self
            .0
            .vars
            .keys()
            .map(|k| Value::from(k.as_str()))
            .collect();
        if let Some(overlay) = &self.0.overlay {
            keys.extend(
                overlay
                    .keys()
                    .filter(|k| !self.0.vars.contains_key(*k))
                    .map(|k| Value::from(k.as_str())),
            );
        }
        Enumerator::Values(keys)
    }
}

fn scope(state: &State) -> Result<Arc<Scope>, Error> {
    state
        .lookup(SCOPE_KEY)
        .and_then(|v| v.downcast_object::<Scope>())
        .ok_or_else(|| Error::new(ErrorKind::InvalidOperation, "the context is not set"))
}

fn fail(msg: impl Into<String>) -> Error {
    Error::new(ErrorKind::InvalidOperation, msg.into())
}

fn current_task(s: &Scope) -> Result<&CurrentTask, Error> {
    s.task
        .as_ref()
        .ok_or_else(|| fail("the current task is not set in the context"))
}

fn fn_ctx(state: &State, key: Option<String>) -> Result<Value, Error> {
    let s = scope(state)?;
    match key {
        None => Ok(Value::from_object(VarsView((*s).clone()))),
        Some(key) if key.starts_with("__") => Err(fail(format!(
            "the variable \"{key}\" is for internal use and inaccessible"
        ))),
        Some(key) => s
            .lookup_var(&key)
            .map(to_mj)
            .ok_or_else(|| fail(format!("the variable \"{key}\" is undefined"))),
    }
}

fn fn_result(state: &State) -> Result<Value, Error> {
    let s = scope(state)?;
    let task = current_task(&s)?;
    Ok(task.result.as_deref().map_or(Value::from(()), to_mj))
}

fn fn_item(state: &State, key: Option<String>) -> Result<Value, Error> {
    let s = scope(state)?;
    let item = s.item.as_ref();
    match key {
        None => Ok(item.map_or(Value::from(()), to_mj)),
        Some(key) => match item {
            Some(serde_json::Value::Object(map)) => map
                .get(&key)
                .map(to_mj)
                .ok_or_else(|| fail(format!("item does not have key \"{key}\""))),
            _ => Err(fail("item is not a mapping")),
        },
    }
}

fn current_status(state: &State) -> Result<Option<Status>, Error> {
    let s = scope(state)?;
    Ok(current_task(&s)?.status)
}

fn fn_succeeded(state: &State) -> Result<bool, Error> {
    Ok(current_status(state)? == Some(Status::Succeeded))
}

fn fn_failed(state: &State) -> Result<bool, Error> {
    Ok(current_status(state)? == Some(Status::Failed))
}

fn fn_completed(state: &State) -> Result<bool, Error> {
    Ok(current_status(state)?.is_some_and(Status::is_completed))
}

fn fn_task_status(state: &State, task_id: String, route: Option<u32>) -> Result<String, Error> {
    let s = scope(state)?;
    let route = route.or(s.task.as_ref().map(|t| t.route)).unwrap_or(0);
    let status = match &s.statuses {
        Some(lookup) => lookup.task_status(&task_id, route),
        None => None,
    };
    Ok(crate::status::opt_str(status).to_string())
}

fn fn_json(value: Value) -> Result<Value, Error> {
    if value.kind() == minijinja::value::ValueKind::Map {
        return Ok(value);
    }
    let text = value
        .as_str()
        .ok_or_else(|| fail("given object is not a string"))?;
    let parsed: serde_json::Value =
        serde_json::from_str(text).map_err(|e| fail(format!("invalid JSON: {e}")))?;
    Ok(to_mj(&parsed))
}

fn fn_zip(args: Rest<Value>, kwargs: minijinja::value::Kwargs) -> Result<Value, Error> {
    let pad: Option<Value> = kwargs.get("pad")?;
    kwargs.assert_all_used()?;
    let lists: Vec<Vec<Value>> = args
        .iter()
        .map(|a| {
            if a.is_none() || a.is_undefined() {
                Ok(Vec::new())
            } else {
                a.try_iter().map(Iterator::collect)
            }
        })
        .collect::<Result<_, _>>()?;
    if lists.len() == 1 {
        return Ok(Value::from(lists.into_iter().next().unwrap_or_default()));
    }
    let longest = lists.iter().map(Vec::len).max().unwrap_or(0);
    let pad = pad.unwrap_or(Value::from(()));
    let rows: Vec<Value> = (0..longest)
        .map(|i| {
            Value::from(
                lists
                    .iter()
                    .map(|l| l.get(i).cloned().unwrap_or_else(|| pad.clone()))
                    .collect::<Vec<_>>(),
            )
        })
        .collect();
    Ok(Value::from(rows))
}

/// JSON to a minijinja value.
pub(crate) fn to_mj(v: &serde_json::Value) -> Value {
    match v {
        serde_json::Value::Null => Value::from(()),
        serde_json::Value::Bool(b) => Value::from(*b),
        serde_json::Value::Number(n) => {
            if let Some(i) = n.as_i64() {
                Value::from(i)
            } else if let Some(u) = n.as_u64() {
                Value::from(u)
            } else {
                Value::from(n.as_f64().unwrap_or(f64::NAN))
            }
        }
        serde_json::Value::String(s) => Value::from(s.as_str()),
        serde_json::Value::Array(items) => Value::from(items.iter().map(to_mj).collect::<Vec<_>>()),
        serde_json::Value::Object(map) => Value::from(
            map.iter()
                .map(|(k, v)| (k.clone(), to_mj(v)))
                .collect::<BTreeMap<String, Value>>(),
        ),
    }
}

/// A minijinja value to JSON. Undefined values are an error (strict).
fn to_json(v: &Value) -> Result<serde_json::Value, Error> {
    if v.is_undefined() {
        return Err(Error::new(
            ErrorKind::UndefinedError,
            "the expression's value is undefined",
        ));
    }
    serde_json::to_value(v).map_err(|e| fail(format!("the value cannot be converted to JSON: {e}")))
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn vars(v: serde_json::Value) -> Scope {
        match v {
            serde_json::Value::Object(m) => Scope::with_vars(Arc::new(m)),
            _ => panic!("not an object"),
        }
    }

    #[test]
    fn whole_expression_keeps_type() {
        let s = vars(json!({"a": [1, {"b": 2.5}], "n": null, "t": true}));
        for (src, want) in [
            ("{{ ctx('a') }}", json!([1, {"b": 2.5}])),
            ("{{ ctx().n }}", json!(null)),
            ("{{ ctx('t') }}", json!(true)),
            ("{{ ctx('a') | length }}", json!(2)),
        ] {
            assert_eq!(
                Template::compile(src).unwrap().eval(&s).unwrap(),
                want,
                "{src}"
            );
        }
    }

    #[test]
    fn interpolation_prints_like_orquesta() {
        let s = vars(json!({"x": "Stanley", "t": true, "n": null, "f": 1.0}));
        let t = Template::compile("{{ ctx('x') }}, {{ ctx().t }} {{ ctx().n }} {{ ctx().f }}!")
            .unwrap();
        assert_eq!(t.eval(&s).unwrap(), json!("Stanley, True None 1.0!"));
    }

    #[test]
    fn values_are_rendered_once() {
        // A variable whose value looks like a template stays data.
        let s = vars(json!({"evil": "{{ ctx('secret') }}", "secret": "s3cr3t"}));
        let t = Template::compile("{{ ctx('evil') }}").unwrap();
        assert_eq!(t.eval(&s).unwrap(), json!("{{ ctx('secret') }}"));
        let t = Template::compile("x={{ ctx('evil') }}").unwrap();
        assert_eq!(t.eval(&s).unwrap(), json!("x={{ ctx('secret') }}"));
    }

    #[test]
    fn undefined_variables_are_errors() {
        let s = vars(json!({}));
        let err = Template::compile("{{ ctx('nope') }}")
            .unwrap()
            .eval(&s)
            .unwrap_err();
        assert!(
            err.message.contains("\"nope\" is undefined"),
            "{}",
            err.message
        );
        let err = Template::compile("{{ nope }}")
            .unwrap()
            .eval(&s)
            .unwrap_err();
        assert!(err.message.contains("undefined"), "{}", err.message);
    }

    #[test]
    fn syntax_errors_at_compile_time() {
        assert!(Template::compile("{{ ctx( }}").is_err());
        assert!(Template::compile("{{ 1 + }}").is_err());
        assert!(Template::compile("{{ x").is_err());
        assert!(Template::compile("plain").unwrap().is_literal());
    }

    #[test]
    fn task_functions_read_the_current_task() {
        let mut s = vars(json!({}));
        s.task = Some(CurrentTask {
            id: "t1".into(),
            route: 0,
            status: Some(Status::Failed),
            result: Some(Arc::new(json!({"stdout": "ok"}))),
        });
        let eval = |src: &str| Template::compile(src).unwrap().eval(&s).unwrap();
        assert_eq!(eval("{{ failed() }}"), json!(true));
        assert_eq!(eval("{{ succeeded() }}"), json!(false));
        assert_eq!(eval("{{ completed() }}"), json!(true));
        assert_eq!(eval("{{ result().stdout }}"), json!("ok"));
        assert_eq!(eval("{{ task_status('other') }}"), json!("null"));
    }

    #[test]
    fn items_json_and_zip() {
        let mut s = vars(json!({"a": [1, 2], "b": ["x"]}));
        s.item = Some(json!({"host": "h1"}));
        let eval = |src: &str| Template::compile(src).unwrap().eval(&s).unwrap();
        assert_eq!(eval("{{ item('host') }}"), json!("h1"));
        assert_eq!(eval("{{ item().host }}"), json!("h1"));
        assert_eq!(eval("{{ json('{\"k\": 1}') }}"), json!({"k": 1}));
        assert_eq!(
            eval("{{ zip(ctx('a'), ctx('b')) }}"),
            json!([[1, "x"], [2, null]])
        );
        assert_eq!(
            eval("{{ zip(ctx('a'), ctx('b'), pad=0) }}"),
            json!([[1, "x"], [2, 0]])
        );
    }

    #[test]
    fn blocks_render_to_strings() {
        let s = vars(json!({"xs": [1, 2, 3]}));
        let t = Template::compile("{% for x in ctx('xs') %}{{ x }}{% endfor %}").unwrap();
        assert_eq!(t.eval(&s).unwrap(), json!("123"));
    }

    #[test]
    fn tvalue_only_walks_templates() {
        let v = json!({"a": 1, "b": ["{{ ctx('x') }}", 2], "c": {"d": "lit"}});
        let tv = TValue::compile(&v).unwrap();
        let s = vars(json!({"x": 42}));
        assert_eq!(
            tv.eval(&s).unwrap(),
            json!({"a": 1, "b": [42, 2], "c": {"d": "lit"}})
        );
        assert_eq!(tv.templates().len(), 1);
        assert_eq!(tv.templates()[0].0, ".b[0]");
    }

    #[test]
    fn runaway_expressions_run_out_of_fuel() {
        let s = vars(json!({}));
        for src in [
            "{% for a in range(100000) %}{% for b in range(100000) %}{{ a }}{% endfor %}{% endfor %}",
            "{{ 'x' * 1000000000 }}",
        ] {
            let started = std::time::Instant::now();
            let e = Template::compile(src).unwrap().eval(&s).unwrap_err();
            assert!(e.message.contains("out of fuel"), "{src}: {}", e.message);
            assert!(started.elapsed() < std::time::Duration::from_secs(5));
        }
        // Ordinary work fits.
        let t = Template::compile("{% for x in range(2000) %}{{ x }},{% endfor %}").unwrap();
        assert!(t.eval(&s).is_ok());
    }
}
