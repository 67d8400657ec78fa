//! `drover retention show|set|reset` (how long each kind of history is
//! kept) and `drover gc [--dry-run] [--vacuum]` (delete what is past it
//! now; `drover serve` also does this every `--gc-every`).

use std::path::Path;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Result, bail};
use clap::{Args, Subcommand};
use drover_engine::retention::{self, Pace};
use drover_store::{History, Keep, RetentionSetting};
use serde_json::json;

use crate::context::{actor, open_store};
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
        RetentionCmd::Show { json } => print_settings(&store.retention()?, json)?,
        RetentionCmd::Set {
            kind,
            max_age,
            max_count,
            forever,
        } => {
            let kind = parse_kind(&kind)?;
            if max_age.is_none() && max_count.is_none() && !forever {
                bail!(
                    "say how long to keep {}: --max-age DURATION (e.g. 30d), --max-count N, \
                     or --forever",
                    kind.name()
                );
            }
            let keep = Keep {
                max_age_ms: max_age.map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX)),
                max_count,
            };
            store.set_retention(kind, Some(keep), &actor())?;
            println!(
                "{} kept {}; `drover gc --dry-run` shows what goes at the next collection",
                kind.name(),
                describe(&keep)
            );
        }
        RetentionCmd::Reset { kind } => {
            let kind = parse_kind(&kind)?;
            store.set_retention(kind, None, &actor())?;
            println!(
                "{} kept {} (the default)",
                kind.name(),
                describe(&kind.default_keep())
            );
        }
    }
    Ok(ExitCode::SUCCESS)
}

pub fn gc(db: &Path, args: GcArgs) -> Result<ExitCode> {
    let store = open_store(db)?;
    if args.dry_run {
        let preview = retention::preview(&store)?;
        if args.json {
            let kinds: Vec<_> = preview
                .iter()
                .map(|(k, t)| json!({"kind": k.name(), "would_delete": t.rows, "in_use": t.in_use}))
                .collect();
            output::json(&json!({ "kinds": kinds }))?;
        } else {
            let mut rows = vec![vec![
                "KIND".to_owned(),
                "WOULD DELETE".to_owned(),
                "DUE BUT IN USE".to_owned(),
            ]];
            rows.extend(preview.iter().map(|(k, t)| {
                vec![
                    k.name().to_owned(),
                    t.rows.to_string(),
                    t.in_use.to_string(),
                ]
            }));
            output::table(&rows);
        }
        return Ok(ExitCode::SUCCESS);
    }
    let report = retention::collect(&store, Pace::FOREGROUND, &|| false)?;
    let vacuumed = if args.vacuum {
        let (before, _) = store.db_size()?;
        store.vacuum()?;
        let (after, _) = store.db_size()?;
        Some(before.saturating_sub(after))
    } else {
        None
    };
    let (size, free) = store.db_size()?;
    if args.json {
        let kinds: Vec<_> = report
            .kinds
            .iter()
            .map(|(k, t)| json!({"kind": k.name(), "deleted": t.rows, "in_use": t.in_use}))
            .collect();
        output::json(&json!({
            "kinds": kinds,
            "expired": report.expired,
            "freed_bytes": report.freed_bytes + vacuumed.unwrap_or(0),
            "size_bytes": size,
            "free_bytes": free,
        }))?;
        return Ok(ExitCode::SUCCESS);
    }
    let mut rows = vec![vec![
        "KIND".to_owned(),
        "DELETED".to_owned(),
        "DUE BUT IN USE".to_owned(),
    ]];
    rows.extend(report.kinds.iter().map(|(k, t)| {
        vec![
            k.name().to_owned(),
            t.rows.to_string(),
            t.in_use.to_string(),
        ]
    }));
    output::table(&rows);
    println!(
        "expired keys, sessions and webhook signatures: {}\ndatabase: {} ({} freed{})",
        report.expired,
        bytes(size),
        bytes(report.freed_bytes + vacuumed.unwrap_or(0)),
        if free > 0 && !args.vacuum {
            format!(
                "; {} of free pages stay in the file: `drover gc --vacuum` with serve stopped \
                 gives them back",
                bytes(free)
            )
        } else {
            String::new()
        }
    );
    Ok(ExitCode::SUCCESS)
}

fn parse_kind(name: &str) -> Result<History> {
    History::parse(name).ok_or_else(|| {
        let kinds: Vec<&str> = History::ALL.iter().map(|k| k.name()).collect();
        anyhow::anyhow!(
            "no kind of history is called {name:?}; the kinds are {}",
            kinds.join(", ")
        )
    })
}

fn print_settings(settings: &[RetentionSetting], json: bool) -> Result<()> {
    if json {
        let rows: Vec<_> = settings
            .iter()
            .map(|s| {
                json!({
                    "kind": s.kind.name(),
                    "max_age_ms": s.keep.max_age_ms,
                    "max_count": s.keep.max_count,
                    "default": s.is_default,
                    "set_by": s.updated_by,
                    "holds": s.kind.holds(),
                })
            })
            .collect();
        return output::json(&rows);
    }
    let mut rows = vec![vec![
        "KIND".to_owned(),
        "KEPT".to_owned(),
        "SET BY".to_owned(),
        "HOLDS".to_owned(),
    ]];
    rows.extend(settings.iter().map(|s| {
        vec![
            s.kind.name().to_owned(),
            describe(&s.keep),
            s.updated_by.clone().unwrap_or_else(|| "(default)".into()),
            s.kind.holds().to_owned(),
        ]
    }));
    output::table(&rows);
    Ok(())
}

/// `30 days`, `the newest 1000`, `30 days, at most the newest 1000`, `for ever`.
fn describe(keep: &Keep) -> String {
    let age = keep.max_age_ms.map(|ms| {
        let d = Duration::from_millis(u64::try_from(ms).unwrap_or(0));
        humantime::format_duration(d).to_string()
    });
    match (age, keep.max_count) {
        (None, None) => "for ever".into(),
        (Some(a), None) => a,
        (None, Some(n)) => format!("the newest {n}"),
        (Some(a), Some(n)) => format!("{a}, at most the newest {n}"),
    }
}

fn bytes(n: u64) -> String {
    match n {
        0..1_000_000 => format!("{:.1} kB", n as f64 / 1e3),
        _ => format!("{:.1} MB", n as f64 / 1e6),
    }
}
