//! SQLite: [`ExecutionStore`] over the tables of [`crate::executions`].

use crate::executions::*;
use crate::{Result, SqliteStore, StoreError};
use drover_core::{ExecStatus, Execution, ExecutionId};
use rusqlite::{Connection, OptionalExtension, Row, params, params_from_iter};

impl ExecutionStore for SqliteStore {
    fn insert_execution(&self, exec: Execution) -> Result<()> {
        self.write(move |conn| insert(conn, &exec))
    }

    fn insert_execution_pipelined(&self, exec: Execution) -> Result<crate::Pending<()>> {
        self.write_pipelined(move |conn| insert(conn, &exec))
    }

    fn get_execution(&self, id: ExecutionId) -> Result<Option<Execution>> {
        self.read(|conn| {
            conn.prepare_cached("SELECT * FROM executions WHERE id = ?1")?
                .query_row([id.to_string()], from_row)
                .optional()?
                .transpose()
        })
    }

    fn list_executions(&self, filter: &ExecutionFilter) -> Result<Vec<ExecutionSummary>> {
        self.read(|conn| {
            let mut stmt = conn.prepare_cached(&format!(
                "SELECT {SUMMARY_COLUMNS} FROM executions
                 WHERE (?1 IS NULL OR action = ?1)
                   AND (?2 IS NULL OR status = ?2)
                   AND (?3 IS NULL OR id < ?3)
                 ORDER BY id DESC LIMIT ?4"
            ))?;
            let rows = stmt.query_map(
                params![
                    filter.action,
                    filter.status.map(|s| s.as_str()),
                    filter.before.map(|b| b.to_string()),
                    filter.limit.max(1)
                ],
                raw_summary,
            )?;
            rows.map(|row| summary_from_raw(row?)).collect()
        })
    }

    fn count_executions(&self) -> Result<u64> {
        self.read(|conn| {
            Ok(conn.query_row("SELECT count(*) FROM executions", [], |r| {
                r.get::<_, i64>(0)
            })? as u64)
        })
    }

    fn execution_page(&self, q: &ExecutionQuery) -> Result<ExecutionPage> {
        let limit = q.limit.clamp(1, 1000);
        let mut sql = format!("SELECT {SUMMARY_COLUMNS} FROM executions");
        let mut conds: Vec<&str> = Vec::new();
        let mut args: Vec<String> = Vec::new();
        if let Some(a) = &q.action {
            conds.push("action = ?");
            args.push(a.clone());
        }
        if let Some(s) = q.status {
            conds.push("status = ?");
            args.push(s.as_str().to_owned());
        }
        if let Some(after) = q.after {
            conds.push("id < ?");
            args.push(after.to_string());
        }
        if let Some(min) = &q.min_id {
            conds.push("id >= ?");
            args.push(min.clone());
        }
        let by_node = format!("{NODE_PARAMETER} = ?");
        if let Some(node) = &q.node {
            conds.push(&by_node);
            args.push(node.clone());
        }
        if !conds.is_empty() {
            sql.push_str(" WHERE ");
            sql.push_str(&conds.join(" AND "));
        }
        // One more than asked tells whether there is a next page.
        sql.push_str(&format!(" ORDER BY id DESC LIMIT {}", limit + 1));
        let mut items = self.read(|conn| {
            let mut stmt = conn.prepare_cached(&sql)?;
            let rows = stmt.query_map(params_from_iter(args.iter()), raw_summary)?;
            rows.map(|row| summary_from_raw(row?))
                .collect::<Result<Vec<_>>>()
        })?;
        let more = items.len() > limit as usize;
        items.truncate(limit as usize);
        let next_after = if more {
            items.last().map(|e| e.id)
        } else {
            None
        };
        Ok(ExecutionPage { items, next_after })
    }
}

