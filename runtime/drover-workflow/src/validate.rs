//! Semantic validation of a parsed workflow, and the diagnostics format.
//!
//! Every problem becomes a [`Diagnostic`] printed as
//! `file:line:column: path: message (hint)`. [`crate::spec`] reports shape
//! problems (YAML syntax, unknown keys, wrong types, expressions that do not
//! parse); this module adds the checks that need the whole workflow:
//!
//! | check                       | example message                                        |
//! |-----------------------------|--------------------------------------------------------|
//! | undefined task in `do`      | ``task `tsak2` is not defined``                         |
//! | reserved task names         | ``task name `noop` is reserved for an engine command``  |
//! | no start task               | `no task to start the workflow`                         |
//! | unreachable task            | ``task `t9` is never reached``                          |
//! | ambiguous join (upstream)   | ``join task `t7` is unreachable``                       |
//! | with-items without action   | `` `with` needs an `action` ``                          |
//! | plain variable in an expr   | ```name` is not defined; read variables with ctx('name')`` |
//! | unknown function            | ``unknown function `ctxx` ``                            |
//! | variable never assigned     | ``variable `nme` is never assigned``                    |
//! | unknown action (catalog)    | ``action `core.ech` does not exist``                    |
//! | action input (catalog)      | ``missing required input `message` of `core.echo` ``    |
//!
//! Action checks go through an [`ActionCatalog`] supplied by the caller (the
//! pack store, in the runtime), so this crate needs no store; without one
//! those checks are skipped.

use std::collections::{BTreeSet, HashMap, HashSet, VecDeque};
use std::fmt;

use crate::expr::{FUNCTIONS, TValue, Template};
use crate::spec::{ENGINE_COMMANDS, TaskSpec, Workflow};
use drover_text::located::Mark;

/// One problem in a workflow file.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Diagnostic {
    pub file: String,
    /// 1-based.
    pub line: usize,
    /// 1-based.
    pub column: usize,
    /// Where in the document: `tasks.t1.next[0].do`.
    pub path: String,
    pub message: String,
    /// What to do about it.
    pub hint: Option<String>,
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}:{}: ", self.file, self.line, self.column)?;
        if !self.path.is_empty() {
            write!(f, "{}: ", self.path)?;
        }
        f.write_str(&self.message)?;
        if let Some(hint) = &self.hint {
            write!(f, " ({hint})")?;
        }
        Ok(())
    }
}

/// A workflow that failed to load: every problem found, in file order.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct SpecError {
    pub diagnostics: Vec<Diagnostic>,
}

impl SpecError {
    pub(crate) fn new(diagnostics: Vec<Diagnostic>) -> SpecError {
        SpecError { diagnostics }
    }
}

impl fmt::Display for SpecError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let n = self.diagnostics.len();
        write!(
            f,
            "invalid workflow ({n} problem{})",
            if n == 1 { "" } else { "s" }
        )?;
        for d in &self.diagnostics {
            write!(f, "\n{d}")?;
        }
        Ok(())
    }
}

/// What the catalog knows about an action.
#[derive(Debug, Clone, PartialEq)]
pub struct ActionInfo {
    /// The JSON schema of the action's input (an `object` schema with
    /// `properties`, `required`, `additionalProperties`).
    pub parameters: serde_json::Value,
}

/// Looks actions up by reference (`pack.action`). Supplied by the caller.
pub trait ActionCatalog {
    /// The action, or `None` if it does not exist.
    fn lookup(&self, action_ref: &str) -> Option<ActionInfo>;
}

impl<F: Fn(&str) -> Option<ActionInfo>> ActionCatalog for F {
    fn lookup(&self, action_ref: &str) -> Option<ActionInfo> {
        self(action_ref)
    }
}

/// Validates `text` and returns every problem (empty when valid).
pub fn validate(file: &str, text: &str, catalog: Option<&dyn ActionCatalog>) -> Vec<Diagnostic> {
    match Workflow::parse(file, text, catalog) {
        Ok(_) => Vec::new(),
        Err(e) => e.diagnostics,
    }
}

/// The closest of `candidates` to `word`, if close enough to be a typo.
pub fn did_you_mean<'a>(
    word: &str,
    candidates: impl IntoIterator<Item = &'a str>,
) -> Option<&'a str> {
    drover_text::closest(word, candidates)
}

struct Checker<'a> {
    file: &'a str,
    diags: &'a mut Vec<Diagnostic>,
}

