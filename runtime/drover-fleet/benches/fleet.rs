//! Fleet controller benchmarks (plain main, `cargo bench -p drover-fleet`):
//!
//! 1. plan: a rolling reboot of 100,000 simulated nodes in 4,000 racks
//!    under rack max 1 and max unavailable 2% — the schedule's time
//!    (median of 11) and its violations (must be 0);
//! 2. remediations: 1,000 reboot requests on a 1,000-node sim fleet in a
//!    real SQLite store, carried to the end by the store-backed
//!    controller (`Controller::tick`, the loop `drover serve` runs) with
//!    no budget in the way — wall time and remediations/s (median of 3).

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use drover_fleet::budget::{Budget, Rule};
use drover_fleet::inventory::NodeSpec;
use drover_fleet::{Controller, Fleet, Kind, NewRequest, Node, Origin, Policy, State, planner};

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.partial_cmp(b).unwrap());
    v[v.len() / 2]
}

fn plan_bench() {
    let racks = 4_000;
    let per_rack = 25;
    let nodes: Vec<Node> = (0..racks * per_rack)
        .map(|i| Node {
            name: format!("n{i:06}"),
            labels: BTreeMap::from([("rack".to_owned(), format!("r{:04}", i / per_rack))]),
            state: State::Production,
            driver: "sim".into(),
            options: serde_json::json!({}),
            since_ms: 0,
            note: String::new(),
        })
        .collect();
    let budgets = vec![
        Budget {
            name: "rack-one".into(),
            rule: Rule::GroupSemaphore {
                label: "rack".into(),
                max: 1,
            },
        },
        Budget {
            name: "fleet".into(),
            rule: Rule::MaxUnavailable {
                max: None,
                percent: Some(2.0),
            },
        },
    ];
    let targets: Vec<usize> = (0..nodes.len()).collect();
    let mut times = Vec::new();
    let mut last = None;
    for _ in 0..11 {
        let t = Instant::now();
        let s = planner::plan(&nodes, &budgets, &targets);
        times.push(t.elapsed().as_secs_f64());
        last = Some(s);
    }
    let s = last.unwrap();
    let planned: usize = s.waves.iter().map(Vec::len).sum();
    let widest = s.waves.iter().map(Vec::len).max().unwrap_or(0);
    let violations = planner::violations(&nodes, &budgets, &s);
    println!(
        "plan: {} nodes, {racks} racks, rack max 1, max unavailable 2%: median {:.1} ms (min {:.1}, max {:.1}) over 11; \
         {} waves, widest {widest}, {planned} planned, {} blocked, {} violations",
        nodes.len(),
        median(times.clone()) * 1e3,
        times.iter().cloned().fold(f64::MAX, f64::min) * 1e3,
        times.iter().cloned().fold(0.0, f64::max) * 1e3,
        s.waves.len(),
        s.blocked.len(),
        violations.len()
    );
    assert!(violations.is_empty(), "{violations:?}");
    assert_eq!(planned, nodes.len());
}

