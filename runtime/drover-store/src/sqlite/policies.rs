//! SQLite: [`PolicyStore`] over the tables of [`crate::policies`].

use crate::policies::*;
use crate::{Pending, Result, SqliteStore};
use drover_core::{ExecStatus, Execution, ExecutionId, ExecutionRequest, now_ms};
use rusqlite::{Connection, OptionalExtension, params};
use std::collections::HashMap;

impl PolicyStore for SqliteStore {
    fn replace_pack_policies(&self, pack: &str, policies: Vec<(String, String)>) -> Result<()> {
        let pack = pack.to_owned();
        self.write(move |conn| {
            replace_in(conn, &pack, &policies)?;
            bump_generation(conn)
        })
    }

    fn put_policy(&self, owner: &str, reference: &str, definition: &str) -> Result<()> {
        let (owner, reference, definition) = (
            owner.to_owned(),
            reference.to_owned(),
            definition.to_owned(),
        );
        self.write(move |conn| {
            conn.execute(
                "INSERT INTO policies (ref, pack, definition, updated_at)
                 VALUES (?1, ?2, ?3, ?4)
                 ON CONFLICT (ref) DO UPDATE SET pack = excluded.pack,
                    definition = excluded.definition, updated_at = excluded.updated_at",
                params![reference, owner, definition, now_ms()],
            )?;
            bump_generation(conn)
        })
    }

    fn delete_policy(&self, owner: &str, reference: &str) -> Result<bool> {
        let (owner, reference) = (owner.to_owned(), reference.to_owned());
        self.write(move |conn| {
            let n = conn.execute(
                "DELETE FROM policies WHERE ref = ?1 AND pack = ?2",
                params![reference, owner],
            )?;
            if n > 0 {
                bump_generation(conn)?;
            }
            Ok(n > 0)
        })
    }

    fn list_policies(&self) -> Result<Vec<StoredPolicy>> {
        self.read(|conn| {
            let mut stmt =
                conn.prepare_cached("SELECT ref, pack, definition FROM policies ORDER BY ref")?;
            let rows = stmt.query_map([], |r| {
                Ok(StoredPolicy {
                    reference: r.get(0)?,
                    pack: r.get(1)?,
                    definition: r.get(2)?,
                })
            })?;
            Ok(rows.collect::<rusqlite::Result<_>>()?)
        })
    }

    fn catalog_generation(&self) -> Result<i64> {
        self.read(|conn| {
            Ok(conn
                .prepare_cached("SELECT generation FROM catalog_generation WHERE id = 1")?
                .query_row([], |r| r.get(0))
                .optional()?
                .unwrap_or(0))
        })
    }

