//! The installed packs as every part of the process sees them: each
//! version's manifest parsed once per catalog generation, shared by the
//! plugin runtime (which action, which component, shadow or live) and the
//! pipeline's catalog (trigger types, owners, shadow packs), instead of
//! each reading and parsing the packs on its own.
//!
//! The store bumps its catalog generation in the transaction of every pack
//! change (install, promote, a rule or policy changed), whichever process
//! makes it; [`PackIndex::current`] reads the generation (one small
//! read) and reloads only when it moved.

use std::collections::BTreeMap;
use std::sync::{Arc, RwLock};

use drover_host::ports::InstalledVersion;
use drover_pack::Pack;
use drover_store::{InstalledPack, Store, StoreError};

/// One installed pack version, its manifest parsed.
#[derive(Clone, Debug)]
pub struct CatalogPack {
    pub pack: Pack,
    /// The store's record, without its manifest (parsed into `pack`).
    pub record: InstalledPack,
}

impl CatalogPack {
    /// The host's view of this version.
    pub fn installed_version(&self) -> InstalledVersion {
        InstalledVersion {
            pack: self.pack.clone(),
            shadow: self.record.shadow,
            digests: self.record.digests.clone(),
        }
    }
}

/// Every installed pack version at one catalog generation.
#[derive(Debug, Default)]
pub struct Installed {
    generation: i64,
    /// The store's order: per name, the live version first.
    versions: Vec<CatalogPack>,
    /// (name, version) -> index in `versions`.
    index: BTreeMap<(String, String), usize>,
    /// name -> index of its live version.
    live: BTreeMap<String, usize>,
}

impl Installed {
    fn load(store: &Store, generation: i64) -> Result<Installed, StoreError> {
        let mut installed = Installed {
            generation,
            ..Installed::default()
        };
        for mut record in store.list_packs()? {
            let manifest = std::mem::take(&mut record.manifest);
            let pack: Pack = serde_json::from_value(manifest)?;
            let at = installed.versions.len();
            let key = (record.name.clone(), record.version.clone());
            installed.index.insert(key, at);
            if record.live {
                installed.live.insert(record.name.clone(), at);
            }
            installed.versions.push(CatalogPack { pack, record });
        }
        Ok(installed)
    }

    /// The catalog generation this reflects.
    pub fn generation(&self) -> i64 {
        self.generation
    }

    /// Version `version` of pack `name`, or its live version with `None`.
    pub fn get(&self, name: &str, version: Option<&str>) -> Option<&CatalogPack> {
        let at = match version {
            Some(v) => self.index.get(&(name.to_owned(), v.to_owned())),
            None => self.live.get(name),
        }?;
        self.versions.get(*at)
    }

    /// Every installed version, the live one first per name.
    pub fn all(&self) -> &[CatalogPack] {
        &self.versions
    }

    /// The candidate of pack `name`: its newest shadowed version that is
    /// not live, while a trusted version is live. Its rules run beside the
    /// live version's as dry runs (side-by-side shadow) until it is
    /// promoted. `None` when the live version is itself shadowed (then
    /// its own rules run dry) or nothing waits.
    pub fn candidate(&self, name: &str) -> Option<&CatalogPack> {
        let live = self.get(name, None)?;
        if live.record.shadow {
            return None;
        }
        self.versions
            .iter()
            .filter(|v| v.record.name == name && v.record.shadow && !v.record.live)
            .max_by_key(|v| v.record.installed_at_ms)
    }

    /// The live version of each pack.
    pub fn live(&self) -> impl Iterator<Item = &CatalogPack> {
        self.live.values().map(|at| &self.versions[*at])
    }
}

/// The installed packs, reloaded when the store's catalog generation moves.
pub struct PackIndex {
    store: Store,
    current: RwLock<Arc<Installed>>,
}

impl PackIndex {
    pub fn new(store: Store) -> PackIndex {
        PackIndex {
            store,
            // Generation -1 is never the store's: the first call loads.
            current: RwLock::new(Arc::new(Installed {
                generation: -1,
                ..Installed::default()
            })),
        }
    }

    /// The installed packs as of now.
    pub fn current(&self) -> Result<Arc<Installed>, StoreError> {
        // Read the generation before the packs: a change made while loading
        // bumps it past this one, so the next call loads again.
        let generation = self.store.catalog_generation()?;
        {
            let current = self.current.read().unwrap_or_else(|p| p.into_inner());
            if current.generation == generation {
                return Ok(current.clone());
            }
        }
        let loaded = Arc::new(Installed::load(&self.store, generation)?);
        *self.current.write().unwrap_or_else(|p| p.into_inner()) = loaded.clone();
        Ok(loaded)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn manifest(name: &str, version: &str) -> serde_json::Value {
        serde_json::json!({ "name": name, "version": version, "description": "t", "plugins": [] })
    }

    fn install(store: &Store, name: &str, version: &str) {
        store
            .install_pack(
                InstalledPack {
                    name: name.into(),
                    version: version.into(),
                    manifest: manifest(name, version),
                    source_dir: "/tmp".into(),
                    installed_at_ms: 0,
                    installed_by: "test".into(),
                    shadow: false,
                    live: false,
                    digests: BTreeMap::new(),
                    signer: None,
                },
                Vec::new(),
                drover_store::PackCatalog::default(),
                &"test".into(),
            )
            .unwrap();
    }

    #[test]
    fn a_change_from_any_handle_is_seen_and_nothing_reloads_without_one() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("d.db")).unwrap();
        let catalog = PackIndex::new(store.clone());
        install(&store, "p", "1.0.0");
        let first = catalog.current().unwrap();
        assert_eq!(first.get("p", None).unwrap().record.version, "1.0.0");
        // Unchanged generation: the same snapshot, not a reload.
        assert!(Arc::ptr_eq(&first, &catalog.current().unwrap()));

        // Another handle on the same file (another process, say) installs.
        let other = Store::open(&dir.path().join("d.db")).unwrap();
        install(&other, "p", "2.0.0");
        let second = catalog.current().unwrap();
        assert!(second.generation() > first.generation());
        assert!(second.get("p", Some("2.0.0")).is_some());
        assert!(second.get("p", Some("1.0.0")).is_some());
        assert!(second.get("q", None).is_none());
    }
}
