//! The `packs`, `pack_components` and `blobs` tables: installed pack
//! versions, which component digest each plugin runs, and the component
//! bytes themselves, stored once per digest.

use std::collections::BTreeMap;

use rusqlite::{OptionalExtension, params};
use serde::Serialize;

use crate::{Result, Store};

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
    /// Rules of a shadow pack start dry runs only, until it is promoted.
    pub shadow: bool,
    /// Plugin name -> component digest.
    pub digests: BTreeMap<String, String>,
}

/// A component to store with a pack: plugin name, digest, bytes.
pub struct ComponentBlob {
    pub plugin: String,
    pub digest: String,
    pub bytes: Vec<u8>,
}

impl Store {
    /// Records a pack version and its components in one transaction.
    /// Installing the same version again replaces its record (a rebuilt
    /// component gets its new digest, and grants bound to the old one stop
    /// matching).
    pub fn install_pack(&self, pack: InstalledPack, components: Vec<ComponentBlob>) -> Result<()> {
        self.write(move |conn| {
            for c in &components {
                conn.execute(
                    "INSERT OR IGNORE INTO blobs (digest, bytes) VALUES (?1, ?2)",
                    params![c.digest, c.bytes],
                )?;
            }
            conn.execute(
                "DELETE FROM packs WHERE name = ?1 AND version = ?2",
                params![pack.name, pack.version],
            )?;
            conn.execute(
                "INSERT INTO packs (name, version, manifest, source_dir, installed_at, installed_by,
                    shadow)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                params![
                    pack.name,
                    pack.version,
                    pack.manifest.to_string(),
                    pack.source_dir,
                    pack.installed_at_ms,
                    pack.installed_by,
                    pack.shadow
                ],
            )?;
            for c in &components {
                conn.execute(
                    "INSERT INTO pack_components (pack, version, plugin, digest)
                     VALUES (?1, ?2, ?3, ?4)",
                    params![pack.name, pack.version, c.plugin, c.digest],
                )?;
            }
            crate::policies::bump_generation(conn)
        })
    }

    /// Every installed pack version, by name, newest install first.
    pub fn list_packs(&self) -> Result<Vec<InstalledPack>> {
        let keys: Vec<(String, String)> = self.read(|conn| {
            let mut stmt = conn.prepare_cached(
                "SELECT name, version FROM packs ORDER BY name, installed_at DESC",
            )?;
            let rows = stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?;
            Ok(rows.collect::<rusqlite::Result<_>>()?)
        })?;
        keys.into_iter()
            .filter_map(|(n, v)| self.get_pack(&n, Some(&v)).transpose())
            .collect()
    }

    /// A pack version, or with `version: None` the most recently installed
    /// version of that pack (the one `drover run` uses).
    pub fn get_pack(&self, name: &str, version: Option<&str>) -> Result<Option<InstalledPack>> {
        self.read(|conn| {
            let row = conn
                .prepare_cached(
                    "SELECT name, version, manifest, source_dir, installed_at, installed_by, shadow
                     FROM packs WHERE name = ?1 AND (?2 IS NULL OR version = ?2)
                     ORDER BY installed_at DESC, rowid DESC LIMIT 1",
                )?
                .query_row(params![name, version], |r| {
                    Ok((
                        r.get::<_, String>(0)?,
                        r.get::<_, String>(1)?,
                        r.get::<_, String>(2)?,
                        r.get::<_, String>(3)?,
                        r.get::<_, i64>(4)?,
                        r.get::<_, String>(5)?,
                        r.get::<_, bool>(6)?,
                    ))
                })
                .optional()?;
            let Some((name, version, manifest, source_dir, installed_at_ms, installed_by, shadow)) =
                row
            else {
                return Ok(None);
            };
            let mut stmt = conn.prepare_cached(
                "SELECT plugin, digest FROM pack_components WHERE pack = ?1 AND version = ?2",
            )?;
            let digests = stmt
                .query_map(params![name, version], |r| Ok((r.get(0)?, r.get(1)?)))?
                .collect::<rusqlite::Result<BTreeMap<String, String>>>()?;
            Ok(Some(InstalledPack {
                name,
                version,
                manifest: serde_json::from_str(&manifest)?,
                source_dir,
                installed_at_ms,
                installed_by,
                shadow,
                digests,
            }))
        })
    }

    /// Takes a pack version out of shadow mode (or puts it back); false
    /// when it is not installed.
    pub fn set_pack_shadow(&self, name: &str, version: &str, shadow: bool) -> Result<bool> {
        let (name, version) = (name.to_owned(), version.to_owned());
        self.write(move |conn| {
            let changed = conn.execute(
                "UPDATE packs SET shadow = ?3 WHERE name = ?1 AND version = ?2",
                params![name, version, shadow],
            )? > 0;
            crate::policies::bump_generation(conn)?;
            Ok(changed)
        })
    }

    /// The bytes of a stored component.
    pub fn get_blob(&self, digest: &str) -> Result<Option<Vec<u8>>> {
        self.read(|conn| {
            Ok(conn
                .prepare_cached("SELECT bytes FROM blobs WHERE digest = ?1")?
                .query_row([digest], |r| r.get(0))
                .optional()?)
        })
    }
}