impl Checker<'_> {
    fn error(&mut self, mark: Mark, path: String, message: String, hint: Option<String>) {
        self.diags.push(Diagnostic {
            file: self.file.to_string(),
            line: mark.line,
            column: mark.column,
            path,
            message,
            hint,
        });
    }
}

/// Runs the semantic checks on a parsed workflow.
pub(crate) fn check(
    file: &str,
    wf: &Workflow,
    catalog: Option<&dyn ActionCatalog>,
    diags: &mut Vec<Diagnostic>,
) {
    let mut c = Checker { file, diags };
    let names: HashSet<&str> = wf.tasks.iter().map(|t| t.name.as_str()).collect();

    for t in &wf.tasks {
        if ENGINE_COMMANDS.contains(&t.name.as_str()) {
            c.error(
                t.mark,
                format!("tasks.{}", t.name),
                format!("task name `{}` is reserved for an engine command", t.name),
                Some("rename the task".into()),
            );
        }
        if t.with.is_some() && t.action.is_none() {
            c.error(
                t.mark,
                format!("tasks.{}", t.name),
                "`with` needs an `action`".into(),
                Some("add the action to run for each item".into()),
            );
        }
        for (i, tr) in t.next.iter().enumerate() {
            for (target, mark) in &tr.targets {
                if !names.contains(target.as_str()) && !ENGINE_COMMANDS.contains(&target.as_str()) {
                    let hint =
                        match did_you_mean(target, names.iter().copied().chain(ENGINE_COMMANDS)) {
                            Some(s) => format!("did you mean `{s}`?"),
                            None => "define it under `tasks:` or use continue, fail, noop or retry"
                                .into(),
                        };
                    c.error(
                        *mark,
                        format!("tasks.{}.next[{i}].do", t.name),
                        format!("task `{target}` is not defined"),
                        Some(hint),
                    );
                }
            }
        }
    }

    check_reachability(&mut c, wf, &names);
    check_expressions(&mut c, wf);
    if let Some(catalog) = catalog {
        check_actions(&mut c, wf, catalog);
    }
}

/// The tasks each task's transitions lead to (defined tasks only).
fn successors<'a>(t: &'a TaskSpec, names: &HashSet<&str>) -> impl Iterator<Item = &'a str> {
    t.next
        .iter()
        .flat_map(|tr| tr.targets.iter())
        .map(|(n, _)| n.as_str())
        .filter(|n| names.contains(n))
}

fn check_reachability(c: &mut Checker<'_>, wf: &Workflow, names: &HashSet<&str>) {
    let by_name: HashMap<&str, &TaskSpec> = wf.tasks.iter().map(|t| (t.name.as_str(), t)).collect();
    let referenced: HashSet<&str> = wf.tasks.iter().flat_map(|t| successors(t, names)).collect();
    let starts: Vec<&str> = wf
        .tasks
        .iter()
        .map(|t| t.name.as_str())
        .filter(|n| !referenced.contains(n))
        .collect();
    if starts.is_empty() && !wf.tasks.is_empty() {
        c.error(
            wf.tasks[0].mark,
            "tasks".into(),
            "no task to start the workflow: every task is the target of a transition".into(),
            Some("a loop needs an entry task that no transition leads to".into()),
        );
        return;
    }
    let mut seen: HashSet<&str> = starts.iter().copied().collect();
    let mut queue: VecDeque<&str> = starts.iter().copied().collect();
    while let Some(n) = queue.pop_front() {
        for s in successors(by_name[n], names) {
            if seen.insert(s) {
                queue.push_back(s);
            }
        }
    }
    for t in &wf.tasks {
        if !seen.contains(t.name.as_str()) {
            c.error(
                t.mark,
                format!("tasks.{}", t.name),
                format!(
                    "task `{}` is never reached: no path leads to it from a start task",
                    t.name
                ),
                Some("add a transition to it from a reachable task, or remove it".into()),
            );
        }
    }
    check_join_splits(c, wf, &by_name, &starts, names);
}

