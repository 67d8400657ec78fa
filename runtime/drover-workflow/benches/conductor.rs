//! Conductor throughput, in task transitions per second, for a sequential
//! chain and a fan-out/join of n tasks (n = 10 ... 10,000). No I/O: the
//! driver hands every dispatched task `running` then `succeeded`, round by
//! round, like the rehearsal driver. Each figure is transitions per second
//! of CPU time over repeated runs (2 s of CPU per size); the last line of a
//! shape is the ratio n=10,000 / n=10 (1.0 = flat).
//!
//! ```text
//! CARGO_TARGET_DIR=/work/target-wf cargo bench -p drover-workflow --bench conductor
//! ```

use std::hint::black_box;
use std::time::{Duration, Instant};

use drover_workflow::{ActionEvent, Conductor, Status, Workflow};

/// t0 -> t1 -> ... -> t(n-1), each on `succeeded()`.
fn sequential(n: usize) -> String {
    let mut s = String::from("version: 1.0\ntasks:\n");
    for i in 0..n {
        s.push_str(&format!("  t{i:05}:\n    action: core.noop\n"));
        if i + 1 < n {
            s.push_str(&format!(
                "    next:\n      - when: \"{{{{ succeeded() }}}}\"\n        do: t{:05}\n",
                i + 1
            ));
        }
    }
    s
}

/// start -> n branches -> join (all).
fn fan_out(n: usize) -> String {
    let mut s = String::from(
        "version: 1.0\ntasks:\n  start:\n    action: core.noop\n    next:\n      - when: \"{{ succeeded() }}\"\n        do:\n",
    );
    for i in 0..n {
        s.push_str(&format!("          - b{i:05}\n"));
    }
    for i in 0..n {
        s.push_str(&format!(
            "  b{i:05}:\n    action: core.noop\n    next:\n      - when: \"{{{{ succeeded() }}}}\"\n        do: zjoin\n"
        ));
    }
    s.push_str("  zjoin:\n    join: all\n    action: core.noop\n");
    s
}

/// Runs the workflow to completion; returns the number of task transitions
/// (task state entries completed).
fn drive(wf: &Workflow) -> usize {
    let mut c = Conductor::new(wf, Default::default());
    c.request_status(Status::Running).expect("start");
    let mut batch = c.next_tasks();
    while !batch.is_empty() {
        for t in &batch {
            c.on_action_event(&t.task_id, t.route, ActionEvent::status(Status::Running))
                .expect("running");
        }
        for t in &batch {
            c.on_action_event(
                &t.task_id,
                t.route,
                ActionEvent::succeeded(serde_json::Value::Null),
            )
            .expect("succeeded");
        }
        batch = c.next_tasks();
    }
    assert_eq!(c.status(), Some(Status::Succeeded));
    black_box(c.state().sequence().len())
}

/// CPU time of this process (user + system), from `/proc/self/stat`, in
/// seconds; `None` where unavailable. On a shared machine wall-clock time of
/// a long run includes time spent descheduled; CPU time does not.
fn cpu_seconds() -> Option<f64> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    let fields: Vec<&str> = stat.rsplit_once(')')?.1.split_whitespace().collect();
    let utime: f64 = fields.get(11)?.parse().ok()?;
    let stime: f64 = fields.get(12)?.parse().ok()?;
    Some((utime + stime) / 100.0)
}

/// Transitions per CPU-second over repeated runs (`budget` s of CPU).
fn measure(wf: &Workflow, budget: f64) -> (f64, usize) {
    // DROVER_BENCH_RUNS=k: exactly k runs, no warm-up (for instruction
    // counts under valgrind; k=0 measures the parse alone).
    if let Some(k) = std::env::var("DROVER_BENCH_RUNS")
        .ok()
        .and_then(|v| v.parse::<usize>().ok())
    {
        let t = Instant::now();
        let transitions: usize = (0..k).map(|_| drive(wf)).sum();
        return (
            transitions as f64 / t.elapsed().as_secs_f64(),
            transitions / k.max(1),
        );
    }
    let transitions = drive(wf); // warm-up
    let (Some(cpu0), wall0) = (cpu_seconds(), Instant::now()) else {
        // No /proc: wall clock.
        let t = Instant::now();
        let mut done = 0;
        while t.elapsed().as_secs_f64() < budget {
            done += drive(wf);
        }
        return (done as f64 / t.elapsed().as_secs_f64(), transitions);
    };
    // Read the clock every ~100,000 transitions, not after every short run.
    let batch = (100_000 / transitions).max(1);
    let mut done = 0usize;
    loop {
        for _ in 0..batch {
            done += drive(wf);
        }
        let cpu = cpu_seconds().unwrap_or(cpu0) - cpu0;
        if cpu >= budget || wall0.elapsed() > Duration::from_secs(30) {
            return (done as f64 / cpu.max(0.01), transitions);
        }
    }
}

fn main() {
    // `cargo test --benches` passes `--bench`-less args; keep it quick then.
    let quick =
        std::env::args().any(|a| a == "--test") || !std::env::args().any(|a| a == "--bench");
    let mut sizes: Vec<usize> = if quick {
        vec![10, 100]
    } else {
        vec![10, 100, 1_000, 10_000]
    };
    // DROVER_BENCH_N=10000 runs one size only (for profiling).
    if let Some(n) = std::env::var("DROVER_BENCH_N")
        .ok()
        .and_then(|v| v.parse().ok())
    {
        sizes = vec![n];
    }
    println!(
        "{:<12} {:>7} {:>12} {:>16} {:>10}",
        "shape", "n", "transitions", "transitions/s", "parse"
    );
    let only = std::env::var("DROVER_BENCH_SHAPE").ok();
    for (shape, make) in [
        ("sequential", sequential as fn(usize) -> String),
        ("fan-out/join", fan_out),
    ] {
        if only.as_deref().is_some_and(|o| !shape.starts_with(o)) {
            continue;
        }
        let mut first = None;
        let mut last = 0.0;
        for &n in &sizes {
            let text = make(n);
            let t = Instant::now();
            let wf = Workflow::parse("bench.yaml", &text, None).expect("valid workflow");
            let parse = t.elapsed();
            let (rate, transitions) = measure(&wf, if quick { 0.05 } else { 2.0 });
            println!(
                "{shape:<12} {n:>7} {transitions:>12} {rate:>16.0} {:>8.1}ms",
                parse.as_secs_f64() * 1e3
            );
            first.get_or_insert(rate);
            last = rate;
        }
        if let Some(first) = first {
            println!(
                "{shape:<12} ratio n={}/n={}: {:.2}",
                sizes[sizes.len() - 1],
                sizes[0],
                last / first
            );
        }
    }
}