/// The same rolling reboot through the store, as `drover node reboot
/// … --dry-run` does it: load 100,000 nodes from SQLite, answer 100,000
/// requests (who goes now, who queues behind which budget), plan the waves.
fn dry_run_bench() {
    let dir = tempfile::tempdir().unwrap();
    let store = drover_store::Store::open(&dir.path().join("big.db")).unwrap();
    let fleet = Fleet::new(store);
    let specs: Vec<NodeSpec> = (0..100_000)
        .map(|i| NodeSpec {
            name: format!("n{i:06}"),
            labels: BTreeMap::from([("rack".to_owned(), format!("r{:04}", i / 25))]),
            driver: "sim".into(),
            options: serde_json::json!({}),
        })
        .collect();
    let t = Instant::now();
    fleet.import(specs, true, "bench").unwrap();
    let import = t.elapsed().as_secs_f64();
    fleet
        .set_budget(
            Budget {
                name: "rack-one".into(),
                rule: Rule::GroupSemaphore {
                    label: "rack".into(),
                    max: 1,
                },
            },
            "bench",
        )
        .unwrap();
    fleet
        .set_budget(
            Budget {
                name: "fleet".into(),
                rule: Rule::MaxUnavailable {
                    max: None,
                    percent: Some(2.0),
                },
            },
            "bench",
        )
        .unwrap();
    let mut times = Vec::new();
    for _ in 0..3 {
        let reqs: Vec<NewRequest> = (0..100_000)
            .map(|i| NewRequest {
                id: drover_fleet::new_request_id(),
                node: format!("n{i:06}"),
                kind: Kind::Reboot,
                reason: "bench".into(),
                actor: "bench".into(),
                origin: Origin::Operator,
                execution_id: None,
                grant: None,
                policy: Policy::Asap,
                drain_timeout_ms: None,
                reboot_timeout_ms: None,
            })
            .collect();
        let t = Instant::now();
        let plan = fleet.dry_run(reqs).unwrap();
        times.push(t.elapsed().as_secs_f64());
        let accepted = plan
            .answers
            .iter()
            .filter(|a| matches!(a, Ok(a) if a.outcome == drover_fleet::Outcome::Accepted))
            .count();
        assert_eq!(accepted, 2000);
        assert_eq!(plan.waves.len(), 50);
    }
    println!(
        "dry run through the store: import 100000 nodes {:.2} s; load + 100000 answers + 50-wave schedule: median {:.2} s over 3",
        import,
        median(times)
    );
}

fn remediation_run() -> (f64, usize, usize) {
    let dir = tempfile::tempdir().unwrap();
    let store = drover_store::Store::open(&dir.path().join("bench.db")).unwrap();
    let fleet = Fleet::new(store.clone());
    let specs: Vec<NodeSpec> = (0..1000)
        .map(|i| NodeSpec {
            name: format!("s{i:04}"),
            labels: BTreeMap::from([("rack".to_owned(), format!("r{:02}", i / 40))]),
            driver: "sim".into(),
            options: serde_json::json!({"reboot_seconds": 0}),
        })
        .collect();
    fleet.import(specs, true, "bench").unwrap();
    let reqs: Vec<NewRequest> = (0..1000)
        .map(|i| NewRequest {
            id: drover_fleet::new_request_id(),
            node: format!("s{i:04}"),
            kind: Kind::Reboot,
            reason: "bench".into(),
            actor: "bench".into(),
            origin: Origin::Operator,
            execution_id: None,
            grant: None,
            policy: Policy::Asap,
            drain_timeout_ms: None,
            reboot_timeout_ms: None,
        })
        .collect();
    let c = Controller::standard(store.clone());
    let t = Instant::now();
    let answers = fleet.request(reqs).unwrap();
    assert!(answers.iter().all(|a| a.is_ok()));
    let mut ticks = 0;
    loop {
        let r = c.tick().unwrap();
        ticks += 1;
        if r.open == 0 {
            break;
        }
        assert!(t.elapsed() < Duration::from_secs(120), "not settled");
    }
    let wall = t.elapsed().as_secs_f64();
    let back = fleet.list(None, Some("production")).unwrap().len();
    (wall, ticks, back)
}

fn remediation_bench() {
    let mut walls = Vec::new();
    for _ in 0..3 {
        let (wall, ticks, back) = remediation_run();
        assert_eq!(back, 1000, "every node back in production");
        println!(
            "remediations: 1000 reboots (drain, reboot, restore) on the sim fleet: {wall:.2} s in {ticks} ticks, {:.0}/s",
            1000.0 / wall
        );
        walls.push(wall);
    }
    let m = median(walls);
    println!(
        "remediations: median {m:.2} s, {:.0} remediations/s",
        1000.0 / m
    );
}

fn main() {
    // `cargo bench` passes --bench; a filter argument selects one.
    let filter: Option<String> = std::env::args().skip(1).find(|a| !a.starts_with('-'));
    let run = |name: &str| filter.as_deref().is_none_or(|f| name.contains(f));
    if run("plan") {
        plan_bench();
    }
    if run("dry-run") {
        dry_run_bench();
    }
    if run("remediations") {
        remediation_bench();
    }
}