pub(crate) fn insert(conn: &Connection, e: &Execution) -> Result<()> {
    conn.prepare_cached(
        "INSERT INTO executions (id, action, pack_version, digest, parameters, status, result,
            error, dry_run, plan, logs, actor, started_at, finished_at, duration_us)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15)",
    )?
    .execute(params![
        e.id.to_string(),
        e.action,
        e.pack_version,
        e.digest,
        e.parameters.to_string(),
        e.status.as_str(),
        e.result.as_ref().map(|v| v.to_string()),
        e.error,
        e.dry_run,
        e.plan.as_ref().map(serde_json::to_string).transpose()?,
        serde_json::to_string(&e.logs)?,
        e.actor,
        e.started_at_ms,
        e.finished_at_ms,
        e.duration_us as i64,
    ])?;
    Ok(())
}

fn from_row(r: &Row<'_>) -> rusqlite::Result<Result<Execution>> {
    let id: String = r.get("id")?;
    let status: String = r.get("status")?;
    let parameters: String = r.get("parameters")?;
    let result: Option<String> = r.get("result")?;
    let plan: Option<String> = r.get("plan")?;
    let logs: String = r.get("logs")?;
    let (action, pack_version, digest, error, dry_run, actor, started, finished, duration): (
        String,
        String,
        String,
        Option<String>,
        bool,
        String,
        i64,
        i64,
        i64,
    ) = (
        r.get("action")?,
        r.get("pack_version")?,
        r.get("digest")?,
        r.get("error")?,
        r.get("dry_run")?,
        r.get("actor")?,
        r.get("started_at")?,
        r.get("finished_at")?,
        r.get("duration_us")?,
    );
    Ok((|| {
        Ok(Execution {
            id: parse_id(&id)?,
            action,
            pack_version,
            digest,
            parameters: serde_json::from_str(&parameters)?,
            status: parse_status(&status)?,
            result: result.as_deref().map(serde_json::from_str).transpose()?,
            error,
            dry_run,
            plan: plan.as_deref().map(serde_json::from_str).transpose()?,
            logs: serde_json::from_str(&logs)?,
            actor,
            started_at_ms: started,
            finished_at_ms: finished,
            duration_us: duration as u64,
        })
    })())
}

pub(crate) fn parse_id(s: &str) -> Result<ExecutionId> {
    s.parse()
        .map_err(|e: drover_core::IdError| StoreError::Corrupt(e.to_string()))
}

pub(crate) fn parse_status(s: &str) -> Result<ExecStatus> {
    ExecStatus::parse(s).ok_or_else(|| StoreError::Corrupt(format!("unknown status {s:?}")))
}

/// The columns [`raw_summary`] reads, in its order.
pub(crate) const SUMMARY_COLUMNS: &str = "id, action, status, dry_run, actor, started_at, duration_us, json_extract(parameters, '$.node')";

/// The expression `executions_by_node` indexes (migration 0019): a filter
/// must spell it the same for SQLite to use the index.
const NODE_PARAMETER: &str = "json_extract(parameters, '$.node')";

type RawSummary = (
    String,
    String,
    String,
    bool,
    String,
    i64,
    i64,
    Option<String>,
);

/// One row of `SELECT {SUMMARY_COLUMNS}`, as stored.
pub(crate) fn raw_summary(r: &Row<'_>) -> rusqlite::Result<RawSummary> {
    Ok((
        r.get(0)?,
        r.get(1)?,
        r.get(2)?,
        r.get(3)?,
        r.get(4)?,
        r.get(5)?,
        r.get(6)?,
        // A `node` that is not a string (a number, a list) is no node.
        r.get::<_, rusqlite::types::Value>(7).map(|v| match v {
            rusqlite::types::Value::Text(t) => Some(t),
            _ => None,
        })?,
    ))
}

/// A [`raw_summary`] row as an [`ExecutionSummary`].
pub(crate) fn summary_from_raw(raw: RawSummary) -> Result<ExecutionSummary> {
    let (id, action, status, dry_run, actor, started_at_ms, duration_us, node) = raw;
    Ok(ExecutionSummary {
        id: parse_id(&id)?,
        action,
        status: parse_status(&status)?,
        dry_run,
        actor,
        started_at_ms,
        duration_us: duration_us as u64,
        node,
    })
}
