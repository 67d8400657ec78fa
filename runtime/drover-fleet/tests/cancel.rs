//! Cancelling an open request, and the queue an operator reads before
//! doing so: a queued request is dropped (its node untouched); a request
//! whose drain has started gives its node back (an undrain, as the
//! operator's own request); a power action cannot be taken back, so a
//! rebooting or restoring node refuses, saying what to do instead. A
//! late driver answer for the cancelled request changes nothing.

mod support;

use drover_fleet::settings::Pause;
use drover_fleet::world::CancelPlan;
use drover_fleet::{FleetError, Gate, Kind, Origin, Outcome, Policy, State, Status};
use serde_json::json;
use support::*;

fn slow_drain() -> serde_json::Value {
    json!({"drain_seconds": 60, "reboot_seconds": 2})
}

fn status_of(s: &Sim, id: &str) -> (Status, String) {
    let r = s.world.requests.iter().find(|r| r.id == id).unwrap();
    (r.status, r.detail.clone())
}

#[test]
fn a_queued_request_is_dropped_and_its_node_left_alone() {
    let mut s = Sim::new(
        vec![node("a1", "r1", slow_drain()), node("a2", "r1", opts(2.0))],
        vec![rack_one()],
        quick_settings(),
    );
    let a = s.submit(vec![
        s.req("a1", Kind::Reboot, Origin::Operator),
        s.req("a2", Kind::Reboot, Origin::Operator),
    ]);
    assert_eq!(a[1].outcome, Outcome::Queued);
    let now = s.now();
    let done = s
        .world
        .cancel(&a[1].request_id, "user:ops", "wrong node", now)
        .unwrap();
    assert_eq!(done.node, "a2");
    assert_eq!(done.was, Status::Queued);
    assert!(done.given_back.is_none());
    let (status, detail) = status_of(&s, &a[1].request_id);
    assert_eq!(status, Status::Cancelled);
    assert!(
        detail.contains("cancelled by user:ops") && detail.contains("wrong node"),
        "{detail}"
    );
    assert_eq!(s.state("a2"), State::Production);
    assert!(s.world.open_request("a2").is_none());
    assert_eq!(s.state("a1"), State::Draining, "the other request goes on");
    let c = s.world.take_changes();
    let effect = c
        .effects
        .iter()
        .find(|e| e.capability == "fleet.cancel")
        .expect("the cancel is audited");
    assert_eq!(effect.actor, "user:ops");
    assert_eq!(effect.node, "a2");
    assert!(effect.reason.contains("wrong node"), "{}", effect.reason);
    assert!(
        c.history
            .iter()
            .any(|h| h.node == "a2" && h.event == "cancelled"),
        "{:?}",
        c.history
    );
    assert!(c.requests.iter().any(|r| r.id == a[1].request_id));
    // The node may be asked for again: a new request, not a join.
    let again = s.submit(vec![s.req("a2", Kind::Drain, Origin::Operator)]);
    assert!(!again[0].joined);
}

#[test]
fn a_node_being_drained_is_given_back_and_frees_its_rack() {
    let mut s = Sim::new(
        vec![node("a1", "r1", slow_drain()), node("a2", "r1", opts(0.5))],
        vec![rack_one()],
        quick_settings(),
    );
    let a = s.submit(vec![
        s.req("a1", Kind::Reboot, Origin::Operator),
        s.req("a2", Kind::Reboot, Origin::Operator),
    ]);
    assert_eq!(a[1].outcome, Outcome::Queued);
    s.tick();
    assert_eq!(s.state("a1"), State::Draining);
    let now = s.now();
    let done = s
        .world
        .cancel(&a[0].request_id, "user:ops", "not this one", now)
        .unwrap();
    assert_eq!(done.was, Status::Active);
    let undrain = done.given_back.clone().expect("the node is given back");
    assert_eq!(s.state("a1"), State::Restoring);
    let (status, detail) = status_of(&s, &a[0].request_id);
    assert_eq!(status, Status::Cancelled);
    assert!(
        detail.contains("given back") && detail.contains(&undrain),
        "{detail}"
    );
    let open = s.world.open_request("a1").unwrap();
    assert_eq!(open.id, undrain);
    assert_eq!(open.kind, Kind::Undrain);
    assert_eq!(open.actor, "user:ops");
    assert_eq!(open.origin, Origin::Operator);
    s.run(500, 60_000);
    assert_eq!(s.state("a1"), State::Production);
    assert_eq!(s.state("a2"), State::Production, "a2 took the freed slot");
    let caps: Vec<(String, String)> = s
        .effects()
        .iter()
        .map(|e| (e.capability.clone(), e.node.clone()))
        .collect();
    assert!(
        caps.contains(&("fleet.cancel".into(), "a1".into())),
        "{caps:?}"
    );
    assert!(
        caps.contains(&("fleet.undrain".into(), "a1".into())),
        "{caps:?}"
    );
    assert!(
        !caps.contains(&("fleet.reboot".into(), "a1".into())),
        "a1 was never rebooted: {caps:?}"
    );
}

