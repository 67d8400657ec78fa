//! Hole: liveness followed the rule's pack only. A trusted rule or workflow
//! calling a shadow pack's action ran it for real, and so did a shadow
//! workflow's call of a trusted action, and `drover run` of a shadow pack's
//! action. Liveness follows the least-trusted link: one shadow pack on the
//! chain (rule, workflow, action) makes every effect a planned one.
//!
//! The effect used is `testkit_count`'s kv write: a live run stores the
//! counter (a second run counts 2); a dry run plans the write, stores
//! nothing (a second run counts 1 again).

use std::time::Duration;

use serde_json::Value;

use crate::support::server::{Server, execution, post, processed, set_secret, signature};
use crate::support::*;

/// core, demo, flows (trusted, from drover's tests/packs), `shady` (shadow,
/// from tests/redteam/packs) and `lure` (the same, installed `--trusted`,
/// as an operator would a pack they reviewed).
fn chain_drover() -> Drover {
    let d = Drover::new();
    d.install(&["packs/core", "packs/demo", "tests/packs/flows"]);
    let shady = pack_dir("tests/redteam/packs/shady");
    let out = d.expect(0, &["pack", "install", shady.to_str().unwrap()]);
    assert!(stdout(&out).contains("in shadow mode"), "{}", stdout(&out));
    let lure = pack_dir("tests/redteam/packs/lure");
    d.expect(0, &["pack", "install", "--trusted", lure.to_str().unwrap()]);
    d
}

/// The planned effects of execution `e`: (capability, operation, target).
fn plan(e: &Value) -> Vec<(String, String, String)> {
    e["plan"]
        .as_array()
        .unwrap_or_else(|| panic!("a dry run stores its plan: {e:#}"))
        .iter()
        .map(|p| {
            let s = |k: &str| p[k].as_str().unwrap_or_default().to_owned();
            (s("capability"), s("operation"), s("target"))
        })
        .collect()
}

/// Asserts `e` is a dry run of `action` that planned the counter's write
/// and stored nothing: it counted 1.
fn assert_planned_count(e: &Value, action: &str) {
    assert_eq!(e["action"], action, "{e:#}");
    assert_eq!(e["dry_run"], true, "{action} ran for real: {e:#}");
    assert_eq!(e["status"], "succeeded", "{e:#}");
    assert_eq!(e["result"]["count"], 1, "{e:#}");
    assert!(
        plan(e).iter().any(|(c, op, _)| c == "kv" && op == "set"),
        "the kv write is planned: {e:#}"
    );
}

/// The children of workflow execution `id`, each as `exec get --json`.
fn children(d: &Drover, id: &str) -> Vec<Value> {
    d.json(0, &["exec", "get", id, "--tree"])["children"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| d.json(0, &["exec", "get", c["id"].as_str().unwrap()]))
        .collect()
}

#[test]
fn a_trusted_rule_calling_a_shadow_packs_action_runs_it_dry() {
    let d = chain_drover();
    set_secret(&d, "lure.webhook", crate::support::server::HMAC_KEY);
    let server = Server::start(&d);
    let agent = crate::support::server::agent(Duration::from_secs(30));
    let mut ids = Vec::new();
    for _ in 0..2 {
        let body = br#"{"node":"n1"}"#;
        let sig = signature(body);
        let answer = post(
            &agent,
            &server.url("lure.ping"),
            &[("x-drover-signature", &sig)],
            body,
        )
        .unwrap();
        let t = processed(&d, &server, &answer.accepted_id());
        let enf = &t["enforcements"][0];
        assert_eq!(enf["rule_ref"], "lure.count_on_ping", "{t:#}");
        assert_eq!(enf["state"], "scheduled", "{t:#}");
        ids.push(enf["execution_id"].as_str().unwrap().to_owned());
    }
    for id in &ids {
        // Both count 1: the first stored nothing.
        assert_planned_count(&execution(&d, &server, id), "shady.count");
    }
}

#[test]
fn a_trusted_workflow_calling_a_shadow_packs_action_runs_it_dry() {
    let d = chain_drover();
    for _ in 0..2 {
        let wf = d.json(0, &["run", "lure.calls_shady"]);
        assert_eq!(wf["status"], "succeeded", "{wf:#}");
        let kids = children(&d, wf["id"].as_str().unwrap());
        assert_eq!(kids.len(), 1, "{kids:#?}");
        assert_planned_count(&kids[0], "shady.count");
    }
}

#[test]
fn a_shadow_workflow_calling_a_trusted_action_runs_it_dry() {
    let d = chain_drover();
    for _ in 0..2 {
        let out = d.expect(0, &["run", "shady.calls_trusted", "--json"]);
        let wf: Value = serde_json::from_slice(&out.stdout).unwrap();
        let kids = children(&d, wf["id"].as_str().unwrap());
        assert_eq!(kids.len(), 1, "{kids:#?}");
        assert_planned_count(&kids[0], "flows.count");
        assert_eq!(wf["dry_run"], true, "{wf:#}");
        assert!(
            stderr(&out).contains("shady@0.1.0 is in shadow mode: this is a dry run"),
            "the operator is told why: {}",
            stderr(&out)
        );
    }
    // The trusted action itself still runs for real when called directly.
    let live = d.json(0, &["run", "flows.count", "key=from_shady"]);
    assert_eq!(live["dry_run"], false, "{live:#}");
    assert_eq!(
        live["result"]["count"], 1,
        "nothing was stored before: {live:#}"
    );
}

#[test]
fn an_operator_running_a_shadow_packs_action_gets_a_dry_run_and_is_told_why() {
    let d = chain_drover();
    for _ in 0..2 {
        let out = d.expect(0, &["run", "shady.count", "key=k", "--json"]);
        let e: Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_planned_count(&e, "shady.count");
        assert!(
            stderr(&out).contains(
                "shady@0.1.0 is in shadow mode: this is a dry run (its effects are planned, \
                 not performed); `drover pack promote shady@0.1.0` makes it run for real"
            ),
            "{}",
            stderr(&out)
        );
    }
    // Promoted, it runs for real.
    d.expect(
        0,
        &["pack", "promote", "shady", "--reason", "test: promote"],
    );
    let e = d.json(0, &["run", "shady.count", "key=k"]);
    assert_eq!(e["dry_run"], false, "{e:#}");
    let e = d.json(0, &["run", "shady.count", "key=k"]);
    assert_eq!(e["result"]["count"], 2, "{e:#}");
}
