//! Hostile plugins against one application's runtime in one process: every misbehaving
//! plugin of `tests/packs/hostile` must end with the right status while the
//! runtime keeps serving — `core.noop` succeeds after each one, hostile
//! calls running at the same time on several threads all end correctly,
//! and repeated memory bombs do not leave the process any bigger.
//!
//! Needs the plugin components: `cargo xtask plugins` first.

use std::io::ErrorKind;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::Duration;

use drover_app::App;
use drover_core::{ExecStatus, Execution};
use drover_host::RunOptions;
use drover_store::{ExecutionFilter, Store};
use serde_json::{Value, json};
use tempfile::TempDir;

/// How late past its deadline a call may be stopped (from the issue).
const DEADLINE_SLACK: Duration = Duration::from_millis(100);
/// The output cap every hostile plugin runs under (the pack.yaml default).
const OUTPUT_CAP: usize = 1 << 20;
/// The file `hostile.escape` tries to create.
const ESCAPE_FILE: &str = "/tmp/drover-escape";

/// Under `cargo test` the tests of this file share a process: run them one
/// at a time so that one test's calls do not disturb another's RSS figures.
/// (nextest runs each test in its own process anyway.)
static SERIAL: Mutex<()> = Mutex::new(());

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .canonicalize()
        .unwrap()
}

/// A runtime over a scratch database with `hostile` and `core` installed.
struct Env {
    app: App,
    _dir: TempDir,
}

fn env() -> Env {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let store = Store::open(&dir.path().join("drover.db")).expect("open the database");
    let app = App::with_defaults(store, &dir.path().join("cache")).expect("start the runtime");
    for rel in ["tests/packs/hostile", "packs/core"] {
        let pack = repo().join(rel);
        let components = pack.join("components");
        assert!(
            components.is_dir() && std::fs::read_dir(&components).unwrap().next().is_some(),
            "{} has no built components: run `cargo xtask plugins` first",
            pack.display()
        );
        app.install(&pack, "test")
            .unwrap_or_else(|e| panic!("install {rel}: {e}"));
    }
    Env { app, _dir: dir }
}

/// Runs `action` and checks the execution was stored as returned.
fn run(rt: &App, action: &str, params: Value, timeout: Option<Duration>) -> Execution {
    let opts = RunOptions {
        dry_run: false,
        actor: "user:test".into(),
        timeout,
    };
    let exec = rt
        .runtime()
        .run(&action.parse().unwrap(), params, &opts)
        .unwrap_or_else(|e| panic!("{action} did not run: {e}"));
    let stored = rt
        .store()
        .get_execution(exec.id)
        .unwrap()
        .unwrap_or_else(|| panic!("{action}: execution {} was not stored", exec.id));
    assert_eq!(stored.status, exec.status);
    assert_eq!(stored.error, exec.error);
    assert_eq!(stored.duration_us, exec.duration_us);
    exec
}

/// `core.noop` succeeds: the runtime still serves.
fn noop(rt: &App, after: &str) -> Execution {
    let exec = run(rt, "core.noop", json!({}), None);
    assert_eq!(
        exec.status,
        ExecStatus::Succeeded,
        "core.noop after {after}: {:?}",
        exec.error
    );
    assert_eq!(exec.result, Some(json!({})));
    exec
}

fn took(exec: &Execution) -> Duration {
    Duration::from_micros(exec.duration_us)
}

/// Asserts `exec` ended with `status` and an error containing each of
/// `needles`.
fn expect(exec: &Execution, status: ExecStatus, needles: &[&str]) {
    let err = exec.error.as_deref().unwrap_or_default();
    assert_eq!(
        exec.status, status,
        "{} {}: ended {} ({err})",
        exec.action, exec.parameters, exec.status
    );
    assert_eq!(exec.result, None, "{}", exec.action);
    for needle in needles {
        assert!(
            err.contains(needle),
            "{} {}: the error does not contain {needle:?}: {err}",
            exec.action,
            exec.parameters
        );
    }
}