#[test]
fn a_late_drain_answer_for_a_cancelled_request_changes_nothing() {
    let mut s = Sim::new(
        vec![node("a1", "r1", json!({"drain_seconds": 0}))],
        vec![],
        quick_settings(),
    );
    let a = s.submit(vec![s.req("a1", Kind::Reboot, Origin::Operator)]);
    // The controller decides the drain call, then makes it outside the
    // transaction; the cancel lands in between.
    let now = s.now();
    let actions = s.world.step(now);
    assert!(!actions.is_empty());
    s.world
        .cancel(&a[0].request_id, "user:ops", "stop", now)
        .unwrap();
    let results = drover_fleet::controller::perform(actions, &s.drivers, &NoSecrets, 1);
    s.world.apply(results, now);
    assert_eq!(s.state("a1"), State::Restoring, "still being given back");
    s.run(500, 60_000);
    assert_eq!(s.state("a1"), State::Production);
}

#[test]
fn a_power_action_cannot_be_taken_back() {
    let mut s = Sim::new(
        vec![node("a1", "r1", json!({"reboot_seconds": 30}))],
        vec![],
        quick_settings(),
    );
    let a = s.submit(vec![s.req("a1", Kind::Reboot, Origin::Operator)]);
    for _ in 0..5 {
        s.tick();
        s.advance(200);
        if s.state("a1") == State::Rebooting {
            break;
        }
    }
    assert_eq!(s.state("a1"), State::Rebooting);
    let now = s.now();
    let err = s
        .world
        .cancel(&a[0].request_id, "user:ops", "stop", now)
        .unwrap_err();
    assert!(matches!(err, FleetError::Conflict(_)), "{err:?}");
    let text = err.to_string();
    assert!(
        text.contains("rebooting") && text.contains("set-state"),
        "{text}"
    );
    let (status, _) = status_of(&s, &a[0].request_id);
    assert_eq!(status, Status::Active, "nothing changed");
    assert!(
        s.world
            .take_changes()
            .effects
            .iter()
            .all(|e| e.capability != "fleet.cancel")
    );
}

#[test]
fn unknown_and_ended_requests_are_refused_by_name() {
    let mut s = Sim::new(vec![node("a1", "r1", opts(0.2))], vec![], quick_settings());
    let now = s.now();
    let err = s.world.cancel("01NOPE", "user:ops", "x", now).unwrap_err();
    assert!(matches!(err, FleetError::UnknownRequest(_)), "{err:?}");
    assert!(err.to_string().contains("01NOPE"), "{err}");
    let a = s.submit(vec![s.req("a1", Kind::Reboot, Origin::Operator)]);
    s.run(500, 60_000);
    let now = s.now();
    let err = s
        .world
        .cancel(&a[0].request_id, "user:ops", "x", now)
        .unwrap_err();
    assert!(matches!(err, FleetError::Conflict(_)), "{err:?}");
    assert!(err.to_string().contains("done"), "{err}");
    let err = s.world.cancel("", "user:ops", "x", now).unwrap_err();
    assert!(matches!(err, FleetError::UnknownRequest(_)), "{err:?}");
}

#[test]
fn a_reason_is_required() {
    let mut s = Sim::new(
        vec![node("a1", "r1", slow_drain())],
        vec![],
        quick_settings(),
    );
    let a = s.submit(vec![s.req("a1", Kind::Drain, Origin::Operator)]);
    let now = s.now();
    let err = s
        .world
        .cancel(&a[0].request_id, "user:ops", "  ", now)
        .unwrap_err();
    assert!(matches!(err, FleetError::Invalid(_)), "{err:?}");
    assert_eq!(status_of(&s, &a[0].request_id).0, Status::Active);
}

#[test]
fn the_queue_names_each_waiting_requests_gate_and_changes_nothing() {
    let mut s = Sim::new(
        vec![
            node("a1", "r1", slow_drain()),
            node("a2", "r1", opts(2.0)),
            node("b1", "r2", opts(2.0)),
        ],
        vec![rack_one()],
        quick_settings(),
    );
    let mut windowed = s.req("b1", Kind::Drain, Origin::Operator);
    windowed.policy = Policy::Window;
    let a = s.submit(vec![
        s.req("a1", Kind::Reboot, Origin::Operator),
        s.req("a2", Kind::Reboot, Origin::Operator),
        windowed,
    ]);
    let now = s.now();
    let q = s.world.queue(now);
    assert_eq!(q.len(), 3);
    assert_eq!(q[0].request.id, a[0].request_id);
    assert_eq!(q[0].request.status, Status::Active);
    assert_eq!(q[0].state, State::Draining);
    assert!(q[0].gate.is_none());
    assert_eq!(q[0].cancel, CancelPlan::GiveBack, "{:?}", q[0]);
    assert_eq!(q[1].gate, Some(Gate::Budget));
    assert_eq!(q[1].hold.as_ref().unwrap().holders[0].0, "a1");
    assert_eq!(q[1].cancel, CancelPlan::Drop);
    assert_eq!(q[2].gate, Some(Gate::Window));
    // Pausing: the queued ones wait on the pause.
    s.world.settings.pause = Some(Pause {
        since_ms: now,
        by: "user:ops".into(),
        reason: "freeze".into(),
    });
    let q = s.world.queue(now);
    assert_eq!(q[1].gate, Some(Gate::Pause));
    // Reading the queue admitted nothing.
    assert_eq!(s.state("a2"), State::Production);
    assert_eq!(status_of(&s, &a[1].request_id).0, Status::Queued);
    assert!(s.world.take_changes().nodes.is_empty());
}
