//! Replay: stored trigger instances through a candidate version of a pack,
//! as dry runs, next to what the live version did with them (`drover
//! replay --pack batchops@0.2.0 --since 7d`).
//!
//! The candidate's rules (as that version shipped them) are evaluated with
//! the other packs' rules in force now, in arrival order, each trigger at
//! its own time (so throttles and thresholds count as they would have,
//! from the first replayed trigger on). Each match of a candidate rule
//! that fires runs its action as a dry run on a **scratch database**, a
//! copy of what a dry run reads (packs, grants, kv, secrets, nodes,
//! budgets: `SqliteStore::rehearsal_copy`), in a temporary directory
//! removed afterwards: the workflow driver stores runs, children and
//! audit records as it goes, and here they land in the scratch copy,
//! never in the live history an operator reads as real work. The plans
//! are kept in the replay's result. Nothing of a replay is written to the
//! live database; it is only read, a page at a time, on its own
//! connections.
//!
//! The fleet is rebuilt for each trigger's moment where node history
//! allows ([`fleet::AsOf`]): node states, and whether a simulated node
//! hung. The fleet's previews answer every node request (never a real
//! request). What cannot be rebuilt is said in [`Replay::approximations`].
//!
//! The live side is what the pipeline recorded, read with
//! [`drover_app::trace::execution_trace`]; the comparison is
//! [`drover_app::compare`], whose module doc defines "acts differently".

pub mod fleet;

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use drover_app::App;
use drover_app::compare::{Difference, Effect, RuleOutcome, compare};
use drover_core::ExecutionId;
use drover_host::ssh::SshSettings;
use drover_host::{Prepared, RunError, RunOptions};
use drover_pack::ActionRef;
use drover_rules::{Context, KvStore, Outcome, Rule, RuleSet, StormState};
use drover_store::{SqliteStore, Store, StoreError, TriggerSummary};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use self::fleet::{AsOf, ReplayPorts};
use crate::workflows;

/// Triggers replayed when `--limit` is not given.
pub const DEFAULT_LIMIT: usize = 1_000;
/// The most triggers one replay takes (`--limit`).
pub const MAX_LIMIT: usize = 100_000;
/// Triggers listed one by one in a result (the summary counts all).
pub const MAX_LISTED: usize = 1_000;
/// How far back `--since` may reach.
pub const MAX_AGE_DAYS: i64 = 400;
/// Trigger instances read per page.
const PAGE: u32 = 500;
/// Dry runs on one scratch database before it is made again (its
/// workflow rows and audit records would otherwise pile up).
const SCRATCH_RUNS: usize = 5_000;
/// History lines read per page.
const HISTORY_PAGE: u32 = 5_000;

/// What to replay through what.
#[derive(Clone, Debug)]
pub struct Spec {
    pub pack: String,
    pub version: String,
    /// Triggers received at or after this time (ms since the epoch).
    pub since_ms: Option<i64>,
    /// Triggers received before this time.
    pub until_ms: Option<i64>,
    /// Only these trigger types (default: the candidate's rules' types).
    pub types: Vec<String>,
    /// Only this rule of the candidate (and the live rule of that name).
    pub rule: Option<String>,
    /// These trigger instances (instead of a time window).
    pub ids: Vec<String>,
    /// At most this many triggers (1..=[`MAX_LIMIT`]).
    pub limit: usize,
    /// List every trigger, not only those that act differently (up to
    /// [`MAX_LISTED`]).
    pub all: bool,
    /// A rule file to try: (the path, as shown; its YAML). It replaces the
    /// version's rule of the same reference, or joins its rules: "what
    /// if this rule had been in force" without installing anything.
    pub rule_file: Option<(String, String)>,
    /// A workflow file to try with the candidate: it replaces the
    /// workflow of one of the version's workflow actions, in the scratch
    /// copy the dry runs run on.
    pub workflow_file: Option<WorkflowFile>,
}

/// `--workflow-file [ACTION=]FILE`.
#[derive(Clone, Debug)]
pub struct WorkflowFile {
    /// The workflow action it replaces (`NAME` or `PACK.NAME`); without
    /// one, the action whose workflow file has the same file name.
    pub action: Option<String>,
    /// The path, as shown.
    pub path: String,
    /// Its YAML.
    pub text: String,
}

