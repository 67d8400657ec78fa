//! The `inquiries` table: questions `core.ask` tasks wait on, their
//! responses and expiry. Recording a response (or an expiry) and putting
//! the waiting workflow back in the queue is one transaction, so an answer
//! is never recorded without the workflow continuing, nor twice. The
//! pending and ended lists read through their indexes, and a cheap marker
//! of the pending ones feeds the web UI's change feed.

use drover_core::{ExecutionId, now_ms};
use rusqlite::{Connection, OptionalExtension, params};
use serde::Serialize;
use serde_json::Value;

use crate::executions::parse_id;
use crate::workflows::requeue_parked;
use crate::{Result, Store, StoreError};

/// One inquiry.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Inquiry {
    /// The asking task's child execution id.
    pub id: ExecutionId,
    /// The workflow run whose task asks.
    pub run_id: ExecutionId,
    /// Its top-level run (what continues when it is answered).
    pub root: ExecutionId,
    /// The workflow, `pack.name`.
    pub action: String,
    pub task: String,
    pub route: u32,
    /// JSON Schema the response must satisfy.
    pub schema: Value,
    /// Who may answer; empty: anyone.
    pub roles: Vec<String>,
    /// Where to announce it (free text for notifiers), if given.
    pub route_to: Option<String>,
    pub ttl_s: u64,
    pub created_at_ms: i64,
    pub expires_at_ms: i64,
    /// `pending`, `responded`, `timed_out` or `canceled`.
    pub state: String,
    pub response: Option<Value>,
    pub responder: Option<String>,
    pub responded_at_ms: Option<i64>,
}

/// Why a response was not recorded.
#[derive(Debug, thiserror::Error)]
pub enum RespondError {
    #[error("no inquiry {0} (see `drover inquiry list`)")]
    Unknown(ExecutionId),
    #[error("inquiry {id} is {state}, not pending: it takes no more responses")]
    NotPending { id: ExecutionId, state: String },
    #[error(transparent)]
    Store(#[from] StoreError),
}

pub(crate) fn insert_inquiry(conn: &Connection, q: &Inquiry) -> Result<()> {
    conn.prepare_cached(
        "INSERT OR IGNORE INTO inquiries (id, run_id, root, action, task, route, schema, roles,
            route_to, ttl_s, created_at, expires_at, state)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, 'pending')",
    )?
    .execute(params![
        q.id.to_string(),
        q.run_id.to_string(),
        q.root.to_string(),
        q.action,
        q.task,
        q.route,
        q.schema.to_string(),
        serde_json::to_string(&q.roles)?,
        q.route_to,
        q.ttl_s as i64,
        q.created_at_ms,
        q.expires_at_ms,
    ])?;
    Ok(())
}

impl Store {
    /// In one transaction: the asking run's `state` (the ask in flight)
    /// and the new pending inquiry.
    pub fn workflow_ask(
        &self,
        run: ExecutionId,
        state: crate::StateWrite,
        inflight: Value,
        inquiry: Inquiry,
    ) -> Result<()> {
        self.write(move |conn| {
            insert_inquiry(conn, &inquiry)?;
            crate::workflows::write_state(conn, &run.to_string(), &state, Some(&inflight), now_ms())
        })
    }

    pub fn get_inquiry(&self, id: ExecutionId) -> Result<Option<Inquiry>> {
        self.read(|conn| {
            conn.prepare_cached("SELECT * FROM inquiries WHERE id = ?1")?
                .query_row([id.to_string()], from_row)
                .optional()?
                .transpose()
        })
    }

    /// Inquiries, newest first; only those in `state` when given.
    pub fn list_inquiries(&self, state: Option<&str>, limit: u32) -> Result<Vec<Inquiry>> {
        self.read(|conn| {
            let mut stmt = conn.prepare_cached(
                "SELECT * FROM inquiries WHERE (?1 IS NULL OR state = ?1)
                 ORDER BY id DESC LIMIT ?2",
            )?;
            let rows = stmt.query_map(params![state, limit], from_row)?;
            rows.map(|r| r?).collect()
        })
    }

