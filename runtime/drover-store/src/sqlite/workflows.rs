//! SQLite: [`WorkflowStore`] over the tables of [`crate::workflows`].

use super::executions::{insert, parse_id, parse_status};
use crate::workflows::*;
use crate::{ExecutionSummary, Result, SqliteStore};
use drover_core::{Execution, ExecutionId, now_ms};
use rusqlite::{Connection, OptionalExtension, params};
use serde_json::Value;

impl WorkflowStore for SqliteStore {
    fn workflow_start(&self, run: WorkflowRun, state: StateWrite) -> Result<()> {
        self.write(move |conn| {
            conn.execute(
                "INSERT OR IGNORE INTO workflow_runs (id, action, parent, task, route, parameters,
                    dry_run, actor, started_at, state, inflight, finished, updated_at, owner_pid,
                    digest, timeout_ms, pack_version)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, 0, ?12, ?13, ?14, ?15, ?16)",
                params![
                    run.id.to_string(),
                    run.action,
                    run.link.as_ref().map(|l| l.parent.to_string()),
                    run.link.as_ref().map(|l| l.task.clone()),
                    run.link.as_ref().map(|l| l.route),
                    run.parameters.to_string(),
                    run.dry_run,
                    run.actor,
                    run.started_at_ms,
                    state.head,
                    run.inflight.as_ref().map(Value::to_string),
                    now_ms(),
                    std::process::id(),
                    run.digest,
                    run.timeout_ms.map(|t| t as i64),
                    run.pack_version,
                ],
            )?;
            write_state(
                conn,
                &run.id.to_string(),
                &state,
                run.inflight.as_ref(),
                now_ms(),
            )?;
            // A top-level run has a queue entry (its lock and its way back
            // to `drover serve` when parked): `drover run` makes one,
            // running; a run claimed by serve has one already.
            if run.link.is_none() {
                conn.execute(
                    "INSERT OR IGNORE INTO execution_requests (id, action, parameters, dry_run,
                        actor, enforcement_id, state, requested_at, started_at)
                     VALUES (?1, ?2, ?3, ?4, ?5, NULL, 'running', ?6, ?6)",
                    params![
                        run.id.to_string(),
                        run.action,
                        run.parameters.to_string(),
                        run.dry_run,
                        run.actor,
                        now_ms()
                    ],
                )?;
            }
            Ok(())
        })
    }

    fn workflow_children_done(
        &self,
        id: ExecutionId,
        state: StateWrite,
        children: Vec<(Execution, ChildLink)>,
        inflight: Option<Value>,
    ) -> Result<crate::Pending<()>> {
        self.write_pipelined(move |conn| {
            write_children(conn, id, &state, &children, inflight.as_ref())
        })
    }

    fn workflow_park(&self, id: ExecutionId, why: String) -> Result<bool> {
        self.write(move |conn| {
            let answered: bool = conn.query_row(
                "SELECT EXISTS (SELECT 1 FROM inquiries
                                WHERE root = ?1 AND state != 'pending' AND consumed = 0)",
                [id.to_string()],
                |r| r.get(0),
            )?;
            if answered {
                return Ok(false);
            }
            conn.execute(
                "UPDATE workflow_runs SET parked = ?2, owner_pid = NULL, updated_at = ?3
                 WHERE id = ?1",
                params![id.to_string(), why, now_ms()],
            )?;
            set_request_state(conn, &id.to_string(), "waiting")?;
            Ok(true)
        })
    }

    fn workflow_take(&self, id: ExecutionId) -> Result<bool> {
        self.write(move |conn| {
            let n = conn.execute(
                "UPDATE execution_requests SET state = 'running', started_at = ?2
                 WHERE id = ?1 AND state IN ('waiting', 'requested')",
                params![id.to_string(), now_ms()],
            )?;
            if n == 0 {
                return Ok(false);
            }
            conn.execute(
                "UPDATE workflow_runs SET parked = NULL, owner_pid = ?2, updated_at = ?3
                 WHERE id = ?1 AND finished = 0",
                params![id.to_string(), std::process::id(), now_ms()],
            )?;
            Ok(true)
        })
    }

    fn workflow_requeue(&self, id: ExecutionId) -> Result<bool> {
        self.write(move |conn| requeue_parked(conn, &id.to_string()))
    }

    fn wake_delayed(&self, now: i64) -> Result<Vec<ExecutionId>> {
        self.write(move |conn| {
            let parked: Vec<(String, String)> = {
                let mut stmt = conn.prepare_cached(
                    "SELECT id, parked FROM workflow_runs
                     WHERE finished = 0 AND parent IS NULL AND parked LIKE 'delay until %'",
                )?;
                let rows = stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?;
                rows.collect::<rusqlite::Result<_>>()?
            };
            let mut woken = Vec::new();
            for (id, why) in parked {
                let due: i64 = why["delay until ".len()..].parse().unwrap_or(0);
                if due <= now && requeue_parked(conn, &id)? {
                    woken.push(super::executions::parse_id(&id)?);
                }
            }
            Ok(woken)
        })
    }

    fn workflow_set_control(&self, id: ExecutionId, control: Option<String>) -> Result<()> {
        self.write(move |conn| {
            conn.execute(
                "UPDATE workflow_runs SET control = ?2, updated_at = ?3 WHERE id = ?1",
                params![id.to_string(), control, now_ms()],
            )?;
            Ok(())
        })
    }

    fn workflow_control(&self, id: ExecutionId) -> Result<Option<String>> {
        self.read(|conn| {
            Ok(conn
                .prepare_cached("SELECT control FROM workflow_runs WHERE id = ?1")?
                .query_row([id.to_string()], |r| r.get::<_, Option<String>>(0))
                .optional()?
                .flatten())
        })
    }

    fn request_state(&self, id: ExecutionId) -> Result<Option<String>> {
        self.read(|conn| {
            Ok(conn
                .prepare_cached("SELECT state FROM execution_requests WHERE id = ?1")?
                .query_row([id.to_string()], |r| r.get::<_, String>(0))
                .optional()?)
        })
    }

    fn workflow_claim(&self, id: ExecutionId) -> Result<bool> {
        self.write(move |conn| {
            let n = conn.execute(
                "UPDATE workflow_runs SET owner_pid = ?2, updated_at = ?3
                 WHERE finished = 0 AND (id = ?1 OR parent = ?1)",
                params![id.to_string(), std::process::id(), now_ms()],
            )?;
            Ok(n > 0)
        })
    }

    fn workflow_finish(
        &self,
        state: StateWrite,
        exec: Execution,
        link: Option<ChildLink>,
    ) -> Result<()> {
        self.write(move |conn| {
            insert_linked(conn, &exec, link.as_ref())?;
            let id = exec.id.to_string();
            let now = now_ms();
            write_state(conn, &id, &state, None, now)?;
            conn.execute(
                "UPDATE workflow_runs SET finished = 1, parked = NULL, control = NULL WHERE id = ?1",
                [&id],
            )?;
            set_request_state(conn, &exec.id.to_string(), "done")?;
            super::events::release_slots(conn, &exec.id.to_string())
        })
    }

    fn get_workflow_run(&self, id: ExecutionId) -> Result<Option<WorkflowRun>> {
        self.read(|conn| {
            conn.prepare_cached("SELECT * FROM workflow_runs WHERE id = ?1")?
                .query_row([id.to_string()], run_from_row)
                .optional()?
                .map(|run| with_state(conn, run?))
                .transpose()
        })
    }

    fn get_workflow_run_record(&self, id: ExecutionId) -> Result<Option<WorkflowRun>> {
        self.read(|conn| {
            conn.prepare_cached("SELECT * FROM workflow_runs WHERE id = ?1")?
                .query_row([id.to_string()], run_from_row)
                .optional()?
                .map(|run| {
                    run.map(|run| WorkflowRun {
                        state: Value::Null,
                        ..run
                    })
                })
                .transpose()
        })
    }

    fn unfinished_workflow_runs(&self) -> Result<Vec<WorkflowRun>> {
        self.read(|conn| {
            let mut stmt = conn.prepare_cached(
                "SELECT * FROM workflow_runs WHERE finished = 0 AND parent IS NULL ORDER BY id",
            )?;
            let rows = stmt.query_map([], run_from_row)?;
            rows.map(|r| with_state(conn, r??)).collect()
        })
    }

    fn unfinished_subworkflows(&self, parent: ExecutionId) -> Result<Vec<WorkflowRun>> {
        self.read(|conn| {
            let mut stmt = conn.prepare_cached(
                "SELECT * FROM workflow_runs WHERE finished = 0 AND parent = ?1 ORDER BY id",
            )?;
            let rows = stmt.query_map([parent.to_string()], run_from_row)?;
            rows.map(|r| with_state(conn, r??)).collect()
        })
    }

    fn execution_link(&self, id: ExecutionId) -> Result<Option<ChildLink>> {
        self.read(|conn| {
            let row: Option<(Option<String>, Option<String>, Option<i64>)> = conn
                .prepare_cached("SELECT parent, task, route FROM executions WHERE id = ?1")?
                .query_row([id.to_string()], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
                .optional()?;
            match row {
                Some((Some(parent), Some(task), Some(route))) => Ok(Some(ChildLink {
                    parent: parse_id(&parent)?,
                    task,
                    route: route as u32,
                })),
                _ => Ok(None),
            }
        })
    }

    fn execution_children(&self, parent: ExecutionId) -> Result<Vec<ChildRow>> {
        self.read(|conn| children(conn, parent, None))
    }

    fn execution_children_head(
        &self,
        parent: ExecutionId,
        limit: Option<usize>,
    ) -> Result<ChildrenHead> {
        self.read(|conn| {
            let (count, last_started_ms) = conn
                .prepare_cached(
                    "SELECT count(*), max(started_at) FROM executions WHERE parent = ?1",
                )?
                .query_row([parent.to_string()], |r| {
                    Ok((r.get::<_, i64>(0)?, r.get::<_, Option<i64>>(1)?))
                })?;
            Ok(ChildrenHead {
                first: children(conn, parent, limit)?,
                count: count as u64,
                last_started_ms,
            })
        })
    }
}

