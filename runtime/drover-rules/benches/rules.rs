//! Rules engine throughput: 1,000 rules on one trigger type.
//!
//! Run: `cargo bench -p drover-rules --bench rules [-- FILTER]` (FILTER: a
//! part of the scenario names to run, e.g. `sorted`).
//!
//! Each scenario evaluates one trigger instance against the whole rule set
//! (`RuleSet::evaluate`, criteria + storm control + rendering of whatever
//! fires) in batches and prints the median over the batches: trigger
//! evaluations per second, and rule checks (rules × evaluations) per second.

use std::hint::black_box;
use std::path::Path;
use std::time::{Duration, Instant};

use drover_rules::{Context, Outcome, Rule, RuleSet, StormState};
use serde_json::{Value, json};

const RULES: usize = 1_000;
const BATCHES: usize = 15;

fn rule(i: usize, criteria: &str) -> Rule {
    let text = format!(
        "name: r{i:04}\npack: bench\nenabled: true\ntrigger: {{type: batch.no_contact}}\n\
         criteria:\n{criteria}\naction:\n  ref: batchops.handle_no_contact\n  \
         parameters: {{node: '{{{{ trigger.node }}}}', minutes: '{{{{ trigger.minutes }}}}', rule: r{i}}}\n"
    );
    Rule::parse(Path::new("bench.yaml"), &text).unwrap_or_else(|e| panic!("{e}"))
}

/// Runs `f` in batches sized to take ~100 ms; returns the median time per call.
fn median(mut f: impl FnMut()) -> Duration {
    let start = Instant::now();
    let mut calibration = 0u32;
    while start.elapsed() < Duration::from_millis(100) {
        f();
        calibration += 1;
    }
    let per_batch = calibration.max(1);
    let mut times: Vec<Duration> = (0..BATCHES)
        .map(|_| {
            let t = Instant::now();
            for _ in 0..per_batch {
                f();
            }
            t.elapsed() / per_batch
        })
        .collect();
    times.sort();
    times[BATCHES / 2]
}

fn scenario(name: &str, set: &RuleSet, payloads: &[Value]) {
    let filter = std::env::args().skip(1).find(|a| !a.starts_with('-'));
    if filter.is_some_and(|f| !name.contains(f.as_str())) {
        return;
    }
    let cx = Context::new(jiff::Timestamp::now());
    let mut storm = StormState::new();
    let mut fired = 0usize;
    for p in payloads {
        fired += set
            .evaluate("batch.no_contact", p, &cx, &mut storm)
            .iter()
            .filter(|m| matches!(m.outcome, Outcome::Fired { .. }))
            .count();
    }
    let mut i = 0;
    let per = median(|| {
        let p = &payloads[i % payloads.len()];
        i += 1;
        black_box(set.evaluate("batch.no_contact", black_box(p), &cx, &mut storm));
    });
    let per_sec = 1.0 / per.as_secs_f64();
    println!(
        "{name:<44} {:>9.0} evaluations/s  {:>7.2} µs/evaluation  {:>6.1} M rule checks/s  ({:.1} rules fire per event)",
        per_sec,
        per.as_secs_f64() * 1e6,
        per_sec * set.len() as f64 / 1e6,
        fired as f64 / payloads.len() as f64,
    );
}

fn main() {
    let payloads: Vec<Value> = (0..64)
        .map(|i| {
            json!({
                "node": format!("b{:03}s{:02}", i * 7 % 1000, i % 40),
                "rack": format!("r{:02}", i % 100),
                "minutes": i % 30,
                "source": "monitoring",
                "labels": {"site": "cern", "role": "batch"},
            })
        })
        .collect();

    println!(
        "{RULES} rules on one trigger type, {} distinct payloads",
        payloads.len()
    );

    let start = Instant::now();
    let set = RuleSet::new((0..RULES).map(|i| {
        rule(
            i,
            &format!(
                "  trigger.rack: {{type: equals, pattern: r{:02}}}\n  trigger.minutes: {{type: greaterthan, pattern: {}}}",
                i % 100,
                i % 30
            ),
        )
    }))
    .unwrap();
    println!(
        "loading: parse + index {RULES} rules in {:.1} ms",
        start.elapsed().as_secs_f64() * 1e3
    );
    scenario("equals + greaterthan", &set, &payloads);

    let set = RuleSet::new((0..RULES).map(|i| {
        rule(
            i,
            &format!(
                "  trigger.node: {{type: matchwildcard, pattern: 'b{:03}*'}}\n  trigger.minutes: {{type: gt, pattern: 5}}",
                i
            ),
        )
    }))
    .unwrap();
    scenario("matchwildcard + gt", &set, &payloads);

    let set = RuleSet::new((0..RULES).map(|i| {
        rule(
            i,
            &format!(
                "  trigger.node: {{type: regex, pattern: '^b{:03}s'}}\n  trigger.labels.site: {{type: iequals, pattern: CERN}}",
                i
            ),
        )
    }))
    .unwrap();
    scenario("regex + iequals (nested key)", &set, &payloads);

    let set = RuleSet::new((0..RULES).map(|i| {
        rule(
            i,
            &format!(
                "  trigger.rack: {{type: inside, pattern: [r{:02}, r{:02}]}}\n  trigger.source: {{type: nequals, pattern: '{{{{ trigger.rack }}}}'}}",
                i % 100,
                (i + 1) % 100
            ),
        )
    }))
    .unwrap();
    scenario("inside + templated nequals", &set, &payloads);

    // Numeric thresholds only: the sorted index (was a full scan).
    let set = RuleSet::new((0..RULES).map(|i| {
        rule(
            i,
            &format!(
                "  trigger.minutes: {{type: greaterthan, pattern: {}}}\n  trigger.source: {{type: nequals, pattern: s{i}}}",
                25 + i % 10
            ),
        )
    }))
    .unwrap();
    scenario("greaterthan + nequals (sorted thresholds)", &set, &payloads);

    // Nothing to index: every rule is evaluated (the worst case).
    let set = RuleSet::new((0..RULES).map(|i| {
        rule(
            i,
            &format!(
                "  trigger.source: {{type: nequals, pattern: s{i}}}\n  trigger.minutes: {{type: greaterthan, pattern: {}}}",
                25 + i % 10
            ),
        )
    }))
    .unwrap();
    scenario("unindexable: nequals first (scan)", &set, &payloads);
}
