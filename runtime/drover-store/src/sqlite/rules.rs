//! SQLite: [`RuleStore`] over the tables of [`crate::rules`].

use crate::rules::*;
use crate::{Result, SqliteStore};
use drover_core::{ChangeBy, kinds, now_ms};
use rusqlite::{Connection, OptionalExtension, params};
use serde_json::json;

impl RuleStore for SqliteStore {
    fn replace_pack_rules(&self, pack: &str, rules: Vec<(String, String, bool)>) -> Result<()> {
        let pack = pack.to_owned();
        self.write(move |conn| {
            replace_in(conn, &pack, &rules)?;
            super::policies::bump_generation(conn)
        })
    }

    fn list_rules(&self) -> Result<Vec<StoredRule>> {
        self.read(|conn| {
            let mut stmt = conn.prepare_cached(
                "SELECT ref, pack, definition, enabled, origin, updated_at FROM rules ORDER BY ref",
            )?;
            let rows = stmt.query_map([], |r| {
                Ok(StoredRule {
                    reference: r.get(0)?,
                    pack: r.get(1)?,
                    definition: r.get(2)?,
                    enabled: r.get(3)?,
                    origin: r.get(4)?,
                    updated_at_ms: r.get(5)?,
                })
            })?;
            Ok(rows.collect::<rusqlite::Result<_>>()?)
        })
    }

    fn set_rule_enabled(&self, reference: &str, enabled: bool, by: &ChangeBy) -> Result<bool> {
        let (reference, by) = (reference.to_owned(), by.clone());
        self.write(move |conn| {
            let before: Option<(String, bool)> = conn
                .prepare_cached("SELECT pack, enabled FROM rules WHERE ref = ?1")?
                .query_row([&reference], |r| Ok((r.get(0)?, r.get(1)?)))
                .optional()?;
            let Some((pack, was)) = before else {
                return Ok(false);
            };
            conn.execute(
                "UPDATE rules SET enabled = ?2, updated_at = ?3 WHERE ref = ?1",
                params![reference, enabled, now_ms()],
            )?;
            super::policies::bump_generation(conn)?;
            if was != enabled {
                let live: Option<String> = conn
                    .prepare_cached("SELECT version FROM packs WHERE name = ?1 AND live = 1")?
                    .query_row([&pack], |r| r.get(0))
                    .optional()?;
                let (kind, verb) = if enabled {
                    (kinds::RULE_ENABLE, "enabled")
                } else {
                    (kinds::RULE_DISABLE, "disabled")
                };
                super::audit::record_change(
                    conn,
                    &by,
                    kind,
                    &reference,
                    &live.map_or(pack.clone(), |v| format!("{pack}@{v}")),
                    format!("rule {reference} {verb}"),
                    json!({"enabled": was}),
                    json!({"enabled": enabled}),
                )?;
            }
            Ok(true)
        })
    }

    fn failing_rules(&self, window: u32, limit: u32) -> Result<Vec<FailingRule>> {
        self.read(|conn| {
            let mut stmt = conn.prepare_cached(
                "WITH recent AS (
                     SELECT e.id, e.rule_ref, e.state, e.reason, x.status, x.error
                     FROM (SELECT * FROM enforcements WHERE candidate IS NULL ORDER BY id DESC LIMIT ?1) e
                     LEFT JOIN executions x ON x.id = e.execution_id
                 ),
                 bad AS (
                     SELECT * FROM recent
                     WHERE state = 'failed' OR status IN ('failed', 'denied', 'timeout')
                 )
                 SELECT b.rule_ref, count(*),
                        (SELECT count(*) FROM recent r WHERE r.rule_ref = b.rule_ref),
                        (SELECT coalesce(l.reason, l.error, l.status) FROM bad l
                         WHERE l.rule_ref = b.rule_ref ORDER BY l.id DESC LIMIT 1)
                 FROM bad b GROUP BY b.rule_ref ORDER BY 2 DESC, 1 LIMIT ?2",
            )?;
            let rows = stmt.query_map(params![window, limit], |r| {
                Ok(FailingRule {
                    rule: r.get(0)?,
                    failures: r.get::<_, i64>(1)? as u64,
                    enforcements: r.get::<_, i64>(2)? as u64,
                    last_error: r.get(3)?,
                })
            })?;
            Ok(rows.collect::<rusqlite::Result<_>>()?)
        })
    }
}

/// Replaces the pack-shipped rules of `pack` inside the caller's
/// transaction.
pub(crate) fn replace_in(
    conn: &Connection,
    pack: &str,
    rules: &[(String, String, bool)],
) -> Result<()> {
    conn.execute(
        "DELETE FROM rules WHERE pack = ?1 AND origin = 'pack'",
        [pack],
    )?;
    let now = now_ms();
    for (reference, definition, enabled) in rules {
        conn.execute(
            "INSERT INTO rules (ref, pack, definition, enabled, origin, updated_at)
             VALUES (?1, ?2, ?3, ?4, 'pack', ?5)
             ON CONFLICT (ref) DO UPDATE SET definition = excluded.definition,
                enabled = excluded.enabled, origin = 'pack', updated_at = excluded.updated_at",
            params![reference, pack, definition, enabled, now],
        )?;
    }
    Ok(())
}
