//! What the pipeline knows about the installed packs: their trigger types
//! (payload schema, webhook authentication), their rules and their action
//! policies, read from the store when the pipeline starts and again
//! whenever the store's catalog generation changes (a pack installed or
//! promoted, a rule enabled or disabled): see [`crate::Pipeline`].

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use std::sync::Arc;

use drover_app::App;
use drover_pack::{PluginKind, TriggerType};
use drover_rules::{Rule, RuleSet};
use drover_store::StoreError;

use crate::policies::{Policies, Policy};

#[derive(Debug, thiserror::Error)]
pub enum CatalogError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error(transparent)]
    Rule(#[from] drover_rules::ParseError),
    #[error(
        "{path}: the rule belongs to pack {found:?}, but it ships in pack {pack:?}; set `pack: {pack}`"
    )]
    WrongPack {
        path: PathBuf,
        pack: String,
        found: String,
    },
    #[error("stored rule {reference}: {message}")]
    StoredRule { reference: String, message: String },
    #[error(transparent)]
    RuleSet(#[from] drover_rules::RuleSetError),
    #[error(transparent)]
    Pack(#[from] drover_pack::PackError),
    #[error(
        "{path}: name: another file of this pack already defines policy {reference}; give each policy its own name"
    )]
    DuplicatePolicy { path: PathBuf, reference: String },
    #[error(
        "{path}: name: another file of this pack already defines rule {reference}; give each rule its own name"
    )]
    DuplicateRule { path: PathBuf, reference: String },
    #[error("stored policy {reference}: {message}")]
    StoredPolicy { reference: String, message: String },
    #[error("{path}: rule {rule}: {error}")]
    Timer {
        path: PathBuf,
        rule: String,
        error: crate::timers::SpecError,
    },
}

/// A shadowed candidate version of a trusted pack, whose rules see every
/// trigger beside the live version's and start dry runs of that version
/// (side-by-side shadow).
pub struct Candidate {
    pub pack: String,
    pub version: String,
    pub rules: RuleSet,
}

impl Candidate {
    /// `pack@version`.
    pub fn key(&self) -> String {
        format!("{}@{}", self.pack, self.version)
    }
}

/// Trigger types, rules and policies of the installed packs (the live
/// version of each pack: the newest trusted one, else the newest), and the
/// candidates waiting beside them.
pub struct Catalog {
    triggers: HashMap<String, TriggerType>,
    /// Packs whose rules start dry runs only (shadow mode).
    shadow: std::collections::HashSet<String>,
    /// Who installed each pack (`st2kv.user` in its rules reads their keys).
    owners: HashMap<String, String>,
    rules: RuleSet,
    policies: Arc<Policies>,
    candidates: Vec<Candidate>,
    /// The store's catalog generation this was loaded at.
    generation: i64,
}

impl Catalog {
    pub fn load(app: &App) -> Result<Catalog, CatalogError> {
        let store = app.store();
        // The packs are the application's, parsed once per generation and
        // shared with the plugin runtime; their generation is this one's
        // (read before anything else: a change made while loading bumps it
        // past this one, so the next check loads again).
        let installed = app.packs()?;
        let generation = installed.generation();
        let mut triggers = HashMap::new();
        let mut shadow = std::collections::HashSet::new();
        let mut owners = HashMap::new();
        let mut candidates = Vec::new();
        for live in installed.live() {
            if let Some(candidate) = installed.candidate(&live.record.name) {
                candidates.extend(load_candidate(app, &candidate.record));
            }
            let (record, pack) = (&live.record, &live.pack);
            if record.shadow {
                shadow.insert(record.name.clone());
            }
            let user = record.installed_by.strip_prefix("user:");
            owners.insert(
                record.name.clone(),
                user.unwrap_or(&record.installed_by).to_owned(),
            );
            for t in &pack.triggers {
                triggers.insert(format!("{}.{}", pack.name, t.name), t.clone());
            }
        }
        let mut rules = Vec::new();
        for stored in store.list_rules()? {
            let mut rule =
                Rule::parse(Path::new(&stored.reference), &stored.definition).map_err(|e| {
                    CatalogError::StoredRule {
                        reference: stored.reference.clone(),
                        message: e.to_string(),
                    }
                })?;
            // `drover rule enable|disable` overrides the file's `enabled`.
            rule.enabled = stored.enabled;
            rules.push(rule);
        }
        crate::timers::canonicalize(&mut rules);
        let mut policies = Vec::new();
        for stored in store.list_policies()? {
            let origin = Path::new(&stored.reference);
            let policy =
                Policy::parse(origin, &stored.definition, &stored.pack, None).map_err(|e| {
                    CatalogError::StoredPolicy {
                        reference: stored.reference.clone(),
                        message: e.to_string(),
                    }
                })?;
            policies.push(policy);
        }
        let policies = Policies::scoped(policies, |pack| shadow.contains(pack));
        Ok(Catalog {
            triggers,
            shadow,
            owners,
            rules: RuleSet::new(rules)?,
            policies: Arc::new(policies),
            candidates,
            generation,
        })
    }

