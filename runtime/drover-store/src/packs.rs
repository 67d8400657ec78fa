//! The `packs`, `pack_components` and `blobs` tables: installed pack
//! versions, which component digest each plugin runs, and the component
//! bytes themselves, stored once per digest.
//!
//! Several versions of one pack may be installed; one is *live*: the newest
//! trusted (not shadow) version, else the newest. Actions, workflows,
//! sensors and trigger types resolve to it, and the `rules` and `policies`
//! tables hold its rules and policies. Each version keeps those it shipped
//! with, so installing a shadowed candidate of a trusted pack leaves the
//! trusted version live, its rules in force, until the candidate is
//! promoted. Everything a pack brings is written in one transaction.

use drover_core::ChangeBy;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

use crate::Result;

/// A pack version as installed.
#[derive(Clone, Debug, Serialize)]
pub struct InstalledPack {
    pub name: String,
    pub version: String,
    /// The validated manifest, as JSON (a `drover_pack::Pack`).
    pub manifest: serde_json::Value,
    pub source_dir: String,
    pub installed_at_ms: i64,
    pub installed_by: String,
    /// Everything a shadow pack version causes is a dry run, until it is
    /// promoted.
    pub shadow: bool,
    /// The version of this pack that runs (see the module doc); set by the
    /// store, ignored on install.
    pub live: bool,
    /// Plugin name -> component digest.
    pub digests: BTreeMap<String, String>,
    /// Who signed the archive it was installed from: `None` for a pack
    /// directory, `unsigned` (installed with `--allow-unsigned`), or the
    /// trusted key's name and fingerprint (`batch-team SHA256:…`).
    pub signer: Option<String>,
}

/// What [`PackStore::rollback_pack`] did: the live version before (now in
/// shadow mode) and after.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct RolledBack {
    pub from: String,
    pub to: String,
}

/// A component to store with a pack: plugin name, digest, bytes.
pub struct ComponentBlob {
    pub plugin: String,
    pub digest: String,
    pub bytes: Vec<u8>,
}

/// The rules and policies a pack version ships, checked by the caller.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct PackCatalog {
    /// (reference, YAML source, enabled).
    pub rules: Vec<(String, String, bool)>,
    /// (reference, YAML source).
    pub policies: Vec<(String, String)>,
}

/// Installed pack versions, their components and component bytes.
pub trait PackStore: Send + Sync {
    /// Records a pack version, its components, rules and policies in one
    /// transaction (nothing of it is stored if any part fails), and decides
    /// which version of the pack is live: when that is this version (or
    /// changes), the stored rules and policies become the live version's.
    /// Installing the same version again replaces its record (a rebuilt
    /// component gets its new digest, and grants bound to the old one stop
    /// matching). The change (`pack.install`, by `by`: the live version
    /// and this version's mode and digests, before and after) is recorded
    /// in the same transaction.
    fn install_pack(
        &self,
        pack: InstalledPack,
        components: Vec<ComponentBlob>,
        catalog: PackCatalog,
        by: &ChangeBy,
    ) -> Result<()>;

    /// Every installed pack version, by name, the live version first, then
    /// newest install first.
    fn list_packs(&self) -> Result<Vec<InstalledPack>>;

    /// A pack version, or with `version: None` the live version of that
    /// pack (the one rules, workflows and `drover run` use).
    fn get_pack(&self, name: &str, version: Option<&str>) -> Result<Option<InstalledPack>>;

    /// Takes a pack version out of shadow mode (or puts it back); false
    /// when it is not installed. The live version is chosen again: a
    /// promoted candidate newer than the trusted version becomes live, and
    /// its rules and policies replace the old version's. When the mode
    /// changes, the change (`pack.promote` or `pack.shadow`, with the live
    /// version before and after) is recorded in the same transaction.
    fn set_pack_shadow(
        &self,
        name: &str,
        version: &str,
        shadow: bool,
        by: &ChangeBy,
    ) -> Result<bool>;

    /// Rolls pack `name` back, in one transaction: its live version, when
    /// trusted, goes back into shadow mode, so the newest trusted version
    /// installed before it is live again, its rules and policies stored
    /// again (its grants, bound to that version, are in force with it).
    /// The change (`pack.rollback`, by `by`: the live version before and
    /// after) is recorded in the same transaction. `None`, changing
    /// nothing, when there is nothing to go back to: no version of `name`
    /// is installed, the live one is itself in shadow mode, or no other
    /// trusted version is installed.
    fn rollback_pack(&self, name: &str, by: &ChangeBy) -> Result<Option<RolledBack>>;

    /// The rules and policies pack version `name@version` shipped with.
    fn pack_catalog(&self, name: &str, version: &str) -> Result<Option<PackCatalog>>;

    /// The bytes of a stored component.
    fn get_blob(&self, digest: &str) -> Result<Option<Vec<u8>>>;
}
