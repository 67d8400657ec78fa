//! `drover pack test`: a pack's own tests (`<pack>/tests/*.yaml`, format in
//! [`format`] and docs/pack-authoring.md) run against a scratch database.
//!
//! Owns the runner: per test file, a fresh temporary database with the
//! pack installed (trusted), the file's grants given and its fixtures
//! (simulated nodes, kv values) in place; then each test, a rule test
//! (a trigger instance through the pack's rules: which match, with which
//! rendered parameters, as `drover rule test` evaluates them) or a run
//! test (an action or workflow run dry, as `drover run --dry-run`: its
//! status, result and plan of effects). Expected and got values are
//! compared into [`Difference`]s. The user's database is never opened;
//! nothing outside the scratch directory is written but the compiled
//! cache, when [`Options::cache_dir`] names one.
//!
//! [`test_pack`] is the one entry point, shared by the CLI and `pack
//! build`.

pub mod format;

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use drover_app::App;
use drover_core::{ChangeBy, Execution};
use drover_host::RunOptions;
use drover_pack::ActionRef;
use drover_rules::{Context, KvStore, Rule, TriggerInstance, Verdict, test_rule};
use drover_store::Store;
use serde::Serialize;
use serde_json::{Value, json};

use format::{Parsed, Step, TestCase};

/// The directory of a pack's test files.
pub const TESTS_DIR: &str = "tests";
/// Most test files read from one pack.
pub const MAX_TEST_FILES: usize = 100;
/// Who the scratch database says did everything.
const ACTOR: &str = "user:pack-test";

/// Why the tests could not be run at all (bad input: exit code 2).
#[derive(Debug, thiserror::Error)]
pub enum PackTestError {
    #[error("{}{}: {}{message}", file, line.map(|l| format!(":{l}")).unwrap_or_default(), if field.is_empty() { String::new() } else { format!("{field}: ") })]
    File {
        /// The test file, relative to the pack directory.
        file: String,
        line: Option<usize>,
        /// Dotted path of the field (`tests[2].expect.plan`), or empty.
        field: String,
        message: String,
    },
    #[error("{path}: {message}")]
    Io { path: PathBuf, message: String },
    #[error("the pack in {dir} does not install, so its tests cannot run: {message}")]
    Install { dir: PathBuf, message: String },
    #[error("cannot set up the scratch database: {0}")]
    Scratch(String),
}

/// How to run.
#[derive(Clone, Debug, Default)]
pub struct Options {
    /// Run only the tests whose name contains this text.
    pub filter: Option<String>,
    /// The compiled-component cache to use (shared with an installation,
    /// to compile nothing twice); a scratch one when `None`.
    pub cache_dir: Option<PathBuf>,
}

/// What the tests found.
#[derive(Debug, Serialize)]
pub struct Report {
    /// `name@version`.
    pub pack: String,
    pub files: Vec<FileReport>,
    pub passed: usize,
    pub failed: usize,
}

impl Report {
    /// No test failed.
    pub fn ok(&self) -> bool {
        self.failed == 0
    }
}

/// The tests of one file.
#[derive(Debug, Serialize)]
pub struct FileReport {
    /// Relative to the pack directory.
    pub file: String,
    pub tests: Vec<TestReport>,
}

/// One test's outcome.
#[derive(Debug, Serialize)]
pub struct TestReport {
    pub name: String,
    /// `rule` or `run`.
    pub kind: &'static str,
    pub passed: bool,
    /// Empty when passed.
    pub differences: Vec<Difference>,
    /// What the test saw: the matches of a rule test, or the run's
    /// status, result, error and plan.
    pub got: Value,
}

/// Where expected and got differ.
#[derive(Debug, Serialize)]
pub struct Difference {
    /// `result.verdict`, `plan[1].target`, `matches[batchops.x]`…
    pub path: String,
    pub expected: Value,
    /// `None`: absent.
    pub got: Option<Value>,
    /// More on why, when there is more to say.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

impl fmt::Display for Difference {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let got = match &self.got {
            Some(v) => show(v),
            None => "nothing".to_owned(),
        };
        write!(
            f,
            "{}: expected {}, got {got}",
            self.path,
            show(&self.expected)
        )?;
        if let Some(note) = &self.note {
            write!(f, " ({note})")?;
        }
        Ok(())
    }
}

