//! Rehearsal: run a workflow against mocked action results and compare.
//!
//! Reads Orquesta's rehearsal test-spec format (`orquesta/rehearsing.py`,
//! `WorkflowTestCase`): either one case per file, or a file with
//! `workflow:` and a list of `cases:` (the layout of the conformance
//! fixtures), each case optionally a chain of `steps:` whose later steps
//! rerun the previous state (`rerun_tasks:`).
//!
//! | key                         | meaning                                                  |
//! |-----------------------------|----------------------------------------------------------|
//! | `inputs`                    | workflow input                                           |
//! | `mock_action_executions`    | `task_id`, `status` (succeeded), `result`/`result_path`, `seq_id`, `item_id`, `num_iter` (1), `iter_id` |
//! | `expected_task_sequence`    | `task`, or `task__r<route>` for routes other than 0      |
//! | `expected_routes`           | default `[[]]`                                            |
//! | `expected_workflow_status`  | default `succeeded`                                       |
//! | `expected_errors`           | exact list, if given                                      |
//! | `expected_output`           | if given                                                  |
//! | `expected_term_tasks`       | if given, in any order                                    |
//! | `extra_assertions`          | `task.path: value` on the task's last entry (`task1.retry.tally: 2`) |
//! | `rerun_tasks`               | in a later step: `task_id`, `route`, `reset_items`        |
//!
//! The driver is upstream's `assert_conducting_sequence`, round by round:
//! every task of the batch gets `running` (its sequence index is its
//! `seq_id`), then every task gets its completion from the first matching
//! mock (by `seq_id`, else the first unused mock without one, else
//! `succeeded` with a null result); a with-items task completes one item
//! per round. The conductor's state goes through serde between rounds, as
//! the runtime's would. [`run_case`] is pure; [`rehearse_file`] reads the
//! files.

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::conductor::{
    ActionEvent, Conductor, RerunRequest, TaskDispatch, TaskEntry, WorkflowState,
};
use crate::expr::JsonMap;
use crate::spec::Workflow;
use crate::status::Status;
use crate::validate::SpecError;
use drover_text::located as yaml;

/// Why a spec could not be rehearsed at all.
#[derive(Debug, thiserror::Error)]
pub enum RehearseError {
    #[error("cannot read {}: {source}", path.display())]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{file}: {message}")]
    Spec { file: String, message: String },
    #[error("workflow `{name}` not found (looked in {})", tried.iter().map(|p| p.display().to_string()).collect::<Vec<_>>().join(", "))]
    WorkflowNotFound { name: String, tried: Vec<PathBuf> },
    #[error(transparent)]
    Workflow(#[from] SpecError),
}

/// A parsed test spec: the workflow file it names and its cases.
#[derive(Debug, Clone)]
pub struct TestSpec {
    pub workflow: String,
    pub cases: Vec<TestCase>,
}

/// One case: one step, or a chain of steps (fresh run, then reruns).
#[derive(Debug, Clone)]
pub struct TestCase {
    pub name: String,
    pub steps: Vec<Step>,
}

/// One run of the driver and what to expect of it.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Step {
    #[serde(default)]
    pub inputs: JsonMap,
    #[serde(default)]
    pub rerun_tasks: Vec<RerunRequest>,
    #[serde(default)]
    pub mock_action_executions: Vec<Mock>,
    pub expected_task_sequence: Vec<String>,
    #[serde(default)]
    pub expected_routes: Option<Vec<Vec<String>>>,
    #[serde(default)]
    pub expected_workflow_status: Option<String>,
    #[serde(default)]
    pub expected_errors: Option<Vec<serde_json::Value>>,
    #[serde(default)]
    pub expected_output: Option<serde_json::Value>,
    #[serde(default)]
    pub expected_term_tasks: Option<Vec<String>>,
    #[serde(default)]
    pub extra_assertions: BTreeMap<String, serde_json::Value>,
}

/// A mocked action execution.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Mock {
    pub task_id: String,
    #[serde(default)]
    pub route: u32,
    #[serde(default)]
    pub seq_id: Option<usize>,
    #[serde(default)]
    pub item_id: Option<usize>,
    #[serde(default)]
    pub iter_id: i64,
    #[serde(default = "one")]
    pub num_iter: i64,
    #[serde(default)]
    pub status: Option<String>,
    #[serde(default)]
    pub result: Option<serde_json::Value>,
    #[serde(default)]
    pub result_path: Option<String>,
}

