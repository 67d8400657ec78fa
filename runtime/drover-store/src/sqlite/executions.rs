//! SQLite: [`ExecutionStore`] over the tables of [`crate::executions`].

use crate::executions::*;
use crate::{Result, SqliteStore, StoreError};
use drover_core::{ExecStatus, Execution, ExecutionId};
use std::collections::HashMap;

use rusqlite::{Connection, OptionalExtension, Row, params, params_from_iter};

impl ExecutionStore for SqliteStore {
    fn insert_execution(&self, exec: Execution) -> Result<()> {
        self.write(move |conn| insert(conn, &exec))
    }

    fn insert_execution_pipelined(&self, exec: Execution) -> Result<crate::Pending<()>> {
        self.write_pipelined(move |conn| insert(conn, &exec))
    }

    fn get_execution(&self, id: ExecutionId) -> Result<Option<Execution>> {
        self.read(|conn| {
            conn.prepare_cached("SELECT * FROM executions WHERE id = ?1")?
                .query_row([id.to_string()], from_row)
                .optional()?
                .transpose()
        })
    }

    fn execution_errors(&self, ids: &[ExecutionId]) -> Result<Vec<Option<String>>> {
        self.read(|conn| {
            let mut stmt = conn.prepare_cached("SELECT error FROM executions WHERE id = ?1")?;
            ids.iter()
                .map(|id| {
                    Ok(stmt
                        .query_row([id.to_string()], |r| r.get::<_, Option<String>>(0))
                        .optional()?
                        .flatten())
                })
                .collect()
        })
    }

    fn list_executions(&self, filter: &ExecutionFilter) -> Result<Vec<ExecutionSummary>> {
        self.read(|conn| {
            let mut stmt = conn.prepare_cached(&format!(
                "SELECT {SUMMARY_COLUMNS} FROM executions
                 WHERE (?1 IS NULL OR action = ?1)
                   AND (?2 IS NULL OR status = ?2)
                   AND (?3 IS NULL OR id < ?3)
                 ORDER BY id DESC LIMIT ?4"
            ))?;
            let rows = stmt.query_map(
                params![
                    filter.action,
                    filter.status.map(|s| s.as_str()),
                    filter.before.map(|b| b.to_string()),
                    filter.limit.max(1)
                ],
                raw_summary,
            )?;
            rows.map(|row| summary_from_raw(row?)).collect()
        })
    }

    fn count_executions(&self) -> Result<u64> {
        self.read(|conn| {
            Ok(conn.query_row("SELECT count(*) FROM executions", [], |r| {
                r.get::<_, i64>(0)
            })? as u64)
        })
    }

    fn execution_page(&self, q: &ExecutionQuery) -> Result<ExecutionPage> {
        let limit = q.limit.clamp(1, 1000);
        let (from, conds, args, order) = page_where(q);
        let mut tail = String::new();
        if !conds.is_empty() {
            tail.push_str(" WHERE ");
            tail.push_str(&conds.join(" AND "));
        }
        tail.push_str(&format!(" ORDER BY {order} DESC"));
        if let Some(needle) = &q.search {
            return self.search_page(&from, &tail, args, needle, limit);
        }
        // One more than asked tells whether there is a next page.
        let sql = format!(
            "SELECT {QUALIFIED_COLUMNS} FROM {from}{tail} LIMIT {}",
            limit + 1
        );
        let mut items = self.read(|conn| {
            let mut stmt = conn.prepare_cached(&sql)?;
            let rows = stmt.query_map(params_from_iter(args.iter()), raw_summary)?;
            rows.map(|row| summary_from_raw(row?))
                .collect::<Result<Vec<_>>>()
        })?;
        let more = items.len() > limit as usize;
        items.truncate(limit as usize);
        let next_after = if more {
            items.last().map(|e| e.id)
        } else {
            None
        };
        Ok(ExecutionPage {
            items,
            next_after,
            search: None,
        })
    }

