//! End to end over real HTTP: signed webhook → stored trigger → rule →
//! `core.noop` (real Wasm) → stored execution, against the real
//! `drover serve` binary on 127.0.0.1 with its own database
//! (`synchronous=FULL`).
//!
//! ```sh
//! cargo xtask plugins        # once: packs/core's components
//! cargo bench -p drover --bench webhook_sweep -- [SECONDS] [RATE ...]
//! ```
//!
//! For each offered rate (default 100 … 20,000 events/s, then an overload
//! step at 50,000/s) the client sends signed webhooks **open loop** for
//! SECONDS (default 3): request i is due at `start + i / rate`, whatever
//! the answers, over rate/4 keep-alive connections (64 to 8,192) driven by
//! one client thread. Every event matches the rule, so every 202 must become one
//! stored execution. Latency is from the request's *due* time (so a
//! client that falls behind does not hide queueing) to the execution's
//! `finished_at` in the database, read after the step has drained; the
//! 202's own round trip is reported too. A step reports the rate accepted,
//! 429s (each must carry `Retry-After`), p50/p99/max latency, and the
//! server's peak RSS so far (VmHWM of the `drover serve` process). The run
//! fails if a 202 has no execution, or more than one.

#[path = "support/sweep.rs"]
mod sweep;

use sweep::*;

const RATES: [u64; 8] = [100, 500, 1_000, 2_000, 5_000, 10_000, 20_000, 50_000];

fn main() {
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with("--"))
        .collect();
    let seconds: f64 = args.first().and_then(|a| a.parse().ok()).unwrap_or(3.0);
    let rates: Vec<u64> = if args.len() > 1 {
        args[1..].iter().filter_map(|a| a.parse().ok()).collect()
    } else {
        RATES.to_vec()
    };

    let dir = tempfile::tempdir().unwrap();
    let db = install_bench_pack(dir.path());
    let server = start_server(dir.path(), &db, &[]);
    let load = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    println!(
        "webhook sweep: {seconds} s per rate, open loop over rate/4 connections ({} to {}); \
         drover serve --workers 4; load average {}",
        CONNECTIONS.0,
        CONNECTIONS.1,
        load.split_whitespace()
            .take(3)
            .collect::<Vec<_>>()
            .join(" ")
    );
    println!(
        "{:>8} {:>9} {:>8} {:>6} {:>7} {:>9} {:>9} {:>9} {:>10} {:>9}",
        "offered",
        "sent/s",
        "202",
        "429",
        "other",
        "p50 ms",
        "p99 ms",
        "max ms",
        "202 p99 ms",
        "peak RSS"
    );
    let mut base = 0u64;
    let mut failures = Vec::new();
    for rate in rates {
        let (samples, took) = offer(server.addr, rate, seconds, base);
        base += samples.len() as u64;
        drain(&db);
        let s = summarize(&samples, &executions_by_trigger(&db));
        println!(
            "{:>8} {:>9.0} {:>8} {:>6} {:>7} {:>9} {:>9} {:>9} {:>10.1} {:>7.0} MiB",
            rate,
            samples.len() as f64 / took.as_secs_f64(),
            s.accepted,
            s.busy,
            s.other,
            percentile(&s.latencies, 0.5),
            percentile(&s.latencies, 0.99),
            s.latencies.last().copied().unwrap_or(0),
            percentile(&s.round_trips, 0.99) as f64 / 1000.0,
            server.peak_rss_mib(),
        );
        if s.lost + s.doubled + s.bare_429 > 0 {
            failures.push(format!(
                "at {rate}/s: {} accepted events without an execution, {} with more than one, \
                 {} 429s without Retry-After",
                s.lost, s.doubled, s.bare_429
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