/// A value for a one-line message: JSON, compact.
fn show(v: &Value) -> String {
    let s = v.to_string();
    if s.len() > 300 {
        format!("{}…", &s[..s.floor_char_boundary(300)])
    } else {
        s
    }
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for file in &self.files {
            for t in &file.tests {
                let mark = if t.passed { "PASS" } else { "FAIL" };
                writeln!(f, "{mark} {}: {}", file.file, t.name)?;
                for d in &t.differences {
                    writeln!(f, "    {d}")?;
                }
                if !t.passed
                    && let Some(plan) = t.got.get("plan").and_then(Value::as_array)
                {
                    writeln!(f, "    got plan:")?;
                    if plan.is_empty() {
                        writeln!(f, "      (no effects)")?;
                    }
                    for (i, e) in plan.iter().enumerate() {
                        writeln!(f, "      [{i}] {}", effect_line(e))?;
                    }
                }
            }
        }
        write!(
            f,
            "{}: {} passed, {} failed",
            self.pack, self.passed, self.failed
        )
    }
}

fn effect_line(e: &Value) -> String {
    let s = |k: &str| e.get(k).and_then(Value::as_str).unwrap_or("").to_owned();
    let mut line = format!(
        "{} {} {} → {}",
        s("capability"),
        s("operation"),
        s("target"),
        s("decision")
    );
    if let Some(g) = e.get("gate").and_then(Value::as_str) {
        line.push_str(&format!(" ({g})"));
    }
    if let Some(t) = e.get("task").and_then(Value::as_str) {
        line.push_str(&format!(" [task {t}]"));
    }
    line
}

/// Runs the tests of the pack in `dir` (see the module doc).
pub fn test_pack(dir: &Path, opts: &Options) -> Result<Report, PackTestError> {
    // The pack first: tests of a pack that does not load mean nothing.
    let rules = crate::read_pack_rules(dir).map_err(|e| PackTestError::Install {
        dir: dir.to_owned(),
        message: e.to_string(),
    })?;
    let pack_name = rules.pack().to_owned();
    let pack_ref = format!("{}@{}", rules.pack(), rules.version());
    let files = test_files(dir)?;
    let mut parsed = Vec::new();
    for path in &files {
        let shown = format::shown(dir, path);
        let text = drover_text::yaml::read_file(path).map_err(|e| PackTestError::Io {
            path: PathBuf::from(&shown),
            message: e.to_string(),
        })?;
        let p = format::parse(&shown, &text)?;
        check_refs(&p, &shown, &pack_name)?;
        parsed.push((shown, p));
    }
    let mut report = Report {
        pack: pack_ref.clone(),
        files: Vec::new(),
        passed: 0,
        failed: 0,
    };
    for (shown, p) in &parsed {
        let wanted: Vec<(usize, &TestCase)> = p
            .file
            .tests
            .iter()
            .enumerate()
            .filter(|(_, t)| opts.filter.as_deref().is_none_or(|f| t.name.contains(f)))
            .collect();
        if wanted.is_empty() {
            continue;
        }
        let scratch = Scratch::new(dir, &rules, &pack_ref, shown, p, opts)?;
        let mut tests = Vec::new();
        for (_, t) in wanted {
            let r = if let Some(trigger) = &t.trigger {
                rule_test(&scratch, &pack_name, t, trigger)
            } else {
                run_test(&scratch, &pack_name, t)
            };
            if r.passed {
                report.passed += 1;
            } else {
                report.failed += 1;
            }
            tests.push(r);
        }
        report.files.push(FileReport {
            file: shown.clone(),
            tests,
        });
    }
    Ok(report)
}

