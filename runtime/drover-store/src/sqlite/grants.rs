//! SQLite: [`GrantStore`] over the tables of [`crate::grants`].

use crate::grants::*;
use crate::{Result, SqliteStore, StoreError};
use drover_core::{ChangeBy, Grant, GrantId, kinds};
use rusqlite::{Connection, params};
use serde_json::{Value, json};
use std::collections::BTreeMap;

impl GrantStore for SqliteStore {
    fn insert_grant(&self, grant: Grant, by: &ChangeBy) -> Result<()> {
        let by = by.clone();
        self.write(move |conn| {
            conn.execute(
                "INSERT INTO grants (id, pack, version, capability, scope, digests, created_at,
                    created_by, revoked_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
                params![
                    grant.id.to_string(),
                    grant.pack,
                    grant.version,
                    grant.capability,
                    grant.scope,
                    serde_json::to_string(&grant.digests)?,
                    grant.created_at_ms,
                    grant.created_by,
                    grant.revoked_at_ms
                ],
            )?;
            super::audit::record_change(
                conn,
                &by,
                kinds::GRANT_ADD,
                &subject(&grant),
                &grant.pack_ref(),
                format!(
                    "granted {} to {} scope '{}' (grant {})",
                    grant.capability,
                    grant.pack_ref(),
                    grant.scope,
                    grant.id
                ),
                Value::Null,
                state(&grant),
            )?;
            Ok(())
        })
    }

    fn list_grants(&self, pack: Option<&str>, include_revoked: bool) -> Result<Vec<Grant>> {
        self.read(|conn| {
            query(
                conn,
                &format!(
                    "SELECT {COLUMNS} FROM grants
                     WHERE (?1 IS NULL OR pack = ?1) AND (?2 OR revoked_at IS NULL)
                     ORDER BY id DESC"
                ),
                params![pack, include_revoked],
            )
        })
    }

    fn active_grants(&self, pack: &str, version: &str) -> Result<Vec<Grant>> {
        self.read(|conn| active_grants(conn, pack, version))
    }

    fn revoke_grant(&self, id: GrantId, at_ms: i64, by: &ChangeBy) -> Result<Option<Grant>> {
        let by = by.clone();
        self.write(move |conn| {
            let n = conn.execute(
                "UPDATE grants SET revoked_at = ?2 WHERE id = ?1 AND revoked_at IS NULL",
                params![id.to_string(), at_ms],
            )?;
            if n == 0 {
                return Ok(None);
            }
            let mut found = query(
                conn,
                &format!("SELECT {COLUMNS} FROM grants WHERE id = ?1"),
                params![id.to_string()],
            )?;
            if let Some(g) = &found.last() {
                super::audit::record_change(
                    conn,
                    &by,
                    kinds::GRANT_REVOKE,
                    &subject(g),
                    &g.pack_ref(),
                    format!(
                        "revoked grant {}: {} on {} scope '{}'",
                        g.id,
                        g.capability,
                        g.pack_ref(),
                        g.scope
                    ),
                    state(g),
                    Value::Null,
                )?;
            }
            Ok(found.pop())
        })
    }
}

/// A grant's subject in the change log: `batchops@0.1.0 nodes.reboot`.
fn subject(g: &Grant) -> String {
    format!("{} {}", g.pack_ref(), g.capability)
}

/// What a grant is, for a change's before or after.
fn state(g: &Grant) -> Value {
    json!({"id": g.id.to_string(), "scope": g.scope, "plugins": g.digests})
}

const COLUMNS: &str =
    "id, pack, version, capability, scope, digests, created_at, created_by, revoked_at";

/// The unrevoked grants of one pack version, on `conn` (the fleet
/// controller reads them inside its transaction).
pub(crate) fn active_grants(conn: &Connection, pack: &str, version: &str) -> Result<Vec<Grant>> {
    query(
        conn,
        &format!(
            "SELECT {COLUMNS} FROM grants
             WHERE pack = ?1 AND version = ?2 AND revoked_at IS NULL ORDER BY id"
        ),
        params![pack, version],
    )
}

fn query(conn: &Connection, sql: &str, args: impl rusqlite::Params) -> Result<Vec<Grant>> {
    let mut stmt = conn.prepare_cached(sql)?;
    let rows = stmt.query_map(args, |r| {
        Ok((
            r.get::<_, String>(0)?,
            r.get::<_, String>(1)?,
            r.get::<_, String>(2)?,
            r.get::<_, String>(3)?,
            r.get::<_, String>(4)?,
            r.get::<_, String>(5)?,
            r.get::<_, i64>(6)?,
            r.get::<_, String>(7)?,
            r.get::<_, Option<i64>>(8)?,
        ))
    })?;
    rows.map(|row| {
        let (id, pack, version, capability, scope, digests, created_at_ms, created_by, revoked) =
            row?;
        Ok(Grant {
            id: id
                .parse()
                .map_err(|e: drover_core::IdError| StoreError::Corrupt(e.to_string()))?,
            pack,
            version,
            capability,
            scope,
            digests: serde_json::from_str::<BTreeMap<String, String>>(&digests)?,
            created_at_ms,
            created_by,
            revoked_at_ms: revoked,
        })
    })
    .collect()
}
