//! Installing a pack: read and validate it, check each component in the
//! plugin host (imports within the manifest's capabilities, exports match
//! its world, precompiled into the cache), and record pack and components
//! in one transaction. Nothing is recorded unless every plugin passes.
//!
//! A workflow action (`runner: workflow`) has no component: its workflow
//! file is parsed and validated against the installed packs plus the pack
//! being installed (unknown actions, bad inputs refuse the pack, with
//! `file:line:column`), and its text is stored inside the manifest JSON. Its
//! parameters are the manifest's `parameters` when given, else one per
//! workflow `input` (any JSON value; required unless it has a default).

use std::collections::HashSet;
use std::path::Path;

use drover_core::{ChangeBy, now_ms};
use drover_host::cache::SweepReport;
use drover_host::{CheckError, InstalledPlugin};
use drover_pack::{Pack, PackError, Parameters, PluginKind, load_pack_dir};
use drover_store::{ComponentBlob, InstalledPack, PackCatalog, Store, StoreError};
use serde::Serialize;

use crate::App;

#[derive(Debug, thiserror::Error)]
pub enum InstallError {
    #[error(transparent)]
    Pack(#[from] PackError),
    #[error(transparent)]
    Component(#[from] CheckError),
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

/// Why the compiled cache could not be swept.
#[derive(Debug, thiserror::Error)]
pub enum SweepError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("the compiled-component cache: {0}")]
    Io(#[from] std::io::Error),
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
    /// Components compiled by this install: one per new digest, however
    /// many plugins share it; none for digests already compiled.
    pub compiled: usize,
    /// Who signed the archive it came from (see
    /// [`drover_store::InstalledPack::signer`]); `None` for a directory.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub signer: Option<String>,
}

/// Where a pack version comes from when it is not a pack directory: the
/// archive it was verified from (recorded as its source) and its signer.
#[derive(Clone, Debug)]
pub struct ArchiveOrigin {
    pub archive: std::path::PathBuf,
    /// `NAME SHA256:…` or `unsigned`.
    pub signer: String,
}

impl App {
    /// Installs the pack in `dir` (see the module doc), by `by` (an actor,
    /// or a [`ChangeBy`] with the operator's reason); the change log
    /// records it in the install's transaction.
    pub fn install(
        &self,
        dir: &Path,
        by: impl Into<ChangeBy>,
    ) -> Result<InstallReport, InstallError> {
        self.install_as(dir, by, false)
    }

    /// [`App::install`], in shadow mode when `shadow`: everything the
    /// pack causes is a dry run, until it is promoted.
    pub fn install_as(
        &self,
        dir: &Path,
        by: impl Into<ChangeBy>,
        shadow: bool,
    ) -> Result<InstallReport, InstallError> {
        self.install_with(dir, by, shadow, PackCatalog::default())
    }

    /// [`App::install_as`] with the rules and policies the pack ships
    /// (checked by the caller), stored in the same transaction as the pack.
    pub fn install_with(
        &self,
        dir: &Path,
        by: impl Into<ChangeBy>,
        shadow: bool,
        catalog: PackCatalog,
    ) -> Result<InstallReport, InstallError> {
        self.install_from(dir, by, shadow, catalog, None)
    }

    /// [`App::install_with`] of a pack extracted from a verified archive
    /// (`origin`): the archive is recorded as its source, with its signer.
    pub fn install_from(
        &self,
        dir: &Path,
        by: impl Into<ChangeBy>,
        shadow: bool,
        catalog: PackCatalog,
        origin: Option<&ArchiveOrigin>,
    ) -> Result<InstallReport, InstallError> {
        let by: ChangeBy = by.into();
        let mut source = load_pack_dir(dir)?;
        self.check_workflows(&source.dir, &mut source.pack)?;
        let checked = self.runtime.check_pack(&source)?;
        let pack = &source.pack;
        let replaced = self
            .store
            .get_pack(&pack.name, Some(&pack.version))?
            .is_some();
        let manifest = serde_json::to_value(pack).map_err(StoreError::from)?;
        let source_dir = match origin {
            Some(o) => std::fs::canonicalize(&o.archive).unwrap_or(o.archive.clone()),
            None => std::fs::canonicalize(&source.dir).unwrap_or(source.dir.clone()),
        };
        let signer = origin.map(|o| o.signer.clone());
        let compiled = checked.compiled;
        let blobs = checked
            .components
            .into_iter()
            .map(|c| ComponentBlob {
                plugin: c.plugin,
                digest: c.digest,
                bytes: c.bytes,
            })
            .collect();
        let stored = self.store.install_pack(
            InstalledPack {
                name: pack.name.clone(),
                version: pack.version.clone(),
                manifest,
                source_dir: source_dir.display().to_string(),
                installed_at_ms: now_ms(),
                installed_by: by.actor.clone(),
                shadow,
                live: false,
                digests: Default::default(),
                signer: signer.clone(),
            },
            blobs,
            catalog,
            &by,
        );
        if let Err(e) = stored {
            // Not installed after all: what this install compiled goes.
            self.runtime.discard_compiled(&compiled);
            return Err(e.into());
        }
        self.runtime.forget_prepared();
        Ok(InstallReport {
            pack: pack.reference(),
            replaced,
            shadow,
            plugins: checked.plugins,
            compiled: compiled.len(),
            signer,
        })
    }

    /// Removes the compiled components no installed pack version
    /// references (`drover gc`): the component bytes stay in the store,
    /// so a removed file is only compiled again if a version using it is
    /// installed again. With `dry_run`, only says which.
    pub fn sweep_compiled(&self, dry_run: bool) -> Result<SweepReport, SweepError> {
        let keep: HashSet<String> = self
            .store
            .list_packs()?
            .into_iter()
            .flat_map(|p| p.digests.into_values())
            .collect();
        Ok(self.runtime.sweep_cache(&keep, dry_run)?)
    }

    /// The install checks that need no database, for `drover pack build`:
    /// the pack directory loads, and every component is a component of
    /// its world importing only what its plugin declares. (Workflows are
    /// checked at install, against the packs installed there.)
    pub fn check_components(&self, dir: &Path) -> Result<Vec<InstalledPlugin>, InstallError> {
        let source = load_pack_dir(dir)?;
        Ok(self.runtime.check_pack(&source)?.plugins)
    }

    fn check_workflows(&self, dir: &Path, pack: &mut Pack) -> Result<(), InstallError> {
        check_workflows(&self.store, dir, pack)
    }
}

/// Parses and validates every workflow of `pack` (files named from `dir`)
/// against the installed packs plus `pack` itself, and gives a workflow
/// without declared parameters one per input: what an install checks, and
/// what a replay of a changed workflow file checks it against.
pub fn check_workflows(store: &Store, dir: &Path, pack: &mut Pack) -> Result<(), InstallError> {
    if !pack.plugins.iter().any(|p| p.is_workflow()) {
        return Ok(());
    }
    let mut others = Vec::new();
    let mut seen = std::collections::HashSet::new();
    for installed in store.list_packs()? {
        // The live version first per name (what the workflow will
        // call); the pack's own actions are checked against itself.
        if installed.name == pack.name || !seen.insert(installed.name.clone()) {
            continue;
        }
        others.push(serde_json::from_value::<Pack>(installed.manifest).map_err(StoreError::from)?);
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
        let params = Parameters::new(
            wf.inputs()
                .map(|(name, has_default)| (name.to_owned(), !has_default, serde_json::json!({}))),
        )
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
