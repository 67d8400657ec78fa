//! The test-file format of `drover pack test` (`<pack>/tests/*.yaml`):
//! parsing and checking one file, with every refusal naming the file, the
//! line and the field. What the fields mean is documented in
//! docs/pack-authoring.md ("Testing a pack").

use std::collections::BTreeMap;
use std::path::Path;

use drover_text::located::{self, Node};
use serde::Deserialize;
use serde_json::{Map, Value};

use super::PackTestError;

/// Most tests one file may hold, and most fixture nodes: test files are
/// hand-written; more is a mistake (or an attack on the runner's time).
pub const MAX_TESTS_PER_FILE: usize = 200;
pub const MAX_FIXTURE_NODES: usize = 1_000;

/// One test file, as written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TestFile {
    /// Optional words on what the file covers.
    #[serde(default)]
    #[allow(dead_code)]
    pub description: Option<String>,
    #[serde(default)]
    pub fixtures: Fixtures,
    #[serde(default)]
    pub grants: Vec<GrantSpec>,
    pub tests: Vec<TestCase>,
}

/// The world the file's tests run in: a simulated fleet and kv values.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Fixtures {
    #[serde(default)]
    pub nodes: Vec<NodeFixture>,
    /// System-scope kv values (`kv.KEY` in rules, the `kv` interface).
    #[serde(default)]
    pub kv: BTreeMap<String, String>,
    /// The storm brake's threshold, percent of the fleet unhealthy
    /// (`drover brake set --threshold`); the default (5%) when not given.
    #[serde(default)]
    pub brake_threshold: Option<f64>,
}

/// A node of the scratch fleet (driver `sim`).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NodeFixture {
    pub name: String,
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
    /// The node's lifecycle state; `production` when not given.
    #[serde(default)]
    pub state: Option<String>,
    /// A hung node answers neither ping nor ssh (`drover sim hang`).
    #[serde(default)]
    pub hung: bool,
}

/// A grant the tests run with (as `drover grant`).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GrantSpec {
    pub capability: String,
    pub scope: String,
    /// Only this plugin of the pack.
    #[serde(default)]
    pub plugin: Option<String>,
}

/// One test: a rule test (`trigger`) or an action/workflow test (`run`).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TestCase {
    pub name: String,
    #[serde(default)]
    pub trigger: Option<TriggerSpec>,
    /// The action or workflow to run (dry), `pack.name` or `name`.
    #[serde(default)]
    pub run: Option<String>,
    #[serde(default)]
    pub parameters: Map<String, Value>,
    /// The answer a dry run gives the workflow's `core.ask` tasks.
    #[serde(default)]
    pub answer: Option<Value>,
    pub expect: Expect,
}

/// A trigger instance.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TriggerSpec {
    #[serde(rename = "type")]
    pub type_: String,
    #[serde(default)]
    pub payload: Map<String, Value>,
}

/// What a test expects; see docs/pack-authoring.md for the matching.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Expect {
    /// Rule tests: the pack's rules that match, in any order.
    #[serde(default)]
    pub matches: Option<Vec<ExpectedMatch>>,
    /// Run tests: `succeeded`, `failed`, `denied`, `timeout`, `canceled`.
    #[serde(default)]
    pub status: Option<String>,
    /// Run tests: the result (objects match when the keys given match).
    #[serde(default)]
    pub result: Option<Value>,
    /// Run tests: text the error contains.
    #[serde(default)]
    pub error: Option<String>,
    /// Run tests: the planned effects, in order, all of them.
    #[serde(default)]
    pub plan: Option<Vec<ExpectedEffect>>,
}

/// A rule expected to match.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExpectedMatch {
    /// `pack.rule` or `rule`.
    pub rule: String,
    #[serde(default)]
    pub action: Option<String>,
    /// The rendered parameters (the keys given must match).
    #[serde(default)]
    pub parameters: Option<Value>,
}

/// A planned effect; only the fields given are compared.
#[derive(Debug, Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields)]
pub struct ExpectedEffect {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub capability: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub operation: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target: Option<String>,
    /// `allowed` or `denied`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub decision: Option<String>,
    /// The gate that refused or delayed it (`grant`, `brake`, `budget`…).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gate: Option<String>,
    /// The workflow task that asked.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub task: Option<String>,
    /// The action (`pack.plugin`) that asked.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub action: Option<String>,
}

/// A parsed file with the tree that locates its fields for later errors.
pub struct Parsed {
    pub file: TestFile,
    tree: Node,
}

const EMPTY: &str = "the test file is empty: write `tests:` with at least one test \
                     (see docs/pack-authoring.md, \"Testing a pack\")";

/// Parses and checks the shape of one test file (`shown` is the name used
/// in messages).
pub fn parse(shown: &str, text: &str) -> Result<Parsed, PackTestError> {
    let file: TestFile =
        drover_text::yaml::deserialize(text, EMPTY, |_, _| false).map_err(|p| {
            PackTestError::File {
                file: shown.to_owned(),
                line: p.line,
                field: p.path,
                message: p.message,
            }
        })?;
    // Well-formed (deserialize checked it), so this parses too.
    let tree = located::parse(text).map_err(|e| PackTestError::File {
        file: shown.to_owned(),
        line: Some(e.mark.line),
        field: String::new(),
        message: e.message,
    })?;
    let parsed = Parsed { file, tree };
    parsed.check(shown)?;
    Ok(parsed)
}

