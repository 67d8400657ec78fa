//! SQLite: [`RetentionStore`] over the tables of [`crate::retention`].

use crate::retention::*;
use crate::{Result, SqliteStore};
use rusqlite::{Connection, OptionalExtension, params};

impl RetentionStore for SqliteStore {
    fn retention(&self) -> Result<Vec<RetentionSetting>> {
        let stored: Vec<(String, Option<i64>, Option<i64>, String)> = self.read(|conn| {
            let mut stmt = conn
                .prepare_cached("SELECT kind, max_age_ms, max_count, updated_by FROM retention")?;
            let rows = stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))?;
            Ok(rows.collect::<rusqlite::Result<_>>()?)
        })?;
        Ok(History::ALL
            .into_iter()
            .map(
                |kind| match stored.iter().find(|(name, ..)| name == kind.name()) {
                    Some((_, age, count, by)) => RetentionSetting {
                        kind,
                        keep: Keep {
                            max_age_ms: *age,
                            max_count: count.map(|c| c.max(0) as u64),
                        },
                        is_default: false,
                        updated_by: Some(by.clone()),
                    },
                    None => RetentionSetting {
                        kind,
                        keep: kind.default_keep(),
                        is_default: true,
                        updated_by: None,
                    },
                },
            )
            .collect())
    }

    fn set_retention(&self, kind: History, keep: Option<Keep>, actor: &str) -> Result<()> {
        let actor = actor.to_owned();
        let now = drover_core::now_ms();
        self.write(move |conn| {
            match keep {
                None => conn.execute("DELETE FROM retention WHERE kind = ?1", [kind.name()])?,
                Some(keep) => conn.execute(
                    "INSERT INTO retention (kind, max_age_ms, max_count, updated_at, updated_by)
                     VALUES (?1, ?2, ?3, ?4, ?5)
                     ON CONFLICT (kind) DO UPDATE SET max_age_ms = excluded.max_age_ms,
                         max_count = excluded.max_count, updated_at = excluded.updated_at,
                         updated_by = excluded.updated_by",
                    params![
                        kind.name(),
                        keep.max_age_ms,
                        keep.max_count.map(|c| i64::try_from(c).unwrap_or(i64::MAX)),
                        now,
                        actor
                    ],
                )?,
            };
            Ok(())
        })
    }

    fn gc_sweep(&self, kind: History, keep: Keep, now_ms: i64) -> Result<Sweep> {
        let due = if keep.is_forever() {
            Due::Nothing
        } else {
            self.read(|conn| due(conn, kind, keep, now_ms))?
        };
        Ok(Sweep {
            kind,
            done: matches!(due, Due::Nothing),
            due,
            cursor: String::new(),
        })
    }

    fn gc_batch(&self, sweep: &mut Sweep, batch: usize) -> Result<Tally> {
        if sweep.done {
            return Ok(Tally::default());
        }
        let mut owned = sweep.clone();
        let (tally, owned) = self.write(move |conn| {
            let tally = step(conn, &mut owned, batch, true)?;
            Ok((tally, owned))
        })?;
        *sweep = owned;
        Ok(tally)
    }

    fn gc_preview(&self, kind: History, keep: Keep, now_ms: i64) -> Result<Tally> {
        let mut sweep = self.gc_sweep(kind, keep, now_ms)?;
        let mut total = Tally::default();
        while !sweep.done {
            total += self.read(|conn| step(conn, &mut sweep, 1000, false))?;
        }
        Ok(total)
    }

    fn gc_expired(&self, now_ms: i64) -> Result<u64> {
        self.write(move |conn| {
            let kv = conn.execute(
                "DELETE FROM kv WHERE (scope, key) IN (SELECT scope, key FROM kv
                     WHERE expires_at IS NOT NULL AND expires_at <= ?1 LIMIT 1000)",
                [now_ms],
            )?;
            let sessions = conn.execute("DELETE FROM sessions WHERE expires_at <= ?1", [now_ms])?;
            let signatures = conn.execute(
                "DELETE FROM webhook_signatures WHERE expires_at < ?1",
                [now_ms / 1000],
            )?;
            Ok((kv + sessions + signatures) as u64)
        })
    }

    fn incremental_vacuum(&self, pages: u32) -> Result<Option<u64>> {
        self.write(move |conn| {
            let mode: i64 = conn.query_row("PRAGMA auto_vacuum", [], |r| r.get(0))?;
            if mode != 2 {
                return Ok(None);
            }
            let mut stmt = conn.prepare(&format!("PRAGMA incremental_vacuum({pages})"))?;
            let mut rows = stmt.query([])?;
            while rows.next()?.is_some() {}
            let free: i64 = conn.query_row("PRAGMA freelist_count", [], |r| r.get(0))?;
            Ok(Some(free.max(0) as u64))
        })
    }

    fn db_size(&self) -> Result<(u64, u64)> {
        self.read(|conn| {
            let size: i64 = conn.query_row("PRAGMA page_size", [], |r| r.get(0))?;
            let pages: i64 = conn.query_row("PRAGMA page_count", [], |r| r.get(0))?;
            let free: i64 = conn.query_row("PRAGMA freelist_count", [], |r| r.get(0))?;
            Ok(((size * pages).max(0) as u64, (size * free).max(0) as u64))
        })
    }

    fn vacuum(&self) -> Result<()> {
        let conn = super::open_connection(self.path(), false)?;
        conn.pragma_update(None, "auto_vacuum", "INCREMENTAL")?;
        conn.execute_batch("VACUUM")?;
        Ok(())
    }
}

