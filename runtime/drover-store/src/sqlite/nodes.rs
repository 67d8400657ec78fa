//! SQLite: [`NodeStore`] over the tables of [`crate::nodes`].

use crate::nodes::*;
use crate::{Result, SqliteStore};
use rusqlite::{Connection, OptionalExtension, Row, params};

impl NodeStore for SqliteStore {
    fn get_node(&self, name: &str) -> Result<Option<NodeRow>> {
        self.read(|conn| one_node(conn, name))
    }

    fn list_nodes(&self) -> Result<Vec<NodeRow>> {
        self.read(all_nodes)
    }

    fn count_nodes(&self) -> Result<u64> {
        self.read(|conn| {
            Ok(conn.query_row("SELECT count(*) FROM nodes", [], |r| r.get::<_, i64>(0))? as u64)
        })
    }

    fn fleet_requests(&self, node: &str) -> Result<Vec<FleetRequest>> {
        self.read(|conn| {
            let mut stmt = conn.prepare_cached(
                "SELECT id, node, kind, reason, execution_id, status, created_at
                 FROM fleet_requests WHERE node = ?1 ORDER BY created_at DESC, id DESC",
            )?;
            let rows = stmt.query_map([node], |r| {
                Ok(FleetRequest {
                    id: r.get(0)?,
                    node: r.get(1)?,
                    kind: r.get(2)?,
                    reason: r.get(3)?,
                    execution_id: r.get(4)?,
                    status: r.get(5)?,
                    created_at_ms: r.get(6)?,
                })
            })?;
            Ok(rows.collect::<rusqlite::Result<_>>()?)
        })
    }

    fn node_cells(&self) -> Result<Vec<NodeCell>> {
        self.read(|conn| {
            let mut stmt = conn.prepare_cached(&format!(
                "SELECT n.name, coalesce(json_extract(n.labels, '$.rack'), ''), n.state,
                        {CURRENT_HEALTH}
                 FROM nodes n LEFT JOIN node_health h ON h.node = n.name
                 ORDER BY 2, length(n.name), n.name"
            ))?;
            let rows = stmt.query_map([], |r| {
                Ok(NodeCell {
                    name: r.get(0)?,
                    rack: r.get(1)?,
                    state: r.get(2)?,
                    health: r.get(3)?,
                })
            })?;
            Ok(rows.collect::<rusqlite::Result<_>>()?)
        })
    }

    fn record_node_health(&self, report: HealthReport) -> Result<bool> {
        self.write(move |conn| {
            let before: Option<String> = conn
                .prepare_cached(&format!(
                    "SELECT {CURRENT_HEALTH} FROM nodes n
                     LEFT JOIN node_health h ON h.node = n.name WHERE n.name = ?1"
                ))?
                .query_row([&report.node], |r| r.get(0))
                .optional()?
                .flatten();
            conn.prepare_cached(
                "INSERT INTO node_health (node, health, detail, source, at)
                 VALUES (?1, ?2, ?3, ?4, ?5)
                 ON CONFLICT (node) DO UPDATE SET health = excluded.health,
                     detail = excluded.detail, source = excluded.source, at = excluded.at",
            )?
            .execute(params![
                report.node,
                report.health,
                report.detail,
                report.source,
                report.at_ms
            ])?;
            let changed = before.as_deref() != Some(report.health.as_str());
            if changed {
                conn.prepare_cached(
                    "INSERT INTO node_history (node, at, event, from_state, to_state,
                         request_id, actor, detail)
                     SELECT name, ?2, 'health', state, state, NULL, ?3, ?4
                     FROM nodes WHERE name = ?1",
                )?
                .execute(params![
                    report.node,
                    report.at_ms,
                    report.source,
                    format!("{}: {}", report.health, report.detail)
                ])?;
            }
            Ok(changed)
        })
    }

    fn node_health(&self, node: &str) -> Result<Option<HealthReport>> {
        self.read(|conn| {
            Ok(conn
                .prepare_cached(
                    "SELECT node, health, detail, source, at FROM node_health WHERE node = ?1",
                )?
                .query_row([node], |r| {
                    Ok(HealthReport {
                        node: r.get(0)?,
                        health: r.get(1)?,
                        detail: r.get(2)?,
                        source: r.get(3)?,
                        at_ms: r.get(4)?,
                    })
                })
                .optional()?)
        })
    }

    fn node_history_cursor(&self) -> Result<i64> {
        self.read(|conn| {
            Ok(conn
                .prepare_cached("SELECT coalesce(max(id), 0) FROM node_history")?
                .query_row([], |r| r.get(0))?)
        })
    }

    fn nodes_changed_since(&self, cursor: i64, limit: u32) -> Result<(Vec<String>, i64)> {
        self.read(|conn| {
            // Read the end first: a line added meanwhile is read again next
            // time rather than missed.
            let end: i64 = conn
                .prepare_cached("SELECT coalesce(max(id), 0) FROM node_history")?
                .query_row([], |r| r.get(0))?;
            let mut stmt = conn.prepare_cached(
                "SELECT DISTINCT node FROM node_history WHERE id > ?1 AND id <= ?2
                 ORDER BY node LIMIT ?3",
            )?;
            let nodes = stmt
                .query_map(params![cursor, end, limit], |r| r.get(0))?
                .collect::<rusqlite::Result<_>>()?;
            Ok((nodes, end.max(cursor)))
        })
    }

    fn inventory_changed(&self, cursor: i64, upto: i64) -> Result<bool> {
        self.read(|conn| {
            Ok(conn
                .prepare_cached(
                    "SELECT EXISTS (SELECT 1 FROM node_history WHERE id > ?1 AND id <= ?2
                         AND event IN ('added', 'removed', 'updated'))",
                )?
                .query_row(params![cursor, upto], |r| r.get(0))?)
        })
    }

    fn node_history_page(&self, after: i64, limit: u32) -> Result<Vec<crate::HistoryRow>> {
        self.read(|conn| {
            let mut stmt = conn.prepare_cached(
                "SELECT id, node, at, event, from_state, to_state, request_id, actor, detail
                 FROM node_history WHERE id > ?1 ORDER BY id LIMIT ?2",
            )?;
            let rows = stmt.query_map(params![after, limit.max(1)], super::fleet::history_row)?;
            Ok(rows.collect::<rusqlite::Result<_>>()?)
        })
    }
}