/// Why a replay could not run.
#[derive(Debug, thiserror::Error)]
pub enum ReplayError {
    #[error("pack {pack:?} is not installed{}", installed_hint(.installed))]
    UnknownPack {
        pack: String,
        installed: Vec<String>,
    },
    #[error(
        "{pack}@{version} is not installed; installed versions of {pack}: {} (install the candidate first: `drover pack install DIR`; it arrives in shadow)",
        .versions.join(", ")
    )]
    UnknownVersion {
        pack: String,
        version: String,
        versions: Vec<String>,
    },
    #[error("rule {rule:?} is not one of {candidate}'s rules: {}", .rules.join(", "))]
    UnknownRule {
        rule: String,
        candidate: String,
        rules: Vec<String>,
    },
    #[error("{0}")]
    Invalid(String),
    #[error("{candidate}: its rule {reference} does not parse: {message}")]
    CandidateRule {
        candidate: String,
        reference: String,
        message: String,
    },
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Run(#[from] RunError),
    #[error("the scratch database in {dir}: {message}")]
    Scratch { dir: PathBuf, message: String },
}

fn installed_hint(installed: &[String]) -> String {
    if installed.is_empty() {
        "; no packs are installed".into()
    } else {
        format!(" (installed: {})", installed.join(", "))
    }
}

/// A replay's duty cycle: after each [`Pace::SLICE`] of work it rests as
/// long as it worked, so that a `drover serve` on the same machine (two
/// cores here) keeps at least a core and most of the other's time, and
/// its latency barely moves; 100,000 triggers still replay well within a
/// minute (docs/perf.md).
#[derive(Default)]
struct Pace {
    worked: std::time::Duration,
}

impl Pace {
    const SLICE: std::time::Duration = std::time::Duration::from_millis(50);

    fn worked(&mut self, spent: std::time::Duration) {
        self.worked += spent;
        if self.worked >= Self::SLICE {
            std::thread::sleep(self.worked);
            self.worked = std::time::Duration::ZERO;
        }
    }
}

/// A replay's result.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Replay {
    /// `pack@version` replayed.
    pub candidate: String,
    /// The live version's `pack@version` (what the pipeline ran).
    pub live: Option<String>,
    pub since_ms: Option<i64>,
    pub until_ms: Option<i64>,
    pub trigger_types: Vec<String>,
    pub summary: Summary,
    /// What was approximated (the fleet, kv… as they are now).
    pub approximations: Vec<String>,
    /// Per trigger, oldest first: those that act differently (every one
    /// with `all`), at most [`MAX_LISTED`].
    pub triggers: Vec<TriggerReplay>,
}

/// One trigger instance replayed.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct TriggerReplay {
    pub id: String,
    pub trigger_type: String,
    pub received_at_ms: i64,
    pub payload: Value,
    pub differs: bool,
    pub differences: Vec<Difference>,
    /// What the pack's live rules did (the pipeline's records).
    pub live: Vec<RuleOutcome>,
    /// What the candidate's rules would do (fresh dry runs).
    pub candidate: Vec<RuleOutcome>,
    pub notes: Vec<String>,
}

/// The whole replay in numbers.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct Summary {
    pub triggers: usize,
    /// Triggers that would act differently.
    pub differ: usize,
    /// The limit stopped the replay before the window's end.
    pub limited: bool,
    pub fired_live: usize,
    pub fired_candidate: usize,
    /// The candidate's planned effects by capability: allowed and denied.
    pub effects: BTreeMap<String, EffectCount>,
    /// Nodes the candidate would have rebooted (reboots its plans had
    /// allowed, queued included), and drained.
    pub rebooted: Vec<String>,
    pub drained: Vec<String>,
    /// The worst clock hours per rack: nodes the candidate would have
    /// taken out (reboots and drains allowed) in one rack in one hour,
    /// most first (at most 10).
    pub worst_rack_hours: Vec<BudgetUse>,
    /// The worst clock hour of the whole fleet.
    pub worst_hour: Option<BudgetUse>,
    /// Uses the candidate would be refused for lack of a grant, most
    /// first.
    pub denials: Vec<Denial>,
    /// Dry runs that could not run (an unknown action, bad parameters).
    pub errors: usize,
    pub elapsed_ms: u64,
}

#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct EffectCount {
    pub allowed: usize,
    pub denied: usize,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct BudgetUse {
    /// The rack (its `rack` label; empty for the whole fleet).
    pub rack: String,
    /// The hour's start (ms since the epoch).
    pub hour_ms: i64,
    pub nodes: usize,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Denial {
    pub capability: String,
    pub target: String,
    pub count: usize,
    /// The first refusal's reason.
    pub reason: String,
}

/// Where the replay runs: the live database, the compiled-component cache
/// and the ssh settings of this installation.
pub struct Setup<'a> {
    pub db: &'a Path,
    pub cache_dir: &'a Path,
    pub ssh: SshSettings,
}

