//! `drover trigger list`.

use std::path::Path;
use std::process::ExitCode;

use anyhow::Result;

use crate::cli::TriggerCmd;
use crate::context::open_store;
use crate::output;

pub fn run(db: &Path, cmd: TriggerCmd) -> Result<ExitCode> {
    let TriggerCmd::List {
        trigger_type,
        limit,
        before,
        json,
    } = cmd;
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
