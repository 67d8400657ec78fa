//! Small helpers for what commands print: JSON, times, durations, tables.

use std::io::Write;

use drover_core::{Execution, PlannedEffect};
use serde::Serialize;

/// Pretty JSON on stdout.
pub fn json<T: Serialize>(value: &T) -> anyhow::Result<()> {
    let mut out = std::io::stdout().lock();
    serde_json::to_writer_pretty(&mut out, value)?;
    writeln!(out)?;
    Ok(())
}

pub use drover_core::fmt_time as time;

/// Microseconds as `850µs`, `12.3ms` or `2.41s`.
pub fn duration_us(us: u64) -> String {
    match us {
        0..1_000 => format!("{us}µs"),
        1_000..1_000_000 => format!("{:.1}ms", us as f64 / 1e3),
        _ => format!("{:.2}s", us as f64 / 1e6),
    }
}

/// Rows of cells as aligned columns; the first row is the header.
pub fn table(rows: &[Vec<String>]) {
    let cols = rows.iter().map(Vec::len).max().unwrap_or(0);
    let widths: Vec<usize> = (0..cols)
        .map(|c| {
            rows.iter()
                .filter_map(|r| r.get(c))
                .map(|s| s.chars().count())
                .max()
                .unwrap_or(0)
        })
        .collect();
    for row in rows {
        let line: Vec<String> = row
            .iter()
            .enumerate()
            .map(|(i, cell)| {
                if i + 1 == row.len() {
                    cell.clone()
                } else {
                    format!("{cell:<w$}", w = widths[i])
                }
            })
            .collect();
        println!("{}", line.join("  "));
    }
}

/// One planned effect as a line of a plan.
pub fn effect(e: &PlannedEffect) -> String {
    let task = match (&e.task, e.route) {
        (Some(task), Some(route)) if route > 0 => format!("[{task} route {route}] "),
        (Some(task), _) => format!("[{task}] "),
        _ => String::new(),
    };
    // A fleet change's plan carries the controller's answer: the budgets,
    // the brake, the lifecycle.
    let fleet = match (
        e.simulated_result["outcome"].as_str(),
        e.simulated_result["detail"].as_str(),
    ) {
        (Some(outcome), Some(detail)) => format!("; fleet would answer {outcome}: {detail}"),
        _ => String::new(),
    };
    let gate = match &e.gate {
        Some(g) => format!(" by {g}"),
        None => String::new(),
    };
    format!(
        "{seq}. {task}{cap} {op} {target}: {decision}{gate} ({reason}){fleet}",
        seq = e.seq,
        cap = e.capability,
        op = e.operation,
        target = e.target,
        decision = e.decision.as_str(),
        reason = e.reason
    )
}

/// An execution for people.
pub fn execution(e: &Execution) {
    let dry = if e.dry_run { " (dry run)" } else { "" };
    println!(
        "execution {} {}{dry}: {} in {}",
        e.id,
        e.action,
        e.status,
        duration_us(e.duration_us)
    );
    println!("  started   {} by {}", time(e.started_at_ms), e.actor);
    println!(
        "  pack      {}@{} ({})",
        e.action.split('.').next().unwrap_or(""),
        e.pack_version,
        e.digest
    );
    println!("  params    {}", e.parameters);
    if let Some(r) = &e.result {
        println!("  result    {r}");
    }
    if let Some(err) = &e.error {
        println!("  error     {err}");
    }
    if !e.logs.is_empty() {
        println!("  logs");
        for l in &e.logs {
            println!("    +{}ms {:?}: {}", l.at_ms, l.level, l.message);
        }
    }
    if let Some(plan) = &e.plan {
        match plan.len() {
            0 => println!("  plan      no effects"),
            n => {
                println!("  plan      {n} effect{}", if n == 1 { "" } else { "s" });
                for p in plan {
                    println!("    {}", effect(p));
                }
            }
        }
    }
}