/// Runs replay `spec`; `progress` is told the count of triggers done now
/// and then.
pub fn replay(
    setup: &Setup<'_>,
    spec: &Spec,
    mut progress: impl FnMut(usize),
) -> Result<Replay, ReplayError> {
    let started = std::time::Instant::now();
    if spec.limit == 0 || spec.limit > MAX_LIMIT {
        return Err(ReplayError::Invalid(format!(
            "--limit {}: give 1 to {MAX_LIMIT} triggers",
            spec.limit
        )));
    }
    let live = Store::new(SqliteStore::open(setup.db)?);
    let candidate = format!("{}@{}", spec.pack, spec.version);
    let packs = live.list_packs()?;
    let versions: Vec<&drover_store::InstalledPack> =
        packs.iter().filter(|p| p.name == spec.pack).collect();
    if versions.is_empty() {
        let mut names: Vec<String> = packs.iter().map(|p| p.name.clone()).collect();
        names.dedup();
        return Err(ReplayError::UnknownPack {
            pack: spec.pack.clone(),
            installed: names,
        });
    }
    let Some(record) = versions.iter().find(|p| p.version == spec.version) else {
        return Err(ReplayError::UnknownVersion {
            pack: spec.pack.clone(),
            version: spec.version.clone(),
            versions: versions
                .iter()
                .map(|p| {
                    let mode = if p.live {
                        "live"
                    } else if p.shadow {
                        "shadow"
                    } else {
                        "trusted"
                    };
                    format!("{} ({mode})", p.version)
                })
                .collect(),
        });
    };
    let owner = record
        .installed_by
        .strip_prefix("user:")
        .unwrap_or(&record.installed_by)
        .to_owned();
    let live_version = versions
        .iter()
        .find(|p| p.live)
        .map(|p| format!("{}@{}", p.name, p.version));

    // The candidate's rules, and the other packs' rules in force now.
    let catalog = live
        .pack_catalog(&spec.pack, &spec.version)?
        .unwrap_or_default();
    let mut mine = Vec::new();
    for (reference, text, enabled) in &catalog.rules {
        let mut rule =
            Rule::parse(Path::new(reference), text).map_err(|e| ReplayError::CandidateRule {
                candidate: candidate.clone(),
                reference: reference.clone(),
                message: e.to_string(),
            })?;
        rule.enabled = *enabled;
        mine.push(rule);
    }
    let candidate = match &spec.rule_file {
        Some((path, text)) => {
            let rule = Rule::parse(Path::new(path), text)
                .map_err(|e| ReplayError::Invalid(e.to_string()))?;
            if rule.pack != spec.pack {
                return Err(ReplayError::Invalid(format!(
                    "{path}: pack: the rule belongs to pack {:?}, but the candidate is {candidate}; \
                     replay it with --pack {}@VERSION",
                    rule.pack, rule.pack
                )));
            }
            mine.retain(|r| r.reference != rule.reference);
            mine.push(rule);
            format!("{candidate} + {path}")
        }
        None => candidate,
    };
    let (manifest, candidate) = match &spec.workflow_file {
        Some(file) => (
            Some(workflow_manifest(&live, record, file, &candidate)?),
            format!("{candidate} + {}", file.path),
        ),
        None => (None, candidate),
    };
    if let Some(only) = &spec.rule
        && !mine.iter().any(|r| &r.reference == only)
    {
        return Err(ReplayError::UnknownRule {
            rule: only.clone(),
            candidate,
            rules: mine.iter().map(|r| r.reference.clone()).collect(),
        });
    }
    let types: Vec<String> = if !spec.types.is_empty() {
        spec.types.clone()
    } else {
        let set: BTreeSet<String> = mine
            .iter()
            .filter(|r| spec.rule.as_ref().is_none_or(|only| &r.reference == only))
            .map(|r| r.trigger.type_.clone())
            .collect();
        set.into_iter().collect()
    };
    let mut rules = mine;
    for stored in live.list_rules()? {
        if stored.pack == spec.pack {
            continue;
        }
        // A stored rule that does not parse is the pipeline's problem
        // (its catalog refuses to load); here it is left out.
        if let Ok(mut rule) = Rule::parse(Path::new(&stored.reference), &stored.definition) {
            rule.enabled = stored.enabled;
            rules.push(rule);
        }
    }
    crate::timers::canonicalize(&mut rules);
    let rules =
        RuleSet::new(rules).map_err(|e| ReplayError::Invalid(format!("{candidate}: {e}")))?;

    // The fleet's history, for each trigger's moment.
    let lower = spec.since_ms.unwrap_or(i64::MIN);
    let faults = live.sim_faults()?;
    let lower = faults.iter().map(|f| f.since_ms).fold(lower, i64::min);
    let mut history = Vec::new();
    let mut after = 0;
    loop {
        let page = live.node_history_page(after, HISTORY_PAGE)?;
        let Some(last) = page.last() else { break };
        after = last.id;
        history.extend(page.into_iter().filter(|r| r.at_ms >= lower));
    }
    let earliest_history = history.iter().map(|r| r.at_ms).min();
    let asof = Arc::new(Mutex::new(AsOf::new(&live.list_nodes()?, history, &faults)));

    let mut run = Runner {
        setup,
        spec,
        candidate: candidate.clone(),
        owner,
        asof: asof.clone(),
        manifest,
        scratch: None,
        runs_on_scratch: 0,
        prepared: HashMap::new(),
        racks: HashMap::new(),
    };
    let mut tally = Tally::default();
    let mut storm = StormState::new();
    let mut listed = Vec::new();
    let mut pending_live = 0usize;
    let mut first_ms = None;
    let mut done = 0usize;
    let mut pages = Pages::new(&live, spec, &types);
    let mut pace = Pace::default();
    while done < spec.limit {
        let Some(summary) = pages.next()? else {
            break;
        };
        let t = summary.instance.received_at_ms;
        first_ms.get_or_insert(t);
        let started = std::time::Instant::now();
        let one = run.one(&rules, &mut storm, summary, &live)?;
        pace.worked(started.elapsed());
        if one.notes.iter().any(|n| n.starts_with("pending")) {
            pending_live += 1;
        }
        tally.add(&one, &mut run);
        if (one.differs || spec.all) && listed.len() < MAX_LISTED {
            listed.push(one);
        }
        done += 1;
        if done.is_multiple_of(1_000) {
            progress(done);
        }
    }
    let limited = done == spec.limit && pages.next()?.is_some();

    let mut approximations = vec![
        "kv values are today's (kv keeps no history); rules that read kv see them as they are now"
            .to_owned(),
        "node labels, budgets, the storm brake and the fleet's settings are today's; node \
         states are rebuilt from node history"
            .to_owned(),
        "throttle and threshold windows start empty at the first replayed trigger".to_owned(),
        "read-only calls (probes, http GETs, node reads) are made now: a real node is \
         probed as it is today; simulated nodes answer as they did then"
            .to_owned(),
        "the other packs' rules are today's".to_owned(),
    ];
    if let (Some(first), Some(earliest)) = (first_ms, earliest_history)
        && earliest > first
    {
        approximations.push(format!(
            "node history begins at {} (retention): before it, node states are today's",
            drover_core::fmt_time(earliest)
        ));
    }
    if pending_live > 0 {
        approximations.push(format!(
            "{pending_live} trigger(s) were not yet processed by the live pipeline: their live \
             side is empty"
        ));
    }
    approximations.extend(asof.lock().unwrap_or_else(|p| p.into_inner()).gaps());
    let mut summary = tally.finish();
    summary.limited = limited;
    summary.elapsed_ms = started.elapsed().as_millis() as u64;
    Ok(Replay {
        candidate,
        live: live_version,
        since_ms: spec.since_ms,
        until_ms: spec.until_ms,
        trigger_types: types,
        summary,
        approximations,
        triggers: listed,
    })
}