    fn claim_requests_gated(
        &self,
        limit: u32,
        mut gate: Gate,
    ) -> Result<(Vec<ExecutionRequest>, Vec<ExecStatus>)> {
        self.write(move |conn| {
            let now = now_ms();
            let mut counts: HashMap<(String, String), u32> = HashMap::new();
            let mut claimed = Vec::new();
            let mut closed = Vec::new();
            // Queued requests are read a page at a time, so a claim of a few
            // costs a few rows, not the whole backlog; requests waiting on a
            // full semaphore are stepped over, up to SCAN_LIMIT in all.
            let page = limit.clamp(16, 1024);
            let mut after: Option<String> = None;
            let mut scanned = 0u32;
            'pages: while claimed.len() < limit as usize && scanned < SCAN_LIMIT {
                let queued: Vec<ExecutionRequest> = {
                    let mut stmt = conn.prepare_cached(
                        "SELECT id, action, parameters, dry_run, actor, enforcement_id,
                            requested_at, pack_version
                         FROM execution_requests
                         WHERE state = 'requested' AND id > ?3
                            AND (not_before IS NULL OR not_before <= ?1)
                         ORDER BY id LIMIT ?2",
                    )?;
                    let rows = stmt.query_map(
                        params![now, page, after.as_deref().unwrap_or("")],
                        super::events::request_from_row,
                    )?;
                    let mut out = Vec::new();
                    for row in rows {
                        out.push(row??);
                    }
                    out
                };
                let last_page = queued.len() < page as usize;
                scanned += queued.len() as u32;
                after = queued.last().map(|r| r.id.to_string());
                for req in queued {
                    if claimed.len() >= limit as usize {
                        break 'pages;
                    }
                    let needs = match gate(&req) {
                        Ok(needs) => needs,
                        Err(reason) => {
                            close(conn, &req, ExecStatus::Failed, &reason, now)?;
                            closed.push(ExecStatus::Failed);
                            continue;
                        }
                    };
                    let mut full = None;
                    for need in &needs {
                        let held = held(conn, &mut counts, need)?;
                        if held >= need.threshold {
                            full = Some(need);
                            break;
                        }
                    }
                    match full {
                        Some(need) if need.cancel => {
                            let reason = format!(
                                "canceled by policy {}: semaphore {}{} already has {} running \
                             (threshold {})",
                                need.policy,
                                need.semaphore,
                                if need.key.is_empty() {
                                    String::new()
                                } else {
                                    format!(" key {:?}", need.key)
                                },
                                need.threshold,
                                need.threshold
                            );
                            close(conn, &req, ExecStatus::Canceled, &reason, now)?;
                            closed.push(ExecStatus::Canceled);
                        }
                        // Waits in the queue, keeping its place.
                        Some(_) => {}
                        None => {
                            for need in &needs {
                                conn.prepare_cached(
                                    "INSERT INTO semaphore_slots (request_id, semaphore, key)
                                 VALUES (?1, ?2, ?3)",
                                )?
                                .execute(params![
                                    req.id.to_string(),
                                    need.semaphore,
                                    need.key
                                ])?;
                                *counts
                                    .get_mut(&(need.semaphore.clone(), need.key.clone()))
                                    .expect("counted above") += 1;
                            }
                            // Claimed, not started: `started_at` stays empty
                            // until a worker marks a non-idempotent action
                            // started (see `SqliteStore::mark_started`).
                            conn.prepare_cached(
                                "UPDATE execution_requests SET state = 'running', started_at = NULL
                             WHERE id = ?1",
                            )?
                            .execute(params![req.id.to_string()])?;
                            claimed.push(req);
                        }
                    }
                }
                if last_page {
                    break;
                }
            }
            Ok((claimed, closed))
        })
    }

    fn finish_request_retrying(
        &self,
        exec: Execution,
        retry: Option<RetryRule>,
    ) -> Result<Pending<Option<ExecutionId>>> {
        self.write_pipelined(move |conn| {
            let retry_id = match retry.filter(|r| r.on.contains(&exec.status)) {
                Some(rule) => queue_retry(conn, &exec, &rule)?,
                None => None,
            };
            super::events::finish(conn, &exec)?;
            Ok(retry_id)
        })
    }

    fn retry_link(&self, id: ExecutionId) -> Result<RetryLink> {
        self.read(|conn| {
            let row: Option<(Option<String>, i64)> = conn
                .prepare_cached("SELECT retry_of, attempt FROM execution_requests WHERE id = ?1")?
                .query_row([id.to_string()], |r| Ok((r.get(0)?, r.get(1)?)))
                .optional()?;
            let (retry_of, attempt) = row.unwrap_or((None, 0));
            let mut stmt = conn.prepare_cached(
                "SELECT id FROM execution_requests WHERE retry_of = ?1 ORDER BY attempt",
            )?;
            let retries = stmt
                .query_map([id.to_string()], |r| r.get::<_, String>(0))?
                .map(|r| super::executions::parse_id(&r?))
                .collect::<Result<_>>()?;
            Ok(RetryLink {
                retry_of: retry_of
                    .as_deref()
                    .map(super::executions::parse_id)
                    .transpose()?,
                attempt: attempt as u32,
                retries,
            })
        })
    }

    fn semaphore_counts(&self) -> Result<Vec<(String, String, u64)>> {
        self.read(|conn| {
            let mut stmt = conn.prepare_cached(
                "SELECT semaphore, key, count(*) FROM semaphore_slots
                 GROUP BY semaphore, key ORDER BY semaphore, key",
            )?;
            let rows = stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get::<_, i64>(2)?)))?;
            rows.map(|r| {
                let (s, k, n) = r?;
                Ok((s, k, n as u64))
            })
            .collect()
        })
    }
}

/// Requests looked at per claim, at most: bounds a claim's cost when many
/// queued requests wait on full semaphores.
const SCAN_LIMIT: u32 = 10_000;

/// Slots held on a semaphore key: read once per claim, then kept up to
/// date in `counts` as the claim takes slots.
fn held(
    conn: &Connection,
    counts: &mut HashMap<(String, String), u32>,
    need: &SlotNeed,
) -> Result<u32> {
    let k = (need.semaphore.clone(), need.key.clone());
    if let Some(n) = counts.get(&k) {
        return Ok(*n);
    }
    let n: i64 = conn
        .prepare_cached("SELECT count(*) FROM semaphore_slots WHERE semaphore = ?1 AND key = ?2")?
        .query_row(params![need.semaphore, need.key], |r| r.get(0))?;
    counts.insert(k, n as u32);
    Ok(n as u32)
}

/// Closes a queued request that will not run, storing an execution that
/// says why.
fn close(
    conn: &Connection,
    req: &ExecutionRequest,
    status: ExecStatus,
    reason: &str,
    now: i64,
) -> Result<()> {
    super::events::finish(conn, &Execution::closed(req, status, reason, now))
}

