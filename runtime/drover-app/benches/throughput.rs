//! Durable executions per second: `core.noop` run in-process through the
//! executor (`Runtime::execute`) and each execution stored with
//! `synchronous=FULL` through the store's group-commit writer. Target:
//! ≥ 10,000 executions/s with batching.
//!
//! Scenarios (each runs for a fixed time, repeated in interleaved rounds;
//! the summary gives the median round):
//!
//! - `1 thread, wait each`: one submitter that waits for every write
//!   ([`Store::insert_execution`]), so every transaction holds one
//!   execution: one commit (one fsync) per execution.
//! - `N threads, wait each`: N submitters that each wait for their write;
//!   the writer folds whatever is queued into one transaction, so a batch
//!   holds at most N executions.
//! - `N threads, pipelined W`: each submitter keeps up to W writes in flight
//!   ([`Store::insert_execution_pipelined`]) and waits for the oldest.
//!
//! An execution counts once its write is durable. Reported per scenario:
//! executions/s, writes per transaction (from [`Store::writer_stats`]),
//! for the waiting scenarios the latency of execute + durable store, and
//! the process's CPU time per execution (Linux), which says more than the
//! rate when the machine is shared.
//!
//! Criterion does not fit here (a sustained multi-threaded rate, not the
//! time of one routine), so this is a plain `main`. Run from the
//! repository root, after `cargo xtask plugins`:
//!
//! ```text
//! cargo bench -p drover-app --bench throughput              # all scenarios
//! cargo bench -p drover-app --bench throughput -- pipelined # a filter
//! ```
//!
//! Without `--bench` (`cargo test --benches`) it runs each scenario once,
//! briefly, as a smoke test. Figures: docs/perf.md.

mod common;

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use drover_store::{Store, WriterStats};

use common::Env;

/// How long one round of one scenario runs.
const ROUND: Duration = Duration::from_secs(3);
/// Rounds per scenario; scenarios alternate between rounds so that a
/// noisy spell on the machine does not hit one scenario only.
const ROUNDS: usize = 3;

struct Scenario {
    threads: usize,
    /// Writes each thread keeps in flight; 0: wait for each one.
    window: usize,
}

impl Scenario {
    fn name(&self) -> String {
        let threads = match self.threads {
            1 => "1 thread".to_string(),
            n => format!("{n} threads"),
        };
        match self.window {
            0 => format!("{threads}, wait each"),
            w => format!("{threads}, pipelined {w}"),
        }
    }
}

const SCENARIOS: [Scenario; 5] = [
    Scenario {
        threads: 1,
        window: 0,
    },
    Scenario {
        threads: 8,
        window: 0,
    },
    Scenario {
        threads: 32,
        window: 0,
    },
    Scenario {
        threads: 128,
        window: 0,
    },
    Scenario {
        threads: 2,
        window: 64,
    },
];

/// One round of one scenario.
struct Round {
    executions: u64,
    elapsed: Duration,
    /// CPU time of the whole process (submitters, writer, ticker), when
    /// the platform tells.
    cpu: Option<Duration>,
    writer: WriterStats,
    /// Execute + durable store, per execution (waiting scenarios only).
    latencies: Vec<Duration>,
}

impl Round {
    fn rate(&self) -> f64 {
        self.executions as f64 / self.elapsed.as_secs_f64()
    }

    /// CPU time per execution: much less affected by other load on the
    /// machine than the rate; CPUs / this is about the rate an idle machine
    /// allows once commits overlap.
    fn cpu_per_execution(&self) -> Option<Duration> {
        Some(self.cpu? / self.executions.max(1) as u32)
    }

    fn batch(&self) -> f64 {
        self.writer.writes as f64 / self.writer.transactions.max(1) as f64
    }
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    // `cargo bench` passes `--bench`; `cargo test --benches` does not.
    let bench_mode = args.iter().any(|a| a == "--bench");
    let filters = filters(&args);
    let (round, rounds) = if bench_mode {
        (ROUND, ROUNDS)
    } else {
        (Duration::from_millis(200), 1)
    };
    let scenarios: Vec<&Scenario> = SCENARIOS
        .iter()
        .filter(|s| filters.is_empty() || filters.iter().any(|f| s.name().contains(f)))
        .collect();
    if scenarios.is_empty() {
        println!("throughput: no scenario matches {filters:?}");
        return;
    }

    let env = Env::new();
    let store = env.app.store().clone();
    println!(
        "durable core.noop executions, {} CPUs, {rounds} round(s) of {round:?} per scenario",
        std::thread::available_parallelism().map_or(0, |n| n.get())
    );
    let mut results: Vec<Vec<Round>> = scenarios.iter().map(|_| Vec::new()).collect();
    for r in 1..=rounds {
        for (s, out) in scenarios.iter().zip(&mut results) {
            let before = store.count_executions().expect("count");
            let res = run(&env, &store, s, round);
            let stored = store.count_executions().expect("count") - before;
            assert_eq!(stored, res.executions, "every execution is stored");
            println!(
                "round {r} {:<26} {:>8.0} executions/s  {:>6.1} writes/transaction  {} CPU/execution",
                s.name(),
                res.rate(),
                res.batch(),
                fmt_opt(res.cpu_per_execution()),
            );
            out.push(res);
        }
    }

