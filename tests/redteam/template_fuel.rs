//! Hole 11b: workflow expressions without a bound on their work. A task
//! input of nested `{% for %}` loops over 100,000 × 100,000 items (or a
//! string multiplied a billion times in a publish) must fail the workflow
//! with a clear "out of fuel" message, in `drover run` and `--dry-run`
//! alike, and under `drover serve` leave its worker free for the next
//! execution.

use std::time::Duration;

use serde_json::Value;

use crate::support::server::*;
use crate::support::*;
use crate::yaml_bomb::{hostile_pack, run_bounded};

fn installed() -> Drover {
    let d = Drover::new();
    d.install(&["packs/core"]);
    let dir = hostile_pack(&d, "fuel");
    d.expect(0, &["pack", "install", "--trusted", dir.to_str().unwrap()]);
    d
}

/// `drover run ACTION [--dry-run] --json`, killed if it runs past 60 s.
fn run_workflow(d: &Drover, action: &str, dry_run: bool) -> Value {
    let mut cmd = d.cmd();
    cmd.args(["run", action, "--json"]);
    if dry_run {
        cmd.arg("--dry-run");
    }
    let b = run_bounded(cmd, 1 << 20, Duration::from_secs(60));
    assert!(
        b.killed.is_none(),
        "drover run {action} was killed: {} (after {:?})",
        b.killed.as_deref().unwrap_or(""),
        b.elapsed
    );
    assert!(b.elapsed < Duration::from_secs(20), "took {:?}", b.elapsed);
    assert_eq!(b.output.status.code(), Some(1), "{}", stderr(&b.output));
    serde_json::from_slice(&b.output.stdout)
        .unwrap_or_else(|e| panic!("no JSON ({e}): {}", stdout(&b.output)))
}

fn assert_out_of_fuel(exec: &Value) {
    assert_eq!(exec["status"], "failed", "{exec:#}");
    let error = exec["error"].as_str().unwrap_or_default();
    assert!(error.contains("out of fuel"), "{error}");
    assert!(error.contains("simplify it"), "{error}");
}

#[test]
fn a_nested_loop_in_a_task_input_runs_out_of_fuel_live_and_dry() {
    let d = installed();
    for dry_run in [false, true] {
        let exec = run_workflow(&d, "fuel.spin", dry_run);
        assert_out_of_fuel(&exec);
        assert_eq!(exec["dry_run"], dry_run, "{exec:#}");
        // The task never started: no child execution, no effect.
        let tree = d.json(0, &["exec", "get", exec["id"].as_str().unwrap(), "--tree"]);
        assert_eq!(tree["children"], serde_json::json!([]), "{tree:#}");
    }
}

#[test]
fn a_runaway_publish_runs_out_of_fuel() {
    let d = installed();
    let exec = run_workflow(&d, "fuel.publish_spin", false);
    assert_out_of_fuel(&exec);
}

#[test]
fn under_serve_the_worker_is_free_after_a_runaway_expression() {
    let d = installed();
    set_secret(&d, "fuel.token", TOKEN);
    // One worker: if the runaway held it, nothing else would ever run.
    let server = Server::start_with(&d, &["--grace", "10s", "--workers", "1"]);
    let agent = agent(Duration::from_secs(30));
    let go = |workflow: &str| {
        let body = format!(r#"{{"workflow": "{workflow}"}}"#);
        post(
            &agent,
            &server.url("fuel.go"),
            &[("x-drover-token", TOKEN)],
            body.as_bytes(),
        )
        .unwrap()
        .accepted_id()
    };
    let spin = go("spin");
    let spin_trigger = processed(&d, &server, &spin);
    let fine = go("fine");
    let fine_trigger = processed(&d, &server, &fine);
    let exec_of = |t: &Value| {
        t["enforcements"][0]["execution_id"]
            .as_str()
            .unwrap_or_else(|| panic!("no execution: {t:#}"))
            .to_owned()
    };
    let wait_done = |id: &str| {
        wait_for("the execution to end", SETTLE, || {
            let e = execution(&d, &server, id);
            (e["status"] != "running").then_some(e)
        })
    };
    let spun = wait_done(&exec_of(&spin_trigger));
    assert_out_of_fuel(&spun);
    let fined = wait_done(&exec_of(&fine_trigger));
    assert_eq!(fined["status"], "succeeded", "{fined:#}\n{}", server.log());
}