    /// The candidates waiting in shadow beside live versions.
    pub fn candidates(&self) -> &[Candidate] {
        &self.candidates
    }

    /// The store's catalog generation this catalog reflects.
    pub fn generation(&self) -> i64 {
        self.generation
    }

    /// The enabled action policies.
    pub fn policies(&self) -> &Arc<Policies> {
        &self.policies
    }

    /// Whether `pack` (its live version) is in shadow mode: executions its
    /// rules start, and runs of its actions, are dry runs.
    pub fn is_shadow(&self, pack: &str) -> bool {
        self.shadow.contains(pack)
    }

    /// Whether action `reference` (`pack.action`) belongs to a pack in
    /// shadow mode.
    pub fn is_shadow_action(&self, reference: &str) -> bool {
        reference
            .split_once('.')
            .is_some_and(|(pack, _)| self.is_shadow(pack))
    }

    /// The user who installed `pack`.
    pub fn owner(&self, pack: &str) -> Option<&str> {
        self.owners.get(pack).map(String::as_str)
    }

    /// The trigger type `pack.name`.
    pub fn trigger(&self, reference: &str) -> Option<&TriggerType> {
        self.triggers.get(reference)
    }

    /// Every trigger type reference, sorted.
    pub fn trigger_refs(&self) -> Vec<&str> {
        let mut refs: Vec<&str> = self.triggers.keys().map(String::as_str).collect();
        refs.sort();
        refs
    }

    pub fn rules(&self) -> &RuleSet {
        &self.rules
    }
}

/// The rules of candidate `record`, or `None` (logged) when they cannot be
/// read: a broken candidate must not stop the rules in force.
fn load_candidate(app: &App, record: &drover_store::InstalledPack) -> Option<Candidate> {
    let (pack, version) = (&record.name, &record.version);
    let loaded = (|| -> Result<RuleSet, CatalogError> {
        let shipped = app.store().pack_catalog(pack, version)?.unwrap_or_default();
        let mut rules = Vec::with_capacity(shipped.rules.len());
        for (reference, definition, enabled) in shipped.rules {
            let mut rule = Rule::parse(Path::new(&reference), &definition).map_err(|e| {
                CatalogError::StoredRule {
                    reference: format!("{reference}@{version}"),
                    message: e.to_string(),
                }
            })?;
            rule.enabled = enabled;
            rules.push(rule);
        }
        crate::timers::canonicalize(&mut rules);
        Ok(RuleSet::new(rules)?)
    })();
    match loaded {
        Ok(rules) => Some(Candidate {
            pack: pack.clone(),
            version: version.clone(),
            rules,
        }),
        Err(e) => {
            tracing::warn!(%pack, %version, error = %e,
                "the shadowed candidate's rules cannot be loaded; they do not run beside the live version's");
            None
        }
    }
}

/// The rules and policies a pack directory ships, checked, ready to be
/// stored with the pack ([`PackRules::into_catalog`]).
#[derive(Clone, Debug)]
pub struct PackRules {
    pack: String,
    version: String,
    rules: Vec<(String, String, bool)>,
    policies: Vec<(String, String)>,
}