    println!("\nmedian round of {rounds}:");
    println!(
        "{:<26} {:>13} {:>11} {:>10} {:>10} {:>9}",
        "scenario", "executions/s", "writes/txn", "p50", "p90", "CPU/exec"
    );
    for (s, rounds) in scenarios.iter().zip(&mut results) {
        rounds.sort_by(|a, b| a.rate().total_cmp(&b.rate()));
        let mid = rounds.len() / 2;
        let median = &mut rounds[mid];
        let (p50, p90) = if median.latencies.is_empty() {
            ("-".to_string(), "-".to_string())
        } else {
            median.latencies.sort();
            (
                format!("{:.2?}", percentile(&median.latencies, 0.5)),
                format!("{:.2?}", percentile(&median.latencies, 0.9)),
            )
        };
        println!(
            "{:<26} {:>13.0} {:>11.1} {:>10} {:>10} {:>9}",
            s.name(),
            median.rate(),
            median.batch(),
            p50,
            p90,
            fmt_opt(median.cpu_per_execution()),
        );
    }
}

/// The positional arguments: scenario filters. `cargo bench -p drover-app
/// -- ARGS` hands the same ARGS to the criterion bench, so criterion's
/// options and their values are skipped.
fn filters(args: &[String]) -> Vec<&str> {
    const WITH_VALUE: [&str; 8] = [
        "--save-baseline",
        "--baseline",
        "--load-baseline",
        "--sample-size",
        "--warm-up-time",
        "--measurement-time",
        "--profile-time",
        "--color",
    ];
    let mut out = Vec::new();
    let mut args = args.iter();
    while let Some(a) = args.next() {
        if WITH_VALUE.contains(&a.as_str()) {
            args.next();
        } else if !a.starts_with('-') {
            out.push(a.as_str());
        }
    }
    out
}

fn run(env: &Env, store: &Store, s: &Scenario, round: Duration) -> Round {
    let before = store.writer_stats();
    let cpu_before = process_cpu_time();
    let start = Instant::now();
    let deadline = start + round;
    let per_thread: Vec<(u64, Vec<Duration>)> = std::thread::scope(|scope| {
        let workers: Vec<_> = (0..s.threads)
            .map(|_| scope.spawn(move || submit(env, store, s.window, deadline)))
            .collect();
        workers
            .into_iter()
            .map(|w| w.join().expect("submitter thread"))
            .collect()
    });
    // Every submitter has seen its last write durable.
    let elapsed = start.elapsed();
    let cpu = process_cpu_time().zip(cpu_before).map(|(a, b)| a - b);
    let after = store.writer_stats();
    let mut latencies = Vec::new();
    let mut executions = 0;
    for (n, lat) in per_thread {
        executions += n;
        latencies.extend(lat);
    }
    Round {
        executions,
        elapsed,
        cpu,
        writer: WriterStats {
            transactions: after.transactions - before.transactions,
            writes: after.writes - before.writes,
        },
        latencies,
    }
}

/// Executes and stores until `deadline`; returns how many and, when
/// waiting for each, how long each took.
fn submit(env: &Env, store: &Store, window: usize, deadline: Instant) -> (u64, Vec<Duration>) {
    let mut n = 0;
    let mut latencies = Vec::new();
    let mut in_flight = VecDeque::with_capacity(window);
    while Instant::now() < deadline {
        let t0 = Instant::now();
        let exec = env.execute();
        if window == 0 {
            store.insert_execution(exec).expect("store the execution");
            latencies.push(t0.elapsed());
        } else {
            if in_flight.len() == window {
                let oldest: drover_store::Pending<()> = in_flight.pop_front().expect("full");
                oldest.wait().expect("store the execution");
            }
            in_flight.push_back(
                store
                    .insert_execution_pipelined(exec)
                    .expect("queue the execution"),
            );
        }
        n += 1;
    }
    for pending in in_flight {
        pending.wait().expect("store the execution");
    }
    (n, latencies)
}

fn fmt_opt(d: Option<Duration>) -> String {
    d.map_or("-".into(), |d| format!("{d:.2?}"))
}

/// User + system CPU time of this process so far (Linux: /proc/self/stat,
/// in clock ticks of 10 ms; enough over a round of seconds).
fn process_cpu_time() -> Option<Duration> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    // Fields after the parenthesised command name; utime and stime are
    // fields 14 and 15 of the whole line.
    let rest = &stat[stat.rfind(')')? + 2..];
    let mut fields = rest.split(' ').skip(11);
    let utime: u64 = fields.next()?.parse().ok()?;
    let stime: u64 = fields.next()?.parse().ok()?;
    Some(Duration::from_millis((utime + stime) * 10))
}

/// The `q` quantile of sorted samples (nearest rank).
fn percentile(sorted: &[Duration], q: f64) -> Duration {
    let rank = ((sorted.len() as f64 * q).ceil() as usize).clamp(1, sorted.len());
    sorted[rank - 1]
}
