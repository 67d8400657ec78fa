//! SQLite: [`TrustStore`] over the `trusted_keys` table.

use crate::trust::*;
use crate::{Result, SqliteStore};
use drover_core::{ChangeBy, kinds};
use rusqlite::{OptionalExtension, Row, params};
use serde_json::{Value, json};

const COLUMNS: &str = "name, public_key, fingerprint, packs, added_at, added_by";

fn row(r: &Row<'_>) -> rusqlite::Result<(TrustedKey, String)> {
    Ok((
        TrustedKey {
            name: r.get(0)?,
            public_key: r.get(1)?,
            fingerprint: r.get(2)?,
            packs: Vec::new(),
            added_at_ms: r.get(4)?,
            added_by: r.get(5)?,
        },
        r.get(3)?,
    ))
}

fn decode((mut key, packs): (TrustedKey, String)) -> Result<TrustedKey> {
    key.packs = serde_json::from_str(&packs)?;
    Ok(key)
}

/// A key as the change log shows it.
fn state(key: &TrustedKey) -> Value {
    json!({
        "fingerprint": key.fingerprint,
        "packs": key.packs,
        "public_key": key.public_key,
    })
}

impl TrustStore for SqliteStore {
    fn add_trusted_key(&self, key: TrustedKey, by: &ChangeBy) -> Result<()> {
        let by = by.clone();
        self.write(move |conn| {
            conn.execute(
                &format!("INSERT INTO trusted_keys ({COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6)"),
                params![
                    key.name,
                    key.public_key,
                    key.fingerprint,
                    serde_json::to_string(&key.packs)?,
                    key.added_at_ms,
                    key.added_by,
                ],
            )?;
            super::audit::record_change(
                conn,
                &by,
                kinds::TRUST_ADD,
                &format!("key:{}", key.name),
                "",
                format!(
                    "trusted key {} ({}) to sign packs '{}'",
                    key.name,
                    key.fingerprint,
                    key.packs.join(",")
                ),
                Value::Null,
                state(&key),
            )?;
            Ok(())
        })
    }

    fn list_trusted_keys(&self) -> Result<Vec<TrustedKey>> {
        let rows = self.read(|conn| {
            let mut stmt =
                conn.prepare_cached(&format!("SELECT {COLUMNS} FROM trusted_keys ORDER BY name"))?;
            let rows = stmt.query_map([], row)?;
            Ok(rows.collect::<rusqlite::Result<Vec<_>>>()?)
        })?;
        rows.into_iter().map(decode).collect()
    }

    fn remove_trusted_key(&self, name: &str, by: &ChangeBy) -> Result<Option<TrustedKey>> {
        let (name, by) = (name.to_owned(), by.clone());
        self.write(move |conn| {
            let found = conn
                .prepare_cached(&format!(
                    "SELECT {COLUMNS} FROM trusted_keys WHERE name = ?1"
                ))?
                .query_row([&name], row)
                .optional()?;
            let Some(key) = found.map(decode).transpose()? else {
                return Ok(None);
            };
            conn.execute("DELETE FROM trusted_keys WHERE name = ?1", [&name])?;
            super::audit::record_change(
                conn,
                &by,
                kinds::TRUST_REMOVE,
                &format!("key:{}", key.name),
                "",
                format!(
                    "no longer trusts key {} ({}) to sign packs",
                    key.name, key.fingerprint
                ),
                state(&key),
                Value::Null,
            )?;
            Ok(Some(key))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::prelude::*;

    #[test]
    fn keys_are_added_listed_and_removed_with_their_changes() {
        let dir = tempfile::tempdir().unwrap();
        let s = SqliteStore::open(&dir.path().join("d.db")).unwrap();
        let by = ChangeBy::new("user:ann", Some("ticket 7")).unwrap();
        let key = TrustedKey {
            name: "batch-team".into(),
            public_key: "ssh-ed25519 AAAA".into(),
            fingerprint: "SHA256:abc".into(),
            packs: vec!["batch*".into(), "ops-*".into()],
            added_at_ms: 5,
            added_by: "user:ann".into(),
        };
        s.add_trusted_key(key.clone(), &by).unwrap();
        assert_eq!(s.list_trusted_keys().unwrap(), vec![key.clone()]);
        let again = s.add_trusted_key(key.clone(), &by);
        assert!(again.is_err(), "a name is trusted once");
        assert_eq!(s.remove_trusted_key("batch-team", &by).unwrap(), Some(key));
        assert_eq!(s.remove_trusted_key("batch-team", &by).unwrap(), None);
        assert!(s.list_trusted_keys().unwrap().is_empty());
        let changes = s
            .list_changes(&crate::ChangeFilter {
                limit: 10,
                ..Default::default()
            })
            .unwrap();
        let kinds: Vec<&str> = changes.iter().map(|c| c.kind.as_str()).collect();
        assert_eq!(kinds, [kinds::TRUST_REMOVE, kinds::TRUST_ADD]);
        assert_eq!(changes[0].reason.as_deref(), Some("ticket 7"));
    }
}
