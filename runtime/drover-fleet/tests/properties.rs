//! Property tests of the controller's invariants over random fleets,
//! request streams, failure rates and timing: never more than one node of
//! a rack out (rack max 1), never above max unavailable, no automatic
//! request started while the storm brake is engaged, no request lost,
//! every driver effect audited, and in the end every node in production or
//! intervention.

mod support;

use std::collections::{HashMap, HashSet};

use drover_fleet::budget::{Budget, Rule};
use drover_fleet::world::Op;
use drover_fleet::{Kind, Origin, Outcome, Status};
use proptest::prelude::*;
use serde_json::json;
use support::*;

#[derive(Clone, Debug)]
struct Ask {
    at_step: u32,
    node: usize,
    kind: Kind,
    automatic: bool,
}

#[derive(Clone, Debug)]
struct Case {
    racks: usize,
    per_rack: usize,
    max_unavailable: Budget,
    threshold: f64,
    node_opts: Vec<(f64, f64, f64, f64)>,
    asks: Vec<Ask>,
    step_ms: i64,
}

fn case() -> impl Strategy<Value = Case> {
    (1usize..6, 1usize..6).prop_flat_map(|(racks, per_rack)| {
        let n = racks * per_rack;
        (
            prop_oneof![
                (1u32..4).prop_map(|m| Budget {
                    name: "fleet".into(),
                    rule: Rule::MaxUnavailable {
                        max: Some(m),
                        percent: None
                    },
                }),
                (5.0f64..60.0).prop_map(|p| Budget {
                    name: "fleet".into(),
                    rule: Rule::MaxUnavailable {
                        max: None,
                        percent: Some(p)
                    },
                }),
            ],
            10.0f64..100.0,
            prop::collection::vec((0.0f64..6.0, 0.0f64..8.0, 0.0f64..0.4, 0.0f64..0.4), n),
            prop::collection::vec(
                (0u32..60, 0..n, prop::bool::ANY, prop::bool::ANY).prop_map(
                    |(at_step, node, reboot, automatic)| Ask {
                        at_step,
                        node,
                        kind: if reboot { Kind::Reboot } else { Kind::Drain },
                        automatic,
                    },
                ),
                0..40,
            ),
            prop_oneof![Just(250i64), Just(1000), Just(3000)],
        )
            .prop_map(
                move |(max_unavailable, threshold, node_opts, asks, step_ms)| Case {
                    racks,
                    per_rack,
                    max_unavailable,
                    threshold,
                    node_opts,
                    asks,
                    step_ms,
                },
            )
    })
}

