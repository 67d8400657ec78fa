//! Python plugins end to end through the real binary: `drover pack new
//! --lang python` → `drover pack build` (componentize-py against a world
//! narrowed to the plugin's capabilities) → `drover pack install` (the
//! install check, unchanged) → `drover run`, dry and real; the Python port
//! of `batchops.ping` (examples/batchops_py) against the Rust original on
//! the same inputs; an exception becoming a failed execution with its
//! traceback; an undeclared host interface refused at build and at install;
//! and the Rust scaffold through the same commands.
//!
//! Each test builds at most one Python component (13-18 s) and installs it
//! once (~10 s compile): nextest runs tests in separate processes, so
//! nothing is shared between them.

mod support;

use std::path::Path;

use serde_json::{Value, json};
use support::{Drover, copy_dir, edit_file, edit_manifest, repo, stderr, stdout};

/// `drover pack build DIR`, asserting it succeeded.
fn build(d: &Drover, dir: &Path) {
    d.expect(0, &["pack", "build", dir.to_str().unwrap()]);
}

#[test]
fn a_new_python_pack_builds_installs_and_runs() {
    let d = Drover::new();
    let dir = d.dir.path().join("hellopy");
    let out = d.expect(
        0,
        &[
            "pack",
            "new",
            "hellopy",
            "--lang",
            "python",
            "--dir",
            dir.to_str().unwrap(),
        ],
    );
    assert!(
        stdout(&out).contains("actions/hello.py"),
        "{}",
        stdout(&out)
    );
    // Never overwrites.
    let again = d.expect(
        2,
        &[
            "pack",
            "new",
            "hellopy",
            "--lang",
            "python",
            "--dir",
            dir.to_str().unwrap(),
        ],
    );
    assert!(
        stderr(&again).contains("already exists"),
        "{}",
        stderr(&again)
    );

    // The author adds a failure path: an exception left uncaught.
    edit_file(
        &dir.join("actions/hello.py"),
        "    greeting = f\"hello, {params['name']}\"\n",
        "    if params[\"name\"] == \"boom\":\n        \
         raise ValueError(\"no greeting for boom\")\n    \
         greeting = f\"hello, {params['name']}\"\n",
    );
    build(&d, &dir);
    assert!(dir.join("components/hello.wasm").is_file());

    // The rule and test the scaffold wrote work as generated.
    let rule = d
        .cmd()
        .current_dir(&dir)
        .args([
            "rule",
            "test",
            "--rule",
            "rules/on_hello.yaml",
            "--trigger-instance",
            "tests/hello.json",
        ])
        .output()
        .unwrap();
    assert!(rule.status.success(), "{}{}", stdout(&rule), stderr(&rule));
    assert!(stdout(&rule).contains("world"), "{}", stdout(&rule));
    let tested = d
        .cmd()
        .current_dir(&dir)
        .args(["pack", "test"])
        .output()
        .unwrap();
    assert!(
        tested.status.success() && stdout(&tested).contains("2 passed"),
        "{}{}",
        stdout(&tested),
        stderr(&tested)
    );

    // Outside this drover's packs/: installed shadowed, so runs are dry.
    let out = d.expect(0, &["pack", "install", dir.to_str().unwrap()]);
    assert!(stdout(&out).contains("in shadow mode"), "{}", stdout(&out));
    assert!(
        stdout(&out).contains("drover:plugin/log"),
        "{}",
        stdout(&out)
    );
    let exec = d.json(0, &["run", "hellopy.hello", "name=world"]);
    assert_eq!(exec["status"], "succeeded", "{exec}");
    assert_eq!(
        exec["result"],
        json!({"greeting": "hello, world", "dry_run": true})
    );

    d.expect(0, &["pack", "promote", "hellopy", "--reason", "reviewed"]);
    let exec = d.json(0, &["run", "hellopy.hello", "name=world"]);
    assert_eq!(
        exec["result"],
        json!({"greeting": "hello, world", "dry_run": false})
    );
    assert_eq!(exec["logs"][0]["level"], "info", "{exec}");
    assert_eq!(exec["logs"][0]["message"], "hello, world", "{exec}");
    let exec = d.json(0, &["run", "--dry-run", "hellopy.hello", "name=dry"]);
    assert_eq!(
        exec["result"],
        json!({"greeting": "hello, dry", "dry_run": true})
    );

    // An exception is a failed execution carrying the traceback, not a crash.
    let exec = d.json(1, &["run", "hellopy.hello", "name=boom"]);
    assert_eq!(exec["status"], "failed", "{exec}");
    let error = exec["error"].as_str().unwrap().to_owned();
    for want in [
        "uncaught ValueError: no greeting for boom",
        "Traceback (most recent call last)",
        "hello.py",
        "hello.py\", line 14, in run",
    ] {
        assert!(error.contains(want), "{want:?} not in {error}");
    }
    assert!(
        !error.contains("drover/__init__.py"),
        "the SDK's frame: {error}"
    );
}

