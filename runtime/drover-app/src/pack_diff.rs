//! The difference between two installed versions of a pack, for an
//! operator deciding whether to promote one (or roll back): capabilities
//! and grants first (a capability the new version asks for is the thing
//! to look at, and a grant the old version has and the new one lacks is a
//! denial waiting to happen), then rules (criteria, action and
//! parameters, with a line diff of each changed YAML), workflows (tasks
//! added, removed and changed, with a line diff), actions and sensors
//! (parameter schemas, limits, components, subscriptions), trigger types
//! and policies.
//!
//! It is static: it compares what each version declares and ships (the
//! stored manifest, workflow texts, rules and policies) and the grants
//! each has, and runs nothing. One implementation for `drover pack diff`
//! (local and `--server`), `GET /api/v1/packs/NAME/diff` and the web UI's
//! diff page: [`PackDiff`] is the JSON they all show. Which versions are
//! compared by default is [`resolve`]'s business; [`diff`] is pure.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use drover_core::Grant;
use drover_pack::{Pack, Plugin};
use drover_policy::Capability;
use drover_store::{InstalledPack, PackCatalog, Store, StoreError};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};

use crate::packs::{describe_versions, versions};

/// Lines of context around each change in a line diff.
const CONTEXT_LINES: usize = 3;

#[derive(Debug, thiserror::Error)]
pub enum DiffError {
    #[error("no pack {0:?} is installed (see `drover pack list`)")]
    NotInstalled(String),
    #[error("{name}@{version} is not installed; installed versions: {installed}")]
    UnknownVersion {
        name: String,
        version: String,
        installed: String,
    },
    #[error(
        "{name} has no shadowed candidate to compare with the live {name}@{live}; name the versions: `drover pack diff {name} FROM TO` (installed: {installed})"
    )]
    NoCandidate {
        name: String,
        live: String,
        installed: String,
    },
    #[error("the stored manifest of {0} cannot be read: {1}")]
    Manifest(String, serde_json::Error),
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl DiffError {
    /// Whether the caller named something that is not there (as opposed
    /// to a store failure).
    pub fn is_not_found(&self) -> bool {
        !matches!(self, DiffError::Manifest(..) | DiffError::Store(_))
    }
}

/// How an item differs between the two versions.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Change {
    Added,
    Removed,
    Changed,
    Unchanged,
}

impl Change {
    /// `+`, `-`, `~` or `=`, for text output.
    pub fn sign(self) -> char {
        match self {
            Change::Added => '+',
            Change::Removed => '-',
            Change::Changed => '~',
            Change::Unchanged => '=',
        }
    }
}

/// One version of the two.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Side {
    pub version: String,
    pub live: bool,
    pub shadow: bool,
    pub installed_at_ms: i64,
    pub installed_by: String,
}

/// A capability a plugin declares in either version, and the grants each
/// version has for it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CapabilityChange {
    pub plugin: String,
    pub capability: String,
    /// Added: only the new version declares it (the thing to look at).
    pub change: Change,
    /// False for capabilities declaring is enough for (`log`, `kv`, node reads).
    pub needs_grant: bool,
    /// Scopes of the active grants covering the old version's plugin.
    pub granted_from: Vec<String>,
    /// Scopes of the active grants covering the new version's plugin.
    pub granted_to: Vec<String>,
    /// Whether the new version declares it, needs a grant, and has none:
    /// its use would be denied once that version is live.
    pub missing_grant: bool,
    /// What it means, in one line.
    pub note: String,
}

/// One field that differs, by its path in the item (`criteria.trigger.node.pattern`);
/// `null` on the side where it is absent.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct FieldChange {
    pub path: String,
    pub from: Value,
    pub to: Value,
}

impl FieldChange {
    /// `path: from → to`, with `—` for an absent side.
    pub fn line(&self) -> String {
        fn show(v: &Value) -> String {
            match v {
                Value::Null => "—".into(),
                Value::String(s) => s.clone(),
                other => other.to_string(),
            }
        }
        format!("{}: {} → {}", self.path, show(&self.from), show(&self.to))
    }
}