/// Stores `state` as run `id`'s with `inflight`.
pub(crate) fn write_state(
    conn: &Connection,
    id: &str,
    state: &StateWrite,
    inflight: Option<&Value>,
    now: i64,
) -> Result<()> {
    if state.replace {
        conn.prepare_cached("DELETE FROM workflow_state_parts WHERE run = ?1")?
            .execute([id])?;
    }
    let mut insert = conn.prepare_cached(
        "INSERT OR REPLACE INTO workflow_state_parts (run, list, idx, value) VALUES (?1, ?2, ?3, ?4)",
    )?;
    for p in &state.parts {
        insert.execute(params![id, p.list, p.index, p.value])?;
    }
    conn.prepare_cached(
        "UPDATE workflow_runs SET state = ?2, inflight = ?3, updated_at = ?4 WHERE id = ?1",
    )?
    .execute(params![id, state.head, inflight.map(Value::to_string), now])?;
    Ok(())
}

/// Run `id`'s state: its head with the stored list items put back.
fn read_state(conn: &Connection, id: &str, head: &str) -> Result<Value> {
    let mut state: Value = serde_json::from_str(head)?;
    let mut stmt = conn.prepare_cached(
        "SELECT list, idx, value FROM workflow_state_parts WHERE run = ?1 ORDER BY list, idx",
    )?;
    let mut rows = stmt.query([id])?;
    while let Some(row) = rows.next()? {
        let list: String = row.get(0)?;
        let index: i64 = row.get(1)?;
        let value: String = row.get(2)?;
        let Some(items) = state.pointer_mut(&list).and_then(Value::as_array_mut) else {
            continue;
        };
        let index = index as usize;
        if items.len() <= index {
            items.resize(index + 1, Value::Null);
        }
        items[index] = serde_json::from_str(&value)?;
    }
    Ok(state)
}

