//! `drover node import|export|list|show|drain|reboot|undrain|set-state`:
//! the inventory and the requests an operator makes of the fleet
//! controller. Commands work on the database directly; a running
//! `drover serve` carries accepted requests through their lifecycle (or
//! `drover fleet run` does, in the foreground).

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, Result, bail};
use clap::{Args, Subcommand, ValueEnum};
use drover_app::nodes::{NodeRequestError, OperatorRequest};
use drover_fleet::inventory::{self, Format};
use drover_fleet::{Fleet, Kind, Origin, Policy};

use crate::context::{actor, open_store};
use crate::output;

#[derive(Subcommand, Debug)]
pub enum NodeCmd {
    /// Import an inventory file, all or nothing: every bad row is reported
    /// with its line and field. YAML (`nodes:` list of name, labels,
    /// driver, options) or CSV (`name,driver,label.KEY,option.KEY`, by the
    /// .csv extension). Existing nodes keep their state; the first import
    /// replaces the default simulated fleet.
    #[command(
        after_help = "YAML:\n  nodes:\n    - name: b7s01\n      labels: {rack: r07, cluster: batch}\n      driver: sim                   # sim | redfish | command\n      options: {reboot_seconds: 2}  # redfish: {url, username_secret, password_secret, insecure}"
    )]
    Import {
        file: PathBuf,
        #[arg(long, value_enum)]
        format: Option<FileFormat>,
        /// Remove nodes that are not in the file (refused for nodes with
        /// open requests).
        #[arg(long)]
        replace: bool,
        #[arg(long)]
        json: bool,
    },
    /// Write the inventory (names, labels, drivers, options; not states).
    Export {
        #[arg(long, value_enum, default_value_t = FileFormat::Yaml)]
        format: FileFormat,
        /// Write to this file instead of standard output.
        #[arg(long, short)]
        output: Option<PathBuf>,
    },
    /// List nodes with their state and open request.
    List {
        /// Label selector, e.g. `rack=r07`, `rack in (r07,r08),cluster=batch`.
        #[arg(long, value_name = "SELECTOR")]
        label: Option<String>,
        /// Only nodes in this state (production, draining, drained,
        /// rebooting, restoring, intervention).
        #[arg(long)]
        state: Option<String>,
        #[arg(long)]
        json: bool,
    },
    /// Show one node: labels, driver, state, requests, and its history.
    Show {
        name: String,
        /// Also list the node's history (requests, state changes, driver steps).
        #[arg(long)]
        history: bool,
        /// Most history lines.
        #[arg(long, default_value_t = 50)]
        limit: u32,
        #[arg(long)]
        json: bool,
    },
    /// Drain nodes (they stay drained until `drover node undrain`).
    Drain(ChangeArgs),
    /// Reboot nodes: drain, reboot (escalation ladder), restore. The budgets
    /// decide who goes when; the rest queue.
    Reboot(ChangeArgs),
    /// Give drained nodes back to production.
    Undrain {
        #[arg(required = true, value_name = "NODE")]
        nodes: Vec<String>,
        #[arg(long)]
        reason: String,
        #[arg(long)]
        json: bool,
    },
    /// Set a node's state directly (e.g. `production` after repairing a
    /// node in intervention). Cancels its open request; no budget check.
    SetState {
        node: String,
        /// production, draining, drained, rebooting, restoring, intervention.
        state: String,
        #[arg(long)]
        reason: String,
        #[arg(long)]
        json: bool,
    },
}

#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum FileFormat {
    Yaml,
    Csv,
}

#[derive(Args, Debug)]
pub struct ChangeArgs {
    #[arg(required = true, value_name = "NODE")]
    pub nodes: Vec<String>,
    /// Why: kept with the request, its history and audit records.
    #[arg(long)]
    pub reason: String,
    /// asap (as soon as the budgets allow), window (in a maintenance
    /// window), or at=TIME (not before, RFC 3339).
    #[arg(long, default_value = "asap")]
    pub policy: String,
    /// How long the drain may take once started (e.g. 4h); missed: intervention.
    #[arg(long, alias = "drain-deadline", value_parser = humantime::parse_duration, value_name = "DURATION")]
    pub deadline: Option<std::time::Duration>,
    /// How long the node may take to come back once the reboot starts.
    #[arg(long, value_parser = humantime::parse_duration, value_name = "DURATION")]
    pub reboot_deadline: Option<std::time::Duration>,
    /// Show what each node would get (accepted, queued behind which budget
    /// and holders, denied) and the rolling schedule; change nothing.
    #[arg(long)]
    pub dry_run: bool,
    #[arg(long)]
    pub json: bool,
}

