//! Hostile plugins through the real `drover` binary: each misbehaving
//! plugin of `tests/packs/hostile` (and `tests/packs/greedy`) must end as a
//! stored execution with the right status, a clear error that names the
//! limit and what to do, and exit code 1; a component importing more than
//! its manifest declares must be refused at install; and after each one
//! `core.noop` must still succeed against the same database.
//!
//! Needs the plugin components: `cargo xtask plugins` first.

mod support;

use std::io::ErrorKind;
use std::net::TcpListener;
use std::path::Path;
use std::time::Duration;

use serde_json::{Value, json};
use support::{Drover, stderr, stdout};

/// The output cap every hostile plugin runs under (the pack.yaml default).
const OUTPUT_CAP: u64 = 1 << 20;
/// How late past its deadline a call may be stopped (from the issue).
const DEADLINE_SLACK: Duration = Duration::from_millis(100);
/// The epoch tick: a deadline is rounded to ticks, so a call may be
/// stopped up to one tick before it (engine.rs, `EPOCH_TICK`).
const EPOCH_TICK: Duration = Duration::from_millis(10);

/// A drover with `core` and `hostile` installed.
fn hostile() -> Drover {
    let d = Drover::new();
    d.install(&["packs/core", "tests/packs/hostile"]);
    d
}

/// `core.noop` still succeeds against the same database.
fn noop_still_works(d: &Drover) {
    let exec = d.json(0, &["run", "core.noop"]);
    assert_eq!(
        exec["status"], "succeeded",
        "core.noop after a hostile run: {exec:#}"
    );
    assert_eq!(exec["result"], json!({}));
}

/// Runs `drover run ARGS` (human output), expects exit code 1, and returns
/// the execution as stored (`drover exec get ID --json`). Checks that the
/// printed text carries the stored status and error, then that
/// `core.noop` still succeeds.
fn run_hostile(d: &Drover, args: &[&str]) -> Value {
    let mut all = vec!["run"];
    all.extend_from_slice(args);
    let out = d.expect(1, &all);
    let text = stdout(&out);
    // "execution <ID> <action>: <status> in <duration>"
    let first = text.lines().next().unwrap_or_default();
    let id = first
        .strip_prefix("execution ")
        .and_then(|rest| rest.split_whitespace().next())
        .unwrap_or_else(|| panic!("drover {all:?} printed no execution line:\n{text}"));
    let exec = d.json(0, &["exec", "get", id]);
    assert_eq!(exec["id"], id);
    let status = exec["status"].as_str().expect("a status");
    assert!(
        first.contains(&format!(": {status} in ")),
        "the printed status differs from the stored one ({status}):\n{first}"
    );
    let error = exec["error"]
        .as_str()
        .unwrap_or_else(|| panic!("drover {all:?} stored no error: {exec:#}"));
    assert!(
        text.contains(&format!("error     {error}")),
        "the printed text does not show the stored error {error:?}:\n{}",
        text.chars().take(2000).collect::<String>()
    );
    noop_still_works(d);
    exec
}

fn duration(exec: &Value) -> Duration {
    Duration::from_micros(exec["duration_us"].as_u64().expect("duration_us"))
}

fn error(exec: &Value) -> &str {
    exec["error"].as_str().unwrap_or_default()
}

/// Asserts a spin ended as `timeout` no later than `timeout` + 100 ms,
/// by the duration the executor recorded.
fn assert_stopped_at_deadline(exec: &Value, timeout: Duration, label: &str) {
    assert_eq!(exec["status"], "timeout", "{exec:#}");
    let took = duration(exec);
    eprintln!(
        "{label}: deadline {timeout:?}, stopped after {took:?} ({:+.1} ms)",
        (took.as_secs_f64() - timeout.as_secs_f64()) * 1e3
    );
    assert!(
        took <= timeout + DEADLINE_SLACK,
        "{label}: stopped {took:?} after the start, more than {DEADLINE_SLACK:?} past the {timeout:?} deadline"
    );
    assert!(
        took + EPOCH_TICK >= timeout,
        "{label}: stopped after {took:?}, well before the {timeout:?} deadline"
    );
    assert_eq!(exec["result"], Value::Null);
}

