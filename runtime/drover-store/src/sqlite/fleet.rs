//! SQLite: [`FleetStore`] over the tables of [`crate::fleet`].

use super::nodes::{all_nodes, one_node};
use crate::NodeRow;
use crate::fleet::*;
use crate::{Result, SqliteStore};
use drover_core::AuditRecord;
use rusqlite::{Connection, OptionalExtension, params};

impl FleetStore for SqliteStore {
    fn fleet_write_with(&self, f: FleetStep) -> Result<()> {
        self.write(move |conn| f(&SqliteFleetTx { conn }))
    }

    fn fleet_read_with(&self, f: &mut dyn FnMut(&dyn FleetTx) -> Result<()>) -> Result<()> {
        self.read(|conn| f(&SqliteFleetTx { conn }))
    }
}

/// The fleet tables inside one transaction (or on a read connection,
/// where only the reading methods work).
pub(crate) struct SqliteFleetTx<'c> {
    conn: &'c Connection,
}

const REQUEST_COLUMNS: &str = "id, node, kind, reason, execution_id, status, created_at, actor, \
                               spec, detail, updated_at";

fn request_from(r: &rusqlite::Row<'_>) -> rusqlite::Result<(RequestRow, String)> {
    Ok((
        RequestRow {
            id: r.get(0)?,
            node: r.get(1)?,
            kind: r.get(2)?,
            reason: r.get(3)?,
            execution_id: r.get(4)?,
            status: r.get(5)?,
            created_at_ms: r.get(6)?,
            actor: r.get(7)?,
            spec: serde_json::Value::Null,
            detail: r.get(9)?,
            updated_at_ms: r.get(10)?,
        },
        r.get(8)?,
    ))
}

fn with_spec((mut row, spec): (RequestRow, String)) -> Result<RequestRow> {
    row.spec = serde_json::from_str(&spec)?;
    Ok(row)
}