/// batchops (Rust) and batchops_py (its Python port) installed side by
/// side, the port built from examples/batchops_py.
fn port() -> (Drover, std::path::PathBuf) {
    let d = Drover::new();
    let dir = d.dir.path().join("batchops_py");
    copy_dir(&repo().join("examples/batchops_py"), &dir);
    let _ = std::fs::remove_dir_all(dir.join("components"));
    build(&d, &dir);
    d.install(&["packs/core", "packs/batchops"]);
    d.expect(0, &["pack", "install", "--trusted", dir.to_str().unwrap()]);
    (d, dir)
}

fn run_both(d: &Drover, code: i32, args: &[&str]) -> (Value, Value) {
    let mut rust = vec!["run", "batchops.ping"];
    rust.extend(args);
    let mut python = vec!["run", "batchops_py.ping"];
    python.extend(args);
    (d.json(code, &rust), d.json(code, &python))
}

#[test]
fn the_python_port_of_ping_answers_as_the_rust_action() {
    let (d, dir) = port();

    // Not granted: both fail with the host's refusal, the same way.
    let (rust, python) = run_both(&d, 1, &["node=b1", "host=127.0.0.1"]);
    assert_eq!(rust["status"], "denied", "{rust}");
    assert_eq!(python["status"], rust["status"], "{python}");
    // The same refusal, each naming its own pack.
    assert_eq!(
        python["error"]
            .as_str()
            .unwrap()
            .replace("batchops_py@", "batchops@"),
        rust["error"].as_str().unwrap()
    );

    // Loopback is reachable only when named by address; .invalid never resolves.
    d.grant("batchops@0.1.0", "probe", "127.0.0.1, nothing.invalid");
    d.grant("batchops_py@0.1.0", "probe", "127.0.0.1, nothing.invalid");
    // Reachable: the same result but for the measured latency.
    let (mut rust, mut python) = run_both(&d, 0, &["node=b1", "host=127.0.0.1"]);
    assert_eq!(rust["result"]["reachable"], true, "{rust}");
    for r in [&mut rust, &mut python] {
        let result = r["result"].as_object_mut().unwrap();
        assert!(result.remove("latency_ms").unwrap().is_u64(), "{result:?}");
        result.remove("detail");
    }
    assert_eq!(python["result"], rust["result"]);
    // Unreachable: the very same result.
    let (rust, python) = run_both(
        &d,
        0,
        &["node=b1", "host=nothing.invalid", "timeout_ms=300"],
    );
    assert_eq!(rust["result"]["reachable"], false, "{rust}");
    assert_eq!(python["status"], "succeeded", "{python}");
    assert_eq!(python["result"], rust["result"]);

    // The component as built imports exactly what it declares: a manifest
    // that stops declaring `probe` is refused at install, naming it.
    let edited = d.dir.path().join("edited");
    copy_dir(&dir, &edited);
    edit_manifest(&edited, "version: 0.1.0", "version: 0.1.1");
    edit_manifest(
        &edited,
        "capabilities: [log, probe, nodes.health,",
        "capabilities: [log, nodes.health,",
    );
    let out = d.expect(2, &["pack", "install", edited.to_str().unwrap()]);
    let err = stderr(&out);
    assert!(err.contains("imports drover:plugin/probe"), "{err}");
    assert!(err.contains("plugins.ping.capabilities"), "{err}");
}

