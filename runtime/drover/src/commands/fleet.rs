//! `drover fleet queue|cancel|pause|resume|window|ladder|run`: the open
//! requests and the controller's global switches. The queue lists the
//! open requests with the gate each waits on; cancel ends one (a queued
//! one is dropped, a node being drained is given back). Pause stops
//! queued requests from starting (in-flight ones finish); windows are
//! when `--policy window` requests may start; ladders are how a reboot
//! escalates per node class; `run` drives the lifecycle in the
//! foreground (what `drover serve` does on a thread).

use std::path::Path;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Result;
use clap::Subcommand;
use drover_fleet::settings::{Window, parse_ladder};
use drover_fleet::{Controller, Fleet, fmt_duration};
use serde_json::Value;

use crate::context::{actor, open_store};
use crate::output;

#[derive(Subcommand, Debug)]
pub enum FleetCmd {
    /// The open requests (queued, in progress), oldest first: node, what
    /// was asked, by whom, since when, and the gate a queued one waits on.
    Queue {
        #[arg(long)]
        json: bool,
    },
    /// Cancel an open request (its id from `drover fleet queue`). A queued
    /// request is dropped, its node left as it is; a node whose drain has
    /// started is given back to production (an undrain); a node rebooting
    /// or already being given back refuses (a power action cannot be
    /// taken back). A workflow waiting on the request sees it cancelled.
    #[command(
        after_help = "Example:\n  drover fleet cancel 01JD3Q9W4S8V6M2N7K5T0XYZAB --reason \"wrong node\""
    )]
    Cancel {
        request: String,
        /// Why (kept in the request, the node's history and the audit log).
        #[arg(long)]
        reason: String,
        #[arg(long)]
        json: bool,
    },
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
    /// The windows, whether each is open now and how many nodes it covers.
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

/// What an open request asks for, as the queue says it.
fn op(kind: &str) -> &str {
    match kind {
        "undrain" => "give back",
        other => other,
    }
}

/// The open requests (drover-fleet's `QueueEntry`s as JSON), as a table
/// or `--json`; the same for the database and `--server`.
pub fn print_queue(queue: &Value, json: bool) -> Result<()> {
    if json {
        return output::json(queue);
    }
    let entries = queue.as_array().cloned().unwrap_or_default();
    if entries.is_empty() {
        println!("no open fleet requests");
        return Ok(());
    }
    let mut rows = vec![vec![
        "REQUEST".into(),
        "NODE".into(),
        "OP".into(),
        "STATUS".into(),
        "ASKED BY".into(),
        "SINCE".into(),
        "WAITS ON".into(),
    ]];
    let s = |v: &Value| v.as_str().unwrap_or("").to_owned();
    for q in &entries {
        let status = match (s(&q["status"]).as_str(), s(&q["state"]).as_str()) {
            ("active", state) => format!("active ({state})"),
            (other, _) => other.to_owned(),
        };
        let by = match q["execution_id"].as_str() {
            Some(e) => format!("{} (execution {e})", s(&q["actor"])),
            None => s(&q["actor"]),
        };
        let waits = match (q["gate"].as_str(), q["starts_next"] == true) {
            (Some(gate), _) => format!("{gate}: {}", s(&q["detail"])),
            (None, true) => "nothing: starts at the controller's next tick".into(),
            (None, false) => s(&q["detail"]),
        };
        rows.push(vec![
            s(&q["id"]),
            s(&q["node"]),
            op(q["kind"].as_str().unwrap_or("")).to_owned(),
            status,
            by,
            q["created_ms"]
                .as_i64()
                .map(output::time)
                .unwrap_or_default(),
            waits,
        ]);
    }
    output::table(&rows);
    Ok(())
}

/// What `fleet cancel` prints (drover-fleet's `Cancelled` as JSON).
pub fn print_cancelled(done: &Value, json: bool) -> Result<()> {
    if json {
        return output::json(done);
    }
    let s = |k: &str| done[k].as_str().unwrap_or("").to_owned();
    let (id, node) = (s("request_id"), s("node"));
    let what = format!("request {id} ({} of {node}) cancelled", op(&s("kind")));
    match done["given_back"].as_str() {
        Some(undrain) => println!(
            "{what}; {node} was {} and is given back to production (undrain request {undrain})",
            s("state")
        ),
        None => println!("{what} (it was {}; {node} stays {})", s("was"), s("state")),
    }
    Ok(())
}

/// The windows (drover-fleet's `WindowView`s as JSON), as a table or
/// `--json`; the same for the database and `--server`.
pub fn print_windows(windows: &Value, json: bool) -> Result<()> {
    if json {
        return output::json(windows);
    }
    let windows = windows.as_array().cloned().unwrap_or_default();
    if windows.is_empty() {
        println!("no maintenance windows");
        return Ok(());
    }
    let s = |v: &Value| v.as_str().unwrap_or("").to_owned();
    let mut rows = vec![vec![
        "NAME".into(),
        "DAYS".into(),
        "TIME".into(),
        "TZ".into(),
        "NODES".into(),
        "OPEN NOW".into(),
    ]];
    for w in &windows {
        let days: Vec<String> = w["days"]
            .as_array()
            .map(|d| d.iter().map(s).collect())
            .unwrap_or_default();
        rows.push(vec![
            s(&w["name"]),
            if days.is_empty() {
                "every day".into()
            } else {
                days.join(",")
            },
            format!("{}-{}", s(&w["start"]), s(&w["end"])),
            s(&w["tz"]),
            format!(
                "{} ({})",
                w["selector"].as_str().unwrap_or("all"),
                w["nodes"]
            ),
            if w["open_now"] == true { "yes" } else { "no" }.into(),
        ]);
    }
    output::table(&rows);
    Ok(())
}

/// What `fleet window add` prints (locally and with --server).
pub fn print_window_added(name: &str) {
    println!("window {name} added");
}

/// What `fleet window remove` prints (locally and with --server).
pub fn print_window_removed(name: &str) {
    println!("window {name} removed");
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
        FleetCmd::Queue { json } => print_queue(&serde_json::to_value(fleet.queue()?)?, json)?,
        FleetCmd::Cancel {
            request,
            reason,
            json,
        } => {
            let done = fleet.cancel_request(&request, &actor(), &reason)?;
            print_cancelled(&serde_json::to_value(done)?, json)?;
        }
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
            print_window_added(&name);
        }
        FleetCmd::Window(WindowCmd::List { json }) => {
            print_windows(&serde_json::to_value(fleet.windows()?)?, json)?;
        }
        FleetCmd::Window(WindowCmd::Remove { name, reason }) => {
            fleet.remove_window(&name, by(reason)?)?;
            print_window_removed(&name);
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
            // The controller of a `drover serve` on this file would act on
            // the same requests.
            let _only = crate::context::lock_for_serving(db, "drover fleet run")?;
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
