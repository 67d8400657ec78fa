//! The lifecycle on the simulated fleet: the happy path with its history
//! and audit records, idempotent requests, deadlines and escalation ending
//! in intervention, the storm brake, the pause, windows and `at`.

mod support;

use drover_fleet::settings::{Pause, Window};
use drover_fleet::{Gate, Kind, Origin, Outcome, Policy, State};
use serde_json::json;
use support::*;

fn two_racks() -> Vec<drover_fleet::Node> {
    vec![
        node("a1", "r1", opts(2.0)),
        node("a2", "r1", opts(2.0)),
        node("b1", "r2", opts(2.0)),
    ]
}

#[test]
fn a_reboot_goes_round_the_lifecycle_with_history_and_audit() {
    let mut s = Sim::new(two_racks(), vec![rack_one()], quick_settings());
    let a = s.submit(vec![s.req("a1", Kind::Reboot, Origin::Operator)]);
    assert_eq!(a[0].outcome, Outcome::Accepted);
    assert_eq!(s.state("a1"), State::Draining);
    s.run(500, 60_000);
    assert_eq!(s.state("a1"), State::Production);
    let states: Vec<(State, State)> = s
        .log
        .iter()
        .flat_map(|c| c.history.iter())
        .filter(|h| h.from != h.to)
        .map(|h| (h.from, h.to))
        .collect();
    assert_eq!(
        states,
        vec![
            (State::Production, State::Draining),
            (State::Draining, State::Drained),
            (State::Drained, State::Rebooting),
            (State::Rebooting, State::Restoring),
            (State::Restoring, State::Production),
        ]
    );
    let caps: Vec<&str> = s.effects().iter().map(|e| e.capability.as_str()).collect();
    assert_eq!(caps, vec!["fleet.drain", "fleet.reboot", "fleet.undrain"]);
    let r = s
        .world
        .requests
        .iter()
        .find(|r| r.id == a[0].request_id)
        .unwrap();
    assert_eq!(r.status, drover_fleet::Status::Done);
}

#[test]
fn a_second_request_joins_the_first() {
    let mut s = Sim::new(two_racks(), vec![rack_one()], quick_settings());
    let first = s.submit(vec![s.req("a1", Kind::Reboot, Origin::Operator)]);
    let again = s.submit(vec![
        s.req("a1", Kind::Reboot, Origin::Automation),
        s.req("a1", Kind::Drain, Origin::Operator),
    ]);
    for a in &again {
        assert!(a.joined);
        assert_eq!(a.request_id, first[0].request_id);
        assert_eq!(a.outcome, Outcome::Accepted);
    }
    // A reboot asked of a node being drained turns the drain into a reboot.
    let d = s.submit(vec![s.req("b1", Kind::Drain, Origin::Operator)]);
    let r = s.submit(vec![s.req("b1", Kind::Reboot, Origin::Operator)]);
    assert_eq!(r[0].request_id, d[0].request_id);
    s.run(500, 60_000);
    assert_eq!(s.state("b1"), State::Production);
    assert_eq!(s.state("a1"), State::Production);
    let reboots = s
        .effects()
        .iter()
        .filter(|e| e.capability == "fleet.reboot")
        .count();
    assert_eq!(reboots, 2, "one reboot per node, not per request");
}

#[test]
fn a_queued_request_names_the_budget_and_its_holder_then_starts() {
    let mut s = Sim::new(two_racks(), vec![rack_one()], quick_settings());
    let a = s.submit(vec![
        s.req("a1", Kind::Reboot, Origin::Operator),
        s.req("a2", Kind::Reboot, Origin::Operator),
    ]);
    assert_eq!(a[1].outcome, Outcome::Queued);
    let hold = a[1].hold.as_ref().unwrap();
    assert_eq!(hold.budget, "rack-one");
    assert_eq!(hold.holders[0].0, "a1");
    assert!(
        a[1].detail.contains("rack=r1: held by a1"),
        "{}",
        a[1].detail
    );
    s.run(500, 120_000);
    assert_eq!(s.state("a2"), State::Production);
}