fn expect_spin(exec: &Execution, timeout: Duration) {
    expect(exec, ExecStatus::Timeout, &["stopped after", "deadline"]);
    assert!(
        took(exec) <= timeout + DEADLINE_SLACK,
        "hostile.spin stopped after {:?}, more than {DEADLINE_SLACK:?} past its {timeout:?} deadline",
        took(exec)
    );
}

fn expect_bomb(exec: &Execution) {
    expect(
        exec,
        ExecStatus::Failed,
        &["memory limit of 32 MiB exceeded", "raise `memory`"],
    );
}

/// Runs `hostile.escape` against a port the test listens on and checks
/// every attempt failed inside the guest and nothing reached the host.
fn escape(rt: &App) -> Execution {
    let listener = TcpListener::bind("127.0.0.1:0").expect("listen on 127.0.0.1");
    listener.set_nonblocking(true).unwrap();
    let port = listener.local_addr().unwrap().port();
    if Path::new(ESCAPE_FILE).exists() {
        std::fs::remove_file(ESCAPE_FILE)
            .unwrap_or_else(|e| panic!("{ESCAPE_FILE} exists and cannot be removed: {e}"));
    }
    let exec = run(rt, "hostile.escape", json!({"port": port}), None);
    assert_eq!(exec.status, ExecStatus::Succeeded, "{:?}", exec.error);
    let result = exec
        .result
        .as_ref()
        .and_then(Value::as_object)
        .expect("a result object");
    for key in ["read_passwd", "write_tmp", "read_dir_root", "tcp_connect"] {
        let outcome = result.get(key).and_then(Value::as_str).unwrap_or_default();
        assert!(
            outcome.starts_with("error: "),
            "the guest's {key} attempt did not fail: {outcome:?}"
        );
    }
    match listener.accept() {
        Err(e) if e.kind() == ErrorKind::WouldBlock => {}
        Ok((_, peer)) => panic!("the guest connected to the test's listener from {peer}"),
        Err(e) => panic!("accept on the test's listener: {e}"),
    }
    assert!(
        !Path::new(ESCAPE_FILE).exists(),
        "the guest created {ESCAPE_FILE}"
    );
    exec
}

#[test]
fn one_runtime_survives_every_hostile_plugin() {
    let _serial = SERIAL.lock().unwrap_or_else(|p| p.into_inner());
    let env = env();
    let rt = &env.app;
    let mut ids = vec![noop(rt, "nothing").id];

    // Twice through: the second round runs against a runtime that has
    // already contained every one of them.
    for (round, spin_timeout) in [(1, None), (2, Some(Duration::from_millis(300)))] {
        let exec = run(rt, "hostile.spin", json!({}), spin_timeout);
        let deadline = spin_timeout.unwrap_or(Duration::from_secs(1));
        expect_spin(&exec, deadline);
        eprintln!(
            "round {round}: spin, deadline {deadline:?}, stopped after {:?}",
            took(&exec)
        );
        ids.push(exec.id);
        ids.push(noop(rt, "hostile.spin").id);

        let exec = run(rt, "hostile.bomb", json!({}), None);
        expect_bomb(&exec);
        eprintln!("round {round}: bomb stopped after {:?}", took(&exec));
        ids.push(exec.id);
        ids.push(noop(rt, "hostile.bomb").id);

        let exec = run(rt, "hostile.panic", json!({}), None);
        expect(
            &exec,
            ExecStatus::Failed,
            &["panicked", "plugin bug: index out of range"],
        );
        ids.push(exec.id);
        ids.push(noop(rt, "hostile.panic").id);

        for mode in ["log", "stdout", "result"] {
            let exec = run(rt, "hostile.flood", json!({"mode": mode}), None);
            expect(
                &exec,
                ExecStatus::Failed,
                &["output cap of 1048576 bytes", "raise `output`"],
            );
            // 100 MB were produced; what is kept stays bounded by the caps
            // (logs, stdout and stderr are each capped).
            let kept: usize = exec.logs.iter().map(|l| l.message.len()).sum();
            assert!(
                kept <= 3 * OUTPUT_CAP + 4096,
                "flood mode={mode}: {kept} bytes of logs kept"
            );
            eprintln!(
                "round {round}: flood mode={mode} stopped after {:?}, {kept} bytes of logs kept",
                took(&exec)
            );
            ids.push(exec.id);
            ids.push(noop(rt, &format!("hostile.flood mode={mode}")).id);
        }

        ids.push(escape(rt).id);
        ids.push(noop(rt, "hostile.escape").id);
    }

    let mut stored: Vec<_> = rt
        .store()
        .list_executions(&ExecutionFilter {
            limit: 1000,
            ..Default::default()
        })
        .unwrap()
        .into_iter()
        .map(|e| e.id)
        .collect();
    stored.sort();
    ids.sort();
    assert_eq!(stored, ids, "every execution is stored, and only those");
}

