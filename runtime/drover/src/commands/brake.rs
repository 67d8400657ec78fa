//! `drover brake status|release|set`: the storm brake. When more than the
//! threshold of the fleet becomes unhealthy within the window, automatic
//! requests are refused (and queued ones held) until an operator releases
//! it; operators' own requests go on.

use std::path::Path;
use std::process::ExitCode;

use anyhow::Result;
use clap::Subcommand;
use drover_fleet::{Fleet, fmt_duration};
use serde_json::Value;

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
    Release {
        /// Why, for the change log (`drover changes list`).
        #[arg(long, value_name = "TEXT")]
        reason: Option<String>,
    },
    /// Configure the threshold and window.
    Set {
        /// Percentage of the inventory, e.g. 5%.
        #[arg(long, value_name = "P%")]
        threshold: Option<String>,
        /// e.g. 10m.
        #[arg(long, value_parser = humantime::parse_duration, value_name = "DURATION")]
        window: Option<std::time::Duration>,
        /// How long automatic requests wait before they may start, so a
        /// storm trips the brake before the first reboot (e.g. 10s; default
        /// 0s: they start at once).
        #[arg(long, value_parser = humantime::parse_duration, value_name = "DURATION")]
        settle: Option<std::time::Duration>,
        /// Why, for the change log (`drover changes list`).
        #[arg(long, value_name = "TEXT")]
        reason: Option<String>,
    },
}

pub fn run(db: &Path, cmd: BrakeCmd) -> Result<ExitCode> {
    let fleet = Fleet::new(open_store(db)?);
    match cmd {
        BrakeCmd::Status { json } => {
            let s = serde_json::to_value(fleet.brake_status()?)?;
            print_status(&s, json)?;
        }
        BrakeCmd::Release { reason } => {
            print_release(fleet.release_brake_because(&actor(), reason.as_deref())?)
        }
        BrakeCmd::Set {
            threshold,
            window,
            settle,
            reason,
        } => {
            let t = parse_threshold(threshold)?;
            let ms = |d: std::time::Duration| d.as_millis() as i64;
            let by = drover_core::ChangeBy::new(&actor(), reason.as_deref())?;
            let s = fleet.configure_brake(t, window.map(ms), settle.map(ms), by)?;
            print_settings(
                s.brake.threshold_percent,
                s.brake.window_ms,
                s.brake.settle_ms,
            );
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// `--threshold 5%` as a number of percent.
pub fn parse_threshold(threshold: Option<String>) -> Result<Option<f64>> {
    threshold
        .map(|t| {
            t.trim()
                .trim_end_matches('%')
                .trim()
                .parse::<f64>()
                .map_err(|_| anyhow::anyhow!("--threshold {t:?}: write a percentage, e.g. 5%"))
        })
        .transpose()
}

/// The brake's status (as JSON: drover-fleet's `BrakeStatus`), as text or
/// `--json`; the same for the database and `--server`.
pub fn print_status(s: &Value, json: bool) -> Result<()> {
    if json {
        return output::json(s);
    }
    let time = |v: &Value| v.as_i64().map(output::time).unwrap_or_default();
    if s["engaged"] == true {
        println!(
            "storm brake ENGAGED since {}: {}",
            time(&s["engaged_at_ms"]),
            s["reason"].as_str().unwrap_or("")
        );
        println!(
            "  automatic requests are refused; `drover brake release` when the storm is understood"
        );
    } else {
        println!("storm brake released");
    }
    println!(
        "  trips above {}% of {} nodes unhealthy within {}; now {} count toward it \
         (an automatic drain or reboot asked for them, or intervention, in the window)",
        s["threshold_percent"].as_f64().unwrap_or(0.0),
        s["total"],
        fmt_duration(s["window_ms"].as_i64().unwrap_or(0)),
        s["unhealthy"]
    );
    if let (Some(_), Some(by)) = (s["released_at_ms"].as_i64(), s["released_by"].as_str()) {
        println!("  last released {} by {by}", time(&s["released_at_ms"]));
    }
    let p = &s["paused"];
    if p.is_object() {
        println!(
            "fleet paused since {} by {}: {}",
            time(&p["since_ms"]),
            p["by"].as_str().unwrap_or(""),
            p["reason"].as_str().unwrap_or("")
        );
    }
    Ok(())
}

pub fn print_release(was_engaged: bool) {
    if was_engaged {
        println!("storm brake released; automatic requests may start again");
    } else {
        println!("the storm brake was not engaged; the unhealthy count starts afresh");
    }
}

pub fn print_settings(threshold_percent: f64, window_ms: i64, settle_ms: i64) {
    println!(
        "storm brake: trips above {threshold_percent}% unhealthy within {}; automatic requests settle {}",
        fmt_duration(window_ms),
        fmt_duration(settle_ms)
    );
}
