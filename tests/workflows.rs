//! End-to-end: workflow actions (`runner: workflow`) of `tests/packs/flows`
//! run by `drover run`, stored with their child executions, shown with
//! `drover exec get --tree`, planned whole by `--dry-run`, and resumed by
//! `drover serve` after a kill -9.

mod support;

use std::time::{Duration, Instant};

use serde_json::{Value, json};
use support::*;

fn installed() -> Drover {
    let d = Drover::new();
    d.install(&["packs/core", "packs/demo", "tests/packs/flows"]);
    d
}

fn children(d: &Drover, id: &str) -> Vec<Value> {
    d.json(0, &["exec", "get", id, "--tree"])["children"]
        .as_array()
        .unwrap()
        .clone()
}

#[test]
fn a_sequential_workflow_publishes_and_uses_a_result() {
    let d = installed();
    let exec = d.json(0, &["run", "flows.greet", "name=bob"]);
    assert_eq!(exec["status"], "succeeded", "{exec}");
    assert_eq!(exec["action"], "flows.greet");
    assert_eq!(
        exec["result"],
        json!({"said": "hello bob", "again": "again: hello bob"})
    );
    assert_eq!(exec["error"], Value::Null);
    let kids = children(&d, exec["id"].as_str().unwrap());
    let tasks: Vec<(&str, &str, &str)> = kids
        .iter()
        .map(|c| {
            (
                c["task"].as_str().unwrap(),
                c["action"].as_str().unwrap(),
                c["status"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        tasks,
        [
            ("first", "core.echo", "succeeded"),
            ("second", "core.echo", "succeeded")
        ]
    );
    // A child is an ordinary stored execution.
    let second = d.json(0, &["exec", "get", kids[1]["id"].as_str().unwrap()]);
    assert_eq!(second["result"], json!({"message": "again: hello bob"}));
}

#[test]
fn a_failure_branches_to_remediation() {
    let d = installed();
    let exec = d.json(0, &["run", "flows.remediate", "node=b7s01"]);
    assert_eq!(exec["status"], "succeeded", "{exec}");
    assert_eq!(exec["result"], json!({"remediated": true}));
    let kids = children(&d, exec["id"].as_str().unwrap());
    let tasks: Vec<(&str, &str)> = kids
        .iter()
        .map(|c| (c["task"].as_str().unwrap(), c["status"].as_str().unwrap()))
        .collect();
    assert_eq!(tasks, [("check", "failed"), ("fix", "succeeded")]);
}

#[test]
fn missing_input_and_unknown_workflow_are_refused() {
    let d = installed();
    let out = d.expect(2, &["run", "flows.greet"]);
    assert!(
        stderr(&out).contains("missing required parameter \"name\""),
        "{}",
        stderr(&out)
    );
    let out = d.expect(2, &["run", "flows.nope"]);
    assert!(stderr(&out).contains("greet"), "{}", stderr(&out));
}

#[test]
fn dry_run_plans_the_whole_tree_in_order_with_task_names() {
    let d = installed();
    d.grant("demo@0.1.0", "nodes.reboot", "rack=r01");
    let exec = d.json(
        0,
        &[
            "run",
            "flows.reboot_twice",
            "first=n001",
            "second=n002",
            "--dry-run",
        ],
    );
    assert_eq!(exec["status"], "succeeded", "{exec}");
    assert_eq!(exec["dry_run"], true);
    let plan = exec["plan"].as_array().unwrap();
    let steps: Vec<(u64, &str, &str, &str)> = plan
        .iter()
        .map(|p| {
            (
                p["seq"].as_u64().unwrap(),
                p["task"].as_str().unwrap(),
                p["capability"].as_str().unwrap(),
                p["target"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        steps,
        [
            (1, "reboot_first", "nodes.reboot", "n001"),
            (2, "reboot_second", "nodes.reboot", "n002")
        ]
    );
    assert!(plan.iter().all(|p| p["route"] == 0), "{exec}");
    // Every child was dry.
    for c in children(&d, exec["id"].as_str().unwrap()) {
        assert_eq!(c["dry_run"], true, "{c}");
    }
    let text = stdout(&d.expect(0, &["exec", "get", exec["id"].as_str().unwrap()]));
    assert!(
        text.contains("1. [reboot_first] nodes.reboot reboot n001: allowed"),
        "{text}"
    );
}

#[test]
fn exec_get_tree_shows_subworkflows_nested() {
    let d = installed();
    let exec = d.json(0, &["run", "flows.nested", "name=ann"]);
    assert_eq!(exec["status"], "succeeded", "{exec}");
    assert_eq!(exec["result"], json!({"inner": "hello ann"}));
    let id = exec["id"].as_str().unwrap();
    let kids = children(&d, id);
    assert_eq!(kids.len(), 1);
    assert_eq!(kids[0]["action"], "flows.greet");
    assert_eq!(kids[0]["children"].as_array().unwrap().len(), 2);
    let text = stdout(&d.expect(0, &["exec", "get", id, "--tree"]));
    let tree: Vec<&str> = text.lines().skip_while(|l| *l != "  tree").collect();
    assert!(
        tree[1]
            .trim_start()
            .starts_with("inner  flows.greet  succeeded"),
        "{text}"
    );
    assert!(
        tree[2]
            .trim_start()
            .starts_with("first  core.echo  succeeded"),
        "{text}"
    );
    assert!(tree[2].starts_with("      "), "nested deeper:\n{text}");
}

#[test]
fn a_workflow_referencing_an_unknown_action_refuses_the_pack() {
    let d = Drover::new();
    d.install(&["packs/core"]);
    let dir = d.copy_pack("tests/packs/flows", "flows");
    edit_manifest(
        &dir,
        "entry: workflows/greet.yaml",
        "entry: workflows/bad.yaml",
    );
    std::fs::write(
        dir.join("workflows/bad.yaml"),
        "version: 1.0\ntasks:\n  one:\n    action: core.ehco message='x'\n",
    )
    .unwrap();
    let out = d.expect(2, &["pack", "install", dir.to_str().unwrap()]);
    let err = stderr(&out);
    assert!(
        err.contains(
            "workflows/bad.yaml:4:13: tasks.one.action: action `core.ehco` does not exist"
        ),
        "{err}"
    );
    // Nothing was installed.
    let packs = d.json(0, &["pack", "list"]);
    assert_eq!(packs.as_array().unwrap().len(), 1, "{packs}");
}

/// Starts `drover run WORKFLOW seconds=SECONDS`, SIGKILLs it while its `nap`
/// task is in flight, then starts `drover serve` (which resumes unfinished
/// runs) until the workflow execution is stored; returns it.
fn kill_mid_nap_then_serve(d: &Drover, workflow: &str, seconds: &str) -> Value {
    let arg = format!("seconds={seconds}");
    let mut child = d
        .cmd()
        .args(["run", workflow, &arg])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    // Wait until the `before` task is stored (the nap is then in flight).
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let list = d.json(0, &["exec", "list"]);
        if list
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["action"] == "core.echo")
        {
            break;
        }
        assert!(Instant::now() < deadline, "the workflow did not start");
        std::thread::sleep(Duration::from_millis(50));
    }
    std::thread::sleep(Duration::from_millis(300));
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
    let list = d.json(0, &["exec", "list", "--action", workflow]);
    assert!(
        list.as_array().unwrap().is_empty(),
        "finished before the kill: {list}"
    );

    let mut serve = d
        .cmd()
        .args(["serve", "--listen", "127.0.0.1:0"])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    let wf = loop {
        let list = d.json(0, &["exec", "list", "--action", workflow]);
        if let Some(e) = list.as_array().unwrap().first() {
            break e.clone();
        }
        if Instant::now() > deadline {
            let _ = serve.kill();
            panic!("serve did not resume the workflow");
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    let _ = serve.kill();
    let _ = serve.wait();
    wf
}

fn tasks_of(d: &Drover, id: &str) -> Vec<(String, String)> {
    children(d, id)
        .iter()
        .map(|c| {
            (
                c["task"].as_str().unwrap().to_owned(),
                c["status"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

#[test]
fn a_killed_run_is_resumed_by_serve_and_a_non_idempotent_task_is_abandoned() {
    let d = installed();
    let wf = kill_mid_nap_then_serve(&d, "flows.sleepy", "30");
    assert_eq!(wf["status"], "failed", "{wf}");
    let exec = d.json(0, &["exec", "get", wf["id"].as_str().unwrap()]);
    let error = exec["error"].as_str().unwrap();
    assert!(error.contains("task \"nap\""), "{error}");
    assert!(error.contains("abandoned"), "{error}");
    // The nap is not run again, and `after` never ran.
    assert_eq!(
        tasks_of(&d, wf["id"].as_str().unwrap()),
        [
            ("before".to_owned(), "succeeded".to_owned()),
            ("nap".to_owned(), "failed".to_owned())
        ]
    );
}

#[test]
fn a_killed_run_redispatches_an_idempotent_task_and_continues() {
    let d = installed();
    let wf = kill_mid_nap_then_serve(&d, "flows.sleepy_idempotent", "2");
    assert_eq!(wf["status"], "succeeded", "{wf}");
    assert_eq!(
        tasks_of(&d, wf["id"].as_str().unwrap()),
        [
            ("before".to_owned(), "succeeded".to_owned()),
            ("nap".to_owned(), "succeeded".to_owned()),
            ("after".to_owned(), "succeeded".to_owned())
        ]
    );
}

/// A failed workflow's error names the real cause (issue 17, bug 6):
/// Orquesta's "Execution failed. See result for details." sent the
/// operator to each child's page to learn that a grant, the brake or a
/// budget refused.
#[test]
fn a_failed_workflow_says_why_its_task_failed() {
    let d = installed();
    let exec = d.json(
        1,
        &["run", "flows.reboot_twice", "first=n001", "second=n002"],
    );
    assert_eq!(exec["status"], "failed", "{exec}");
    let error = exec["error"].as_str().unwrap();
    assert!(
        error.contains("task \"reboot_first\": denied: no grant of nodes.reboot to demo@0.1.0"),
        "{error}"
    );
    assert!(!error.contains("See result for details"), "{error}");
    // The child it came from is named, so the operator can open it.
    let first = children(&d, exec["id"].as_str().unwrap())
        .into_iter()
        .find(|c| c["task"] == "reboot_first")
        .unwrap();
    assert!(error.contains(first["id"].as_str().unwrap()), "{error}");
}
