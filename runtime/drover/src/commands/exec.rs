//! `drover exec list|get`.

use std::path::Path;
use std::process::ExitCode;

use anyhow::{Result, bail};
use drover_core::{ExecStatus, ExecutionId};
use drover_store::ExecutionFilter;

use crate::cli::ExecCmd;
use crate::context::open_store;
use crate::output;

pub fn run(db: &Path, cmd: ExecCmd) -> Result<ExitCode> {
    let store = open_store(db)?;
    match cmd {
        ExecCmd::List {
            action,
            status,
            limit,
            before,
            json,
        } => {
            let status = match status.as_deref() {
                None => None,
                Some(s) => Some(ExecStatus::parse(s).ok_or_else(|| {
                    anyhow::anyhow!(
                        "unknown status {s:?} (expected succeeded, failed, denied or timeout)"
                    )
                })?),
            };
            let filter = ExecutionFilter {
                action,
                status,
                before: before.map(|b| b.parse()).transpose()?,
                limit: limit.clamp(1, 1000),
            };
            let rows = store.list_executions(&filter)?;
            if json {
                output::json(&rows)?;
                return Ok(ExitCode::SUCCESS);
            }
            if rows.is_empty() {
                println!("no executions");
                return Ok(ExitCode::SUCCESS);
            }
            let mut table = vec![vec![
                "ID".into(),
                "ACTION".into(),
                "STATUS".into(),
                "STARTED".into(),
                "DURATION".into(),
                "BY".into(),
            ]];
            for e in &rows {
                table.push(vec![
                    e.id.to_string(),
                    e.action.clone(),
                    format!("{}{}", e.status, if e.dry_run { " (dry run)" } else { "" }),
                    output::time(e.started_at_ms),
                    output::duration_us(e.duration_us),
                    e.actor.clone(),
                ]);
            }
            output::table(&table);
            if rows.len() as u32 == filter.limit
                && let Some(last) = rows.last()
            {
                println!("more: drover exec list --before {}", last.id);
            }
            Ok(ExitCode::SUCCESS)
        }
        ExecCmd::Get { id, json } => {
            let id: ExecutionId = id.parse()?;
            let Some(exec) = store.get_execution(id)? else {
                bail!("no execution {id} (see `drover exec list`)");
            };
            if json {
                output::json(&exec)?;
            } else {
                output::execution(&exec);
            }
            Ok(ExitCode::SUCCESS)
        }
    }
}
