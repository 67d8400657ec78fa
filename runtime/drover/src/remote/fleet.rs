//! `--server` for the fleet: `node`, `budget`, `brake` and `fleet
//! queue|cancel|pause|resume|window` through `/api/v1/nodes`,
//! `/api/v1/node-requests`, `/api/v1/budgets`, `/api/v1/brake` and
//! `/api/v1/fleet` (`requests`, `windows`, `pause`, `resume`). Requests, answers and their printing are the local
//! commands' own (`commands::node`, `budget`, `brake`), so both print the
//! same and exit with the same code.

use std::process::ExitCode;

use anyhow::{Result, bail};
use drover_fleet::Kind;
use serde_json::{Value, json};

use super::{Remote, name_of, query, segment};
use crate::commands::brake::{self, BrakeCmd};
use crate::commands::budget::{self, BudgetCmd};
use crate::commands::fleet::{self, FleetCmd, WindowCmd};
use crate::commands::node::{self, ChangeArgs, NodeCmd};

pub(super) fn node(remote: &Remote, cmd: NodeCmd) -> Result<ExitCode> {
    match cmd {
        NodeCmd::List { label, state, json } => {
            let mut items = Vec::new();
            let mut after: Option<String> = None;
            loop {
                let page = remote.get(&format!(
                    "/api/v1/nodes{}",
                    query(&[
                        ("label", label.clone()),
                        ("state", state.clone()),
                        ("limit", Some("1000".into())),
                        ("after", after.clone()),
                    ])
                ))?;
                items.extend(page["items"].as_array().cloned().unwrap_or_default());
                match page["next_after"].as_str() {
                    Some(next) => after = Some(next.to_owned()),
                    None => break,
                }
            }
            node::print_list(&Value::Array(items), json)?;
            Ok(ExitCode::SUCCESS)
        }
        NodeCmd::Show {
            name,
            history,
            limit,
            json,
        } => {
            let n = if history { limit.clamp(1, 1000) } else { 0 };
            let d = remote.get(&format!("/api/v1/nodes/{}?history={n}", segment(&name)))?;
            node::print_show(&d, history, json)?;
            Ok(ExitCode::SUCCESS)
        }
        NodeCmd::Drain(args) => change(remote, Kind::Drain, args),
        NodeCmd::Reboot(args) => change(remote, Kind::Reboot, args),
        NodeCmd::Undrain {
            nodes,
            reason,
            json,
        } => change(
            remote,
            Kind::Undrain,
            ChangeArgs::undrain(nodes, reason, json),
        ),
        NodeCmd::SetState {
            node,
            state,
            reason,
            json,
        } => {
            let answer = remote.post(
                &format!("/api/v1/nodes/{}/state", segment(&node)),
                &json!({"state": state, "reason": reason}),
            )?;
            node::print_set_state(&answer, json)?;
            Ok(ExitCode::SUCCESS)
        }
        other => bail!(
            "`drover node {}` does not work with --server: it reads or writes files on this \
             machine; run it on the drover host",
            name_of(&other)
        ),
    }
}

/// `node drain|reboot|undrain`: one request for all the nodes, decided
/// together by the server (all or nothing on unknown names).
fn change(remote: &Remote, kind: Kind, args: ChangeArgs) -> Result<ExitCode> {
    let text =
        |d: Option<std::time::Duration>| d.map(|d| humantime::format_duration(d).to_string());
    let answer = remote.post(
        "/api/v1/node-requests",
        &json!({
            "kind": kind.as_str(),
            "nodes": args.nodes,
            "reason": args.reason,
            "policy": args.policy,
            "deadline": text(args.deadline),
            "reboot_deadline": text(args.reboot_deadline),
            "dry_run": args.dry_run,
        }),
    )?;
    if args.dry_run {
        return node::print_dry_run(kind, &answer, args.json);
    }
    let answers = answer.as_array().cloned().unwrap_or_default();
    node::print_answers(&answers, args.json)
}

