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