/// The `*.yaml` and `*.yml` regular files of `<dir>/tests`, sorted; a
/// symlink (to anywhere) is refused, so a test file is the pack's own.
fn test_files(dir: &Path) -> Result<Vec<PathBuf>, PackTestError> {
    let tests = dir.join(TESTS_DIR);
    let meta = match std::fs::symlink_metadata(&tests) {
        Ok(m) => m,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => {
            return Err(PackTestError::Io {
                path: tests,
                message: e.to_string(),
            });
        }
    };
    if !meta.is_dir() {
        return Err(PackTestError::Io {
            path: tests,
            message: "is not a directory (a symlink is refused too): keep the pack's test \
                      files in a real tests/ directory"
                .into(),
        });
    }
    let io = |e: std::io::Error| PackTestError::Io {
        path: tests.clone(),
        message: e.to_string(),
    };
    let mut files = Vec::new();
    for entry in std::fs::read_dir(&tests).map_err(io)? {
        let entry = entry.map_err(io)?;
        let path = entry.path();
        if !matches!(
            path.extension().and_then(|e| e.to_str()),
            Some("yaml" | "yml")
        ) {
            continue;
        }
        let ft = entry.file_type().map_err(io)?;
        if !ft.is_file() {
            return Err(PackTestError::Io {
                path: PathBuf::from(format::shown(dir, &path)),
                message: format!(
                    "is a {}, not a regular file: test files must be the pack's own files \
                     (replace the link with the file)",
                    if ft.is_symlink() {
                        "symbolic link"
                    } else {
                        "directory or special file"
                    }
                ),
            });
        }
        files.push(path);
    }
    if files.len() > MAX_TEST_FILES {
        return Err(PackTestError::Io {
            path: tests,
            message: format!(
                "{} test files; at most {MAX_TEST_FILES} are read",
                files.len()
            ),
        });
    }
    files.sort();
    Ok(files)
}

/// `name` or `pack.name` as the pack's own `pack.name`, or why not.
fn own_ref(pack: &str, reference: &str) -> Result<String, String> {
    match reference.split_once('.') {
        None => Ok(format!("{pack}.{reference}")),
        Some((p, _)) if p == pack => Ok(reference.to_owned()),
        Some((p, _)) => Err(format!(
            "{reference:?} belongs to pack {p:?}; a pack's tests run its own actions and rules \
             (write `{pack}.NAME` or just `NAME`)"
        )),
    }
}

/// References the file makes, checked before anything runs: run tests
/// name actions of this pack, expected matches rules of this pack.
fn check_refs(p: &Parsed, shown: &str, pack: &str) -> Result<(), PackTestError> {
    for (i, t) in p.file.tests.iter().enumerate() {
        if let Some(run) = &t.run {
            own_ref(pack, run).map_err(|m| {
                p.error(
                    shown,
                    &[Step::Key("tests"), Step::Index(i), Step::Key("run")],
                    m,
                )
            })?;
        }
        for (j, m) in t.expect.matches.iter().flatten().enumerate() {
            own_ref(pack, &m.rule).map_err(|msg| {
                p.error(
                    shown,
                    &[
                        Step::Key("tests"),
                        Step::Index(i),
                        Step::Key("expect"),
                        Step::Key("matches"),
                        Step::Index(j),
                        Step::Key("rule"),
                    ],
                    msg,
                )
            })?;
        }
    }
    Ok(())
}

/// A scratch database with the pack installed and a file's fixtures.
struct Scratch {
    app: App,
    rules: Vec<Rule>,
    _dir: tempfile::TempDir,
}

