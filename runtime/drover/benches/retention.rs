//! Retention under load: a database holding 1,000,000 executions past
//! their retention (every tenth a workflow with two children, so 1.2 M
//! execution rows) and as many trigger instances with their enforcements,
//! served by the real `drover serve` binary while signed webhooks arrive
//! open loop at a steady rate. First with the collector off (the
//! baseline), then with `--gc-every 1s` until the old history is gone and
//! its pages are given back, then with nothing left to collect:
//! the webhooks' latency (due time to the execution's end, and the 202's
//! round trip) in both phases, how long the backlog took to go, and the
//! database's size before and after.
//!
//! ```sh
//! cargo xtask plugins        # once: packs/core's components
//! cargo bench -p drover --bench retention -- [RATE] [BASELINE_SECONDS]
//! DROVER_BENCH_EXECUTIONS=100000 cargo bench -p drover --bench retention
//! ```

#[path = "../../../tests/support/history.rs"]
mod history;
#[path = "support/sweep.rs"]
mod sweep;

use std::path::Path;
use std::time::{Duration, Instant};

use sweep::*;

const DAY_MS: i64 = history::DAY_MS;

fn seed(db: &Path, roots: u64) -> u64 {
    let names = history::Names {
        trigger_type: "bench.event",
        rule: "bench.down",
        action: "bench.noop",
        workflow: "bench.flow",
    };
    history::seed_old_history(db, roots, &names, false)
}

fn query(db: &Path, sql: &str) -> i64 {
    let conn =
        rusqlite::Connection::open_with_flags(db, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)
            .unwrap();
    conn.query_row(sql, [], |r| r.get(0)).unwrap()
}

fn old_rows(db: &Path) -> i64 {
    let cutoff = now_ms() - 30 * DAY_MS;
    query(
        db,
        &format!(
            "SELECT (SELECT count(*) FROM executions WHERE finished_at < {cutoff})
                  + (SELECT count(*) FROM trigger_instances WHERE received_at < {cutoff})"
        ),
    )
}

fn free_pages(db: &Path) -> i64 {
    query(db, "SELECT freelist_count FROM pragma_freelist_count()")
}

fn db_mb(db: &Path) -> f64 {
    query(
        db,
        "SELECT page_count * page_size FROM pragma_page_count(), pragma_page_size()",
    ) as f64
        / 1e6
}

fn report(phase: &str, samples: &[Sample], took: Duration, db: &Path, server: &Server) -> bool {
    drain(db);
    let s = summarize(samples, &executions_by_trigger(db));
    println!(
        "{:<22} {:>8.1} {:>8} {:>8} {:>8} {:>8} {:>10.1} {:>10} {:>10.0} {:>7.0} MiB",
        phase,
        took.as_secs_f64(),
        s.accepted,
        s.busy + s.other,
        percentile(&s.latencies, 0.5),
        percentile(&s.latencies, 0.99),
        percentile(&s.round_trips, 0.99) as f64 / 1000.0,
        old_rows(db),
        db_mb(db),
        server.peak_rss_mib(),
    );
    s.lost + s.doubled == 0
}

fn main() {
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with("--"))
        .collect();
    let rate: u64 = args.first().and_then(|a| a.parse().ok()).unwrap_or(200);
    let baseline: f64 = args.get(1).and_then(|a| a.parse().ok()).unwrap_or(20.0);
    let n: u64 = std::env::var("DROVER_BENCH_EXECUTIONS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1_000_000);

    let dir = tempfile::tempdir().unwrap();
    let db = install_bench_pack(dir.path());
    let started = Instant::now();
    let rows = seed(&db, n);
    println!(
        "seeded {rows} execution rows ({n} top-level) and {n} trigger instances with \
         enforcements, 40 days old, in {:.1} s: {:.0} MB; webhooks at {rate}/s open loop",
        started.elapsed().as_secs_f64(),
        db_mb(&db)
    );
    println!(
        "{:<22} {:>8} {:>8} {:>8} {:>8} {:>8} {:>10} {:>10} {:>10} {:>11}",
        "phase",
        "secs",
        "202",
        "not 202",
        "p50 ms",
        "p99 ms",
        "202 p99 ms",
        "old rows",
        "db MB",
        "peak RSS"
    );
    let mut ok = true;
    {
        let server = start_server(dir.path(), &db, &["--gc-every", "off"]);
        let (samples, took) = offer(server.addr, rate, baseline, 0);
        ok &= report("collector off", &samples, took, &db, &server);
    }
    let server = start_server(dir.path(), &db, &["--gc-every", "1s"]);
    let started = Instant::now();
    let mut base = 1_000_000_000;
    let mut all = Vec::new();
    // Chunks of 5 s until the backlog is gone and its pages given back
    // (the first round starts 1 s in).
    while (old_rows(&db) > 0 || free_pages(&db) > 0)
        && started.elapsed() < Duration::from_secs(3600)
    {
        let (samples, _) = offer(server.addr, rate, 5.0, base);
        base += samples.len() as u64;
        all.extend(samples);
    }
    let took = started.elapsed();
    ok &= report("collector draining", &all, took, &db, &server);
    let (samples, took) = offer(server.addr, rate, baseline, base);
    ok &= report("collector, nothing due", &samples, took, &db, &server);
    assert!(ok, "an accepted webhook lost or doubled");
}