/// What a line of a line diff is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LineTag {
    /// In both versions (context).
    Same,
    /// Only in the new version.
    Added,
    /// Only in the old version.
    Removed,
    /// Unchanged lines left out (the text is empty).
    Gap,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct DiffLine {
    pub tag: LineTag,
    pub text: String,
}

impl DiffLine {
    /// The line as a unified diff shows it.
    pub fn unified(&self) -> String {
        match self.tag {
            LineTag::Same => format!(" {}", self.text),
            LineTag::Added => format!("+{}", self.text),
            LineTag::Removed => format!("-{}", self.text),
            LineTag::Gap => "…".into(),
        }
    }
}

/// A rule, trigger type or policy that differs (unchanged ones are left out).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ItemChange {
    /// Its reference (`batchops.on_no_contact`) or name.
    pub name: String,
    pub change: Change,
    /// The fields that differ (for rules: criteria, action, parameters...).
    pub fields: Vec<FieldChange>,
    /// A line diff of its text (the whole text for one added or removed).
    pub lines: Vec<DiffLine>,
}

/// A task of a workflow that differs.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TaskChange {
    pub name: String,
    pub change: Change,
    pub fields: Vec<FieldChange>,
}

/// A workflow (a `runner: workflow` action) that differs.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct WorkflowChange {
    /// The action's reference, `pack.action`.
    pub name: String,
    pub change: Change,
    /// Its file in the pack, in the new version (else the old).
    pub entry: String,
    /// Tasks added, removed and changed.
    pub tasks: Vec<TaskChange>,
    /// Other fields that differ (input, vars, output, max_steps...).
    pub fields: Vec<FieldChange>,
    pub lines: Vec<DiffLine>,
}

/// The difference between two installed versions of a pack.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PackDiff {
    pub name: String,
    pub from: Side,
    pub to: Side,
    /// Every capability either version declares: added first, then
    /// removed, then those whose grants differ, then the rest.
    pub capabilities: Vec<CapabilityChange>,
    pub rules: Vec<ItemChange>,
    pub workflows: Vec<WorkflowChange>,
    /// Actions and sensors: parameters (schemas), limits, component
    /// digests, subscriptions, kind.
    pub plugins: Vec<ItemChange>,
    pub triggers: Vec<ItemChange>,
    pub policies: Vec<ItemChange>,
}

impl PackDiff {
    /// Whether the versions differ in anything compared (grants included).
    pub fn is_empty(&self) -> bool {
        self.capabilities
            .iter()
            .all(|c| c.change == Change::Unchanged && c.granted_from == c.granted_to)
            && self.rules.is_empty()
            && self.workflows.is_empty()
            && self.plugins.is_empty()
            && self.triggers.is_empty()
            && self.policies.is_empty()
    }

    /// The capabilities worth a look: new, dropped, or granted differently.
    pub fn capability_changes(&self) -> impl Iterator<Item = &CapabilityChange> {
        self.capabilities
            .iter()
            .filter(|c| c.change != Change::Unchanged || c.granted_from != c.granted_to)
    }

    /// One line: what differs, by section.
    pub fn headline(&self) -> String {
        fn n(count: usize, one: &str, many: &str) -> Option<String> {
            match count {
                0 => None,
                1 => Some(format!("1 {one}")),
                _ => Some(format!("{count} {many}")),
            }
        }
        let added = self
            .capabilities
            .iter()
            .filter(|c| c.change == Change::Added)
            .count();
        // Denials the new version would meet that the old one did not:
        // new capabilities without a grant, grants only the old one has.
        let missing = self
            .capabilities
            .iter()
            .filter(|c| {
                c.missing_grant && (c.change == Change::Added || !c.granted_from.is_empty())
            })
            .count();
        let to = &self.to.version;
        let capabilities: Vec<String> = [
            n(added, "new capability", "new capabilities"),
            n(
                missing,
                "capability lacks its grant",
                "capabilities lack their grant",
            )
            .map(|c| format!("{c} in {to}")),
        ]
        .into_iter()
        .flatten()
        .collect();
        let changed: Vec<String> = [
            n(self.rules.len(), "rule", "rules"),
            n(self.workflows.len(), "workflow", "workflows"),
            n(
                self.plugins.len(),
                "action or sensor",
                "actions and sensors",
            ),
            n(self.triggers.len(), "trigger type", "trigger types"),
            n(self.policies.len(), "policy", "policies"),
        ]
        .into_iter()
        .flatten()
        .collect();
        let mut parts = capabilities;
        if !changed.is_empty() {
            parts.push(format!("changed: {}", changed.join(", ")));
        }
        if parts.is_empty() {
            format!(
                "{}@{} and {to} declare the same: no difference",
                self.name, self.from.version
            )
        } else {
            format!(
                "{}@{} → {to}: {}",
                self.name,
                self.from.version,
                parts.join("; ")
            )
        }
    }
}

