//! The workflow model and its parser: YAML text in, [`Workflow`] out.
//!
//! The DSL is Orquesta's native workflow version 1.0 with Jinja expressions:
//!
//! ```yaml
//! version: 1.0
//! input: [node, {attempts: 3}]        # names, optionally with defaults
//! vars: [{reachable: null}]
//! tasks:
//!   ping:
//!     action: core.ping host={{ ctx().node }}     # inline input
//!     retry: {when: "{{ failed() }}", count: 3, delay: 5}
//!     next:
//!       - when: "{{ succeeded() }}"
//!         publish: reachable={{ result().ok }}
//!         do: report
//!       - when: "{{ failed() }}"
//!         do: [reboot, fail]
//!   reboot:
//!     action: fleet.reboot
//!     input: {node: "{{ ctx().node }}"}
//!   report:
//!     join: all
//!     with: {items: "x in {{ ctx().nodes }}", concurrency: 2}
//!     action: core.echo message={{ item().x }}
//! output: [{reachable: "{{ ctx().reachable }}"}]
//! ```
//!
//! Parsing is two-staged: this module checks the shape of every key and
//! compiles every expression (collecting *all* problems, each with its
//! line and column), then [`crate::validate`] checks the semantics (task
//! references, reachability, joins, variables, actions against an
//! [`ActionCatalog`](crate::validate::ActionCatalog)). Only a workflow that
//! passes both is returned, together with its precomputed execution index
//! (see [`crate::index`]).

use std::collections::HashSet;

use crate::expr::{TValue, Template};
use crate::index::Graph;
use crate::validate::{self, ActionCatalog, Diagnostic, SpecError};
use drover_text::located::{self as yaml, Mark, Node, Yaml};

/// The engine commands usable in `do` (and reserved as task names).
pub const ENGINE_COMMANDS: [&str; 4] = ["continue", "fail", "noop", "retry"];

/// A parsed, validated workflow. Immutable; share it by reference.
#[derive(Debug)]
pub struct Workflow {
    pub(crate) file: String,
    pub(crate) description: Option<String>,
    pub(crate) input: Vec<InputParam>,
    pub(crate) vars: Vec<Named>,
    pub(crate) output: Vec<Named>,
    pub(crate) tasks: Vec<TaskSpec>,
    pub(crate) graph: Graph,
}

/// A declared workflow input.
#[derive(Debug, Clone)]
pub(crate) struct InputParam {
    pub name: String,
    pub default: Option<TValue>,
    pub mark: Mark,
}

/// A `name: value` entry of `vars`, `output` or `publish`.
#[derive(Debug, Clone)]
pub(crate) struct Named {
    pub name: String,
    pub value: TValue,
    /// Where the value is.
    pub value_mark: Mark,
}

/// How many inbound branches a join waits for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Join {
    /// `join: all`: every inbound task.
    All,
    /// `join: N`: any N inbound tasks.
    Count(u32),
}

/// An integer given literally or by an expression.
#[derive(Debug, Clone)]
pub(crate) enum IntOrExpr {
    Int(u64),
    Expr(Template),
}

/// `with:`: run the action once per item.
#[derive(Debug, Clone)]
pub(crate) struct WithItems {
    /// `x, y in <expr>`: each item (or each tuple) becomes `{x: .., y: ..}`.
    pub keys: Option<Vec<String>>,
    pub items: Template,
    pub concurrency: Option<IntOrExpr>,
}

/// `retry:` on a task (or `do: retry` on a transition).
#[derive(Debug, Clone)]
pub(crate) struct RetrySpec {
    pub when: Option<Template>,
    pub count: IntOrExpr,
    pub delay: Option<IntOrExpr>,
}

/// One task of the workflow.
#[derive(Debug, Clone)]
pub struct TaskSpec {
    pub(crate) name: String,
    pub(crate) mark: Mark,
    pub(crate) action: Option<Template>,
    pub(crate) action_mark: Mark,
    pub(crate) input: Option<TValue>,
    pub(crate) input_mark: Mark,
    /// For `input:` given as a mapping: key -> (key mark, value mark).
    pub(crate) input_marks: Vec<(String, Mark, Mark)>,
    pub(crate) with_mark: Mark,
    pub(crate) retry_mark: Mark,
    pub(crate) join: Option<Join>,
    pub(crate) with: Option<WithItems>,
    pub(crate) retry: Option<RetrySpec>,
    pub(crate) delay: Option<IntOrExpr>,
    pub(crate) next: Vec<TransitionSpec>,
}

impl TaskSpec {
    /// The task's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The action reference as written (may be an expression), if any.
    pub fn action(&self) -> Option<&str> {
        self.action.as_ref().map(Template::source)
    }

    /// The join, if this task is a join.
    pub fn join(&self) -> Option<Join> {
        self.join
    }

