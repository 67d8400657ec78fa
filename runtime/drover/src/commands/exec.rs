//! `drover exec list|get`; `get --tree` adds a workflow's child executions.

use std::path::Path;
use std::process::ExitCode;

use anyhow::{Result, bail};
use drover_core::{ExecStatus, ExecutionId};
use drover_store::ExecutionQuery;

use crate::cli::ExecCmd;
use crate::context::open_store;
use crate::output;

pub fn run(db: &Path, cmd: ExecCmd) -> Result<ExitCode> {
    let cmd = match cmd {
        ExecCmd::Pause(args) => return super::exec_control::pause(db, args),
        ExecCmd::Resume(args) => return super::exec_control::resume(db, args),
        ExecCmd::Cancel(args) => return super::exec_control::cancel(db, args),
        ExecCmd::Rerun(args) => return super::exec_control::rerun(db, args),
        other => other,
    };
    let store = open_store(db)?;
    match cmd {
        ExecCmd::List {
            action,
            status,
            limit,
            before,
            node,
            actor,
            rule,
            active,
            json,
        } => {
            if active {
                return active_runs(&store, json);
            }
            let status = match status.as_deref() {
                None => None,
                Some(s) => Some(ExecStatus::parse(s).ok_or_else(|| {
                    anyhow::anyhow!(
                        "unknown status {s:?} (expected succeeded, failed, denied, timeout or canceled)"
                    )
                })?),
            };
            // The API's and the web UI's query: keyset pages on the primary
            // key, each filter by its index.
            let page = store.execution_page(&ExecutionQuery {
                action,
                status,
                after: before.map(|b| b.parse()).transpose()?,
                node,
                actor,
                rule,
                limit: limit.clamp(1, 1000),
                ..Default::default()
            })?;
            let rows = page.items;
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
            if let Some(next) = page.next_after {
                println!("more: drover exec list --before {next}");
            }
            Ok(ExitCode::SUCCESS)
        }
        ExecCmd::Get { id, json, tree } => {
            let id: ExecutionId = id.parse()?;
            let Some(exec) = store.get_execution(id)? else {
                return in_progress(&store, id, json);
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
        ExecCmd::Pause(_) | ExecCmd::Resume(_) | ExecCmd::Cancel(_) | ExecCmd::Rerun(_) => {
            unreachable!("dispatched above")
        }
    }
}

/// How an unfinished workflow run stands: status and what it waits on.
fn run_status(run: &drover_store::WorkflowRun) -> (&'static str, Option<String>) {
    let p = run.progress();
    let waiting_on = match p.delay_until_ms {
        Some(ms) => Some(format!("delay until {}", output::time(ms))),
        None => p.waiting_on,
    };
    (p.status, waiting_on)
}

/// `exec list --active`: top-level workflow runs that have not ended.
fn active_runs(store: &drover_store::Store, json: bool) -> Result<ExitCode> {
    let runs: Vec<serde_json::Value> = store
        .unfinished_workflow_runs()?
        .iter()
        .map(|r| {
            let (status, waiting_on) = run_status(r);
            serde_json::json!({
                "id": r.id,
                "action": r.action,
                "status": status,
                "waiting_on": waiting_on,
                "dry_run": r.dry_run,
                "actor": r.actor,
                "started_at_ms": r.started_at_ms,
            })
        })
        .collect();
    print_active(&serde_json::Value::Array(runs), json)?;
    Ok(ExitCode::SUCCESS)
}

/// Workflow runs in progress (`id`, `action`, `status`, `waiting_on`,
/// `dry_run`, `actor`, `started_at_ms`), as a table or `--json`; the same
/// for the database and `--server`.
pub fn print_active(runs: &serde_json::Value, json: bool) -> Result<()> {
    if json {
        return output::json(runs);
    }
    let runs = runs.as_array().cloned().unwrap_or_default();
    if runs.is_empty() {
        println!("no workflows in progress");
        return Ok(());
    }
    let mut table = vec![vec![
        "ID".into(),
        "WORKFLOW".into(),
        "STATUS".into(),
        "WAITING ON".into(),
        "STARTED".into(),
        "BY".into(),
    ]];
    let text = |v: &serde_json::Value| v.as_str().unwrap_or("").to_owned();
    for r in &runs {
        table.push(vec![
            text(&r["id"]),
            text(&r["action"]),
            text(&r["status"]),
            text(&r["waiting_on"]),
            r["started_at_ms"]
                .as_i64()
                .map(output::time)
                .unwrap_or_default(),
            text(&r["actor"]),
        ]);
    }
    output::table(&table);
    Ok(())
}

/// A workflow run that has not ended (no execution yet): its state and
/// the children it has so far.
fn in_progress(store: &drover_store::Store, id: ExecutionId, json: bool) -> Result<ExitCode> {
    let Some(run) = store.get_workflow_run(id)? else {
        bail!("no execution {id} (see `drover exec list`)");
    };
    let (status, waiting_on) = run_status(&run);
    if json {
        output::json(&serde_json::json!({
            "id": run.id,
            "action": run.action,
            "status": status,
            "waiting_on": waiting_on,
            "digest": run.digest,
            "parameters": run.parameters,
            "dry_run": run.dry_run,
            "actor": run.actor,
            "started_at_ms": run.started_at_ms,
            "children": children_json(store, id, 0)?,
            "subworkflows_in_progress": subworkflows_json(store, id, 0)?,
        }))?;
        return Ok(ExitCode::SUCCESS);
    }
    println!("{}  {}  {status}", run.id, run.action);
    if let Some(why) = waiting_on {
        println!("  waiting on {why}");
    }
    println!("  started   {}", output::time(run.started_at_ms));
    println!("  tree");
    let done = store.execution_children(id)?;
    let subs = store.unfinished_subworkflows(id)?;
    if done.is_empty() && subs.is_empty() {
        println!("    no child executions yet");
    }
    if !done.is_empty() {
        print_tree(store, id, 2)?;
    }
    print_subworkflows(store, id, 2)?;
    Ok(ExitCode::SUCCESS)
}

/// Subworkflows of run `id` still in progress, with what they ran so far.
fn print_subworkflows(store: &drover_store::Store, id: ExecutionId, depth: usize) -> Result<()> {
    for sub in store.unfinished_subworkflows(id)? {
        let task = sub.link.as_ref().map_or("?", |l| l.task.as_str());
        println!(
            "{:indent$}{task}  {}  in progress  {}",
            "",
            sub.action,
            sub.id,
            indent = depth * 2
        );
        if depth < MAX_TREE_DEPTH {
            print_tree(store, sub.id, depth + 1)?;
            print_subworkflows(store, sub.id, depth + 1)?;
        }
    }
    Ok(())
}

fn subworkflows_json(
    store: &drover_store::Store,
    id: ExecutionId,
    depth: usize,
) -> Result<serde_json::Value> {
    let mut out = Vec::new();
    for sub in store.unfinished_subworkflows(id)? {
        let mut value = serde_json::json!({
            "id": sub.id,
            "action": sub.action,
            "task": sub.link.as_ref().map(|l| l.task.clone()),
            "route": sub.link.as_ref().map(|l| l.route),
            "children": children_json(store, sub.id, depth + 1)?,
        });
        if depth < MAX_TREE_DEPTH {
            value["subworkflows_in_progress"] = subworkflows_json(store, sub.id, depth + 1)?;
        }
        out.push(value);
    }
    Ok(serde_json::Value::Array(out))
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