impl Scratch {
    fn new(
        pack_dir: &Path,
        rules: &crate::PackRules,
        pack_ref: &str,
        shown: &str,
        p: &Parsed,
        opts: &Options,
    ) -> Result<Scratch, PackTestError> {
        let scratch = |e: &dyn fmt::Display| PackTestError::Scratch(e.to_string());
        let dir = tempfile::Builder::new()
            .prefix("drover-pack-test-")
            .tempdir()
            .map_err(|e| scratch(&e))?;
        let store = Store::open(&dir.path().join("test.db")).map_err(|e| scratch(&e))?;
        let cache = opts
            .cache_dir
            .clone()
            .unwrap_or_else(|| dir.path().join("cache"));
        let app = App::with_defaults(store, &cache).map_err(|e| scratch(&e))?;
        let by = ChangeBy::new(ACTOR, None).map_err(|e| scratch(&e))?;
        app.install_with(pack_dir, by.clone(), false, rules.clone().into_catalog())
            .map_err(|e| PackTestError::Install {
                dir: pack_dir.to_owned(),
                message: e.to_string(),
            })?;
        let store = app.store().clone();
        for (i, g) in p.file.grants.iter().enumerate() {
            drover_app::give_grant(
                &store,
                pack_ref,
                &g.capability,
                &g.scope,
                g.plugin.as_deref(),
                &by,
            )
            .map_err(|e| {
                p.error(
                    shown,
                    &[Step::Key("grants"), Step::Index(i)],
                    format!("cannot give this grant: {e}"),
                )
            })?;
        }
        // The fixture fleet replaces the default simulated one.
        let fx = &p.file.fixtures;
        let node_at = |i: usize, field: &'static str| {
            [
                Step::Key("fixtures"),
                Step::Key("nodes"),
                Step::Index(i),
                Step::Key(field),
            ]
        };
        let mut specs = Vec::new();
        let mut seen = std::collections::HashSet::new();
        for (i, n) in fx.nodes.iter().enumerate() {
            if !seen.insert(n.name.as_str()) {
                return Err(p.error(
                    shown,
                    &node_at(i, "name"),
                    format!("a second node named {:?}", n.name),
                ));
            }
            specs.push(drover_fleet::inventory::NodeSpec {
                name: n.name.clone(),
                labels: n.labels.clone(),
                driver: "sim".into(),
                options: json!({}),
            });
        }
        app.fleet().import(specs, true, ACTOR).map_err(|e| {
            p.error(
                shown,
                &[Step::Key("fixtures"), Step::Key("nodes")],
                e.to_string(),
            )
        })?;
        if let Some(t) = fx.brake_threshold {
            app.fleet()
                .configure_brake(Some(t), None, None, by.clone())
                .map_err(|e| {
                    p.error(
                        shown,
                        &[Step::Key("fixtures"), Step::Key("brake_threshold")],
                        e.to_string(),
                    )
                })?;
        }
        let mut hung = Vec::new();
        for (i, n) in fx.nodes.iter().enumerate() {
            if let Some(state) = &n.state {
                drover_fleet::State::parse(state).map_err(|e| {
                    p.error(
                        shown,
                        &node_at(i, "state"),
                        format!(
                            "{e}; one of {}",
                            drover_fleet::State::ALL.map(|s| s.as_str()).join(", ")
                        ),
                    )
                })?;
                let (name, state) = (n.name.clone(), state.clone());
                store
                    .fleet_write(move |tx| {
                        tx.set_node_state(&name, &state, drover_core::now_ms(), "test fixture")
                    })
                    .map_err(|e| scratch(&e))?;
            }
            if n.hung {
                hung.push(n.name.clone());
            }
        }
        if !hung.is_empty() {
            store
                .sim_hang(hung, drover_core::now_ms(), ACTOR)
                .map_err(|e| scratch(&e))?;
        }
        for (key, value) in &fx.kv {
            store.kv_set("system", key, value, None).map_err(|e| {
                p.error(
                    shown,
                    &[Step::Key("fixtures"), Step::Key("kv"), Step::Key(key)],
                    format!("cannot set kv {key:?}: {e}"),
                )
            })?;
        }
        let mut parsed_rules = Vec::new();
        for (reference, text, enabled) in rules.rules() {
            let mut rule =
                Rule::parse(Path::new(reference), text).map_err(|e| PackTestError::Install {
                    dir: pack_dir.to_owned(),
                    message: e.to_string(),
                })?;
            rule.enabled = *enabled;
            parsed_rules.push(rule);
        }
        Ok(Scratch {
            app,
            rules: parsed_rules,
            _dir: dir,
        })
    }
}

/// The scratch store's kv, as `drover serve`'s rules see theirs.
struct ScratchKv(Store);

impl KvStore for ScratchKv {
    fn get(&self, _pack: &str, key: &str) -> Option<String> {
        self.0.kv_get("system", key).ok().flatten()
    }

    fn get_user(&self, _pack: &str, key: &str) -> Option<String> {
        self.0.kv_get(ACTOR, key).ok().flatten()
    }
}

