//! SQLite: [`EventStore`] over the tables of [`crate::events`].

use crate::events::*;
use crate::prelude::*;
use crate::{Pending, Result, SqliteStore, StoreError};
use drover_core::{
    Enforcement, EnforcementState, Execution, ExecutionId, ExecutionRequest, TriggerInstance,
};
use rusqlite::{Connection, OptionalExtension, params};

impl EventStore for SqliteStore {
    fn insert_trigger(&self, t: TriggerInstance) -> Result<Pending<()>> {
        self.write_pipelined(move |conn| insert_trigger(conn, &t))
    }

    fn insert_trigger_then(
        &self,
        t: TriggerInstance,
        then: Box<dyn FnOnce(Result<()>) + Send>,
    ) -> Result<()> {
        self.write_then(move |conn| insert_trigger(conn, &t), then)
    }

    fn pending_triggers(&self, after: Option<&str>, limit: u32) -> Result<Vec<TriggerInstance>> {
        self.read(|conn| {
            let mut stmt = conn.prepare_cached(
                "SELECT id, trigger_type, payload, source, received_at, trigger_parameters, shadow
                 FROM trigger_instances
                 WHERE state = 'pending' AND (?1 IS NULL OR id > ?1) ORDER BY id LIMIT ?2",
            )?;
            let rows = stmt.query_map(params![after, limit], trigger_from_row)?;
            rows.map(|r| r?).collect()
        })
    }

    fn record_enforcements(
        &self,
        trigger_id: String,
        enforcements: Vec<Enforcement>,
        requests: Vec<ExecutionRequest>,
        storm: Option<String>,
    ) -> Result<Pending<()>> {
        self.record_enforcements_many(vec![(trigger_id, enforcements, requests)], storm)
    }

    fn record_enforcements_many(
        &self,
        triggers: Vec<(String, Vec<Enforcement>, Vec<ExecutionRequest>)>,
        storm: Option<String>,
    ) -> Result<Pending<()>> {
        self.write_pipelined(move |conn| {
            if let Some(state) = &storm {
                conn.prepare_cached(
                    "INSERT INTO rule_state (rule_ref, state) VALUES ('*', ?1)
                     ON CONFLICT (rule_ref) DO UPDATE SET state = excluded.state",
                )?
                .execute([state])?;
            }
            for (trigger_id, enforcements, requests) in &triggers {
                record(conn, trigger_id, enforcements, requests)?;
            }
            Ok(())
        })
    }

    fn request_execution(&self, r: ExecutionRequest) -> Result<()> {
        self.write(move |conn| insert_request(conn, &r))
    }

    fn claim_requests(&self, limit: u32) -> Result<Vec<ExecutionRequest>> {
        Ok(self
            .claim_requests_gated(limit, Box::new(|_| Ok(Vec::new())))?
            .0)
    }

    fn finish_request(&self, exec: Execution) -> Result<Pending<()>> {
        self.write_pipelined(move |conn| finish(conn, &exec))
    }

    fn interrupted_requests(&self) -> Result<Vec<(ExecutionRequest, bool)>> {
        self.read(|conn| {
            let mut stmt = conn.prepare_cached(
                "SELECT id, action, parameters, dry_run, actor, enforcement_id, requested_at,
                    pack_version, started_at IS NOT NULL
                 FROM execution_requests WHERE state = 'running' ORDER BY id",
            )?;
            let rows = stmt.query_map([], |r| Ok((request_from_row(r)?, r.get::<_, bool>(8)?)))?;
            rows.map(|r| {
                let (req, started) = r?;
                Ok((req?, started))
            })
            .collect()
        })
    }

    fn mark_started(&self, id: ExecutionId) -> Result<Pending<()>> {
        self.write_pipelined(move |conn| {
            conn.prepare_cached(
                "UPDATE execution_requests SET started_at = ?2 WHERE id = ?1 AND state = 'running'",
            )?
            .execute(params![id.to_string(), drover_core::now_ms()])?;
            Ok(())
        })
    }

    fn requeue_requests(&self, ids: Vec<ExecutionId>) -> Result<()> {
        self.write(move |conn| {
            let mut stmt = conn.prepare_cached(
                "UPDATE execution_requests SET state = 'requested', started_at = NULL
                 WHERE id = ?1 AND state = 'running'",
            )?;
            for id in &ids {
                stmt.execute([id.to_string()])?;
                release_slots(conn, &id.to_string())?;
            }
            Ok(())
        })
    }