/// What [`diff`] compares of one version.
pub struct Version<'a> {
    pub installed: &'a InstalledPack,
    pub pack: &'a Pack,
    pub catalog: &'a PackCatalog,
    /// The version's active grants.
    pub grants: &'a [Grant],
}

/// The two versions `drover pack diff NAME [FROM [TO]]` compares: `from`,
/// by default the live version; `to`, by default the newest shadowed
/// candidate (other than `from`).
pub fn resolve(
    store: &Store,
    name: &str,
    from: Option<&str>,
    to: Option<&str>,
) -> Result<(InstalledPack, InstalledPack), DiffError> {
    let all = versions(store, name)?;
    if all.is_empty() {
        return Err(DiffError::NotInstalled(name.to_owned()));
    }
    let pick = |version: &str| {
        all.iter()
            .find(|p| p.version == version)
            .cloned()
            .ok_or_else(|| DiffError::UnknownVersion {
                name: name.to_owned(),
                version: version.to_owned(),
                installed: describe_versions(&all),
            })
    };
    let live = all.iter().find(|p| p.live).unwrap_or(&all[0]);
    let from = match from {
        Some(v) => pick(v)?,
        None => live.clone(),
    };
    let to = match to {
        Some(v) => pick(v)?,
        None => all
            .iter()
            .filter(|p| p.shadow && p.version != from.version)
            .max_by_key(|p| p.installed_at_ms)
            .cloned()
            .ok_or_else(|| DiffError::NoCandidate {
                name: name.to_owned(),
                live: live.version.clone(),
                installed: describe_versions(&all),
            })?,
    };
    Ok((from, to))
}

/// The difference between two installed versions of pack `name` (see
/// [`resolve`] for the defaults).
pub fn diff_installed(
    store: &Store,
    name: &str,
    from: Option<&str>,
    to: Option<&str>,
) -> Result<PackDiff, DiffError> {
    let (a, b) = resolve(store, name, from, to)?;
    let manifest = |p: &InstalledPack| -> Result<Pack, DiffError> {
        serde_json::from_value(p.manifest.clone())
            .map_err(|e| DiffError::Manifest(format!("{}@{}", p.name, p.version), e))
    };
    let catalog = |p: &InstalledPack| -> Result<PackCatalog, DiffError> {
        Ok(store.pack_catalog(&p.name, &p.version)?.unwrap_or_default())
    };
    let (pack_a, pack_b) = (manifest(&a)?, manifest(&b)?);
    let (cat_a, cat_b) = (catalog(&a)?, catalog(&b)?);
    let grants_a = store.active_grants(&a.name, &a.version)?;
    let grants_b = store.active_grants(&b.name, &b.version)?;
    Ok(diff(
        &Version {
            installed: &a,
            pack: &pack_a,
            catalog: &cat_a,
            grants: &grants_a,
        },
        &Version {
            installed: &b,
            pack: &pack_b,
            catalog: &cat_b,
            grants: &grants_b,
        },
    ))
}

/// The difference from `a` to `b`.
pub fn diff(a: &Version, b: &Version) -> PackDiff {
    let side = |v: &Version| Side {
        version: v.installed.version.clone(),
        live: v.installed.live,
        shadow: v.installed.shadow,
        installed_at_ms: v.installed.installed_at_ms,
        installed_by: v.installed.installed_by.clone(),
    };
    PackDiff {
        name: b.installed.name.clone(),
        from: side(a),
        to: side(b),
        capabilities: capabilities(a, b),
        rules: texts(
            &catalog_texts(&a.catalog.rules),
            &catalog_texts(&b.catalog.rules),
            rule_json,
        ),
        workflows: workflows(a, b),
        plugins: plugins(a, b),
        triggers: triggers(a.pack, b.pack),
        policies: texts(
            &policy_texts(&a.catalog.policies),
            &policy_texts(&b.catalog.policies),
            yaml_json,
        ),
    }
}