/// The candidate's manifest with `file`'s workflow in place of its
/// action's, checked as an install checks workflows (errors name `file`).
fn workflow_manifest(
    store: &Store,
    record: &drover_store::InstalledPack,
    file: &WorkflowFile,
    candidate: &str,
) -> Result<Value, ReplayError> {
    let invalid = |m: String| ReplayError::Invalid(format!("--workflow-file {}: {m}", file.path));
    let mut pack: drover_pack::Pack = serde_json::from_value(record.manifest.clone())
        .map_err(|e| invalid(format!("{candidate}'s stored manifest cannot be read: {e}")))?;
    let listed = pack
        .plugins
        .iter()
        .filter_map(|p| {
            let w = p.workflow.as_ref()?;
            Some(format!("{}.{} ({})", pack.name, p.name, w.entry))
        })
        .collect::<Vec<_>>();
    let listed = if listed.is_empty() {
        "it has none".to_owned()
    } else {
        format!("its workflows: {}", listed.join(", "))
    };
    let file_name = Path::new(&file.path).file_name();
    let index = match &file.action {
        Some(action) => {
            let own = format!("{}.", pack.name);
            let name = action.strip_prefix(&own).unwrap_or(action);
            pack.plugins
                .iter()
                .position(|p| p.name == name && p.is_workflow())
                .ok_or_else(|| {
                    invalid(format!(
                        "{candidate} has no workflow action {action:?}; {listed}"
                    ))
                })?
        }
        None => {
            let same: Vec<usize> = (0..pack.plugins.len())
                .filter(|&i| {
                    pack.plugins[i]
                        .workflow
                        .as_ref()
                        .is_some_and(|w| Path::new(&w.entry).file_name() == file_name)
                })
                .collect();
            match same[..] {
                [i] => i,
                _ => {
                    return Err(invalid(format!(
                        "{} of {candidate}'s workflow files is named like it ({listed}); name \
                         the action it replaces: --workflow-file ACTION=FILE",
                        if same.is_empty() {
                            "none"
                        } else {
                            "more than one"
                        }
                    )));
                }
            }
        }
    };
    let workflow = pack.plugins[index]
        .workflow
        .as_mut()
        .expect("a workflow action");
    let entry = std::mem::replace(&mut workflow.entry, file.path.clone());
    workflow.text = file.text.clone();
    drover_app::install::check_workflows(store, Path::new(""), &mut pack)
        .map_err(|e| ReplayError::Invalid(e.to_string()))?;
    if let Some(workflow) = pack.plugins[index].workflow.as_mut() {
        workflow.entry = entry;
    }
    serde_json::to_value(&pack).map_err(|e| invalid(e.to_string()))
}