impl ChangeArgs {
    /// An undrain: asap, no deadlines, for real.
    pub fn undrain(nodes: Vec<String>, reason: String, json: bool) -> ChangeArgs {
        ChangeArgs {
            nodes,
            reason,
            policy: "asap".into(),
            deadline: None,
            reboot_deadline: None,
            dry_run: false,
            json,
        }
    }
}

pub fn run(db: &Path, cmd: NodeCmd) -> Result<ExitCode> {
    let fleet = Fleet::new(open_store(db)?);
    match cmd {
        NodeCmd::Import {
            file,
            format,
            replace,
            json,
        } => import(&fleet, &file, format, replace, json),
        NodeCmd::Export { format, output } => export(&fleet, format, output.as_deref()),
        NodeCmd::List { label, state, json } => {
            list(&fleet, label.as_deref(), state.as_deref(), json)
        }
        NodeCmd::Show {
            name,
            history,
            limit,
            json,
        } => show(&fleet, &name, if history { limit } else { 0 }, json),
        NodeCmd::Drain(args) => change(&fleet, Kind::Drain, args),
        NodeCmd::Reboot(args) => change(&fleet, Kind::Reboot, args),
        NodeCmd::Undrain {
            nodes,
            reason,
            json,
        } => change(
            &fleet,
            Kind::Undrain,
            ChangeArgs::undrain(nodes, reason, json),
        ),
        NodeCmd::SetState {
            node,
            state,
            reason,
            json,
        } => {
            let a = fleet.set_state(&node, &state, &reason, &actor(), Origin::Operator, None)?;
            print_set_state(&serde_json::to_value(&a)?, json)?;
            Ok(ExitCode::SUCCESS)
        }
    }
}

/// The fleet's answer to a set-state, as `drover node set-state` prints
/// it (locally and with --server).
pub fn print_set_state(answer: &serde_json::Value, json: bool) -> Result<()> {
    if json {
        output::json(answer)?;
    } else {
        println!("{}", answer["detail"].as_str().unwrap_or_default());
    }
    Ok(())
}

fn import(
    fleet: &Fleet,
    file: &Path,
    format: Option<FileFormat>,
    replace: bool,
    json: bool,
) -> Result<ExitCode> {
    let text =
        std::fs::read_to_string(file).with_context(|| format!("cannot read {}", file.display()))?;
    let format = match format {
        Some(FileFormat::Yaml) => Format::Yaml,
        Some(FileFormat::Csv) => Format::Csv,
        None => Format::of_path(file),
    };
    let specs = match inventory::parse(&text, format) {
        Ok(s) => s,
        Err(errors) => {
            for e in &errors {
                eprintln!("{}:{}: {}: {}", file.display(), e.line, e.field, e.message);
            }
            bail!(
                "{}: {} problem{}; nothing was imported",
                file.display(),
                errors.len(),
                if errors.len() == 1 { "" } else { "s" }
            );
        }
    };
    let n = specs.len();
    let report = fleet.import(specs, replace, &actor())?;
    if json {
        output::json(&report)?;
    } else {
        println!(
            "imported {n} node{} from {}: {} added, {} updated, {} removed{}",
            if n == 1 { "" } else { "s" },
            file.display(),
            report.added,
            report.updated,
            report.removed,
            if report.replaced_default {
                " (the first import replaces the default simulated fleet)"
            } else {
                ""
            }
        );
    }
    Ok(ExitCode::SUCCESS)
}

fn export(fleet: &Fleet, format: FileFormat, out: Option<&Path>) -> Result<ExitCode> {
    let specs = fleet.export()?;
    let text = match format {
        FileFormat::Yaml => inventory::to_yaml(&specs),
        FileFormat::Csv => inventory::to_csv(&specs)?,
    };
    match out {
        Some(p) => {
            std::fs::write(p, text).with_context(|| format!("cannot write {}", p.display()))?
        }
        None => print!("{text}"),
    }
    Ok(ExitCode::SUCCESS)
}