// ------------------------------------------------------------ capabilities

/// What a plugin declares: its capabilities, and `subscribe` for a sensor
/// with subscriptions.
pub(crate) fn declared(p: &Plugin) -> Vec<Capability> {
    let mut caps = p.capabilities.clone();
    if p.declares(Capability::Subscribe) && !caps.contains(&Capability::Subscribe) {
        caps.push(Capability::Subscribe);
    }
    caps
}

/// Scopes of `grants` covering `plugin`'s component `digest` for `cap`.
fn covering(
    grants: &[Grant],
    cap: Capability,
    plugin: &str,
    digest: Option<&String>,
) -> Vec<String> {
    grants
        .iter()
        .filter(|g| g.capability == cap.name() && g.digests.get(plugin) == digest)
        .map(|g| g.scope.clone())
        .collect()
}

fn capabilities(a: &Version, b: &Version) -> Vec<CapabilityChange> {
    let (va, vb) = (&a.installed.version, &b.installed.version);
    let mut keys: BTreeSet<(String, Capability)> = BTreeSet::new();
    for v in [a, b] {
        for p in &v.pack.plugins {
            keys.extend(declared(p).into_iter().map(|c| (p.name.clone(), c)));
        }
    }
    let mut out: Vec<CapabilityChange> = keys
        .into_iter()
        .map(|(plugin, cap)| {
            let side = |v: &Version| -> Option<Vec<String>> {
                let p = v.pack.plugin(&plugin)?;
                declared(p).contains(&cap).then(|| {
                    covering(v.grants, cap, &plugin, v.installed.digests.get(&plugin))
                })
            };
            let (in_a, in_b) = (side(a), side(b));
            let change = match (&in_a, &in_b) {
                (None, Some(_)) => Change::Added,
                (Some(_), None) => Change::Removed,
                _ => Change::Unchanged,
            };
            let (granted_from, granted_to) = (in_a.unwrap_or_default(), in_b.unwrap_or_default());
            let needs_grant = cap.needs_grant();
            let missing_grant = needs_grant && change != Change::Removed && granted_to.is_empty();
            let scopes = |s: &[String]| {
                s.iter()
                    .map(|x| format!("'{x}'"))
                    .collect::<Vec<_>>()
                    .join(", ")
            };
            let note = match (change, needs_grant) {
                (Change::Removed, _) => format!("no longer declared in {vb}"),
                (Change::Added, false) => format!("new in {vb}; needs no grant"),
                (Change::Added, true) if missing_grant => format!(
                    "new in {vb}: needs a grant, and {vb} has none (an admin decides; denied until then)"
                ),
                (Change::Added, true) => {
                    format!("new in {vb}: granted {}", scopes(&granted_to))
                }
                (_, false) => "needs no grant".to_owned(),
                _ if granted_from == granted_to && granted_to.is_empty() => {
                    "granted to neither version: denied in both".to_owned()
                }
                _ if granted_from == granted_to => {
                    format!("granted the same to both: {}", scopes(&granted_to))
                }
                _ if missing_grant => format!(
                    "{va} has {}; {vb} has no grant: denied once {vb} is live",
                    scopes(&granted_from)
                ),
                _ if granted_from.is_empty() => format!(
                    "{vb} has {}; {va} had none",
                    scopes(&granted_to)
                ),
                _ => format!(
                    "{va} has {}; {vb} has {}",
                    scopes(&granted_from),
                    scopes(&granted_to)
                ),
            };
            CapabilityChange {
                plugin,
                capability: cap.to_string(),
                change,
                needs_grant,
                granted_from,
                granted_to,
                missing_grant,
                note,
            }
        })
        .collect();
    // What to look at first: new capabilities (those needing a grant
    // before those that do not), dropped ones, grants that differ, the rest.
    out.sort_by_key(|c| {
        let rank = match c.change {
            Change::Added if c.needs_grant => 0,
            Change::Added => 1,
            Change::Removed => 2,
            _ if c.granted_from != c.granted_to => 3,
            _ if c.missing_grant => 4,
            _ => 5,
        };
        (rank, c.plugin.clone(), c.capability.clone())
    });
    out
}