/// The triggers to replay, a page at a time, oldest first.
struct Pages<'a> {
    store: &'a Store,
    types: &'a [String],
    ids: Vec<String>,
    by_id: bool,
    after: Option<String>,
    upto: Option<String>,
    buffer: std::collections::VecDeque<TriggerSummary>,
    exhausted: bool,
}

/// The smallest ULID of millisecond `ms` (a time bound as an id bound).
fn ulid_at(ms: i64) -> String {
    ulid::Ulid::from_parts(ms.max(0) as u64, 0).to_string()
}

impl<'a> Pages<'a> {
    fn new(store: &'a Store, spec: &Spec, types: &'a [String]) -> Pages<'a> {
        let mut ids = spec.ids.clone();
        ids.sort();
        ids.dedup();
        ids.reverse();
        // `after` is exclusive: start just before the first id of `since`.
        let after = spec.since_ms.map(|ms| {
            let mut id = ulid_at(ms);
            id.pop();
            id
        });
        Pages {
            store,
            types,
            by_id: !ids.is_empty(),
            ids,
            after,
            upto: spec.until_ms.map(ulid_at),
            buffer: Default::default(),
            exhausted: false,
        }
    }

    fn next(&mut self) -> Result<Option<TriggerSummary>, StoreError> {
        if self.by_id {
            while let Some(id) = self.ids.pop() {
                if let Some(s) = self.store.trigger_summary(&id)? {
                    return Ok(Some(s));
                }
            }
            return Ok(None);
        }
        if self.buffer.is_empty() && !self.exhausted {
            let page = self.store.trigger_page(
                self.types,
                self.after.as_deref(),
                self.upto.as_deref(),
                PAGE,
            )?;
            self.exhausted = page.len() < PAGE as usize;
            if let Some(last) = page.last() {
                self.after = Some(last.instance.id.clone());
            }
            self.buffer.extend(page);
        }
        Ok(self.buffer.pop_front())
    }
}

/// The scratch database and the application over it.
struct Scratch {
    app: App,
    _dir: tempfile::TempDir,
}

struct Runner<'a> {
    setup: &'a Setup<'a>,
    spec: &'a Spec,
    candidate: String,
    owner: String,
    asof: Arc<Mutex<AsOf>>,
    /// The candidate's manifest with `--workflow-file`'s workflow in it.
    manifest: Option<Value>,
    scratch: Option<Scratch>,
    runs_on_scratch: usize,
    /// Each Wasm action's prepared component, on the current scratch.
    prepared: HashMap<String, Result<Prepared, String>>,
    /// Each node's rack label (as it is now).
    racks: HashMap<String, String>,
}

/// Where scratch databases go: memory when the system has a tmpfs for
/// it (no fsync cost), else the temporary directory.
fn scratch_parent() -> PathBuf {
    let shm = Path::new("/dev/shm");
    if shm.is_dir()
        && tempfile::Builder::new()
            .prefix("drover-probe")
            .tempfile_in(shm)
            .is_ok()
    {
        shm.to_owned()
    } else {
        std::env::temp_dir()
    }
}

