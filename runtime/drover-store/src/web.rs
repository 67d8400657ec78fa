//! Reads for the operator web UI (`drover-web`): bounded queries whose
//! cost does not grow with the number of stored executions, so every page
//! renders in the same time on a day-old and on a year-old database.

use rusqlite::{OptionalExtension, params};
use serde::Serialize;

use drover_core::{ExecutionId, ExecutionRequest};

use crate::{Result, Store};

/// A node's place and state, for the fleet grid.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct NodeCell {
    pub name: String,
    /// The `rack` label; empty when the node has none.
    pub rack: String,
    pub state: String,
}

/// How many nodes of one rack are in one state.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct RackHealth {
    pub rack: String,
    pub state: String,
    pub nodes: u64,
}

/// A rule whose recent enforcements or executions went wrong.
#[derive(Clone, Debug, Serialize)]
pub struct FailingRule {
    pub rule: String,
    /// Among its enforcements in the window: those that failed to start
    /// an execution, or whose execution failed, was denied or timed out.
    pub failures: u64,
    /// Its enforcements in the window.
    pub enforcements: u64,
    /// The newest failure's reason or execution error.
    pub last_error: Option<String>,
}

/// What changes on screen, cheap to read often: the newest stored
/// execution, the queue, and the node states.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Changes {
    pub newest_execution: Option<String>,
    pub queued: u64,
    pub running: u64,
    pub nodes: Vec<(String, String)>,
}

impl Store {
    /// Every node with its rack and state, by rack then name (numbers in
    /// names sorted by length first, so `n2` comes before `n10`).
    pub fn node_cells(&self) -> Result<Vec<NodeCell>> {
        self.read(|conn| {
            let mut stmt = conn.prepare_cached(
                "SELECT name, coalesce(json_extract(labels, '$.rack'), ''), state FROM nodes
                 ORDER BY 2, length(name), name",
            )?;
            let rows = stmt.query_map([], |r| {
                Ok(NodeCell {
                    name: r.get(0)?,
                    rack: r.get(1)?,
                    state: r.get(2)?,
                })
            })?;
            Ok(rows.collect::<rusqlite::Result<_>>()?)
        })
    }

    /// Node counts per rack and state.
    pub fn rack_health(&self) -> Result<Vec<RackHealth>> {
        self.read(|conn| {
            let mut stmt = conn.prepare_cached(
                "SELECT coalesce(json_extract(labels, '$.rack'), ''), state, count(*) FROM nodes
                 GROUP BY 1, 2 ORDER BY 1, 2",
            )?;
            let rows = stmt.query_map([], |r| {
                Ok(RackHealth {
                    rack: r.get(0)?,
                    state: r.get(1)?,
                    nodes: r.get::<_, i64>(2)? as u64,
                })
            })?;
            Ok(rows.collect::<rusqlite::Result<_>>()?)
        })
    }

    /// Rules with failures among the newest `window` enforcements, most
    /// failures first.
    pub fn failing_rules(&self, window: u32, limit: u32) -> Result<Vec<FailingRule>> {
        self.read(|conn| {
            let mut stmt = conn.prepare_cached(
                "WITH recent AS (
                     SELECT e.id, e.rule_ref, e.state, e.reason, x.status, x.error
                     FROM (SELECT * FROM enforcements ORDER BY id DESC LIMIT ?1) e
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

    /// A queued or running request that has no execution row yet.
    pub fn open_request(&self, id: ExecutionId) -> Result<Option<(ExecutionRequest, String)>> {
        self.read(|conn| {
            Ok(conn
                .prepare_cached(
                    "SELECT action, parameters, dry_run, actor, enforcement_id, requested_at, state
                     FROM execution_requests WHERE id = ?1 AND state != 'done'",
                )?
                .query_row([id.to_string()], |r| {
                    Ok((
                        r.get::<_, String>(0)?,
                        r.get::<_, String>(1)?,
                        r.get::<_, bool>(2)?,
                        r.get::<_, String>(3)?,
                        r.get::<_, Option<String>>(4)?,
                        r.get::<_, i64>(5)?,
                        r.get::<_, String>(6)?,
                    ))
                })
                .optional()?)
        })?
        .map(
            |(action, parameters, dry_run, actor, enforcement_id, requested_at_ms, state)| {
                Ok((
                    ExecutionRequest {
                        id,
                        action,
                        parameters: serde_json::from_str(&parameters)?,
                        dry_run,
                        actor,
                        enforcement_id,
                        requested_at_ms,
                    },
                    state,
                ))
            },
        )
        .transpose()
    }

    /// The state the UI's live parts watch; O(log n) in executions plus one
    /// pass over the nodes.
    pub fn changes(&self) -> Result<Changes> {
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
            let mut stmt = conn.prepare_cached("SELECT name, state FROM nodes ORDER BY name")?;
            let nodes = stmt
                .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?
                .collect::<rusqlite::Result<_>>()?;
            Ok(Changes {
                newest_execution,
                queued,
                running,
                nodes,
            })
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_fleet_is_25_racks_of_40_production_nodes() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("d.db")).unwrap();
        let health = store.rack_health().unwrap();
        assert_eq!(health.len(), 25);
        assert!(
            health
                .iter()
                .all(|h| h.nodes == 40 && h.state == "production")
        );
        let cells = store.node_cells().unwrap();
        assert_eq!(cells.len(), 1000);
        assert_eq!(cells[0].name, "n001");
        assert_eq!(cells[39].name, "n040");
        assert_eq!(cells[40].rack, "r02");
        let changes = store.changes().unwrap();
        assert_eq!(changes.nodes.len(), 1000);
        assert_eq!(changes.newest_execution, None);
        assert!(store.failing_rules(1000, 10).unwrap().is_empty());
    }
}