// ------------------------------------------------------------------- texts

/// Reference → text.
fn catalog_texts(rules: &[(String, String, bool)]) -> BTreeMap<String, String> {
    rules
        .iter()
        .map(|(r, text, _)| (r.clone(), text.clone()))
        .collect()
}

fn policy_texts(policies: &[(String, String)]) -> BTreeMap<String, String> {
    policies.iter().cloned().collect()
}

/// A rule as drover reads it (st2's JSON shape: criteria, action and its
/// parameters, throttle...), else its YAML as data.
fn rule_json(text: &str) -> Value {
    drover_rules::Rule::parse(Path::new("rule"), text)
        .map(|r| r.to_json())
        .unwrap_or_else(|_| yaml_json(text))
}

/// YAML as data (`null` when it does not parse).
fn yaml_json(text: &str) -> Value {
    drover_text::located::parse(text)
        .map(|n| n.to_json())
        .unwrap_or(Value::Null)
}

/// Items by name in `a` and `b`, as text: those that differ, with their
/// fields (from `as_json`) and a line diff.
fn texts(
    a: &BTreeMap<String, String>,
    b: &BTreeMap<String, String>,
    as_json: fn(&str) -> Value,
) -> Vec<ItemChange> {
    let names: BTreeSet<&String> = a.keys().chain(b.keys()).collect();
    names
        .into_iter()
        .filter_map(|name| {
            let (ta, tb) = (a.get(name), b.get(name));
            if ta == tb {
                return None;
            }
            let json = |t: Option<&String>| t.map_or(Value::Null, |t| as_json(t));
            let (ja, jb) = (json(ta), json(tb));
            Some(ItemChange {
                name: name.clone(),
                change: change_of(ta, tb),
                fields: if ta.is_some() && tb.is_some() {
                    fields(&ja, &jb)
                } else {
                    Vec::new()
                },
                lines: line_diff(ta.map_or("", String::as_str), tb.map_or("", String::as_str)),
            })
        })
        .collect()
}

fn change_of<T>(a: Option<T>, b: Option<T>) -> Change {
    match (a.is_some(), b.is_some()) {
        (false, true) => Change::Added,
        (true, false) => Change::Removed,
        _ => Change::Changed,
    }
}

/// The leaves of two JSON values that differ, by path.
pub fn fields(a: &Value, b: &Value) -> Vec<FieldChange> {
    let (mut fa, mut fb) = (BTreeMap::new(), BTreeMap::new());
    flatten("", a, &mut fa);
    flatten("", b, &mut fb);
    let paths: BTreeSet<&String> = fa.keys().chain(fb.keys()).collect();
    paths
        .into_iter()
        .filter_map(|path| {
            let (x, y) = (
                fa.get(path).cloned().unwrap_or(Value::Null),
                fb.get(path).cloned().unwrap_or(Value::Null),
            );
            (x != y).then(|| FieldChange {
                path: path.clone(),
                from: x,
                to: y,
            })
        })
        .collect()
}

fn flatten(prefix: &str, v: &Value, out: &mut BTreeMap<String, Value>) {
    let join = |key: &str| {
        if prefix.is_empty() {
            key.to_owned()
        } else {
            format!("{prefix}.{key}")
        }
    };
    match v {
        Value::Object(m) if !m.is_empty() => {
            for (k, x) in m {
                flatten(&join(k), x, out);
            }
        }
        Value::Array(items) if !items.is_empty() => {
            for (i, x) in items.iter().enumerate() {
                flatten(&format!("{prefix}[{i}]"), x, out);
            }
        }
        Value::Null => {}
        other => {
            out.insert(
                if prefix.is_empty() {
                    "(value)".into()
                } else {
                    prefix.to_owned()
                },
                other.clone(),
            );
        }
    }
}

