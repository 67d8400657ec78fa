//! Replay at scale (issue 16, part 6): 100,000 stored no-contact trigger
//! instances replayed through a candidate batchops version with `drover
//! replay`, and the live pipeline's latency (signed webhook → rule →
//! stored `core.noop` execution, open loop, through the real `drover
//! serve`) without and with that replay running beside it.
//!
//! ```sh
//! cargo xtask plugins        # once: the packs' components
//! cargo bench -p drover --bench replay -- [RATE] [SECONDS] [RUNS]
//! DROVER_BENCH_TRIGGERS=20000 cargo bench -p drover --bench replay
//! ```
//!
//! The history: 5,000 sim nodes in 200 racks; N reports of
//! `batchops.no_contact` over the last 6 days, in incidents of 10 reports
//! two minutes apart (monitoring repeating itself while a node is silent),
//! so the rule's once-per-hour-per-node throttle fires once per incident:
//! N/10 live enforcements scheduled, the rest suppressed, as the live
//! pipeline records them. One node in ten is hung (a simulated fault), so
//! one remediation in ten takes the reboot path. The candidate 0.2.0
//! takes rack r001–r099's nodes only (`b0*`), with the same grants.

#[path = "support/sweep.rs"]
mod sweep;

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use sweep::*;

const RACKS: u32 = 200;
const PER_RACK: u32 = 25;
const DAY_MS: i64 = 86_400_000;

fn node(i: u32) -> String {
    let (rack, n) = (i / PER_RACK, i % PER_RACK);
    format!("b{rack:03}s{n:02}")
}

fn setup(dir: &Path, db: &Path) {
    let repo = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let packs = repo.join("packs");
    run(
        db,
        &["pack", "install", packs.join("batchops").to_str().unwrap()],
        None,
    );
    let mut y = String::from("nodes:\n");
    for i in 0..RACKS * PER_RACK {
        y.push_str(&format!(
            "  - {{name: {}, labels: {{rack: r{:03}, cluster: batch}}, driver: sim}}\n",
            node(i),
            i / PER_RACK
        ));
    }
    let inventory = dir.join("nodes.yaml");
    std::fs::write(&inventory, y).unwrap();
    run(db, &["node", "import", inventory.to_str().unwrap()], None);
    // The candidate: rack r000–r099 only.
    let candidate = dir.join("batchops-0.2.0");
    copy_dir(&packs.join("batchops"), &candidate);
    let manifest = candidate.join("pack.yaml");
    let text = std::fs::read_to_string(&manifest).unwrap();
    std::fs::write(&manifest, text.replace("version: 0.1.0", "version: 0.2.0")).unwrap();
    let rule = candidate.join("rules/on_no_contact.yaml");
    let text = std::fs::read_to_string(&rule).unwrap();
    std::fs::write(&rule, text.replace("pattern: \"b*\"", "pattern: \"b0*\"")).unwrap();
    run(db, &["pack", "install", candidate.to_str().unwrap()], None);
    for version in ["0.1.0", "0.2.0"] {
        for (cap, scope) in [
            ("probe", "*"),
            ("command", "cluster=batch: uptime"),
            ("nodes.reboot", "cluster=batch"),
            ("nodes.health", "cluster=batch"),
        ] {
            let pack = format!("batchops@{version}");
            run(db, &["grant", "add", &pack, cap, "--scope", scope], None);
        }
    }
    run(db, &["brake", "set", "--threshold", "100%"], None);
    let hung: Vec<String> = (0..RACKS * PER_RACK).step_by(10).map(node).collect();
    for chunk in hung.chunks(500) {
        let mut args = vec!["sim", "hang"];
        args.extend(chunk.iter().map(String::as_str));
        run(db, &args, None);
    }
}

fn copy_dir(src: &Path, dst: &Path) {
    std::fs::create_dir_all(dst).unwrap();
    for e in std::fs::read_dir(src).unwrap() {
        let e = e.unwrap();
        let to = dst.join(e.file_name());
        if e.file_type().unwrap().is_dir() {
            copy_dir(&e.path(), &to);
        } else {
            std::fs::copy(e.path(), &to).unwrap();
        }
    }
}

/// N trigger instances with their live enforcements (see the module doc).
fn seed(db: &Path, n: u64) {
    let mut conn = rusqlite::Connection::open(db).unwrap();
    let tx = conn.transaction().unwrap();
    {
        let mut trigger = tx
            .prepare(
                "INSERT INTO trigger_instances (id, trigger_type, payload, source, received_at,
                     state, matched)
                 VALUES (?1, 'batchops.no_contact', ?2, 'webhook', ?3, 'processed', 1)",
            )
            .unwrap();
        let mut enforcement = tx
            .prepare(
                "INSERT INTO enforcements (id, trigger_instance_id, rule_ref, execution_id, state,
                     reason, at)
                 VALUES (?1, ?2, 'batchops.on_no_contact', ?3, ?4, ?5, ?6)",
            )
            .unwrap();
        let start = now_ms() - 6 * DAY_MS;
        let incidents = n.div_ceil(10);
        let step = 6 * DAY_MS / incidents as i64;
        for k in 0..n {
            let incident = k / 10;
            let at = start + incident as i64 * step + (k % 10) as i64 * 120_000;
            let id = ulid::Ulid::from_parts(at as u64, k as u128).to_string();
            let node = node((incident as u32 * 7919) % (RACKS * PER_RACK));
            let payload = format!("{{\"node\": \"{node}\", \"since\": \"2026-11-20T00:00:00Z\"}}");
            trigger.execute(rusqlite::params![id, payload, at]).unwrap();
            let fired = k % 10 == 0;
            let eid = ulid::Ulid::from_parts(at as u64, (k + 1) as u128).to_string();
            let exec =
                fired.then(|| ulid::Ulid::from_parts(at as u64, (k + 2) as u128).to_string());
            enforcement
                .execute(rusqlite::params![
                    eid,
                    id,
                    exec,
                    if fired { "scheduled" } else { "suppressed" },
                    (!fired).then_some("throttled"),
                    at
                ])
                .unwrap();
        }
    }
    tx.commit().unwrap();
}