    fn queue_depth(&self) -> Result<(u64, u64)> {
        self.read(|conn| {
            let count = |state: &str| -> Result<u64> {
                Ok(conn.query_row(
                    "SELECT count(*) FROM execution_requests WHERE state = ?1",
                    [state],
                    |r| r.get::<_, i64>(0),
                )? as u64)
            };
            Ok((count("requested")?, count("running")?))
        })
    }

    fn list_triggers(
        &self,
        trigger_type: Option<&str>,
        before: Option<&str>,
        limit: u32,
    ) -> Result<Vec<TriggerSummary>> {
        self.read(|conn| {
            let mut stmt = conn.prepare_cached(
                "SELECT id, trigger_type, payload, source, received_at, trigger_parameters, shadow,
                        state
                 FROM trigger_instances
                 WHERE (?1 IS NULL OR trigger_type = ?1) AND (?2 IS NULL OR id < ?2)
                 ORDER BY id DESC LIMIT ?3",
            )?;
            let rows = stmt.query_map(params![trigger_type, before, limit.max(1)], |r| {
                Ok((trigger_from_row(r)?, r.get::<_, String>(7)?))
            })?;
            with_enforcements(conn, rows)
        })
    }

    fn trigger_page(
        &self,
        types: &[String],
        after: Option<&str>,
        upto: Option<&str>,
        limit: u32,
    ) -> Result<Vec<TriggerSummary>> {
        // `?3` onwards are the types: a list of placeholders, one
        // statement per count of types (a handful).
        let types_sql = if types.is_empty() {
            String::new()
        } else {
            let marks: Vec<String> = (0..types.len()).map(|i| format!("?{}", i + 4)).collect();
            format!(" AND trigger_type IN ({})", marks.join(", "))
        };
        let sql = format!(
            "SELECT id, trigger_type, payload, source, received_at, trigger_parameters, shadow,
                    state
             FROM trigger_instances
             WHERE (?1 IS NULL OR id > ?1) AND (?2 IS NULL OR id < ?2){types_sql}
             ORDER BY id LIMIT ?3"
        );
        self.read(|conn| {
            let mut stmt = conn.prepare_cached(&sql)?;
            let mut values: Vec<&dyn rusqlite::ToSql> = vec![&after, &upto, &limit];
            for t in types {
                values.push(t);
            }
            let rows = stmt.query_map(values.as_slice(), |r| {
                Ok((trigger_from_row(r)?, r.get::<_, String>(7)?))
            })?;
            with_enforcements(conn, rows)
        })
    }

    fn get_trigger(&self, id: &str) -> Result<Option<TriggerInstance>> {
        use rusqlite::OptionalExtension;
        self.read(|conn| {
            conn.prepare_cached(
                "SELECT id, trigger_type, payload, source, received_at, trigger_parameters, shadow
                 FROM trigger_instances WHERE id = ?1",
            )?
            .query_row([id], trigger_from_row)
            .optional()?
            .transpose()
        })
    }

    fn enforcements(&self, trigger_id: &str) -> Result<Vec<Enforcement>> {
        self.read(|conn| enforcements_of(conn, trigger_id))
    }

    fn trigger_summary(&self, id: &str) -> Result<Option<TriggerSummary>> {
        self.read(|conn| {
            let found = conn
                .prepare_cached(
                    "SELECT id, trigger_type, payload, source, received_at, trigger_parameters,
                            shadow, state
                     FROM trigger_instances WHERE id = ?1",
                )?
                .query_row([id], |r| Ok((trigger_from_row(r)?, r.get::<_, String>(7)?)))
                .optional()?;
            let Some((instance, state)) = found else {
                return Ok(None);
            };
            let instance = instance?;
            let enforcements = enforcements_of(conn, &instance.id)?;
            Ok(Some(TriggerSummary {
                instance,
                state,
                enforcements,
            }))
        })
    }

    fn enforcement_of_execution(&self, execution: ExecutionId) -> Result<Option<Enforcement>> {
        self.read(|conn| {
            Ok(enforcements_where(
                conn,
                "SELECT id, trigger_instance_id, rule_ref, execution_id, state, reason, at, candidate
                 FROM enforcements WHERE execution_id = ?1 LIMIT 1",
                rusqlite::params![execution.to_string()],
            )?
            .pop())
        })
    }

    fn rule_enforcements(
        &self,
        rule_ref: &str,
        before: Option<&str>,
        limit: u32,
    ) -> Result<Vec<Enforcement>> {
        self.read(|conn| {
            enforcements_where(
                conn,
                "SELECT id, trigger_instance_id, rule_ref, execution_id, state, reason, at, candidate
                 FROM enforcements
                 WHERE rule_ref = ?1 AND (?2 IS NULL OR id < ?2) AND candidate IS NULL
                 ORDER BY id DESC LIMIT ?3",
                rusqlite::params![rule_ref, before, limit.max(1)],
            )
        })
    }

