//! SQLite: [`AuditStore`] over the tables of [`crate::audit`].

use crate::audit::*;
use crate::{Result, SqliteStore, StoreError};
use drover_core::{AuditRecord, Decision};
use rusqlite::{Connection, params};

impl AuditStore for SqliteStore {
    fn append_audit(&self, rec: AuditRecord) -> Result<i64> {
        self.write(move |conn| append(conn, &rec))
    }

    fn list_audit(&self, filter: &AuditFilter) -> Result<Vec<AuditRecord>> {
        self.read(|conn| {
            // Only the conditions given, so SQLite can use the execution
            // index and walk the primary key from the cursor (an `?1 IS
            // NULL OR …` form scans the whole table).
            let mut sql = String::from(
                "SELECT id, at, execution_id, actor, pack, plugin, capability, target, decision,
                        reason, dry_run
                 FROM audit",
            );
            let mut conds: Vec<&str> = Vec::new();
            let mut args: Vec<rusqlite::types::Value> = Vec::new();
            if let Some(e) = filter.execution_id {
                conds.push("execution_id = ?");
                args.push(e.to_string().into());
            }
            if let Some(p) = &filter.pack {
                conds.push("(pack = ? OR pack LIKE ? || '@%')");
                args.push(p.clone().into());
                args.push(p.clone().into());
            }
            if let Some(t) = &filter.target {
                conds.push("target = ?");
                args.push(t.clone().into());
            }
            if let Some(d) = filter.decision {
                conds.push("decision = ?");
                args.push(d.as_str().to_owned().into());
            }
            if let Some(b) = filter.before {
                conds.push("id < ?");
                args.push(b.into());
            }
            if !conds.is_empty() {
                sql.push_str(" WHERE ");
                sql.push_str(&conds.join(" AND "));
            }
            sql.push_str(&format!(" ORDER BY id DESC LIMIT {}", filter.limit.max(1)));
            let mut stmt = conn.prepare_cached(&sql)?;
            let rows = stmt.query_map(rusqlite::params_from_iter(args.iter()), |r| {
                Ok((
                    r.get::<_, i64>(0)?,
                    r.get::<_, i64>(1)?,
                    r.get::<_, Option<String>>(2)?,
                    r.get::<_, String>(3)?,
                    r.get::<_, String>(4)?,
                    r.get::<_, String>(5)?,
                    r.get::<_, String>(6)?,
                    r.get::<_, String>(7)?,
                    r.get::<_, String>(8)?,
                    r.get::<_, String>(9)?,
                    r.get::<_, bool>(10)?,
                ))
            })?;
            rows.map(|row| {
                let (
                    id,
                    at_ms,
                    exec,
                    actor,
                    pack,
                    plugin,
                    capability,
                    target,
                    decision,
                    reason,
                    dry_run,
                ) = row?;
                Ok(AuditRecord {
                    id,
                    at_ms,
                    execution_id: exec
                        .map(|e| e.parse())
                        .transpose()
                        .map_err(|e: drover_core::IdError| StoreError::Corrupt(e.to_string()))?,
                    actor,
                    pack,
                    plugin,
                    capability,
                    target,
                    decision: Decision::parse(&decision)
                        .ok_or_else(|| StoreError::Corrupt(format!("decision {decision:?}")))?,
                    reason,
                    dry_run,
                })
            })
            .collect()
        })
    }
}

pub(crate) fn append(conn: &Connection, r: &AuditRecord) -> Result<i64> {
    conn.prepare_cached(
        "INSERT INTO audit (at, execution_id, actor, pack, plugin, capability, target, decision,
            reason, dry_run)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
    )?
    .execute(params![
        r.at_ms,
        r.execution_id.map(|e| e.to_string()),
        r.actor,
        r.pack,
        r.plugin,
        r.capability,
        r.target,
        r.decision.as_str(),
        r.reason,
        r.dry_run
    ])?;
    Ok(conn.last_insert_rowid())
}
