//! `drover sensor list`: each sensor's state (`running`, `failed`,
//! `blocked`, `stopped`; `dry run` for a shadow pack's), last error and
//! counts (with the effects its dry runs planned), as the sensor service
//! of `drover serve` stored them. `--json` has the latest plan.

use std::path::Path;
use std::process::ExitCode;

use anyhow::Result;

use crate::cli::SensorCmd;
use crate::context::open_store;
use crate::output;

pub fn run(db: &Path, cmd: SensorCmd) -> Result<ExitCode> {
    let store = open_store(db)?;
    match cmd {
        SensorCmd::List { json } => {
            let all = store.list_sensor_status()?;
            if json {
                output::json(&all)?;
            } else if all.is_empty() {
                println!("no sensor has run yet: sensors run under `drover serve`");
            } else {
                let mut rows = vec![
                    [
                        "SENSOR",
                        "STATE",
                        "POLLS",
                        "MESSAGES",
                        "TRIGGERS",
                        "FAILURES",
                        "PLANNED",
                        "UPDATED",
                        "LAST ERROR",
                    ]
                    .map(String::from)
                    .to_vec(),
                ];
                for s in all {
                    let state = match s.backoff_ms {
                        Some(ms) if s.state == "failed" => {
                            format!("failed (retry in {:.1}s)", ms as f64 / 1000.0)
                        }
                        _ => s.state,
                    };
                    // A shadow pack's sensor: its effects are plans.
                    let state = if s.dry_run {
                        format!("{state}, dry run")
                    } else {
                        state
                    };
                    rows.push(vec![
                        s.name,
                        state,
                        s.polls.to_string(),
                        s.messages.to_string(),
                        s.triggers.to_string(),
                        s.failures.to_string(),
                        s.planned.to_string(),
                        output::time(s.updated_at_ms),
                        s.last_error
                            .map(|e| e.lines().next().unwrap_or("").to_owned())
                            .unwrap_or_default(),
                    ]);
                }
                output::table(&rows);
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}