fn replay(db: &Path, n: u64) -> (f64, serde_json::Value) {
    let started = Instant::now();
    let out = drover(db)
        .args([
            "replay",
            "--pack",
            "batchops@0.2.0",
            "--since",
            "7d",
            "--limit",
            &n.to_string(),
            "--json",
        ])
        .stderr(Stdio::inherit())
        .output()
        .unwrap();
    assert!(out.status.success(), "drover replay failed");
    let took = started.elapsed().as_secs_f64();
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    (took, v["summary"].clone())
}

fn latency(phase: &str, samples: &[Sample], db: &Path) -> (i64, i64) {
    drain(db);
    let s = summarize(samples, &executions_by_trigger(db));
    let (p50, p99) = (
        percentile(&s.latencies, 0.5),
        percentile(&s.latencies, 0.99),
    );
    println!(
        "{phase:<28} accepted {:>6}  p50 {p50:>4} ms  p99 {p99:>5} ms  lost {}",
        s.accepted, s.lost
    );
    (p50, p99)
}

fn main() {
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with("--"))
        .collect();
    let rate: u64 = args.first().and_then(|a| a.parse().ok()).unwrap_or(200);
    let seconds: f64 = args.get(1).and_then(|a| a.parse().ok()).unwrap_or(20.0);
    let runs: usize = args.get(2).and_then(|a| a.parse().ok()).unwrap_or(3);
    let n: u64 = std::env::var("DROVER_BENCH_TRIGGERS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(100_000);
    let dir = tempfile::tempdir().unwrap();
    // The webhook pack (`bench`, core.noop), then batchops and the history.
    let db = install_bench_pack(dir.path());
    setup(dir.path(), &db);
    seed(&db, n);
    println!("{n} trigger instances seeded; load {}", loadavg());

    // Replay alone, `runs` times.
    let mut times = Vec::new();
    for i in 0..runs {
        let (took, summary) = replay(&db, n);
        println!(
            "replay {}: {took:.1} s  triggers {} differ {} fired live {} candidate {} \
             errors {}  load {}",
            i + 1,
            summary["triggers"],
            summary["differ"],
            summary["fired_live"],
            summary["fired_candidate"],
            summary["errors"],
            loadavg()
        );
        times.push(took);
    }
    times.sort_by(f64::total_cmp);
    println!("replay median: {:.1} s", times[times.len() / 2]);

    // The live pipeline's latency, alone then beside a replay.
    let server = start_server(dir.path(), &db, &[]);
    let mut base = 0;
    let mut quiet = Vec::new();
    let mut busy = Vec::new();
    for i in 0..runs {
        let (samples, _) = offer(server.addr, rate, seconds, base);
        base += samples.len() as u64;
        quiet.push(latency(&format!("alone {}", i + 1), &samples, &db));
        let mut child = Command::new(env!("CARGO_BIN_EXE_drover"))
            .env("DROVER_DB", &db)
            .args([
                "replay",
                "--pack",
                "batchops@0.2.0",
                "--since",
                "7d",
                "--limit",
                &n.to_string(),
                "--json",
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        // Let it get going (its copy and first pages).
        std::thread::sleep(Duration::from_secs(2));
        let (samples, _) = offer(server.addr, rate, seconds, base);
        base += samples.len() as u64;
        let running = child.try_wait().unwrap().is_none();
        busy.push(latency(
            &format!(
                "beside a replay {}{}",
                i + 1,
                if running { "" } else { " (ended early)" }
            ),
            &samples,
            &db,
        ));
        let _ = child.wait();
    }
    let median = |v: &mut Vec<(i64, i64)>, f: fn(&(i64, i64)) -> i64| {
        let mut x: Vec<i64> = v.iter().map(f).collect();
        x.sort();
        x[x.len() / 2]
    };
    println!(
        "latency medians: alone p50 {} / p99 {} ms; beside a replay p50 {} / p99 {} ms",
        median(&mut quiet, |x| x.0),
        median(&mut quiet, |x| x.1),
        median(&mut busy, |x| x.0),
        median(&mut busy, |x| x.1),
    );
}

fn loadavg() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .unwrap_or_default()
        .split_whitespace()
        .take(3)
        .collect::<Vec<_>>()
        .join(" ")
}
