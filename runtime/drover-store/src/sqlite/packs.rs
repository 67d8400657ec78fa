//! SQLite: [`PackStore`] over the tables of [`crate::packs`].

use crate::packs::*;
use crate::{Result, SqliteStore};
use drover_core::{ChangeBy, kinds};
use rusqlite::{Connection, OptionalExtension, params};
use serde_json::{Value, json};
use std::collections::BTreeMap;

impl PackStore for SqliteStore {
    fn install_pack(
        &self,
        pack: InstalledPack,
        components: Vec<ComponentBlob>,
        catalog: PackCatalog,
        by: &ChangeBy,
    ) -> Result<()> {
        let by = by.clone();
        self.write(move |conn| {
            let before = live_version(conn, &pack.name)?;
            let was = version_state(conn, &pack.name, &pack.version, before.as_deref())?;
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
                    shadow, rules, policies, signer)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
                params![
                    pack.name,
                    pack.version,
                    pack.manifest.to_string(),
                    pack.source_dir,
                    pack.installed_at_ms,
                    pack.installed_by,
                    pack.shadow,
                    serde_json::to_string(&catalog.rules)?,
                    serde_json::to_string(&catalog.policies)?,
                    pack.signer,
                ],
            )?;
            for c in &components {
                conn.execute(
                    "INSERT INTO pack_components (pack, version, plugin, digest)
                     VALUES (?1, ?2, ?3, ?4)",
                    params![pack.name, pack.version, c.plugin, c.digest],
                )?;
            }
            let live = choose_live(conn, &pack.name)?;
            // A reinstall of the live version brings its rules again.
            if before.as_deref() != Some(live.as_str()) || live == pack.version {
                activate(conn, &pack.name, &live)?;
            }
            let reference = format!("{}@{}", pack.name, pack.version);
            let now = version_state(conn, &pack.name, &pack.version, Some(&live))?;
            let verb = if was["installed"] == true {
                "reinstalled"
            } else {
                "installed"
            };
            let mode = if pack.shadow { " in shadow mode" } else { "" };
            let signed = match &pack.signer {
                None => String::new(),
                Some(s) if s == "unsigned" => " from an unsigned archive".to_owned(),
                Some(s) => format!(" signed by {s}"),
            };
            let live_note = if live == pack.version {
                "it is the live version".to_owned()
            } else {
                format!("{}@{live} stays the live version", pack.name)
            };
            super::audit::record_change(
                conn,
                &by,
                kinds::PACK_INSTALL,
                &reference,
                &reference,
                format!("{verb} {reference}{signed}{mode}; {live_note}"),
                was,
                now,
            )?;
            super::policies::bump_generation(conn)
        })
    }

    fn list_packs(&self) -> Result<Vec<InstalledPack>> {
        let keys: Vec<(String, String)> = self.read(|conn| {
            let mut stmt = conn.prepare_cached(
                "SELECT name, version FROM packs ORDER BY name, live DESC, installed_at DESC",
            )?;
            let rows = stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?;
            Ok(rows.collect::<rusqlite::Result<_>>()?)
        })?;
        keys.into_iter()
            .filter_map(|(n, v)| self.get_pack(&n, Some(&v)).transpose())
            .collect()
    }

    fn get_pack(&self, name: &str, version: Option<&str>) -> Result<Option<InstalledPack>> {
        self.read(|conn| {
            let row = conn
                .prepare_cached(
                    "SELECT name, version, manifest, source_dir, installed_at, installed_by, shadow,
                        live, signer
                     FROM packs WHERE name = ?1 AND (?2 IS NULL OR version = ?2)
                     ORDER BY live DESC, installed_at DESC, rowid DESC LIMIT 1",
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
                        r.get::<_, bool>(7)?,
                        r.get::<_, Option<String>>(8)?,
                    ))
                })
                .optional()?;
            let Some((
                name,
                version,
                manifest,
                source_dir,
                installed_at_ms,
                installed_by,
                shadow,
                live,
                signer,
            )) = row
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
                live,
                digests,
                signer,
            }))
        })
    }

    fn set_pack_shadow(
        &self,
        name: &str,
        version: &str,
        shadow: bool,
        by: &ChangeBy,
    ) -> Result<bool> {
        let (name, version, by) = (name.to_owned(), version.to_owned(), by.clone());
        self.write(move |conn| {
            let before = live_version(conn, &name)?;
            let was = version_state(conn, &name, &version, before.as_deref())?;
            let changed = conn.execute(
                "UPDATE packs SET shadow = ?3 WHERE name = ?1 AND version = ?2",
                params![name, version, shadow],
            )? > 0;
            if changed {
                let live = choose_live(conn, &name)?;
                if before.as_deref() != Some(live.as_str()) {
                    activate(conn, &name, &live)?;
                }
                if was["shadow"] != shadow {
                    let reference = format!("{name}@{version}");
                    let (kind, what) = if shadow {
                        (kinds::PACK_SHADOW, "put back into shadow mode")
                    } else {
                        (kinds::PACK_PROMOTE, "promoted out of shadow mode")
                    };
                    let live_note = match &before {
                        Some(b) if *b != live => format!("live version {b} → {live}"),
                        _ => format!("live version {live}"),
                    };
                    super::audit::record_change(
                        conn,
                        &by,
                        kind,
                        &reference,
                        &reference,
                        format!("{reference} {what}; {live_note}"),
                        was,
                        version_state(conn, &name, &version, Some(&live))?,
                    )?;
                }
            }
            super::policies::bump_generation(conn)?;
            Ok(changed)
        })
    }

    fn rollback_pack(&self, name: &str, by: &ChangeBy) -> Result<Option<RolledBack>> {
        let (name, by) = (name.to_owned(), by.clone());
        self.write(move |conn| {
            let Some(from) = live_version(conn, &name)? else {
                return Ok(None);
            };
            let earlier: i64 = conn
                .prepare_cached(
                    "SELECT count(*) FROM packs WHERE name = ?1 AND shadow = 0 AND version != ?2",
                )?
                .query_row(params![name, from], |r| r.get(0))?;
            let was = version_state(conn, &name, &from, Some(&from))?;
            if was["shadow"] != false || earlier == 0 {
                return Ok(None);
            }
            conn.execute(
                "UPDATE packs SET shadow = 1 WHERE name = ?1 AND version = ?2",
                params![name, from],
            )?;
            let to = choose_live(conn, &name)?;
            activate(conn, &name, &to)?;
            let reference = format!("{name}@{from}");
            super::audit::record_change(
                conn,
                &by,
                kinds::PACK_ROLLBACK,
                &reference,
                &reference,
                format!(
                    "rolled back {name}: live version {from} → {to}; {reference} is back in \
                     shadow mode"
                ),
                was,
                version_state(conn, &name, &from, Some(&to))?,
            )?;
            super::policies::bump_generation(conn)?;
            Ok(Some(RolledBack { from, to }))
        })
    }

    fn pack_catalog(&self, name: &str, version: &str) -> Result<Option<PackCatalog>> {
        self.read(|conn| {
            let row: Option<(String, String)> = conn
                .prepare_cached(
                    "SELECT rules, policies FROM packs WHERE name = ?1 AND version = ?2",
                )?
                .query_row(params![name, version], |r| Ok((r.get(0)?, r.get(1)?)))
                .optional()?;
            row.map(|(rules, policies)| {
                Ok(PackCatalog {
                    rules: serde_json::from_str(&rules)?,
                    policies: serde_json::from_str(&policies)?,
                })
            })
            .transpose()
        })
    }

    fn get_blob(&self, digest: &str) -> Result<Option<Vec<u8>>> {
        self.read(|conn| {
            Ok(conn
                .prepare_cached("SELECT bytes FROM blobs WHERE digest = ?1")?
                .query_row([digest], |r| r.get(0))
                .optional()?)
        })
    }
}