/// Upstream's `detect_unreachable_tasks`: a join whose inbound tasks sit
/// below different splits (tasks referenced more than once) is ambiguous.
fn check_join_splits(
    c: &mut Checker<'_>,
    wf: &Workflow,
    by_name: &HashMap<&str, &TaskSpec>,
    starts: &[&str],
    names: &HashSet<&str>,
) {
    let mut refs: HashMap<&str, usize> = HashMap::new();
    for t in &wf.tasks {
        for tr in &t.next {
            for (n, _) in &tr.targets {
                *refs.entry(n.as_str()).or_default() += 1;
            }
        }
    }
    let is_join = |n: &str| by_name.get(n).is_some_and(|t| t.join.is_some());
    let is_split = |n: &str| !is_join(n) && refs.get(n).copied().unwrap_or(0) > 1;
    let in_cycle = |n: &str| -> bool {
        let mut seen = HashSet::new();
        let mut queue: VecDeque<&str> = successors(by_name[n], names).collect();
        while let Some(x) = queue.pop_front() {
            if x == n {
                return true;
            }
            if seen.insert(x) {
                queue.extend(successors(by_name[x], names));
            }
        }
        false
    };
    struct Meta<'a> {
        splits: BTreeSet<&'a str>,
        prev: BTreeSet<&'a str>,
    }
    let mut staging: HashMap<&str, Meta<'_>> = HashMap::new();
    let mut order: Vec<&str> = Vec::new();
    let mut tracked: HashMap<(&str, &str), BTreeSet<&str>> = HashMap::new();
    let mut queue: VecDeque<(Option<&str>, &str, Vec<&str>)> =
        starts.iter().map(|s| (None, *s, Vec::new())).collect();
    let mut guard = 0usize;
    while let Some((prev, name, mut splits)) = queue.pop_front() {
        guard += 1;
        if guard > 100_000 {
            break;
        }
        if is_split(name) && !in_cycle(name) {
            splits.push(name);
        }
        let meta = staging.entry(name).or_insert_with(|| {
            order.push(name);
            Meta {
                splits: BTreeSet::new(),
                prev: BTreeSet::new(),
            }
        });
        meta.splits.extend(splits.iter().copied());
        if let Some(p) = prev {
            meta.prev.insert(p);
        }
        for next in successors(by_name[name], names) {
            if staging.contains_key(next) && in_cycle(next) {
                continue;
            }
            let new: BTreeSet<&str> = splits.iter().copied().collect();
            let existing = tracked.entry((name, next)).or_default();
            if existing.is_empty() || !new.is_subset(existing) {
                let first = existing.is_empty();
                existing.extend(new);
                if first || !existing.is_empty() {
                    queue.push_back((Some(name), next, splits.clone()));
                }
            }
        }
    }
    for name in order {
        if !is_join(name) {
            continue;
        }
        let meta = &staging[name];
        if meta.prev.iter().any(|p| staging[p].splits != meta.splits) {
            c.error(
                by_name[name].mark,
                format!("tasks.{name}"),
                format!("join task `{name}` is unreachable: its inbound branches come from different splits"),
                Some("a task referenced by several transitions splits the workflow; join the branches before such a task, or join at the same level".into()),
            );
        }
    }
}

/// Every template in the workflow with its location and path.
fn templates(wf: &Workflow) -> Vec<(Mark, String, &Template)> {
    fn push_tv<'w>(
        out: &mut Vec<(Mark, String, &'w Template)>,
        mark: Mark,
        path: String,
        v: &'w TValue,
    ) {
        for (sub, t) in v.templates() {
            out.push((mark, format!("{path}{sub}"), t));
        }
    }
    let mut out = Vec::new();
    for (i, p) in wf.input.iter().enumerate() {
        if let Some(d) = &p.default {
            push_tv(&mut out, p.mark, format!("input[{i}].{}", p.name), d);
        }
    }
    for (i, v) in wf.vars.iter().enumerate() {
        push_tv(
            &mut out,
            v.value_mark,
            format!("vars[{i}].{}", v.name),
            &v.value,
        );
    }
    for (i, v) in wf.output.iter().enumerate() {
        push_tv(
            &mut out,
            v.value_mark,
            format!("output[{i}].{}", v.name),
            &v.value,
        );
    }
    for t in &wf.tasks {
        let base = format!("tasks.{}", t.name);
        if let Some(a) = &t.action {
            out.push((t.action_mark, format!("{base}.action"), a));
        }
        match &t.input {
            Some(TValue::Map(entries)) if !t.input_marks.is_empty() => {
                for (k, v) in entries {
                    let mark = t
                        .input_marks
                        .iter()
                        .find(|(name, _, _)| name == k.source())
                        .map_or(t.input_mark, |(_, _, m)| *m);
                    if !k.is_literal() {
                        out.push((mark, format!("{base}.input"), k));
                    }
                    push_tv(&mut out, mark, format!("{base}.input.{}", k.source()), v);
                }
            }
            Some(i) => push_tv(&mut out, t.input_mark, format!("{base}.input"), i),
            None => {}
        }
        if let Some(w) = &t.with {
            out.push((t.with_mark, format!("{base}.with.items"), &w.items));
        }
        for (i, tr) in t.next.iter().enumerate() {
            if let Some(w) = &tr.when {
                out.push((tr.when_mark, format!("{base}.next[{i}].when"), w));
            }
            for p in &tr.publish {
                push_tv(
                    &mut out,
                    p.value_mark,
                    format!("{base}.next[{i}].publish.{}", p.name),
                    &p.value,
                );
            }
        }
        if let Some(r) = &t.retry
            && let Some(w) = &r.when
        {
            out.push((t.retry_mark, format!("{base}.retry.when"), w));
        }
    }
    out
}