    /// Whether the task runs once per item.
    pub fn has_items(&self) -> bool {
        self.with.is_some()
    }

    /// The outbound transitions, in definition order.
    pub fn transitions(&self) -> &[TransitionSpec] {
        &self.next
    }
}

/// One entry of a task's `next:`.
#[derive(Debug, Clone)]
pub struct TransitionSpec {
    pub(crate) when: Option<Template>,
    pub(crate) when_mark: Mark,
    pub(crate) publish: Vec<Named>,
    pub(crate) targets: Vec<(String, Mark)>,
    /// Whether `do` was written (without it, the target is `continue`).
    pub(crate) explicit: bool,
}

impl TransitionSpec {
    /// The condition as written, if any.
    pub fn when(&self) -> Option<&str> {
        self.when.as_ref().map(Template::source)
    }

    /// The tasks (or engine commands) this transition leads to.
    pub fn targets(&self) -> impl Iterator<Item = &str> {
        self.targets.iter().map(|(t, _)| t.as_str())
    }

    /// The names of the published variables.
    pub fn published(&self) -> impl Iterator<Item = &str> {
        self.publish.iter().map(|p| p.name.as_str())
    }

    /// Whether `do:` was written; without it the transition continues.
    pub fn is_explicit(&self) -> bool {
        self.explicit
    }
}

impl Workflow {
    /// Parses and validates a workflow. `file` is only used in diagnostics.
    /// With a `catalog`, actions and their input are checked too.
    pub fn parse(
        file: &str,
        text: &str,
        catalog: Option<&dyn ActionCatalog>,
    ) -> Result<Workflow, SpecError> {
        let mut p = Parser {
            file,
            diags: Vec::new(),
            interned: Default::default(),
        };
        let root = match yaml::parse(text) {
            Ok(root) => root,
            Err(e) => {
                p.error(
                    e.mark,
                    "",
                    format!("invalid YAML: {}", e.message),
                    Some("fix the YAML syntax"),
                );
                return Err(SpecError::new(p.diags));
            }
        };
        let draft = p.workflow(&root);
        if let Some(draft) = &draft {
            validate::check(file, draft, catalog, &mut p.diags);
        }
        match draft {
            Some(mut wf) if p.diags.is_empty() => {
                wf.graph = Graph::build(&wf.tasks);
                Ok(wf)
            }
            _ => {
                p.diags.sort_by_key(|d| (d.line, d.column));
                Err(SpecError::new(p.diags))
            }
        }
    }

    /// The file name given to [`Workflow::parse`].
    pub fn file(&self) -> &str {
        &self.file
    }

    /// The description, if any.
    pub fn description(&self) -> Option<&str> {
        self.description.as_deref()
    }

    /// The tasks in definition order.
    pub fn tasks(&self) -> &[TaskSpec] {
        &self.tasks
    }

    /// A task by name.
    pub fn task(&self, name: &str) -> Option<&TaskSpec> {
        self.tasks.iter().find(|t| t.name == name)
    }

    /// The names of the declared inputs.
    pub fn input_names(&self) -> impl Iterator<Item = &str> {
        self.input.iter().map(|i| i.name.as_str())
    }

    /// The inputs in declaration order, each with whether it has a default
    /// (one without must be given).
    pub fn inputs(&self) -> impl Iterator<Item = (&str, bool)> {
        self.input
            .iter()
            .map(|i| (i.name.as_str(), i.default.is_some()))
    }

    /// The names of the outputs.
    pub fn output_names(&self) -> impl Iterator<Item = &str> {
        self.output.iter().map(|o| o.name.as_str())
    }
}

struct Parser<'a> {
    file: &'a str,
    diags: Vec<Diagnostic>,
    /// Identical conditions (`{{ succeeded() }}` on every task) share one
    /// compiled template: compiled once, and hot in cache at run time.
    interned: std::collections::HashMap<String, Template>,
}

const TOP_KEYS: [&str; 8] = [
    "version",
    "description",
    "name",
    "tags",
    "input",
    "vars",
    "output",
    "tasks",
];
const TASK_KEYS: [&str; 7] = ["action", "input", "next", "join", "with", "retry", "delay"];
const TRANSITION_KEYS: [&str; 3] = ["when", "publish", "do"];
const RETRY_KEYS: [&str; 3] = ["when", "count", "delay"];
const WITH_KEYS: [&str; 2] = ["items", "concurrency"];

