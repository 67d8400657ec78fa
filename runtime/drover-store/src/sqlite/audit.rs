//! SQLite: [`AuditStore`] over the tables of [`crate::audit`]. A change is
//! an `audit` row whose `change` column holds its reason and diff (JSON);
//! [`record_change`] writes one inside the transaction of the change
//! itself, for the other modules of this backend.

use crate::audit::*;
use crate::{Result, SqliteStore, StoreError};
use drover_core::{AuditRecord, Change, ChangeBy, ChangeRecord, Decision};
use rusqlite::{Connection, Row, params};
use serde_json::Value;

const COLUMNS: &str = "id, at, execution_id, actor, pack, plugin, capability, target, decision,
                       reason, dry_run, change";

impl AuditStore for SqliteStore {
    fn append_audit(&self, rec: AuditRecord) -> Result<i64> {
        self.write(move |conn| append(conn, &rec))
    }

    fn list_audit(&self, filter: &AuditFilter) -> Result<Vec<AuditRecord>> {
        self.read(|conn| {
            // Only the conditions given, so SQLite can use the execution
            // index and walk the primary key from the cursor (an `?1 IS
            // NULL OR …` form scans the whole table).
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
            query(conn, &conds, args, filter.limit)
        })
    }

    fn list_changes(&self, filter: &ChangeFilter) -> Result<Vec<ChangeRecord>> {
        self.read(|conn| {
            // `change IS NOT NULL` first: the partial index `audit_changes`
            // walks the changes alone, newest first; the other conditions
            // are checked on those rows (changes are operator-paced, few).
            let mut conds: Vec<&str> = vec!["change IS NOT NULL"];
            let mut args: Vec<rusqlite::types::Value> = Vec::new();
            if let Some(s) = filter.since_ms {
                conds.push("at >= ?");
                args.push(s.into());
            }
            if let Some(k) = &filter.kind {
                conds.push("(capability = ? OR substr(capability, 1, length(?) + 1) = ? || '.')");
                args.extend([k.clone().into(), k.clone().into(), k.clone().into()]);
            }
            if let Some(s) = &filter.subject {
                // The subject itself, a version of it (`@`), a grant of it
                // (` `) or a rule of its pack (`.`).
                conds.push(
                    "(target = ? OR substr(target, 1, length(?) + 1) IN (? || '@', ? || ' ', ? || '.'))",
                );
                args.extend(std::iter::repeat_n(rusqlite::types::Value::from(s.clone()), 5));
            }
            if let Some(a) = &filter.actor {
                conds.push("actor = ?");
                args.push(a.clone().into());
            }
            if let Some(b) = filter.before {
                conds.push("id < ?");
                args.push(b.into());
            }
            Ok(query(conn, &conds, args, filter.limit)?
                .into_iter()
                .filter_map(ChangeRecord::from_audit)
                .collect())
        })
    }
}

/// Audit records matching every one of `conds`, newest first.
fn query(
    conn: &Connection,
    conds: &[&str],
    args: Vec<rusqlite::types::Value>,
    limit: u32,
) -> Result<Vec<AuditRecord>> {
    let mut sql = format!("SELECT {COLUMNS} FROM audit");
    if !conds.is_empty() {
        sql.push_str(" WHERE ");
        sql.push_str(&conds.join(" AND "));
    }
    sql.push_str(&format!(" ORDER BY id DESC LIMIT {}", limit.max(1)));
    let mut stmt = conn.prepare_cached(&sql)?;
    let rows = stmt.query_map(rusqlite::params_from_iter(args.iter()), raw)?;
    rows.map(|row| record(row?)).collect()
}

type Raw = (
    i64,
    i64,
    Option<String>,
    String,
    String,
    String,
    String,
    String,
    String,
    String,
    bool,
    Option<String>,
);

fn raw(r: &Row) -> rusqlite::Result<Raw> {
    Ok((
        r.get(0)?,
        r.get(1)?,
        r.get(2)?,
        r.get(3)?,
        r.get(4)?,
        r.get(5)?,
        r.get(6)?,
        r.get(7)?,
        r.get(8)?,
        r.get(9)?,
        r.get(10)?,
        r.get(11)?,
    ))
}

fn record(raw: Raw) -> Result<AuditRecord> {
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
        change,
    ) = raw;
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
        change: change
            .map(|c| serde_json::from_str::<Change>(&c))
            .transpose()?,
    })
}

pub(crate) fn append(conn: &Connection, r: &AuditRecord) -> Result<i64> {
    conn.prepare_cached(
        "INSERT INTO audit (at, execution_id, actor, pack, plugin, capability, target, decision,
            reason, dry_run, change)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)",
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
        r.dry_run,
        r.change.as_ref().map(serde_json::to_string).transpose()?,
    ])?;
    Ok(conn.last_insert_rowid())
}