#[test]
fn a_missed_drain_deadline_puts_the_node_in_intervention() {
    let mut s = Sim::new(
        vec![node("a1", "r1", json!({"drain_seconds": 60}))],
        vec![],
        quick_settings(),
    );
    let mut r = s.req("a1", Kind::Drain, Origin::Operator);
    r.drain_timeout_ms = Some(4_000);
    s.submit(vec![r]);
    s.run(500, 30_000);
    assert_eq!(s.state("a1"), State::Intervention);
    let i = s.world.node_index("a1").unwrap();
    let note = &s.world.nodes[i].note;
    assert!(note.contains("drain did not finish within 4s"), "{note}");
    assert!(
        s.effects()
            .iter()
            .any(|e| e.capability == "fleet.intervention" && e.reason.contains("drain deadline"))
    );
}

#[test]
fn a_node_that_never_returns_climbs_the_ladder_then_needs_a_person() {
    let mut s = Sim::new(
        vec![node("a1", "r1", json!({"no_return_rate": 1.0}))],
        vec![],
        quick_settings(),
    );
    s.submit(vec![s.req("a1", Kind::Reboot, Origin::Operator)]);
    s.run(500, 60_000);
    assert_eq!(s.state("a1"), State::Intervention);
    let actions: Vec<String> = s
        .effects()
        .iter()
        .filter(|e| e.capability == "fleet.reboot")
        .map(|e| e.reason.clone())
        .collect();
    assert_eq!(actions.len(), 2, "{actions:?}");
    assert!(actions[0].contains("graceful-restart (step 1 of 2)"));
    assert!(actions[1].contains("force-restart (step 2 of 2)"));
    let i = s.world.node_index("a1").unwrap();
    assert!(
        s.world.nodes[i]
            .note
            .contains("escalation ladder (graceful-restart, force-restart) is exhausted"),
        "{}",
        s.world.nodes[i].note
    );
}

#[test]
fn a_failing_power_action_escalates_at_once() {
    let mut s = Sim::new(
        vec![node("a1", "r1", json!({"fail_rate": 1.0}))],
        vec![],
        quick_settings(),
    );
    s.submit(vec![s.req("a1", Kind::Reboot, Origin::Operator)]);
    s.run(500, 60_000);
    assert_eq!(s.state("a1"), State::Intervention);
    let i = s.world.node_index("a1").unwrap();
    assert!(
        s.world.nodes[i].note.contains("simulated BMC error"),
        "{}",
        s.world.nodes[i].note
    );
}

#[test]
fn the_storm_brake_stops_automation_until_released() {
    let nodes: Vec<_> = (0..20)
        .map(|i| node(&format!("n{i}"), &format!("r{i}"), opts(1.0)))
        .collect();
    let mut settings = quick_settings();
    settings.brake.threshold_percent = 10.0; // more than 2 of 20
    let mut s = Sim::new(nodes, vec![], settings);
    // One at a time, as alerts arrive (a batch would be admitted after
    // the brake engaged, and held whole).
    let a: Vec<_> = ["n0", "n1", "n2", "n3"]
        .iter()
        .map(|n| {
            s.submit(vec![s.req(n, Kind::Reboot, Origin::Automation)])
                .remove(0)
        })
        .collect();
    assert_eq!(a[0].outcome, Outcome::Accepted);
    assert_eq!(a[1].outcome, Outcome::Accepted);
    assert_eq!(a[2].outcome, Outcome::Denied);
    assert!(
        a[2].detail.contains("storm brake engaged"),
        "{}",
        a[2].detail
    );
    assert!(
        a[2].detail.contains("3 of 20 nodes unhealthy"),
        "{}",
        a[2].detail
    );
    assert_eq!(a[3].outcome, Outcome::Denied);
    // Each answer says which gate answered.
    assert_eq!(a[0].gate, None);
    assert_eq!(a[2].gate, Some(Gate::Brake));
    assert_eq!(a[3].gate, Some(Gate::Brake));
    assert!(s.effects().iter().any(|e| e.capability == "fleet.brake"));
    // Operators go on.
    let op = s.submit(vec![s.req("n5", Kind::Reboot, Origin::Operator)]);
    assert_eq!(op[0].outcome, Outcome::Accepted);
    let now = s.now();
    assert!(s.world.release_brake("user:op", now));
    s.advance(1);
    let after = s.submit(vec![s.req("n6", Kind::Reboot, Origin::Automation)]);
    assert_eq!(after[0].outcome, Outcome::Accepted, "{}", after[0].detail);
    s.run(500, 60_000);
    for n in ["n0", "n1", "n5", "n6"] {
        assert_eq!(s.state(n), State::Production, "{n}");
    }
    assert_eq!(s.state("n2"), State::Production);
}