/// Marks an execution request `state` (the top-level run's queue entry).
fn set_request_state(conn: &Connection, id: &str, state: &str) -> Result<()> {
    conn.prepare_cached("UPDATE execution_requests SET state = ?2 WHERE id = ?1")?
        .execute(params![id, state])?;
    Ok(())
}

fn write_children(
    conn: &Connection,
    id: ExecutionId,
    state: &StateWrite,
    children: &[(Execution, ChildLink)],
    inflight: Option<&Value>,
) -> Result<()> {
    let now = now_ms();
    for (child, link) in children {
        insert_linked(conn, child, Some(link))?;
        conn.prepare_cached(
            "UPDATE workflow_runs SET finished = 1, inflight = NULL, updated_at = ?2 WHERE id = ?1",
        )?
        .execute(params![child.id.to_string(), now])?;
        // An ask task's child: its inquiry's answer is taken.
        conn.prepare_cached("UPDATE inquiries SET consumed = 1 WHERE id = ?1")?
            .execute([child.id.to_string()])?;
    }
    write_state(conn, &id.to_string(), state, inflight, now)
}

fn insert_linked(conn: &Connection, exec: &Execution, link: Option<&ChildLink>) -> Result<()> {
    insert(conn, exec)?;
    if let Some(l) = link {
        conn.prepare_cached(
            "UPDATE executions SET parent = ?2, task = ?3, route = ?4 WHERE id = ?1",
        )?
        .execute(params![
            exec.id.to_string(),
            l.parent.to_string(),
            l.task,
            l.route
        ])?;
    }
    Ok(())
}