/// What a change to `name@version` shows of it: the pack's live version,
/// whether this version is installed, its mode and component digests.
fn version_state(
    conn: &Connection,
    name: &str,
    version: &str,
    live: Option<&str>,
) -> Result<Value> {
    let row: Option<(bool, Option<String>)> = conn
        .prepare_cached("SELECT shadow, signer FROM packs WHERE name = ?1 AND version = ?2")?
        .query_row(params![name, version], |r| Ok((r.get(0)?, r.get(1)?)))
        .optional()?;
    let (shadow, signer) = match row {
        Some((shadow, signer)) => (Some(shadow), signer),
        None => (None, None),
    };
    let digests: BTreeMap<String, String> = conn
        .prepare_cached(
            "SELECT plugin, digest FROM pack_components WHERE pack = ?1 AND version = ?2",
        )?
        .query_map(params![name, version], |r| Ok((r.get(0)?, r.get(1)?)))?
        .collect::<rusqlite::Result<_>>()?;
    Ok(json!({
        "live_version": live,
        "installed": shadow.is_some(),
        "shadow": shadow,
        "digests": if shadow.is_some() { json!(digests) } else { Value::Null },
        "signer": signer,
    }))
}

/// The version of `name` marked live, if any.
fn live_version(conn: &Connection, name: &str) -> Result<Option<String>> {
    Ok(conn
        .prepare_cached("SELECT version FROM packs WHERE name = ?1 AND live = 1")?
        .query_row([name], |r| r.get(0))
        .optional()?)
}

