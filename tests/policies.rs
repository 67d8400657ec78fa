//! End-to-end tests of scheduler policies under `drover serve`: the
//! `tests/packs/limits` pack declares a semaphore shared by two actions, a
//! per-node keyed semaphore, a cancel policy and a retry policy
//! (`policies/*.yaml`). Webhooks start real `core.sleep`/`core.fail` Wasm
//! components; concurrency is measured afterwards from the stored start
//! times and durations of the executions, never from drover's own counters.

mod support;

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use drover_store::{ExecutionFilter, ExecutionSummary, Store};
use serde_json::{Value, json};
use support::server::*;
use support::*;

const LIMITS_TOKEN: &str = "limits-token-for-tests";

fn limits_drover() -> Drover {
    let d = Drover::new();
    d.install(&["packs/core", "tests/packs/limits"]);
    set_secret(&d, "limits.token", LIMITS_TOKEN);
    d
}

/// POSTs `payload` to `limits.go`; returns the trigger id.
fn go(agent: &ureq::Agent, server: &Server, payload: &Value) -> String {
    let body = payload.to_string();
    let answer = post(
        agent,
        &server.url("limits.go"),
        &[("x-drover-token", LIMITS_TOKEN)],
        body.as_bytes(),
    )
    .unwrap_or_else(|e| panic!("POST limits.go: {e}\n{}", server.log()));
    answer.accepted_id()
}

/// Every stored execution of the given actions, read from the database.
fn stored(d: &Drover, actions: &[&str]) -> Vec<ExecutionSummary> {
    let store = Store::open(&d.db()).unwrap();
    let mut all = Vec::new();
    for action in actions {
        all.extend(
            store
                .list_executions(&ExecutionFilter {
                    action: Some((*action).into()),
                    limit: 100_000,
                    ..ExecutionFilter::default()
                })
                .unwrap(),
        );
    }
    all
}

/// The most executions that ran at the same moment, from stored start
/// times (ms) and durations (µs). An end at the same millisecond as a
/// start counts before it: the slot was released before the next claim.
fn max_overlap(execs: &[&ExecutionSummary]) -> usize {
    let mut events: Vec<(i64, i32)> = Vec::new();
    for e in execs {
        let start_us = e.started_at_ms * 1000;
        // Floor to ms: the start is a truncated ms, so the end must be too.
        let end_ms = (start_us + e.duration_us as i64) / 1000;
        events.push((e.started_at_ms, 1));
        events.push((end_ms, -1));
    }
    events.sort();
    let (mut now, mut max) = (0i32, 0i32);
    for (_, delta) in events {
        now += delta;
        max = max.max(now);
    }
    max as usize
}

/// Semaphore slots held and requests running, read from the database.
fn slots_and_running(d: &Drover) -> (u64, u64) {
    let store = Store::open(&d.db()).unwrap();
    let slots = store.semaphore_counts().unwrap().iter().map(|s| s.2).sum();
    (slots, store.queue_depth().unwrap().1)
}

