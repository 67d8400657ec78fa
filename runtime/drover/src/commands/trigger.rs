//! `drover trigger list` and `drover trigger show` (a trigger instance's
//! trace; its text form is shared with `--server`).

use std::path::Path;
use std::process::ExitCode;

use anyhow::Result;
use serde_json::Value;

use crate::cli::TriggerCmd;
use crate::context::open_store;
use crate::output;

pub fn run(db: &Path, cmd: TriggerCmd) -> Result<ExitCode> {
    let (trigger_type, limit, before, json) = match cmd {
        TriggerCmd::List {
            trigger_type,
            limit,
            before,
            json,
        } => (trigger_type, limit, before, json),
        TriggerCmd::Show { id, json } => {
            let Some(trace) = drover_app::trace::trace(&open_store(db)?, &id)? else {
                anyhow::bail!("no trigger instance {id:?} (`drover trigger list` shows them)");
            };
            let value = serde_json::to_value(&trace)?;
            if json {
                output::json(&value)?;
            } else {
                print_trace(&value);
            }
            return Ok(ExitCode::SUCCESS);
        }
    };
    let rows = open_store(db)?.list_triggers(
        trigger_type.as_deref(),
        before.as_deref(),
        limit.clamp(1, 1000),
    )?;
    if json {
        output::json(&rows)?;
        return Ok(ExitCode::SUCCESS);
    }
    if rows.is_empty() {
        println!("no trigger instances");
        return Ok(ExitCode::SUCCESS);
    }
    for t in &rows {
        // A shadow pack produced it: whatever it fires runs dry.
        let shadow = if t.instance.shadow {
            " [shadow source: rules run dry]"
        } else {
            ""
        };
        println!(
            "{} {} {} from {}{shadow} ({}): {}",
            t.instance.id,
            output::time(t.instance.received_at_ms),
            t.instance.trigger_type,
            t.instance.source,
            t.state,
            t.instance.payload
        );
        for e in &t.enforcements {
            let what = match (&e.execution_id, &e.reason) {
                (Some(x), _) => format!("execution {x}"),
                (None, Some(r)) => r.clone(),
                (None, None) => String::new(),
            };
            println!("    rule {} {}: {what}", e.rule_ref, e.state.as_str());
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// Prints a trace (drover-app's `Trace` as JSON, the API's shape too).
pub fn print_trace(t: &Value) {
    let s = |v: &Value| v.as_str().unwrap_or_default().to_owned();
    let trigger = &t["trigger"];
    println!(
        "{} {} {} from {} ({})",
        s(&trigger["id"]),
        output::time(trigger["received_at_ms"].as_i64().unwrap_or_default()),
        s(&trigger["trigger_type"]),
        s(&trigger["source"]),
        s(&t["state"])
    );
    println!("  payload: {}", trigger["payload"]);
    let rules = t["rules"].as_array().map(Vec::as_slice).unwrap_or_default();
    if rules.is_empty() {
        println!("  no rule listens to {}", s(&trigger["trigger_type"]));
    }
    let candidates = t["candidates"]
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or_default();
    for r in rules.iter().chain(candidates) {
        let installed = match (
            r["enforcement"]["candidate"].as_str(),
            r["enabled"].as_bool(),
        ) {
            (Some(v), _) => format!(" [candidate {v}, beside the live rules: dry runs]"),
            (None, None) => " [no longer installed]".to_owned(),
            (None, Some(false)) => " [disabled now]".to_owned(),
            (None, Some(true)) => String::new(),
        };
        println!("  rule {} {}{installed}", s(&r["rule"]), s(&r["verdict"]));
        if let Some(why) = r["why"].as_str() {
            println!("    {why}");
        }
        let x = &r["execution"];
        if x.is_object() {
            let dry = if x["dry_run"].as_bool() == Some(true) {
                " (dry run)"
            } else {
                ""
            };
            println!(
                "    execution {} {} {}{dry}",
                s(&x["id"]),
                s(&x["action"]),
                s(&x["status"])
            );
            if let Some(e) = x["error"].as_str() {
                println!("      error: {e}");
            }
            for e in x["effects"]
                .as_array()
                .map(Vec::as_slice)
                .unwrap_or_default()
            {
                let gate = e["gate"]
                    .as_str()
                    .map(|g| format!(" by {g}"))
                    .unwrap_or_default();
                let planned = if e["planned"].as_bool() == Some(true) {
                    " planned"
                } else {
                    ""
                };
                let task = e["task"]
                    .as_str()
                    .map(|t| format!("[{t}] "))
                    .unwrap_or_default();
                println!(
                    "      {task}{} {}: {}{planned}{gate}: {}",
                    s(&e["capability"]),
                    s(&e["target"]),
                    s(&e["decision"]),
                    s(&e["reason"])
                );
            }
        }
    }
}