fn one() -> i64 {
    1
}

/// The outcome of one case.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CaseReport {
    pub name: String,
    pub passed: bool,
    /// The first difference (or error), when failed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub difference: Option<String>,
}

/// The outcome of one spec file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SpecReport {
    pub spec: String,
    pub workflow: String,
    pub cases: Vec<CaseReport>,
}

impl SpecReport {
    /// Whether every case passed.
    pub fn passed(&self) -> bool {
        self.cases.iter().all(|c| c.passed)
    }
}

impl fmt::Display for SpecReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for c in &self.cases {
            match &c.difference {
                None => writeln!(f, "PASS {}: {}", self.spec, c.name)?,
                Some(d) => writeln!(f, "FAIL {}: {}: {d}", self.spec, c.name)?,
            }
        }
        Ok(())
    }
}

#[derive(Deserialize)]
struct RawCase {
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    workflow: Option<String>,
    #[serde(default, rename = "source")]
    _source: Option<serde_json::Value>,
    #[serde(default, rename = "asserted_by")]
    _asserted_by: Option<serde_json::Value>,
    #[serde(default, rename = "tier")]
    _tier: Option<serde_json::Value>,
    #[serde(default)]
    steps: Option<Vec<serde_json::Value>>,
    #[serde(default)]
    expected_inspection_errors: Option<serde_json::Value>,
    #[serde(flatten)]
    rest: JsonMap,
}

/// Parses a test spec. `file` is used in messages.
pub fn parse_spec(file: &str, text: &str) -> Result<TestSpec, RehearseError> {
    let err = |message: String| RehearseError::Spec {
        file: file.to_string(),
        message,
    };
    let root = yaml::parse(text)
        .map_err(|e| {
            err(format!(
                "{}:{}: invalid YAML: {}",
                e.mark.line, e.mark.column, e.message
            ))
        })?
        .to_json();
    let serde_json::Value::Object(mut top) = root else {
        return Err(err("a test spec must be a mapping".into()));
    };
    let stem = Path::new(file)
        .file_stem()
        .map_or("case".into(), |s| s.to_string_lossy().to_string());
    let (workflow, raw_cases) = match top.remove("cases") {
        Some(serde_json::Value::Array(cases)) => {
            let workflow = match top.remove("workflow") {
                Some(serde_json::Value::String(w)) => w,
                _ => {
                    return Err(err(
                        "missing `workflow:` (the workflow file to rehearse)".into()
                    ));
                }
            };
            top.remove("tier");
            top.remove("description");
            if let Some(k) = top.keys().next() {
                return Err(err(format!("unknown key `{k}`")));
            }
            (workflow, cases)
        }
        Some(_) => return Err(err("`cases` must be a list".into())),
        None => {
            let workflow = match top.get("workflow") {
                Some(serde_json::Value::String(w)) => w.clone(),
                _ => {
                    return Err(err(
                        "missing `workflow:` (the workflow file to rehearse)".into()
                    ));
                }
            };
            (workflow, vec![serde_json::Value::Object(top)])
        }
    };
    let mut cases = Vec::new();
    for (i, raw) in raw_cases.into_iter().enumerate() {
        let c: RawCase =
            serde_json::from_value(raw).map_err(|e| err(format!("case #{}: {e}", i + 1)))?;
        let name = c.name.clone().unwrap_or_else(|| {
            if i == 0 {
                stem.clone()
            } else {
                format!("{stem}[{i}]")
            }
        });
        let cerr = |e: String| err(format!("case `{name}`: {e}"));
        if c.expected_inspection_errors.is_some() {
            return Err(cerr(
                "`expected_inspection_errors` is not supported; use `drover workflow validate`"
                    .into(),
            ));
        }
        if c.workflow.as_ref().is_some_and(|w| *w != workflow) {
            return Err(cerr("a case cannot name another workflow".into()));
        }
        let steps: Vec<Step> = match c.steps {
            Some(steps) => {
                if !c.rest.is_empty() {
                    let k = c.rest.keys().next().cloned().unwrap_or_default();
                    return Err(cerr(format!(
                        "`{k}` belongs in a step when `steps` is given"
                    )));
                }
                steps
                    .into_iter()
                    .enumerate()
                    .map(|(j, s)| {
                        serde_json::from_value(s).map_err(|e| cerr(format!("step {}: {e}", j + 1)))
                    })
                    .collect::<Result<_, _>>()?
            }
            None => vec![
                serde_json::from_value(serde_json::Value::Object(c.rest))
                    .map_err(|e| cerr(e.to_string()))?,
            ],
        };
        if steps.is_empty() {
            return Err(cerr("`steps` is empty".into()));
        }
        for (j, s) in steps.iter().enumerate() {
            for m in &s.mock_action_executions {
                if let Some(st) = &m.status
                    && Status::parse(st).is_none()
                {
                    return Err(cerr(format!(
                        "step {}: unknown status `{st}` for `{}`",
                        j + 1,
                        m.task_id
                    )));
                }
            }
            if j == 0 && !s.rerun_tasks.is_empty() {
                return Err(cerr("`rerun_tasks` needs a previous step to rerun".into()));
            }
        }
        cases.push(TestCase { name, steps });
    }
    Ok(TestSpec { workflow, cases })
}