#[test]
fn an_undeclared_host_interface_fails_the_build() {
    let d = Drover::new();
    let dir = d.dir.path().join("sneaky");
    d.expect(
        0,
        &[
            "pack",
            "new",
            "sneaky",
            "--lang",
            "python",
            "--dir",
            dir.to_str().unwrap(),
        ],
    );
    edit_file(
        &dir.join("actions/hello.py"),
        "from drover import action, log\n",
        "from drover import action, log, http\n",
    );
    let out = d.expect(2, &["pack", "build", dir.to_str().unwrap()]);
    let err = stderr(&out);
    assert!(err.contains("componentize-py failed"), "{err}");
    assert!(
        err.contains(
            "drover.http: this plugin does not declare the `http` capability; add http to its \
             capabilities in pack.yaml"
        ),
        "{err}"
    );
    assert!(!dir.join("components/hello.wasm").exists());
}

#[test]
fn a_missing_toolchain_is_named_with_its_install_command() {
    let d = Drover::new();
    let dir = d.dir.path().join("notool");
    d.expect(
        0,
        &["pack", "new", "notool", "--dir", dir.to_str().unwrap()],
    );
    let empty = d.dir.path().join("empty-path");
    std::fs::create_dir(&empty).unwrap();
    let out = d
        .cmd()
        .env("PATH", &empty)
        .args(["pack", "build", dir.to_str().unwrap()])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(
        stderr(&out).trim(),
        format!(
            "drover: error: cannot build the pack in {}: plugin hello needs componentize-py, \
             which is not installed (not on PATH): install it with `python3 -m pip install \
             componentize-py==0.25.1`",
            dir.display()
        )
    );
}

/// The Rust scaffold, through the same commands: cargo builds the crate
/// `source:` names (wit-bindgen from crates.io; about a minute the first
/// time, in the pack's own target/).
#[test]
fn a_new_rust_pack_builds_installs_and_runs() {
    let d = Drover::new();
    let dir = d.dir.path().join("hellors");
    d.expect(
        0,
        &[
            "pack",
            "new",
            "hellors",
            "--lang",
            "rust",
            "--dir",
            dir.to_str().unwrap(),
        ],
    );
    let out = d
        .cmd()
        .env_remove("CARGO_TARGET_DIR")
        .args(["pack", "build", dir.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}{}", stdout(&out), stderr(&out));
    assert!(
        stdout(&out).contains("built hello (rust)"),
        "{}",
        stdout(&out)
    );
    let out = d.expect(0, &["pack", "install", dir.to_str().unwrap()]);
    assert!(
        stdout(&out).contains("imports: drover:plugin/log@0.1.0\n"),
        "{}",
        stdout(&out)
    );
    let exec = d.json(0, &["run", "hellors.hello", "name=rust"]);
    assert_eq!(
        exec["result"],
        json!({"greeting": "hello, rust", "dry_run": true})
    );
}

/// A Python sensor (tests/packs/pysensor) under `drover serve`: `poll`
/// on its interval with the manifest's config, counting through kv, and
/// `on-message` for a signed webhook; componentize-py cannot link an export
/// named `poll` itself, so the build renames a stand-in (drover-build's
/// `rename`), and the component must still satisfy the unchanged install
/// check and host.
#[test]
fn a_python_sensor_polls_and_handles_webhook_messages() {
    let d = Drover::new();
    let dir = d.dir.path().join("pysensor");
    copy_dir(&repo().join("tests/packs/pysensor"), &dir);
    build(&d, &dir);
    support::server::a_sensor_polls_and_handles_webhooks(&d, &dir, "pysensor");
}