/// Variables read with `ctx('x')`, `ctx("x")` or `ctx().x` in an expression.
pub(crate) fn ctx_references(expr: &str) -> Vec<String> {
    let mut out = Vec::new();
    let bytes = expr.as_bytes();
    let mut from = 0;
    while let Some(p) = expr[from..].find("ctx(") {
        let at = from + p;
        from = at + 4;
        if at > 0
            && (bytes[at - 1].is_ascii_alphanumeric()
                || bytes[at - 1] == b'_'
                || bytes[at - 1] == b'.')
        {
            continue;
        }
        let rest = &expr[at + 4..];
        let ident = |s: &str| -> String {
            s.chars()
                .take_while(|c| c.is_alphanumeric() || *c == '_')
                .collect()
        };
        if let Some(r) = rest.strip_prefix(')') {
            if let Some(r) = r.strip_prefix('.') {
                let name = ident(r);
                if !name.is_empty() {
                    out.push(name);
                }
            }
        } else if let Some(q) = rest.chars().next().filter(|c| *c == '\'' || *c == '"') {
            let r = &rest[1..];
            if let Some(end) = r.find(q) {
                let name = &r[..end];
                if r[end + 1..].trim_start().starts_with(')') && !name.is_empty() {
                    out.push(name.to_string());
                }
            }
        }
    }
    out
}

/// Names minijinja provides in every expression.
const JINJA_GLOBALS: [&str; 5] = ["range", "dict", "namespace", "debug", "loop"];

fn check_expressions(c: &mut Checker<'_>, wf: &Workflow) {
    let mut assigned: HashSet<&str> = HashSet::new();
    assigned.extend(wf.input.iter().map(|i| i.name.as_str()));
    assigned.extend(wf.vars.iter().map(|v| v.name.as_str()));
    assigned.extend(wf.output.iter().map(|v| v.name.as_str()));
    for t in &wf.tasks {
        for tr in &t.next {
            assigned.extend(tr.publish.iter().map(|p| p.name.as_str()));
        }
    }
    for (mark, path, t) in templates(wf) {
        for e in t.expressions() {
            for name in crate::expr::undeclared_names(e) {
                if FUNCTIONS.contains(&name.as_str()) || JINJA_GLOBALS.contains(&name.as_str()) {
                    continue;
                }
                let called = e.contains(&format!("{name}("));
                let (message, hint) = if called {
                    let hint = match did_you_mean(&name, FUNCTIONS) {
                        Some(s) => format!("did you mean `{s}`?"),
                        None => format!("the functions are {}", FUNCTIONS.join(", ")),
                    };
                    (format!("unknown function `{name}` in `{e}`"), hint)
                } else {
                    (
                        format!("`{name}` is not defined in `{e}`"),
                        format!("read variables with ctx('{name}')"),
                    )
                };
                c.error(mark, path.clone(), message, Some(hint));
            }
            for var in ctx_references(e) {
                if var.starts_with("__") {
                    c.error(
                        mark,
                        path.clone(),
                        format!("variable `{var}` is private"),
                        Some("names starting with `__` cannot be read".into()),
                    );
                } else if !assigned.contains(var.as_str()) {
                    let hint = match did_you_mean(&var, assigned.iter().copied()) {
                        Some(s) => format!("did you mean `{s}`?"),
                        None => "declare it under `input:` or `vars:`, or publish it".into(),
                    };
                    c.error(
                        mark,
                        path.clone(),
                        format!("variable `{var}` is never assigned"),
                        Some(hint),
                    );
                }
            }
        }
    }
}

