//! Installing a pack: read and validate it, compile each component, refuse
//! one that imports more than its manifest declares or does not export its
//! world, precompile into the cache, and record pack and components in one
//! transaction. Nothing is recorded unless every plugin passes.
//!
//! A workflow action (`runner: workflow`) has no component: its workflow
//! file is parsed and validated against the installed packs plus the pack
//! being installed (unknown actions, bad inputs refuse the pack, with
//! `file:line:column`), and its text is stored inside the manifest JSON. Its
//! parameters are the manifest's `parameters` when given, else one per
//! workflow `input` (any JSON value; required unless it has a default).

use std::path::{Path, PathBuf};

use drover_core::now_ms;
use drover_pack::{Pack, PackError, Parameters, PluginKind, load_pack_dir};
use drover_store::{ComponentBlob, InstalledPack, PackCatalog, StoreError};
use serde::Serialize;
use wasmtime::component::types::ComponentItem;

use crate::bindings::ActionPre;
use crate::bindings::sensor::SensorPre;
use crate::executor::Runtime;

#[derive(Debug, thiserror::Error)]
pub enum InstallError {
    #[error(transparent)]
    Pack(#[from] PackError),
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
    #[error("workflow {plugin:?}: {error}")]
    Workflow {
        plugin: String,
        error: drover_workflow::SpecError,
    },
    #[error("workflow {plugin:?}: {message}")]
    WorkflowParams { plugin: String, message: String },
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// What an install did.
#[derive(Debug, Serialize)]
pub struct InstallReport {
    /// `name@version`.
    pub pack: String,
    /// True when this version was installed before and is now replaced.
    pub replaced: bool,
    /// Installed in shadow mode.
    pub shadow: bool,
    pub plugins: Vec<InstalledPlugin>,
}

#[derive(Debug, Serialize)]
pub struct InstalledPlugin {
    pub name: String,
    pub kind: PluginKind,
    pub digest: String,
    /// The component's imports, without the WASI base.
    pub imports: Vec<String>,
}

impl Runtime {
    /// Installs the pack in `dir` (see the module doc).
    pub fn install(&self, dir: &Path, actor: &str) -> Result<InstallReport, InstallError> {
        self.install_as(dir, actor, false)
    }

    /// [`Runtime::install`], in shadow mode when `shadow`: everything the
    /// pack causes is a dry run, until it is promoted.
    pub fn install_as(
        &self,
        dir: &Path,
        actor: &str,
        shadow: bool,
    ) -> Result<InstallReport, InstallError> {
        self.install_with(dir, actor, shadow, PackCatalog::default())
    }

    /// [`Runtime::install_as`] with the rules and policies the pack ships
    /// (checked by the caller), stored in the same transaction as the pack.
    pub fn install_with(
        &self,
        dir: &Path,
        actor: &str,
        shadow: bool,
        catalog: PackCatalog,
    ) -> Result<InstallReport, InstallError> {
        let mut source = load_pack_dir(dir)?;
        self.check_workflows(&source.dir, &mut source.pack)?;
        let pack = &source.pack;
        let engine = self.engine.engine();
        let mut plugins = Vec::new();
        let mut blobs = Vec::new();
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
            let component = self
                .cache
                .compile(engine, file.digest.as_str(), &file.bytes)
                .map_err(|e| InstallError::Corrupt {
                    path: file.path.clone(),
                    message: format!("{e:#}"),
                })?;
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
                return Err(InstallError::Undeclared {
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
            checked.map_err(|e| InstallError::WrongWorld {
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
            blobs.push(ComponentBlob {
                plugin: plugin.name.clone(),
                digest: file.digest.to_string(),
                bytes: file.bytes.clone(),
            });
        }
        let store = &self.services.store;
        let replaced = store.get_pack(&pack.name, Some(&pack.version))?.is_some();
        let manifest = serde_json::to_value(pack).map_err(StoreError::from)?;
        let source_dir = std::fs::canonicalize(&source.dir).unwrap_or(source.dir.clone());
        store.install_pack(
            InstalledPack {
                name: pack.name.clone(),
                version: pack.version.clone(),
                manifest,
                source_dir: source_dir.display().to_string(),
                installed_at_ms: now_ms(),
                installed_by: actor.to_owned(),
                shadow,
                live: false,
                digests: Default::default(),
            },
            blobs,
            catalog,
        )?;
        self.forget_prepared();
        Ok(InstallReport {
            pack: pack.reference(),
            replaced,
            shadow,
            plugins,
        })
    }

    /// Parses and validates every workflow of `pack` against the installed
    /// packs plus `pack` itself, and gives a workflow without declared
    /// parameters one per input.
    fn check_workflows(&self, dir: &Path, pack: &mut Pack) -> Result<(), InstallError> {
        if !pack.plugins.iter().any(|p| p.is_workflow()) {
            return Ok(());
        }
        let mut others = Vec::new();
        let mut seen = std::collections::HashSet::new();
        for installed in self.store().list_packs()? {
            // The live version first per name (what the workflow will
            // call); the pack's own actions are checked against itself.
            if installed.name == pack.name || !seen.insert(installed.name.clone()) {
                continue;
            }
            others.push(
                serde_json::from_value::<Pack>(installed.manifest).map_err(StoreError::from)?,
            );
        }
        // Parameters first (a workflow may call a sibling workflow).
        for i in 0..pack.plugins.len() {
            let plugin = &pack.plugins[i];
            let Some(workflow) = &plugin.workflow else {
                continue;
            };
            if !plugin.parameters.is_empty() {
                continue;
            }
            let file = dir.join(&workflow.entry).display().to_string();
            let wf =
                drover_workflow::Workflow::parse(&file, &workflow.text, None).map_err(|error| {
                    InstallError::Workflow {
                        plugin: plugin.name.clone(),
                        error,
                    }
                })?;
            let params =
                Parameters::new(wf.inputs().map(|(name, has_default)| {
                    (name.to_owned(), !has_default, serde_json::json!({}))
                }))
                .map_err(|e| InstallError::WorkflowParams {
                    plugin: plugin.name.clone(),
                    message: e.to_string(),
                })?;
            pack.plugins[i].parameters = params;
        }
        let this: &Pack = pack;
        let catalog = |reference: &str| {
            if let Some(builtin) = drover_workflow::builtin::lookup(reference) {
                return Some(builtin);
            }
            let (pack_name, plugin) = reference.split_once('.')?;
            let found = if pack_name == this.name {
                this.plugin(plugin)
            } else {
                others
                    .iter()
                    .find(|p| p.name == pack_name)
                    .and_then(|p| p.plugin(plugin))
            }?;
            (found.kind == PluginKind::Action).then(|| drover_workflow::ActionInfo {
                parameters: found.parameters.json_schema(),
            })
        };
        for plugin in &this.plugins {
            let Some(workflow) = &plugin.workflow else {
                continue;
            };
            let file = dir.join(&workflow.entry).display().to_string();
            drover_workflow::Workflow::parse(&file, &workflow.text, Some(&catalog)).map_err(
                |error| InstallError::Workflow {
                    plugin: plugin.name.clone(),
                    error,
                },
            )?;
        }
        Ok(())
    }
}
