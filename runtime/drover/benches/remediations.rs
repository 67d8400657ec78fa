//! 1,000 concurrent no-contact remediations on the simulated fleet: the
//! real `drover serve` binary, the `batchops` pack as shipped, 1,000 hung
//! nodes reported by webhook at once; timed until every
//! `handle_no_contact` workflow has ended.
//!
//! ```sh
//! cargo xtask plugins     # once: the packs' components
//! cargo bench -p drover --bench remediations
//! DROVER_BENCH_REMEDIATIONS=200 cargo bench -p drover --bench remediations
//! ```
//!
//! Fleet: 5,000 sim nodes in 200 racks (25 each), rebooting in 0.2 s;
//! the dead nodes are spread 5 per rack. Three scenarios, each on a fresh
//! database: `no budget` (the engine and controller alone), `rack max 1`
//! (each rack's five reboots in turn) and `candidate` (no budget, with
//! batchops 0.2.0 installed in shadow mode beside 0.1.0: every report also
//! starts the candidate's dry run of the remediation, side by side). The brake is set to 100% so the
//! storm is the point, not stopped. Printed per scenario: wall time from
//! the first report to the last workflow's end, remediations/s, stored
//! executions/s (workflows and their tasks), verdicts, reboots per node,
//! and the server's peak RSS.

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const RACKS: u32 = 200;
const PER_RACK: u32 = 25;
const TOKEN: &str = "bench-webhook-token";
/// Time the whole run may take before the bench gives up.
const DEADLINE: Duration = Duration::from_secs(1800);

fn main() {
    let n: u32 = std::env::var("DROVER_BENCH_REMEDIATIONS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1_000);
    assert!(
        n <= RACKS * PER_RACK / 2,
        "at most {} remediations",
        RACKS * PER_RACK / 2
    );
    println!(
        "{n} concurrent no-contact remediations, {} sim nodes in {RACKS} racks; load {}",
        RACKS * PER_RACK,
        loadavg()
    );
    for (name, rack_budget, candidate) in [
        ("no budget", false, false),
        ("rack max 1", true, false),
        ("candidate", false, true),
    ] {
        scenario(name, n, rack_budget, candidate);
    }
}

fn scenario(name: &str, n: u32, rack_budget: bool, candidate: bool) {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let db = dir.path().join("drover.db");
    let drover = |args: &[&str]| {
        let out = Command::new(env!("CARGO_BIN_EXE_drover"))
            .env("DROVER_DB", &db)
            .args(args)
            .output()
            .expect("run drover");
        assert!(
            out.status.success(),
            "drover {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    };
    let packs = repo().join("packs");
    drover(&[
        "pack",
        "install",
        packs.join("core").to_str().unwrap(),
        packs.join("batchops").to_str().unwrap(),
    ]);
    let inventory = dir.path().join("nodes.yaml");
    std::fs::write(&inventory, fleet()).unwrap();
    drover(&["node", "import", inventory.to_str().unwrap()]);
    for (cap, scope) in [
        ("probe", "*"),
        ("command", "cluster=batch: uptime"),
        ("nodes.reboot", "cluster=batch"),
    ] {
        drover(&["grant", "add", "batchops@0.1.0", cap, "--scope", scope]);
    }
    if candidate {
        let next = dir.path().join("batchops-0.2.0");
        copy_dir(&packs.join("batchops"), &next);
        let manifest = next.join("pack.yaml");
        let text = std::fs::read_to_string(&manifest).unwrap();
        std::fs::write(&manifest, text.replace("version: 0.1.0", "version: 0.2.0")).unwrap();
        drover(&["pack", "install", next.to_str().unwrap()]);
        for (cap, scope) in [
            ("probe", "*"),
            ("command", "cluster=batch: uptime"),
            ("nodes.reboot", "cluster=batch"),
        ] {
            drover(&["grant", "add", "batchops@0.2.0", cap, "--scope", scope]);
        }
    }
    drover(&["brake", "set", "--threshold", "100%"]);
    if rack_budget {
        drover(&[
            "budget",
            "set",
            "rack-one",
            "--strategy",
            "groupsemaphore",
            "--label",
            "rack",
            "--max",
            "1",
        ]);
    }
    let mut secret = Command::new(env!("CARGO_BIN_EXE_drover"))
        .env("DROVER_DB", &db)
        .args(["secret", "set", "batchops.webhook_token"])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    secret
        .stdin
        .take()
        .unwrap()
        .write_all(TOKEN.as_bytes())
        .unwrap();
    assert!(secret.wait().unwrap().success());
    let dead = dead_nodes(n);
    for chunk in dead.chunks(500) {
        let mut args = vec!["sim", "hang"];
        args.extend(chunk.iter().map(String::as_str));
        drover(&args);
    }

    let port = free_port();
    let server = Server::start(&db, port, &dir.path().join("serve.log"));
    let base = format!("http://127.0.0.1:{port}");
    wait_healthy(&base);

    let started = Instant::now();
    report_all(&base, &dead);
    let reported = started.elapsed();
    let conn = rusqlite::Connection::open(&db).unwrap();
    // The live remediations, and with a candidate its dry ones too.
    let expected = if candidate { 2 * n } else { n };
    let ended = |conn: &rusqlite::Connection| -> u32 {
        conn.query_row(
            "SELECT count(*) FROM executions WHERE action = 'batchops.handle_no_contact'",
            [],
            |r| r.get(0),
        )
        .unwrap()
    };
    while ended(&conn) < expected {
        assert!(
            started.elapsed() < DEADLINE,
            "only {} of {expected} remediations ended in {DEADLINE:?}\n{}",
            ended(&conn),
            server.log()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    let wall = started.elapsed();
    let peak_rss_mib = server.peak_rss_kib() as f64 / 1024.0;
    drop(server);

    let executions: u64 = conn
        .query_row("SELECT count(*) FROM executions", [], |r| r.get(0))
        .unwrap();
    let rebooted: u32 = conn
        .query_row(
            "SELECT count(*) FROM executions WHERE action = 'batchops.handle_no_contact'
             AND status = 'succeeded' AND json_extract(result, '$.verdict') LIKE 'rebooted%'
             AND dry_run = 0",
            [],
            |r| r.get(0),
        )
        .unwrap();
    let most_reboots: u32 = conn
        .query_row(
            "SELECT coalesce(max(c), 0) FROM (SELECT count(*) AS c FROM node_history
             WHERE to_state = 'rebooting' AND from_state != 'rebooting' GROUP BY node)",
            [],
            |r| r.get(0),
        )
        .unwrap();
    let beside = if candidate {
        format!(" (+ {n} dry runs of the candidate beside them)")
    } else {
        String::new()
    };
    println!(
        "{name:>10}: {n} remediations{beside} in {:.1} s (reports sent in {:.2} s): {:.1} remediations/s, \
         {executions} executions stored ({:.0}/s); {rebooted} rebooted and back, at most \
         {most_reboots} reboot per node; server peak RSS {peak_rss_mib:.0} MiB; load {}",
        wall.as_secs_f64(),
        reported.as_secs_f64(),
        f64::from(n) / wall.as_secs_f64(),
        executions as f64 / wall.as_secs_f64(),
        loadavg()
    );
    assert_eq!(rebooted, n, "every dead node rebooted and back");
    assert_eq!(most_reboots, 1, "no node rebooted twice");
}

/// Copies directory `from` to `to`, recursively.
fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), target).unwrap();
        }
    }
}

