//! The install-time checks of a pack's components: compile each one (into
//! the compiled cache), refuse one that imports more than its manifest
//! declares or does not export its world. The application records the pack
//! only when every plugin passes (`drover-app`'s install).
//!
//! A component is compiled once per digest, however many plugins share it,
//! and not at all when the cache already holds it (a reinstall, another
//! version with the same component); a refused pack leaves none of the
//! files it compiled behind ([`Runtime::discard_compiled`]).

use std::collections::HashMap;
use std::path::PathBuf;

use drover_pack::{PackSource, PluginKind};
use serde::Serialize;
use wasmtime::component::Component;
use wasmtime::component::types::ComponentItem;

use crate::bindings::ActionPre;
use crate::bindings::sensor::SensorPre;
use crate::cache::CacheOutcome;
use crate::executor::Runtime;

/// Why a pack's component is refused.
#[derive(Debug, thiserror::Error)]
pub enum CheckError {
    #[error("{path}: not a valid component: {message}")]
    Corrupt { path: PathBuf, message: String },
    #[error(
        "{path}: plugin {plugin:?} imports {imports} but pack.yaml declares only [{declared}]; \
         add the matching capabilities to plugins.{plugin}.capabilities or remove the calls",
        imports = imports.join(", ")
    )]
    Undeclared {
        path: PathBuf,
        plugin: String,
        imports: Vec<String>,
        declared: String,
    },
    #[error("{path}: plugin {plugin:?} is not a drover {world} component: {message}")]
    WrongWorld {
        path: PathBuf,
        plugin: String,
        world: &'static str,
        message: String,
    },
}

/// A plugin as installed, for the install report.
#[derive(Debug, Serialize)]
pub struct InstalledPlugin {
    pub name: String,
    pub kind: PluginKind,
    pub digest: String,
    /// The component's imports, without the WASI base.
    pub imports: Vec<String>,
}

/// A component that passed the checks, to be stored with its pack.
pub struct CheckedComponent {
    pub plugin: String,
    pub digest: String,
    pub bytes: Vec<u8>,
}

/// What the checks of a pack found: every plugin (workflows included, with
/// digest `workflow`) and the components to store.
pub struct CheckedPack {
    pub plugins: Vec<InstalledPlugin>,
    pub components: Vec<CheckedComponent>,
    /// Digests compiled by this check (not found in the cache), once each.
    pub compiled: Vec<String>,
}

impl Runtime {
    /// Checks every component of `source` (see the module doc). Nothing is
    /// recorded; compiled components stay in the cache.
    pub fn check_pack(&self, source: &PackSource) -> Result<CheckedPack, CheckError> {
        let mut compiled = Vec::new();
        let checked = self.check_components(source, &mut compiled);
        if checked.is_err() {
            // Nothing of a refused pack will run: its fresh files go.
            self.discard_compiled(&compiled);
        }
        checked.map(|(plugins, components)| CheckedPack {
            plugins,
            components,
            compiled,
        })
    }

    /// Removes the compiled files of `digests` (those a check compiled,
    /// when the install did not happen after all).
    pub fn discard_compiled(&self, digests: &[String]) {
        for digest in digests {
            self.cache.remove(digest);
        }
    }

    /// The cache's compile count (see [`crate::cache::ComponentCache::compiles`]).
    pub fn compiles(&self) -> u64 {
        self.cache.compiles()
    }

    /// Sweeps the compiled cache, keeping `keep`'s digests (see
    /// [`crate::cache::ComponentCache::sweep`]).
    pub fn sweep_cache(
        &self,
        keep: &std::collections::HashSet<String>,
        dry_run: bool,
    ) -> std::io::Result<crate::cache::SweepReport> {
        self.cache.sweep(keep, dry_run)
    }