#[test]
fn spin_is_stopped_at_its_deadline() {
    let d = hostile();

    // The pack's own `timeout: 1s`.
    let exec = run_hostile(&d, &["hostile.spin"]);
    assert_stopped_at_deadline(&exec, Duration::from_secs(1), "timeout: 1s");
    let err = error(&exec);
    assert!(
        err.contains("1s"),
        "the error does not give the limit: {err}"
    );
    assert!(
        err.contains("deadline") && err.contains("`timeout` in pack.yaml"),
        "the error does not say which limit stopped it: {err}"
    );
    assert!(
        err.contains("raise"),
        "the error does not say what to do: {err}"
    );

    // `--timeout` overrides it.
    let exec = run_hostile(&d, &["hostile.spin", "--timeout", "200ms"]);
    assert_stopped_at_deadline(&exec, Duration::from_millis(200), "--timeout 200ms");
    let err = error(&exec);
    assert!(
        err.contains("200ms"),
        "the error does not give the overridden limit: {err}"
    );
    assert!(
        err.contains("deadline"),
        "the error does not say which limit stopped it: {err}"
    );
    assert!(
        !err.contains("`timeout` in pack.yaml"),
        "the limit came from --timeout, not pack.yaml, yet the error points at pack.yaml: {err}"
    );
    assert!(
        err.contains("longer"),
        "the error does not say what to do: {err}"
    );

    // Both are listed as timeouts.
    let rows = d.json(0, &["exec", "list", "--status", "timeout"]);
    assert_eq!(rows.as_array().map(Vec::len), Some(2), "{rows:#}");
}

#[test]
fn bomb_is_stopped_at_the_memory_cap() {
    let d = hostile();
    let exec = run_hostile(&d, &["hostile.bomb"]);
    assert_eq!(exec["status"], "failed", "{exec:#}");
    assert_eq!(exec["result"], Value::Null);
    let err = error(&exec);
    assert!(
        err.contains("memory limit of 32 MiB exceeded"),
        "the error does not name the memory limit: {err}"
    );
    assert!(
        err.contains("raise `memory` in pack.yaml"),
        "the error does not say what to do: {err}"
    );
    eprintln!("bomb: stopped after {:?}: {err}", duration(&exec));
}

#[test]
fn panic_fails_with_the_panic_message() {
    let d = hostile();
    let exec = run_hostile(&d, &["hostile.panic"]);
    assert_eq!(exec["status"], "failed", "{exec:#}");
    assert_eq!(exec["result"], Value::Null);
    let err = error(&exec);
    assert!(
        err.contains("panicked"),
        "the error does not say it panicked: {err}"
    );
    assert!(
        err.contains("plugin bug: index out of range"),
        "the error does not carry the panic message: {err}"
    );
    assert!(
        err.contains("src/lib.rs:"),
        "the error does not say where it panicked: {err}"
    );
}

#[test]
fn flood_is_stopped_at_the_output_cap() {
    let d = hostile();
    for mode in ["log", "stdout", "result"] {
        let param = format!("mode={mode}");
        let exec = run_hostile(&d, &["hostile.flood", &param]);
        assert_eq!(exec["status"], "failed", "mode={mode}: {exec:#}");
        assert_eq!(exec["result"], Value::Null, "mode={mode}");
        let err = error(&exec);
        assert!(
            err.contains("output cap of 1048576 bytes"),
            "mode={mode}: the error does not name the output cap: {err}"
        );
        assert!(
            err.contains("raise `output` in pack.yaml"),
            "mode={mode}: the error does not say what to do: {err}"
        );
        // 100 MB were produced; what is kept stays bounded by the caps
        // (logs, stdout and stderr are each capped).
        let kept: usize = exec["logs"]
            .as_array()
            .unwrap()
            .iter()
            .map(|l| l["message"].as_str().map_or(0, str::len))
            .sum();
        eprintln!(
            "flood mode={mode}: stopped after {:?}, {kept} bytes of logs kept: {err}",
            duration(&exec)
        );
        assert!(
            kept as u64 <= 3 * OUTPUT_CAP + 4096,
            "mode={mode}: {kept} bytes of logs were stored"
        );
    }
}

