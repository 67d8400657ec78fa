//! The `nodes` and `fleet_requests` tables: the inventory (seeded with the
//! default simulated fleet) and the change requests accepted for it.

use std::collections::BTreeMap;

use rusqlite::{OptionalExtension, params};
use serde::Serialize;

use crate::{Result, Store};

/// A node as stored.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct NodeRow {
    pub name: String,
    pub labels: BTreeMap<String, String>,
    pub state: String,
    pub driver: String,
    pub options: serde_json::Value,
}

/// A change request accepted for a node.
#[derive(Clone, Debug, Serialize)]
pub struct FleetRequest {
    pub id: String,
    pub node: String,
    pub kind: String,
    pub reason: String,
    pub execution_id: Option<String>,
    pub status: String,
    pub created_at_ms: i64,
}

impl Store {
    pub fn get_node(&self, name: &str) -> Result<Option<NodeRow>> {
        let row: Option<(String, String, String, String, String)> = self.read(|conn| {
            Ok(conn
                .prepare_cached(
                    "SELECT name, labels, state, driver, options FROM nodes WHERE name = ?1",
                )?
                .query_row([name], |r| {
                    Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?))
                })
                .optional()?)
        })?;
        row.map(|(name, labels, state, driver, options)| {
            Ok(NodeRow {
                name,
                labels: serde_json::from_str(&labels)?,
                state,
                driver,
                options: serde_json::from_str(&options)?,
            })
        })
        .transpose()
    }

    pub fn count_nodes(&self) -> Result<u64> {
        self.read(|conn| {
            Ok(conn.query_row("SELECT count(*) FROM nodes", [], |r| r.get::<_, i64>(0))? as u64)
        })
    }

    /// Records an accepted request and moves the node to `new_state`, in
    /// one transaction.
    pub fn record_fleet_request(&self, req: FleetRequest, new_state: &str) -> Result<()> {
        let new_state = new_state.to_owned();
        self.write(move |conn| {
            conn.execute(
                "INSERT INTO fleet_requests (id, node, kind, reason, execution_id, status, created_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                params![
                    req.id,
                    req.node,
                    req.kind,
                    req.reason,
                    req.execution_id,
                    req.status,
                    req.created_at_ms
                ],
            )?;
            conn.execute(
                "UPDATE nodes SET state = ?2 WHERE name = ?1",
                params![req.node, new_state],
            )?;
            Ok(())
        })
    }

    /// A node's requests, newest first.
    pub fn fleet_requests(&self, node: &str) -> Result<Vec<FleetRequest>> {
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
}

#[cfg(test)]
mod tests {
    use crate::Store;

    #[test]
    fn the_default_inventory_is_1000_nodes_40_per_rack() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("d.db")).unwrap();
        assert_eq!(store.count_nodes().unwrap(), 1000);
        let rack = |n: &str| store.get_node(n).unwrap().unwrap().labels["rack"].clone();
        assert_eq!(rack("n001"), "r01");
        assert_eq!(rack("n040"), "r01");
        assert_eq!(rack("n041"), "r02");
        assert_eq!(rack("n900"), "r23");
        assert_eq!(rack("n1000"), "r25");
        assert!(store.get_node("n1001").unwrap().is_none());
    }
}