/// Up to `limit` children of `parent`, in the order they ran.
fn children(conn: &Connection, parent: ExecutionId, limit: Option<usize>) -> Result<Vec<ChildRow>> {
    let mut stmt = conn.prepare_cached(
        "SELECT id, action, status, dry_run, actor, started_at, duration_us, task, route, error
         FROM executions WHERE parent = ?1 ORDER BY started_at, id LIMIT ?2",
    )?;
    // A negative LIMIT is none.
    let limit = limit.map_or(-1, |l| i64::try_from(l).unwrap_or(i64::MAX));
    let rows = stmt.query_map(params![parent.to_string(), limit], |r| {
        Ok((
            r.get::<_, String>(0)?,
            r.get::<_, String>(1)?,
            r.get::<_, String>(2)?,
            r.get::<_, bool>(3)?,
            r.get::<_, String>(4)?,
            r.get::<_, i64>(5)?,
            r.get::<_, i64>(6)?,
            r.get::<_, String>(7)?,
            r.get::<_, i64>(8)?,
            r.get::<_, Option<String>>(9)?,
        ))
    })?;
    rows.map(|row| {
        let (id, action, status, dry_run, actor, started, duration, task, route, error) = row?;
        Ok(ChildRow {
            summary: ExecutionSummary {
                id: parse_id(&id)?,
                action,
                status: parse_status(&status)?,
                dry_run,
                actor,
                started_at_ms: started,
                duration_us: duration as u64,
                // Its workflow's page already says which node.
                node: None,
            },
            task,
            route: route as u32,
            error,
        })
    })
    .collect()
}

/// `run` with its state's stored list items put back.
fn with_state(conn: &Connection, mut run: WorkflowRun) -> Result<WorkflowRun> {
    if let Value::String(head) = &run.state {
        run.state = read_state(conn, &run.id.to_string(), head)?;
    }
    Ok(run)
}