/// Runs one case. `load` reads a mock's `result_path` (relative to the spec).
pub fn run_case(
    wf: &Workflow,
    case: &TestCase,
    load: &dyn Fn(&str) -> Result<String, String>,
) -> CaseReport {
    run_case_observed(wf, case, load, &mut |_, _| {})
}

/// A call the driver made on its conductor, shown to an observer (a test
/// replays them on a conductor that forgets).
#[cfg_attr(not(test), allow(dead_code))]
enum Call<'a> {
    /// A new run with these inputs, requested `running`.
    Start(&'a JsonMap),
    /// A rerun of the previous step's state.
    Rerun(&'a [RerunRequest]),
    /// `next_tasks` returned these.
    Next(&'a [TaskDispatch]),
    Event(&'a str, u32, &'a ActionEvent),
    Output,
}

type Observer<'o> = dyn FnMut(&Conductor<'_>, Call<'_>) + 'o;

fn run_case_observed(
    wf: &Workflow,
    case: &TestCase,
    load: &dyn Fn(&str) -> Result<String, String>,
    observe: &mut Observer<'_>,
) -> CaseReport {
    let mut state: Option<WorkflowState> = None;
    for (i, step) in case.steps.iter().enumerate() {
        let label = if case.steps.len() > 1 {
            format!("step {}: ", i + 1)
        } else {
            String::new()
        };
        match run_step(wf, step, state.take(), load, observe) {
            Ok(s) => state = Some(s),
            Err(d) => {
                return CaseReport {
                    name: case.name.clone(),
                    passed: false,
                    difference: Some(format!("{label}{d}")),
                };
            }
        }
    }
    CaseReport {
        name: case.name.clone(),
        passed: true,
        difference: None,
    }
}

struct MockState {
    mock: Mock,
    pos: i64,
}

fn run_step(
    wf: &Workflow,
    step: &Step,
    previous: Option<WorkflowState>,
    load: &dyn Fn(&str) -> Result<String, String>,
    observe: &mut Observer<'_>,
) -> Result<WorkflowState, String> {
    let mut mocks: Vec<MockState> = Vec::new();
    for m in &step.mock_action_executions {
        let task = wf
            .task(&m.task_id)
            .ok_or_else(|| format!("mock for unknown task `{}`", m.task_id))?;
        if task.has_items() && m.item_id.is_none() {
            return Err(format!(
                "mock action execution for with items task \"{}\" is missing \"item_id\"",
                m.task_id
            ));
        }
        let mut mock = m.clone();
        if let Some(path) = &m.result_path {
            let text = load(path)?;
            mock.result = Some(if path.ends_with(".json") {
                serde_json::from_str(&text).map_err(|e| format!("{path}: {e}"))?
            } else if path.ends_with(".yaml") || path.ends_with(".yml") {
                yaml::parse(&text)
                    .map_err(|e| format!("{path}: {}", e.message))?
                    .to_json()
            } else {
                serde_json::Value::String(text)
            });
        }
        mocks.push(MockState {
            pos: mock.iter_id - 1,
            mock,
        });
    }

    let mut c = match previous {
        None => {
            let mut c = Conductor::new(wf, step.inputs.clone());
            c.request_status(Status::Running)
                .map_err(|e| format!("cannot start: {e}"))?;
            observe(&c, Call::Start(&step.inputs));
            c
        }
        Some(state) => {
            let mut c = round_trip(wf, state)?;
            c.request_rerun(&step.rerun_tasks)
                .map_err(|e| format!("cannot rerun: {e}"))?;
            if c.status() != Some(Status::Resuming) {
                return Err(format!(
                    "status after the rerun request is {:?}, not resuming",
                    c.status()
                ));
            }
            observe(&c, Call::Rerun(&step.rerun_tasks));
            c
        }
    };

    let mut accumulated: HashMap<String, usize> = HashMap::new();
    let mut batch = c.next_tasks();
    observe(&c, Call::Next(&batch));
    let mut rounds = 0;
    while !batch.is_empty() {
        rounds += 1;
        if rounds > 100_000 {
            return Err("the workflow does not finish (100000 rounds)".into());
        }
        c = round_trip(wf, c.into_state())?;
        let mut running = Vec::new();
        for t in &batch {
            let running_event = ActionEvent::status(Status::Running);
            c.on_action_event(&t.task_id, t.route, running_event.clone())
                .map_err(|e| format!("running event for {}: {e}", t.task_id))?;
            observe(&c, Call::Event(&t.task_id, t.route, &running_event));
            running.push((t, c.state().sequence().len() - 1));
        }
        for (t, seq_id) in running {
            let pick = find_mock(&mocks, &t.task_id, Some(seq_id))
                .or_else(|| find_mock(&mocks, &t.task_id, None));
            let (status, result, mut item_id) = match pick {
                Some(i) => {
                    mocks[i].pos += 1;
                    let m = &mocks[i].mock;
                    let status = m
                        .status
                        .as_deref()
                        .and_then(Status::parse)
                        .unwrap_or(Status::Succeeded);
                    (status, m.result.clone(), m.item_id)
                }
                None => (Status::Succeeded, None, None),
            };
            let mut event = ActionEvent {
                status,
                result,
                item_id: None,
            };
            if wf.task(&t.task_id).is_some_and(|s| s.has_items()) {
                let len = accumulated.entry(t.task_id.clone()).or_default();
                let id = *item_id.get_or_insert(*len);
                if let Some(i) = pick {
                    mocks[i].mock.item_id = Some(id);
                }
                *len = (*len).max(id + 1);
                event.item_id = Some(id);
            }
            c.on_action_event(&t.task_id, t.route, event.clone())
                .map_err(|e| format!("completion of {}: {e}", t.task_id))?;
            observe(&c, Call::Event(&t.task_id, t.route, &event));
        }
        batch = c.next_tasks();
        observe(&c, Call::Next(&batch));
    }
    if c.status().is_some_and(Status::is_completed) {
        c.render_output();
        observe(&c, Call::Output);
    }
    compare(&c, step)?;
    Ok(c.into_state())
}

/// Upstream's `get_mock_action_execution`.
fn find_mock(mocks: &[MockState], task_id: &str, seq_id: Option<usize>) -> Option<usize> {
    let mut found: Vec<usize> = (0..mocks.len())
        .filter(|&i| {
            let m = &mocks[i];
            m.mock.task_id == task_id && m.pos < m.mock.iter_id + m.mock.num_iter - 1
        })
        .collect();
    if let Some(seq) = seq_id
        && !found.is_empty()
    {
        found.retain(|&i| mocks[i].mock.seq_id == Some(seq));
    }
    let first = *found.first()?;
    if mocks[first].mock.seq_id.is_some() && seq_id.is_none() {
        return None;
    }
    Some(first)
}

fn round_trip<'w>(wf: &'w Workflow, state: WorkflowState) -> Result<Conductor<'w>, String> {
    let json =
        serde_json::to_string(&state).map_err(|e| format!("state does not serialize: {e}"))?;
    let back: WorkflowState =
        serde_json::from_str(&json).map_err(|e| format!("state does not deserialize: {e}"))?;
    Conductor::resume(wf, back).map_err(|e| e.to_string())
}