/// Resolves which rows of `kind` are due under `keep` at `now_ms`.
fn due(conn: &Connection, kind: History, keep: Keep, now_ms: i64) -> Result<Due> {
    let cutoff = keep.cutoff(now_ms);
    let ids = |count_below: Option<String>| {
        let time_end = cutoff.map(drover_core::id_floor);
        let scan_end = count_below.iter().cloned().chain(time_end).max();
        Due::Ids {
            cutoff,
            count_below,
            scan_end: scan_end.unwrap_or_default(),
        }
    };
    // "~" sorts after every ULID: with a count of 0 every row goes.
    let top = || "~".to_owned();
    Ok(match kind {
        History::Executions => ids(nth_newest(
            conn,
            "SELECT id FROM executions INDEXED BY executions_roots WHERE parent IS NULL
             ORDER BY id DESC LIMIT 1 OFFSET ?1",
            keep.max_count,
            top(),
            String::new(),
        )?),
        History::Triggers => ids(nth_newest(
            conn,
            "SELECT id FROM trigger_instances ORDER BY id DESC LIMIT 1 OFFSET ?1",
            keep.max_count,
            top(),
            String::new(),
        )?),
        History::NodeHistory | History::Audit => {
            let table = if kind == History::Audit {
                "audit"
            } else {
                "node_history"
            };
            // Both are appended in time order: the first row young enough
            // bounds the old ones.
            let by_age = match cutoff {
                None => None,
                Some(c) => Some(
                    conn.query_row(
                        &format!("SELECT id FROM {table} WHERE at >= ?1 ORDER BY id LIMIT 1"),
                        [c],
                        |r| r.get::<_, i64>(0),
                    )
                    .optional()?
                    .unwrap_or(i64::MAX),
                ),
            };
            let by_count = nth_newest(
                conn,
                &format!("SELECT id FROM {table} ORDER BY id DESC LIMIT 1 OFFSET ?1"),
                keep.max_count,
                i64::MAX,
                i64::MIN,
            )?;
            Due::Below(by_age.into_iter().chain(by_count).max().unwrap_or(i64::MIN))
        }
        History::FleetRequests => {
            let by_count = nth_newest(
                conn,
                &format!(
                    "SELECT updated_at FROM fleet_requests WHERE {FINISHED}
                     ORDER BY updated_at DESC LIMIT 1 OFFSET ?1"
                ),
                keep.max_count,
                i64::MAX,
                i64::MIN,
            )?;
            Due::UpdatedBefore(cutoff.into_iter().chain(by_count).max().unwrap_or(i64::MIN))
        }
    })
}

/// Under a count of `max_count`, the key of its oldest kept row (`sql`
/// orders newest first and skips `?1` rows): rows below it go. `all` when
/// the count is 0, `nothing` when fewer rows exist; `None` without a count.
fn nth_newest<T: rusqlite::types::FromSql>(
    conn: &Connection,
    sql: &str,
    max_count: Option<u64>,
    all: T,
    nothing: T,
) -> Result<Option<T>> {
    Ok(match max_count {
        None => None,
        Some(0) => Some(all),
        Some(n) => Some(
            conn.query_row(sql, [i64::try_from(n - 1).unwrap_or(i64::MAX)], |r| {
                r.get::<_, T>(0)
            })
            .optional()?
            .unwrap_or(nothing),
        ),
    })
}