/// A node's health as the grid shows it: its latest report, unless the
/// node changed state since (a reboot answers an old "silent"). Over
/// `nodes n LEFT JOIN node_health h`.
pub(crate) const CURRENT_HEALTH: &str = "CASE WHEN h.at >= n.since THEN h.health END";

pub(crate) const NODE_COLUMNS: &str = "name, labels, state, driver, options, since, note";

type RawNode = (String, String, String, String, String, i64, String);

pub(crate) fn raw_node(r: &Row<'_>) -> rusqlite::Result<RawNode> {
    Ok((
        r.get(0)?,
        r.get(1)?,
        r.get(2)?,
        r.get(3)?,
        r.get(4)?,
        r.get(5)?,
        r.get(6)?,
    ))
}

pub(crate) fn node_from_raw(raw: RawNode) -> Result<NodeRow> {
    let (name, labels, state, driver, options, since_ms, note) = raw;
    Ok(NodeRow {
        name,
        labels: serde_json::from_str(&labels)?,
        state,
        driver,
        options: serde_json::from_str(&options)?,
        since_ms,
        note,
    })
}

pub(crate) fn all_nodes(conn: &Connection) -> Result<Vec<NodeRow>> {
    let mut stmt = conn.prepare_cached(&format!(
        "SELECT {NODE_COLUMNS} FROM nodes ORDER BY length(name), name"
    ))?;
    let raws = stmt
        .query_map([], raw_node)?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    raws.into_iter().map(node_from_raw).collect()
}

pub(crate) fn one_node(conn: &Connection, name: &str) -> Result<Option<NodeRow>> {
    let raw = conn
        .prepare_cached(&format!("SELECT {NODE_COLUMNS} FROM nodes WHERE name = ?1"))?
        .query_row([name], raw_node)
        .optional()?;
    raw.map(node_from_raw).transpose()
}

#[cfg(test)]
mod tests {
    use crate::SqliteStore;
    use crate::prelude::*;

    #[test]
    fn the_default_inventory_is_1000_nodes_40_per_rack() {
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteStore::open(&dir.path().join("d.db")).unwrap();
        assert_eq!(store.count_nodes().unwrap(), 1000);
        let rack = |n: &str| store.get_node(n).unwrap().unwrap().labels["rack"].clone();
        assert_eq!(rack("n001"), "r01");
        assert_eq!(rack("n040"), "r01");
        assert_eq!(rack("n041"), "r02");
        assert_eq!(rack("n900"), "r23");
        assert_eq!(rack("n1000"), "r25");
        assert!(store.get_node("n1001").unwrap().is_none());
        let all = store.list_nodes().unwrap();
        assert_eq!(all.len(), 1000);
        assert_eq!(all[0].name, "n001");
        assert_eq!(all[999].name, "n1000");
    }

    #[test]
    fn the_default_fleet_is_25_racks_of_40_production_nodes() {
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteStore::open(&dir.path().join("d.db")).unwrap();
        let cells = store.node_cells().unwrap();
        assert_eq!(cells.len(), 1000);
        assert!(
            cells
                .iter()
                .all(|c| c.state == "production" && c.health.is_none())
        );
        let racks: std::collections::BTreeSet<_> = cells.iter().map(|c| &c.rack).collect();
        assert_eq!(racks.len(), 25);
        assert_eq!(cells[0].name, "n001");
        assert_eq!(cells[39].name, "n040");
        assert_eq!(cells[40].rack, "r02");
        let changes = store.changes().unwrap();
        assert_eq!(changes.nodes.len(), 1000);
        assert_eq!(changes.newest_execution, None);
        assert!(store.failing_rules(1000, 10).unwrap().is_empty());
    }
}
