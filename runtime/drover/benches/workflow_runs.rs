//! Workflows as users run them: the built `drover` binary runs generated
//! workflows of `core.noop` tasks (real Wasm) whose tasks publish, one
//! `drover run` process per workflow on a fresh database, as an operator
//! would from a shell. What the in-process bench (`drover-engine`'s
//! `workflows`) cannot drift from.
//!
//! Scenarios, for n = 10 … 100,000 (a size whose workflow file is over
//! the 1 MiB drover reads of a pack file is skipped: the sequential and
//! fan-out files pass it from n = 10,000):
//!
//! - `sequential+publish n`: t0 → t1 → … → t(n-1), each transition
//!   publishing `count: ctx().count + 1` (the usual Orquesta style);
//! - `loop n`: one task cycling n times on a counter it publishes (a
//!   poll-until-ready loop);
//! - `fan-out+publish n`: one task, n-2 parallel branches each publishing
//!   its own variable, one `join: all` task.
//!
//! Reported per run: wall time, the process's CPU time (user + system) per
//! transition, its peak RSS, and the bytes written per transition (the
//! database and its WAL after the run, over the transitions); at the end,
//! per scenario, the ratio of CPU and bytes per transition at the largest
//! n to the smallest (flat: close to 1). A transition is one conductor
//! event: each task run is `running` then `succeeded`.
//!
//! ```text
//! cargo xtask plugins
//! cargo bench -p drover --bench workflow_runs                # n = 10 … 100,000
//! cargo bench -p drover --bench workflow_runs -- loop        # one scenario
//! ```
//!
//! Without `--bench` (`cargo test --benches`) each scenario runs once with
//! n = 10 and 100, as a smoke test. Figures: docs/perf.md.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// The most drover reads of one pack file.
const MAX_PACK_FILE: usize = 1 << 20;

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn sequential(n: usize) -> String {
    let mut y = String::from("version: 1.0\nvars:\n  - count: 0\ntasks:\n");
    for i in 0..n {
        let _ = writeln!(y, "  t{i}:\n    action: core.noop");
        if i + 1 < n {
            let _ = writeln!(
                y,
                "    next:\n      - publish:\n          - count: '{{{{ ctx().count + 1 }}}}'\n        do: t{}",
                i + 1
            );
        }
    }
    y.push_str("output:\n  - count: '{{ ctx().count }}'\n");
    y
}

fn looping(n: usize) -> String {
    format!(
        "version: 1.0\nvars:\n  - count: 0\ntasks:\n  init:\n    action: core.noop\n    next: [{{do: step}}]\n  step:\n    action: core.noop\n    next:\n      - when: '{{{{ ctx().count < {last} }}}}'\n        publish:\n          - count: '{{{{ ctx().count + 1 }}}}'\n        do: step\noutput:\n  - count: '{{{{ ctx().count }}}}'\n",
        last = n.saturating_sub(2)
    )
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
            "  {name}:\n    action: core.noop\n    next:\n      - publish:\n          - {name}: '{{{{ result() }}}}'\n        do: join"
        );
    }
    y.push_str("  join:\n    join: all\n    action: core.noop\n");
    y
}

struct Run {
    wall: Duration,
    cpu: Duration,
    max_rss_kib: i64,
    bytes: u64,
}

/// The size of the database and its WAL.
fn db_bytes(dir: &Path) -> u64 {
    ["drover.db", "drover.db-wal"]
        .iter()
        .filter_map(|f| std::fs::metadata(dir.join(f)).ok())
        .map(|m| m.len())
        .sum()
}

fn drover(db: &Path) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_drover"));
    cmd.env("DROVER_DB", db)
        .env("USER", "bench")
        .current_dir(repo_root());
    cmd
}