impl Parsed {
    /// The line of `path` (map keys and sequence indexes from the root),
    /// or of its nearest ancestor found.
    pub fn line(&self, path: &[Step<'_>]) -> Option<usize> {
        let mut node = &self.tree;
        let mut line = node.mark.line;
        for step in path {
            let next = match step {
                Step::Key(k) => node.as_map().and_then(|m| {
                    m.iter()
                        .find(|(key, _)| key.as_str() == Some(k))
                        .map(|(key, value)| {
                            line = key.mark.line;
                            value
                        })
                }),
                Step::Index(i) => node.as_seq().and_then(|s| s.get(*i)),
            };
            match next {
                Some(n) => {
                    if matches!(step, Step::Index(_)) {
                        line = n.mark.line;
                    }
                    node = n;
                }
                None => break,
            }
        }
        Some(line)
    }

    /// An error about the field at `path`.
    pub fn error(&self, shown: &str, path: &[Step<'_>], message: String) -> PackTestError {
        PackTestError::File {
            file: shown.to_owned(),
            line: self.line(path),
            field: path
                .iter()
                .map(|s| match s {
                    Step::Key(k) => k.to_string(),
                    Step::Index(i) => format!("[{i}]"),
                })
                .collect::<Vec<_>>()
                .join(".")
                .replace(".[", "["),
            message,
        }
    }

    /// The checks serde cannot make: one kind per test, expectations that
    /// fit the kind, limits, unique names.
    fn check(&self, shown: &str) -> Result<(), PackTestError> {
        let f = &self.file;
        if f.tests.is_empty() {
            return Err(self.error(shown, &[Step::Key("tests")], EMPTY.into()));
        }
        if f.tests.len() > MAX_TESTS_PER_FILE {
            return Err(self.error(
                shown,
                &[Step::Key("tests")],
                format!(
                    "{} tests; a file holds at most {MAX_TESTS_PER_FILE}: split it",
                    f.tests.len()
                ),
            ));
        }
        if f.fixtures.nodes.len() > MAX_FIXTURE_NODES {
            return Err(self.error(
                shown,
                &[Step::Key("fixtures"), Step::Key("nodes")],
                format!("at most {MAX_FIXTURE_NODES} fixture nodes"),
            ));
        }
        let mut names = std::collections::HashSet::new();
        for (i, t) in f.tests.iter().enumerate() {
            let at = |field: &'static str| [Step::Key("tests"), Step::Index(i), Step::Key(field)];
            if t.name.trim().is_empty() {
                return Err(self.error(shown, &at("name"), "give the test a name".into()));
            }
            if !names.insert(t.name.as_str()) {
                return Err(self.error(
                    shown,
                    &at("name"),
                    format!("a second test named {:?}: names must be unique", t.name),
                ));
            }
            let e = &t.expect;
            let run_fields =
                e.status.is_some() || e.result.is_some() || e.error.is_some() || e.plan.is_some();
            match (&t.trigger, &t.run) {
                (Some(_), Some(_)) | (None, None) => {
                    return Err(self.error(
                        shown,
                        &[Step::Key("tests"), Step::Index(i)],
                        format!(
                            "test {:?}: give either `trigger` (a rule test) or `run` (an \
                             action or workflow test), not {}",
                            t.name,
                            if t.run.is_some() { "both" } else { "neither" }
                        ),
                    ));
                }
                (Some(_), None) => {
                    if e.matches.is_none() {
                        return Err(self.error(
                            shown,
                            &at("expect"),
                            format!(
                                "rule test {:?}: expect `matches:` (a list of rules, `[]` for \
                                 none)",
                                t.name
                            ),
                        ));
                    }
                    if run_fields || !t.parameters.is_empty() || t.answer.is_some() {
                        return Err(self.error(
                            shown,
                            &at("expect"),
                            format!(
                                "rule test {:?}: status, result, error, plan, parameters and \
                                 answer belong to `run` tests; a rule test expects `matches`",
                                t.name
                            ),
                        ));
                    }
                }
                (None, Some(_)) => {
                    if e.matches.is_some() {
                        return Err(self.error(
                            shown,
                            &at("expect"),
                            format!(
                                "run test {:?}: `matches` belongs to rule tests (`trigger:`)",
                                t.name
                            ),
                        ));
                    }
                    if !run_fields {
                        return Err(self.error(
                            shown,
                            &at("expect"),
                            format!(
                                "run test {:?}: expect at least one of status, result, error, \
                                 plan",
                                t.name
                            ),
                        ));
                    }
                    if let Some(s) = &e.status
                        && drover_core::ExecStatus::parse(s).is_none()
                    {
                        return Err(self.error(
                            shown,
                            &[
                                Step::Key("tests"),
                                Step::Index(i),
                                Step::Key("expect"),
                                Step::Key("status"),
                            ],
                            format!(
                                "status {s:?}: one of succeeded, failed, denied, timeout, \
                                 canceled"
                            ),
                        ));
                    }
                    if let Some(plan) = &e.plan {
                        for (j, effect) in plan.iter().enumerate() {
                            if let Some(d) = &effect.decision
                                && drover_core::Decision::parse(d).is_none()
                            {
                                return Err(self.error(
                                    shown,
                                    &[
                                        Step::Key("tests"),
                                        Step::Index(i),
                                        Step::Key("expect"),
                                        Step::Key("plan"),
                                        Step::Index(j),
                                    ],
                                    format!("decision {d:?}: allowed or denied"),
                                ));
                            }
                        }
                    }
                }
            }
        }
        Ok(())
    }
}

/// One step of a path into the file.
#[derive(Clone, Copy)]
pub enum Step<'a> {
    Key(&'a str),
    Index(usize),
}

/// The name a file is shown by: relative to the pack directory.
pub fn shown(pack_dir: &Path, file: &Path) -> String {
    file.strip_prefix(pack_dir)
        .unwrap_or(file)
        .display()
        .to_string()
}