/// A node's labels (a JSON object) as `k=v,k=v`.
fn labels_text(labels: &serde_json::Value) -> String {
    labels
        .as_object()
        .into_iter()
        .flatten()
        .map(|(k, v)| format!("{k}={}", v.as_str().unwrap_or("")))
        .collect::<Vec<_>>()
        .join(",")
}

fn list(fleet: &Fleet, label: Option<&str>, state: Option<&str>, json: bool) -> Result<ExitCode> {
    print_list(&serde_json::to_value(fleet.list(label, state)?)?, json)?;
    Ok(ExitCode::SUCCESS)
}

/// Nodes (as JSON: drover-fleet's node rows) as a table or `--json`; the
/// same for the database and `--server`.
pub fn print_list(nodes: &serde_json::Value, json: bool) -> Result<()> {
    if json {
        return output::json(nodes);
    }
    let nodes = nodes.as_array().cloned().unwrap_or_default();
    if nodes.is_empty() {
        println!("no nodes match");
        return Ok(());
    }
    let mut rows = vec![vec![
        "NAME".into(),
        "STATE".into(),
        "LABELS".into(),
        "DRIVER".into(),
        "REQUEST".into(),
    ]];
    let text = |v: &serde_json::Value| v.as_str().unwrap_or("").to_owned();
    for n in &nodes {
        let r = &n["request"];
        rows.push(vec![
            text(&n["name"]),
            text(&n["state"]),
            labels_text(&n["labels"]),
            text(&n["driver"]),
            if r.is_object() {
                format!(
                    "{} {} {}: {}",
                    text(&r["kind"]),
                    text(&r["status"]),
                    text(&r["id"]),
                    text(&r["detail"])
                )
            } else {
                String::new()
            },
        ]);
    }
    output::table(&rows);
    Ok(())
}

fn show(fleet: &Fleet, name: &str, history: u32, json: bool) -> Result<ExitCode> {
    let d = serde_json::to_value(fleet.show(name, history)?)?;
    print_show(&d, history > 0, json)?;
    Ok(ExitCode::SUCCESS)
}

/// One node with its requests and, with `history`, its history (as JSON:
/// drover-fleet's `NodeDetail`), as text or `--json`; the same for the
/// database and `--server`.
pub fn print_show(d: &serde_json::Value, history: bool, json: bool) -> Result<()> {
    if json {
        return output::json(d);
    }
    let text = |v: &serde_json::Value| v.as_str().unwrap_or("").to_owned();
    let time = |v: &serde_json::Value| v.as_i64().map(output::time).unwrap_or_default();
    let n = &d["node"];
    println!("node {}: {}", text(&n["name"]), text(&n["state"]));
    if n["since_ms"].as_i64().unwrap_or(0) > 0 {
        println!("  since     {}", time(&n["since_ms"]));
    }
    if !text(&n["note"]).is_empty() {
        println!("  note      {}", text(&n["note"]));
    }
    let h = &d["health"];
    if h.is_object() {
        let stale = if h["current"] == true {
            ""
        } else {
            " (before its last change of state)"
        };
        println!(
            "  health    {} at {}{stale} by {}: {}",
            text(&h["health"]),
            time(&h["at_ms"]),
            text(&h["source"]),
            text(&h["detail"])
        );
    }
    println!("  labels    {}", labels_text(&n["labels"]));
    println!("  driver    {} {}", text(&n["driver"]), n["options"]);
    println!(
        "  class     {}",
        n["labels"]["class"].as_str().unwrap_or("default")
    );
    let requests = d["requests"].as_array().cloned().unwrap_or_default();
    if requests.is_empty() {
        println!("  requests  none");
    } else {
        println!("  requests");
        for r in &requests {
            println!(
                "    {} {} {} {} by {} ({}): {}",
                text(&r["id"]),
                time(&r["created_ms"]),
                text(&r["kind"]),
                text(&r["status"]),
                text(&r["actor"]),
                text(&r["reason"]),
                text(&r["detail"])
            );
        }
    }
    if history {
        println!("  history");
        for h in d["history"].as_array().into_iter().flatten().rev() {
            let (from, to) = (text(&h["from_state"]), text(&h["to_state"]));
            let moved = if from == to {
                String::new()
            } else {
                format!(" {from} → {to}")
            };
            println!(
                "    {} {}{moved} by {}: {}",
                time(&h["at_ms"]),
                text(&h["event"]),
                text(&h["actor"]),
                text(&h["detail"])
            );
        }
    }
    Ok(())
}

