//! `drover changes list|export`: the change log, locally or over
//! `--server` (`GET /api/v1/changes`). Every install, promotion, grant,
//! revocation, rule enabled or disabled, budget, fleet setting and brake
//! release, with who, when, why and the diff. Both paths print the API's
//! shape, so a script reads `--json`/`--jsonl` alike from either.

use std::io::Write;
use std::path::Path;
use std::process::ExitCode;

use anyhow::{Result, anyhow};
use clap::{Args, Subcommand};
use drover_api::v1::changes::{ChangeView, filter};
use serde_json::Value;

use crate::context::open_store;
use crate::output;
use crate::remote::Remote;

#[derive(Subcommand, Debug)]
pub enum ChangesCmd {
    /// Changes, newest first: `drover changes list --since 7d --kind grant`.
    List {
        #[command(flatten)]
        filter: FilterArgs,
        #[arg(long, default_value_t = 50)]
        limit: u32,
        /// Only changes older than this id (the next page).
        #[arg(long, value_name = "ID")]
        before: Option<i64>,
        /// As one JSON array.
        #[arg(long, conflicts_with = "jsonl")]
        json: bool,
        /// As JSON Lines: one change per line.
        #[arg(long)]
        jsonl: bool,
    },
    /// Every change matching the filters as JSON Lines, oldest first: one
    /// JSON object per line (id, at_ms, actor, kind, subject, reason,
    /// summary, before, after, diff), e.g. for an archive or a SIEM.
    Export {
        #[command(flatten)]
        filter: FilterArgs,
        /// JSON Lines (the only format, and the default).
        #[arg(long)]
        jsonl: bool,
    },
}

#[derive(Args, Debug, Default)]
pub struct FilterArgs {
    /// Only changes since: an age (7d, 12h) or a time (2026-01-31T12:00:00Z).
    #[arg(long, value_name = "AGE|TIME")]
    since: Option<String>,
    /// Only this kind (pack.install, pack.promote, grant.add, grant.revoke,
    /// rule.enable, rule.disable, fleet.budget, fleet.settings, fleet.brake,
    /// trust.add, trust.remove) or a prefix (pack, grant, rule, fleet, trust).
    #[arg(long)]
    kind: Option<String>,
    /// Only this subject or what is under it (`batchops` covers
    /// `batchops@0.2.0`, its grants and its rules).
    #[arg(long)]
    subject: Option<String>,
    /// Only changes by this actor (`user:ann`).
    #[arg(long)]
    actor: Option<String>,
}

/// Rows per page when exporting.
const EXPORT_PAGE: u32 = 1000;

/// One page of changes (as the API answers them) and the next cursor.
type Page = Result<(Vec<Value>, Option<i64>)>;

/// Reads a page of changes matching the filters, before a cursor.
type Fetch<'a> = dyn FnMut(&FilterArgs, Option<i64>, u32) -> Page + 'a;

pub fn run(db: &Path, cmd: ChangesCmd) -> Result<ExitCode> {
    let store = open_store(db)?;
    let mut fetch = |f: &FilterArgs, before: Option<i64>, limit: u32| -> Page {
        let filter = filter(
            f.since.as_deref(),
            f.kind.as_deref(),
            f.subject.as_deref(),
            f.actor.as_deref(),
            before,
            limit,
        )
        .map_err(|e| anyhow!(e))?;
        let rows = store.list_changes(&filter)?;
        let next = (rows.len() == limit as usize)
            .then(|| rows.last().map(|c| c.id))
            .flatten();
        let items = rows
            .into_iter()
            .map(|c| serde_json::to_value(ChangeView::from(c)))
            .collect::<Result<_, _>>()?;
        Ok((items, next))
    };
    act(cmd, &mut fetch)
}

pub fn remote(remote: &Remote, cmd: ChangesCmd) -> Result<ExitCode> {
    let mut fetch = |f: &FilterArgs, before: Option<i64>, limit: u32| -> Page {
        let page = remote.get(&format!(
            "/api/v1/changes{}",
            crate::remote::query(&[
                ("since", f.since.clone()),
                ("kind", f.kind.clone()),
                ("subject", f.subject.clone()),
                ("actor", f.actor.clone()),
                ("before", before.map(|b| b.to_string())),
                ("limit", Some(limit.to_string())),
            ])
        ))?;
        let items = page["items"].as_array().cloned().unwrap_or_default();
        Ok((items, page["next_before"].as_i64()))
    };
    act(cmd, &mut fetch)
}

fn act(cmd: ChangesCmd, fetch: &mut Fetch<'_>) -> Result<ExitCode> {
    match cmd {
        ChangesCmd::List {
            filter,
            limit,
            before,
            json,
            jsonl,
        } => {
            let (items, _) = fetch(&filter, before, limit.clamp(1, 1000))?;
            if json {
                output::json(&items)?;
            } else if jsonl {
                lines(&items)?;
            } else {
                print_table(&items);
            }
        }
        ChangesCmd::Export { filter, jsonl: _ } => {
            let mut all = Vec::new();
            let mut before = None;
            loop {
                let (items, next) = fetch(&filter, before, EXPORT_PAGE)?;
                all.extend(items);
                match next {
                    Some(n) => before = Some(n),
                    None => break,
                }
            }
            all.reverse();
            lines(&all)?;
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// JSON Lines: each value compact, on its own line.
fn lines(items: &[Value]) -> Result<()> {
    let mut out = std::io::stdout().lock();
    for item in items {
        serde_json::to_writer(&mut out, item)?;
        writeln!(out)?;
    }
    Ok(())
}

fn print_table(items: &[Value]) {
    if items.is_empty() {
        println!("no changes");
        return;
    }
    let s = |v: &Value| v.as_str().unwrap_or("").to_owned();
    let mut rows = vec![vec![
        "TIME".into(),
        "BY".into(),
        "KIND".into(),
        "SUBJECT".into(),
        "REASON".into(),
        "DIFF".into(),
    ]];
    for c in items {
        let diff: Vec<String> = c["diff"].as_array().into_iter().flatten().map(s).collect();
        rows.push(vec![
            output::time(c["at_ms"].as_i64().unwrap_or(0)),
            s(&c["actor"]),
            s(&c["kind"]),
            s(&c["subject"]),
            s(&c["reason"]),
            diff.join("; "),
        ]);
    }
    output::table(&rows);
}