impl Parser<'_> {
    fn error(&mut self, mark: Mark, path: &str, message: String, hint: Option<&str>) {
        self.diags.push(Diagnostic {
            file: self.file.to_string(),
            line: mark.line,
            column: mark.column,
            path: path.to_string(),
            message,
            hint: hint.map(str::to_string),
        });
    }

    /// Checks a mapping's keys against `allowed`; reports unknown and duplicate keys.
    fn keys(&mut self, node: &Node, path: &str, allowed: &[&str]) {
        let Some(entries) = node.as_map() else { return };
        let mut seen = HashSet::new();
        for (k, _) in entries {
            let key = k.key_text();
            let key_path = join(path, &key);
            if !seen.insert(key.clone()) {
                self.error(
                    k.mark,
                    &key_path,
                    format!("duplicate key `{key}`"),
                    Some("remove one of them"),
                );
            } else if !allowed.contains(&key.as_str()) {
                let hint = match validate::did_you_mean(&key, allowed.iter().copied()) {
                    Some(s) => format!("did you mean `{s}`?"),
                    None => format!("expected one of: {}", allowed.join(", ")),
                };
                self.error(
                    k.mark,
                    &key_path,
                    format!("unknown key `{key}`"),
                    Some(&hint),
                );
            }
        }
    }

    fn expect_map<'n>(
        &mut self,
        node: &'n Node,
        path: &str,
        what: &str,
    ) -> Option<&'n [(Node, Node)]> {
        let map = node.as_map();
        if map.is_none() {
            self.error(
                node.mark,
                path,
                format!("{what} must be a mapping, found {}", node.kind()),
                None,
            );
        }
        map
    }

    fn expect_str<'n>(&mut self, node: &'n Node, path: &str, what: &str) -> Option<&'n str> {
        match node.as_str() {
            Some(s) if !s.trim().is_empty() => Some(s),
            Some(_) => {
                self.error(node.mark, path, format!("{what} must not be empty"), None);
                None
            }
            None => {
                self.error(
                    node.mark,
                    path,
                    format!("{what} must be a string, found {}", node.kind()),
                    None,
                );
                None
            }
        }
    }

    fn template(&mut self, node: &Node, path: &str, text: &str) -> Option<Template> {
        if let Some(t) = self.interned.get(text) {
            return Some(t.clone());
        }
        match Template::compile(text) {
            Ok(t) => {
                self.interned.insert(text.to_string(), t.clone());
                Some(t)
            }
            Err(e) => {
                self.expr_error(node.mark, path, &e);
                None
            }
        }
    }

    fn expr_error(&mut self, mark: Mark, path: &str, e: &crate::expr::ExprError) {
        let msg = format!("invalid expression `{}`: {}", e.expression, e.message);
        self.error(
            mark,
            path,
            msg,
            Some("expressions are Jinja: \"{{ ctx('name') }}\""),
        );
    }

    fn tvalue(&mut self, node: &Node, path: &str) -> Option<TValue> {
        let (value, errors) = TValue::compile_lossy(&node.to_json());
        for (sub, e) in errors {
            let mark = locate(node, &sub).unwrap_or(node.mark);
            self.expr_error(mark, &format!("{path}{sub}"), &e);
        }
        Some(value)
    }

    fn int_or_expr(&mut self, node: &Node, path: &str, what: &str) -> Option<IntOrExpr> {
        match &node.value {
            Yaml::Int(i) if *i >= 0 => Some(IntOrExpr::Int(*i as u64)),
            Yaml::Str(s) if !s.trim().is_empty() => {
                let t = self.template(node, path, s)?;
                if t.is_literal() {
                    match s.trim().parse::<u64>() {
                        Ok(i) => Some(IntOrExpr::Int(i)),
                        Err(_) => {
                            self.error(
                                node.mark,
                                path,
                                format!("{what} must be a non-negative integer or an expression, found `{s}`"),
                                None,
                            );
                            None
                        }
                    }
                } else {
                    Some(IntOrExpr::Expr(t))
                }
            }
            _ => {
                self.error(
                    node.mark,
                    path,
                    format!(
                        "{what} must be a non-negative integer or an expression, found {}",
                        node.kind()
                    ),
                    None,
                );
                None
            }
        }
    }

    fn workflow(&mut self, root: &Node) -> Option<Workflow> {
        if root.as_map().is_none() {
            self.error(
                root.mark,
                "",
                format!("a workflow must be a mapping, found {}", root.kind()),
                Some("start with `version: 1.0` and `tasks:`"),
            );
            return None;
        }
        self.keys(root, "", &TOP_KEYS);
        match root.get("version") {
            None => self.error(
                root.mark,
                "version",
                "missing `version`".into(),
                Some("add `version: 1.0`"),
            ),
            Some(v) => {
                let ok = match &v.value {
                    Yaml::Float(f) => *f == 1.0,
                    Yaml::Str(s) => s == "1.0",
                    _ => false,
                };
                if !ok {
                    let msg = format!("unsupported version `{}`", v.key_text());
                    self.error(
                        v.mark,
                        "version",
                        msg,
                        Some("drover reads Orquesta workflows `version: 1.0`"),
                    );
                }
            }
        }
        let description = root
            .get("description")
            .and_then(|d| self.expect_str(d, "description", "description"))
            .map(str::to_string);
        let input = root
            .get("input")
            .map(|n| self.inputs(n))
            .unwrap_or_default();
        let vars = root
            .get("vars")
            .map(|n| self.named_list(n, "vars"))
            .unwrap_or_default();
        let output = root
            .get("output")
            .map(|n| self.named_list(n, "output"))
            .unwrap_or_default();
        let tasks = match root.get("tasks") {
            None => {
                self.error(
                    root.mark,
                    "tasks",
                    "missing `tasks`".into(),
                    Some("a workflow needs at least one task"),
                );
                Vec::new()
            }
            Some(n) => self.tasks(n),
        };
        Some(Workflow {
            file: self.file.to_string(),
            description,
            input,
            vars,
            output,
            tasks,
            graph: Graph::default(),
        })
    }

    fn inputs(&mut self, node: &Node) -> Vec<InputParam> {
        let Some(items) = node.as_seq() else {
            self.error(
                node.mark,
                "input",
                format!("`input` must be a list, found {}", node.kind()),
                Some("write `input: [name, {name: default}]`"),
            );
            return Vec::new();
        };
        let mut out: Vec<InputParam> = Vec::new();
        for (i, item) in items.iter().enumerate() {
            let path = format!("input[{i}]");
            let param = match &item.value {
                Yaml::Str(name) => Some(InputParam {
                    name: name.clone(),
                    default: None,
                    mark: item.mark,
                }),
                Yaml::Map(entries) if entries.len() == 1 => {
                    let (k, v) = &entries[0];
                    self.tvalue(v, &format!("{path}.{}", k.key_text()))
                        .map(|tv| InputParam {
                            name: k.key_text(),
                            default: Some(tv),
                            mark: k.mark,
                        })
                }
                _ => {
                    self.error(
                        item.mark,
                        &path,
                        format!(
                            "an input must be a name or a one-key mapping, found {}",
                            item.kind()
                        ),
                        Some("write `- name` or `- name: default`"),
                    );
                    None
                }
            };
            if let Some(p) = param {
                self.check_name(p.mark, &path, &p.name, "input");
                if out.iter().any(|o| o.name == p.name) {
                    self.error(p.mark, &path, format!("duplicate input `{}`", p.name), None);
                }
                out.push(p);
            }
        }
        out
    }

    fn check_name(&mut self, mark: Mark, path: &str, name: &str, what: &str) {
        if name.is_empty() || !name.chars().all(|c| c.is_alphanumeric() || c == '_') {
            self.error(
                mark,
                path,
                format!("invalid {what} name `{name}`"),
                Some("names are letters, digits and `_`"),
            );
        }
    }

    fn named_list(&mut self, node: &Node, path: &str) -> Vec<Named> {
        let Some(items) = node.as_seq() else {
            self.error(
                node.mark,
                path,
                format!(
                    "`{path}` must be a list of one-key mappings, found {}",
                    node.kind()
                ),
                Some("write `- name: value`"),
            );
            return Vec::new();
        };
        let mut out: Vec<Named> = Vec::new();
        for (i, item) in items.iter().enumerate() {
            let ipath = format!("{path}[{i}]");
            match item.as_map() {
                Some([(k, v)]) => {
                    let name = k.key_text();
                    self.check_name(k.mark, &ipath, &name, "variable");
                    if out.iter().any(|o| o.name == name) {
                        self.error(k.mark, &ipath, format!("duplicate name `{name}`"), None);
                    }
                    if let Some(value) = self.tvalue(v, &format!("{ipath}.{name}")) {
                        out.push(Named {
                            name,
                            value,
                            value_mark: v.mark,
                        });
                    }
                }
                _ => self.error(
                    item.mark,
                    &ipath,
                    format!(
                        "each entry must be a one-key mapping, found {}",
                        item.kind()
                    ),
                    Some("write `- name: value`"),
                ),
            }
        }
        out
    }

    fn tasks(&mut self, node: &Node) -> Vec<TaskSpec> {
        let Some(entries) = self.expect_map(node, "tasks", "`tasks`") else {
            return Vec::new();
        };
        if entries.is_empty() {
            self.error(
                node.mark,
                "tasks",
                "`tasks` is empty".into(),
                Some("a workflow needs at least one task"),
            );
        }
        let mut seen = HashSet::new();
        let mut out = Vec::new();
        for (k, v) in entries {
            let name = k.key_text();
            let path = format!("tasks.{name}");
            if !seen.insert(name.clone()) {
                self.error(
                    k.mark,
                    &path,
                    format!("duplicate task `{name}`"),
                    Some("task names must be unique"),
                );
                continue;
            }
            self.check_name(k.mark, &path, &name, "task");
            if let Some(t) = self.task(name, k.mark, v, &path) {
                out.push(t);
            }
        }
        out
    }

    fn task(&mut self, name: String, mark: Mark, node: &Node, path: &str) -> Option<TaskSpec> {
        let mut task = TaskSpec {
            name,
            mark,
            action: None,
            action_mark: mark,
            input: None,
            input_mark: mark,
            input_marks: Vec::new(),
            with_mark: mark,
            retry_mark: mark,
            join: None,
            with: None,
            retry: None,
            delay: None,
            next: Vec::new(),
        };
        if matches!(node.value, Yaml::Null) {
            return Some(task);
        }
        self.expect_map(node, path, "a task")?;
        self.keys(node, path, &TASK_KEYS);
        if let Some(a) = node.get("action") {
            let apath = join(path, "action");
            if let Some(text) = self.expect_str(a, &apath, "`action`") {
                task.action_mark = a.mark;
                let text = text.trim();
                let inline = parse_inline_params(text);
                let action_name = match (inline.is_empty(), text.find(char::is_whitespace)) {
                    (false, Some(i)) => &text[..i],
                    _ => text,
                };
                task.action = self.template(a, &apath, action_name);
                if task.action.as_ref().is_some_and(Template::is_literal)
                    && action_name.contains(char::is_whitespace)
                {
                    self.error(
                        a.mark,
                        &apath,
                        format!("`{action_name}` is not an action reference"),
                        Some("inline input values are quoted strings, numbers, true/false/null, [lists] or {{ expressions }}: `core.echo message='hi'`"),
                    );
                }
                if !inline.is_empty() {
                    let map: serde_json::Map<_, _> = inline.into_iter().collect();
                    task.input_mark = a.mark;
                    match TValue::compile(&serde_json::Value::Object(map)) {
                        Ok(v) => task.input = Some(v),
                        Err(errors) => {
                            for (sub, e) in errors {
                                self.expr_error(a.mark, &format!("{apath}{sub}"), &e);
                            }
                        }
                    }
                }
            }
        }
        if let Some(i) = node.get("input") {
            let ipath = join(path, "input");
            if task.input.is_some() {
                // Upstream lets inline parameters replace `input:`; say so.
                self.error(
                    i.mark,
                    &ipath,
                    "both inline parameters in `action` and `input` are given".into(),
                    Some("move the inline parameters under `input:`"),
                );
            } else {
                match &i.value {
                    Yaml::Map(entries) => {
                        task.input_mark = key_mark(node, "input").unwrap_or(i.mark);
                        task.input_marks = entries
                            .iter()
                            .map(|(k, v)| (k.key_text(), k.mark, v.mark))
                            .collect();
                        task.input = self.tvalue(i, &ipath);
                    }
                    Yaml::Str(_) => {
                        task.input_mark = i.mark;
                        task.input = self.tvalue(i, &ipath);
                    }
                    _ => self.error(
                        i.mark,
                        &ipath,
                        format!("`input` must be a mapping, found {}", i.kind()),
                        None,
                    ),
                }
            }
        }
        if let Some(j) = node.get("join") {
            let jpath = join(path, "join");
            task.join = match &j.value {
                Yaml::Str(s) if s == "all" => Some(Join::All),
                Yaml::Int(n) if *n >= 0 && *n <= i64::from(u32::MAX) => {
                    Some(Join::Count(*n as u32))
                }
                _ => {
                    self.error(
                        j.mark,
                        &jpath,
                        format!("`join` must be `all` or a count, found `{}`", j.key_text()),
                        Some("write `join: all` or `join: 2`"),
                    );
                    None
                }
            };
        }
        if let Some(w) = node.get("with") {
            task.with_mark = w.get("items").unwrap_or(w).mark;
            task.with = self.with_items(w, &join(path, "with"));
        }
        if let Some(r) = node.get("retry") {
            task.retry_mark = r.get("when").unwrap_or(r).mark;
            task.retry = self.retry(r, &join(path, "retry"));
        }
        if let Some(d) = node.get("delay") {
            task.delay = self.int_or_expr(d, &join(path, "delay"), "`delay`");
        }
        if let Some(n) = node.get("next") {
            let npath = join(path, "next");
            match n.as_seq() {
                Some(items) => {
                    for (i, item) in items.iter().enumerate() {
                        if let Some(t) = self.transition(item, &format!("{npath}[{i}]")) {
                            task.next.push(t);
                        }
                    }
                }
                None => self.error(
                    n.mark,
                    &npath,
                    format!("`next` must be a list, found {}", n.kind()),
                    Some("write `next: [{when: ..., do: ...}]`"),
                ),
            }
        }
        Some(task)
    }

    fn with_items(&mut self, node: &Node, path: &str) -> Option<WithItems> {
        let (items_node, items_path) = match &node.value {
            Yaml::Str(_) => (node, path.to_string()),
            Yaml::Map(_) => {
                self.keys(node, path, &WITH_KEYS);
                match node.get("items") {
                    Some(n) => (n, join(path, "items")),
                    None => {
                        self.error(
                            node.mark,
                            path,
                            "missing `items`".into(),
                            Some("write `with: {items: \"{{ ctx().xs }}\"}`"),
                        );
                        return None;
                    }
                }
            }
            _ => {
                self.error(
                    node.mark,
                    path,
                    format!(
                        "`with` must be a string or a mapping, found {}",
                        node.kind()
                    ),
                    None,
                );
                return None;
            }
        };
        let text = self.expect_str(items_node, &items_path, "`items`")?;
        let (keys, expr) = match text.find(" in ") {
            Some(i) => {
                let keys: Vec<String> = text[..i]
                    .replace(' ', "")
                    .split(',')
                    .map(str::to_string)
                    .collect();
                if keys
                    .iter()
                    .any(|k| k.is_empty() || !k.chars().all(|c| c.is_alphanumeric() || c == '_'))
                {
                    self.error(
                        items_node.mark,
                        &items_path,
                        format!("invalid item names in `{text}`"),
                        Some("write `x in {{ ... }}` or `x, y in {{ ... }}`"),
                    );
                    return None;
                }
                (Some(keys), text[i + 4..].trim())
            }
            None => (None, text.trim()),
        };
        let items = self.template(items_node, &items_path, expr)?;
        if items.is_literal() {
            self.error(
                items_node.mark,
                &items_path,
                format!("`items` must be an expression, found `{text}`"),
                Some("write `items: \"{{ ctx().list }}\"`"),
            );
            return None;
        }
        let concurrency = match node.get("concurrency") {
            Some(c) if node.as_map().is_some() => {
                self.int_or_expr(c, &join(path, "concurrency"), "`concurrency`")
            }
            _ => None,
        };
        Some(WithItems {
            keys,
            items,
            concurrency,
        })
    }

    fn retry(&mut self, node: &Node, path: &str) -> Option<RetrySpec> {
        self.expect_map(node, path, "`retry`")?;
        self.keys(node, path, &RETRY_KEYS);
        let when = match node.get("when") {
            Some(w) => {
                let wpath = join(path, "when");
                let text = self.expect_str(w, &wpath, "`when`")?;
                Some(self.template(w, &wpath, text)?)
            }
            None => None,
        };
        let count = match node.get("count") {
            Some(c) => self.int_or_expr(c, &join(path, "count"), "`count`")?,
            None => {
                self.error(
                    node.mark,
                    path,
                    "missing `count`".into(),
                    Some("write `count: 3`"),
                );
                return None;
            }
        };
        let delay = node
            .get("delay")
            .and_then(|d| self.int_or_expr(d, &join(path, "delay"), "`delay`"));
        Some(RetrySpec { when, count, delay })
    }

    fn transition(&mut self, node: &Node, path: &str) -> Option<TransitionSpec> {
        self.expect_map(node, path, "a transition")?;
        self.keys(node, path, &TRANSITION_KEYS);
        let when_mark = node.get("when").map_or(node.mark, |w| w.mark);
        let when = match node.get("when") {
            Some(w) => {
                let wpath = join(path, "when");
                let text = self.expect_str(w, &wpath, "`when`")?;
                Some(self.template(w, &wpath, text)?)
            }
            None => None,
        };
        let mut publish = Vec::new();
        if let Some(p) = node.get("publish") {
            let ppath = join(path, "publish");
            match &p.value {
                Yaml::Str(s) => {
                    let params = parse_inline_params(s);
                    if params.is_empty() {
                        self.error(
                            p.mark,
                            &ppath,
                            format!("no `name=value` pairs in `{s}`"),
                            Some("write `publish: name={{ result() }}` or a list of mappings"),
                        );
                    }
                    for (name, value) in params {
                        match TValue::compile(&value) {
                            Ok(value) => publish.push(Named {
                                name,
                                value,
                                value_mark: p.mark,
                            }),
                            Err(errors) => {
                                for (sub, e) in errors {
                                    self.expr_error(p.mark, &format!("{ppath}.{name}{sub}"), &e);
                                }
                            }
                        }
                    }
                }
                Yaml::Seq(_) => publish = self.named_list(p, &ppath),
                _ => self.error(
                    p.mark,
                    &ppath,
                    format!("`publish` must be a string or a list, found {}", p.kind()),
                    None,
                ),
            }
        }
        let mut targets = Vec::new();
        match node.get("do") {
            None => targets.push(("continue".to_string(), node.mark)),
            Some(d) => {
                let dpath = join(path, "do");
                match &d.value {
                    Yaml::Str(s) => {
                        let mut seen = HashSet::new();
                        for t in s.split(',').map(str::trim) {
                            if t.is_empty() {
                                self.error(
                                    d.mark,
                                    &dpath,
                                    format!("empty task name in `{s}`"),
                                    None,
                                );
                            } else if !seen.insert(t) {
                                self.error(d.mark, &dpath, format!("`{t}` is listed twice"), None);
                            } else {
                                targets.push((t.to_string(), d.mark));
                            }
                        }
                    }
                    Yaml::Seq(items) => {
                        let mut seen = HashSet::new();
                        for (i, item) in items.iter().enumerate() {
                            let ipath = format!("{dpath}[{i}]");
                            if let Some(t) = self.expect_str(item, &ipath, "a task name") {
                                if !seen.insert(t) {
                                    self.error(
                                        item.mark,
                                        &ipath,
                                        format!("`{t}` is listed twice"),
                                        None,
                                    );
                                }
                                targets.push((t.trim().to_string(), item.mark));
                            }
                        }
                        if items.is_empty() {
                            self.error(
                                d.mark,
                                &dpath,
                                "`do` is empty".into(),
                                Some("name at least one task, or remove `do` to continue"),
                            );
                        }
                    }
                    _ => self.error(
                        d.mark,
                        &dpath,
                        format!("`do` must be a task name or a list, found {}", d.kind()),
                        None,
                    ),
                }
            }
        }
        let explicit = node.get("do").is_some();
        Some(TransitionSpec {
            when,
            when_mark,
            publish,
            targets,
            explicit,
        })
    }
}