#[test]
fn concurrent_hostile_calls_all_end_correctly() {
    let _serial = SERIAL.lock().unwrap_or_else(|p| p.into_inner());
    let env = env();
    let rt = &env.app;
    noop(rt, "nothing");
    let spin_timeout = Duration::from_millis(300);

    std::thread::scope(|s| {
        let spins: Vec<_> = (0..4)
            .map(|_| s.spawn(move || run(rt, "hostile.spin", json!({}), Some(spin_timeout))))
            .collect();
        let bomb = s.spawn(|| run(rt, "hostile.bomb", json!({}), None));
        let panic = s.spawn(|| run(rt, "hostile.panic", json!({}), None));
        let flood = s.spawn(|| run(rt, "hostile.flood", json!({"mode": "log"}), None));
        let noops = s.spawn(|| {
            for i in 0..20 {
                noop(rt, &format!("concurrent hostile calls ({i})"));
            }
        });

        let mut stopped = Vec::new();
        for spin in spins {
            let exec = spin.join().expect("a spin thread");
            expect(&exec, ExecStatus::Timeout, &["stopped after 300ms"]);
            stopped.push(took(&exec));
        }
        eprintln!("4 concurrent spins ({spin_timeout:?} deadline) stopped after {stopped:?}");
        expect_bomb(&bomb.join().expect("the bomb thread"));
        expect(
            &panic.join().expect("the panic thread"),
            ExecStatus::Failed,
            &["plugin bug: index out of range"],
        );
        expect(
            &flood.join().expect("the flood thread"),
            ExecStatus::Failed,
            &["output cap of 1048576 bytes exceeded"],
        );
        noops.join().expect("the noop thread");
    });
    noop(rt, "the concurrent calls");
}

/// The process's resident set size, from `/proc/self/status`.
fn rss_kib() -> Option<u64> {
    proc_status_kib("VmRSS:")
}

/// A `kB` field of `/proc/self/status`.
fn proc_status_kib(field: &str) -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix(field))?
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse()
        .ok()
}

#[test]
fn repeated_bombs_do_not_grow_the_process() {
    let _serial = SERIAL.lock().unwrap_or_else(|p| p.into_inner());
    if rss_kib().is_none() {
        eprintln!("skipped: /proc/self/status has no VmRSS here, so RSS cannot be measured");
        return;
    }
    let env = env();
    let rt = &env.app;
    // Warm up: the first calls compile, cache and allocate for good.
    for _ in 0..2 {
        expect_bomb(&run(rt, "hostile.bomb", json!({}), None));
        noop(rt, "hostile.bomb");
    }
    let before = rss_kib().unwrap();
    let mut seen = Vec::new();
    for _ in 0..5 {
        expect_bomb(&run(rt, "hostile.bomb", json!({}), None));
        noop(rt, "hostile.bomb");
        seen.push(rss_kib().unwrap());
    }
    let after = rss_kib().unwrap();
    eprintln!(
        "VmRSS before 5 bombs: {before} KiB; after each: {seen:?} KiB; peak (VmHWM): {} KiB",
        proc_status_kib("VmHWM:").unwrap_or_default()
    );
    // Each bomb touches 32 MiB of guest memory: a leak of even one bomb's
    // memory per call would add 160 MiB. Allow one bomb's worth of slack.
    let slack = 32 * 1024;
    assert!(
        after <= before + slack,
        "VmRSS grew from {before} KiB to {after} KiB over 5 bombs ({seen:?})"
    );
}
