//! `drover fleet pause|resume|window|ladder|run`: the controller's global
//! switches. Pause stops queued requests from starting (in-flight ones
//! finish); windows are when `--policy window` requests may start;
//! ladders are how a reboot escalates per node class; `run` drives the
//! lifecycle in the foreground (what `drover serve` does on a thread).

use std::path::Path;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Result;
use clap::Subcommand;
use drover_fleet::settings::{Window, parse_ladder};
use drover_fleet::{Controller, Fleet, fmt_duration};

use crate::context::{actor, open_store};
use crate::output;

#[derive(Subcommand, Debug)]
pub enum FleetCmd {
    /// Stop new remediations: queued requests wait, in-flight ones finish.
    Pause {
        #[arg(long)]
        reason: String,
    },
    /// Let queued requests start again.
    Resume {
        /// Why, for the change log (`drover changes list`).
        #[arg(long, value_name = "TEXT")]
        reason: Option<String>,
    },
    /// Maintenance windows for `--policy window` requests.
    #[command(subcommand)]
    Window(WindowCmd),
    /// Escalation ladders: how a reboot escalates, per node class (the
    /// node's `class` label; `default` for the rest).
    #[command(subcommand)]
    Ladder(LadderCmd),
    /// Run the controller in the foreground: move requested nodes through
    /// their lifecycle (drain, reboot, restore) with their drivers.
    Run {
        /// Time between controller ticks.
        #[arg(long, default_value = "1s", value_parser = humantime::parse_duration)]
        interval: Duration,
        /// Stop once no request is open.
        #[arg(long)]
        until_idle: bool,
        /// Give up after this long.
        #[arg(long, default_value = "1h", value_parser = humantime::parse_duration)]
        timeout: Duration,
    },
}

#[derive(Subcommand, Debug)]
pub enum WindowCmd {
    /// Add (or replace) a window.
    #[command(
        after_help = "Example:\n  drover fleet window add nights --days mon,tue,wed,thu,fri --start 22:00 --end 04:00 --tz Europe/Zurich"
    )]
    Add {
        name: String,
        /// Days the window opens: mon,tue,… (default: every day).
        #[arg(long, value_delimiter = ',')]
        days: Vec<String>,
        /// HH:MM, local time.
        #[arg(long)]
        start: String,
        /// HH:MM; before --start means past midnight.
        #[arg(long)]
        end: String,
        /// IANA time zone.
        #[arg(long, default_value = "UTC")]
        tz: String,
        /// Only nodes matching this label selector.
        #[arg(long)]
        selector: Option<String>,
        /// Why, for the change log (`drover changes list`).
        #[arg(long, value_name = "TEXT")]
        reason: Option<String>,
    },
    List {
        #[arg(long)]
        json: bool,
    },
    Remove {
        name: String,
        /// Why, for the change log (`drover changes list`).
        #[arg(long, value_name = "TEXT")]
        reason: Option<String>,
    },
}

#[derive(Subcommand, Debug)]
pub enum LadderCmd {
    /// Set a class's ladder, e.g. `graceful-restart:10m,force-restart:5m`.
    Set {
        class: String,
        steps: String,
        /// Why, for the change log (`drover changes list`).
        #[arg(long, value_name = "TEXT")]
        reason: Option<String>,
    },
    List {
        #[arg(long)]
        json: bool,
    },
}

/// What `fleet pause` prints (locally and with --server).
pub fn print_paused() {
    println!("fleet paused: queued requests wait, in-flight ones finish (`drover fleet resume`)");
}

/// What `fleet resume` prints (locally and with --server).
pub fn print_resumed() {
    println!("fleet resumed");
}

/// This user, giving `reason` (checked) for the change log.
fn by(reason: Option<String>) -> Result<drover_core::ChangeBy> {
    Ok(drover_core::ChangeBy::new(&actor(), reason.as_deref())?)
}

pub fn run(db: &Path, cmd: FleetCmd) -> Result<ExitCode> {
    let store = open_store(db)?;
    let fleet = Fleet::new(store.clone());
    match cmd {
        FleetCmd::Pause { reason } => {
            fleet.pause(&actor(), &reason)?;
            print_paused();
        }
        FleetCmd::Resume { reason } => {
            fleet.resume(by(reason)?)?;
            print_resumed();
        }
        FleetCmd::Window(WindowCmd::Add {
            name,
            days,
            start,
            end,
            tz,
            selector,
            reason,
        }) => {
            let w = Window {
                name: name.clone(),
                days,
                start,
                end,
                tz,
                selector,
            };
            fleet.add_window(w, by(reason)?)?;
            println!("window {name} added");
        }
        FleetCmd::Window(WindowCmd::List { json }) => {
            let s = fleet.settings()?;
            if json {
                output::json(&s.windows)?;
            } else if s.windows.is_empty() {
                println!("no maintenance windows");
            } else {
                let mut rows = vec![vec![
                    "NAME".into(),
                    "DAYS".into(),
                    "TIME".into(),
                    "TZ".into(),
                    "NODES".into(),
                ]];
                for w in &s.windows {
                    rows.push(vec![
                        w.name.clone(),
                        if w.days.is_empty() {
                            "every day".into()
                        } else {
                            w.days.join(",")
                        },
                        format!("{}-{}", w.start, w.end),
                        w.tz.clone(),
                        w.selector.clone().unwrap_or_else(|| "all".into()),
                    ]);
                }
                output::table(&rows);
            }
        }
        FleetCmd::Window(WindowCmd::Remove { name, reason }) => {
            fleet.remove_window(&name, by(reason)?)?;
            println!("window {name} removed");
        }
        FleetCmd::Ladder(LadderCmd::Set {
            class,
            steps,
            reason,
        }) => {
            let rungs = parse_ladder(&steps)?;
            fleet.set_ladder(&class, rungs, by(reason)?)?;
            println!("ladder for class {class} set");
        }
        FleetCmd::Ladder(LadderCmd::List { json }) => {
            let s = fleet.settings()?;
            if json {
                output::json(&s.ladders)?;
            } else {
                for (class, rungs) in &s.ladders {
                    let steps: Vec<String> = rungs
                        .iter()
                        .map(|r| format!("{} {}", r.action.as_str(), fmt_duration(r.timeout_ms)))
                        .collect();
                    println!("{class}: {} → intervention", steps.join(" → "));
                }
            }
        }
        FleetCmd::Run {
            interval,
            until_idle,
            timeout,
        } => {
            let c = Controller::standard(store);
            let end = std::time::Instant::now() + timeout;
            loop {
                let r = c.tick()?;
                if r.actions > 0 {
                    eprintln!(
                        "drover: fleet tick: {} driver calls ({} failed), {} requests open",
                        r.actions, r.failures, r.open
                    );
                }
                if (until_idle && r.open == 0) || std::time::Instant::now() >= end {
                    println!("{} requests open", r.open);
                    break;
                }
                std::thread::sleep(interval);
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}