pub(super) fn budget(remote: &Remote, cmd: BudgetCmd) -> Result<ExitCode> {
    match cmd {
        BudgetCmd::Set {
            name,
            strategy,
            label,
            max,
            max_unavailable,
            reason,
        } => {
            let rule = budget::rule_from_args(strategy, label, max, max_unavailable)?;
            // A rule serializes as the API's budget spec (`strategy`, ...).
            let mut spec = serde_json::to_value(&rule)?;
            spec["reason"] = json!(reason);
            let view = remote.put(&format!("/api/v1/budgets/{}", segment(&name)), &spec)?;
            println!(
                "budget {name}: {}",
                view["description"].as_str().unwrap_or("")
            );
        }
        BudgetCmd::List { json } => budget::print_list(&remote.get("/api/v1/budgets")?, json)?,
        BudgetCmd::Remove { name, reason } => {
            remote.delete_with(
                &format!("/api/v1/budgets/{}", segment(&name)),
                &json!({ "reason": reason }),
            )?;
            println!("budget {name} removed");
        }
    }
    Ok(ExitCode::SUCCESS)
}

pub(super) fn brake(remote: &Remote, cmd: BrakeCmd) -> Result<ExitCode> {
    match cmd {
        BrakeCmd::Status { json } => brake::print_status(&remote.get("/api/v1/brake")?, json)?,
        BrakeCmd::Release { reason } => {
            let done = remote.post("/api/v1/brake/release", &json!({ "reason": reason }))?;
            brake::print_release(done["was_engaged"] == true);
        }
        BrakeCmd::Set {
            threshold,
            window,
            settle,
            reason,
        } => {
            let text = |d: Option<std::time::Duration>| {
                d.map(|d| humantime::format_duration(d).to_string())
            };
            let s = remote.put(
                "/api/v1/brake",
                &json!({
                    "threshold_percent": brake::parse_threshold(threshold)?,
                    "window": text(window),
                    "settle": text(settle),
                    "reason": reason,
                }),
            )?;
            let ms = |v: &Value| v.as_i64().unwrap_or(0);
            brake::print_settings(
                s["threshold_percent"].as_f64().unwrap_or(0.0),
                ms(&s["window_ms"]),
                ms(&s["settle_ms"]),
            );
        }
    }
    Ok(ExitCode::SUCCESS)
}

pub(super) fn fleet(remote: &Remote, cmd: FleetCmd) -> Result<ExitCode> {
    match cmd {
        FleetCmd::Queue { json } => {
            fleet::print_queue(&remote.get("/api/v1/fleet/requests")?, json)?
        }
        FleetCmd::Cancel {
            request,
            reason,
            json,
        } => {
            let done = remote.post(
                &format!("/api/v1/fleet/requests/{}/cancel", segment(&request)),
                &json!({"reason": reason}),
            )?;
            fleet::print_cancelled(&done, json)?;
        }
        FleetCmd::Pause { reason } => {
            remote.post("/api/v1/fleet/pause", &json!({"reason": reason}))?;
            fleet::print_paused();
        }
        FleetCmd::Resume { reason } => {
            remote.post("/api/v1/fleet/resume", &json!({ "reason": reason }))?;
            fleet::print_resumed();
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
            remote.put(
                &format!("/api/v1/fleet/windows/{}", segment(&name)),
                &json!({"days": days, "start": start, "end": end, "tz": tz, "selector": selector,
                        "reason": reason}),
            )?;
            fleet::print_window_added(&name);
        }
        FleetCmd::Window(WindowCmd::List { json }) => {
            fleet::print_windows(&remote.get("/api/v1/fleet/windows")?, json)?
        }
        FleetCmd::Window(WindowCmd::Remove { name, reason }) => {
            remote.delete_with(
                &format!("/api/v1/fleet/windows/{}", segment(&name)),
                &json!({ "reason": reason }),
            )?;
            fleet::print_window_removed(&name);
        }
        other => bail!(
            "`drover fleet {}` does not work with --server yet; run it on the drover host \
             (remote: fleet queue|cancel|pause|resume|window)",
            name_of(&other)
        ),
    }
    Ok(ExitCode::SUCCESS)
}