#[test]
fn a_shared_semaphore_across_two_actions_holds_under_200_requests_and_a_restart() {
    let d = limits_drover();
    let mut server = Server::start_with(&d, &["--grace", "10s", "--workers", "12"]);
    // 200 requests from 8 clients at once, alternating the two actions.
    let sent = Arc::new(AtomicUsize::new(0));
    let ids = Arc::new(Mutex::new(Vec::new()));
    std::thread::scope(|s| {
        for _ in 0..8 {
            let (sent, ids, server) = (sent.clone(), ids.clone(), &server);
            s.spawn(move || {
                let agent = agent(Duration::from_secs(30));
                loop {
                    let n = sent.fetch_add(1, Ordering::SeqCst);
                    if n >= 200 {
                        break;
                    }
                    let action = if n % 2 == 0 { "nap_a" } else { "nap_b" };
                    let id = go(&agent, server, &json!({"action": action, "seconds": 0.05}));
                    ids.lock().unwrap().push(id);
                }
            });
        }
    });
    assert_eq!(ids.lock().unwrap().len(), 200);
    let actions = ["limits.nap_a", "limits.nap_b"];
    // Part-way through, kill -9.
    wait_for("60 naps stored", SETTLE, || {
        (stored(&d, &actions).len() >= 60).then_some(())
    });
    server.signal_and_wait(libc::SIGKILL, Duration::from_secs(10));
    let (slots, running) = slots_and_running(&d);
    assert!(slots <= 3, "{slots} slots held on a threshold of 3");
    assert_eq!(
        slots, running,
        "every running request holds its slot, no slot without a running request"
    );
    let before = stored(&d, &actions).len();
    assert!(before < 200, "killed before the end: {before} stored");

    // The restarted server re-queues the interrupted naps (idempotent) and
    // finishes the rest under the same limit.
    let server = Server::start_with(&d, &["--grace", "10s", "--workers", "12"]);
    wait_for("200 naps stored", Duration::from_secs(120), || {
        (stored(&d, &actions).len() >= 200).then_some(())
    });
    wait_for("an empty queue", SETTLE, || {
        (queue_depth(&d) == (0, 0)).then_some(())
    });
    let all = stored(&d, &actions);
    assert_eq!(all.len(), 200, "each request stored once\n{}", server.log());
    assert!(all.iter().all(|e| e.status.as_str() == "succeeded"));
    let kinds: HashMap<&str, usize> = all.iter().fold(HashMap::new(), |mut m, e| {
        *m.entry(e.action.as_str()).or_default() += 1;
        m
    });
    assert_eq!(kinds["limits.nap_a"], 100);
    assert_eq!(kinds["limits.nap_b"], 100);
    let refs: Vec<&ExecutionSummary> = all.iter().collect();
    let max = max_overlap(&refs);
    eprintln!(
        "200 naps on semaphore naps (threshold 3), 12 workers, kill -9 after {before}: \
         at most {max} ran at once"
    );
    assert!(max <= 3, "the semaphore let {max} run at once");
    assert_eq!(
        max, 3,
        "12 workers and a full queue should fill all 3 slots"
    );
    assert_eq!(slots_and_running(&d), (0, 0), "no slot left behind");
}

#[test]
fn a_keyed_semaphore_runs_one_per_node_and_nodes_in_parallel_in_order() {
    let d = limits_drover();
    let server = Server::start_with(&d, &["--grace", "10s", "--workers", "8"]);
    let agent = agent(Duration::from_secs(30));
    for i in 0..4 {
        for node in ["n1", "n2"] {
            go(
                &agent,
                &server,
                &json!({"action": "node_nap", "seconds": 0.3, "node": node, "i": i}),
            );
        }
    }
    wait_for("8 node naps stored", SETTLE, || {
        (stored(&d, &["limits.node_nap"]).len() >= 8).then_some(())
    });
    let all = stored(&d, &["limits.node_nap"]);
    let store = Store::open(&d.db()).unwrap();
    let node_of = |e: &ExecutionSummary| {
        let full = store.get_execution(e.id).unwrap().unwrap();
        full.parameters["node"].as_str().unwrap().to_owned()
    };
    let mut per_node: HashMap<String, Vec<&ExecutionSummary>> = HashMap::new();
    for e in &all {
        per_node.entry(node_of(e)).or_default().push(e);
    }
    for (node, execs) in &per_node {
        assert_eq!(execs.len(), 4, "{node}");
        assert_eq!(max_overlap(execs), 1, "one at a time on {node}");
        // Queued in order: they started in the order they were requested.
        let mut by_id = execs.clone();
        by_id.sort_by_key(|e| e.id);
        let mut by_start = execs.clone();
        by_start.sort_by_key(|e| (e.started_at_ms, e.id));
        assert_eq!(
            by_id.iter().map(|e| e.id).collect::<Vec<_>>(),
            by_start.iter().map(|e| e.id).collect::<Vec<_>>(),
            "{node}: not run in request order"
        );
    }
    let refs: Vec<&ExecutionSummary> = all.iter().collect();
    assert_eq!(max_overlap(&refs), 2, "two nodes ran side by side");
}

#[test]
fn a_concurrency_policy_on_a_workflow_releases_its_slot_when_the_run_ends() {
    let d = limits_drover();
    let server = Server::start_with(&d, &["--grace", "10s", "--workers", "8"]);
    let agent = agent(Duration::from_secs(30));
    for i in 0..4 {
        go(&agent, &server, &json!({"action": "flow", "i": i}));
    }
    // A slot kept by an ended run would hold the other three forever.
    wait_for("4 workflow runs stored", SETTLE, || {
        (stored(&d, &["limits.flow"]).len() >= 4).then_some(())
    });
    let all = stored(&d, &["limits.flow"]);
    assert!(
        all.iter()
            .all(|e| e.status == drover_core::ExecStatus::Succeeded),
        "{all:#?}"
    );
    let refs: Vec<&ExecutionSummary> = all.iter().collect();
    assert_eq!(max_overlap(&refs), 1, "one run at a time");
    assert_eq!(slots_and_running(&d), (0, 0), "no slot left held");
}

