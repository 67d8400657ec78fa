//! SQLite: [`KvStore`] over the tables of [`crate::kv`].

use crate::kv::*;
use crate::{Result, SqliteStore};
use drover_core::now_ms;
use rusqlite::{OptionalExtension, params};

impl KvStore for SqliteStore {
    fn kv_get(&self, scope: &str, key: &str) -> Result<Option<String>> {
        self.read(|conn| {
            Ok(conn
                .prepare_cached(
                    "SELECT value FROM kv WHERE scope = ?1 AND key = ?2
                     AND (expires_at IS NULL OR expires_at > ?3)",
                )?
                .query_row(params![scope, key, now_ms()], |r| r.get(0))
                .optional()?)
        })
    }

    fn kv_set(&self, scope: &str, key: &str, value: &str, ttl_seconds: Option<u32>) -> Result<()> {
        let (scope, key, value) = (scope.to_owned(), key.to_owned(), value.to_owned());
        let expires = ttl_seconds.map(|t| now_ms() + i64::from(t) * 1000);
        self.write(move |conn| {
            conn.prepare_cached(
                "INSERT INTO kv (scope, key, value, expires_at) VALUES (?1, ?2, ?3, ?4)
                 ON CONFLICT (scope, key) DO UPDATE SET value = excluded.value,
                     expires_at = excluded.expires_at",
            )?
            .execute(params![scope, key, value, expires])?;
            Ok(())
        })
    }

    fn kv_list(&self, scope: &str, prefix: &str) -> Result<Vec<(String, String)>> {
        self.read(|conn| {
            let mut stmt = conn.prepare_cached(
                "SELECT key, value FROM kv WHERE scope = ?1 AND substr(key, 1, length(?2)) = ?2
                 AND (expires_at IS NULL OR expires_at > ?3) ORDER BY key",
            )?;
            let rows = stmt.query_map(params![scope, prefix, now_ms()], |r| {
                Ok((r.get(0)?, r.get(1)?))
            })?;
            Ok(rows.collect::<rusqlite::Result<_>>()?)
        })
    }

    fn kv_delete(&self, scope: &str, key: &str) -> Result<bool> {
        let (scope, key) = (scope.to_owned(), key.to_owned());
        self.write(move |conn| {
            let live = conn
                .prepare_cached(
                    "DELETE FROM kv WHERE scope = ?1 AND key = ?2
                     AND (expires_at IS NULL OR expires_at > ?3)",
                )?
                .execute(params![scope, key, now_ms()])?;
            conn.execute(
                "DELETE FROM kv WHERE scope = ?1 AND key = ?2",
                params![scope, key],
            )?;
            Ok(live > 0)
        })
    }
}

#[cfg(test)]
mod tests {
    use crate::SqliteStore;
    use crate::prelude::*;

    #[test]
    fn set_get_delete_and_scopes_are_separate() {
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteStore::open(&dir.path().join("d.db")).unwrap();
        store.kv_set("a", "k", "1", None).unwrap();
        store.kv_set("b", "k", "2", None).unwrap();
        assert_eq!(store.kv_get("a", "k").unwrap().as_deref(), Some("1"));
        assert_eq!(store.kv_get("b", "k").unwrap().as_deref(), Some("2"));
        assert!(store.kv_delete("a", "k").unwrap());
        assert!(!store.kv_delete("a", "k").unwrap());
        assert_eq!(store.kv_get("a", "k").unwrap(), None);
    }

    #[test]
    fn migration_0014_moves_pack_scopes_under_pack() {
        let conn = rusqlite::Connection::open_in_memory().unwrap();
        conn.execute_batch(
            "CREATE TABLE kv (scope TEXT NOT NULL, key TEXT NOT NULL, value TEXT NOT NULL,
                              expires_at INTEGER, PRIMARY KEY (scope, key)) STRICT;
             INSERT INTO kv VALUES ('system', 'maintenance.b1', 'true', NULL),
                                   ('user:alice', 'k', 'a', NULL),
                                   ('batchops', 'k', 'pack', NULL),
                                   ('testkit', 'ticks', '3', 5),
                                   ('pack:batchops', 'k', 'stale', NULL);",
        )
        .unwrap();
        conn.execute_batch(include_str!("migrations/0014_pack_kv_scopes.sql"))
            .unwrap();
        let rows: Vec<(String, String, String)> = conn
            .prepare("SELECT scope, key, value FROM kv ORDER BY scope, key")
            .unwrap()
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
            .unwrap()
            .collect::<rusqlite::Result<_>>()
            .unwrap();
        let rows: Vec<(&str, &str, &str)> = rows
            .iter()
            .map(|(s, k, v)| (s.as_str(), k.as_str(), v.as_str()))
            .collect();
        assert_eq!(
            rows,
            [
                ("pack:batchops", "k", "pack"),
                ("pack:testkit", "ticks", "3"),
                ("system", "maintenance.b1", "true"),
                ("user:alice", "k", "a"),
            ]
        );
    }

    #[test]
    fn expired_keys_read_as_absent() {
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteStore::open(&dir.path().join("d.db")).unwrap();
        store
            .write(|conn| {
                conn.execute(
                    "INSERT INTO kv (scope, key, value, expires_at) VALUES ('a', 'old', 'x', 1)",
                    [],
                )?;
                Ok(())
            })
            .unwrap();
        assert_eq!(store.kv_get("a", "old").unwrap(), None);
    }
}