impl Runner<'_> {
    /// The scratch application, made (again) when needed, with the node
    /// states of the current moment.
    fn scratch(&mut self) -> Result<&App, ReplayError> {
        if self.scratch.is_some() && self.runs_on_scratch >= SCRATCH_RUNS {
            self.scratch = None;
        }
        if self.scratch.is_none() {
            let parent = scratch_parent();
            let dir = tempfile::Builder::new()
                .prefix("drover-replay-")
                .tempdir_in(&parent)
                .map_err(|e| ReplayError::Scratch {
                    dir: parent.clone(),
                    message: e.to_string(),
                })?;
            let db = dir.path().join("scratch.db");
            let copy = SqliteStore::rehearsal_copy(self.setup.db, &db)?;
            if let Some(manifest) = &self.manifest {
                copy.rehearse_manifest(&self.spec.pack, &self.spec.version, manifest)?;
            }
            let store = Store::new(copy);
            if self.racks.is_empty() {
                self.racks = store
                    .list_nodes()?
                    .into_iter()
                    .map(|n| {
                        let rack = n.labels.get("rack").cloned().unwrap_or_default();
                        (n.name, rack)
                    })
                    .collect();
            }
            let asof = self.asof.clone();
            let app = App::with_ports(
                store,
                self.setup.cache_dir,
                self.setup.ssh.clone(),
                move |inner| Arc::new(ReplayPorts { inner, asof }),
            )?;
            // A fresh copy has today's states: every node the history
            // touches takes its state of the moment again.
            let states = {
                let asof = self.asof.lock().unwrap_or_else(|p| p.into_inner());
                let mut all = Vec::new();
                for (node, _) in self.racks.iter() {
                    if let Some(s) = asof.state(node) {
                        all.push((node.clone(), s.to_owned()));
                    }
                }
                all
            };
            set_states(app.store(), states)?;
            self.prepared.clear();
            self.runs_on_scratch = 0;
            self.scratch = Some(Scratch { app, _dir: dir });
        }
        Ok(&self.scratch.as_ref().expect("made above").app)
    }

    /// Replays one trigger.
    fn one(
        &mut self,
        rules: &RuleSet,
        storm: &mut StormState,
        summary: TriggerSummary,
        live: &Store,
    ) -> Result<TriggerReplay, ReplayError> {
        let trigger = summary.instance;
        let t = trigger.received_at_ms;
        let mut notes = Vec::new();
        // The fleet of the moment.
        let changes = {
            let mut asof = self.asof.lock().unwrap_or_else(|p| p.into_inner());
            asof.advance(t);
            asof.take_changes()
        };
        if self.scratch.is_some() && !changes.is_empty() {
            let store = self.scratch()?.store().clone();
            set_states(&store, changes)?;
        }
        // The candidate's rules.
        let now = jiff::Timestamp::from_millisecond(t).unwrap_or_else(|_| jiff::Timestamp::now());
        let kv = self.kv()?;
        let cx = Context::new(now).with_kv(kv);
        rules.prune_storm(storm, now);
        let matches = match &trigger.trigger_parameters {
            Some(params) => rules.evaluate_parameterized(
                &trigger.trigger_type,
                params,
                &trigger.payload,
                &cx,
                storm,
            ),
            None => rules.evaluate(&trigger.trigger_type, &trigger.payload, &cx, storm),
        };
        let wanted = |reference: &str, pack: &str| {
            pack == self.spec.pack && self.spec.rule.as_deref().is_none_or(|r| r == reference)
        };
        let mut candidate = Vec::new();
        for m in matches {
            if !wanted(&m.rule.reference, &m.rule.pack) {
                continue;
            }
            let reference = &m.rule.reference;
            let outcome = match m.outcome {
                Outcome::Fired { parameters, .. } => self.dry_run(
                    reference,
                    &m.rule.action.reference,
                    Value::Object(parameters),
                    trigger.shadow,
                )?,
                Outcome::RenderFailed { error } => {
                    RuleOutcome::new(reference, "failed", Some(error))
                }
                Outcome::CriteriaFailed { criterion, error } => RuleOutcome::new(
                    reference,
                    "failed",
                    Some(format!("criterion {criterion}: {error}")),
                ),
                Outcome::Throttled { group, until, .. } => RuleOutcome::new(
                    reference,
                    "suppressed",
                    Some(format!(
                        "throttled: group {group} fires again after {until}"
                    )),
                ),
                Outcome::Waiting {
                    group,
                    seen,
                    needed,
                } => RuleOutcome::new(
                    reference,
                    "suppressed",
                    Some(format!(
                        "threshold: {seen} of {needed} events in group {group}"
                    )),
                ),
            };
            candidate.push(outcome);
        }
        // What the live version did.
        if summary.state == "pending" {
            notes.push("pending: the live pipeline has not processed it yet".to_owned());
        }
        let mut live_side = Vec::new();
        // The rules in force; a waiting candidate's own dry runs beside
        // them (side-by-side shadow) are not what live did.
        for e in summary
            .enforcements
            .iter()
            .filter(|e| e.candidate.is_none())
        {
            let pack = e.rule_ref.split_once('.').map_or("", |(p, _)| p);
            if !wanted(&e.rule_ref, pack) {
                continue;
            }
            let run = match e.execution_id {
                Some(id) => drover_app::trace::execution_trace(live, id)?,
                None => None,
            };
            live_side.push(RuleOutcome::live(e, run.as_ref()));
        }
        let differences = compare(&live_side, &candidate);
        Ok(TriggerReplay {
            id: trigger.id,
            trigger_type: trigger.trigger_type,
            received_at_ms: t,
            payload: trigger.payload,
            differs: !differences.is_empty(),
            differences,
            live: live_side,
            candidate,
            notes,
        })
    }

    /// The rules' kv, as `drover serve` reads it (today's values).
    fn kv(&mut self) -> Result<Arc<dyn KvStore>, ReplayError> {
        let store = self.scratch()?.store().clone();
        let owner = self.owner.clone();
        let pack = self.spec.pack.clone();
        Ok(Arc::new(ReplayKv { store, owner, pack }))
    }

    /// The dry run of a fired match: its plan as the candidate's outcome.
    fn dry_run(
        &mut self,
        rule: &str,
        action_text: &str,
        params: Value,
        _shadow: bool,
    ) -> Result<RuleOutcome, ReplayError> {
        let mut out = RuleOutcome::new(rule, "fired", None);
        out.action = Some(action_text.to_owned());
        out.dry_run = true;
        let action: ActionRef = match action_text.parse() {
            Ok(a) => a,
            Err(e) => {
                out.verdict = "failed".into();
                out.why = Some(format!("{e}"));
                return Ok(out);
            }
        };
        // The candidate's own actions run from the candidate version; any
        // other pack's from its live version.
        let version = (action.pack == self.spec.pack).then(|| self.spec.version.clone());
        let opts = RunOptions {
            dry_run: true,
            actor: format!("replay:{}", self.candidate),
            timeout: None,
        };
        self.runs_on_scratch += 1;
        self.scratch()?;
        let Runner {
            scratch, prepared, ..
        } = self;
        let app = &scratch.as_ref().expect("made above").app;
        let plugin = match app
            .runtime()
            .action_plugin_version(&action, version.as_deref())
        {
            Ok((_, plugin)) => plugin,
            Err(e) => {
                // As the rules stage records it: a failed enforcement.
                out.verdict = "failed".into();
                out.why = Some(e.to_string());
                return Ok(out);
            }
        };
        let params = match plugin.parameters.validate(params) {
            Ok(p) => p,
            Err(e) => {
                out.verdict = "failed".into();
                out.why = Some(format!("{action_text}: {e}"));
                return Ok(out);
            }
        };
        out.parameters = Some(params.clone());
        let exec = if plugin.is_workflow() {
            match workflows::run_workflow_as(app, &action, version.as_deref(), params, &opts, None)
            {
                Ok(workflows::Outcome::Finished(exec)) => Ok(*exec),
                Ok(workflows::Outcome::Parked { why, .. }) => Err(format!(
                    "the dry run stopped waiting ({why}): its plan is incomplete"
                )),
                Err(e) => Err(e.to_string()),
            }
        } else {
            let p = prepared
                .entry(action_text.to_owned())
                .or_insert_with(|| {
                    app.runtime()
                        .prepare_version(&action, version.as_deref())
                        .map_err(|e| e.to_string())
                })
                .clone();
            p.and_then(|p| {
                app.runtime()
                    .execute_as(ExecutionId::new(), &p, params, &opts)
                    .map_err(|e| e.to_string())
            })
        };
        match exec {
            Ok(exec) => {
                out.status = Some(exec.status.as_str().to_owned());
                out.error = exec.error.clone();
                out.result = exec.result.clone();
                out.effects = exec
                    .plan
                    .as_deref()
                    .unwrap_or_default()
                    .iter()
                    .map(Effect::from)
                    .collect();
            }
            Err(e) => {
                out.status = Some("error".to_owned());
                out.error = Some(e);
            }
        }
        Ok(out)
    }
}