    fn shadow_enforcements(
        &self,
        pack: &str,
        version: &str,
        since_ms: i64,
        limit: u32,
    ) -> Result<Vec<Enforcement>> {
        self.read(|conn| {
            // The rule references of a pack: `pack.` then the rule's name
            // (compared as a prefix: `_` in a name is not a wildcard).
            enforcements_where(
                conn,
                // Triggers are evaluated in id order, so every trigger from
                // the first the candidate saw went through its rules too.
                "WITH start AS (
                     SELECT min(trigger_instance_id) AS id FROM enforcements
                     WHERE candidate = ?2 AND substr(rule_ref, 1, length(?1) + 1) = ?1 || '.'
                 )
                 SELECT e.id, e.trigger_instance_id, e.rule_ref, e.execution_id, e.state,
                     e.reason, e.at, e.candidate
                 FROM enforcements e, start
                 WHERE e.trigger_instance_id >= start.id AND e.at >= ?3
                     AND substr(e.rule_ref, 1, length(?1) + 1) = ?1 || '.'
                     AND (e.candidate IS NULL OR e.candidate = ?2)
                 ORDER BY e.id DESC LIMIT ?4",
                rusqlite::params![pack, version, since_ms, limit.max(1)],
            )
        })
    }

    fn rule_state(&self, rule_ref: &str) -> Result<Option<String>> {
        use rusqlite::OptionalExtension;
        self.read(|conn| {
            Ok(conn
                .prepare_cached("SELECT state FROM rule_state WHERE rule_ref = ?1")?
                .query_row([rule_ref], |r| r.get(0))
                .optional()?)
        })
    }

    fn open_request(&self, id: ExecutionId) -> Result<Option<(ExecutionRequest, String)>> {
        self.read(|conn| {
            Ok(conn
                .prepare_cached(
                    "SELECT action, parameters, dry_run, actor, enforcement_id, requested_at, state,
                        pack_version
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
                        r.get::<_, Option<String>>(7)?,
                    ))
                })
                .optional()?)
        })?
        .map(
            |(
                action,
                parameters,
                dry_run,
                actor,
                enforcement_id,
                requested_at_ms,
                state,
                pack_version,
            )| {
                Ok((
                    ExecutionRequest {
                        id,
                        action,
                        parameters: serde_json::from_str(&parameters)?,
                        dry_run,
                        actor,
                        enforcement_id,
                        requested_at_ms,
                        pack_version,
                    },
                    state,
                ))
            },
        )
        .transpose()
    }
}

/// Inserts a trigger instance as `pending` (also used by timers, inside
/// the transaction that records the slot).
pub(crate) fn insert_trigger(conn: &Connection, t: &TriggerInstance) -> Result<()> {
    conn.prepare_cached(
        "INSERT INTO trigger_instances (id, trigger_type, payload, source, received_at, state,
            trigger_parameters, shadow) VALUES (?1, ?2, ?3, ?4, ?5, 'pending', ?6, ?7)",
    )?
    .execute(params![
        t.id,
        t.trigger_type,
        t.payload.to_string(),
        t.source,
        t.received_at_ms,
        t.trigger_parameters
            .as_ref()
            .map(serde_json::to_string)
            .transpose()?,
        t.shadow
    ])?;
    Ok(())
}

/// Stores a finished execution, marks its request `done` and releases its
/// semaphore slots (inside the caller's transaction).
pub(crate) fn finish(conn: &Connection, exec: &Execution) -> Result<()> {
    super::executions::insert(conn, exec)?;
    let id = exec.id.to_string();
    conn.prepare_cached("UPDATE execution_requests SET state = 'done' WHERE id = ?1")?
        .execute([&id])?;
    release_slots(conn, &id)
}

/// Frees the policy semaphore slots request `id` holds (it ended, or goes
/// back to the queue, whose next claim takes them afresh).
pub(crate) fn release_slots(conn: &Connection, id: &str) -> Result<()> {
    conn.prepare_cached("DELETE FROM semaphore_slots WHERE request_id = ?1")?
        .execute([id])?;
    Ok(())
}

