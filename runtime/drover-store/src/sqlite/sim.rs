//! SQLite: [`SimStore`] over the tables of [`crate::sim`].

use crate::sim::*;
use crate::{Result, SqliteStore};
use rusqlite::{OptionalExtension, params};

impl SimStore for SqliteStore {
    fn sim_hang(&self, nodes: Vec<String>, now_ms: i64, actor: &str) -> Result<()> {
        let actor = actor.to_owned();
        self.write(move |tx| {
            let mut stmt = tx.prepare_cached(
                "INSERT INTO sim_faults (node, since_ms, actor) VALUES (?1, ?2, ?3) \
                 ON CONFLICT (node) DO UPDATE SET since_ms = excluded.since_ms, actor = excluded.actor",
            )?;
            for node in &nodes {
                stmt.execute(params![node, now_ms, actor])?;
            }
            Ok(())
        })
    }

    fn sim_heal(&self, nodes: Vec<String>) -> Result<usize> {
        self.write(move |tx| {
            let mut stmt = tx.prepare_cached("DELETE FROM sim_faults WHERE node = ?1")?;
            let mut n = 0;
            for node in &nodes {
                n += stmt.execute(params![node])?;
            }
            Ok(n)
        })
    }

    fn sim_faults(&self) -> Result<Vec<SimFault>> {
        self.read(|c| {
            let mut stmt = c.prepare_cached(&format!(
                "SELECT f.node, f.since_ms, f.actor, {ACTIVE} FROM sim_faults f \
                 ORDER BY f.since_ms DESC, f.node"
            ))?;
            let rows = stmt.query_map([], |r| {
                Ok(SimFault {
                    node: r.get(0)?,
                    since_ms: r.get(1)?,
                    actor: r.get(2)?,
                    active: r.get(3)?,
                })
            })?;
            Ok(rows.collect::<rusqlite::Result<_>>()?)
        })
    }

    fn sim_answers(&self, node: &str, state: &str) -> Result<bool> {
        if state == "rebooting" {
            return Ok(false);
        }
        self.read(|c| {
            let hung: Option<bool> = c
                .prepare_cached(&format!(
                    "SELECT {ACTIVE} FROM sim_faults f WHERE f.node = ?1"
                ))?
                .query_row(params![node], |r| r.get(0))
                .optional()?;
            Ok(!hung.unwrap_or(false))
        })
    }
}

/// True when the fault began after the node last left `rebooting`.
const ACTIVE: &str = "f.since_ms > COALESCE((SELECT MAX(h.at) FROM node_history h \
     WHERE h.node = f.node AND h.from_state = 'rebooting'), 0)";
