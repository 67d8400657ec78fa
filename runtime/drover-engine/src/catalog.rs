//! What the pipeline knows about the installed packs: their trigger types
//! (payload schema, webhook authentication) and their rules, read from the
//! store when the pipeline starts.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use drover_pack::{Pack, TriggerType};
use drover_rules::{Rule, RuleSet};
use drover_store::{Store, StoreError};

#[derive(Debug, thiserror::Error)]
pub enum CatalogError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{0}")]
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
    #[error("{path}: rule {rule}: {error}")]
    Timer {
        path: PathBuf,
        rule: String,
        error: crate::timers::SpecError,
    },
}

/// Trigger types and rules of the installed packs (newest installed
/// version of each pack).
pub struct Catalog {
    triggers: HashMap<String, TriggerType>,
    /// Packs whose rules start dry runs only (shadow mode).
    shadow: std::collections::HashSet<String>,
    rules: RuleSet,
}

impl Catalog {
    pub fn load(store: &Store) -> Result<Catalog, CatalogError> {
        let mut triggers = HashMap::new();
        let mut seen = std::collections::HashSet::new();
        let mut shadow = std::collections::HashSet::new();
        for installed in store.list_packs()? {
            // list_packs is newest install first per name: keep the first.
            if !seen.insert(installed.name.clone()) {
                continue;
            }
            if installed.shadow {
                shadow.insert(installed.name.clone());
            }
            let pack: Pack =
                serde_json::from_value(installed.manifest).map_err(StoreError::from)?;
            for t in pack.triggers {
                triggers.insert(format!("{}.{}", pack.name, t.name), t);
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
        Ok(Catalog {
            triggers,
            shadow,
            rules: RuleSet::new(rules)?,
        })
    }

    /// Whether `pack` is in shadow mode: executions its rules start are
    /// dry runs.
    pub fn is_shadow(&self, pack: &str) -> bool {
        self.shadow.contains(pack)
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

/// The rules a pack directory ships, checked, ready for [`store_pack_rules`].
pub struct PackRules {
    pack: String,
    rules: Vec<(String, String, bool)>,
}

impl PackRules {
    /// The rules' references.
    pub fn references(&self) -> Vec<String> {
        self.rules.iter().map(|(r, _, _)| r.clone()).collect()
    }
}

/// Reads and checks `<pack dir>/rules/*.yaml` (and `.yml`) against the
/// pack's manifest, before anything is installed: a bad rule refuses the
/// whole pack.
pub fn read_pack_rules(dir: &Path) -> Result<PackRules, CatalogError> {
    let manifest = dir.join(drover_pack::MANIFEST_FILE);
    let text = std::fs::read_to_string(&manifest).map_err(|source| CatalogError::Io {
        path: manifest.clone(),
        source,
    })?;
    let pack = drover_pack::parse_manifest(&manifest, &text)?.name;
    let rules_dir = dir.join("rules");
    let mut files = Vec::new();
    if rules_dir.is_dir() {
        let io = |source| CatalogError::Io {
            path: rules_dir.clone(),
            source,
        };
        for entry in std::fs::read_dir(&rules_dir).map_err(io)? {
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
    let mut rules = Vec::new();
    for path in files {
        let text = std::fs::read_to_string(&path).map_err(|source| CatalogError::Io {
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
        rules.push((rule.reference.clone(), text, rule.enabled));
    }
    Ok(PackRules { pack, rules })
}

/// Replaces the pack's stored rules with those read by [`read_pack_rules`].
pub fn store_pack_rules(store: &Store, rules: PackRules) -> Result<(), CatalogError> {
    store.replace_pack_rules(&rules.pack, rules.rules)?;
    Ok(())
}