#[test]
fn pause_holds_new_work_and_lets_in_flight_work_finish() {
    let mut s = Sim::new(two_racks(), vec![], quick_settings());
    s.submit(vec![s.req("a1", Kind::Reboot, Origin::Operator)]);
    s.world.settings.pause = Some(Pause {
        since_ms: s.now(),
        by: "user:op".into(),
        reason: "change freeze".into(),
    });
    let q = s.submit(vec![s.req("b1", Kind::Reboot, Origin::Operator)]);
    assert_eq!(q[0].outcome, Outcome::Queued);
    assert_eq!(q[0].gate, Some(Gate::Pause));
    assert!(
        q[0].detail.contains("fleet paused by user:op"),
        "{}",
        q[0].detail
    );
    for _ in 0..40 {
        s.tick();
        s.advance(500);
    }
    assert_eq!(s.state("a1"), State::Production);
    assert_eq!(s.state("b1"), State::Production, "b1 never started");
    assert!(s.world.open_request("b1").is_some());
    s.world.settings.pause = None;
    s.run(500, 60_000);
    assert!(s.world.open_request("b1").is_none());
}

#[test]
fn window_and_at_policies_wait_for_their_time() {
    let mut settings = quick_settings();
    // The simulated clock starts at 1970-01-01T00:16:40Z (a Thursday).
    settings.windows.push(Window {
        name: "w".into(),
        days: vec![],
        start: "00:30".into(),
        end: "01:00".into(),
        tz: "UTC".into(),
        selector: Some("rack=r1".into()),
    });
    let mut s = Sim::new(two_racks(), vec![], settings);
    let mut w = s.req("a1", Kind::Reboot, Origin::Operator);
    w.policy = Policy::Window;
    let mut outside = s.req("b1", Kind::Reboot, Origin::Operator);
    outside.policy = Policy::Window;
    let mut at = s.req("a2", Kind::Reboot, Origin::Operator);
    at.policy = Policy::At(s.now() + 120_000);
    let a = s.submit(vec![w, outside, at]);
    assert!(a.iter().all(|a| a.outcome == Outcome::Queued));
    let gates: Vec<_> = a.iter().map(|a| a.gate).collect();
    assert_eq!(
        gates,
        [Some(Gate::Window), Some(Gate::Window), Some(Gate::Schedule)]
    );
    assert!(a[0].detail.contains("waiting for a maintenance window"));
    assert!(
        a[1].detail.contains("none covers this node"),
        "{}",
        a[1].detail
    );
    assert!(a[2].detail.contains("waiting until"));
    for _ in 0..200 {
        s.tick();
        s.advance(1000);
    }
    // 200 s in: `at` has passed, the window (from 00:30) has not opened.
    assert!(s.world.open_request("a2").is_none());
    assert_eq!(
        s.world.open_request("a1").unwrap().status,
        drover_fleet::Status::Queued
    );
    s.advance(14 * 60 * 1000);
    s.run(1000, 120_000);
    assert!(s.world.open_request("a1").is_none());
    assert_eq!(
        s.world.open_request("b1").unwrap().status,
        drover_fleet::Status::Queued
    );
}