/// A run as stored; its `state` is the head's text until [`with_state`].
fn run_from_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<Result<WorkflowRun>> {
    let id: String = r.get("id")?;
    let parent: Option<String> = r.get("parent")?;
    let task: Option<String> = r.get("task")?;
    let route: Option<i64> = r.get("route")?;
    let parameters: String = r.get("parameters")?;
    let state: String = r.get("state")?;
    let inflight: Option<String> = r.get("inflight")?;
    let action: String = r.get("action")?;
    let dry_run: bool = r.get("dry_run")?;
    let actor: String = r.get("actor")?;
    let started_at_ms: i64 = r.get("started_at")?;
    let finished: bool = r.get("finished")?;
    let owner_pid: Option<i64> = r.get("owner_pid")?;
    let control: Option<String> = r.get("control")?;
    let parked: Option<String> = r.get("parked")?;
    let digest: String = r.get("digest")?;
    let timeout_ms: Option<i64> = r.get("timeout_ms")?;
    let pack_version: String = r.get("pack_version")?;
    Ok((|| {
        let link = match (parent, task, route) {
            (Some(p), Some(task), Some(route)) => Some(ChildLink {
                parent: parse_id(&p)?,
                task,
                route: route as u32,
            }),
            _ => None,
        };
        Ok(WorkflowRun {
            id: parse_id(&id)?,
            action,
            link,
            parameters: serde_json::from_str(&parameters)?,
            dry_run,
            actor,
            started_at_ms,
            state: Value::String(state),
            inflight: inflight.as_deref().map(serde_json::from_str).transpose()?,
            finished,
            owner_pid: owner_pid.and_then(|p| u32::try_from(p).ok()),
            control,
            parked,
            digest,
            timeout_ms: timeout_ms.map(|t| t.max(0) as u64),
            pack_version,
        })
    })())
}

/// `waiting` → `requested` for run `root`; true if it was parked.
pub(crate) fn requeue_parked(conn: &Connection, root: &str) -> Result<bool> {
    let n = conn
        .prepare_cached(
            "UPDATE execution_requests SET state = 'requested', started_at = NULL
             WHERE id = ?1 AND state = 'waiting'",
        )?
        .execute([root])?;
    if n > 0 {
        conn.prepare_cached("UPDATE workflow_runs SET parked = NULL WHERE id = ?1")?
            .execute([root])?;
        // A workflow holds its slots while it runs and while it waits
        // (paused, an inquiry, a delay); the claim that picks it up again
        // takes them afresh.
        super::events::release_slots(conn, root)?;
    }
    Ok(n > 0)
}

#[cfg(test)]
mod tests {
    use drover_core::ExecStatus;
    use serde_json::json;

    use super::*;

    fn exec(id: ExecutionId, action: &str) -> Execution {
        Execution {
            id,
            action: action.into(),
            pack_version: "0.1.0".into(),
            digest: String::new(),
            parameters: json!({}),
            status: ExecStatus::Succeeded,
            result: Some(json!({"ok": true})),
            error: None,
            dry_run: false,
            plan: None,
            logs: Vec::new(),
            actor: "user:t".into(),
            started_at_ms: 1,
            finished_at_ms: 2,
            duration_us: 1,
        }
    }