    fn child_counts(&self, parents: &[ExecutionId]) -> Result<HashMap<ExecutionId, u64>> {
        if parents.is_empty() {
            return Ok(HashMap::new());
        }
        let marks = vec!["?"; parents.len()].join(", ");
        let sql = format!(
            "SELECT parent, count(*) FROM executions WHERE parent IN ({marks}) GROUP BY parent"
        );
        self.read(|conn| {
            let mut stmt = conn.prepare(&sql)?;
            let rows = stmt.query_map(
                params_from_iter(parents.iter().map(|p| p.to_string())),
                |r| Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)?)),
            )?;
            rows.map(|row| {
                let (id, n) = row?;
                Ok((parse_id(&id)?, n as u64))
            })
            .collect()
        })
    }
}

/// The `FROM`, the conditions with their bound arguments, and the ordering
/// column of a page of `q` (everything but the search). Only the filters
/// given become conditions, so SQLite walks one index from the cursor: the
/// primary key (or `executions_roots`), the action, status, node or actor
/// index, or, for a rule, its enforcements by execution id.
fn page_where(q: &ExecutionQuery) -> (String, Vec<String>, Vec<String>, &'static str) {
    let mut conds: Vec<String> = Vec::new();
    let mut args: Vec<String> = Vec::new();
    // With a rule, its enforcements drive the join (CROSS JOIN keeps them
    // the outer loop) and the id bounds apply to their execution ids.
    let (from, key) = match &q.rule {
        Some(rule) => {
            conds.push("e.rule_ref = ? AND e.execution_id IS NOT NULL".into());
            args.push(rule.clone());
            (
                "enforcements e CROSS JOIN executions ON executions.id = e.execution_id",
                "e.execution_id",
            )
        }
        None => ("executions", "executions.id"),
    };
    if let Some(a) = &q.action {
        conds.push("executions.action = ?".into());
        args.push(a.clone());
    }
    if let Some(s) = q.status {
        conds.push("executions.status = ?".into());
        args.push(s.as_str().to_owned());
    }
    if let Some(actor) = &q.actor {
        conds.push("executions.actor = ?".into());
        args.push(actor.clone());
    }
    if q.top_level {
        conds.push("executions.parent IS NULL".into());
    }
    if let Some(after) = q.after {
        conds.push(format!("{key} < ?"));
        args.push(after.to_string());
    }
    if let Some(min) = &q.min_id {
        conds.push(format!("{key} >= ?"));
        args.push(min.clone());
    }
    if let Some(max) = &q.max_id {
        conds.push(format!("{key} < ?"));
        args.push(max.clone());
    }
    if let Some(node) = &q.node {
        conds.push(format!("{NODE_PARAMETER} = ?"));
        args.push(node.clone());
    }
    (from.to_owned(), conds, args, key)
}

/// `needle` as a LIKE pattern that matches it anywhere, its own `%`, `_`
/// and `\` taken literally (`ESCAPE '\'`).
pub(crate) fn like_pattern(needle: &str) -> String {
    let mut p = String::with_capacity(needle.len() + 2);
    p.push('%');
    for c in needle.chars() {
        if matches!(c, '%' | '_' | '\\') {
            p.push('\\');
        }
        p.push(c);
    }
    p.push('%');
    p
}