/// One trigger's enforcements, their requests and its `processed` state.
fn record(
    conn: &Connection,
    trigger_id: &str,
    enforcements: &[Enforcement],
    requests: &[ExecutionRequest],
) -> Result<()> {
    for r in requests {
        insert_request(conn, r)?;
    }
    let mut insert = conn.prepare_cached(
        "INSERT INTO enforcements (id, trigger_instance_id, rule_ref, execution_id,
            state, reason, at, candidate) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
    )?;
    for e in enforcements {
        insert.execute(params![
            e.id,
            e.trigger_instance_id,
            e.rule_ref,
            e.execution_id.map(|x| x.to_string()),
            e.state.as_str(),
            e.reason,
            e.at_ms,
            e.candidate
        ])?;
    }
    conn.prepare_cached(
        "UPDATE trigger_instances SET state = 'processed', matched = ?2 WHERE id = ?1",
    )?
    .execute(params![
        trigger_id,
        enforcements
            .iter()
            .filter(|e| e.candidate.is_none())
            .count() as i64
    ])?;
    Ok(())
}

fn insert_request(conn: &Connection, r: &ExecutionRequest) -> Result<()> {
    conn.prepare_cached(
        "INSERT INTO execution_requests (id, action, parameters, dry_run, actor, enforcement_id,
            state, requested_at, pack_version) VALUES (?1, ?2, ?3, ?4, ?5, ?6, 'requested', ?7, ?8)",
    )?
    .execute(params![
        r.id.to_string(),
        r.action,
        r.parameters.to_string(),
        r.dry_run,
        r.actor,
        r.enforcement_id,
        r.requested_at_ms,
        r.pack_version
    ])?;
    Ok(())
}

/// Each (instance, state) row, with the instance's enforcements.
fn with_enforcements(
    conn: &Connection,
    rows: impl Iterator<Item = rusqlite::Result<(Result<TriggerInstance>, String)>>,
) -> Result<Vec<TriggerSummary>> {
    let mut out = Vec::new();
    for row in rows {
        let (instance, state) = row?;
        let instance = instance?;
        let enforcements = enforcements_of(conn, &instance.id)?;
        out.push(TriggerSummary {
            instance,
            state,
            enforcements,
        });
    }
    Ok(out)
}

/// A trigger instance's enforcements, the first 1,000 (one per rule that
/// matched: more is not a real installation's).
fn enforcements_of(conn: &Connection, trigger_id: &str) -> Result<Vec<Enforcement>> {
    enforcements_where(
        conn,
        "SELECT id, trigger_instance_id, rule_ref, execution_id, state, reason, at, candidate
         FROM enforcements WHERE trigger_instance_id = ?1 ORDER BY id LIMIT 1000",
        rusqlite::params![trigger_id],
    )
}

/// The enforcements a query selects (its columns in [`enforcements_of`]'s
/// order).
fn enforcements_where(
    conn: &Connection,
    sql: &str,
    params: impl rusqlite::Params,
) -> Result<Vec<Enforcement>> {
    let mut stmt = conn.prepare_cached(sql)?;
    let rows = stmt.query_map(params, |r| {
        Ok((
            r.get::<_, String>(0)?,
            r.get::<_, String>(1)?,
            r.get::<_, String>(2)?,
            r.get::<_, Option<String>>(3)?,
            r.get::<_, String>(4)?,
            r.get::<_, Option<String>>(5)?,
            r.get::<_, i64>(6)?,
            r.get::<_, Option<String>>(7)?,
        ))
    })?;
    rows.map(|row| {
        let (id, trigger_instance_id, rule_ref, exec, state, reason, at_ms, candidate) = row?;
        Ok(Enforcement {
            id,
            trigger_instance_id,
            rule_ref,
            execution_id: exec.map(|e| parse_id(&e)).transpose()?,
            state: EnforcementState::parse(&state)
                .ok_or_else(|| StoreError::Corrupt(format!("enforcement state {state:?}")))?,
            reason,
            at_ms,
            candidate,
        })
    })
    .collect()
}

fn trigger_from_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<Result<TriggerInstance>> {
    let payload: String = r.get(2)?;
    let parameters: Option<String> = r.get(5)?;
    let (id, trigger_type, source, received_at_ms) = (r.get(0)?, r.get(1)?, r.get(3)?, r.get(4)?);
    let shadow = r.get(6)?;
    Ok((|| {
        Ok(TriggerInstance {
            id,
            trigger_type,
            payload: serde_json::from_str(&payload)?,
            source,
            received_at_ms,
            trigger_parameters: parameters.map(|p| serde_json::from_str(&p)).transpose()?,
            shadow,
        })
    })())
}