impl PackRules {
    /// The pack's name.
    pub fn pack(&self) -> &str {
        &self.pack
    }

    /// The pack's version.
    pub fn version(&self) -> &str {
        &self.version
    }

    /// The rules' references.
    pub fn references(&self) -> Vec<String> {
        self.rules.iter().map(|(r, _, _)| r.clone()).collect()
    }

    /// The rules: (reference, YAML source, enabled).
    pub fn rules(&self) -> &[(String, String, bool)] {
        &self.rules
    }

    /// The policies' references.
    pub fn policy_references(&self) -> Vec<String> {
        self.policies.iter().map(|(r, _)| r.clone()).collect()
    }

    /// What the store keeps with the pack version (see
    /// `drover_host::Runtime::install_with`: one transaction for all).
    pub fn into_catalog(self) -> drover_store::PackCatalog {
        drover_store::PackCatalog {
            rules: self.rules,
            policies: self.policies,
        }
    }
}

/// The `*.yaml` and `*.yml` files of `<dir>/<sub>`, sorted.
fn yaml_files(dir: &Path, sub: &str) -> Result<Vec<PathBuf>, CatalogError> {
    let dir = dir.join(sub);
    let mut files = Vec::new();
    if dir.is_dir() {
        let io = |source| CatalogError::Io {
            path: dir.clone(),
            source,
        };
        for entry in std::fs::read_dir(&dir).map_err(io)? {
            let path = entry.map_err(io)?.path();
            if matches!(
                path.extension().and_then(|e| e.to_str()),
                Some("yaml" | "yml")
            ) {
                files.push(path);
            }
        }
    }
    files.sort();
    Ok(files)
}

/// Reads and checks `<pack dir>/rules/*.yaml` and `policies/*.yaml` (and
/// `.yml`) against the pack's manifest, before anything is installed: a
/// bad rule or policy refuses the whole pack.
pub fn read_pack_rules(dir: &Path) -> Result<PackRules, CatalogError> {
    let manifest = dir.join(drover_pack::MANIFEST_FILE);
    let text = drover_text::yaml::read_file(&manifest).map_err(|source| CatalogError::Io {
        path: manifest.clone(),
        source,
    })?;
    let parsed = drover_pack::parse_manifest(&manifest, &text)?;
    let pack = parsed.name;
    let version = parsed.version;
    let actions: Vec<String> = parsed
        .plugins
        .iter()
        .filter(|p| p.kind == PluginKind::Action)
        .map(|p| p.name.clone())
        .collect();
    let mut policies = Vec::new();
    for path in yaml_files(dir, "policies")? {
        let text = drover_text::yaml::read_file(&path).map_err(|source| CatalogError::Io {
            path: path.clone(),
            source,
        })?;
        let policy = Policy::parse(&path, &text, &pack, Some(&actions))?;
        if policies.iter().any(|(r, _)| *r == policy.reference) {
            return Err(CatalogError::DuplicatePolicy {
                path,
                reference: policy.reference,
            });
        }
        policies.push((policy.reference, text));
    }
    let mut rules = Vec::new();
    for path in yaml_files(dir, "rules")? {
        let text = drover_text::yaml::read_file(&path).map_err(|source| CatalogError::Io {
            path: path.clone(),
            source,
        })?;
        let rule = Rule::parse(&path, &text)?;
        crate::timers::check_rule(&rule).map_err(|error| CatalogError::Timer {
            path: path.clone(),
            rule: rule.reference.clone(),
            error,
        })?;
        if rule.pack != pack {
            return Err(CatalogError::WrongPack {
                path,
                pack,
                found: rule.pack,
            });
        }
        if rules.iter().any(|(r, _, _)| *r == rule.reference) {
            return Err(CatalogError::DuplicateRule {
                path,
                reference: rule.reference,
            });
        }
        rules.push((rule.reference.clone(), text, rule.enabled));
    }
    Ok(PackRules {
        pack,
        version,
        rules,
        policies,
    })
}