#[test]
fn a_cancel_policy_closes_the_excess_as_canceled() {
    let d = limits_drover();
    let server = Server::start(&d);
    let agent = agent(Duration::from_secs(30));
    let first = go(
        &agent,
        &server,
        &json!({"action": "lone_nap", "seconds": 3}),
    );
    let first_exec = one_enforcement(&d, &server, &first);
    wait_for("the first lone_nap running", SETTLE, || {
        (queue_depth(&d) == (0, 1)).then_some(())
    });
    let second = go(
        &agent,
        &server,
        &json!({"action": "lone_nap", "seconds": 3}),
    );
    let second_exec = one_enforcement(&d, &server, &second);
    let e = execution(&d, &server, &second_exec);
    assert_eq!(e["status"], "canceled", "{e:#}");
    let error = e["error"].as_str().unwrap();
    assert!(
        error.contains("policy limits.lone") && error.contains("threshold 1"),
        "{error}"
    );
    let e = execution(&d, &server, &first_exec);
    assert_eq!(e["status"], "succeeded", "{e:#}");
    // The slot is free again: the next one runs.
    let third = go(
        &agent,
        &server,
        &json!({"action": "lone_nap", "seconds": 0}),
    );
    let e = execution(&d, &server, &one_enforcement(&d, &server, &third));
    assert_eq!(e["status"], "succeeded", "{e:#}");
    let list = d.expect(0, &["exec", "list", "--status", "canceled"]);
    assert!(stdout(&list).contains(&second_exec), "{}", stdout(&list));
}

#[test]
fn a_retry_policy_reruns_a_failure_twice_linked_to_the_first_run() {
    let d = limits_drover();
    let server = Server::start(&d);
    let agent = agent(Duration::from_secs(30));
    let t = go(&agent, &server, &json!({"action": "flaky"}));
    let first = one_enforcement(&d, &server, &t);
    wait_for("three flaky runs", SETTLE, || {
        (stored(&d, &["limits.flaky"]).len() >= 3).then_some(())
    });
    wait_for("an empty queue", SETTLE, || {
        (queue_depth(&d) == (0, 0)).then_some(())
    });
    let runs = stored(&d, &["limits.flaky"]);
    assert_eq!(runs.len(), 3, "the first run and two retries, no more");
    let e = execution(&d, &server, &first);
    assert_eq!(e["status"], "failed");
    let retries: Vec<String> = e["retries"]
        .as_array()
        .unwrap_or_else(|| panic!("no retries listed: {e:#}"))
        .iter()
        .map(|v| v.as_str().unwrap().to_owned())
        .collect();
    assert_eq!(retries.len(), 2, "{e:#}");
    let mut previous_end = e["finished_at_ms"].as_i64().unwrap();
    for (n, id) in retries.iter().enumerate() {
        let r = execution(&d, &server, id);
        assert_eq!(r["status"], "failed", "{r:#}");
        assert_eq!(r["retry_of"], json!(first), "{r:#}");
        assert_eq!(r["attempt"], json!(n + 1), "{r:#}");
        let started = r["started_at_ms"].as_i64().unwrap();
        assert!(
            started - previous_end >= 200,
            "retry {n} started {} ms after the previous run ended; the delay is 200 ms",
            started - previous_end
        );
        previous_end = r["finished_at_ms"].as_i64().unwrap();
    }
    let text = stdout(&d.expect(0, &["exec", "get", &retries[1]]));
    assert!(text.contains(&format!("attempt 3 of {first}")), "{text}");
}

#[test]
fn bad_policies_refuse_the_pack_naming_file_line_and_field() {
    let d = Drover::new();
    d.install(&["packs/core"]);
    let pack = d.copy_pack("tests/packs/limits", "limits");
    std::fs::write(
        pack.join("policies/lone.yaml"),
        "name: lone\nresource_ref: limits.lone_nap\npolicy_type: action.concurrency\n\
         parameters:\n  threshold: 1\n  action: drop\n",
    )
    .unwrap();
    let out = d.expect(2, &["pack", "install", pack.to_str().unwrap()]);
    let err = stderr(&out);
    assert!(
        err.contains("policies/lone.yaml:6:3: parameters.action: unknown action \"drop\""),
        "{err}"
    );
    let listed = d.json(0, &["pack", "list"]);
    assert_eq!(listed.as_array().unwrap().len(), 1, "nothing installed");
}