/// Where `key` itself is written in a mapping.
fn key_mark(node: &Node, key: &str) -> Option<Mark> {
    node.as_map()?
        .iter()
        .find(|(k, _)| k.key_text() == key)
        .map(|(k, _)| k.mark)
}

fn join(path: &str, key: &str) -> String {
    if path.is_empty() {
        key.to_string()
    } else {
        format!("{path}.{key}")
    }
}

/// Finds the node at a sub-path produced by [`TValue::compile`] (`.k[0]`).
fn locate(node: &Node, sub: &str) -> Option<Mark> {
    let mut cur = node;
    let mut rest = sub;
    while !rest.is_empty() {
        if let Some(r) = rest.strip_prefix('.') {
            let end = r.find(['.', '[']).unwrap_or(r.len());
            cur = cur.get(&r[..end])?;
            rest = &r[end..];
        } else if let Some(r) = rest.strip_prefix('[') {
            let end = r.find(']')?;
            let i: usize = r[..end].parse().ok()?;
            cur = cur.as_seq()?.get(i)?;
            rest = &r[end + 1..];
        } else {
            return None;
        }
    }
    Some(cur.mark)
}

/// Orquesta's inline parameters: `k=v k2='quoted' k3={{ expr }} k4=[1, 2]`.
///
/// Scans left to right for `word=value`, where the value is (first match
/// wins) `[...]` (to the last `]` on the line), `"..."`, `'...'`, a
/// number, `true`/`false` (any case), `null`, or `{{ ... }}`. Quoted values
/// stay strings; other values are JSON when they parse as JSON.
pub(crate) fn parse_inline_params(s: &str) -> Vec<(String, serde_json::Value)> {
    let chars: Vec<char> = s.chars().collect();
    let is_word = |c: char| c.is_alphanumeric() || c == '_';
    let mut out = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        if !is_word(chars[i]) {
            i += 1;
            continue;
        }
        let start = i;
        let mut j = i;
        while j < chars.len() && is_word(chars[j]) {
            j += 1;
        }
        if j < chars.len()
            && chars[j] == '='
            && let Some(end) = match_value(&chars, j + 1)
        {
            {
                let key: String = chars[start..j].iter().collect();
                let raw: String = chars[j + 1..end].iter().collect();
                out.push((key, convert_inline_value(&raw)));
                i = end;
                continue;
            }
        }
        i = start + 1;
    }
    out
}