fn entry_name(e: &TaskEntry) -> String {
    format!("{}__r{}", e.id, e.route)
}

fn friendly(name: &str) -> &str {
    name.strip_suffix("__r0").unwrap_or(name)
}

fn normalize(name: &str) -> String {
    if name.contains("__r") {
        name.to_string()
    } else {
        format!("{name}__r0")
    }
}

fn compare(c: &Conductor<'_>, step: &Step) -> Result<(), String> {
    let actual: Vec<String> = c.state().sequence().iter().map(entry_name).collect();
    let expected: Vec<String> = step
        .expected_task_sequence
        .iter()
        .map(|s| normalize(s))
        .collect();
    if actual != expected {
        let at = actual
            .iter()
            .zip(&expected)
            .position(|(a, e)| a != e)
            .unwrap_or(actual.len().min(expected.len()));
        let show = |v: &[String]| {
            v.iter()
                .map(|s| friendly(s))
                .collect::<Vec<_>>()
                .join(" > ")
        };
        let got = actual.get(at).map_or("(end)", |s| friendly(s));
        let want = expected.get(at).map_or("(end)", |s| friendly(s));
        return Err(format!(
            "task sequence differs at #{at}: expected {want}, got {got} (actual: {}; expected: {})",
            show(&actual),
            show(&expected)
        ));
    }
    let routes: Vec<Vec<String>> = c
        .state()
        .routes()
        .iter()
        .map(|r| r.iter().map(|t| t.to_string()).collect())
        .collect();
    let expected_routes = step
        .expected_routes
        .clone()
        .unwrap_or_else(|| vec![Vec::new()]);
    if routes != expected_routes {
        return Err(format!(
            "routes differ: expected {expected_routes:?}, got {routes:?}"
        ));
    }
    let status = crate::status::opt_str(c.status());
    let expected_status = step
        .expected_workflow_status
        .as_deref()
        .unwrap_or("succeeded");
    if status != expected_status {
        let errors = serde_json::to_string(c.errors()).unwrap_or_default();
        return Err(format!(
            "workflow status differs: expected {expected_status}, got {status} (errors: {errors})"
        ));
    }
    if let Some(expected) = &step.expected_errors {
        let actual = serde_json::to_value(c.errors()).unwrap_or_default();
        let expected = serde_json::Value::Array(expected.clone());
        if actual != expected {
            return Err(format!("errors differ: expected {expected}, got {actual}"));
        }
    }
    if let Some(expected) = &step.expected_output {
        let actual = c.output().map_or(serde_json::Value::Null, |o| {
            serde_json::Value::Object(o.clone())
        });
        if &actual != expected {
            return Err(format!("output differs: expected {expected}, got {actual}"));
        }
    }
    if let Some(expected) = &step.expected_term_tasks {
        let mut actual: Vec<String> = c
            .terminal_tasks()
            .iter()
            .map(|(_, e)| entry_name(e))
            .collect();
        let mut expected: Vec<String> = expected.iter().map(|s| normalize(s)).collect();
        actual.sort();
        expected.sort();
        if actual != expected {
            let show = |v: &[String]| v.iter().map(|s| friendly(s)).collect::<Vec<_>>().join(", ");
            return Err(format!(
                "terminal tasks differ: expected [{}], got [{}]",
                show(&expected),
                show(&actual)
            ));
        }
    }
    for (key, expected) in &step.extra_assertions {
        let (task, path) = key
            .split_once('.')
            .ok_or_else(|| format!("extra assertion `{key}` is not `task.path`"))?;
        let entry = c
            .state()
            .sequence()
            .iter()
            .rev()
            .find(|e| &*e.id == task)
            .ok_or_else(|| format!("extra assertion `{key}`: task `{task}` never ran"))?;
        let view = entry_view(c.state(), entry);
        let actual = path
            .split('.')
            .try_fold(&view, |v, k| v.get(k))
            .cloned()
            .unwrap_or(serde_json::Value::Null);
        if &actual != expected {
            return Err(format!("{key} differs: expected {expected}, got {actual}"));
        }
    }
    Ok(())
}