/// Marks the live version of `name` (the newest trusted, else the newest
/// install) and returns it. The pack must have a version installed.
fn choose_live(conn: &Connection, name: &str) -> Result<String> {
    let live: String = conn
        .prepare_cached(
            "SELECT version FROM packs WHERE name = ?1
             ORDER BY shadow ASC, installed_at DESC, rowid DESC LIMIT 1",
        )?
        .query_row([name], |r| r.get(0))?;
    conn.prepare_cached("UPDATE packs SET live = (version = ?2) WHERE name = ?1")?
        .execute(params![name, live])?;
    Ok(live)
}

/// Makes the rules and policies of `name@version` the stored (live) ones
/// of pack `name`.
fn activate(conn: &Connection, name: &str, version: &str) -> Result<()> {
    let (rules, policies): (String, String) = conn
        .prepare_cached("SELECT rules, policies FROM packs WHERE name = ?1 AND version = ?2")?
        .query_row(params![name, version], |r| Ok((r.get(0)?, r.get(1)?)))?;
    let rules: Vec<(String, String, bool)> = serde_json::from_str(&rules)?;
    let policies: Vec<(String, String)> = serde_json::from_str(&policies)?;
    super::rules::replace_in(conn, name, &rules)?;
    super::policies::replace_in(conn, name, &policies)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::prelude::*;

    fn pack(version: &str, shadow: bool, at: i64) -> InstalledPack {
        InstalledPack {
            name: "p".into(),
            version: version.into(),
            manifest: serde_json::json!({}),
            source_dir: "/x".into(),
            installed_at_ms: at,
            installed_by: "user:t".into(),
            shadow,
            live: false,
            digests: Default::default(),
            signer: None,
        }
    }

    fn by() -> ChangeBy {
        ChangeBy::from("user:t")
    }

    fn catalog(rule: &str) -> PackCatalog {
        PackCatalog {
            rules: vec![(format!("p.{rule}"), format!("name: {rule}"), true)],
            policies: vec![(format!("p.{rule}_limit"), "name: x".into())],
        }
    }

    fn active(s: &SqliteStore) -> (String, Vec<String>, Vec<String>) {
        let live = s.get_pack("p", None).unwrap().unwrap();
        assert!(live.live);
        let rules = s.list_rules().unwrap().into_iter().map(|r| r.reference);
        let policies = s.list_policies().unwrap().into_iter().map(|p| p.reference);
        (live.version, rules.collect(), policies.collect())
    }

    #[test]
    fn a_shadow_candidate_waits_aside_until_promoted() {
        let dir = tempfile::tempdir().unwrap();
        let s = SqliteStore::open(&dir.path().join("d.db")).unwrap();
        s.install_pack(pack("1", false, 1), vec![], catalog("one"), &by())
            .unwrap();
        s.set_rule_enabled("p.one", false, &by()).unwrap();
        s.install_pack(pack("2", true, 2), vec![], catalog("two"), &by())
            .unwrap();
        let (live, rules, policies) = active(&s);
        assert_eq!(live, "1", "the trusted version stays live");
        assert_eq!(
            (rules, policies),
            (vec!["p.one".into()], vec!["p.one_limit".into()])
        );
        assert!(
            !s.list_rules().unwrap()[0].enabled,
            "the operator's disable survives a candidate's install"
        );
        assert_eq!(
            s.pack_catalog("p", "2").unwrap().unwrap().rules[0].0,
            "p.two"
        );
        let promoter = ChangeBy::new("user:ann", Some("CHG-1")).unwrap();
        assert!(s.set_pack_shadow("p", "2", false, &promoter).unwrap());
        let changes = s
            .list_changes(&crate::ChangeFilter {
                limit: 10,
                ..Default::default()
            })
            .unwrap();
        let kinds: Vec<&str> = changes.iter().map(|c| c.kind.as_str()).collect();
        assert_eq!(
            kinds,
            [
                "pack.promote",
                "pack.install",
                "rule.disable",
                "pack.install"
            ],
            "each change recorded with it, newest first"
        );
        let promoted = &changes[0];
        assert_eq!(
            (promoted.subject.as_str(), promoted.actor.as_str()),
            ("p@2", "user:ann")
        );
        assert_eq!(promoted.reason.as_deref(), Some("CHG-1"));
        assert_eq!(
            promoted.diff_lines(),
            ["live_version: 1 → 2", "shadow: true → false"]
        );
        assert!(
            changes[1].summary.contains("p@1 stays the live version"),
            "{:?}",
            changes[1]
        );
        let (live, rules, policies) = active(&s);
        assert_eq!(live, "2");
        assert_eq!(
            (rules, policies),
            (vec!["p.two".into()], vec!["p.two_limit".into()])
        );
        // With no trusted version, the newest shadow one is live (it runs dry).
        s.set_pack_shadow("p", "1", true, &by()).unwrap();
        s.set_pack_shadow("p", "2", true, &by()).unwrap();
        assert_eq!(active(&s).0, "2");
    }

    #[test]
    fn a_rollback_puts_the_live_version_back_in_shadow_and_the_one_before_live() {
        let dir = tempfile::tempdir().unwrap();
        let s = SqliteStore::open(&dir.path().join("d.db")).unwrap();
        assert_eq!(s.rollback_pack("p", &by()).unwrap(), None, "no pack");
        s.install_pack(pack("1", false, 1), vec![], catalog("one"), &by())
            .unwrap();
        assert_eq!(s.rollback_pack("p", &by()).unwrap(), None, "one version");
        s.install_pack(pack("2", true, 2), vec![], catalog("two"), &by())
            .unwrap();
        assert_eq!(
            s.rollback_pack("p", &by()).unwrap(),
            None,
            "the candidate is not live: nothing to undo"
        );
        s.set_pack_shadow("p", "2", false, &by()).unwrap();
        assert_eq!(active(&s).0, "2");

        let ann = ChangeBy::new("user:ann", Some("CHG-2: reboots too eagerly")).unwrap();
        let done = s.rollback_pack("p", &ann).unwrap().unwrap();
        assert_eq!((done.from.as_str(), done.to.as_str()), ("2", "1"));
        let (live, rules, policies) = active(&s);
        assert_eq!(
            (live.as_str(), rules, policies),
            ("1", vec!["p.one".into()], vec!["p.one_limit".into()]),
            "the version before, its rules and policies in force"
        );
        let two = s.get_pack("p", Some("2")).unwrap().unwrap();
        assert!(two.shadow && !two.live, "a candidate again");
        let change = &s
            .list_changes(&crate::ChangeFilter {
                limit: 1,
                ..Default::default()
            })
            .unwrap()[0];
        assert_eq!(
            (change.kind.as_str(), change.subject.as_str()),
            ("pack.rollback", "p@2")
        );
        assert_eq!(change.actor, "user:ann");
        assert_eq!(change.reason.as_deref(), Some("CHG-2: reboots too eagerly"));
        assert_eq!(
            change.diff_lines(),
            ["live_version: 2 → 1", "shadow: false → true"]
        );
        assert_eq!(
            s.rollback_pack("p", &ann).unwrap(),
            None,
            "nothing trusted before 1"
        );
    }

    #[test]
    fn a_failing_part_stores_nothing_of_the_pack() {
        let dir = tempfile::tempdir().unwrap();
        let s = SqliteStore::open(&dir.path().join("d.db")).unwrap();
        s.write(|c| {
            c.execute_batch(
                "CREATE TRIGGER fault BEFORE INSERT ON policies
                 BEGIN SELECT RAISE(ABORT, 'fault'); END;",
            )?;
            Ok(())
        })
        .unwrap();
        let blob = ComponentBlob {
            plugin: "a".into(),
            digest: "sha256:x".into(),
            bytes: vec![1],
        };
        assert!(
            s.install_pack(pack("1", false, 1), vec![blob], catalog("one"), &by())
                .is_err()
        );
        assert!(s.list_packs().unwrap().is_empty());
        assert!(s.list_rules().unwrap().is_empty());
        assert_eq!(s.get_blob("sha256:x").unwrap(), None);
        let changes = s.list_changes(&crate::ChangeFilter {
            limit: 10,
            ..Default::default()
        });
        assert!(changes.unwrap().is_empty(), "no change without the pack");
    }
}