/// A line diff of `a` to `b`, with [`CONTEXT_LINES`] of context around
/// each change and a gap line where unchanged lines are left out.
pub fn line_diff(a: &str, b: &str) -> Vec<DiffLine> {
    use similar::{ChangeTag, TextDiff};
    let diff = TextDiff::from_lines(a, b);
    let mut out = Vec::new();
    for (i, group) in diff.grouped_ops(CONTEXT_LINES).iter().enumerate() {
        if i > 0 || group.first().is_some_and(|op| op.old_range().start > 0) {
            out.push(DiffLine {
                tag: LineTag::Gap,
                text: String::new(),
            });
        }
        for op in group {
            for change in diff.iter_changes(op) {
                let tag = match change.tag() {
                    ChangeTag::Equal => LineTag::Same,
                    ChangeTag::Insert => LineTag::Added,
                    ChangeTag::Delete => LineTag::Removed,
                };
                out.push(DiffLine {
                    tag,
                    text: change.value().trim_end_matches(['\n', '\r']).to_owned(),
                });
            }
        }
    }
    out
}

// --------------------------------------------------------------- workflows

fn workflows(a: &Version, b: &Version) -> Vec<WorkflowChange> {
    let of = |v: &Version| -> BTreeMap<String, (String, String, Option<u64>)> {
        v.pack
            .plugins
            .iter()
            .filter_map(|p| {
                let w = p.workflow.as_ref()?;
                Some((
                    format!("{}.{}", v.pack.name, p.name),
                    (w.entry.clone(), w.text.clone(), w.max_steps),
                ))
            })
            .collect()
    };
    let (wa, wb) = (of(a), of(b));
    let names: BTreeSet<&String> = wa.keys().chain(wb.keys()).collect();
    names
        .into_iter()
        .filter_map(|name| {
            let (x, y) = (wa.get(name), wb.get(name));
            if x == y {
                return None;
            }
            let doc = |w: Option<&(String, String, Option<u64>)>| -> Value {
                w.map_or(Value::Null, |(entry, text, max_steps)| {
                    let mut d = yaml_json(text);
                    if let Value::Object(m) = &mut d {
                        m.insert("entry".into(), json!(entry));
                        m.insert("max_steps".into(), json!(max_steps));
                    }
                    d
                })
            };
            let (da, db) = (doc(x), doc(y));
            let tasks_of = |d: &Value| -> Map<String, Value> {
                d.get("tasks")
                    .and_then(Value::as_object)
                    .cloned()
                    .unwrap_or_default()
            };
            let (ta, tb) = (tasks_of(&da), tasks_of(&db));
            let task_names: BTreeSet<&String> = ta.keys().chain(tb.keys()).collect();
            let tasks = task_names
                .into_iter()
                .filter_map(|t| {
                    let (p, q) = (ta.get(t), tb.get(t));
                    (p != q).then(|| TaskChange {
                        name: t.clone(),
                        change: change_of(p, q),
                        fields: match (p, q) {
                            (Some(p), Some(q)) => fields(p, q),
                            _ => Vec::new(),
                        },
                    })
                })
                .collect();
            let without_tasks = |d: &Value| {
                let mut d = d.clone();
                if let Value::Object(m) = &mut d {
                    m.remove("tasks");
                }
                d
            };
            let text = |w: Option<&(String, String, Option<u64>)>| {
                w.map_or(String::new(), |(_, t, _)| t.clone())
            };
            Some(WorkflowChange {
                name: name.clone(),
                change: change_of(x, y),
                entry: y.or(x).map(|w| w.0.clone()).unwrap_or_default(),
                tasks,
                fields: if x.is_some() && y.is_some() {
                    fields(&without_tasks(&da), &without_tasks(&db))
                } else {
                    Vec::new()
                },
                lines: line_diff(&text(x), &text(y)),
            })
        })
        .collect()
}

// ----------------------------------------------------- plugins and triggers

/// What is compared of a plugin besides its capabilities (shown first,
/// on their own) and its workflow (shown with the workflows).
fn plugin_json(p: &Plugin, digest: Option<&String>) -> Value {
    json!({
        "kind": p.kind,
        "description": p.description,
        "component": if p.is_workflow() { Value::Null } else { json!(digest) },
        "limits": p.limits,
        "idempotent": p.idempotent,
        "parameters": p.parameters,
        "sensor": p.sensor,
    })
}

