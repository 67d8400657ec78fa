//! `drover retention show|set|reset` (how long each kind of history is
//! kept) and `drover gc [--dry-run] [--vacuum]` (delete what is past it
//! now; `drover serve` also does this every `--gc-every`; `drover gc` also
//! removes compiled components no installed version uses). The operations
//! are `drover_app::retention` and `drover_engine::retention`'s, shared
//! with the API; with `--server` (`remote.rs`) the same print functions
//! show the API's answers.

use std::path::Path;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Result;
use clap::{Args, Subcommand};
use drover_app::retention::{self, Setting};
use drover_engine::retention::{GcPreview, GcReport, Pace, gc_preview, gc_round};

use crate::context::{actor, open_app, open_store};
use crate::output;

#[derive(Subcommand, Debug)]
pub enum RetentionCmd {
    /// How long each kind of history is kept.
    Show {
        #[arg(long)]
        json: bool,
    },
    /// Keep a kind for at most `--max-age`, and/or at most its newest
    /// `--max-count` entries: `drover retention set executions --max-age 14d`.
    Set {
        /// executions, triggers, node-history, fleet-requests or audit.
        #[arg(value_name = "KIND")]
        kind: String,
        /// e.g. 30d, 12h.
        #[arg(long, value_parser = humantime::parse_duration, value_name = "DURATION")]
        max_age: Option<Duration>,
        /// Keep only the newest N.
        #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..))]
        max_count: Option<u64>,
        /// Keep everything of this kind.
        #[arg(long, conflicts_with_all = ["max_age", "max_count"])]
        forever: bool,
    },
    /// Back to the default for a kind.
    Reset {
        #[arg(value_name = "KIND")]
        kind: String,
    },
}

#[derive(Args, Debug)]
pub struct GcArgs {
    /// Show what would be deleted, deleting nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Afterwards rewrite the database compactly (VACUUM) and switch it to
    /// incremental auto-vacuum, so later collections shrink the file. Takes
    /// the database for as long as it runs: stop `drover serve` first.
    #[arg(long, conflicts_with = "dry_run")]
    pub vacuum: bool,
    #[arg(long)]
    pub json: bool,
}

pub fn retention_cmd(db: &Path, cmd: RetentionCmd) -> Result<ExitCode> {
    let store = open_store(db)?;
    match cmd {
        RetentionCmd::Show { json } => print_settings(&retention::show(&store)?, json)?,
        RetentionCmd::Set {
            kind,
            max_age,
            max_count,
            forever,
        } => {
            let set = retention::set(
                &store,
                &kind,
                max_age.map(age_ms),
                max_count,
                forever,
                &actor(),
            )?;
            println!("{}", set.set_message());
        }
        RetentionCmd::Reset { kind } => {
            println!(
                "{}",
                retention::reset(&store, &kind, &actor())?.reset_message()
            );
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// `--max-age` in milliseconds, as stored and sent.
pub(crate) fn age_ms(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

pub fn gc(db: &Path, args: GcArgs) -> Result<ExitCode> {
    let app = open_app(db)?;
    let store = app.store().clone();
    // Compiled components no installed version references (the cache
    // beside the database; not part of `drover serve`'s rounds).
    let swept = app.sweep_compiled(args.dry_run)?;
    let mut value = if args.dry_run {
        let preview = gc_preview(&store)?;
        if !args.json {
            print_preview(&preview, false)?;
        }
        serde_json::to_value(preview)?
    } else {
        let report = gc_round(&store, Pace::FOREGROUND, args.vacuum, &|| false)?;
        if !args.json {
            print_report(&report, args.vacuum, false)?;
        }
        serde_json::to_value(report)?
    };
    if args.json {
        value["compiled_cache"] = serde_json::to_value(&swept)?;
        output::json(&value)?;
    } else {
        println!(
            "compiled components no installed version uses: {} {} ({}); {} kept",
            swept.removed.len(),
            if args.dry_run {
                "would be removed"
            } else {
                "removed"
            },
            bytes(swept.removed_bytes),
            swept.kept
        );
        println!(
            "compiled functions no compile used for 30 days: {} {} ({}); {} kept",
            swept.functions.removed,
            if args.dry_run {
                "would be removed"
            } else {
                "removed"
            },
            bytes(swept.functions.removed_bytes),
            swept.functions.kept
        );
    }
    Ok(ExitCode::SUCCESS)
}

/// What `drover gc --dry-run` prints, local or remote.
pub(crate) fn print_preview(preview: &GcPreview, json: bool) -> Result<()> {
    if json {
        return output::json(preview);
    }
    let mut rows = vec![vec![
        "KIND".to_owned(),
        "WOULD DELETE".to_owned(),
        "DUE BUT IN USE".to_owned(),
    ]];
    rows.extend(preview.kinds.iter().map(|k| {
        vec![
            k.kind.clone(),
            k.would_delete.to_string(),
            k.in_use.to_string(),
        ]
    }));
    output::table(&rows);
    Ok(())
}

/// What `drover gc` prints, local or remote.
pub(crate) fn print_report(report: &GcReport, vacuumed: bool, json: bool) -> Result<()> {
    if json {
        return output::json(report);
    }
    let mut rows = vec![vec![
        "KIND".to_owned(),
        "DELETED".to_owned(),
        "DUE BUT IN USE".to_owned(),
    ]];
    rows.extend(
        report
            .kinds
            .iter()
            .map(|k| vec![k.kind.clone(), k.deleted.to_string(), k.in_use.to_string()]),
    );
    output::table(&rows);
    println!(
        "expired keys, sessions and webhook signatures: {}\ndatabase: {} ({} freed{})",
        report.expired,
        bytes(report.size_bytes),
        bytes(report.freed_bytes),
        if report.free_bytes > 0 && !vacuumed {
            format!(
                "; {} of free pages stay in the file: `drover gc --vacuum` with serve stopped \
                 gives them back",
                bytes(report.free_bytes)
            )
        } else {
            String::new()
        }
    );
    Ok(())
}

/// What `drover retention show` prints, local or remote.
pub(crate) fn print_settings(settings: &[Setting], json: bool) -> Result<()> {
    if json {
        return output::json(&settings);
    }
    let mut rows = vec![vec![
        "KIND".to_owned(),
        "KEPT".to_owned(),
        "SET BY".to_owned(),
        "HOLDS".to_owned(),
    ]];
    rows.extend(settings.iter().map(|s| {
        vec![
            s.kind.clone(),
            s.kept(),
            s.set_by.clone().unwrap_or_else(|| "(default)".into()),
            s.holds.clone(),
        ]
    }));
    output::table(&rows);
    Ok(())
}

fn bytes(n: u64) -> String {
    match n {
        0..1_000_000 => format!("{:.1} kB", n as f64 / 1e3),
        _ => format!("{:.1} MB", n as f64 / 1e6),
    }
}