fn queue_retry(
    conn: &Connection,
    exec: &Execution,
    rule: &RetryRule,
) -> Result<Option<ExecutionId>> {
    /// parameters, actor, enforcement_id, retry_of, attempt, pack_version
    type Row = (
        String,
        String,
        Option<String>,
        Option<String>,
        i64,
        Option<String>,
    );
    let row: Option<Row> = conn
        .prepare_cached(
            "SELECT parameters, actor, enforcement_id, retry_of, attempt, pack_version
             FROM execution_requests WHERE id = ?1",
        )?
        .query_row([exec.id.to_string()], |r| {
            Ok((
                r.get(0)?,
                r.get(1)?,
                r.get(2)?,
                r.get(3)?,
                r.get(4)?,
                r.get(5)?,
            ))
        })
        .optional()?;
    let Some((parameters, actor, enforcement_id, retry_of, attempt, pack_version)) = row else {
        return Ok(None);
    };
    if attempt as u32 >= rule.max_retries {
        return Ok(None);
    }
    let id = ExecutionId::new();
    let now = now_ms();
    conn.prepare_cached(
        "INSERT INTO execution_requests (id, action, parameters, dry_run, actor, enforcement_id,
            state, requested_at, not_before, retry_of, attempt, pack_version)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, 'requested', ?7, ?8, ?9, ?10, ?11)",
    )?
    .execute(params![
        id.to_string(),
        exec.action,
        parameters,
        exec.dry_run,
        actor,
        enforcement_id,
        now,
        now + rule.delay_ms,
        retry_of.unwrap_or_else(|| exec.id.to_string()),
        attempt + 1,
        pack_version
    ])?;
    Ok(Some(id))
}

/// Replaces the policies of `pack` inside the caller's transaction.
pub(crate) fn replace_in(
    conn: &Connection,
    pack: &str,
    policies: &[(String, String)],
) -> Result<()> {
    conn.execute("DELETE FROM policies WHERE pack = ?1", [pack])?;
    let now = now_ms();
    for (reference, definition) in policies {
        conn.execute(
            "INSERT INTO policies (ref, pack, definition, updated_at)
             VALUES (?1, ?2, ?3, ?4)
             ON CONFLICT (ref) DO UPDATE SET pack = excluded.pack,
                definition = excluded.definition, updated_at = excluded.updated_at",
            params![reference, pack, definition, now],
        )?;
    }
    Ok(())
}

