//! `drover incident list`: remediations with one cause grouped into
//! incidents (drover-app's `incidents`); the text form is shared with
//! `--server`.

use std::path::Path;
use std::process::ExitCode;

use anyhow::{Result, anyhow};
use clap::Subcommand;
use serde_json::Value;

use crate::context::open_store;
use crate::output;

#[derive(Subcommand, Debug)]
pub enum IncidentCmd {
    /// Incidents in a range, the most recent first: requests a gate (storm
    /// brake, pause, window, intervention) held or refused, and runs that
    /// failed the same way (node names and numbers aside).
    List {
        /// How far back: 1m to 30d.
        #[arg(long, default_value = "24h")]
        since: String,
        /// Every member of each incident, one line each.
        #[arg(long)]
        members: bool,
        #[arg(long)]
        json: bool,
    },
}

pub fn run(db: &Path, cmd: IncidentCmd) -> Result<ExitCode> {
    let IncidentCmd::List {
        since,
        members,
        json,
    } = cmd;
    let back = drover_app::incidents::range_ms(&since).map_err(|e| anyhow!(e))?;
    let now = drover_core::now_ms();
    let found = drover_app::incidents::incidents(
        &open_store(db)?,
        now - back,
        now + 1,
        now,
        drover_app::incidents::Depth::PAGE,
    )?;
    let value = serde_json::to_value(&found)?;
    if json {
        output::json(&value["items"])?;
    } else {
        print(&value, &since, members);
    }
    Ok(ExitCode::SUCCESS)
}

/// Prints incidents (drover-app's `Incidents` as JSON: the API's shape
/// too).
pub fn print(incidents: &Value, since: &str, members: bool) {
    let list = incidents["items"]
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or_default();
    if list.is_empty() {
        println!("no incident in the last {since}");
    }
    let s = |v: &Value| v.as_str().unwrap_or_default().to_owned();
    let counts = |v: &Value| -> String {
        v.as_array()
            .map(Vec::as_slice)
            .unwrap_or_default()
            .iter()
            .map(|p| format!("{} {}", p[1], s(&p[0])))
            .collect::<Vec<_>>()
            .join(", ")
    };
    for i in list {
        let ongoing = if i["ongoing"].as_bool() == Some(true) {
            " [ongoing]"
        } else {
            ""
        };
        println!("{} {}{ongoing}", s(&i["id"]), s(&i["title"]));
        println!(
            "  {} to {}, {} nodes; {}; started by {}",
            output::time(i["first_ms"].as_i64().unwrap_or_default()),
            output::time(i["last_ms"].as_i64().unwrap_or_default()),
            i["nodes"],
            counts(&i["statuses"]),
            counts(&i["rules"])
        );
        println!("  cause: {}", s(&i["cause"]));
        if members {
            for m in i["members"]
                .as_array()
                .map(Vec::as_slice)
                .unwrap_or_default()
            {
                let run = m["root"]
                    .as_str()
                    .or(m["execution_id"].as_str())
                    .unwrap_or("-");
                println!(
                    "    {} {} {} run {run}: {}",
                    output::time(m["at_ms"].as_i64().unwrap_or_default()),
                    m["node"].as_str().unwrap_or("-"),
                    s(&m["status"]),
                    s(&m["detail"])
                );
            }
        }
    }
    if incidents["truncated"].as_bool() == Some(true) {
        println!(
            "(more requests or failed runs than are read were in the range: \
             only the newest were grouped; narrow it with --since)"
        );
    }
}
