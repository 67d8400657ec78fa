//! The fleet through a real SQLite store: decisions from many store
//! handles at once (as from several processes) never break a budget, and
//! the controller's loop leaves history and audit records behind.

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};

use drover_fleet::budget::{Budget, Rule};
use drover_fleet::{Controller, Drivers, Fleet, Kind, NewRequest, Origin, Outcome, Policy};
use drover_store::{AuditFilter, Store};

fn req(node: &str, origin: Origin) -> NewRequest {
    NewRequest {
        id: drover_fleet::new_request_id(),
        node: node.into(),
        kind: Kind::Reboot,
        reason: "kernel".into(),
        actor: "user:test".into(),
        origin,
        execution_id: None,
        grant: None,
        policy: Policy::Asap,
        drain_timeout_ms: None,
        reboot_timeout_ms: None,
    }
}

#[test]
fn concurrent_deciders_on_one_database_never_put_two_nodes_of_a_rack_out() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("d.db");
    let fleet = Fleet::new(Store::open(&path).unwrap());
    fleet
        .set_budget(
            Budget {
                name: "rack-one".into(),
                rule: Rule::GroupSemaphore {
                    label: "rack".into(),
                    max: 1,
                },
            },
            "user:test",
        )
        .unwrap();
    // 8 deciders, each with its own connections and writer (like 8
    // processes), each asking for one node of every rack at once.
    let handles: Vec<_> = (0..8)
        .map(|t| {
            let path = path.clone();
            std::thread::spawn(move || {
                let f = Fleet::new(Store::open(&path).unwrap());
                let mut outcomes = Vec::new();
                for rack in 0..25 {
                    let node = format!("n{:03}", rack * 40 + t + 1);
                    outcomes.push(f.request_one(req(&node, Origin::Operator)).unwrap().outcome);
                }
                outcomes
            })
        })
        .collect();
    let outcomes: Vec<Outcome> = handles
        .into_iter()
        .flat_map(|h| h.join().unwrap())
        .collect();
    assert_eq!(
        outcomes.iter().filter(|o| **o == Outcome::Accepted).count(),
        25
    );
    assert_eq!(
        outcomes.iter().filter(|o| **o == Outcome::Queued).count(),
        175
    );
    let out = fleet.list(None, Some("draining")).unwrap();
    let mut racks: Vec<&str> = out.iter().map(|n| n.labels["rack"].as_str()).collect();
    racks.sort();
    racks.dedup();
    assert_eq!(racks.len(), out.len(), "two nodes of one rack out: {out:?}");
}

#[test]
fn the_controller_leaves_history_and_audit_in_the_database() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&dir.path().join("d.db")).unwrap();
    let clock = Arc::new(AtomicI64::new(drover_core::now_ms()));
    let c = clock.clone();
    let now: drover_fleet::sim::Clock = Arc::new(move || c.load(Ordering::SeqCst));
    let ctl = Controller::new(store.clone(), Drivers::standard(now.clone()), now);
    let fleet = Fleet::new(store.clone());
    let a = fleet.request_one(req("n001", Origin::Automation)).unwrap();
    assert_eq!(a.outcome, Outcome::Accepted);
    for _ in 0..20 {
        ctl.tick().unwrap();
        clock.fetch_add(1000, Ordering::SeqCst);
    }
    let d = fleet.show("n001", 100).unwrap();
    assert_eq!(d.node.state, drover_fleet::State::Production);
    assert_eq!(d.requests[0].status, drover_fleet::Status::Done);
    let events: Vec<&str> = d.history.iter().rev().map(|h| h.event.as_str()).collect();
    assert_eq!(events[0], "auto-request");
    for e in ["drain", "graceful-restart", "undrain"] {
        assert!(events.contains(&e), "{e} missing from {events:?}");
    }
    let audit = store
        .list_audit(&AuditFilter {
            pack: Some("drover".into()),
            limit: 100,
            ..AuditFilter::default()
        })
        .unwrap();
    let caps: Vec<&str> = audit.iter().map(|a| a.capability.as_str()).collect();
    assert_eq!(caps, vec!["fleet.undrain", "fleet.reboot", "fleet.drain"]);
    assert!(
        audit
            .iter()
            .all(|a| a.target == "n001" && a.actor == "user:test")
    );
}