impl SqliteStore {
    /// A page of a parameter search: reads ids and a match flag of at most
    /// [`SEARCH_SCAN`] executions under the other filters (`from`, `tail`,
    /// `args`), newest first, then the rows of the first `limit` matches.
    fn search_page(
        &self,
        from: &str,
        tail: &str,
        mut args: Vec<String>,
        needle: &str,
        limit: u32,
    ) -> Result<ExecutionPage> {
        args.insert(0, like_pattern(needle));
        let scan = format!(
            "SELECT executions.id, executions.parameters LIKE ? ESCAPE '\\' FROM {from}{tail} LIMIT {SEARCH_SCAN}"
        );
        self.read(|conn| {
            let mut hits: Vec<String> = Vec::new();
            let mut scanned: u32 = 0;
            let mut last: Option<String> = None;
            {
                let mut stmt = conn.prepare_cached(&scan)?;
                let mut rows = stmt.query(params_from_iter(args.iter()))?;
                while let Some(row) = rows.next()? {
                    scanned += 1;
                    let id: String = row.get(0)?;
                    if row.get::<_, bool>(1)? {
                        hits.push(id.clone());
                        if hits.len() > limit as usize {
                            break;
                        }
                    }
                    last = Some(id);
                }
            }
            let more = hits.len() > limit as usize;
            hits.truncate(limit as usize);
            let bounded = !more && scanned == SEARCH_SCAN;
            let next_after = if more {
                hits.last().map(|id| parse_id(id)).transpose()?
            } else if bounded {
                last.as_deref().map(parse_id).transpose()?
            } else {
                None
            };
            let mut items = Vec::with_capacity(hits.len());
            if !hits.is_empty() {
                let marks = vec!["?"; hits.len()].join(", ");
                let mut stmt = conn.prepare(&format!(
                    "SELECT {SUMMARY_COLUMNS} FROM executions WHERE id IN ({marks}) ORDER BY id DESC"
                ))?;
                let rows = stmt.query_map(params_from_iter(hits.iter()), raw_summary)?;
                for row in rows {
                    items.push(summary_from_raw(row?)?);
                }
            }
            Ok(ExecutionPage {
                items,
                next_after,
                search: Some(SearchScan { scanned, bounded }),
            })
        })
    }
}

pub(crate) fn insert(conn: &Connection, e: &Execution) -> Result<()> {
    conn.prepare_cached(
        "INSERT INTO executions (id, action, pack_version, digest, parameters, status, result,
            error, dry_run, plan, logs, actor, started_at, finished_at, duration_us)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15)",
    )?
    .execute(params![
        e.id.to_string(),
        e.action,
        e.pack_version,
        e.digest,
        e.parameters.to_string(),
        e.status.as_str(),
        e.result.as_ref().map(|v| v.to_string()),
        e.error,
        e.dry_run,
        e.plan.as_ref().map(serde_json::to_string).transpose()?,
        serde_json::to_string(&e.logs)?,
        e.actor,
        e.started_at_ms,
        e.finished_at_ms,
        e.duration_us as i64,
    ])?;
    Ok(())
}

fn from_row(r: &Row<'_>) -> rusqlite::Result<Result<Execution>> {
    let id: String = r.get("id")?;
    let status: String = r.get("status")?;
    let parameters: String = r.get("parameters")?;
    let result: Option<String> = r.get("result")?;
    let plan: Option<String> = r.get("plan")?;
    let logs: String = r.get("logs")?;
    let (action, pack_version, digest, error, dry_run, actor, started, finished, duration): (
        String,
        String,
        String,
        Option<String>,
        bool,
        String,
        i64,
        i64,
        i64,
    ) = (
        r.get("action")?,
        r.get("pack_version")?,
        r.get("digest")?,
        r.get("error")?,
        r.get("dry_run")?,
        r.get("actor")?,
        r.get("started_at")?,
        r.get("finished_at")?,
        r.get("duration_us")?,
    );
    Ok((|| {
        Ok(Execution {
            id: parse_id(&id)?,
            action,
            pack_version,
            digest,
            parameters: serde_json::from_str(&parameters)?,
            status: parse_status(&status)?,
            result: result.as_deref().map(serde_json::from_str).transpose()?,
            error,
            dry_run,
            plan: plan.as_deref().map(serde_json::from_str).transpose()?,
            logs: serde_json::from_str(&logs)?,
            actor,
            started_at_ms: started,
            finished_at_ms: finished,
            duration_us: duration as u64,
        })
    })())
}

pub(crate) fn parse_id(s: &str) -> Result<ExecutionId> {
    s.parse()
        .map_err(|e: drover_core::IdError| StoreError::Corrupt(e.to_string()))
}

pub(crate) fn parse_status(s: &str) -> Result<ExecStatus> {
    ExecStatus::parse(s).ok_or_else(|| StoreError::Corrupt(format!("unknown status {s:?}")))
}

/// The columns [`raw_summary`] reads, in its order.
pub(crate) const SUMMARY_COLUMNS: &str = "id, action, status, dry_run, actor, started_at, duration_us, json_extract(parameters, '$.node')";