fn check_actions(c: &mut Checker<'_>, wf: &Workflow, catalog: &dyn ActionCatalog) {
    for t in &wf.tasks {
        let Some(action) = &t.action else { continue };
        if !action.is_literal() {
            continue;
        }
        let name = action.source();
        let path = format!("tasks.{}.action", t.name);
        let Some(info) = catalog.lookup(name) else {
            c.error(
                t.action_mark,
                path,
                format!("action `{name}` does not exist"),
                Some("install the pack that provides it, or fix the reference".into()),
            );
            continue;
        };
        check_input(c, t, name, &info.parameters);
    }
}

fn check_input(c: &mut Checker<'_>, t: &TaskSpec, action: &str, schema: &serde_json::Value) {
    let path = format!("tasks.{}.input", t.name);
    let mark = t.input_mark;
    let given: Option<Vec<(String, Option<serde_json::Value>)>> = match &t.input {
        None => Some(Vec::new()),
        Some(TValue::Const(serde_json::Value::Object(m))) => Some(
            m.iter()
                .map(|(k, v)| (k.clone(), Some(v.clone())))
                .collect(),
        ),
        Some(TValue::Map(entries)) => {
            if entries.iter().any(|(k, _)| !k.is_literal()) {
                None
            } else {
                Some(
                    entries
                        .iter()
                        .map(|(k, v)| {
                            let lit = match v {
                                TValue::Const(x) => Some(x.clone()),
                                _ => None,
                            };
                            (k.source().to_string(), lit)
                        })
                        .collect(),
                )
            }
        }
        Some(_) => None,
    };
    let Some(given) = given else { return };
    let props = schema.get("properties").and_then(|p| p.as_object());
    if let Some(required) = schema.get("required").and_then(|r| r.as_array()) {
        for r in required.iter().filter_map(|r| r.as_str()) {
            let has_default = props
                .and_then(|p| p.get(r))
                .is_some_and(|p| p.get("default").is_some());
            if !has_default && !given.iter().any(|(k, _)| k == r) {
                c.error(
                    mark,
                    path.clone(),
                    format!("missing required input `{r}` of `{action}`"),
                    Some(format!("add `{r}` under `input:`")),
                );
            }
        }
    }
    let closed = schema.get("additionalProperties") == Some(&serde_json::Value::Bool(false));
    for (key, value) in &given {
        let mark = t
            .input_marks
            .iter()
            .find(|(k, _, _)| k == key)
            .map_or(mark, |(_, m, _)| *m);
        let prop = props.and_then(|p| p.get(key));
        match prop {
            None if closed => {
                let hint = match did_you_mean(
                    key,
                    props.into_iter().flat_map(|p| p.keys().map(String::as_str)),
                ) {
                    Some(s) => format!("did you mean `{s}`?"),
                    None => format!(
                        "`{action}` takes: {}",
                        props
                            .map(|p| p.keys().cloned().collect::<Vec<_>>().join(", "))
                            .unwrap_or_default()
                    ),
                };
                c.error(
                    mark,
                    format!("{path}.{key}"),
                    format!("`{action}` has no input `{key}`"),
                    Some(hint),
                );
            }
            Some(prop) => {
                if let (Some(v), Some(ty)) = (value, prop.get("type"))
                    && !type_matches(v, ty)
                {
                    c.error(
                        mark,
                        format!("{path}.{key}"),
                        format!("input `{key}` of `{action}` must be {ty}, found {v}"),
                        None,
                    );
                }
            }
            None => {}
        }
    }
}