/// Records a change on `conn`, inside the caller's transaction (see
/// [`AuditRecord::of_change`] for the arguments).
#[allow(clippy::too_many_arguments)]
pub(crate) fn record_change(
    conn: &Connection,
    by: &ChangeBy,
    kind: &str,
    subject: &str,
    pack: &str,
    summary: String,
    before: Value,
    after: Value,
) -> Result<i64> {
    append(
        conn,
        &AuditRecord::of_change(by, kind, subject, pack, summary, before, after),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use drover_core::kinds;
    use serde_json::json;

    fn change(s: &SqliteStore, by: &str, kind: &str, subject: &str) -> i64 {
        s.write({
            let (by, kind, subject) = (by.to_owned(), kind.to_owned(), subject.to_owned());
            move |c| {
                record_change(
                    c,
                    &ChangeBy::new(&by, Some("why")).unwrap(),
                    &kind,
                    &subject,
                    "p@1",
                    "did it".into(),
                    json!({"enabled": true}),
                    json!({"enabled": false}),
                )
            }
        })
        .unwrap()
    }

    fn kinds_of(s: &SqliteStore, f: ChangeFilter) -> Vec<String> {
        s.list_changes(&ChangeFilter { limit: 50, ..f })
            .unwrap()
            .into_iter()
            .map(|c| format!("{} {}", c.kind, c.subject))
            .collect()
    }

    #[test]
    fn the_change_log_is_the_audit_records_with_a_change() {
        let dir = tempfile::tempdir().unwrap();
        let s = SqliteStore::open(&dir.path().join("d.db")).unwrap();
        s.append_audit(AuditRecord {
            id: 0,
            at_ms: 1,
            execution_id: None,
            actor: "rule:p.r".into(),
            pack: "p@1".into(),
            plugin: "a".into(),
            capability: "nodes.reboot".into(),
            target: "n1".into(),
            decision: Decision::Allowed,
            reason: "grant".into(),
            dry_run: false,
            change: None,
        })
        .unwrap();
        change(
            &s,
            "user:ann",
            kinds::GRANT_ADD,
            "batchops@0.1.0 nodes.reboot",
        );
        change(
            &s,
            "user:bob",
            kinds::RULE_DISABLE,
            "batchops.on_no_contact",
        );
        let third = change(&s, "user:ann", kinds::PACK_PROMOTE, "batchopsx@0.2.0");
        change(&s, "user:ann", kinds::FLEET_BUDGET, "rack-one");

        assert_eq!(
            s.list_audit(&AuditFilter {
                limit: 50,
                ..Default::default()
            })
            .unwrap()
            .len(),
            5
        );
        let all = s
            .list_changes(&ChangeFilter {
                limit: 50,
                ..Default::default()
            })
            .unwrap();
        assert_eq!(all.len(), 4, "capability uses are not changes");
        assert_eq!(all[0].kind, kinds::FLEET_BUDGET, "newest first");
        assert_eq!(all[3].reason.as_deref(), Some("why"));
        assert_eq!(all[3].diff_lines(), vec!["enabled: true → false"]);

        let only = |f| kinds_of(&s, f);
        assert_eq!(
            only(ChangeFilter {
                kind: Some("grant".into()),
                ..Default::default()
            }),
            vec!["grant.add batchops@0.1.0 nodes.reboot"]
        );
        assert_eq!(
            only(ChangeFilter {
                kind: Some("rule.disable".into()),
                ..Default::default()
            }),
            vec!["rule.disable batchops.on_no_contact"]
        );
        assert!(
            only(ChangeFilter {
                kind: Some("gran".into()),
                ..Default::default()
            })
            .is_empty()
        );
        assert_eq!(
            only(ChangeFilter {
                subject: Some("batchops".into()),
                ..Default::default()
            }),
            vec![
                "rule.disable batchops.on_no_contact",
                "grant.add batchops@0.1.0 nodes.reboot"
            ],
            "a pack's name covers its versions, grants and rules, not batchopsx"
        );
        assert_eq!(
            only(ChangeFilter {
                actor: Some("user:bob".into()),
                ..Default::default()
            }),
            vec!["rule.disable batchops.on_no_contact"]
        );
        assert_eq!(
            only(ChangeFilter {
                before: Some(third),
                ..Default::default()
            })
            .len(),
            2,
            "keyset: older than the cursor"
        );
        assert!(
            only(ChangeFilter {
                since_ms: Some(i64::MAX),
                ..Default::default()
            })
            .is_empty()
        );
    }

    #[test]
    fn listing_changes_walks_the_partial_index() {
        let dir = tempfile::tempdir().unwrap();
        let s = SqliteStore::open(&dir.path().join("d.db")).unwrap();
        let plan: Vec<String> = s
            .read(|c| {
                let mut stmt = c.prepare(
                    "EXPLAIN QUERY PLAN SELECT id FROM audit WHERE change IS NOT NULL
                     AND actor = 'x' ORDER BY id DESC LIMIT 50",
                )?;
                let rows = stmt.query_map([], |r| r.get::<_, String>(3))?;
                Ok(rows.collect::<rusqlite::Result<_>>()?)
            })
            .unwrap();
        assert!(plan.iter().any(|p| p.contains("audit_changes")), "{plan:?}");
    }
}