/// A fleet request that is over: nothing will act on it again. One in
/// intervention is over once its node has left intervention.
const FINISHED: &str = "(status IN ('done', 'denied', 'cancelled') OR (status = 'intervention'
     AND NOT EXISTS (SELECT 1 FROM nodes n WHERE n.name = fleet_requests.node
                     AND n.state = 'intervention')))";

/// One batch of a sweep; deletes only when `apply`.
fn step(conn: &Connection, sweep: &mut Sweep, batch: usize, apply: bool) -> Result<Tally> {
    let limit = i64::try_from(batch).unwrap_or(i64::MAX);
    let mut tally = Tally::default();
    match &sweep.due {
        Due::Nothing => sweep.done = true,
        Due::Ids {
            cutoff,
            count_below,
            scan_end,
        } => {
            let sql = match sweep.kind {
                History::Executions => {
                    "SELECT id, finished_at FROM executions INDEXED BY executions_roots
                     WHERE parent IS NULL AND id > ?1 AND id < ?2 ORDER BY id LIMIT ?3"
                }
                _ => {
                    "SELECT id, received_at FROM trigger_instances
                     WHERE id > ?1 AND id < ?2 ORDER BY id LIMIT ?3"
                }
            };
            let rows: Vec<(String, i64)> = conn
                .prepare_cached(sql)?
                .query_map(params![sweep.cursor, scan_end, limit], |r| {
                    Ok((r.get(0)?, r.get(1)?))
                })?
                .collect::<rusqlite::Result<_>>()?;
            sweep.done = rows.len() < batch;
            for (id, ended_at) in rows {
                let by_count = count_below.as_ref().is_some_and(|b| id < *b);
                let by_age = cutoff.is_some_and(|c| ended_at < c);
                if by_count || by_age {
                    tally += match sweep.kind {
                        History::Executions => execution_tree(conn, &id, apply)?,
                        _ => trigger_instance(conn, &id, apply)?,
                    };
                }
                sweep.cursor = id;
            }
        }
        Due::Below(bound) => {
            let table = if sweep.kind == History::Audit {
                "audit"
            } else {
                "node_history"
            };
            let n = if apply {
                conn.execute(
                    &format!(
                        "DELETE FROM {table} WHERE id IN
                         (SELECT id FROM {table} WHERE id < ?1 ORDER BY id LIMIT ?2)"
                    ),
                    params![bound, limit],
                )? as u64
            } else {
                conn.query_row(
                    &format!("SELECT count(*) FROM {table} WHERE id < ?1"),
                    [bound],
                    |r| r.get::<_, i64>(0),
                )?
                .max(0) as u64
            };
            sweep.done = !apply || n < batch as u64;
            tally.rows = n;
        }
        Due::UpdatedBefore(bound) => {
            if apply {
                let n = conn.execute(
                    &format!(
                        "DELETE FROM fleet_requests WHERE id IN (SELECT id FROM fleet_requests
                         WHERE updated_at < ?1 AND {FINISHED} ORDER BY updated_at LIMIT ?2)"
                    ),
                    params![bound, limit],
                )? as u64;
                sweep.done = n < batch as u64;
                tally.rows = n;
            } else {
                let (due, open): (i64, i64) = conn.query_row(
                    &format!(
                        "SELECT count(*) FILTER (WHERE {FINISHED}),
                                count(*) FILTER (WHERE NOT {FINISHED})
                         FROM fleet_requests WHERE updated_at < ?1"
                    ),
                    [bound],
                    |r| Ok((r.get(0)?, r.get(1)?)),
                )?;
                sweep.done = true;
                tally.rows = due.max(0) as u64;
                tally.in_use = open.max(0) as u64;
            }
        }
    }
    Ok(tally)
}