/// `RACKS` racks of `PER_RACK` sim nodes named bRRRsSS.
fn fleet() -> String {
    let mut y = String::from("nodes:\n");
    for r in 1..=RACKS {
        for s in 1..=PER_RACK {
            y.push_str(&format!(
                "  - {{name: b{r:03}s{s:02}, labels: {{rack: r{r:03}, cluster: batch}}, driver: sim, \
                 options: {{reboot_seconds: 0.2}}}}\n"
            ));
        }
    }
    y
}

/// `n` nodes spread evenly over the racks.
fn dead_nodes(n: u32) -> Vec<String> {
    (0..n)
        .map(|i| format!("b{:03}s{:02}", i % RACKS + 1, i / RACKS + 1))
        .collect()
}

/// Posts every report from 8 threads, each on its own connection.
fn report_all(base: &str, nodes: &[String]) {
    let url = format!("{base}/api/v1/webhooks/batchops.no_contact");
    std::thread::scope(|s| {
        for chunk in nodes.chunks(nodes.len().div_ceil(8)) {
            let url = &url;
            s.spawn(move || {
                let agent: ureq::Agent = ureq::Agent::config_builder()
                    .http_status_as_error(false)
                    .timeout_global(Some(Duration::from_secs(60)))
                    .build()
                    .into();
                for node in chunk {
                    let body = format!(r#"{{"node": "{node}", "since": "2026-11-26T06:00:00Z"}}"#);
                    let status = agent
                        .post(url)
                        .header("x-drover-token", TOKEN)
                        .header("content-type", "application/json")
                        .send(body.as_bytes())
                        .expect("POST a report")
                        .status();
                    assert_eq!(status, 202, "report of {node}");
                }
            });
        }
    });
}

struct Server {
    child: Child,
    log: PathBuf,
}

impl Server {
    fn start(db: &Path, port: u16, log: &Path) -> Server {
        let file = std::fs::File::create(log).unwrap();
        let child = Command::new(env!("CARGO_BIN_EXE_drover"))
            .env("DROVER_DB", db)
            .args(["serve", "--listen", &format!("127.0.0.1:{port}")])
            .stdout(file.try_clone().unwrap())
            .stderr(file)
            .spawn()
            .expect("start drover serve");
        Server {
            child,
            log: log.to_owned(),
        }
    }

    fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// VmHWM: the most resident memory the server has had.
    fn peak_rss_kib(&self) -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id()))
            .unwrap_or_default();
        status
            .lines()
            .find_map(|l| l.strip_prefix("VmHWM:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            .unwrap_or(0)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn wait_healthy(base: &str) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while Instant::now() < deadline {
        if ureq::get(format!("{base}/healthz"))
            .call()
            .is_ok_and(|r| r.status() == 200)
        {
            return;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    panic!("drover serve did not answer /healthz within a minute");
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .canonicalize()
        .unwrap()
}

fn loadavg() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|l| l.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_default()
}