/// The queue, a cancel and the budgets' holders through a real store: the
/// cancel is stored with its reason, audited, and the ended request is
/// then named with how it ended; each budget says which nodes hold it.
#[test]
fn a_cancel_is_stored_and_audited_and_budgets_name_their_holders() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&dir.path().join("d.db")).unwrap();
    let fleet = Fleet::new(store.clone());
    fleet
        .set_budget(
            Budget {
                name: "rack-one".into(),
                rule: Rule::GroupSemaphore {
                    label: "rack".into(),
                    max: 1,
                },
            },
            "user:test",
        )
        .unwrap();
    fleet
        .set_budget(
            Budget {
                name: "fleet".into(),
                rule: Rule::MaxUnavailable {
                    max: Some(10),
                    percent: None,
                },
            },
            "user:test",
        )
        .unwrap();
    // The default fleet: 40 nodes per rack, so n001 and n002 share rack 1.
    let first = fleet.request_one(req("n001", Origin::Operator)).unwrap();
    let second = fleet.request_one(req("n002", Origin::Operator)).unwrap();
    assert_eq!(first.outcome, Outcome::Accepted);
    assert_eq!(second.outcome, Outcome::Queued);

    let budgets = fleet.budgets().unwrap();
    let rack = budgets.iter().find(|b| b.name == "rack-one").unwrap();
    assert_eq!(rack.held_by, 1);
    assert_eq!(rack.holders[0].node, "n001");
    assert_eq!(rack.groups.len(), 1, "{:?}", rack.groups);
    assert!(rack.groups[0].full);
    assert_eq!(rack.groups[0].group, "rack=r01");
    assert_eq!(rack.groups[0].holders[0].node, "n001");
    let whole = budgets.iter().find(|b| b.name == "fleet").unwrap();
    assert_eq!(whole.holders[0].node, "n001");
    assert!(whole.groups.is_empty());

    let queue = fleet.queue().unwrap();
    assert_eq!(queue.len(), 2);
    // Two requests of one millisecond sort by id: find it.
    let queued = queue
        .iter()
        .find(|q| q.request.id == second.request_id)
        .unwrap();
    assert_eq!(queued.gate, Some(drover_fleet::Gate::Budget));

    let done = fleet
        .cancel_request(&second.request_id, "user:ops", "not needed")
        .unwrap();
    assert!(done.given_back.is_none());
    let d = fleet.show("n002", 10).unwrap();
    assert_eq!(d.requests[0].status, drover_fleet::Status::Cancelled);
    assert!(d.requests[0].detail.contains("not needed"));
    assert!(d.history.iter().any(|h| h.event == "cancelled"));
    assert_eq!(fleet.queue().unwrap().len(), 1);
    let audit = store
        .list_audit(&AuditFilter {
            pack: Some("drover".into()),
            limit: 100,
            ..AuditFilter::default()
        })
        .unwrap();
    let cancel = audit
        .iter()
        .find(|a| a.capability == "fleet.cancel")
        .expect("audited");
    assert_eq!(
        (cancel.actor.as_str(), cancel.target.as_str()),
        ("user:ops", "n002")
    );
    assert!(cancel.reason.contains("not needed"), "{}", cancel.reason);

    // Again: it ended, and the error says how.
    let again = fleet
        .cancel_request(&second.request_id, "user:ops", "again")
        .unwrap_err();
    assert!(
        matches!(again, drover_fleet::FleetError::Conflict(_)),
        "{again:?}"
    );
    assert!(again.to_string().contains("cancelled"), "{again}");
    let unknown = fleet
        .cancel_request("01NOSUCH", "user:ops", "x")
        .unwrap_err();
    assert!(
        matches!(unknown, drover_fleet::FleetError::UnknownRequest(_)),
        "{unknown:?}"
    );

    // The draining node is given back.
    let back = fleet
        .cancel_request(&first.request_id, "user:ops", "wrong rack")
        .unwrap();
    let undrain = back.given_back.expect("given back");
    let d = fleet.show("n001", 10).unwrap();
    assert_eq!(d.node.state, drover_fleet::State::Restoring);
    assert_eq!(d.requests[0].id, undrain);
    let missing = fleet.remove_window("nope", "user:ops").unwrap_err();
    assert!(
        matches!(missing, drover_fleet::FleetError::UnknownWindow(_)),
        "{missing:?}"
    );
}

#[test]
fn windows_say_whether_they_are_open_and_which_nodes_they_cover() {
    let dir = tempfile::tempdir().unwrap();
    let fleet = Fleet::new(Store::open(&dir.path().join("d.db")).unwrap());
    let always = drover_fleet::settings::Window {
        name: "rack-one".into(),
        days: Vec::new(),
        start: "00:00".into(),
        end: "23:59".into(),
        tz: "UTC".into(),
        selector: Some("rack=r01".into()),
    };
    fleet.add_window(always, "user:ops").unwrap();
    let never = drover_fleet::settings::Window {
        name: "never".into(),
        days: Vec::new(),
        start: "10:00".into(),
        end: "10:00".into(),
        tz: "UTC".into(),
        selector: None,
    };
    fleet.add_window(never, "user:ops").unwrap();
    let w = fleet.windows().unwrap();
    assert_eq!(w.len(), 2);
    assert_eq!(w[0].window.name, "rack-one");
    assert_eq!(w[0].nodes, 40);
    assert_eq!(w[1].nodes, 1000);
    assert!(!w[1].open_now, "an empty window is never open");
}