pub(crate) fn request_from_row(
    r: &rusqlite::Row<'_>,
) -> rusqlite::Result<Result<ExecutionRequest>> {
    let id: String = r.get(0)?;
    let parameters: String = r.get(2)?;
    let (action, dry_run, actor, enforcement_id, requested_at_ms, pack_version) = (
        r.get(1)?,
        r.get(3)?,
        r.get(4)?,
        r.get(5)?,
        r.get(6)?,
        r.get(7)?,
    );
    Ok((|| {
        Ok(ExecutionRequest {
            id: parse_id(&id)?,
            action,
            parameters: serde_json::from_str(&parameters)?,
            dry_run,
            actor,
            enforcement_id,
            requested_at_ms,
            pack_version,
        })
    })())
}

fn parse_id(s: &str) -> Result<ExecutionId> {
    s.parse()
        .map_err(|e: drover_core::IdError| StoreError::Corrupt(e.to_string()))
}

#[cfg(test)]
mod tests {
    use drover_core::{EnforcementState, ExecStatus};
    use serde_json::json;

    use super::*;

    fn store() -> (tempfile::TempDir, SqliteStore) {
        let dir = tempfile::tempdir().unwrap();
        let s = SqliteStore::open(&dir.path().join("d.db")).unwrap();
        (dir, s)
    }

    fn trigger(id: &str) -> TriggerInstance {
        TriggerInstance {
            id: id.into(),
            trigger_type: "batch.no_contact".into(),
            payload: json!({"node": "b7s01"}),
            source: "webhook".into(),
            received_at_ms: 1,
            trigger_parameters: None,
            shadow: false,
        }
    }

    #[test]
    fn a_trigger_flows_from_pending_to_an_executed_request() {
        let (_d, s) = store();
        s.insert_trigger(trigger("01A")).unwrap().wait().unwrap();
        let pending = s.pending_triggers(None, 10).unwrap();
        assert_eq!(pending.len(), 1);
        let exec_id = ExecutionId::new();
        let req = ExecutionRequest {
            id: exec_id,
            action: "core.noop".into(),
            parameters: json!({}),
            dry_run: false,
            actor: "rule:batch.r".into(),
            enforcement_id: Some("E1".into()),
            requested_at_ms: 2,
            pack_version: None,
        };
        let enf = Enforcement {
            id: "E1".into(),
            trigger_instance_id: "01A".into(),
            rule_ref: "batch.r".into(),
            execution_id: Some(exec_id),
            state: EnforcementState::Scheduled,
            reason: None,
            at_ms: 2,
            candidate: None,
        };
        s.record_enforcements(
            "01A".into(),
            vec![enf],
            vec![req.clone()],
            Some("{}".into()),
        )
        .unwrap()
        .wait()
        .unwrap();
        assert!(s.pending_triggers(None, 10).unwrap().is_empty());
        assert_eq!(s.rule_state("*").unwrap().as_deref(), Some("{}"));
        assert_eq!(s.claim_requests(10).unwrap(), vec![req.clone()]);
        assert!(
            s.claim_requests(10).unwrap().is_empty(),
            "claimed once only"
        );
        assert_eq!(s.interrupted_requests().unwrap().len(), 1);
        let exec = Execution {
            id: exec_id,
            action: "core.noop".into(),
            pack_version: "0.1.0".into(),
            digest: "sha256:x".into(),
            parameters: json!({}),
            status: ExecStatus::Succeeded,
            result: Some(json!({})),
            error: None,
            dry_run: false,
            plan: None,
            logs: vec![],
            actor: req.actor.clone(),
            started_at_ms: 3,
            finished_at_ms: 4,
            duration_us: 10,
        };
        s.finish_request(exec).unwrap().wait().unwrap();
        assert!(s.interrupted_requests().unwrap().is_empty());
        assert_eq!(s.queue_depth().unwrap(), (0, 0));
        let listed = s.list_triggers(None, None, 10).unwrap();
        assert_eq!(listed[0].state, "processed");
        assert_eq!(listed[0].enforcements[0].execution_id, Some(exec_id));
    }

    #[test]
    fn interrupted_requests_can_be_requeued() {
        let (_d, s) = store();
        let id = ExecutionId::new();
        s.request_execution(ExecutionRequest {
            id,
            action: "core.noop".into(),
            parameters: json!({}),
            dry_run: false,
            actor: "user:t".into(),
            enforcement_id: None,
            requested_at_ms: 1,
            pack_version: None,
        })
        .unwrap();
        assert_eq!(s.claim_requests(5).unwrap().len(), 1);
        s.requeue_requests(vec![id]).unwrap();
        assert_eq!(s.queue_depth().unwrap(), (1, 0));
    }
}