    #[test]
    fn the_migration_moves_a_stored_states_lists_out_of_its_head() {
        let conn = rusqlite::Connection::open_in_memory().unwrap();
        conn.execute_batch(
            "CREATE TABLE workflow_runs (id TEXT PRIMARY KEY, state TEXT NOT NULL) STRICT;
             INSERT INTO workflow_runs VALUES ('r1', '{\"status\": \"running\",
                 \"contexts\": [{\"a\": 1}, {\"b\": 2}],
                 \"ledger\": {\"sequence\": [{\"id\": \"t\", \"ctxs\": [0, 1]}],
                              \"routes\": [[]]}}');",
        )
        .unwrap();
        conn.execute_batch(include_str!("migrations/0016_workflow_state_parts.sql"))
            .unwrap();
        let head: Value = serde_json::from_str(
            &conn
                .query_row("SELECT state FROM workflow_runs", [], |r| {
                    r.get::<_, String>(0)
                })
                .unwrap(),
        )
        .unwrap();
        assert_eq!(
            head,
            json!({"status": "running", "contexts": [], "frames": [],
                   "ledger": {"sequence": [], "routes": [[]]}})
        );
        let state = read_state(&conn, "r1", &head.to_string()).unwrap();
        assert_eq!(
            state,
            json!({"status": "running", "contexts": [{"a": 1}, {"b": 2}], "frames": [],
                   "ledger": {"sequence": [{"id": "t", "ctxs": [0, 1]}], "routes": [[]]}})
        );
    }

    #[test]
    fn a_run_records_its_children_and_finishes() {
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteStore::open(&dir.path().join("d.db")).unwrap();
        let id = ExecutionId::new();
        store
            .workflow_start(
                WorkflowRun {
                    id,
                    action: "flows.greet".into(),
                    link: None,
                    parameters: json!({"name": "bob"}),
                    dry_run: false,
                    actor: "user:t".into(),
                    started_at_ms: 1,
                    state: Value::Null,
                    inflight: None,
                    finished: false,
                    owner_pid: None,
                    control: None,
                    parked: None,
                    digest: String::new(),
                    timeout_ms: None,
                    pack_version: String::new(),
                },
                StateWrite {
                    head: json!({"step": 0, "list": []}).to_string(),
                    parts: vec![StatePart {
                        list: "/list",
                        index: 0,
                        value: "\"first\"".into(),
                    }],
                    replace: true,
                },
            )
            .unwrap();
        let run = &store.unfinished_workflow_runs().unwrap()[0];
        assert_eq!(
            run.state,
            json!({"step": 0, "list": ["first"]}),
            "head and parts"
        );
        let child = ExecutionId::new();
        let part = |list, index, value: Value| StatePart {
            list,
            index,
            value: value.to_string(),
        };
        // A replacing delta drops the parts before; later ones add and
        // change items.
        let head = json!({"step": 1, "list": [], "deep": {"seq": []}}).to_string();
        store
            .workflow_children_done(
                id,
                StateWrite {
                    head,
                    parts: vec![part("/list", 0, json!("a")), part("/deep/seq", 0, json!(1))],
                    replace: true,
                },
                Vec::new(),
                Some(json!({"child": child})),
            )
            .unwrap()
            .wait()
            .unwrap();
        let run = &store.unfinished_workflow_runs().unwrap()[0];
        assert_eq!(
            run.state,
            json!({"step": 1, "list": ["a"], "deep": {"seq": [1]}})
        );
        assert_eq!(run.inflight, Some(json!({"child": child})));
        assert_eq!(run.owner_pid, Some(std::process::id()));
        let link = ChildLink {
            parent: id,
            task: "first".into(),
            route: 0,
        };
        let head = json!({"step": 2, "list": [], "deep": {"seq": []}}).to_string();
        store
            .workflow_children_done(
                id,
                StateWrite {
                    head,
                    parts: vec![part("/list", 1, json!("b")), part("/deep/seq", 0, json!(2))],
                    replace: false,
                },
                vec![(exec(child, "core.echo"), link.clone())],
                None,
            )
            .unwrap()
            .wait()
            .unwrap();
        let record = store.get_workflow_run_record(id).unwrap().unwrap();
        assert_eq!((record.state, record.id), (Value::Null, id));
        let run = store.get_workflow_run(id).unwrap().unwrap();
        assert_eq!(
            (run.state, run.inflight),
            (
                json!({"step": 2, "list": ["a", "b"], "deep": {"seq": [2]}}),
                None
            )
        );
        assert_eq!(store.execution_link(child).unwrap(), Some(link));
        let kids = store.execution_children(id).unwrap();
        assert_eq!(kids.len(), 1);
        assert_eq!(
            (kids[0].task.as_str(), kids[0].summary.id),
            ("first", child)
        );
        let head = store.execution_children_head(id, Some(0)).unwrap();
        assert_eq!(
            (head.first.len(), head.count, head.last_started_ms),
            (0, 1, Some(1))
        );
        assert_eq!(
            store.execution_children_head(id, None).unwrap().first[0]
                .summary
                .id,
            child
        );

        assert!(store.workflow_claim(id).unwrap());
        let head = json!({"step": 3, "list": [], "deep": {"seq": []}}).to_string();
        let state = StateWrite {
            head,
            parts: Vec::new(),
            replace: false,
        };
        store
            .workflow_finish(state, exec(id, "flows.greet"), None)
            .unwrap();
        let run = store.get_workflow_run(id).unwrap().unwrap();
        assert_eq!(
            run.state,
            json!({"step": 3, "list": ["a", "b"], "deep": {"seq": [2]}})
        );
        assert!(store.unfinished_workflow_runs().unwrap().is_empty());
        assert!(!store.workflow_claim(id).unwrap());
        assert_eq!(store.execution_link(id).unwrap(), None);
    }
}
