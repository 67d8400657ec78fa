//! Hole 11c: workflows that never end. A task whose transition leads back
//! to itself, a fan-out past the ceiling, or a workflow that calls itself
//! as a subworkflow, must end failed at its ceiling of task runs
//! (`max_steps` in pack.yaml, 100,000 by default), saying which limit and
//! where to raise it, instead of holding a worker (and, for recursion, a
//! new thread per level) forever.

use std::time::Duration;

use serde_json::Value;

use crate::support::*;
use crate::yaml_bomb::{hostile_pack, run_bounded};

fn installed() -> Drover {
    let d = Drover::new();
    d.install(&["packs/core"]);
    let dir = hostile_pack(&d, "ceiling");
    d.expect(0, &["pack", "install", dir.to_str().unwrap()]);
    d
}

/// `drover run ACTION --json`, killed if it runs past `within`.
fn run_workflow(d: &Drover, args: &[&str], within: Duration) -> Value {
    let mut cmd = d.cmd();
    cmd.arg("run").args(args).arg("--json");
    let b = run_bounded(cmd, 1 << 20, within);
    assert!(
        b.killed.is_none(),
        "drover run {args:?} was killed: {} (after {:?})",
        b.killed.as_deref().unwrap_or(""),
        b.elapsed
    );
    assert_eq!(b.output.status.code(), Some(1), "{}", stderr(&b.output));
    serde_json::from_slice(&b.output.stdout)
        .unwrap_or_else(|e| panic!("no JSON ({e}): {}", stdout(&b.output)))
}

fn children(d: &Drover, id: &str) -> Vec<Value> {
    d.json(0, &["exec", "get", id, "--tree"])["children"]
        .as_array()
        .unwrap()
        .clone()
}

#[test]
fn an_endless_loop_ends_failed_at_its_max_steps() {
    let d = installed();
    for dry_run in [false, true] {
        let mut args = vec!["ceiling.forever"];
        if dry_run {
            args.push("--dry-run");
        }
        let exec = run_workflow(&d, &args, Duration::from_secs(120));
        assert_eq!(exec["status"], "failed", "{exec:#}");
        let error = exec["error"].as_str().unwrap();
        assert!(
            error.contains("workflow ceiling.forever exceeded its limit of 200 task runs"),
            "{error}"
        );
        assert!(
            error.contains("raise `max_steps`") && error.contains("plugins.forever.max_steps"),
            "{error}"
        );
        // Exactly the ceiling ran, each one an ordinary stored child.
        let kids = children(&d, exec["id"].as_str().unwrap());
        assert_eq!(kids.len(), 200, "{}", kids.len());
        assert!(kids.iter().all(|k| k["status"] == "succeeded"));
    }
}

#[test]
fn a_fan_out_past_the_default_ceiling_is_refused_before_it_starts() {
    let d = installed();
    let exec = run_workflow(&d, &["ceiling.wide"], Duration::from_secs(120));
    assert_eq!(exec["status"], "failed", "{exec:#}");
    let error = exec["error"].as_str().unwrap();
    assert!(
        error.contains("workflow ceiling.wide exceeded its limit of 100000 task runs"),
        "{error}"
    );
    // Only the first task ran: the 100,000 items never started.
    let kids = children(&d, exec["id"].as_str().unwrap());
    assert_eq!(kids.len(), 1, "{kids:#?}");
}

#[test]
fn a_workflow_calling_itself_is_bounded_as_a_whole() {
    let d = installed();
    let exec = run_workflow(&d, &["ceiling.recurse"], Duration::from_secs(120));
    assert_eq!(exec["status"], "failed", "{exec:#}");
    let error = exec["error"].as_str().unwrap();
    assert!(
        error.contains("workflow ceiling.recurse exceeded its limit of 50 task runs"),
        "{error}"
    );
    // The whole tree stopped at the ceiling: count its task runs.
    fn count(d: &Drover, id: &str) -> usize {
        children(d, id)
            .iter()
            .map(|k| 1 + count(d, k["id"].as_str().unwrap()))
            .sum()
    }
    let n = count(&d, exec["id"].as_str().unwrap());
    assert!(n <= 50, "{n} task runs in the tree");
}