fn plugins(a: &Version, b: &Version) -> Vec<ItemChange> {
    let of = |v: &Version| -> BTreeMap<String, Value> {
        v.pack
            .plugins
            .iter()
            .map(|p| {
                (
                    format!("{}.{}", v.pack.name, p.name),
                    plugin_json(p, v.installed.digests.get(&p.name)),
                )
            })
            .collect()
    };
    json_items(&of(a), &of(b))
}

fn triggers(a: &Pack, b: &Pack) -> Vec<ItemChange> {
    let of = |p: &Pack| -> BTreeMap<String, Value> {
        p.triggers
            .iter()
            .map(|t| (format!("{}.{}", p.name, t.name), json!(t)))
            .collect()
    };
    json_items(&of(a), &of(b))
}

/// Items by name given as JSON: those that differ, with their fields (all
/// of them, for one added or removed).
fn json_items(a: &BTreeMap<String, Value>, b: &BTreeMap<String, Value>) -> Vec<ItemChange> {
    let names: BTreeSet<&String> = a.keys().chain(b.keys()).collect();
    names
        .into_iter()
        .filter_map(|name| {
            let (x, y) = (a.get(name), b.get(name));
            (x != y).then(|| ItemChange {
                name: name.clone(),
                change: change_of(x, y),
                fields: fields(x.unwrap_or(&Value::Null), y.unwrap_or(&Value::Null)),
                lines: Vec::new(),
            })
        })
        .collect()
}

// -------------------------------------------------------------- text output

/// The diff as an operator reads it in a terminal, capabilities first.
pub fn render_text(d: &PackDiff) -> String {
    use std::fmt::Write;
    let state = |s: &Side| match (s.live, s.shadow) {
        (true, false) => "live",
        (true, true) => "live, shadow",
        (false, true) => "shadow",
        (false, false) => "trusted, not live",
    };
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{} {} ({}) → {} ({})",
        d.name,
        d.from.version,
        state(&d.from),
        d.to.version,
        state(&d.to)
    );
    let _ = writeln!(out, "{}", d.headline());
    let caps: Vec<&CapabilityChange> = d.capability_changes().collect();
    let _ = writeln!(out, "\nCapabilities and grants");
    if caps.is_empty() {
        let _ = writeln!(out, "  the same capabilities, granted the same");
    }
    for c in &caps {
        let _ = writeln!(
            out,
            "  {} {}: {}  {}",
            c.change.sign(),
            c.plugin,
            c.capability,
            c.note
        );
    }
    let missing: Vec<String> = d
        .capabilities
        .iter()
        .filter(|c| c.missing_grant && c.change == Change::Unchanged && c.granted_from.is_empty())
        .map(|c| format!("{}: {}", c.plugin, c.capability))
        .collect();
    if !missing.is_empty() {
        let _ = writeln!(out, "  (granted to neither: {})", missing.join(", "));
    }
    let items = |out: &mut String, title: &str, items: &[ItemChange]| {
        if items.is_empty() {
            return;
        }
        let _ = writeln!(out, "\n{title}");
        for i in items {
            let _ = writeln!(out, "  {} {}", i.change.sign(), i.name);
            for f in &i.fields {
                let _ = writeln!(out, "      {}", f.line());
            }
            if i.change == Change::Changed {
                for l in &i.lines {
                    let _ = writeln!(out, "    {}", l.unified());
                }
            }
        }
    };
    items(&mut out, "Rules", &d.rules);
    if !d.workflows.is_empty() {
        let _ = writeln!(out, "\nWorkflows");
        for w in &d.workflows {
            let _ = writeln!(out, "  {} {} ({})", w.change.sign(), w.name, w.entry);
            for t in &w.tasks {
                let _ = writeln!(out, "      task {} {}", t.change.sign(), t.name);
                for f in &t.fields {
                    let _ = writeln!(out, "          {}", f.line());
                }
            }
            for f in &w.fields {
                let _ = writeln!(out, "      {}", f.line());
            }
            if w.change == Change::Changed {
                for l in &w.lines {
                    let _ = writeln!(out, "    {}", l.unified());
                }
            }
        }
    }
    items(&mut out, "Actions and sensors", &d.plugins);
    items(&mut out, "Trigger types", &d.triggers);
    items(&mut out, "Policies", &d.policies);
    out
}

#[cfg(test)]
#[path = "pack_diff_tests.rs"]
mod tests;
