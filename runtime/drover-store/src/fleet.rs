//! The fleet controller's tables: requests, budgets, settings and node
//! history, reached through [`FleetTx`] so that one controller step (read
//! the inventory, decide, write the transitions and their audit records)
//! is one transaction. Decisions made inside [`Store::fleet_write`] are
//! therefore atomic across processes: the CLI and a running `drover
//! serve` never both admit a node against the same budget slot. The
//! meaning of the JSON columns belongs to `drover-fleet`.

use drover_core::AuditRecord;
use rusqlite::{Connection, OptionalExtension, params};
use serde::Serialize;

use crate::nodes::{NodeRow, all_nodes, one_node};
use crate::{Result, Store};

/// A fleet request as stored.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct RequestRow {
    pub id: String,
    pub node: String,
    pub kind: String,
    pub reason: String,
    pub execution_id: Option<String>,
    pub status: String,
    pub created_at_ms: i64,
    pub actor: String,
    /// The controller's fields (origin, policy, deadlines, phase, step).
    pub spec: serde_json::Value,
    pub detail: String,
    pub updated_at_ms: i64,
}

/// A budget as stored.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct BudgetRow {
    pub name: String,
    pub spec: serde_json::Value,
    pub created_at_ms: i64,
    pub created_by: String,
}

/// One line of a node's history.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct HistoryRow {
    pub id: i64,
    pub node: String,
    pub at_ms: i64,
    pub event: String,
    pub from_state: String,
    pub to_state: String,
    pub request_id: Option<String>,
    pub actor: String,
    pub detail: String,
}

/// The fleet tables inside one transaction (or on the reader connection,
/// for [`Store::fleet_read`], where only the reading methods work).
pub struct FleetTx<'c> {
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

impl FleetTx<'_> {
    pub fn nodes(&self) -> Result<Vec<NodeRow>> {
        all_nodes(self.conn)
    }

    pub fn node(&self, name: &str) -> Result<Option<NodeRow>> {
        one_node(self.conn, name)
    }

    /// Queued and active requests, oldest first (the admission order).
    pub fn open_requests(&self) -> Result<Vec<RequestRow>> {
        let mut stmt = self.conn.prepare_cached(&format!(
            "SELECT {REQUEST_COLUMNS} FROM fleet_requests
             WHERE status IN ('queued', 'active') ORDER BY created_at, id"
        ))?;
        let rows = stmt
            .query_map([], request_from)?
            .collect::<rusqlite::Result<Vec<_>>>()?;
        rows.into_iter().map(with_spec).collect()
    }

    pub fn request(&self, id: &str) -> Result<Option<RequestRow>> {
        let row = self
            .conn
            .prepare_cached(&format!(
                "SELECT {REQUEST_COLUMNS} FROM fleet_requests WHERE id = ?1"
            ))?
            .query_row([id], request_from)
            .optional()?;
        row.map(with_spec).transpose()
    }

    /// A node's requests, newest first.
    pub fn node_requests(&self, node: &str, limit: u32) -> Result<Vec<RequestRow>> {
        let mut stmt = self.conn.prepare_cached(&format!(
            "SELECT {REQUEST_COLUMNS} FROM fleet_requests WHERE node = ?1
             ORDER BY created_at DESC, id DESC LIMIT ?2"
        ))?;
        let rows = stmt
            .query_map(params![node, limit], request_from)?
            .collect::<rusqlite::Result<Vec<_>>>()?;
        rows.into_iter().map(with_spec).collect()
    }

    pub fn upsert_request(&self, r: &RequestRow) -> Result<()> {
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

    /// Moves a node to `state`; false when there is no such node.
    pub fn set_node_state(
        &self,
        name: &str,
        state: &str,
        since_ms: i64,
        note: &str,
    ) -> Result<bool> {
        let n = self
            .conn
            .prepare_cached("UPDATE nodes SET state = ?2, since = ?3, note = ?4 WHERE name = ?1")?
            .execute(params![name, state, since_ms, note])?;
        Ok(n > 0)
    }

    /// Inserts a node, or updates its labels, driver and options (its
    /// state is the controller's and stays).
    pub fn upsert_node(&self, n: &NodeRow) -> Result<()> {
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

    pub fn delete_node(&self, name: &str) -> Result<bool> {
        let n = self
            .conn
            .prepare_cached("DELETE FROM nodes WHERE name = ?1")?
            .execute([name])?;
        Ok(n > 0)
    }

    pub fn budgets(&self) -> Result<Vec<BudgetRow>> {
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

    pub fn put_budget(&self, b: &BudgetRow) -> Result<()> {
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

    pub fn remove_budget(&self, name: &str) -> Result<bool> {
        let n = self
            .conn
            .prepare_cached("DELETE FROM fleet_budgets WHERE name = ?1")?
            .execute([name])?;
        Ok(n > 0)
    }

    pub fn setting(&self, key: &str) -> Result<Option<serde_json::Value>> {
        let text: Option<String> = self
            .conn
            .prepare_cached("SELECT value FROM fleet_settings WHERE key = ?1")?
            .query_row([key], |r| r.get(0))
            .optional()?;
        Ok(text.map(|t| serde_json::from_str(&t)).transpose()?)
    }

    pub fn set_setting(&self, key: &str, value: &serde_json::Value, now_ms: i64) -> Result<()> {
        self.conn
            .prepare_cached(
                "INSERT INTO fleet_settings (key, value, updated_at) VALUES (?1, ?2, ?3)
                 ON CONFLICT (key) DO UPDATE SET value = ?2, updated_at = ?3",
            )?
            .execute(params![key, value.to_string(), now_ms])?;
        Ok(())
    }

    pub fn add_history(&self, h: &HistoryRow) -> Result<()> {
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

    /// `(node, at)` of history events of the given kinds since `since_ms`.
    pub fn history_events_since(
        &self,
        events: &[&str],
        since_ms: i64,
    ) -> Result<Vec<(String, i64)>> {
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

    /// A node's history, newest first.
    pub fn history(&self, node: &str, limit: u32) -> Result<Vec<HistoryRow>> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT id, node, at, event, from_state, to_state, request_id, actor, detail
             FROM node_history WHERE node = ?1 ORDER BY id DESC LIMIT ?2",
        )?;
        let rows = stmt.query_map(params![node, limit], |r| {
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
        })?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    /// The unrevoked grants of one pack version: the controller checks a
    /// plugin's queued request against them again before it starts it.
    pub fn active_grants(&self, pack: &str, version: &str) -> Result<Vec<drover_core::Grant>> {
        crate::grants::active_grants(self.conn, pack, version)
    }

    pub fn audit(&self, rec: &AuditRecord) -> Result<i64> {
        crate::audit::append(self.conn, rec)
    }
}

impl Store {
    /// Runs one controller step in a write transaction (see the module
    /// docs); `f`'s error rolls back everything it wrote.
    pub fn fleet_write<R, F>(&self, f: F) -> Result<R>
    where
        F: FnOnce(&FleetTx<'_>) -> Result<R> + Send + 'static,
        R: Send + 'static,
    {
        self.write(move |conn| f(&FleetTx { conn }))
    }

    /// Reads the fleet tables on the reader connection.
    pub fn fleet_read<R>(&self, f: impl FnOnce(&FleetTx<'_>) -> Result<R>) -> Result<R> {
        self.read(|conn| f(&FleetTx { conn }))
    }
}