impl FleetTx for SqliteFleetTx<'_> {
    fn nodes(&self) -> Result<Vec<NodeRow>> {
        all_nodes(self.conn)
    }

    fn node(&self, name: &str) -> Result<Option<NodeRow>> {
        one_node(self.conn, name)
    }

    fn open_requests(&self) -> Result<Vec<RequestRow>> {
        let mut stmt = self.conn.prepare_cached(&format!(
            "SELECT {REQUEST_COLUMNS} FROM fleet_requests
             WHERE status IN ('queued', 'active') ORDER BY created_at, id"
        ))?;
        let rows = stmt
            .query_map([], request_from)?
            .collect::<rusqlite::Result<Vec<_>>>()?;
        rows.into_iter().map(with_spec).collect()
    }

    fn request(&self, id: &str) -> Result<Option<RequestRow>> {
        let row = self
            .conn
            .prepare_cached(&format!(
                "SELECT {REQUEST_COLUMNS} FROM fleet_requests WHERE id = ?1"
            ))?
            .query_row([id], request_from)
            .optional()?;
        row.map(with_spec).transpose()
    }

    fn node_requests(&self, node: &str, limit: u32) -> Result<Vec<RequestRow>> {
        let mut stmt = self.conn.prepare_cached(&format!(
            "SELECT {REQUEST_COLUMNS} FROM fleet_requests WHERE node = ?1
             ORDER BY created_at DESC, id DESC LIMIT ?2"
        ))?;
        let rows = stmt
            .query_map(params![node, limit], request_from)?
            .collect::<rusqlite::Result<Vec<_>>>()?;
        rows.into_iter().map(with_spec).collect()
    }

    fn requests_between(
        &self,
        since_ms: i64,
        until_ms: i64,
        limit: u32,
    ) -> Result<Vec<RequestRow>> {
        let mut stmt = self.conn.prepare_cached(&format!(
            "SELECT {REQUEST_COLUMNS} FROM fleet_requests
             WHERE created_at >= ?1 AND created_at < ?2
             ORDER BY created_at DESC, id DESC LIMIT ?3"
        ))?;
        let mut rows = stmt
            .query_map(params![since_ms, until_ms, limit], request_from)?
            .collect::<rusqlite::Result<Vec<_>>>()?;
        rows.reverse();
        rows.into_iter().map(with_spec).collect()
    }

    fn upsert_request(&self, r: &RequestRow) -> Result<()> {
        self.conn
            .prepare_cached(
                "INSERT INTO fleet_requests (id, node, kind, reason, execution_id, status,
                    created_at, actor, spec, detail, updated_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)
                 ON CONFLICT (id) DO UPDATE SET kind = ?3, status = ?6, spec = ?9,
                    detail = ?10, updated_at = ?11",
            )?
            .execute(params![
                r.id,
                r.node,
                r.kind,
                r.reason,
                r.execution_id,
                r.status,
                r.created_at_ms,
                r.actor,
                r.spec.to_string(),
                r.detail,
                r.updated_at_ms
            ])?;
        Ok(())
    }

    fn set_node_state(&self, name: &str, state: &str, since_ms: i64, note: &str) -> Result<bool> {
        let n = self
            .conn
            .prepare_cached("UPDATE nodes SET state = ?2, since = ?3, note = ?4 WHERE name = ?1")?
            .execute(params![name, state, since_ms, note])?;
        Ok(n > 0)
    }

    fn upsert_node(&self, n: &NodeRow) -> Result<()> {
        self.conn
            .prepare_cached(
                "INSERT INTO nodes (name, labels, state, driver, options, since, note)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)
                 ON CONFLICT (name) DO UPDATE SET labels = ?2, driver = ?4, options = ?5",
            )?
            .execute(params![
                n.name,
                serde_json::to_string(&n.labels)?,
                n.state,
                n.driver,
                n.options.to_string(),
                n.since_ms,
                n.note
            ])?;
        Ok(())
    }

    fn delete_node(&self, name: &str) -> Result<bool> {
        let n = self
            .conn
            .prepare_cached("DELETE FROM nodes WHERE name = ?1")?
            .execute([name])?;
        Ok(n > 0)
    }

    fn budgets(&self) -> Result<Vec<BudgetRow>> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT name, spec, created_at, created_by FROM fleet_budgets ORDER BY name",
        )?;
        let rows = stmt
            .query_map([], |r| {
                Ok((
                    r.get::<_, String>(0)?,
                    r.get::<_, String>(1)?,
                    r.get(2)?,
                    r.get(3)?,
                ))
            })?
            .collect::<rusqlite::Result<Vec<_>>>()?;
        rows.into_iter()
            .map(|(name, spec, created_at_ms, created_by)| {
                Ok(BudgetRow {
                    name,
                    spec: serde_json::from_str(&spec)?,
                    created_at_ms,
                    created_by,
                })
            })
            .collect()
    }

    fn put_budget(&self, b: &BudgetRow) -> Result<()> {
        self.conn
            .prepare_cached(
                "INSERT INTO fleet_budgets (name, spec, created_at, created_by)
                 VALUES (?1, ?2, ?3, ?4)
                 ON CONFLICT (name) DO UPDATE SET spec = ?2, created_at = ?3, created_by = ?4",
            )?
            .execute(params![
                b.name,
                b.spec.to_string(),
                b.created_at_ms,
                b.created_by
            ])?;
        Ok(())
    }

    fn remove_budget(&self, name: &str) -> Result<bool> {
        let n = self
            .conn
            .prepare_cached("DELETE FROM fleet_budgets WHERE name = ?1")?
            .execute([name])?;
        Ok(n > 0)
    }

    fn setting(&self, key: &str) -> Result<Option<serde_json::Value>> {
        let text: Option<String> = self
            .conn
            .prepare_cached("SELECT value FROM fleet_settings WHERE key = ?1")?
            .query_row([key], |r| r.get(0))
            .optional()?;
        Ok(text.map(|t| serde_json::from_str(&t)).transpose()?)
    }

    fn set_setting(&self, key: &str, value: &serde_json::Value, now_ms: i64) -> Result<()> {
        self.conn
            .prepare_cached(
                "INSERT INTO fleet_settings (key, value, updated_at) VALUES (?1, ?2, ?3)
                 ON CONFLICT (key) DO UPDATE SET value = ?2, updated_at = ?3",
            )?
            .execute(params![key, value.to_string(), now_ms])?;
        Ok(())
    }

    fn add_history(&self, h: &HistoryRow) -> Result<()> {
        self.conn
            .prepare_cached(
                "INSERT INTO node_history (node, at, event, from_state, to_state, request_id,
                    actor, detail)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
            )?
            .execute(params![
                h.node,
                h.at_ms,
                h.event,
                h.from_state,
                h.to_state,
                h.request_id,
                h.actor,
                h.detail
            ])?;
        Ok(())
    }

    fn history_events_since(&self, events: &[&str], since_ms: i64) -> Result<Vec<(String, i64)>> {
        let mut out = Vec::new();
        let mut stmt = self
            .conn
            .prepare_cached("SELECT node, at FROM node_history WHERE event = ?1 AND at >= ?2")?;
        for e in events {
            let rows = stmt.query_map(params![e, since_ms], |r| Ok((r.get(0)?, r.get(1)?)))?;
            for row in rows {
                out.push(row?);
            }
        }
        Ok(out)
    }

    fn history(&self, node: &str, limit: u32) -> Result<Vec<HistoryRow>> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT id, node, at, event, from_state, to_state, request_id, actor, detail
             FROM node_history WHERE node = ?1 ORDER BY id DESC LIMIT ?2",
        )?;
        let rows = stmt.query_map(params![node, limit], history_row)?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    fn active_grants(&self, pack: &str, version: &str) -> Result<Vec<drover_core::Grant>> {
        super::grants::active_grants(self.conn, pack, version)
    }

    fn audit(&self, rec: &AuditRecord) -> Result<i64> {
        super::audit::append(self.conn, rec)
    }
}

/// A `node_history` row selected as `id, node, at, event, from_state,
/// to_state, request_id, actor, detail`.
pub(crate) fn history_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<HistoryRow> {
    Ok(HistoryRow {
        id: r.get(0)?,
        node: r.get(1)?,
        at_ms: r.get(2)?,
        event: r.get(3)?,
        from_state: r.get(4)?,
        to_state: r.get(5)?,
        request_id: r.get(6)?,
        actor: r.get(7)?,
        detail: r.get(8)?,
    })
}