fn change(fleet: &Fleet, kind: Kind, args: ChangeArgs) -> Result<ExitCode> {
    let req = OperatorRequest {
        policy: Policy::parse(&args.policy).map_err(anyhow::Error::msg)?,
        drain_timeout_ms: args.deadline.map(|d| d.as_millis() as i64),
        reboot_timeout_ms: args.reboot_deadline.map(|d| d.as_millis() as i64),
        ..OperatorRequest::new(kind, args.nodes, &args.reason, &actor())
    };
    let refused = |e: NodeRequestError| match e {
        NodeRequestError::Unknown(names) => anyhow::anyhow!(
            "no node named {} in the inventory (see `drover node list`); nothing was requested",
            names.join(", ")
        ),
        e => e.into(),
    };
    if args.dry_run {
        let plan = req.dry_run(fleet).map_err(refused)?;
        return print_dry_run(kind, &plan, args.json);
    }
    let answers = req.submit(fleet).map_err(refused)?;
    print_answers(&answers, args.json)
}

/// A dry run's answers (as JSON: the answer, or `{"node", "error"}`),
/// rolling schedule, blocked nodes and notes, as text or `--json`; the
/// same for the database and `--server`.
pub fn print_dry_run(kind: Kind, plan: &serde_json::Value, json: bool) -> Result<ExitCode> {
    if json {
        output::json(plan)?;
        return Ok(ExitCode::SUCCESS);
    }
    println!("dry run: nothing was changed");
    let answers = plan["answers"].as_array().cloned().unwrap_or_default();
    print_answer_lines(&answers);
    let waves = plan["waves"].as_array().cloned().unwrap_or_default();
    if kind != Kind::Undrain && !waves.is_empty() {
        println!(
            "schedule: {} wave{} under the budgets",
            waves.len(),
            if waves.len() == 1 { "" } else { "s" }
        );
        for (i, w) in waves.iter().enumerate() {
            let w: Vec<&str> = w
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|n| n.as_str())
                .collect();
            let shown = &w[..w.len().min(8)];
            let more = if w.len() > 8 {
                format!(" … and {} more", w.len() - 8)
            } else {
                String::new()
            };
            println!("  wave {}: {}{more}", i + 1, shown.join(", "));
        }
    }
    for b in plan["blocked"].as_array().into_iter().flatten() {
        println!(
            "  blocked {}: {}",
            b[0].as_str().unwrap_or(""),
            b[1].as_str().unwrap_or("")
        );
    }
    for note in plan["notes"].as_array().into_iter().flatten() {
        println!("  note: {}", note.as_str().unwrap_or(""));
    }
    Ok(ExitCode::SUCCESS)
}

/// The answers of requests made (the answer, or `{"node", "error"}`), as
/// text or `--json`. Exit code: 2 if any request failed, 1 if any was
/// denied, else 0; the same for the database and `--server`.
pub fn print_answers(answers: &[serde_json::Value], json: bool) -> Result<ExitCode> {
    if json {
        output::json(&answers)?;
    } else {
        print_answer_lines(answers);
    }
    let failed = answers.iter().any(|a| a.get("error").is_some());
    let denied = answers.iter().any(|a| a["outcome"] == "denied");
    Ok(if failed {
        ExitCode::from(2)
    } else if denied {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}

fn print_answer_lines(answers: &[serde_json::Value]) {
    for a in answers {
        let n = a["node"].as_str().unwrap_or("");
        match a.get("error") {
            Some(e) => eprintln!("{n}: error: {}", e.as_str().unwrap_or("")),
            None => println!(
                "{n}: {}{} (request {}): {}",
                a["outcome"].as_str().unwrap_or(""),
                if a["joined"] == true { ", joined" } else { "" },
                a["request_id"].as_str().unwrap_or(""),
                a["detail"].as_str().unwrap_or("")
            ),
        }
    }
}
