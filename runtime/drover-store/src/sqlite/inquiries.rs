//! SQLite: [`InquiryStore`] over the tables of [`crate::inquiries`].

use super::executions::parse_id;
use super::workflows::requeue_parked;
use crate::inquiries::*;
use crate::{Result, SqliteStore};
use drover_core::{ExecutionId, now_ms};
use rusqlite::{Connection, OptionalExtension, params};
use serde_json::Value;

impl InquiryStore for SqliteStore {
    fn workflow_ask(
        &self,
        run: ExecutionId,
        state: crate::StateWrite,
        inflight: Value,
        inquiry: Inquiry,
    ) -> Result<()> {
        self.write(move |conn| {
            insert_inquiry(conn, &inquiry)?;
            super::workflows::write_state(conn, &run.to_string(), &state, Some(&inflight), now_ms())
        })
    }

    fn get_inquiry(&self, id: ExecutionId) -> Result<Option<Inquiry>> {
        self.read(|conn| {
            conn.prepare_cached("SELECT * FROM inquiries WHERE id = ?1")?
                .query_row([id.to_string()], from_row)
                .optional()?
                .transpose()
        })
    }

    fn list_inquiries(&self, state: Option<&str>, limit: u32) -> Result<Vec<Inquiry>> {
        self.read(|conn| {
            let mut stmt = conn.prepare_cached(
                "SELECT * FROM inquiries WHERE (?1 IS NULL OR state = ?1)
                 ORDER BY id DESC LIMIT ?2",
            )?;
            let rows = stmt.query_map(params![state, limit], from_row)?;
            rows.map(|r| r?).collect()
        })
    }

    fn respond_inquiry(
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

    fn close_inquiry(&self, id: ExecutionId, state: &'static str) -> Result<()> {
        self.write(move |conn| {
            conn.prepare_cached(
                "UPDATE inquiries SET state = ?2, responded_at = ?3
                 WHERE id = ?1 AND state = 'pending'",
            )?
            .execute(params![id.to_string(), state, now_ms()])?;
            Ok(())
        })
    }

    fn expire_inquiries(&self, now: i64) -> Result<Vec<Inquiry>> {
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

    fn pending_inquiries(&self, limit: u32) -> Result<Vec<Inquiry>> {
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

    fn ended_inquiries(&self, limit: u32) -> Result<Vec<Inquiry>> {
        self.read(|conn| {
            let mut stmt = conn.prepare_cached(
                "SELECT * FROM inquiries WHERE state != 'pending' ORDER BY id DESC LIMIT ?1",
            )?;
            let rows = stmt.query_map([limit], from_row)?;
            rows.map(|r| r?).collect()
        })
    }

    fn pending_inquiries_marker(&self) -> Result<(u64, Option<String>)> {
        self.read(|conn| {
            Ok(conn
                .prepare_cached("SELECT count(*), max(id) FROM inquiries WHERE state = 'pending'")?
                .query_row([], |r| Ok((r.get::<_, i64>(0)? as u64, r.get(1)?)))
                .optional()?
                .unwrap_or((0, None)))
        })
    }
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

#[cfg(test)]
mod tests {
    use drover_core::{ExecutionId, now_ms};
    use serde_json::json;

    use super::*;

    fn asked(store: &SqliteStore, n: usize) -> Vec<ExecutionId> {
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
        let store = SqliteStore::open(&dir.path().join("d.db")).unwrap();
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