fn check(out: std::process::Output, what: &str) -> std::process::Output {
    assert!(
        out.status.success(),
        "{what}: {}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// Installs `packs/core` and a pack holding `workflow`, then runs it with
/// `drover run` in a child process and measures that process.
fn run_once(workflow: &str) -> Run {
    let dir = tempfile::tempdir().expect("temporary directory");
    let db = dir.path().join("drover.db");
    let core = repo_root().join("packs/core");
    check(
        drover(&db)
            .args(["pack", "install"])
            .arg(&core)
            .output()
            .unwrap(),
        "install core",
    );
    let pack = dir.path().join("wfbench");
    std::fs::create_dir_all(pack.join("workflows")).unwrap();
    std::fs::write(pack.join("workflows/w.yaml"), workflow).unwrap();
    std::fs::write(
        pack.join("pack.yaml"),
        "name: wfbench\nversion: 0.1.0\ndescription: bench\nplugins:\n  w:\n    kind: action\n    description: bench\n    runner: workflow\n    entry: workflows/w.yaml\n",
    )
    .unwrap();
    check(
        drover(&db)
            .args(["pack", "install", "--trusted"])
            .arg(&pack)
            .output()
            .unwrap(),
        "install the workflow",
    );
    let before = db_bytes(dir.path());
    let started = Instant::now();
    let child = drover(&db)
        .args(["run", "wfbench.w", "--json"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start drover run");
    let pid = child.id() as libc::pid_t;
    let mut status = 0;
    // SAFETY: an all-zero rusage is valid; wait4 fills it for our child.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    // The output is read on threads while we wait (a large run's JSON does
    // not fit a pipe's buffer).
    let (stdout, stderr) = {
        let mut child = child;
        let mut out = child.stdout.take().unwrap();
        let mut err = child.stderr.take().unwrap();
        let t_out = std::thread::spawn(move || {
            let mut s = Vec::new();
            std::io::Read::read_to_end(&mut out, &mut s).unwrap();
            s
        });
        let t_err = std::thread::spawn(move || {
            let mut s = Vec::new();
            std::io::Read::read_to_end(&mut err, &mut s).unwrap();
            s
        });
        // SAFETY: waits for our own child and writes into locals we own;
        // wait4 (not Child::wait) because it also returns the child's
        // resource usage.
        let waited = unsafe { libc::wait4(pid, &mut status, 0, &mut usage) };
        assert_eq!(waited, pid, "wait4");
        (t_out.join().unwrap(), t_err.join().unwrap())
    };
    let wall = started.elapsed();
    assert!(
        libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0,
        "drover run exited {status}:\n{}\n{}",
        String::from_utf8_lossy(&stdout[..stdout.len().min(2000)]),
        String::from_utf8_lossy(&stderr)
    );
    let exec: serde_json::Value = serde_json::from_slice(&stdout).expect("drover run --json");
    assert_eq!(exec["status"], "succeeded", "{}", exec["error"]);
    let tv = |t: libc::timeval| Duration::new(t.tv_sec as u64, t.tv_usec as u32 * 1000);
    Run {
        wall,
        cpu: tv(usage.ru_utime) + tv(usage.ru_stime),
        max_rss_kib: usage.ru_maxrss,
        bytes: db_bytes(dir.path()).saturating_sub(before),
    }
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let bench = args.iter().any(|a| a == "--bench");
    let filter = args.iter().find(|a| !a.starts_with('-')).cloned();
    assert!(
        repo_root()
            .join("packs/core/components/core_noop.wasm")
            .is_file(),
        "build the plugin components first: `cargo xtask plugins`"
    );
    let sizes: &[usize] = if bench {
        &[10, 100, 1_000, 10_000, 100_000]
    } else {
        &[10, 100]
    };
    type Make = fn(usize) -> String;
    type TaskRuns = fn(usize) -> usize;
    // (name, workflow, task runs for n)
    let kinds: [(&str, Make, TaskRuns); 3] = [
        ("sequential+publish", sequential, |n| n),
        ("loop", looping, |n| n.max(2)),
        ("fan-out+publish", fan_out, |n| n.max(3)),
    ];
    println!(
        "{:<28} {:>10} {:>14} {:>14} {:>10} {:>16}",
        "scenario", "wall", "transitions/s", "CPU/transition", "peak RSS", "bytes/transition"
    );
    for (kind, make, tasks_of) in kinds {
        if filter.as_ref().is_some_and(|f| !kind.contains(f.as_str())) {
            continue;
        }
        let mut per: Vec<(usize, f64, f64)> = Vec::new();
        for &n in sizes {
            let tasks = tasks_of(n);
            let transitions = 2 * tasks;
            let text = make(n);
            // drover reads at most 1 MiB of one pack file (docs/security.md,
            // hole 11): a 10,000-task file is past it.
            if text.len() > MAX_PACK_FILE {
                println!(
                    "{:<28} skipped: its workflow file is {} KiB, over the 1 MiB a pack file may be",
                    format!("{kind} {n}"),
                    text.len() / 1024
                );
                continue;
            }
            let r = run_once(&text);
            let cpu_us = r.cpu.as_secs_f64() * 1e6 / transitions as f64;
            let bytes = r.bytes as f64 / transitions as f64;
            println!(
                "{:<28} {:>10} {:>14.0} {:>11.1} µs {:>7} MB {:>16.0}",
                format!("{kind} {n}"),
                format!("{:.2?}", r.wall),
                transitions as f64 / r.wall.as_secs_f64(),
                cpu_us,
                r.max_rss_kib / 1024,
                bytes
            );
            per.push((n, cpu_us, bytes));
        }
        if let (Some(lo), Some(hi)) = (per.first(), per.last()) {
            println!(
                "{kind}: per transition at n={} / at n={}: CPU {:.2}x, bytes {:.2}x",
                hi.0,
                lo.0,
                hi.1 / lo.1,
                hi.2 / lo.2
            );
        }
    }
}