/// A top-level execution and everything under it (children of workflows,
/// to any depth), unless something in that tree is still needed.
fn execution_tree(conn: &Connection, root: &str, apply: bool) -> Result<Tally> {
    let tree: Vec<String> = conn
        .prepare_cached(
            "WITH RECURSIVE tree(id) AS (
                 SELECT ?1
                 UNION ALL
                 SELECT e.id FROM executions e JOIN tree t ON e.parent = t.id)
             SELECT id FROM tree",
        )?
        .query_map([root], |r| r.get(0))?
        .collect::<rusqlite::Result<_>>()?;
    let in_use = conn
        .prepare_cached(
            "SELECT EXISTS (SELECT 1 FROM inquiries WHERE root = ?1 AND state = 'pending')",
        )?
        .query_row([root], |r| r.get::<_, bool>(0))?;
    let mut needed = conn.prepare_cached(
        "SELECT EXISTS (SELECT 1 FROM workflow_runs WHERE id = ?1 AND finished = 0)
             OR EXISTS (SELECT 1 FROM execution_requests WHERE id = ?1 AND state != 'done')
             OR EXISTS (SELECT 1 FROM execution_requests WHERE retry_of = ?1 AND state != 'done')
             OR EXISTS (SELECT 1 FROM fleet_requests WHERE execution_id = ?1
                        AND status IN ('queued', 'active'))",
    )?;
    let rows = tree.len() as u64;
    if in_use {
        return Ok(Tally::kept(rows));
    }
    for id in &tree {
        if needed.query_row([id], |r| r.get::<_, bool>(0))? {
            return Ok(Tally::kept(rows));
        }
    }
    if apply {
        conn.prepare_cached("DELETE FROM inquiries WHERE root = ?1")?
            .execute([root])?;
        for id in &tree {
            for sql in [
                "DELETE FROM executions WHERE id = ?1",
                "DELETE FROM workflow_runs WHERE id = ?1",
                "DELETE FROM workflow_state_parts WHERE run = ?1",
                "DELETE FROM execution_requests WHERE id = ?1",
            ] {
                conn.prepare_cached(sql)?.execute([id])?;
            }
        }
    }
    Ok(Tally::gone(rows))
}