fn type_matches(v: &serde_json::Value, ty: &serde_json::Value) -> bool {
    use serde_json::Value as J;
    let one = |t: &str| match t {
        "string" => v.is_string(),
        "integer" => v.is_i64() || v.is_u64(),
        "number" => v.is_number(),
        "boolean" => v.is_boolean(),
        "array" => v.is_array(),
        "object" => v.is_object(),
        "null" => v.is_null(),
        _ => true,
    };
    match ty {
        J::String(t) => one(t),
        J::Array(ts) => ts.iter().filter_map(J::as_str).any(one),
        _ => true,
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn errors(text: &str) -> Vec<String> {
        validate("wf.yaml", text, None)
            .iter()
            .map(ToString::to_string)
            .collect()
    }

    #[test]
    fn valid_workflow_has_no_diagnostics() {
        let text = "version: 1.0\ninput: [name]\ntasks:\n  a:\n    action: core.echo message={{ ctx('name') }}\n    next:\n      - when: '{{ succeeded() }}'\n        do: b\n  b:\n    action: core.noop\n";
        assert_eq!(errors(text), Vec::<String>::new());
    }

    #[test]
    fn unknown_keys_and_bad_types_point_at_the_key() {
        let text = "version: 1.0\ntasks:\n  a:\n    actoin: core.noop\n    join: some\n";
        assert_eq!(
            errors(text),
            [
                "wf.yaml:4:5: tasks.a.actoin: unknown key `actoin` (did you mean `action`?)",
                "wf.yaml:5:11: tasks.a.join: `join` must be `all` or a count, found `some` (write `join: all` or `join: 2`)",
            ]
        );
    }

    #[test]
    fn undefined_and_unreachable_tasks() {
        let text = "version: 1.0\ntasks:\n  a:\n    action: core.noop\n    next:\n      - do: tsak2\n  b:\n    action: core.noop\n    next:\n      - do: c\n  c:\n    action: core.noop\n    next:\n      - do: b\n";
        assert_eq!(
            errors(text),
            [
                "wf.yaml:6:13: tasks.a.next[0].do: task `tsak2` is not defined (define it under `tasks:` or use continue, fail, noop or retry)",
                "wf.yaml:7:3: tasks.b: task `b` is never reached: no path leads to it from a start task (add a transition to it from a reachable task, or remove it)",
                "wf.yaml:11:3: tasks.c: task `c` is never reached: no path leads to it from a start task (add a transition to it from a reachable task, or remove it)",
            ]
        );
    }

    #[test]
    fn expressions_are_checked_at_their_location() {
        let text = "version: 1.0\ntasks:\n  a:\n    action: core.noop\n    input:\n      x: '{{ ctx( }}'\n      y: '{{ name }}'\n      z: \"{{ ctx('nme') }}\"\n";
        let errs = errors(text);
        assert_eq!(errs.len(), 3, "{errs:#?}");
        assert!(
            errs[0].starts_with("wf.yaml:6:10: tasks.a.input.x: invalid expression `{{ ctx( }}`"),
            "{}",
            errs[0]
        );
        assert_eq!(
            errs[1],
            "wf.yaml:7:10: tasks.a.input.y: `name` is not defined in `name` (read variables with ctx('name'))"
        );
        assert_eq!(
            errs[2],
            "wf.yaml:8:10: tasks.a.input.z: variable `nme` is never assigned (declare it under `input:` or `vars:`, or publish it)"
        );
    }

    #[test]
    fn yaml_syntax_errors_have_a_location() {
        let errs = errors("version: 1.0\ntasks:\n  a: [\n");
        assert_eq!(errs.len(), 1);
        assert!(
            errs[0].starts_with("wf.yaml:4:1: invalid YAML:"),
            "{}",
            errs[0]
        );
    }

    #[test]
    fn actions_are_checked_against_the_catalog() {
        let catalog = |name: &str| {
            (name == "core.echo").then(|| ActionInfo {
                parameters: json!({
                    "type": "object",
                    "properties": {"message": {"type": "string"}, "count": {"type": "integer"}},
                    "required": ["message"],
                    "additionalProperties": false,
                }),
            })
        };
        let text = "version: 1.0\ntasks:\n  a:\n    action: core.ech\n    next: [{do: b}]\n  b:\n    action: core.echo\n    input:\n      mesage: hi\n      count: many\n";
        let errs: Vec<String> = validate("wf.yaml", text, Some(&catalog))
            .iter()
            .map(ToString::to_string)
            .collect();
        assert_eq!(
            errs,
            [
                "wf.yaml:4:13: tasks.a.action: action `core.ech` does not exist (install the pack that provides it, or fix the reference)",
                "wf.yaml:8:5: tasks.b.input: missing required input `message` of `core.echo` (add `message` under `input:`)",
                "wf.yaml:9:7: tasks.b.input.mesage: `core.echo` has no input `mesage` (did you mean `message`?)",
                "wf.yaml:10:7: tasks.b.input.count: input `count` of `core.echo` must be \"integer\", found \"many\"",
            ]
        );
    }

    #[test]
    fn ctx_references_are_found() {
        assert_eq!(
            ctx_references("ctx('a') + ctx(\"b\") ~ ctx().c.d ~ myctx('z')"),
            ["a", "b", "c"]
        );
    }
}