/// Sets node states in the scratch database, in one write.
fn set_states(store: &Store, states: Vec<(String, String)>) -> Result<(), StoreError> {
    if states.is_empty() {
        return Ok(());
    }
    store.fleet_write(move |tx| {
        for (node, state) in &states {
            tx.set_node_state(node, state, 0, "as it was (replay)")?;
        }
        Ok(())
    })
}

/// `kv.*` and `st2kv.system.*` read the system scope; `st2kv.user.*` the
/// candidate's installer's (as the rules stage does).
struct ReplayKv {
    store: Store,
    owner: String,
    pack: String,
}

impl KvStore for ReplayKv {
    fn get(&self, _pack: &str, key: &str) -> Option<String> {
        self.store.kv_get("system", key).ok().flatten()
    }

    fn get_user(&self, pack: &str, key: &str) -> Option<String> {
        (pack == self.pack)
            .then(|| {
                self.store
                    .kv_get(&format!("user:{}", self.owner), key)
                    .ok()
                    .flatten()
            })
            .flatten()
    }
}

/// The summary, counted as triggers go.
#[derive(Default)]
struct Tally {
    s: Summary,
    rebooted: BTreeSet<String>,
    drained: BTreeSet<String>,
    /// (rack, hour) -> nodes taken out.
    rack_hours: HashMap<(String, i64), BTreeSet<String>>,
    hours: HashMap<i64, BTreeSet<String>>,
    denials: BTreeMap<(String, String), (usize, String)>,
}