/// A task state entry as upstream serializes it (for `extra_assertions`).
pub fn entry_view(state: &WorkflowState, e: &TaskEntry) -> serde_json::Value {
    let mut v = serde_json::json!({
        "id": &*e.id,
        "route": e.route,
        "status": crate::status::opt_str(e.status),
        "ctxs": {"in": state.context_ids(e)},
        "prev": e.prev().iter().map(|(k, v)| (k.to_string(), serde_json::json!(v))).collect::<JsonMap>(),
    });
    if let Some(r) = &e.retry {
        v["retry"] = serde_json::json!({"when": r.when, "count": r.count, "delay": r.delay, "tally": r.tally});
    }
    if e.term {
        v["term"] = serde_json::Value::Bool(true);
    }
    v
}

/// Where a spec's `workflow:` file is looked for: `--workflows DIR` if
/// given, else beside the spec, then in `../jinja/` relative to it (the
/// spec itself is skipped when it has the workflow's name).
pub fn workflow_candidates(
    spec: &Path,
    workflow: &str,
    workflows_dir: Option<&Path>,
) -> Vec<PathBuf> {
    let w = Path::new(workflow);
    if w.is_absolute() {
        return vec![w.to_path_buf()];
    }
    match workflows_dir {
        Some(dir) => vec![dir.join(w)],
        None => {
            let base = spec.parent().unwrap_or(Path::new("."));
            vec![base.join(w), base.join("..").join("jinja").join(w)]
        }
    }
}