/// Waits for the trigger to be processed; returns its one enforcement's
/// execution id.
fn one_enforcement(d: &Drover, server: &Server, trigger: &str) -> String {
    let t = processed(d, server, trigger);
    let enf = t["enforcements"].as_array().unwrap();
    assert_eq!(enf.len(), 1, "{t:#}");
    assert_eq!(enf[0]["state"], "scheduled", "{t:#}");
    enf[0]["execution_id"].as_str().unwrap().to_owned()
}

/// An operator policy (`drover policy set`) governs another pack's action,
/// which no pack may: here one `limits.nap_a` at a time, the excess
/// canceled, on top of the pack's own shared semaphore of three.
#[test]
fn an_operator_policy_governs_any_action_and_is_audited() {
    let d = limits_drover();
    let file = d.dir.path().join("one_nap.yaml");
    std::fs::write(
        &file,
        "name: one_nap\ndescription: One nap_a at a time.\nresource_ref: limits.nap_a\n\
         policy_type: action.concurrency\nparameters:\n  threshold: 1\n  action: cancel\n",
    )
    .unwrap();
    let out = d.expect(0, &["policy", "set", file.to_str().unwrap()]);
    assert!(
        stdout(&out).contains("policy drover.one_nap set on limits.nap_a"),
        "{}",
        stdout(&out)
    );
    let listed = d.json(0, &["policy", "list"]);
    let owners: Vec<(&str, &str)> = listed
        .as_array()
        .unwrap()
        .iter()
        .map(|p| (p["ref"].as_str().unwrap(), p["owner"].as_str().unwrap()))
        .collect();
    assert!(owners.contains(&("drover.one_nap", "operator")), "{listed}");
    assert!(
        owners.contains(&("limits.naps_a", "pack limits")),
        "{listed}"
    );
    let audit = stdout(&d.expect(0, &["audit", "list"]));
    assert!(
        audit.contains("policy.set") && audit.contains("drover.one_nap"),
        "{audit}"
    );

    let server = Server::start(&d);
    let agent = agent(Duration::from_secs(30));
    let first = go(&agent, &server, &json!({"action": "nap_a", "seconds": 3}));
    let first_exec = one_enforcement(&d, &server, &first);
    wait_for("the first nap_a running", SETTLE, || {
        (queue_depth(&d) == (0, 1)).then_some(())
    });
    let second = go(&agent, &server, &json!({"action": "nap_a", "seconds": 3}));
    let e = execution(&d, &server, &one_enforcement(&d, &server, &second));
    assert_eq!(e["status"], "canceled", "{e:#}");
    assert!(
        e["error"]
            .as_str()
            .unwrap()
            .contains("policy drover.one_nap"),
        "{e:#}"
    );
    assert_eq!(execution(&d, &server, &first_exec)["status"], "succeeded");

    // Removed: two run side by side again (the pack's semaphore allows 3).
    d.expect(0, &["policy", "remove", "one_nap"]);
    std::thread::sleep(Duration::from_secs(1));
    let a = go(&agent, &server, &json!({"action": "nap_a", "seconds": 1}));
    let b = go(&agent, &server, &json!({"action": "nap_a", "seconds": 1}));
    for t in [a, b] {
        let e = execution(&d, &server, &one_enforcement(&d, &server, &t));
        assert_eq!(e["status"], "succeeded", "{e:#}");
    }
    let audit = stdout(&d.expect(0, &["audit", "list"]));
    assert!(audit.contains("policy.remove"), "{audit}");

    // Not an installed action: refused, naming the file and the field.
    std::fs::write(
        &file,
        "name: typo\nresource_ref: limits.nap_z\npolicy_type: action.concurrency\n\
         parameters:\n  threshold: 1\n",
    )
    .unwrap();
    let out = d.expect(2, &["policy", "set", file.to_str().unwrap()]);
    let err = stderr(&out);
    assert!(
        err.contains("one_nap.yaml: resource_ref: limits.nap_z is not an installed action"),
        "{err}"
    );
    let out = d.expect(2, &["policy", "remove", "nope"]);
    assert!(
        stderr(&out).contains("no operator policy \"nope\""),
        "{}",
        stderr(&out)
    );
}