/// Records that the catalog changed (inside the caller's transaction).
pub(crate) fn bump_generation(conn: &Connection) -> Result<()> {
    conn.prepare_cached("UPDATE catalog_generation SET generation = generation + 1 WHERE id = 1")?
        .execute([])?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use crate::prelude::*;
    use serde_json::json;

    use super::*;

    fn store() -> (tempfile::TempDir, SqliteStore) {
        let dir = tempfile::tempdir().unwrap();
        let s = SqliteStore::open(&dir.path().join("d.db")).unwrap();
        (dir, s)
    }

    fn queue(s: &SqliteStore, action: &str, node: &str) -> ExecutionId {
        let id = ExecutionId::new();
        s.request_execution(ExecutionRequest {
            id,
            action: action.into(),
            parameters: json!({"node": node}),
            dry_run: false,
            actor: "user:t".into(),
            enforcement_id: None,
            requested_at_ms: 1,
            pack_version: None,
        })
        .unwrap();
        id
    }

    /// One slot on semaphore `bmc` per node, threshold 1; `cancel` for
    /// action `x.cancel`.
    fn gate() -> Gate {
        Box::new(|req: &ExecutionRequest| {
            let node = req.parameters["node"].as_str().unwrap_or("").to_owned();
            if node == "bad" {
                return Err("no key".into());
            }
            Ok(vec![SlotNeed {
                semaphore: "bmc".into(),
                key: node,
                threshold: 1,
                cancel: req.action == "x.cancel",
                policy: "x.p".into(),
            }])
        })
    }

    fn done(
        s: &SqliteStore,
        id: ExecutionId,
        status: ExecStatus,
        retry: Option<RetryRule>,
    ) -> Option<ExecutionId> {
        let exec = Execution {
            id,
            action: "x.a".into(),
            pack_version: "1".into(),
            digest: "d".into(),
            parameters: json!({}),
            status,
            result: None,
            error: None,
            dry_run: false,
            plan: None,
            logs: vec![],
            actor: "user:t".into(),
            started_at_ms: 1,
            finished_at_ms: 2,
            duration_us: 1,
        };
        s.finish_request_retrying(exec, retry)
            .unwrap()
            .wait()
            .unwrap()
    }

    #[test]
    fn a_full_semaphore_keeps_requests_queued_in_order_per_key() {
        let (_d, s) = store();
        let a1 = queue(&s, "x.a", "n1");
        let a2 = queue(&s, "x.b", "n1");
        let b1 = queue(&s, "x.a", "n2");
        let (claimed, closed) = s.claim_requests_gated(10, gate()).unwrap();
        let ids: Vec<_> = claimed.iter().map(|r| r.id).collect();
        assert_eq!(ids, vec![a1, b1], "one per node; n1's second waits");
        assert!(closed.is_empty());
        assert_eq!(
            s.semaphore_counts().unwrap(),
            vec![
                ("bmc".into(), "n1".into(), 1),
                ("bmc".into(), "n2".into(), 1)
            ]
        );
        assert!(s.claim_requests_gated(10, gate()).unwrap().0.is_empty());
        done(&s, a1, ExecStatus::Succeeded, None);
        let (claimed, _) = s.claim_requests_gated(10, gate()).unwrap();
        assert_eq!(claimed.iter().map(|r| r.id).collect::<Vec<_>>(), vec![a2]);
        // Re-queueing (recovery) releases the slot too.
        s.requeue_requests(vec![a2]).unwrap();
        assert_eq!(
            s.semaphore_counts().unwrap(),
            vec![("bmc".into(), "n2".into(), 1)]
        );
    }

    #[test]
    fn cancel_closes_the_excess_and_a_gate_error_fails_it() {
        let (_d, s) = store();
        let first = queue(&s, "x.cancel", "n1");
        let second = queue(&s, "x.cancel", "n1");
        let bad = queue(&s, "x.a", "bad");
        let (claimed, closed) = s.claim_requests_gated(10, gate()).unwrap();
        assert_eq!(claimed.len(), 1);
        assert_eq!(claimed[0].id, first);
        assert_eq!(closed, vec![ExecStatus::Canceled, ExecStatus::Failed]);
        let e = s.get_execution(second).unwrap().unwrap();
        assert_eq!(e.status, ExecStatus::Canceled);
        assert!(e.error.unwrap().contains("semaphore bmc key \"n1\""));
        let e = s.get_execution(bad).unwrap().unwrap();
        assert_eq!(e.error.as_deref(), Some("no key"));
        assert_eq!(s.queue_depth().unwrap(), (0, 1));
    }

    #[test]
    fn retries_are_linked_delayed_and_bounded() {
        let (_d, s) = store();
        let rule = RetryRule {
            on: vec![ExecStatus::Failed],
            max_retries: 2,
            delay_ms: 60_000,
        };
        let first = queue(&s, "x.a", "n");
        s.claim_requests(1).unwrap();
        // A timeout is not in `on`: no retry.
        assert_eq!(
            done(&s, first, ExecStatus::Timeout, Some(rule.clone())),
            None
        );

        let first = queue(&s, "x.a", "n");
        s.claim_requests(1).unwrap();
        let r1 = done(&s, first, ExecStatus::Failed, Some(rule.clone())).unwrap();
        // Not due yet.
        assert!(s.claim_requests(5).unwrap().is_empty());
        s.write(move |c| {
            c.execute("UPDATE execution_requests SET not_before = 0", [])?;
            Ok(())
        })
        .unwrap();
        let claimed = s.claim_requests(5).unwrap();
        assert_eq!(claimed.len(), 1);
        assert_eq!(claimed[0].id, r1);
        assert_eq!(claimed[0].parameters, json!({"node": "n"}));
        let r2 = done(&s, r1, ExecStatus::Failed, Some(rule.clone())).unwrap();
        s.write(move |c| {
            c.execute("UPDATE execution_requests SET not_before = 0", [])?;
            Ok(())
        })
        .unwrap();
        s.claim_requests(5).unwrap();
        assert_eq!(
            done(&s, r2, ExecStatus::Failed, Some(rule)),
            None,
            "2 retries at most"
        );
        let link = s.retry_link(first).unwrap();
        assert_eq!(link.retries, vec![r1, r2]);
        assert_eq!(link.attempt, 0);
        let link = s.retry_link(r2).unwrap();
        assert_eq!((link.retry_of, link.attempt), (Some(first), 2));
    }

    #[test]
    fn catalog_changes_bump_the_generation() {
        let (_d, s) = store();
        let g0 = s.catalog_generation().unwrap();
        s.replace_pack_policies("p", vec![("p.x".into(), "name: x".into())])
            .unwrap();
        s.replace_pack_rules("p", vec![("p.r".into(), "name: r".into(), true)])
            .unwrap();
        s.set_rule_enabled("p.r", false, &"user:t".into()).unwrap();
        assert_eq!(s.catalog_generation().unwrap(), g0 + 3);
        assert_eq!(s.list_policies().unwrap()[0].reference, "p.x");
    }
}