fn match_value(c: &[char], at: usize) -> Option<usize> {
    let skip_ws = |mut k: usize| {
        while k < c.len() && c[k].is_whitespace() {
            k += 1;
        }
        k
    };
    let first = *c.get(at)?;
    let line_end = c[at..]
        .iter()
        .position(|&ch| ch == '\n')
        .map_or(c.len(), |p| at + p);
    // [ ... ] greedy to the last `]` on the line.
    if first == '['
        && let Some(p) = c[at + 1..line_end].iter().rposition(|&ch| ch == ']')
    {
        return Some(skip_ws(at + 1 + p + 1));
    }
    for quote in ['"', '\''] {
        if first == quote
            && let Some(p) = c[at + 1..].iter().position(|&ch| ch == quote)
        {
            return Some(skip_ws(at + 1 + p + 1));
        }
    }
    // [-]?\d*\.\d+  then  [-]?\d+
    let mut k = at;
    if c.get(k) == Some(&'-') {
        k += 1;
    }
    let digits_from = |mut k: usize| {
        while k < c.len() && c[k].is_ascii_digit() {
            k += 1;
        }
        k
    };
    let int_end = digits_from(k);
    if c.get(int_end) == Some(&'.') {
        let frac_end = digits_from(int_end + 1);
        if frac_end > int_end + 1 {
            return Some(frac_end);
        }
    }
    if int_end > k {
        return Some(int_end);
    }
    let word = |w: &str, case_insensitive: bool| {
        let n = w.chars().count();
        let got: String = c.get(at..at + n)?.iter().collect();
        let ok = if case_insensitive {
            got.eq_ignore_ascii_case(w)
        } else {
            got == w
        };
        ok.then_some(at + n)
    };
    if let Some(e) = word("true", true)
        .or_else(|| word("false", true))
        .or_else(|| word("null", false))
    {
        return Some(e);
    }
    if first == '{' && c.get(at + 1) == Some(&'{') {
        let mut k = at + 2;
        while k + 1 < c.len() {
            if c[k] == '\n' {
                return None;
            }
            if c[k] == '}' && c[k + 1] == '}' {
                return Some(k + 2);
            }
            k += 1;
        }
    }
    None
}

