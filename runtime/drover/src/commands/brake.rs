//! `drover brake status|release|set`: the storm brake. When more than the
//! threshold of the fleet becomes unhealthy within the window, automatic
//! requests are refused (and queued ones held) until an operator releases
//! it; operators' own requests go on.

use std::path::Path;
use std::process::ExitCode;

use anyhow::Result;
use clap::Subcommand;
use drover_fleet::{Fleet, fmt_duration};

use crate::context::{actor, open_store};
use crate::output;

#[derive(Subcommand, Debug)]
pub enum BrakeCmd {
    /// Whether the brake is engaged, why, and how many nodes count as
    /// unhealthy now.
    Status {
        #[arg(long)]
        json: bool,
    },
    /// Release the brake: automatic requests may start again, and the
    /// unhealthy count starts afresh.
    Release,
    /// Configure the threshold and window.
    Set {
        /// Percentage of the inventory, e.g. 5%.
        #[arg(long, value_name = "P%")]
        threshold: Option<String>,
        /// e.g. 10m.
        #[arg(long, value_parser = humantime::parse_duration, value_name = "DURATION")]
        window: Option<std::time::Duration>,
    },
}

pub fn run(db: &Path, cmd: BrakeCmd) -> Result<ExitCode> {
    let fleet = Fleet::new(open_store(db)?);
    match cmd {
        BrakeCmd::Status { json } => {
            let s = fleet.brake_status()?;
            if json {
                output::json(&s)?;
            } else {
                if s.engaged {
                    println!(
                        "storm brake ENGAGED since {}: {}",
                        s.engaged_at_ms.map(output::time).unwrap_or_default(),
                        s.reason
                    );
                    println!(
                        "  automatic requests are refused; `drover brake release` when the storm is understood"
                    );
                } else {
                    println!("storm brake released");
                }
                println!(
                    "  trips above {}% of {} nodes unhealthy within {}; now {} unhealthy",
                    s.threshold_percent,
                    s.total,
                    fmt_duration(s.window_ms),
                    s.unhealthy
                );
                if let (Some(at), Some(by)) = (s.released_at_ms, &s.released_by) {
                    println!("  last released {} by {by}", output::time(at));
                }
                if let Some(p) = &s.paused {
                    println!(
                        "fleet paused since {} by {}: {}",
                        output::time(p.since_ms),
                        p.by,
                        p.reason
                    );
                }
            }
        }
        BrakeCmd::Release => {
            if fleet.release_brake(&actor())? {
                println!("storm brake released; automatic requests may start again");
            } else {
                println!("the storm brake was not engaged; the unhealthy count starts afresh");
            }
        }
        BrakeCmd::Set { threshold, window } => {
            let t = threshold
                .map(|t| {
                    t.trim()
                        .trim_end_matches('%')
                        .trim()
                        .parse::<f64>()
                        .map_err(|_| {
                            anyhow::anyhow!("--threshold {t:?}: write a percentage, e.g. 5%")
                        })
                })
                .transpose()?;
            let s = fleet.configure_brake(t, window.map(|w| w.as_millis() as i64), &actor())?;
            println!(
                "storm brake: trips above {}% unhealthy within {}",
                s.brake.threshold_percent,
                fmt_duration(s.brake.window_ms)
            );
        }
    }
    Ok(ExitCode::SUCCESS)
}
