//! SQLite: [`StreamStore`] over the tables of [`crate::stream`].

use crate::stream::*;
use crate::{Result, SqliteStore};
use rusqlite::OptionalExtension;
use serde_json::json;

impl StreamStore for SqliteStore {
    fn stream_cursor(&self) -> Result<StreamCursor> {
        self.read(|conn| {
            let max = |table: &str| -> Result<i64> {
                Ok(conn.query_row(
                    &format!("SELECT coalesce(max(rowid), 0) FROM {table}"),
                    [],
                    |r| r.get(0),
                )?)
            };
            Ok(StreamCursor {
                requests: max("execution_requests")?,
                executions: max("executions")?,
                audit: max("audit")?,
                fleet: max("fleet_requests")?,
                history: max("node_history")?,
            })
        })
    }

    fn stream_since(&self, cursor: &mut StreamCursor, limit: u32) -> Result<Vec<StreamEvent>> {
        self.read(|conn| {
            let mut out = Vec::new();
            let mut stmt = conn.prepare_cached(
                "SELECT rowid, id, action, dry_run, actor FROM execution_requests
                 WHERE rowid > ?1 ORDER BY rowid LIMIT ?2",
            )?;
            let mut rows = stmt.query(rusqlite::params![cursor.requests, limit])?;
            while let Some(r) = rows.next()? {
                cursor.requests = r.get(0)?;
                out.push(StreamEvent {
                    kind: "execution",
                    data: json!({
                        "id": r.get::<_, String>(1)?,
                        "action": r.get::<_, String>(2)?,
                        "status": "queued",
                        "dry_run": r.get::<_, bool>(3)?,
                        "actor": r.get::<_, String>(4)?,
                    }),
                });
            }
            let mut stmt = conn.prepare_cached(
                "SELECT rowid, id, action, status, dry_run, actor, duration_us, parent
                 FROM executions WHERE rowid > ?1 ORDER BY rowid LIMIT ?2",
            )?;
            let mut rows = stmt.query(rusqlite::params![cursor.executions, limit])?;
            while let Some(r) = rows.next()? {
                cursor.executions = r.get(0)?;
                out.push(StreamEvent {
                    kind: "execution",
                    data: json!({
                        "id": r.get::<_, String>(1)?,
                        "action": r.get::<_, String>(2)?,
                        "status": r.get::<_, String>(3)?,
                        "dry_run": r.get::<_, bool>(4)?,
                        "actor": r.get::<_, String>(5)?,
                        "duration_us": r.get::<_, i64>(6)?,
                        "parent": r.get::<_, Option<String>>(7)?,
                    }),
                });
            }
            let mut stmt = conn.prepare_cached(
                "SELECT id, at, execution_id, pack, plugin, capability, target, decision, reason,
                        dry_run
                 FROM audit WHERE id > ?1 ORDER BY id LIMIT ?2",
            )?;
            let mut rows = stmt.query(rusqlite::params![cursor.audit, limit])?;
            while let Some(r) = rows.next()? {
                cursor.audit = r.get(0)?;
                out.push(StreamEvent {
                    kind: "audit",
                    data: json!({
                        "id": r.get::<_, i64>(0)?,
                        "at_ms": r.get::<_, i64>(1)?,
                        "execution_id": r.get::<_, Option<String>>(2)?,
                        "pack": r.get::<_, String>(3)?,
                        "plugin": r.get::<_, String>(4)?,
                        "capability": r.get::<_, String>(5)?,
                        "target": r.get::<_, String>(6)?,
                        "decision": r.get::<_, String>(7)?,
                        "reason": r.get::<_, String>(8)?,
                        "dry_run": r.get::<_, bool>(9)?,
                    }),
                });
            }
            let mut stmt = conn.prepare_cached(
                "SELECT rowid, id, node, kind, reason, execution_id, status, created_at
                 FROM fleet_requests WHERE rowid > ?1 ORDER BY rowid LIMIT ?2",
            )?;
            let mut rows = stmt.query(rusqlite::params![cursor.fleet, limit])?;
            while let Some(r) = rows.next()? {
                cursor.fleet = r.get(0)?;
                out.push(StreamEvent {
                    kind: "node",
                    data: json!({
                        "request": r.get::<_, String>(1)?,
                        "node": r.get::<_, String>(2)?,
                        "kind": r.get::<_, String>(3)?,
                        "reason": r.get::<_, String>(4)?,
                        "execution_id": r.get::<_, Option<String>>(5)?,
                        "status": r.get::<_, String>(6)?,
                        "at_ms": r.get::<_, i64>(7)?,
                    }),
                });
            }
            // Node state changes (history rows that move the state).
            let mut stmt = conn.prepare_cached(
                "SELECT id, node, at, event, from_state, to_state, request_id, actor, detail
                 FROM node_history WHERE id > ?1 ORDER BY id LIMIT ?2",
            )?;
            let mut rows = stmt.query(rusqlite::params![cursor.history, limit])?;
            while let Some(r) = rows.next()? {
                cursor.history = r.get(0)?;
                let (from, to) = (r.get::<_, String>(4)?, r.get::<_, String>(5)?);
                if from == to {
                    continue;
                }
                out.push(StreamEvent {
                    kind: "node",
                    data: json!({
                        "node": r.get::<_, String>(1)?,
                        "at_ms": r.get::<_, i64>(2)?,
                        "event": r.get::<_, String>(3)?,
                        "from": from,
                        "state": to,
                        "request": r.get::<_, Option<String>>(6)?,
                        "actor": r.get::<_, String>(7)?,
                        "detail": r.get::<_, String>(8)?,
                    }),
                });
            }
            Ok(out)
        })
    }