#[test]
fn automation_may_not_touch_a_node_in_intervention() {
    let mut s = Sim::new(two_racks(), vec![], quick_settings());
    let now = s.now();
    s.world
        .set_state(
            "a1",
            State::Intervention,
            "disk",
            "user:op",
            Origin::Operator,
            None,
            now,
        )
        .unwrap();
    let a = s.submit(vec![s.req("a1", Kind::Reboot, Origin::Automation)]);
    assert_eq!(a[0].outcome, Outcome::Denied);
    assert_eq!(a[0].gate, Some(Gate::Intervention));
    assert!(
        a[0].detail.contains("drover node set-state a1 production"),
        "{}",
        a[0].detail
    );
    let now = s.now();
    let back = s
        .world
        .set_state(
            "a1",
            State::Production,
            "looks fine",
            "rule:auto",
            Origin::Automation,
            None,
            now,
        )
        .unwrap();
    assert_eq!(back.outcome, Outcome::Denied);
    assert_eq!(s.state("a1"), State::Intervention);
    // An operator may.
    let a = s.submit(vec![s.req("a1", Kind::Reboot, Origin::Operator)]);
    assert_eq!(a[0].outcome, Outcome::Accepted);
    assert_eq!(
        s.state("a1"),
        State::Rebooting,
        "a node already out skips the drain"
    );
    s.run(500, 60_000);
    assert_eq!(s.state("a1"), State::Production);
    // Automation may not set transitional states.
    let now = s.now();
    assert!(
        s.world
            .set_state(
                "a2",
                State::Draining,
                "x",
                "rule:auto",
                Origin::Automation,
                None,
                now
            )
            .is_err()
    );
}

#[test]
fn a_queued_plugin_request_outside_its_grant_now_is_denied_before_it_starts() {
    // Three nodes: two automatic requests would trip a 5% storm brake.
    let mut settings = quick_settings();
    settings.brake.threshold_percent = 100.0;
    let mut s = Sim::new(two_racks(), vec![], settings);
    s.world.settings.pause = Some(Pause {
        since_ms: s.now(),
        by: "user:op".into(),
        reason: "freeze".into(),
    });
    let grant = drover_fleet::GrantRef {
        pack: "demo".into(),
        version: "0.1.0".into(),
        plugin: "reboot_node".into(),
        digest: "sha256:a".into(),
        capability: "nodes.reboot".into(),
        grant_id: "g1".into(),
    };
    let by_plugin = |node: &str| {
        let mut r = s.req(node, Kind::Reboot, Origin::Automation);
        r.grant = Some(grant.clone());
        r
    };
    let (a1, a2) = (by_plugin("a1"), by_plugin("a2"));
    let operator = s.req("b1", Kind::Reboot, Origin::Operator);
    let q = s.submit(vec![a1, a2, operator]);
    assert!(q.iter().all(|a| a.outcome == Outcome::Queued), "{q:?}");

    // a1 left rack r1 while it waited; the grant covers rack r1 only.
    let i = s.world.node_index("a1").unwrap();
    s.world.nodes[i].labels.insert("rack".into(), "r9".into());
    s.world.settings.pause = None;
    let now = s.now();
    s.world.recheck_grants(now, |g, node| {
        assert_eq!(g.grant_id, "g1");
        match node.labels.get("rack").map(String::as_str) {
            Some("r1") => Ok(()),
            _ => Err(format!("{} is not in rack r1", node.name)),
        }
    });
    let c = s.world.take_changes();
    assert_eq!(c.effects.len(), 1, "{:?}", c.effects);
    assert_eq!(c.effects[0].capability, "fleet.reboot");
    assert_eq!(c.effects[0].node, "a1");
    assert_eq!(
        c.effects[0].reason,
        "the grant no longer covers it: a1 is not in rack r1"
    );
    s.log.push(c);
    let denied = s.world.requests.iter().find(|r| r.node == "a1").unwrap();
    assert_eq!(denied.status, drover_fleet::Status::Denied);
    assert!(
        denied
            .detail
            .starts_with("denied: the grant no longer covers it")
    );

    s.run(500, 120_000);
    assert_eq!(s.state("a1"), State::Production);
    let done = |n: &str| {
        s.world
            .requests
            .iter()
            .any(|r| r.node == n && r.status == drover_fleet::Status::Done)
    };
    assert!(!done("a1"));
    assert!(done("a2"), "the request still inside its grant went ahead");
    assert!(done("b1"), "an operator's request is not grant-scoped");
}