/// The expression `executions_by_node` indexes (migration 0019): a filter
/// must spell it the same for SQLite to use the index.
const NODE_PARAMETER: &str = "json_extract(executions.parameters, '$.node')";

/// [`SUMMARY_COLUMNS`] of `executions` in a join.
const QUALIFIED_COLUMNS: &str = "executions.id, executions.action, executions.status, executions.dry_run, executions.actor, executions.started_at, executions.duration_us, json_extract(executions.parameters, '$.node')";

type RawSummary = (
    String,
    String,
    String,
    bool,
    String,
    i64,
    i64,
    Option<String>,
);

/// One row of `SELECT {SUMMARY_COLUMNS}`, as stored.
pub(crate) fn raw_summary(r: &Row<'_>) -> rusqlite::Result<RawSummary> {
    Ok((
        r.get(0)?,
        r.get(1)?,
        r.get(2)?,
        r.get(3)?,
        r.get(4)?,
        r.get(5)?,
        r.get(6)?,
        // A `node` that is not a string (a number, a list) is no node.
        r.get::<_, rusqlite::types::Value>(7).map(|v| match v {
            rusqlite::types::Value::Text(t) => Some(t),
            _ => None,
        })?,
    ))
}

/// A [`raw_summary`] row as an [`ExecutionSummary`].
pub(crate) fn summary_from_raw(raw: RawSummary) -> Result<ExecutionSummary> {
    let (id, action, status, dry_run, actor, started_at_ms, duration_us, node) = raw;
    Ok(ExecutionSummary {
        id: parse_id(&id)?,
        action,
        status: parse_status(&status)?,
        dry_run,
        actor,
        started_at_ms,
        duration_us: duration_us as u64,
        node,
    })
}

#[cfg(test)]
mod tests {
    use drover_core::{ExecStatus, Execution, ExecutionId};
    use serde_json::json;

    use super::*;

    fn exec(actor: &str, parameters: serde_json::Value) -> Execution {
        Execution {
            id: ExecutionId::new(),
            action: "core.echo".into(),
            pack_version: "0.1.0".into(),
            digest: "d".into(),
            parameters,
            status: ExecStatus::Succeeded,
            result: None,
            error: None,
            dry_run: false,
            plan: None,
            logs: Vec::new(),
            actor: actor.into(),
            started_at_ms: 1,
            finished_at_ms: 2,
            duration_us: 3,
        }
    }

    fn ids(page: &ExecutionPage) -> Vec<ExecutionId> {
        page.items.iter().map(|e| e.id).collect()
    }

    fn store() -> (tempfile::TempDir, SqliteStore) {
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteStore::open(&dir.path().join("d.db")).unwrap();
        (dir, store)
    }