/// Reads a spec file and its workflow, and runs every case.
pub fn rehearse_file(
    spec: &Path,
    workflows_dir: Option<&Path>,
) -> Result<SpecReport, RehearseError> {
    let read = |p: &Path| {
        std::fs::read_to_string(p).map_err(|e| RehearseError::Io {
            path: p.to_path_buf(),
            source: e,
        })
    };
    let text = read(spec)?;
    let spec_name = spec.display().to_string();
    let parsed = parse_spec(&spec_name, &text)?;
    let tried = workflow_candidates(spec, &parsed.workflow, workflows_dir);
    // A spec may share its workflow's file name (`tests/x.yaml` rehearses
    // `jinja/x.yaml`): never take the spec for its own workflow.
    let same = |p: &Path| match (p.canonicalize(), spec.canonicalize()) {
        (Ok(a), Ok(b)) => a == b,
        _ => false,
    };
    let Some(wf_path) = tried.iter().find(|p| p.is_file() && !same(p)) else {
        return Err(RehearseError::WorkflowNotFound {
            name: parsed.workflow,
            tried,
        });
    };
    let wf_text = read(wf_path)?;
    let wf = Workflow::parse(&wf_path.display().to_string(), &wf_text, None)?;
    let base: Arc<Path> = Arc::from(spec.parent().unwrap_or(Path::new(".")));
    let load =
        move |p: &str| std::fs::read_to_string(base.join(p)).map_err(|e| format!("{p}: {e}"));
    let cases = parsed
        .cases
        .iter()
        .map(|c| run_case(&wf, c, &load))
        .collect();
    Ok(SpecReport {
        spec: spec_name,
        workflow: wf_path.display().to_string(),
        cases,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const WF: &str = "version: 1.0\ntasks:\n  a:\n    action: core.noop\n    next:\n      - when: '{{ succeeded() }}'\n        do: b\n      - when: '{{ failed() }}'\n        do: c\n  b:\n    action: core.noop\n  c:\n    action: core.noop\n";

    fn run(spec: &str) -> Vec<CaseReport> {
        let wf = Workflow::parse("wf.yaml", WF, None).unwrap();
        let spec = parse_spec("t.yaml", spec).unwrap();
        spec.cases
            .iter()
            .map(|c| run_case(&wf, c, &|_| Err("no files".into())))
            .collect()
    }

    #[test]
    fn passing_and_failing_cases() {
        let reports = run(
            "workflow: wf.yaml\ncases:\n- name: ok\n  expected_task_sequence: [a, b]\n- name: remediated\n  mock_action_executions: [{task_id: a, status: failed}]\n  expected_task_sequence: [a, c]\n  expected_term_tasks: [c]\n- name: wrong\n  expected_task_sequence: [a, c]\n",
        );
        assert!(reports[0].passed && reports[1].passed, "{reports:?}");
        assert_eq!(
            reports[2].difference.as_deref(),
            Some("task sequence differs at #1: expected c, got b (actual: a > b; expected: a > c)")
        );
    }

    #[test]
    fn single_case_format_and_unknown_keys() {
        let reports =
            run("workflow: wf.yaml\nexpected_task_sequence: [a, b]\nexpected_output: null\n");
        assert_eq!(reports.len(), 1);
        let e = parse_spec(
            "t.yaml",
            "workflow: wf.yaml\nexpected_task_sequence: [a]\nbogus: 1\n",
        )
        .unwrap_err();
        assert!(e.to_string().contains("unknown field `bogus`"), "{e}");
    }

    /// Every Orquesta fixture case, replayed call by call on a conductor
    /// that forgets what it stored (as the runner's does): after every
    /// call, what it stored is the whole state of the rehearsal's.
    #[test]
    fn fixtures_store_the_same_when_the_conductor_forgets() {
        use crate::conductor::testing::Lean;

        let dir =
            Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/orquesta-fixtures/tests");
        let mut specs: Vec<PathBuf> = std::fs::read_dir(&dir)
            .unwrap_or_else(|e| panic!("the Orquesta fixtures: {}: {e}", dir.display()))
            .map(|e| e.unwrap().path())
            .filter(|p| p.extension().is_some_and(|x| x == "yaml"))
            .collect();
        specs.sort();
        let mut cases = 0;
        for spec in &specs {
            let parsed = parse_spec("spec", &std::fs::read_to_string(spec).unwrap()).unwrap();
            let wf_path = workflow_candidates(spec, &parsed.workflow, None)
                .into_iter()
                .find(|p| p.is_file() && p.parent() != spec.parent())
                .unwrap();
            let text = std::fs::read_to_string(&wf_path).unwrap();
            let wf = Workflow::parse("wf.yaml", &text, None).unwrap();
            let base = spec.parent().unwrap().to_path_buf();
            let load =
                move |p: &str| std::fs::read_to_string(base.join(p)).map_err(|e| e.to_string());
            // A delta after every call, every second, every third: what a
            // delta did not store yet must not be forgotten.
            for (case, stride) in parsed
                .cases
                .iter()
                .flat_map(|c| (1..=3).map(move |s| (c, s)))
            {
                let mut lean: Option<Lean<'_>> = None;
                let mut failure: Option<String> = None;
                let mut calls = 0;
                let mut observe = |pure: &Conductor<'_>, call: Call<'_>| {
                    if failure.is_some() {
                        return;
                    }
                    calls += 1;
                    let stored = calls % stride == 0 || matches!(call, Call::Output);
                    let replayed = match (call, lean.take()) {
                        (Call::Start(inputs), _) => Ok(Lean::start(&wf, inputs.clone())),
                        (Call::Rerun(requests), Some(l)) => l.rerun(&wf, requests),
                        (Call::Next(batch), Some(mut l)) => {
                            let got = l.c.next_tasks();
                            (got == batch)
                                .then_some(l)
                                .ok_or_else(|| format!("next tasks differ: {got:?}"))
                        }
                        (Call::Event(task, route, e), Some(mut l)) => {
                            l.c.on_action_event(task, route, e.clone())
                                .map(|()| l)
                                .map_err(|e| e.to_string())
                        }
                        (Call::Output, Some(mut l)) => {
                            l.c.render_output();
                            Ok(l)
                        }
                        (_, None) => Err("no run".into()),
                    };
                    let checked = replayed.and_then(|mut l| {
                        if stored {
                            l.check(pure)?;
                        }
                        Ok(l)
                    });
                    match checked {
                        Ok(l) => lean = Some(l),
                        Err(e) => failure = Some(e),
                    }
                };
                let report = run_case_observed(&wf, case, &load, &mut observe);
                let at = format!("{}: {} (stride {stride})", spec.display(), case.name);
                assert!(report.passed, "{at}: {:?}", report.difference);
                assert_eq!(failure, None, "{at}");
                cases += 1;
            }
        }
        assert_eq!(cases, 3 * 36);
    }
}