    #[allow(clippy::type_complexity)]
    fn check_components(
        &self,
        source: &PackSource,
        compiled: &mut Vec<String>,
    ) -> Result<(Vec<InstalledPlugin>, Vec<CheckedComponent>), CheckError> {
        let pack = &source.pack;
        let engine = self.engine.engine();
        let mut plugins = Vec::new();
        let mut components = Vec::new();
        // One compile (or cache load) per digest, shared by its plugins.
        let mut loaded: HashMap<String, Component> = HashMap::new();
        for plugin in &pack.plugins {
            if plugin.is_workflow() {
                plugins.push(InstalledPlugin {
                    name: plugin.name.clone(),
                    kind: plugin.kind,
                    digest: "workflow".into(),
                    imports: Vec::new(),
                });
                continue;
            }
            let file = &source.components[&plugin.name];
            let digest = file.digest.to_string();
            let component = match loaded.get(&digest) {
                Some(c) => c.clone(),
                None => {
                    let (c, outcome) = self
                        .cache
                        .load(engine, &digest, || Ok(file.bytes.clone()))
                        .map_err(|e| CheckError::Corrupt {
                            path: file.path.clone(),
                            message: format!("{e:#}"),
                        })?;
                    if outcome == CacheOutcome::Compiled {
                        compiled.push(digest.clone());
                    }
                    loaded.insert(digest.clone(), c.clone());
                    c
                }
            };
            let mut imports = Vec::new();
            let mut extra = Vec::new();
            for (name, item) in component.component_type().imports(engine) {
                let ComponentItem::ComponentInstance(instance) = item.ty else {
                    continue;
                };
                let functions: Vec<&str> = instance
                    .exports(engine)
                    .filter(|(_, ty)| matches!(ty.ty, ComponentItem::ComponentFunc(_)))
                    .map(|(f, _)| f)
                    .collect();
                extra.extend(drover_policy::undeclared_functions(
                    name,
                    functions,
                    &plugin.capabilities,
                ));
                imports.push(name.to_owned());
            }
            // An interface already reported function by function is not
            // listed again as a whole.
            let reported = |import: &str| {
                let bare = import.split('@').next().unwrap_or(import);
                extra.iter().any(|e| e.starts_with(&format!("{bare}#")))
            };
            let whole: Vec<String> = drover_policy::undeclared_imports(
                imports.iter().map(String::as_str),
                &plugin.capabilities,
            )
            .into_iter()
            .filter(|i| !reported(i))
            .collect();
            extra.extend(whole);
            if !extra.is_empty() {
                return Err(CheckError::Undeclared {
                    path: file.path.clone(),
                    plugin: plugin.name.clone(),
                    imports: extra,
                    declared: plugin
                        .capabilities
                        .iter()
                        .map(|c| c.to_string())
                        .collect::<Vec<_>>()
                        .join(", "),
                });
            }
            // Resolves every import against the linker and checks the
            // exports' types (`run`, or `poll` and `on-message`): a wrong
            // component fails here, not at its first call.
            let pre = self.engine.linker().instantiate_pre(&component);
            let checked = match plugin.kind {
                PluginKind::Action => pre.and_then(ActionPre::new).map(drop),
                PluginKind::Sensor => pre.and_then(SensorPre::new).map(drop),
            };
            checked.map_err(|e| CheckError::WrongWorld {
                path: file.path.clone(),
                plugin: plugin.name.clone(),
                world: plugin.kind.as_str(),
                message: format!("{e:#}"),
            })?;
            plugins.push(InstalledPlugin {
                name: plugin.name.clone(),
                kind: plugin.kind,
                digest: file.digest.to_string(),
                // Everything beyond the harmless WASI base.
                imports: drover_policy::undeclared_imports(imports.iter().map(String::as_str), &[]),
            });
            components.push(CheckedComponent {
                plugin: plugin.name.clone(),
                digest: file.digest.to_string(),
                bytes: file.bytes.clone(),
            });
        }
        Ok((plugins, components))
    }
}
