//! What the operator surfaces (the web UI, the API behind `--server`)
//! read about work that waits: how an unfinished workflow run stands, and
//! a cheap marker of the pending inquiries for the UI's change feed.

use rusqlite::OptionalExtension;

use crate::inquiries::from_row;
use crate::{Inquiry, Result, Store, WorkflowRun};

/// How an unfinished workflow run stands.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Progress {
    /// `running`, `pending` (parked: an inquiry, a delay), `paused`,
    /// `pausing` or `canceling`.
    pub status: &'static str,
    /// What it waits on (`inquiry ID`, `paused`), except a delay.
    pub waiting_on: Option<String>,
    /// The end of the task delay it waits for, in Unix milliseconds.
    pub delay_until_ms: Option<i64>,
}

impl WorkflowRun {
    /// Where this run stands, from what parks it and what was asked of it.
    pub fn progress(&self) -> Progress {
        if let Some(ms) = self
            .parked
            .as_deref()
            .and_then(|w| w.strip_prefix("delay until "))
            .and_then(|ms| ms.parse::<i64>().ok())
        {
            return Progress {
                status: "pending",
                waiting_on: None,
                delay_until_ms: Some(ms),
            };
        }
        let (status, waiting_on) = match (&self.parked, self.control.as_deref()) {
            (Some(why), _) if why == "paused" => ("paused", Some(why.clone())),
            (Some(why), _) => ("pending", Some(why.clone())),
            (None, Some("pause")) => ("pausing", None),
            (None, Some("cancel")) => ("canceling", None),
            _ => ("running", None),
        };
        Progress {
            status,
            waiting_on,
            delay_until_ms: None,
        }
    }
}

impl Store {
    /// The newest `limit` pending inquiries, read through the
    /// pending-inquiries index: the cost follows what waits, not how many
    /// inquiries were ever asked.
    pub fn pending_inquiries(&self, limit: u32) -> Result<Vec<Inquiry>> {
        self.read(|conn| {
            let mut stmt = conn.prepare_cached(
                "SELECT * FROM inquiries INDEXED BY inquiries_pending
                 WHERE state = 'pending'
                 ORDER BY id DESC LIMIT ?1",
            )?;
            let rows = stmt.query_map([limit], from_row)?;
            rows.map(|r| r?).collect()
        })
    }

    /// The newest `limit` inquiries that ended (answered, timed out,
    /// canceled), newest first.
    pub fn ended_inquiries(&self, limit: u32) -> Result<Vec<Inquiry>> {
        self.read(|conn| {
            let mut stmt = conn.prepare_cached(
                "SELECT * FROM inquiries WHERE state != 'pending' ORDER BY id DESC LIMIT ?1",
            )?;
            let rows = stmt.query_map([limit], from_row)?;
            rows.map(|r| r?).collect()
        })
    }

    /// `(pending inquiries, newest pending id)`: changes when an inquiry
    /// is asked, answered, times out or is canceled. One read of the
    /// pending-inquiries index.
    pub fn pending_inquiries_marker(&self) -> Result<(u64, Option<String>)> {
        self.read(|conn| {
            Ok(conn
                .prepare_cached("SELECT count(*), max(id) FROM inquiries WHERE state = 'pending'")?
                .query_row([], |r| Ok((r.get::<_, i64>(0)? as u64, r.get(1)?)))
                .optional()?
                .unwrap_or((0, None)))
        })
    }
}

#[cfg(test)]
mod tests {
    use drover_core::{ExecutionId, now_ms};
    use serde_json::json;

    use super::*;
    use crate::inquiries::insert_inquiry;

    fn asked(store: &Store, n: usize) -> Vec<ExecutionId> {
        let now = now_ms();
        let ids: Vec<ExecutionId> = (0..n).map(|_| ExecutionId::new()).collect();
        let qs: Vec<Inquiry> = ids
            .iter()
            .map(|id| Inquiry {
                id: *id,
                run_id: *id,
                root: *id,
                action: "flows.approve".into(),
                task: "ask".into(),
                route: 0,
                schema: json!({"type": "object"}),
                roles: Vec::new(),
                route_to: None,
                ttl_s: 60,
                created_at_ms: now,
                expires_at_ms: now + 60_000,
                state: "pending".into(),
                response: None,
                responder: None,
                responded_at_ms: None,
            })
            .collect();
        store
            .write(move |conn| {
                for q in &qs {
                    insert_inquiry(conn, q)?;
                }
                Ok(())
            })
            .unwrap();
        ids
    }

    #[test]
    fn pending_and_ended_inquiries_newest_first_and_the_marker_moves() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("d.db")).unwrap();
        assert_eq!(store.pending_inquiries_marker().unwrap(), (0, None));
        let ids = asked(&store, 5);
        for id in &ids[..3] {
            store
                .respond_inquiry(*id, json!({"ok": true}), "user:a".into(), false)
                .unwrap();
        }
        let pending: Vec<ExecutionId> = store
            .pending_inquiries(10)
            .unwrap()
            .iter()
            .map(|q| q.id)
            .collect();
        assert_eq!(pending, [ids[4], ids[3]]);
        let ended: Vec<ExecutionId> = store
            .ended_inquiries(2)
            .unwrap()
            .iter()
            .map(|q| q.id)
            .collect();
        assert_eq!(ended, [ids[2], ids[1]]);
        let marker = store.pending_inquiries_marker().unwrap();
        assert_eq!(marker, (2, Some(ids[4].to_string())));
        store.close_inquiry(ids[4], "canceled").unwrap();
        assert_eq!(
            store.pending_inquiries_marker().unwrap(),
            (1, Some(ids[3].to_string()))
        );
    }
}