/// The file the escape plugin tries to create.
const ESCAPE_FILE: &str = "/tmp/drover-escape";

#[test]
fn escape_attempts_fail_inside_the_guest() {
    let d = hostile();
    let listener = TcpListener::bind("127.0.0.1:0").expect("listen on 127.0.0.1");
    listener.set_nonblocking(true).unwrap();
    let port = listener.local_addr().unwrap().port();
    if Path::new(ESCAPE_FILE).exists() {
        // Left by something else; without removing it the check below
        // would prove nothing.
        std::fs::remove_file(ESCAPE_FILE)
            .unwrap_or_else(|e| panic!("{ESCAPE_FILE} exists and cannot be removed: {e}"));
    }

    let exec = d.json(0, &["run", "hostile.escape", &format!("port={port}")]);
    assert_eq!(exec["status"], "succeeded", "{exec:#}");
    let result = exec["result"].as_object().expect("a result object");
    for key in ["read_passwd", "write_tmp", "read_dir_root", "tcp_connect"] {
        let outcome = result
            .get(key)
            .and_then(Value::as_str)
            .unwrap_or_else(|| panic!("no {key} in {result:?}"));
        assert!(
            outcome.starts_with("error: "),
            "the guest's {key} attempt did not fail: {outcome}"
        );
    }
    eprintln!("escape: {}", Value::Object(result.clone()));

    match listener.accept() {
        Err(e) if e.kind() == ErrorKind::WouldBlock => {}
        Ok((_, peer)) => panic!("the guest connected to the test's listener from {peer}"),
        Err(e) => panic!("accept on the test's listener: {e}"),
    }
    assert!(
        !Path::new(ESCAPE_FILE).exists(),
        "the guest created {ESCAPE_FILE}"
    );
    let stored = d.json(0, &["exec", "get", exec["id"].as_str().unwrap()]);
    assert_eq!(stored["status"], "succeeded");
    assert_eq!(stored["result"], exec["result"]);
    noop_still_works(&d);
}

#[test]
fn undeclared_import_is_refused_at_install() {
    let d = Drover::new();
    d.install(&["packs/core"]);
    let greedy = support::pack_dir("tests/packs/greedy");
    let out = d.expect(2, &["pack", "install", greedy.to_str().unwrap()]);
    let err = stderr(&out);
    assert!(
        err.contains("drover:plugin/nodes"),
        "the refusal does not name the undeclared import:\n{err}"
    );
    assert!(
        err.contains("\"undeclared\"") && err.contains("declares only [log]"),
        "the refusal does not name the plugin and what it declares:\n{err}"
    );
    assert!(
        err.contains("plugins.undeclared.capabilities"),
        "the refusal does not say what to do:\n{err}"
    );

    // Nothing recorded: no pack, no execution, no audit record.
    let packs = d.json(0, &["pack", "list"]);
    let names: Vec<&str> = packs
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|p| p["name"].as_str())
        .collect();
    assert_eq!(names, ["core"], "{packs:#}");
    d.expect(2, &["pack", "show", "greedy"]);
    let out = d.expect(2, &["run", "greedy.undeclared"]);
    assert!(
        stderr(&out).contains("no pack named \"greedy\""),
        "{}",
        stderr(&out)
    );
    assert_eq!(d.json(0, &["exec", "list"]), json!([]));
    assert_eq!(d.json(0, &["audit", "list", "--pack", "greedy"]), json!([]));
    // The change log has core's install, and no trace of the refused pack.
    let changes = d.json(0, &["changes", "list"]);
    let subjects: Vec<&str> = changes
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|c| c["subject"].as_str())
        .collect();
    assert_eq!(subjects, ["core@0.1.0"], "{changes:#}");
    noop_still_works(&d);
}