const HOUR_MS: i64 = 3_600_000;

impl Tally {
    fn add(&mut self, one: &TriggerReplay, run: &mut Runner<'_>) {
        self.s.triggers += 1;
        self.s.differ += usize::from(one.differs);
        self.s.fired_live += one.live.iter().filter(|r| r.fired()).count();
        self.s.fired_candidate += one.candidate.iter().filter(|r| r.fired()).count();
        let hour = one.received_at_ms.div_euclid(HOUR_MS) * HOUR_MS;
        for r in &one.candidate {
            if r.status.as_deref() == Some("error") {
                self.s.errors += 1;
            }
            for e in &r.effects {
                let count = self.s.effects.entry(e.capability.clone()).or_default();
                let allowed = e.decision == "allowed";
                if allowed {
                    count.allowed += 1;
                } else {
                    count.denied += 1;
                }
                if !allowed && e.gate.as_deref() == Some("grant") {
                    let d = self
                        .denials
                        .entry((e.capability.clone(), e.target.clone()))
                        .or_insert_with(|| (0, e.reason.clone()));
                    d.0 += 1;
                }
                let out = match e.capability.as_str() {
                    "nodes.reboot" => &mut self.rebooted,
                    "nodes.drain" => &mut self.drained,
                    _ => continue,
                };
                if !allowed {
                    continue;
                }
                out.insert(e.target.clone());
                let rack = run.racks.get(&e.target).cloned().unwrap_or_default();
                self.rack_hours
                    .entry((rack, hour))
                    .or_default()
                    .insert(e.target.clone());
                self.hours.entry(hour).or_default().insert(e.target.clone());
            }
        }
    }

    fn finish(mut self) -> Summary {
        self.s.rebooted = self.rebooted.into_iter().collect();
        self.s.drained = self.drained.into_iter().collect();
        let mut racks: Vec<BudgetUse> = self
            .rack_hours
            .into_iter()
            .map(|((rack, hour_ms), nodes)| BudgetUse {
                rack,
                hour_ms,
                nodes: nodes.len(),
            })
            .collect();
        racks.sort_by(|a, b| {
            b.nodes
                .cmp(&a.nodes)
                .then(a.hour_ms.cmp(&b.hour_ms))
                .then(a.rack.cmp(&b.rack))
        });
        racks.truncate(10);
        self.s.worst_rack_hours = racks;
        self.s.worst_hour = self
            .hours
            .into_iter()
            .map(|(hour_ms, nodes)| BudgetUse {
                rack: String::new(),
                hour_ms,
                nodes: nodes.len(),
            })
            .max_by(|a, b| a.nodes.cmp(&b.nodes).then(b.hour_ms.cmp(&a.hour_ms)));
        let mut denials: Vec<Denial> = self
            .denials
            .into_iter()
            .map(|((capability, target), (count, reason))| Denial {
                capability,
                target,
                count,
                reason,
            })
            .collect();
        denials.sort_by_key(|d| std::cmp::Reverse(d.count));
        self.s.denials = denials;
        self.s
    }
}

/// `--since`/`--until`: an RFC 3339 time, or an age (7d, 12h) back from
/// now, at most [`MAX_AGE_DAYS`] days.
pub fn parse_time(flag: &str, s: &str) -> Result<i64, String> {
    let now = drover_core::now_ms();
    let ms = if let Ok(t) = s.parse::<jiff::Timestamp>() {
        t.as_millisecond()
    } else {
        match humantime::parse_duration(s) {
            Ok(age) => now.saturating_sub(i64::try_from(age.as_millis()).unwrap_or(i64::MAX)),
            Err(e) => {
                return Err(format!(
                    "{flag} {s:?}: {e}; write an age (7d, 12h, 30m) or a time \
                     (2026-01-31T12:00:00Z)"
                ));
            }
        }
    };
    let oldest = now - MAX_AGE_DAYS * 24 * HOUR_MS;
    if ms < oldest {
        return Err(format!(
            "{flag} {s:?} reaches back before anything drover keeps: a replay looks back at \
             most {MAX_AGE_DAYS} days (history is collected after its retention: `drover \
             retention show`)"
        ));
    }
    if ms > now + HOUR_MS {
        return Err(format!("{flag} {s:?} is in the future"));
    }
    Ok(ms)
}