fn check(case: Case) -> Result<(), TestCaseError> {
    let mut nodes = Vec::new();
    for r in 0..case.racks {
        for i in 0..case.per_rack {
            let (reboot, drain, fail, no_return) = case.node_opts[r * case.per_rack + i];
            nodes.push(node(
                &format!("r{r}n{i}"),
                &format!("r{r}"),
                json!({
                    "reboot_seconds": reboot,
                    "drain_seconds": drain,
                    "fail_rate": fail,
                    "no_return_rate": no_return,
                    "seed": (r * 31 + i) as u64,
                }),
            ));
        }
    }
    let names: Vec<String> = nodes.iter().map(|n| n.name.clone()).collect();
    let budgets = vec![rack_one(), case.max_unavailable.clone()];
    let mut settings = quick_settings();
    settings.brake.threshold_percent = case.threshold;
    let mut s = Sim::new(nodes, budgets.clone(), settings);

    let mut submitted: Vec<(String, bool)> = Vec::new(); // (request id, joined)
    let mut audited: HashSet<(String, String)> = HashSet::new();
    let check_budgets = |s: &Sim| -> Result<(), TestCaseError> {
        let over = s.world.overruns();
        prop_assert!(over.is_empty(), "budget overrun: {over:?}");
        Ok(())
    };

    let last_step = case.asks.iter().map(|a| a.at_step).max().unwrap_or(0);
    let mut step = 0u32;
    loop {
        // New requests arriving now, one call each (as plugins and
        // operators make them).
        for a in case.asks.iter().filter(|a| a.at_step == step) {
            let origin = if a.automatic {
                Origin::Automation
            } else {
                Origin::Operator
            };
            let brake_before = s.world.settings.brake.engaged;
            let r = s.req(&names[a.node], a.kind, origin);
            let ans = s.submit(vec![r]).remove(0);
            if a.automatic && brake_before && !ans.joined {
                prop_assert_eq!(
                    ans.outcome,
                    Outcome::Denied,
                    "automatic request while braked: {:?}",
                    ans
                );
            }
            submitted.push((ans.request_id.clone(), ans.joined));
            check_budgets(&s)?;
        }
        // A tick, checking admission against the brake.
        let queued_auto: HashSet<String> = s
            .world
            .requests
            .iter()
            .filter(|r| r.status == Status::Queued && r.origin == Origin::Automation)
            .map(|r| r.id.clone())
            .collect();
        let now = s.now();
        let actions = s.world.step(now);
        if s.world.settings.brake.engaged {
            for r in &s.world.requests {
                prop_assert!(
                    !(queued_auto.contains(&r.id) && r.status == Status::Active),
                    "automatic request {} started while the brake was engaged",
                    r.id
                );
            }
        }
        let changes = s.world.take_changes();
        for e in &changes.effects {
            if let Some(id) = &e.request_id {
                audited.insert((id.clone(), e.capability.clone()));
            }
        }
        for a in &actions {
            let cap = match a.op {
                Op::Drain => Some("fleet.drain"),
                Op::Reboot(_) => Some("fleet.reboot"),
                Op::Undrain => Some("fleet.undrain"),
                _ => None,
            };
            if let Some(cap) = cap {
                prop_assert!(
                    audited.contains(&(a.request_id.clone(), cap.to_owned())),
                    "{} of {} made without an audit record",
                    cap,
                    a.node
                );
            }
        }
        s.log.push(changes);
        check_budgets(&s)?;
        let results = drover_fleet::controller::perform(actions, &s.drivers, &NoSecrets, 1);
        s.world.apply(results, now);
        s.world.admit(now);
        let c = s.world.take_changes();
        for e in &c.effects {
            if let Some(id) = &e.request_id {
                audited.insert((id.clone(), e.capability.clone()));
            }
        }
        s.log.push(c);
        check_budgets(&s)?;
        s.advance(case.step_ms);
        step += 1;

        let active = s.world.requests.iter().any(|r| r.status == Status::Active);
        if step > last_step && !active {
            // Give drained nodes back (a drain ends drained, and a drained
            // node holds its budget until then).
            let drained: Vec<String> = s
                .world
                .nodes
                .iter()
                .filter(|n| n.state == drover_fleet::State::Drained)
                .map(|n| n.name.clone())
                .collect();
            if drained.is_empty() && !s.world.busy() {
                break;
            }
            if drained.is_empty() {
                // Queued requests wait behind nodes in intervention, which
                // hold their budget until a person repairs them.
                let stuck: Vec<String> = s
                    .world
                    .nodes
                    .iter()
                    .filter(|n| n.state == drover_fleet::State::Intervention)
                    .map(|n| n.name.clone())
                    .collect();
                prop_assert!(
                    !stuck.is_empty() || s.world.settings.brake.engaged,
                    "queued requests wait for nothing"
                );
                let now = s.now();
                for n in stuck {
                    s.world
                        .set_state(
                            &n,
                            drover_fleet::State::Production,
                            "repaired",
                            "user:op",
                            Origin::Operator,
                            None,
                            now,
                        )
                        .unwrap();
                }
            }
            for n in drained {
                let r = s.req(&n, Kind::Undrain, Origin::Operator);
                let a = s.submit(vec![r]).remove(0);
                submitted.push((a.request_id, false));
            }
        }
        if step > last_step + 20 && s.world.settings.brake.engaged {
            // The operator looks at the storm and releases the brake.
            let now = s.now();
            s.world.release_brake("user:op", now);
        }
        prop_assert!(step < last_step + 2000, "the fleet never settled");
    }

    // Every node in production or intervention.
    for n in &s.world.nodes {
        prop_assert!(
            matches!(
                n.state,
                drover_fleet::State::Production | drover_fleet::State::Intervention
            ),
            "{} ended {}",
            n.name,
            n.state
        );
    }
    // No request lost: each is closed, or was joined to one that is.
    let by_id: HashMap<&str, &drover_fleet::Request> = s
        .world
        .requests
        .iter()
        .map(|r| (r.id.as_str(), r))
        .collect();
    for (id, _joined) in &submitted {
        let r = by_id.get(id.as_str());
        prop_assert!(r.is_some(), "request {id} lost");
        let r = r.unwrap();
        prop_assert!(
            matches!(
                r.status,
                Status::Done | Status::Intervention | Status::Denied | Status::Cancelled
            ),
            "request {} ended {:?}",
            id,
            r.status
        );
        if r.status == Status::Intervention {
            let i = s.world.node_index(&r.node).unwrap();
            prop_assert!(
                !s.world.nodes[i].note.is_empty(),
                "intervention without a reason"
            );
        }
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn budgets_brake_and_lifecycle_hold_under_random_streams(c in case()) {
        check(c)?;
    }
}