/// A trigger instance and its enforcements, once the rules have seen it
/// and no execution it asked for still waits in the queue.
fn trigger_instance(conn: &Connection, id: &str, apply: bool) -> Result<Tally> {
    let (pending, waiting, enforcements): (bool, bool, i64) = conn
        .prepare_cached(
            "SELECT t.state != 'processed',
                    EXISTS (SELECT 1 FROM enforcements en
                            JOIN execution_requests r ON r.id = en.execution_id
                            WHERE en.trigger_instance_id = t.id AND r.state != 'done'),
                    (SELECT count(*) FROM enforcements WHERE trigger_instance_id = t.id)
             FROM trigger_instances t WHERE t.id = ?1",
        )?
        .query_row([id], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?;
    let rows = 1 + enforcements.max(0) as u64;
    if pending || waiting {
        return Ok(Tally::kept(rows));
    }
    if apply {
        conn.prepare_cached("DELETE FROM enforcements WHERE trigger_instance_id = ?1")?
            .execute([id])?;
        conn.prepare_cached("DELETE FROM trigger_instances WHERE id = ?1")?
            .execute([id])?;
    }
    Ok(Tally::gone(rows))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::prelude::*;
    use drover_core::id_floor;

    const NOW: i64 = 1_800_000_000_000;
    const OLD: i64 = NOW - 40 * DAY_MS;
    const YOUNG: i64 = NOW - DAY_MS;

    fn store() -> (tempfile::TempDir, SqliteStore) {
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteStore::open(&dir.path().join("d.db")).unwrap();
        (dir, store)
    }

    fn sql(store: &SqliteStore, sql: &'static str) {
        store.write(move |c| Ok(c.execute_batch(sql)?)).unwrap();
    }

    /// An execution made and ended at `at` (ids of distinct instants differ).
    fn execution(store: &SqliteStore, at: i64, parent: Option<&str>) -> String {
        let id = id_floor(at);
        let (row, parent) = (id.clone(), parent.map(str::to_owned));
        store
            .write(move |c| {
                c.execute(
                    "INSERT INTO executions (id, action, pack_version, digest, parameters, status,
                         dry_run, logs, actor, started_at, finished_at, duration_us, parent)
                     VALUES (?1, 'core.echo', '1', 'd', '{}', 'succeeded', 0, '[]', 'cli', ?2, ?2,
                         1, ?3)",
                    params![row, at, parent],
                )?;
                Ok(())
            })
            .unwrap();
        id
    }

    fn count(store: &SqliteStore, table: &str) -> i64 {
        let sql = format!("SELECT count(*) FROM {table}");
        store
            .read(|c| Ok(c.query_row(&sql, [], |r| r.get(0))?))
            .unwrap()
    }

    fn collect(store: &SqliteStore, kind: History, keep: Keep, batch: usize) -> Tally {
        let mut sweep = store.gc_sweep(kind, keep, NOW).unwrap();
        let mut total = Tally::default();
        while !sweep.is_done() {
            total += store.gc_batch(&mut sweep, batch).unwrap();
        }
        total
    }

    fn days(n: i64) -> Keep {
        Keep {
            max_age_ms: Some(n * DAY_MS),
            max_count: None,
        }
    }

    #[test]
    fn an_old_execution_goes_with_its_workflow_tree_and_a_young_one_stays() {
        let (_d, store) = store();
        let root = execution(&store, OLD, None);
        let child = execution(&store, OLD + 1, Some(&root));
        let grandchild = execution(&store, OLD + 2, Some(&child));
        let young = execution(&store, YOUNG, None);
        let (r, c) = (root.clone(), child.clone());
        store
            .write(move |conn| {
                for run in [&r, &c] {
                    conn.execute(
                        "INSERT INTO workflow_runs (id, action, parameters, dry_run, actor,
                             started_at, state, finished, updated_at)
                         VALUES (?1, 'p.w', '{}', 0, 'cli', 0, '{}', 1, 0)",
                        [run],
                    )?;
                    conn.execute(
                        "INSERT INTO workflow_state_parts (run, list, idx, value)
                         VALUES (?1, '/contexts', 0, '{}')",
                        [run],
                    )?;
                }
                Ok(())
            })
            .unwrap();

        let preview = store
            .gc_preview(History::Executions, days(30), NOW)
            .unwrap();
        assert_eq!(preview, Tally { rows: 3, in_use: 0 });
        assert_eq!(count(&store, "executions"), 4, "a preview deletes nothing");

        // A batch of one root: the whole tree goes in one write.
        let tally = collect(&store, History::Executions, days(30), 1);
        assert_eq!(tally, Tally { rows: 3, in_use: 0 });
        let left: Vec<String> = store
            .read(|c| {
                let mut s = c.prepare("SELECT id FROM executions")?;
                let ids = s.query_map([], |r| r.get(0))?;
                Ok(ids.collect::<rusqlite::Result<_>>()?)
            })
            .unwrap();
        assert_eq!(left, vec![young]);
        assert_eq!(count(&store, "workflow_runs"), 0);
        assert_eq!(count(&store, "workflow_state_parts"), 0);
        let _ = grandchild;
    }

    #[test]
    fn nothing_a_run_an_inquiry_a_retry_or_a_node_request_needs_is_deleted() {
        let (_d, store) = store();
        // A workflow whose sub-workflow is still running (its root ended
        // long ago: a crash left it, or it is resuming).
        let running_root = execution(&store, OLD, None);
        let sub = execution(&store, OLD + 1, Some(&running_root));
        let inquiring = execution(&store, OLD + 2, None);
        let retried = execution(&store, OLD + 3, None);
        let node_request = execution(&store, OLD + 4, None);
        let free = execution(&store, OLD + 5, None);
        let ids = [sub, inquiring, retried, node_request];
        store
            .write(move |c| {
                let [sub, inquiring, retried, node_request] = &ids;
                c.execute(
                    "INSERT INTO workflow_runs (id, action, parameters, dry_run, actor,
                         started_at, state, finished, updated_at)
                     VALUES (?1, 'p.w', '{}', 0, 'cli', 0, '{}', 0, 0)",
                    [sub],
                )?;
                c.execute(
                    "INSERT INTO inquiries (id, run_id, root, action, task, route, schema, roles,
                         ttl_s, created_at, expires_at, state)
                     VALUES ('q', ?1, ?1, 'p.w', 'ask', 0, '{}', '[]', 60, 0, 0, 'pending')",
                    [inquiring],
                )?;
                c.execute(
                    "INSERT INTO execution_requests (id, action, parameters, dry_run, actor, state,
                         requested_at, retry_of)
                     VALUES ('retry', 'p.a', '{}', 0, 'cli', 'requested', 0, ?1)",
                    [retried],
                )?;
                c.execute(
                    "INSERT INTO fleet_requests (id, node, kind, reason, execution_id, status,
                         created_at)
                     VALUES ('fr', 'n1', 'reboot', 'r', ?1, 'queued', 0)",
                    [node_request],
                )?;
                Ok(())
            })
            .unwrap();

        assert_eq!(
            store
                .gc_preview(History::Executions, days(30), NOW)
                .unwrap(),
            Tally { rows: 1, in_use: 5 }
        );
        let tally = collect(&store, History::Executions, days(30), 2);
        assert_eq!(tally, Tally { rows: 1, in_use: 5 });
        assert_eq!(count(&store, "executions"), 5);
        let gone = store
            .read(|c| {
                Ok(c.query_row(
                    "SELECT count(*) FROM executions WHERE id = ?1",
                    [&free],
                    |r| r.get::<_, i64>(0),
                )?)
            })
            .unwrap();
        assert_eq!(gone, 0);
    }

    #[test]
    fn a_count_keeps_the_newest_whatever_their_age() {
        let (_d, store) = store();
        for i in 0..10 {
            execution(&store, YOUNG + i, None);
        }
        let keep = Keep {
            max_age_ms: None,
            max_count: Some(3),
        };
        assert_eq!(collect(&store, History::Executions, keep, 4).rows, 7);
        assert_eq!(count(&store, "executions"), 3);
        // Age and count together: whichever limit is tighter.
        let both = Keep {
            max_age_ms: Some(DAY_MS / 2),
            max_count: Some(100),
        };
        assert_eq!(collect(&store, History::Executions, both, 4).rows, 3);
    }

    #[test]
    fn a_trigger_instance_goes_once_seen_and_nothing_it_asked_for_waits() {
        let (_d, store) = store();
        let (seen, unseen, waiting, young) = (
            id_floor(OLD),
            id_floor(OLD + 1),
            id_floor(OLD + 2),
            id_floor(YOUNG),
        );
        let ids = [seen.clone(), unseen.clone(), waiting.clone(), young.clone()];
        store
            .write(move |c| {
                let [seen, unseen, waiting, young] = &ids;
                for (id, state, at) in [
                    (seen, "processed", OLD),
                    (unseen, "pending", OLD),
                    (waiting, "processed", OLD),
                    (young, "processed", YOUNG),
                ] {
                    c.execute(
                        "INSERT INTO trigger_instances (id, trigger_type, payload, source,
                             received_at, state)
                         VALUES (?1, 'p.t', '{}', 'cli', ?2, ?3)",
                        params![id, at, state],
                    )?;
                    c.execute(
                        "INSERT INTO enforcements (id, trigger_instance_id, rule_ref,
                             execution_id, state, at)
                         VALUES (?1 || 'e', ?1, 'p.r', ?1 || 'x', 'scheduled', 0)",
                        [id],
                    )?;
                }
                c.execute(
                    "INSERT INTO execution_requests (id, action, parameters, dry_run, actor, state,
                         requested_at)
                     VALUES (?1 || 'x', 'p.a', '{}', 0, 'rule', 'requested', 0)",
                    [waiting],
                )?;
                Ok(())
            })
            .unwrap();
        let tally = collect(&store, History::Triggers, days(30), 10);
        assert_eq!(tally, Tally { rows: 2, in_use: 4 });
        assert_eq!(count(&store, "trigger_instances"), 3);
        assert_eq!(count(&store, "enforcements"), 3);
    }

    #[test]
    fn append_only_logs_go_oldest_first_by_age_or_count() {
        let (_d, store) = store();
        store
            .write(|c| {
                for i in 0..20_i64 {
                    let at = if i < 5 { OLD + i } else { YOUNG + i };
                    c.execute(
                        "INSERT INTO audit (at, actor, pack, plugin, capability, target, decision,
                             reason, dry_run)
                         VALUES (?1, 'a', 'p', 'x', 'kv', 't', 'allowed', '', 0)",
                        [at],
                    )?;
                    c.execute(
                        "INSERT INTO node_history (node, at, event, from_state, to_state, actor,
                             detail)
                         VALUES ('n', ?1, 'e', 'a', 'b', 'x', '')",
                        [at],
                    )?;
                }
                Ok(())
            })
            .unwrap();
        assert_eq!(
            store
                .gc_preview(History::Audit, days(30), NOW)
                .unwrap()
                .rows,
            5
        );
        assert_eq!(collect(&store, History::Audit, days(30), 2).rows, 5);
        assert_eq!(count(&store, "audit"), 15);
        let keep = Keep {
            max_age_ms: None,
            max_count: Some(12),
        };
        assert_eq!(collect(&store, History::NodeHistory, keep, 3).rows, 8);
        assert_eq!(count(&store, "node_history"), 12);
        assert_eq!(collect(&store, History::Audit, Keep::default(), 3).rows, 0);
    }

    #[test]
    fn only_finished_fleet_requests_go() {
        let (_d, store) = store();
        sql(
            &store,
            "INSERT INTO nodes (name, labels, state, driver, options)
                 VALUES ('stuck', '{}', 'intervention', 'sim', '{}'),
                        ('fine', '{}', 'production', 'sim', '{}');
             INSERT INTO fleet_requests (id, node, kind, reason, status, created_at, updated_at)
             VALUES ('a', 'fine', 'reboot', '', 'done', 0, 1000),
                    ('b', 'fine', 'reboot', '', 'queued', 0, 1000),
                    ('c', 'stuck', 'reboot', '', 'intervention', 0, 1000),
                    ('d', 'fine', 'reboot', '', 'intervention', 0, 1000),
                    ('e', 'fine', 'drain', '', 'cancelled', 0, 1800000000000);",
        );
        assert_eq!(
            store
                .gc_preview(History::FleetRequests, days(90), NOW)
                .unwrap(),
            Tally { rows: 2, in_use: 2 }
        );
        assert_eq!(collect(&store, History::FleetRequests, days(90), 1).rows, 2);
        let left: Vec<String> = store
            .read(|c| {
                let mut s = c.prepare("SELECT id FROM fleet_requests ORDER BY id")?;
                let ids = s.query_map([], |r| r.get(0))?;
                Ok(ids.collect::<rusqlite::Result<_>>()?)
            })
            .unwrap();
        assert_eq!(left, ["b", "c", "e"]);
    }

    #[test]
    fn settings_default_then_set_then_forever_then_back() {
        let (_d, store) = store();
        let audit = |s: &SqliteStore| {
            s.retention()
                .unwrap()
                .into_iter()
                .find(|r| r.kind == History::Audit)
                .unwrap()
        };
        assert!(audit(&store).is_default);
        assert_eq!(audit(&store).keep, days(365));
        let keep = Keep {
            max_age_ms: Some(DAY_MS),
            max_count: Some(5),
        };
        store
            .set_retention(History::Audit, Some(keep), "ops")
            .unwrap();
        assert_eq!(audit(&store).keep, keep);
        assert_eq!(audit(&store).updated_by.as_deref(), Some("ops"));
        store
            .set_retention(History::Audit, Some(Keep::default()), "ops")
            .unwrap();
        assert!(audit(&store).keep.is_forever() && !audit(&store).is_default);
        store.set_retention(History::Audit, None, "ops").unwrap();
        assert!(audit(&store).is_default);
    }

    #[test]
    fn expired_keys_sessions_and_signatures_go() {
        let (_d, store) = store();
        store.kv_set("system", "gone", "1", Some(1)).unwrap();
        store.kv_set("system", "kept", "1", None).unwrap();
        let later = drover_core::now_ms() + 5_000;
        assert_eq!(store.gc_expired(later).unwrap(), 1);
        assert_eq!(count(&store, "kv"), 1);
    }

    #[test]
    fn a_new_database_gives_deleted_pages_back() {
        let (dir, store) = store();
        let mode: i64 = store
            .read(|c| Ok(c.query_row("PRAGMA auto_vacuum", [], |r| r.get(0))?))
            .unwrap();
        assert_eq!(mode, 2, "incremental");
        store
            .write(|c| {
                for i in 0..2000_i64 {
                    c.execute(
                        "INSERT INTO audit (at, actor, pack, plugin, capability, target, decision,
                             reason, dry_run)
                         VALUES (?1, 'a', 'p', 'x', 'kv', ?2, 'allowed', '', 0)",
                        params![OLD, "x".repeat(1000) + &i.to_string()],
                    )?;
                }
                Ok(())
            })
            .unwrap();
        let (before, _) = store.db_size().unwrap();
        assert_eq!(collect(&store, History::Audit, days(30), 500).rows, 2000);
        let (_, free) = store.db_size().unwrap();
        assert!(free > 1_000_000, "{free} bytes free after the delete");
        while store.incremental_vacuum(100).unwrap().unwrap() > 0 {}
        let (after, free) = store.db_size().unwrap();
        assert_eq!(free, 0);
        assert!(after < before / 4, "{before} -> {after} bytes");
        let _ = dir;
    }
}