    fn changes(&self) -> Result<Changes> {
        self.read(|conn| {
            let newest_execution = conn
                .prepare_cached("SELECT id FROM executions ORDER BY id DESC LIMIT 1")?
                .query_row([], |r| r.get::<_, String>(0))
                .optional()?;
            let count = |state: &str| -> Result<u64> {
                Ok(conn
                    .prepare_cached("SELECT count(*) FROM execution_requests WHERE state = ?1")?
                    .query_row([state], |r| r.get::<_, i64>(0))? as u64)
            };
            let (queued, running) = (count("requested")?, count("running")?);
            // A change of health redraws the grid like a change of state.
            let mut stmt = conn.prepare_cached(&format!(
                "SELECT n.name, n.state || coalesce('/' || {}, '')
                 FROM nodes n LEFT JOIN node_health h ON h.node = n.name ORDER BY n.name",
                super::nodes::CURRENT_HEALTH
            ))?;
            let nodes = stmt
                .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?
                .collect::<rusqlite::Result<_>>()?;
            // Both by index: the open ones (status, created_at), the
            // latest update (updated_at).
            let requests = conn
                .prepare_cached(
                    "SELECT (SELECT count(*) FROM fleet_requests WHERE status IN ('queued', 'active')),
                            (SELECT coalesce(max(updated_at), 0) FROM fleet_requests)",
                )?
                .query_row([], |r| Ok((r.get::<_, i64>(0)? as u64, r.get::<_, i64>(1)?)))?;
            Ok(Changes {
                newest_execution,
                queued,
                running,
                nodes,
                requests,
            })
        })
    }
}

#[cfg(test)]
mod tests {
    use crate::prelude::*;
    use drover_core::{ExecStatus, Execution, ExecutionId};

    use super::*;
    use crate::ExecutionQuery;

    fn exec(status: ExecStatus, action: &str) -> Execution {
        Execution {
            id: ExecutionId::new(),
            action: action.into(),
            pack_version: "0.1.0".into(),
            digest: "d".into(),
            parameters: json!({}),
            status,
            result: None,
            error: None,
            dry_run: false,
            plan: None,
            logs: Vec::new(),
            actor: "t".into(),
            started_at_ms: 1,
            finished_at_ms: 2,
            duration_us: 3,
        }
    }

    #[test]
    fn pages_follow_the_keyset_and_filters_and_the_stream_tails_new_rows() {
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteStore::open(&dir.path().join("d.db")).unwrap();
        let mut cursor = store.stream_cursor().unwrap();
        for i in 0..5 {
            let status = if i % 2 == 0 {
                ExecStatus::Succeeded
            } else {
                ExecStatus::Failed
            };
            store.insert_execution(exec(status, "core.echo")).unwrap();
        }
        let first = store
            .execution_page(&ExecutionQuery {
                limit: 2,
                ..Default::default()
            })
            .unwrap();
        assert_eq!(first.items.len(), 2);
        let second = store
            .execution_page(&ExecutionQuery {
                limit: 2,
                after: first.next_after,
                ..Default::default()
            })
            .unwrap();
        assert!(second.items[0].id < first.items[1].id);
        let last = store
            .execution_page(&ExecutionQuery {
                limit: 2,
                after: second.next_after,
                ..Default::default()
            })
            .unwrap();
        assert_eq!(last.items.len(), 1);
        assert!(last.next_after.is_none());
        let failed = store
            .execution_page(&ExecutionQuery {
                status: Some(ExecStatus::Failed),
                limit: 10,
                ..Default::default()
            })
            .unwrap();
        assert_eq!(failed.items.len(), 2);
        let none = store
            .execution_page(&ExecutionQuery {
                min_id: Some("7ZZZZZZZZZZZZZZZZZZZZZZZZZ".into()),
                limit: 10,
                ..Default::default()
            })
            .unwrap();
        assert!(none.items.is_empty());

        let events = store.stream_since(&mut cursor, 100).unwrap();
        assert_eq!(events.len(), 5);
        assert!(events.iter().all(|e| e.kind == "execution"));
        assert!(store.stream_since(&mut cursor, 100).unwrap().is_empty());
    }
}
