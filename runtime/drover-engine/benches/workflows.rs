//! Durable workflow throughput: whole workflows of `core.noop` tasks (real
//! Wasm) run by the runner (`drover_engine::workflows::run_workflow`) with
//! every child execution and the conductor state stored through the
//! store's group-commit writer (`synchronous=FULL`), as `drover run` does.
//!
//! Scenarios, for n = 10, 100, 1,000 and 10,000 tasks:
//!
//! - `sequential n`: a chain t0 → t1 → … → t(n-1);
//! - `fan-out n`: one task, n-2 parallel branches, one `join: all` task;
//! - `loop+publish n` (n up to 100,000): one task cycling n times on a
//!   counter each transition publishes (a poll-until-ready loop; the
//!   stored state grows by a context, a frame and a task entry per
//!   iteration, while the runner holds about one iteration's worth);
//!
//! and `with-items 1000 (concurrency 50)`: one task over 1,000 items.
//!
//! A task transition is one conductor event (each task: `running`, then
//! `succeeded`), so transitions = 2 × tasks. Reported per scenario: the
//! median of the rounds' wall time and the rates, the process's CPU time
//! per transition (every thread: steadier than rates on a shared
//! machine), and the commits of the last round; at the end, the ratio
//! of the n = 10,000 rate to the n = 10 rate (flat in n: close to 1 or
//! above). Every round checks that the workflow succeeded and that each
//! task's execution was stored.
//!
//! Run from the repository root, after `cargo xtask plugins`:
//!
//! ```text
//! cargo bench -p drover-engine --bench workflows              # all
//! cargo bench -p drover-engine --bench workflows -- sequential   # a filter
//! ```
//!
//! Without `--bench` (`cargo test --benches`) each scenario runs once with
//! small n, as a smoke test. Figures: docs/perf.md.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::time::Instant;

use drover_app::App;
use drover_core::ExecStatus;
use drover_engine::workflows::{Outcome, run_workflow};
use drover_host::RunOptions;
use drover_pack::ActionRef;
use drover_store::Store;
use serde_json::json;

/// CPU time of the whole process (every thread, the writer included):
/// what a run costs whatever the machine's load.
fn process_cpu() -> std::time::Duration {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: clock_gettime writes into the timespec we own.
    unsafe { libc::clock_gettime(libc::CLOCK_PROCESS_CPUTIME_ID, &mut ts) };
    std::time::Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32)
}

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn sequential(n: usize) -> String {
    let mut y = String::from("version: 1.0\ntasks:\n");
    for i in 0..n {
        let _ = writeln!(y, "  t{i}:\n    action: core.noop");
        if i + 1 < n {
            let _ = writeln!(y, "    next:\n      - do: t{}", i + 1);
        }
    }
    y
}

fn fan_out(n: usize) -> String {
    let branches = n.saturating_sub(2).max(1);
    let names: Vec<String> = (0..branches).map(|i| format!("b{i}")).collect();
    let mut y = format!(
        "version: 1.0\ntasks:\n  start:\n    action: core.noop\n    next:\n      - do: [{}]\n",
        names.join(", ")
    );
    for name in &names {
        let _ = writeln!(
            y,
            "  {name}:\n    action: core.noop\n    next:\n      - do: join"
        );
    }
    y.push_str("  join:\n    join: all\n    action: core.noop\n");
    y
}

fn looping(n: usize) -> String {
    format!(
        "version: 1.0\nvars:\n  - count: 0\ntasks:\n  init:\n    action: core.noop\n    next: [{{do: step}}]\n  step:\n    action: core.noop\n    next:\n      - when: '{{{{ ctx().count < {last} }}}}'\n        publish:\n          - count: '{{{{ ctx().count + 1 }}}}'\n        do: step\n",
        last = n.saturating_sub(2)
    )
}

fn with_items(concurrency: usize) -> String {
    format!(
        "version: 1.0\ninput:\n  - items\ntasks:\n  each:\n    with:\n      items: \"{{{{ ctx().items }}}}\"\n      concurrency: {concurrency}\n    action: core.noop\n"
    )
}

struct Scenario {
    name: String,
    workflow: String,
    tasks: usize,
    items: Option<usize>,
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let bench = args.iter().any(|a| a == "--bench");
    let filter = args.iter().find(|a| !a.starts_with('-')).cloned();
    let sizes: &[usize] = if bench {
        &[10, 100, 1000, 10_000]
    } else {
        &[10, 100]
    };
    let rounds = if bench { 5 } else { 1 };
    let items = if bench { 1000 } else { 100 };

    let core = repo_root().join("packs/core");
    assert!(
        core.join("components/core_noop.wasm").is_file(),
        "build the plugin components first: `cargo xtask plugins`"
    );
    let dir = tempfile::tempdir().expect("temporary directory");
    let store = Store::open(&dir.path().join("drover.db")).expect("open the database");
    let app = App::with_defaults(store, &dir.path().join("cache")).expect("app");
    app.install(&core, "bench").expect("install packs/core");