    #[test]
    fn top_level_actor_rule_time_and_child_counts() {
        let (_dir, store) = store();
        let root = exec("alice", json!({"node": "n1"}));
        let child = exec("alice", json!({"node": "n1"}));
        let other = exec("rule:p.r", json!({}));
        for e in [&root, &child, &other] {
            store.insert_execution(e.clone()).unwrap();
        }
        let (r, c, o) = (
            root.id.to_string(),
            child.id.to_string(),
            other.id.to_string(),
        );
        store
            .write(move |conn| {
                conn.execute("UPDATE executions SET parent = ?1 WHERE id = ?2", [&r, &c])?;
                conn.execute(
                    "INSERT INTO trigger_instances (id, trigger_type, payload, source,
                        received_at, state) VALUES ('T', 'p.t', '{}', 's', 0, 'processed')",
                    [],
                )?;
                conn.execute(
                    "INSERT INTO enforcements (id, trigger_instance_id, rule_ref, execution_id,
                        state, at) VALUES ('E1', 'T', 'p.r', ?1, 'scheduled', 0),
                        ('E2', 'T', 'p.r', NULL, 'failed', 0)",
                    [&o],
                )?;
                Ok(())
            })
            .unwrap();
        let page = |q: ExecutionQuery| store.execution_page(&ExecutionQuery { limit: 10, ..q });
        let all = page(ExecutionQuery::default()).unwrap();
        assert_eq!(all.items.len(), 3);
        let top = page(ExecutionQuery {
            top_level: true,
            ..Default::default()
        })
        .unwrap();
        assert_eq!(ids(&top), vec![other.id, root.id]);
        let alice = page(ExecutionQuery {
            actor: Some("alice".into()),
            top_level: true,
            node: Some("n1".into()),
            ..Default::default()
        })
        .unwrap();
        assert_eq!(ids(&alice), vec![root.id]);
        let by_rule = page(ExecutionQuery {
            rule: Some("p.r".into()),
            ..Default::default()
        })
        .unwrap();
        assert_eq!(ids(&by_rule), vec![other.id]);
        let none = page(ExecutionQuery {
            rule: Some("p.r".into()),
            max_id: Some(other.id.to_string()),
            ..Default::default()
        })
        .unwrap();
        assert!(none.items.is_empty());
        let counts = store.child_counts(&[root.id, other.id]).unwrap();
        assert_eq!(counts.get(&root.id), Some(&1));
        assert_eq!(counts.get(&other.id), None);
    }

    #[test]
    fn search_is_literal_case_insensitive_and_bounded() {
        let (_dir, store) = store();
        let odd = exec("a", json!({"note": "50%_off\\ Disk FULL"}));
        store.insert_execution(odd.clone()).unwrap();
        for i in 0..5 {
            store
                .insert_execution(exec("a", json!({"note": format!("500 off {i}")})))
                .unwrap();
        }
        let search = |s: &str| {
            store
                .execution_page(&ExecutionQuery {
                    search: Some(s.into()),
                    limit: 10,
                    ..Default::default()
                })
                .unwrap()
        };
        assert_eq!(ids(&search("disk full")), vec![odd.id]);
        // Wildcards are literal: `5%` does not match "500".
        assert_eq!(ids(&search("0%_off")), vec![odd.id]);
        assert_eq!(search("0%").items.len(), 1);
        assert_eq!(search("_").items.len(), 1);
        assert_eq!(search("\\").items.len(), 1);
        assert_eq!(search("' OR 1=1 --").items.len(), 0);
        let all = search("off");
        assert_eq!(all.items.len(), 6);
        assert_eq!(
            all.search,
            Some(SearchScan {
                scanned: 6,
                bounded: false
            })
        );
        // A page of two continues below its last match.
        let first = store
            .execution_page(&ExecutionQuery {
                search: Some("off".into()),
                limit: 2,
                ..Default::default()
            })
            .unwrap();
        assert_eq!(first.items.len(), 2);
        assert_eq!(first.next_after, Some(first.items[1].id));
    }

    #[test]
    fn every_filter_walks_an_index() {
        let (_dir, store) = store();
        let cases = [
            ExecutionQuery {
                top_level: true,
                ..Default::default()
            },
            ExecutionQuery {
                actor: Some("alice".into()),
                top_level: true,
                ..Default::default()
            },
            ExecutionQuery {
                node: Some("n1".into()),
                top_level: true,
                ..Default::default()
            },
            ExecutionQuery {
                rule: Some("p.r".into()),
                top_level: true,
                ..Default::default()
            },
        ];
        for q in cases {
            let (from, conds, args, order) = page_where(&q);
            let sql = format!(
                "EXPLAIN QUERY PLAN SELECT {QUALIFIED_COLUMNS} FROM {from} WHERE {} ORDER BY {order} DESC LIMIT 51",
                conds.join(" AND ")
            );
            let plan = store
                .read(|conn| {
                    let mut stmt = conn.prepare(&sql)?;
                    let rows =
                        stmt.query_map(params_from_iter(args.iter()), |r| r.get::<_, String>(3))?;
                    Ok(rows.collect::<rusqlite::Result<Vec<_>>>()?.join("; "))
                })
                .unwrap();
            assert!(!plan.contains("TEMP B-TREE"), "{q:?}: sorts: {plan}");
            assert!(
                !plan.contains("SCAN executions") || plan.contains("USING INDEX"),
                "{q:?}: {plan}"
            );
            assert!(
                !plan
                    .split("; ")
                    .any(|p| p == "SCAN e" || p.starts_with("SCAN e ")),
                "{q:?}: {plan}"
            );
        }
    }
}
