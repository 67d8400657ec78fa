//! `drover budget set|list|remove`: how many nodes may be out at once,
//! enforced by the fleet controller across every workflow and user.

use std::path::Path;
use std::process::ExitCode;

use anyhow::{Result, bail};
use clap::{Subcommand, ValueEnum};
use drover_core::ChangeBy;
use drover_fleet::{Budget, Fleet, Rule};
use serde_json::Value;

use crate::context::{actor, open_store};
use crate::output;

#[derive(Subcommand, Debug)]
pub enum BudgetCmd {
    /// Create or replace a budget.
    #[command(
        after_help = "Examples:\n  drover budget set rack-one --strategy groupsemaphore --label rack --max 1\n  drover budget set fleet --max-unavailable 2%\n  drover budget set fleet --max-unavailable 20"
    )]
    Set {
        name: String,
        /// groupsemaphore: at most --max out per value of --label;
        /// maxunavailable: at most --max-unavailable out in the fleet.
        #[arg(long, value_enum)]
        strategy: Option<Strategy>,
        /// The label whose values are the groups (e.g. rack).
        #[arg(long)]
        label: Option<String>,
        /// Most unavailable nodes per group.
        #[arg(long)]
        max: Option<u32>,
        /// A count (20) or a percentage of the inventory (2%; rounded down, at least 1).
        #[arg(long, value_name = "N|P%")]
        max_unavailable: Option<String>,
        /// Why, for the change log (`drover changes list`).
        #[arg(long, value_name = "TEXT")]
        reason: Option<String>,
    },
    /// List budgets with their current use and the nodes holding them
    /// (per group for a group semaphore, full groups first).
    List {
        #[arg(long)]
        json: bool,
    },
    /// Remove a budget.
    #[command(visible_alias = "delete")]
    Remove {
        name: String,
        /// Why, for the change log (`drover changes list`).
        #[arg(long, value_name = "TEXT")]
        reason: Option<String>,
    },
}

#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum Strategy {
    Groupsemaphore,
    Maxunavailable,
}

pub fn run(db: &Path, cmd: BudgetCmd) -> Result<ExitCode> {
    let fleet = Fleet::new(open_store(db)?);
    match cmd {
        BudgetCmd::Set {
            name,
            strategy,
            label,
            max,
            max_unavailable,
            reason,
        } => {
            let rule = rule_from_args(strategy, label, max, max_unavailable)?;
            let b = Budget { name, rule };
            fleet.set_budget(b.clone(), ChangeBy::new(&actor(), reason.as_deref())?)?;
            let total = fleet.store().count_nodes()? as usize;
            println!("budget {}: {}", b.name, b.describe(total));
        }
        BudgetCmd::List { json } => print_list(&serde_json::to_value(fleet.budgets()?)?, json)?,
        BudgetCmd::Remove { name, reason } => {
            if !fleet.remove_budget(&name, ChangeBy::new(&actor(), reason.as_deref())?)? {
                bail!("no budget named {name:?} (see `drover budget list`)");
            }
            println!("budget {name} removed");
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// The rule `budget set`'s flags describe, or what is missing.
pub fn rule_from_args(
    strategy: Option<Strategy>,
    label: Option<String>,
    max: Option<u32>,
    max_unavailable: Option<String>,
) -> Result<Rule> {
    let strategy = strategy.unwrap_or(if max_unavailable.is_some() {
        Strategy::Maxunavailable
    } else {
        Strategy::Groupsemaphore
    });
    Ok(match strategy {
        Strategy::Groupsemaphore => {
            if max_unavailable.is_some() {
                bail!(
                    "--max-unavailable belongs to --strategy maxunavailable; a groupsemaphore takes --label and --max"
                );
            }
            let (Some(label), Some(max)) = (label, max) else {
                bail!("a groupsemaphore needs --label and --max, e.g. --label rack --max 1");
            };
            Rule::GroupSemaphore { label, max }
        }
        Strategy::Maxunavailable => {
            if label.is_some() {
                bail!("--label belongs to --strategy groupsemaphore");
            }
            match (max_unavailable, max) {
                (Some(t), None) => Budget::parse_max_unavailable(&t)?,
                (None, Some(m)) => Rule::MaxUnavailable {
                    max: Some(m),
                    percent: None,
                },
                _ => bail!("give --max-unavailable N or P% (e.g. 2%)"),
            }
        }
    })
}

/// Budgets with their use (as JSON: drover-fleet's `BudgetView`s), as a
/// table or `--json`; the same for the database and `--server`.
pub fn print_list(budgets: &Value, json: bool) -> Result<()> {
    if json {
        return output::json(budgets);
    }
    let budgets = budgets.as_array().cloned().unwrap_or_default();
    if budgets.is_empty() {
        println!("no budgets: any number of nodes may be out (see `drover budget set --help`)");
        return Ok(());
    }
    let mut rows = vec![vec![
        "NAME".into(),
        "RULE".into(),
        "IN USE".into(),
        "SET".into(),
    ]];
    for b in &budgets {
        rows.push(vec![
            b["name"].as_str().unwrap_or("").to_owned(),
            b["description"].as_str().unwrap_or("").to_owned(),
            format!("{}/{}", b["used"], b["limit"]),
            format!(
                "{} by {}",
                b["created_at_ms"]
                    .as_i64()
                    .map(output::time)
                    .unwrap_or_default(),
                b["created_by"].as_str().unwrap_or("")
            ),
        ]);
    }
    output::table(&rows);
    // Who holds each budget's slots now: per group for a group semaphore
    // (full groups first), else the nodes out.
    let names = |holders: &Value| -> Vec<String> {
        holders
            .as_array()
            .map(|h| {
                h.iter()
                    .map(|h| {
                        format!(
                            "{} ({})",
                            h["node"].as_str().unwrap_or(""),
                            h["state"].as_str().unwrap_or("")
                        )
                    })
                    .collect()
            })
            .unwrap_or_default()
    };
    let mut held = Vec::new();
    for b in &budgets {
        let name = b["name"].as_str().unwrap_or("");
        let groups = b["groups"].as_array().cloned().unwrap_or_default();
        if !groups.is_empty() {
            for g in &groups {
                let listed = names(&g["holders"]);
                let more = g["used"].as_u64().unwrap_or(0) as usize;
                held.push(format!(
                    "  {name}: {}{} ({} of {}): {}{}",
                    g["group"].as_str().unwrap_or(""),
                    if g["full"] == true { " full" } else { "" },
                    g["used"],
                    g["limit"],
                    listed.join(", "),
                    and_more(more, listed.len())
                ));
            }
        } else if b["held_by"].as_u64().unwrap_or(0) > 0 {
            let listed = names(&b["holders"]);
            let all = b["held_by"].as_u64().unwrap_or(0) as usize;
            held.push(format!(
                "  {name}: {}{}",
                listed.join(", "),
                and_more(all, listed.len())
            ));
        }
    }
    if !held.is_empty() {
        println!("\nheld now by:");
        for line in held {
            println!("{line}");
        }
    }
    Ok(())
}

fn and_more(all: usize, listed: usize) -> String {
    if all > listed {
        format!(" and {} more", all - listed)
    } else {
        String::new()
    }
}
