//! `drover exec list|get`; `get --tree` adds a workflow's child executions.

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
        ExecCmd::Get { id, json, tree } => {
            let id: ExecutionId = id.parse()?;
            let Some(exec) = store.get_execution(id)? else {
                bail!("no execution {id} (see `drover exec list`)");
            };
            // Retry policy: the first run and its retries point at each other.
            let retry = store.retry_link(id)?;
            if json {
                let mut value = serde_json::to_value(&exec)?;
                if tree {
                    value["children"] = children_json(&store, id, 0)?;
                }
                if retry.retry_of.is_some() || !retry.retries.is_empty() {
                    value["retry_of"] = serde_json::to_value(retry.retry_of)?;
                    value["attempt"] = retry.attempt.into();
                    value["retries"] = serde_json::to_value(&retry.retries)?;
                }
                output::json(&value)?;
            } else {
                output::execution(&exec);
                if let Some(first) = retry.retry_of {
                    println!("  retry     attempt {} of {first}", retry.attempt + 1);
                }
                if !retry.retries.is_empty() {
                    let ids: Vec<String> = retry.retries.iter().map(ToString::to_string).collect();
                    println!("  retried   {}", ids.join(", "));
                }
                if let Some(link) = store.execution_link(id)? {
                    println!(
                        "  workflow  {} (task {}, route {})",
                        link.parent, link.task, link.route
                    );
                }
                if tree {
                    println!("  tree");
                    print_tree(&store, id, 2)?;
                }
            }
            Ok(ExitCode::SUCCESS)
        }
    }
}

/// Most levels of subworkflows shown by `--tree`.
const MAX_TREE_DEPTH: usize = 16;

/// The children of workflow execution `id`, one line each, nested.
fn print_tree(store: &drover_store::Store, id: ExecutionId, depth: usize) -> Result<()> {
    let children = store.execution_children(id)?;
    if children.is_empty() && depth == 2 {
        println!("    no child executions");
    }
    for c in children {
        let route = if c.route > 0 {
            format!(" (route {})", c.route)
        } else {
            String::new()
        };
        let error = c
            .error
            .as_deref()
            .filter(|_| c.summary.status != ExecStatus::Succeeded)
            .map(|e| format!(": {}", e.lines().next().unwrap_or("")))
            .unwrap_or_default();
        println!(
            "{:indent$}{}{route}  {}  {}  {}  {}{error}",
            "",
            c.task,
            c.summary.action,
            c.summary.status,
            output::duration_us(c.summary.duration_us),
            c.summary.id,
            indent = depth * 2
        );
        if depth < MAX_TREE_DEPTH {
            print_tree(store, c.summary.id, depth + 1)?;
        }
    }
    Ok(())
}

fn children_json(
    store: &drover_store::Store,
    id: ExecutionId,
    depth: usize,
) -> Result<serde_json::Value> {
    let mut out = Vec::new();
    for c in store.execution_children(id)? {
        let mut value = serde_json::to_value(&c)?;
        if depth < MAX_TREE_DEPTH {
            value["children"] = children_json(store, c.summary.id, depth + 1)?;
        }
        out.push(value);
    }
    Ok(serde_json::Value::Array(out))
}
