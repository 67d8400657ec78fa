//! The install-time checks of a pack's components: compile each one (into
//! the compiled cache), refuse one that imports more than its manifest
//! declares or does not export its world. The application records the pack
//! only when every plugin passes (`drover-app`'s install).

use std::path::PathBuf;

use drover_pack::{PackSource, PluginKind};
use serde::Serialize;
use wasmtime::component::types::ComponentItem;

use crate::bindings::ActionPre;
use crate::bindings::sensor::SensorPre;
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
}

impl Runtime {
    /// Checks every component of `source` (see the module doc). Nothing is
    /// recorded; compiled components stay in the cache.
    pub fn check_pack(&self, source: &PackSource) -> Result<CheckedPack, CheckError> {
        let pack = &source.pack;
        let engine = self.engine.engine();
        let mut plugins = Vec::new();
        let mut components = Vec::new();
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
                .map_err(|e| CheckError::Corrupt {
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
        Ok(CheckedPack {
            plugins,
            components,
        })
    }
}