    /// Records `response` by `responder` to pending inquiry `id` and, when
    /// `requeue`, puts its parked workflow back in the queue, in one
    /// transaction. The caller validated the response and the role.
    pub fn respond_inquiry(
        &self,
        id: ExecutionId,
        response: Value,
        responder: String,
        requeue: bool,
    ) -> Result<Inquiry, RespondError> {
        self.write(move |conn| {
            let Some(q) = conn
                .prepare_cached("SELECT * FROM inquiries WHERE id = ?1")?
                .query_row([id.to_string()], from_row)
                .optional()?
                .transpose()?
            else {
                return Ok(Err(RespondError::Unknown(id)));
            };
            if q.state != "pending" {
                return Ok(Err(RespondError::NotPending { id, state: q.state }));
            }
            let now = now_ms();
            conn.prepare_cached(
                "UPDATE inquiries SET state = 'responded', response = ?2, responder = ?3,
                    responded_at = ?4 WHERE id = ?1",
            )?
            .execute(params![
                id.to_string(),
                response.to_string(),
                responder,
                now
            ])?;
            if requeue {
                requeue_parked(conn, &q.root.to_string())?;
            }
            Ok(Ok(Inquiry {
                state: "responded".into(),
                response: Some(response),
                responder: Some(responder),
                responded_at_ms: Some(now),
                ..q
            }))
        })?
    }

    /// Ends inquiry `id` as `timed_out` or `canceled` if still pending
    /// (without queueing anything: the caller drives the run).
    pub fn close_inquiry(&self, id: ExecutionId, state: &'static str) -> Result<()> {
        self.write(move |conn| {
            conn.prepare_cached(
                "UPDATE inquiries SET state = ?2, responded_at = ?3
                 WHERE id = ?1 AND state = 'pending'",
            )?
            .execute(params![id.to_string(), state, now_ms()])?;
            Ok(())
        })
    }

    /// Marks every pending inquiry past its deadline `timed_out` and
    /// queues its parked workflow again, in one transaction; returns them.
    pub fn expire_inquiries(&self, now: i64) -> Result<Vec<Inquiry>> {
        self.write(move |conn| {
            let due: Vec<Inquiry> = {
                let mut stmt = conn.prepare_cached(
                    "SELECT * FROM inquiries WHERE state = 'pending' AND expires_at <= ?1",
                )?;
                let rows = stmt.query_map([now], from_row)?;
                rows.map(|r| r?).collect::<Result<_>>()?
            };
            for q in &due {
                conn.prepare_cached(
                    "UPDATE inquiries SET state = 'timed_out', responded_at = ?2 WHERE id = ?1",
                )?
                .execute(params![q.id.to_string(), now])?;
                requeue_parked(conn, &q.root.to_string())?;
            }
            Ok(due)
        })
    }
}

pub(crate) fn from_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<Result<Inquiry>> {
    let id: String = r.get("id")?;
    let run_id: String = r.get("run_id")?;
    let root: String = r.get("root")?;
    let schema: String = r.get("schema")?;
    let roles: String = r.get("roles")?;
    let response: Option<String> = r.get("response")?;
    let route: i64 = r.get("route")?;
    let ttl: i64 = r.get("ttl_s")?;
    let (action, task, route_to, state, responder) = (
        r.get::<_, String>("action")?,
        r.get::<_, String>("task")?,
        r.get::<_, Option<String>>("route_to")?,
        r.get::<_, String>("state")?,
        r.get::<_, Option<String>>("responder")?,
    );
    let (created, expires, responded) = (
        r.get::<_, i64>("created_at")?,
        r.get::<_, i64>("expires_at")?,
        r.get::<_, Option<i64>>("responded_at")?,
    );
    Ok((|| {
        Ok(Inquiry {
            id: parse_id(&id)?,
            run_id: parse_id(&run_id)?,
            root: parse_id(&root)?,
            action,
            task,
            route: route as u32,
            schema: serde_json::from_str(&schema)?,
            roles: serde_json::from_str(&roles)?,
            route_to,
            ttl_s: ttl.max(0) as u64,
            created_at_ms: created,
            expires_at_ms: expires,
            state,
            response: response.as_deref().map(serde_json::from_str).transpose()?,
            responder,
            responded_at_ms: responded,
        })
    })())
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
