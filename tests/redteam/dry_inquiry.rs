//! Hole 8: dry runs created real inquiries. A shadow pack's workflow
//! (dry, as everything a shadow pack starts) that asks for an approval put
//! a live inquiry in front of the operators, who could answer it, and a
//! rule starting it every second flooded the inquiry list.
//!
//! Now a dry run asks no one: its `core.ask` is answered in the plan, by
//! `drover run --dry-run --answer JSON` or a default (the schema's
//! defaults, else `{}` if it fits, else it counts as timed out), and no
//! inquiry is stored, so none reaches `drover inquiry list`,
//! `/api/v1/inquiries` or the inquiries page.

use std::time::Duration;

use serde_json::Value;

use crate::support::server::{Server, agent, executions, wait_for};
use crate::support::*;

fn inquiries(d: &Drover) -> Vec<Value> {
    d.json(0, &["inquiry", "list", "--all"])
        .as_array()
        .unwrap()
        .clone()
}

/// The workflow's plan entries for its `core.ask` task.
fn asked(exec: &Value) -> Vec<Value> {
    exec["plan"]
        .as_array()
        .unwrap_or_else(|| panic!("a dry run has a plan: {exec}"))
        .iter()
        .filter(|e| e["capability"] == "inquiry")
        .cloned()
        .collect()
}

#[test]
fn a_dry_run_asks_no_one_and_plans_the_answer() {
    let d = Drover::new();
    d.install(&["tests/redteam/packs/shadow_ask"]);

    // No answer and no default: it counts as timed out, and the workflow
    // takes that route.
    let out = d.run(&["run", "shadow_ask.approve", "--dry-run", "--json"]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "a dry run waited on an inquiry:\n{}{}",
        stdout(&out),
        stderr(&out)
    );
    assert!(
        inquiries(&d).is_empty(),
        "a dry run created an inquiry: {:?}",
        inquiries(&d)
    );
    let exec: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(exec["dry_run"], true);
    assert_eq!(exec["result"]["decision"], "no answer", "{exec}");
    let ask = asked(&exec);
    assert_eq!(ask.len(), 1, "{exec}");
    assert_eq!(ask[0]["task"], "ask");
    assert!(
        ask[0]["reason"].as_str().unwrap().contains("timed out"),
        "{ask:?}"
    );

    // The answer given is the one the plan follows.
    let exec = d.json(
        0,
        &[
            "run",
            "shadow_ask.approve",
            "--dry-run",
            "--answer",
            r#"{"approve": true}"#,
        ],
    );
    assert_eq!(exec["result"]["decision"], "approved", "{exec}");
    let ask = asked(&exec);
    assert_eq!(ask[0]["simulated_result"]["approve"], true, "{ask:?}");
    let text = stdout(&d.expect(
        0,
        &[
            "run",
            "shadow_ask.approve",
            "--dry-run",
            "--answer",
            r#"{"approve": false}"#,
        ],
    ));
    assert!(
        text.contains("inquiry answer {\"approve\":false}"),
        "the plan shows the answer:\n{text}"
    );
    assert!(inquiries(&d).is_empty());

    // An answer outside the schema is refused in the plan, not used.
    let exec = d.json(
        0,
        &[
            "run",
            "shadow_ask.approve",
            "--dry-run",
            "--answer",
            r#"{"approve": "yes"}"#,
        ],
    );
    assert_eq!(exec["result"]["decision"], "no answer", "{exec}");
    assert!(exec["plan"].to_string().contains("does not fit"), "{exec}");

    // --answer is for dry runs only.
    let out = d.expect(
        2,
        &[
            "run",
            "shadow_ask.approve",
            "--answer",
            r#"{"approve": true}"#,
        ],
    );
    assert!(stderr(&out).contains("--dry-run"), "{}", stderr(&out));
}

#[test]
fn a_shadow_rule_cannot_flood_the_inquiry_list() {
    let d = Drover::new();
    d.install(&["tests/redteam/packs/shadow_ask"]);
    let out = d.expect(0, &["token", "create", "--role", "viewer", "--name", "v"]);
    let token = last_line(&out);
    let server = Server::start(&d);

    // The shadow rule starts the workflow every second; each run is dry.
    let runs = wait_for(
        "three timer-started runs of shadow_ask.approve",
        Duration::from_secs(60),
        || {
            let runs: Vec<Value> = executions(&d)
                .into_iter()
                .filter(|e| e["action"] == "shadow_ask.approve")
                .collect();
            (runs.len() >= 3 || !inquiries(&d).is_empty()).then_some(runs)
        },
    );
    let pending = inquiries(&d);
    assert!(
        pending.is_empty(),
        "dry runs of a shadow pack put {} inquiries in front of the operators: {:?}",
        pending.len(),
        pending[0]
    );
    for run in &runs {
        assert_eq!(run["dry_run"], true, "{run}");
        let exec = d.json(0, &["exec", "get", run["id"].as_str().unwrap()]);
        assert_eq!(asked(&exec).len(), 1, "{exec}");
    }
    // Not through the API either.
    let url = format!("http://{}/api/v1/inquiries?state=all", server.addr);
    let mut resp = agent(Duration::from_secs(5))
        .get(&url)
        .header("authorization", format!("Bearer {token}"))
        .call()
        .unwrap();
    let body: Value = serde_json::from_str(&resp.body_mut().read_to_string().unwrap()).unwrap();
    let listed = body
        .as_array()
        .or_else(|| body["inquiries"].as_array())
        .cloned()
        .unwrap_or_default();
    assert!(listed.is_empty(), "{body}");
}