fn rule_test(s: &Scratch, pack: &str, t: &TestCase, trigger: &format::TriggerSpec) -> TestReport {
    let instance = TriggerInstance {
        trigger: trigger.type_.clone(),
        payload: Value::Object(trigger.payload.clone()),
        id: None,
        occurrence_time: None,
    };
    let cx =
        Context::new(jiff::Timestamp::now()).with_kv(Arc::new(ScratchKv(s.app.store().clone())));
    let mut matched: BTreeMap<String, drover_rules::Report> = BTreeMap::new();
    let mut missed: BTreeMap<String, drover_rules::Report> = BTreeMap::new();
    let mut differences = Vec::new();
    for rule in &s.rules {
        let r = test_rule(rule, &instance, &cx);
        // A disabled rule fires nothing under `drover serve`.
        if r.verdict == Verdict::Match && r.enabled {
            matched.insert(r.rule.clone(), r);
        } else {
            if r.verdict == Verdict::Error {
                differences.push(Difference {
                    path: format!("matches[{}]", r.rule),
                    expected: json!("a rule that renders"),
                    got: Some(json!("an error")),
                    note: r.error.clone(),
                });
            }
            missed.insert(r.rule.clone(), r);
        }
    }
    let expected = t.expect.matches.as_deref().unwrap_or_default();
    let mut wanted = std::collections::BTreeSet::new();
    for m in expected {
        let Ok(reference) = own_ref(pack, &m.rule) else {
            continue;
        };
        wanted.insert(reference.clone());
        let path = format!("matches[{reference}]");
        let Some(got) = matched.get(&reference) else {
            let note = match missed.get(&reference) {
                None => Some(format!(
                    "the pack has no rule {reference:?}; its rules: {}",
                    s.rules
                        .iter()
                        .map(|r| r.reference.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                )),
                Some(r) => Some(why_not(r)),
            };
            differences.push(Difference {
                path,
                expected: json!("a match"),
                got: Some(json!("no match")),
                note,
            });
            continue;
        };
        if let Some(action) = &m.action {
            let action = own_ref(pack, action).unwrap_or_else(|_| action.clone());
            if action != got.action {
                differences.push(Difference {
                    path: format!("{path}.action"),
                    expected: json!(action),
                    got: Some(json!(got.action)),
                    note: None,
                });
            }
        }
        if let Some(params) = &m.parameters {
            let got_params = Value::Object(got.parameters.clone().unwrap_or_default());
            compare(
                &format!("{path}.parameters"),
                params,
                Some(&got_params),
                &mut differences,
            );
        }
    }
    for (reference, _) in matched.iter().filter(|(r, _)| !wanted.contains(*r)) {
        differences.push(Difference {
            path: format!("matches[{reference}]"),
            expected: json!("no match"),
            got: Some(json!("a match")),
            note: Some("list it under expect.matches if it should match".into()),
        });
    }
    let got = json!({
        "matches": matched.values().map(|r| json!({
            "rule": r.rule,
            "action": r.action,
            "parameters": r.parameters,
        })).collect::<Vec<_>>(),
    });
    TestReport {
        name: t.name.clone(),
        kind: "rule",
        passed: differences.is_empty(),
        differences,
        got,
    }
}

/// Why a rule did not match, in one line.
fn why_not(r: &drover_rules::Report) -> String {
    if !r.trigger_matches {
        return format!(
            "it listens to {:?}, the instance is {:?}",
            r.trigger, r.instance_trigger
        );
    }
    if !r.enabled {
        return "the rule is disabled".into();
    }
    if let Some(e) = &r.error {
        return e.clone();
    }
    match r.criteria.iter().find(|c| !c.passed) {
        Some(c) => {
            let mut s = format!(
                "criterion {} ({} {}) failed on {}",
                c.key,
                c.operator,
                c.pattern.as_ref().map(show).unwrap_or_default(),
                if c.found {
                    show(&c.value)
                } else {
                    "a missing key".into()
                }
            );
            if let Some(reason) = &c.reason {
                s.push_str(&format!(": {reason}"));
            }
            s
        }
        None => "no criterion failed".into(),
    }
}

fn run_test(s: &Scratch, pack: &str, t: &TestCase) -> TestReport {
    let reference = t
        .run
        .as_deref()
        .and_then(|r| own_ref(pack, r).ok())
        .unwrap_or_default();
    let got = match run_dry(&s.app, &reference, t) {
        Ok(exec) => json!({
            "status": exec.status.as_str(),
            "result": exec.result,
            "error": exec.error,
            "plan": exec.plan.unwrap_or_default(),
        }),
        Err(message) => json!({"status": "not run", "error": message}),
    };
    let e = &t.expect;
    let mut differences = Vec::new();
    if let Some(status) = &e.status {
        compare(
            "status",
            &json!(status),
            got.get("status"),
            &mut differences,
        );
        if let Some(d) = differences.last_mut()
            && let Some(err) = got.get("error").and_then(Value::as_str)
        {
            d.note = Some(format!("error: {err}"));
        }
    }
    if let Some(result) = &e.result {
        compare(
            "result",
            result,
            got.get("result").filter(|v| !v.is_null()),
            &mut differences,
        );
    }
    if let Some(want) = &e.error {
        let got_err = got.get("error").and_then(Value::as_str);
        if !got_err.is_some_and(|g| g.contains(want.as_str())) {
            differences.push(Difference {
                path: "error".into(),
                expected: json!(format!("text containing {want:?}")),
                got: got_err.map(|g| json!(g)),
                note: None,
            });
        }
    }
    if let Some(plan) = &e.plan {
        let got_plan = got
            .get("plan")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        if plan.len() != got_plan.len() {
            differences.push(Difference {
                path: "plan".into(),
                expected: json!(format!("{} effect(s)", plan.len())),
                got: Some(json!(format!("{} effect(s)", got_plan.len()))),
                note: None,
            });
        }
        for (i, (want, got)) in plan.iter().zip(&got_plan).enumerate() {
            let want = serde_json::to_value(want).unwrap_or_default();
            compare(&format!("plan[{i}]"), &want, Some(got), &mut differences);
        }
    }
    TestReport {
        name: t.name.clone(),
        kind: "run",
        passed: differences.is_empty(),
        differences,
        got,
    }
}

/// Runs `reference` dry with the test's parameters.
fn run_dry(app: &App, reference: &str, t: &TestCase) -> Result<Execution, String> {
    let action: ActionRef = reference.parse().map_err(|e| format!("{e}"))?;
    let opts = RunOptions {
        dry_run: true,
        actor: ACTOR.into(),
        timeout: None,
    };
    let params = Value::Object(t.parameters.clone());
    let (_, plugin) = app
        .runtime()
        .action_plugin(&action)
        .map_err(|e| e.to_string())?;
    if plugin.is_workflow() {
        match crate::workflows::run_workflow_as(app, &action, None, params, &opts, t.answer.clone())
            .map_err(|e| e.to_string())?
        {
            crate::workflows::Outcome::Finished(exec) => Ok(*exec),
            crate::workflows::Outcome::Parked { why, .. } => Err(format!(
                "the workflow waits ({why}): a dry run answers core.ask tasks with the \
                 test's `answer:`"
            )),
        }
    } else {
        if t.answer.is_some() {
            return Err(format!(
                "`answer` is for workflows' core.ask tasks; {reference} is not a workflow"
            ));
        }
        let prepared = app.runtime().prepare(&action).map_err(|e| e.to_string())?;
        app.runtime()
            .run_prepared(&prepared, params, &opts)
            .map_err(|e| e.to_string())
    }
}

/// Adds where `got` differs from `expected` at `path`: objects compare the
/// keys `expected` gives (others in `got` are ignored), lists compare
/// item by item and must be as long, numbers compare by value.
pub fn compare(path: &str, expected: &Value, got: Option<&Value>, out: &mut Vec<Difference>) {
    let differ = |out: &mut Vec<Difference>| {
        out.push(Difference {
            path: path.to_owned(),
            expected: expected.clone(),
            got: got.cloned(),
            note: None,
        })
    };
    match (expected, got) {
        (Value::Object(want), Some(Value::Object(have))) => {
            for (k, v) in want {
                compare(&format!("{path}.{k}"), v, have.get(k), out);
            }
        }
        (Value::Array(want), Some(Value::Array(have))) => {
            if want.len() != have.len() {
                return differ(out);
            }
            for (i, (w, h)) in want.iter().zip(have).enumerate() {
                compare(&format!("{path}[{i}]"), w, Some(h), out);
            }
        }
        (Value::Number(a), Some(Value::Number(b))) => {
            if a != b && a.as_f64() != b.as_f64() {
                differ(out)
            }
        }
        (want, Some(have)) if want == have => {}
        _ => differ(out),
    }
}

#[cfg(test)]
mod tests;