fn convert_inline_value(raw: &str) -> serde_json::Value {
    let v = raw.trim();
    let quoted = has_quoted(v);
    let v = v.strip_prefix('"').unwrap_or(v);
    let v = v.strip_suffix('"').unwrap_or(v);
    let v = v.strip_prefix('\'').unwrap_or(v);
    let v = v.strip_suffix('\'').unwrap_or(v);
    let curly = v.starts_with('{') && v.ends_with('}');
    if quoted && !curly {
        return serde_json::Value::String(v.to_string());
    }
    let lowered;
    let candidate = if v.eq_ignore_ascii_case("true") || v.eq_ignore_ascii_case("false") {
        lowered = v.to_ascii_lowercase();
        lowered.as_str()
    } else {
        v
    };
    serde_json::from_str(candidate).unwrap_or_else(|_| serde_json::Value::String(v.to_string()))
}

/// Whether `v` holds a `"..."` or `'...'` substring.
fn has_quoted(v: &str) -> bool {
    ['"', '\''].iter().any(|&q| v.matches(q).count() >= 2)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn inline_params_follow_orquesta() {
        let p = parse_inline_params("core.echo message={{ ctx().name }}");
        assert_eq!(p, vec![("message".into(), json!("{{ ctx().name }}"))]);
        let p = parse_inline_params("a4='{{ ctx(\"b3\") }}' b4='{{ ctx(\"a4\") }}'");
        assert_eq!(p[0], ("a4".into(), json!("{{ ctx(\"b3\") }}")));
        assert_eq!(p[1], ("b4".into(), json!("{{ ctx(\"a4\") }}")));
        let p = parse_inline_params("x=1 y=-2.5 z=TRUE n=null l=[1, 2] s=\"hi there\" w=word");
        assert_eq!(
            p,
            vec![
                ("x".into(), json!(1)),
                ("y".into(), json!(-2.5)),
                ("z".into(), json!(true)),
                ("n".into(), json!(null)),
                ("l".into(), json!([1, 2])),
                ("s".into(), json!("hi there")),
            ]
        );
        assert!(parse_inline_params("core.noop").is_empty());
    }

    #[test]
    fn parses_a_fixture_like_workflow() {
        let text = "version: 1.0\ninput:\n  - name\nvars:\n  - greeting: null\ntasks:\n  task1:\n    action: core.echo message={{ ctx().name }}\n    next:\n      - when: \"{{ succeeded() }}\"\n        publish: greeting={{ result() }}\n        do: task2, task3\n  task2:\n    action: core.noop\n  task3:\n    action: core.noop\noutput:\n  - greeting: \"{{ ctx().greeting }}\"\n";
        let wf = Workflow::parse("wf.yaml", text, None).unwrap();
        assert_eq!(wf.tasks().len(), 3);
        let t1 = wf.task("task1").unwrap();
        assert_eq!(t1.action(), Some("core.echo"));
        assert_eq!(
            t1.transitions()[0].targets().collect::<Vec<_>>(),
            ["task2", "task3"]
        );
        assert_eq!(
            t1.transitions()[0].published().collect::<Vec<_>>(),
            ["greeting"]
        );
    }
}
