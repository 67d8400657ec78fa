//! `drover shadow report`: a waiting candidate version's dry runs beside
//! the live version's real ones, per trigger, the differences first
//! (drover-app's `shadow`); the text form is shared with `--server`.

use std::path::Path;
use std::process::ExitCode;

use anyhow::{Result, anyhow};
use clap::Subcommand;
use serde_json::Value;

use crate::context::open_app;
use crate::output;

#[derive(Subcommand, Debug)]
pub enum ShadowCmd {
    /// What a candidate (a new version installed in shadow mode beside a
    /// trusted one) would have done with every trigger since it arrived,
    /// next to what the live version did: the triggers on which it would
    /// act differently first (another rule matched or not, another action
    /// or parameters, other calls that change the world, or calls its
    /// grants do not allow).
    Report {
        /// `NAME` (its waiting candidate) or `NAME@VERSION`.
        pack: String,
        /// Only triggers this recent: 1m to 30d (default: all the
        /// candidate saw).
        #[arg(long)]
        since: Option<String>,
        /// Every trigger, also those on which both sides agree.
        #[arg(long)]
        all: bool,
        #[arg(long)]
        json: bool,
    },
}

/// `NAME@VERSION` or `NAME`.
pub fn split(spec: &str) -> (&str, Option<&str>) {
    match spec.split_once('@') {
        Some((name, version)) => (name, Some(version)),
        None => (spec, None),
    }
}

pub fn run(db: &Path, cmd: ShadowCmd) -> Result<ExitCode> {
    let ShadowCmd::Report {
        pack,
        since,
        all,
        json,
    } = cmd;
    let since_ms = match &since {
        Some(s) => {
            drover_core::now_ms() - drover_app::incidents::range_ms(s).map_err(|e| anyhow!(e))?
        }
        None => 0,
    };
    let app = open_app(db)?;
    let (name, version) = split(&pack);
    let installed = app.packs()?;
    let report = drover_app::shadow::report(app.store(), &installed, name, version, since_ms)?;
    let value = serde_json::to_value(&report)?;
    if json {
        output::json(&value)?;
    } else {
        print(&value, all);
    }
    Ok(ExitCode::SUCCESS)
}

/// Prints a shadow report (drover-app's `ShadowReport` as JSON: the API's
/// shape too).
pub fn print(report: &Value, all: bool) {
    let s = |v: &Value| v.as_str().unwrap_or_default().to_owned();
    println!(
        "{}@{} (candidate, dry runs) beside {}@{} (live): {} triggers, {} would act differently{}",
        s(&report["pack"]),
        s(&report["candidate_version"]),
        s(&report["pack"]),
        s(&report["live_version"]),
        report["triggers"],
        report["differing"],
        match report["running"].as_u64() {
            Some(n) if n > 0 => format!(", {n} still running (compared once they end)"),
            _ => String::new(),
        }
    );
    if let Some(effects) = report["effects"].as_object().filter(|e| !e.is_empty()) {
        let counts: Vec<String> = effects
            .iter()
            .map(|(cap, n)| format!("{cap} {} live / {} candidate", n["live"], n["candidate"]))
            .collect();
        println!("calls that change the world: {}", counts.join(", "));
    }
    let items = report["items"]
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or_default();
    for item in items {
        let differs = item["differs"].as_bool() == Some(true);
        if !differs && !all {
            continue;
        }
        let mark = if differs {
            "DIFFERS"
        } else if item["running"].as_bool() == Some(true) {
            "running"
        } else {
            "same"
        };
        println!(
            "{mark} {} {} {} node {}",
            output::time(item["received_at_ms"].as_i64().unwrap_or_default()),
            s(&item["trigger_id"]),
            s(&item["trigger_type"]),
            item["node"].as_str().unwrap_or("-")
        );
        for d in item["said"]
            .as_array()
            .map(Vec::as_slice)
            .unwrap_or_default()
        {
            println!("  {}", s(d));
        }
    }
    if !all && items.iter().any(|i| i["differs"].as_bool() != Some(true)) {
        println!("(--all lists the triggers on which both sides agree too)");
    }
    if report["truncated"].as_bool() == Some(true) {
        println!("(more triggers than are compared: only the newest; narrow it with --since)");
    }
    for note in report["notes"]
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or_default()
    {
        println!("note: {}", s(note));
    }
}
