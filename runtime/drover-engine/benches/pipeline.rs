//! End-to-end pipeline benchmark, in process: N trigger instances from an
//! in-process source through the real pipeline (durable intake, rules
//! stage, queue, scheduler, workers) to stored `core.noop` executions (a
//! real Wasm component), everything in SQLite with `synchronous=FULL`.
//!
//! One rule, `trigger.i exists and trigger.status equals "down"`; half the
//! events are `down`, so N/2 executions are stored. Reports events/s from
//! the first accept to the last stored execution, and the process's peak
//! RSS (VmHWM). The source offers events as fast as intake takes them
//! (bounded by `max_intake_in_flight`, retrying on busy), which is also the
//! overload case: memory must not grow with N.
//!
//! ```sh
//! cargo bench -p drover-engine --bench pipeline -- [N] [WORKERS]
//! ```
//! (run `cargo xtask plugins` first: it needs packs/core's components).

use std::collections::VecDeque;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use drover_app::App;
use drover_engine::{IntakeError, Pipeline, PipelineConfig};
use drover_store::Store;
use serde_json::json;

const PACK: &str = "name: bench
version: 0.1.0
description: Benchmark pack - one trigger type, core.noop as an action.
plugins:
  noop:
    kind: action
    description: core.noop.
    component: components/core_noop.wasm
    idempotent: true
    parameters: {}
triggers:
  event:
    description: One event.
    payload:
      i: {type: integer, required: true}
      status: {type: string}
";

const RULE: &str = "name: down
pack: bench
description: Half the events.
enabled: true
trigger: {type: bench.event}
criteria:
  trigger.i: {type: exists}
  trigger.status: {type: equals, pattern: down}
action: {ref: bench.noop}
";

/// Kibibytes of a `/proc/self/status` field (VmRSS, VmHWM).
fn status_kib(field: &str) -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix(field)?.strip_prefix(':'))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

fn main() {
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| a != "--bench")
        .collect();
    let n: u64 = args.first().and_then(|a| a.parse().ok()).unwrap_or(100_000);
    let workers: usize = args.get(1).and_then(|a| a.parse().ok()).unwrap_or(4);

    let dir = tempfile::tempdir().unwrap();
    let pack = dir.path().join("bench");
    std::fs::create_dir_all(pack.join("components")).unwrap();
    std::fs::create_dir_all(pack.join("rules")).unwrap();
    std::fs::write(pack.join("pack.yaml"), PACK).unwrap();
    std::fs::write(pack.join("rules/down.yaml"), RULE).unwrap();
    let noop =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../packs/core/components/core_noop.wasm");
    std::fs::copy(&noop, pack.join("components/core_noop.wasm"))
        .unwrap_or_else(|e| panic!("{}: {e}; run `cargo xtask plugins` first", noop.display()));

    let db = dir.path().join("drover.db");
    let store = Store::open(&db).unwrap();
    let app = App::with_defaults(store.clone(), &dir.path().join("cache")).unwrap();
    let rules = drover_engine::read_pack_rules(&pack).unwrap();
    app.install_with(&pack, "user:bench", false, rules.into_catalog())
        .unwrap();
    let app = Arc::new(app);
    let pipeline = Pipeline::start(
        app,
        PipelineConfig {
            workers,
            ..PipelineConfig::default()
        },
    )
    .unwrap();
    let intake = pipeline.intake();
    let rss_before = status_kib("VmRSS");

    let started = Instant::now();
    let mut in_flight = VecDeque::new();
    let mut busy = 0u64;
    for i in 0..n {
        let status = if i % 2 == 0 { "down" } else { "up" };
        loop {
            match intake.accept("bench.event", json!({"i": i, "status": status}), "bench") {
                Ok(accepted) => {
                    in_flight.push_back(accepted);
                    break;
                }
                Err(IntakeError::Busy(_)) => {
                    busy += 1;
                    match in_flight.pop_front() {
                        Some(a) => {
                            a.wait().unwrap();
                        }
                        None => std::thread::sleep(Duration::from_micros(100)),
                    }
                }
                Err(e) => panic!("{e}"),
            }
        }
        if in_flight.len() >= 2048 {
            in_flight.pop_front().unwrap().wait().unwrap();
        }
    }
    for a in in_flight {
        a.wait().unwrap();
    }
    let accepted_in = started.elapsed();
    let expected = n / 2;
    loop {
        let stored = store.count_executions().unwrap();
        if stored >= expected && store.queue_depth().unwrap() == (0, 0) {
            break;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    let took = started.elapsed();
    let peak = status_kib("VmHWM");
    pipeline.shutdown(Duration::from_secs(10));
    println!(
        "{n} events ({expected} matching, core.noop), {workers} workers: all stored in {:.2} s = \
         {:.0} events/s ({:.0} executions/s); intake took {:.2} s ({busy} busy retries); \
         RSS before {:.0} MiB, peak {:.0} MiB",
        took.as_secs_f64(),
        n as f64 / took.as_secs_f64(),
        expected as f64 / took.as_secs_f64(),
        accepted_in.as_secs_f64(),
        rss_before as f64 / 1024.0,
        peak as f64 / 1024.0,
    );
}
