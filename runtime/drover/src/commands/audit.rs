//! `drover audit list`.

use std::path::Path;
use std::process::ExitCode;

use anyhow::Result;
use drover_core::Decision;
use drover_store::AuditFilter;

use crate::cli::AuditCmd;
use crate::context::open_store;
use crate::output;

pub fn run(db: &Path, cmd: AuditCmd) -> Result<ExitCode> {
    let AuditCmd::List {
        execution,
        pack,
        decision,
        target,
        limit,
        json,
    } = cmd;
    let decision = match decision.as_deref() {
        None => None,
        Some(d) => Some(Decision::parse(d).ok_or_else(|| {
            anyhow::anyhow!("unknown decision {d:?} (expected allowed or denied)")
        })?),
    };
    let records = open_store(db)?.list_audit(&AuditFilter {
        execution_id: execution.map(|e| e.parse()).transpose()?,
        pack,
        decision,
        target,
        before: None,
        limit: limit.clamp(1, 10_000),
    })?;
    if json {
        output::json(&records)?;
        return Ok(ExitCode::SUCCESS);
    }
    if records.is_empty() {
        println!("no audit records");
        return Ok(ExitCode::SUCCESS);
    }
    let mut rows = vec![vec![
        "TIME".into(),
        "DECISION".into(),
        "CAPABILITY".into(),
        "TARGET".into(),
        "PLUGIN".into(),
        "EXECUTION".into(),
        "BY".into(),
        "REASON".into(),
    ]];
    for r in &records {
        rows.push(vec![
            output::time(r.at_ms),
            format!(
                "{}{}",
                r.decision.as_str(),
                if r.dry_run { " (dry)" } else { "" }
            ),
            r.capability.clone(),
            r.target.clone(),
            format!("{}/{}", r.pack, r.plugin),
            r.execution_id.map(|e| e.to_string()).unwrap_or_default(),
            r.actor.clone(),
            r.reason.clone(),
        ]);
    }
    output::table(&rows);
    Ok(ExitCode::SUCCESS)
}