    let mut scenarios = Vec::new();
    for &n in sizes {
        scenarios.push(Scenario {
            name: format!("sequential {n}"),
            workflow: sequential(n),
            tasks: n,
            items: None,
        });
    }
    for &n in sizes {
        scenarios.push(Scenario {
            name: format!("fan-out {n}"),
            workflow: fan_out(n),
            tasks: n.max(3),
            items: None,
        });
    }
    let loops: &[usize] = if bench {
        &[10, 100, 1000, 10_000, 100_000]
    } else {
        &[10, 100]
    };
    for &n in loops {
        scenarios.push(Scenario {
            name: format!("loop+publish {n}"),
            workflow: looping(n),
            tasks: n.max(2),
            items: None,
        });
    }
    scenarios.push(Scenario {
        name: format!("with-items {items} (concurrency 50)"),
        workflow: with_items(50),
        tasks: items,
        items: Some(items),
    });
    scenarios.retain(|s| filter.as_ref().is_none_or(|f| s.name.contains(f.as_str())));

    // A pack per scenario (a lookup reads its pack's manifest, which holds
    // the workflow text).
    for (i, s) in scenarios.iter().enumerate() {
        let pack = dir.path().join(format!("wfbench{i}"));
        std::fs::create_dir_all(pack.join("workflows")).unwrap();
        std::fs::write(pack.join("workflows/w.yaml"), &s.workflow).unwrap();
        let manifest = format!(
            "name: wfbench{i}\nversion: 0.1.0\ndescription: {}\nplugins:\n  w:\n    kind: action\n    description: {}\n    runner: workflow\n    entry: workflows/w.yaml\n",
            s.name, s.name
        );
        std::fs::write(pack.join("pack.yaml"), manifest).unwrap();
        app.install(&pack, "bench")
            .expect("install a benchmark workflow");
    }

    let opts = RunOptions {
        dry_run: false,
        actor: "user:bench".into(),
        timeout: None,
    };
    // Warm up (component instances, allocator, page cache) so the first
    // scenario does not pay for it.
    if let Some(first) = (0..scenarios.len()).find(|i| scenarios[*i].items.is_none()) {
        let action = ActionRef::new(format!("wfbench{first}"), "w");
        for _ in 0..3 {
            run_workflow(&app, &action, json!({}), &opts).expect("warm-up run");
        }
    }
    println!(
        "{:<34} {:>10} {:>12} {:>14} {:>8} {:>16}",
        "scenario", "median", "tasks/s", "transitions/s", "commits", "CPU/transition"
    );
    let mut rates = Vec::new();
    for (i, s) in scenarios.iter().enumerate() {
        let action = ActionRef::new(format!("wfbench{i}"), "w");
        let params = match s.items {
            Some(n) => json!({"items": (0..n).collect::<Vec<_>>()}),
            None => json!({}),
        };
        let mut times = Vec::new();
        let mut cpus = Vec::new();
        let mut commits = 0;
        for _ in 0..rounds {
            let before = app.store().count_executions().unwrap();
            let stats = app.store().writer_stats();
            let t = Instant::now();
            let cpu = process_cpu();
            let outcome = run_workflow(&app, &action, params.clone(), &opts).expect("run");
            let took = t.elapsed();
            cpus.push(process_cpu() - cpu);
            let Outcome::Finished(exec) = outcome else {
                panic!("{}: the workflow parked", s.name)
            };
            assert_eq!(
                exec.status,
                ExecStatus::Succeeded,
                "{}: {:?}",
                s.name,
                exec.error
            );
            let stored = app.store().count_executions().unwrap() - before;
            assert_eq!(
                stored as usize,
                s.tasks + 1,
                "{}: executions stored",
                s.name
            );
            commits = app.store().writer_stats().transactions - stats.transactions;
            times.push(took);
        }
        times.sort();
        cpus.sort();
        let median = times[times.len() / 2];
        let cpu = cpus[cpus.len() / 2];
        let tasks_s = s.tasks as f64 / median.as_secs_f64();
        println!(
            "{:<34} {:>10} {:>12.0} {:>14.0} {:>8} {:>13.1} µs",
            s.name,
            format!("{:.1?}", median),
            tasks_s,
            2.0 * tasks_s,
            commits,
            cpu.as_secs_f64() * 1e6 / (2 * s.tasks) as f64
        );
        rates.push((s.name.clone(), tasks_s));
    }
    for (kind, sizes) in [
        ("sequential", sizes),
        ("fan-out", sizes),
        ("loop+publish", loops),
    ] {
        let rate = |n: usize| {
            rates
                .iter()
                .find(|(name, _)| *name == format!("{kind} {n}"))
                .map(|r| r.1)
        };
        let (lo, hi) = (sizes[0], sizes[sizes.len() - 1]);
        if let (Some(a), Some(b)) = (rate(lo), rate(hi)) {
            println!("{kind}: rate at n={hi} / rate at n={lo} = {:.2}", b / a);
        }
    }
}
