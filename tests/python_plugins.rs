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

use serde_json::json;
use support::ports::Port;
use support::{Drover, copy_dir, edit_file, repo, stderr, stdout};

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

#[test]
fn the_python_port_of_ping_answers_as_the_rust_action() {
    let port = Port::build("batchops_py");
    port.denied_alike();
    port.grant_both();
    port.reachable_alike();
    port.unreachable_alike();
    port.imports_only_what_it_declares();
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
