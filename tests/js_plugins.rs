//! JavaScript plugins end to end through the real binary: `drover pack new
//! --lang js` → `drover pack build` (componentize-js against a world
//! narrowed to the plugin's capabilities) → `drover pack test` → `drover
//! pack install` (the install check, unchanged) → `drover run`, dry and
//! real; a thrown error becoming a failed execution with its stack; the
//! JavaScript port of `batchops.ping` (examples/batchops_js) against the
//! Rust original on the same inputs; an undeclared host interface refused
//! at build; a missing toolchain; and a spinning and a memory-hungry
//! JavaScript plugin stopped by the deadline and the memory cap.
//!
//! componentize-js is found where `cargo xtask test` installs it
//! (`~/.cache/drover/npm`, see xtask/src/peers.rs). Each JavaScript
//! component takes ~11 s to build and ~6 s to compile at install.

mod support;

use std::path::Path;
use std::time::Duration;

use serde_json::{Value, json};
use support::ports::Port;
use support::{Drover, copy_dir, edit_file, edit_manifest, repo, stderr, stdout};

/// `drover pack build DIR`, asserting it succeeded.
fn build(d: &Drover, dir: &Path) {
    d.expect(0, &["pack", "build", dir.to_str().unwrap()]);
}

/// `drover pack new NAME --lang js` in the test's directory.
fn new_js(d: &Drover, name: &str) -> std::path::PathBuf {
    let dir = d.dir.path().join(name);
    let out = d.expect(
        0,
        &[
            "pack",
            "new",
            name,
            "--lang",
            "js",
            "--dir",
            dir.to_str().unwrap(),
        ],
    );
    assert!(
        stdout(&out).contains("actions/hello.js"),
        "{}",
        stdout(&out)
    );
    dir
}

#[test]
fn a_new_js_pack_builds_tests_installs_and_runs() {
    let d = Drover::new();
    let dir = new_js(&d, "hellojs");

    // The author adds a failure path: an error thrown and left uncaught.
    edit_file(
        &dir.join("actions/hello.js"),
        "  const greeting = `hello, ${params.name}`;\n",
        "  if (params.name === \"boom\") {\n    \
         throw new RangeError(\"no greeting for boom\");\n  }\n  \
         const greeting = `hello, ${params.name}`;\n",
    );
    build(&d, &dir);
    assert!(dir.join("components/hello.wasm").is_file());

    // The test the scaffold wrote passes as generated.
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
    let exec = d.json(0, &["run", "hellojs.hello", "name=world"]);
    assert_eq!(exec["status"], "succeeded", "{exec}");
    assert_eq!(
        exec["result"],
        json!({"greeting": "hello, world", "dry_run": true})
    );

    d.expect(0, &["pack", "promote", "hellojs", "--reason", "reviewed"]);
    let exec = d.json(0, &["run", "hellojs.hello", "name=world"]);
    assert_eq!(
        exec["result"],
        json!({"greeting": "hello, world", "dry_run": false})
    );
    assert_eq!(exec["logs"][0]["level"], "info", "{exec}");
    assert_eq!(exec["logs"][0]["message"], "hello, world", "{exec}");

    // A thrown error is a failed execution carrying the stack, not a trap.
    let exec = d.json(1, &["run", "hellojs.hello", "name=boom"]);
    assert_eq!(exec["status"], "failed", "{exec}");
    let error = exec["error"].as_str().unwrap().to_owned();
    for want in ["uncaught RangeError: no greeting for boom", "hello.js:11"] {
        assert!(error.contains(want), "{want:?} not in {error}");
    }
    assert!(!error.contains("drover.js"), "the SDK's frame: {error}");
    assert!(!error.contains("trap"), "{error}");
}

#[test]
fn the_js_port_of_ping_answers_as_the_rust_action() {
    let port = Port::build("batchops_js");
    port.denied_alike();
    port.grant_both();
    let (rust, js) = port.reachable_alike();
    // The same logs (the health report refused the same way), but for when.
    let logs = |r: &Value| -> Vec<(Value, Value)> {
        r["logs"]
            .as_array()
            .unwrap()
            .iter()
            .map(|l| (l["level"].clone(), l["message"].clone()))
            .collect()
    };
    assert_eq!(logs(&js), logs(&rust), "{js}");
    port.unreachable_alike();
    port.imports_only_what_it_declares();
}

#[test]
fn an_undeclared_host_interface_fails_the_build() {
    let d = Drover::new();
    let dir = new_js(&d, "sneaky");
    edit_file(
        &dir.join("actions/hello.js"),
        "import { action, log } from \"drover\";\n",
        "import { action, log,\n  http } from \"drover\";\n",
    );
    let out = d.expect(2, &["pack", "build", dir.to_str().unwrap()]);
    let err = stderr(&out);
    assert!(
        err.contains(
            "actions/hello.js:7: import { http } from \"drover\": plugin hello does not \
             declare the `http` capability; add http to plugins.hello.capabilities in \
             pack.yaml, or drop the import"
        ),
        "{err}"
    );
    assert!(!dir.join("components/hello.wasm").exists());

    // Not declaring what the JavaScript runtime imports is named too.
    edit_file(
        &dir.join("actions/hello.js"),
        "import { action, log,\n  http } from \"drover\";\n",
        "import { action, log } from \"drover\";\n",
    );
    edit_manifest(
        &dir,
        "capabilities: [log, wasi:filesystem]",
        "capabilities: [log]",
    );
    let out = d.expect(2, &["pack", "build", dir.to_str().unwrap()]);
    let err = stderr(&out);
    assert!(
        err.contains(
            "plugins.hello.capabilities: a JavaScript plugin's runtime imports wasi:filesystem"
        ) && err.contains("add wasi:filesystem to its capabilities"),
        "{err}"
    );
}

#[test]
fn a_missing_toolchain_is_named_with_its_install_command() {
    let d = Drover::new();
    let dir = new_js(&d, "notool");
    let empty = d.dir.path().join("empty-path");
    std::fs::create_dir(&empty).unwrap();
    let build = |env: &[(&str, &Path)]| {
        let mut cmd = d.cmd();
        cmd.env("PATH", &empty)
            .env("HOME", &empty)
            .env_remove("DROVER_COMPONENTIZE_JS");
        for (k, v) in env {
            cmd.env(k, v);
        }
        let out = cmd
            .args(["pack", "build", dir.to_str().unwrap()])
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
        stderr(&out).trim().to_owned()
    };
    let install = "install it with `npm install --prefix ~/.cache/drover/npm \
                   @bytecodealliance/componentize-js@0.23.0`";
    assert_eq!(
        build(&[]),
        format!(
            "drover: error: cannot build the pack in {}: plugin hello needs componentize-js, \
             which is not installed (not in DROVER_COMPONENTIZE_JS, node_modules/.bin beside \
             the pack, {}/.cache/drover/npm/node_modules/.bin/componentize-js or PATH): \
             {install}",
            dir.display(),
            empty.display()
        )
    );
    // A variable naming something that is not a program says so.
    let bogus = d.dir.path().join("no-such-componentize-js");
    assert_eq!(
        build(&[("DROVER_COMPONENTIZE_JS", &bogus)]),
        format!(
            "drover: error: cannot build the pack in {}: plugin hello needs componentize-js, \
             which is not installed (DROVER_COMPONENTIZE_JS={} is not an executable file): \
             {install}",
            dir.display(),
            bogus.display()
        )
    );
}

/// A JavaScript plugin that never returns is stopped at its deadline, and
/// one that allocates forever by the memory cap: the components' language
/// changes nothing about the sandbox (tests/hostile.rs covers Rust ones).
#[test]
fn a_spinning_or_greedy_js_plugin_is_stopped() {
    let d = Drover::new();
    let dir = new_js(&d, "hostilejs");
    let manifest = dir.join("pack.yaml");
    let mut text = std::fs::read_to_string(&manifest).unwrap();
    text.push_str(
        "\n  spin:\n    kind: action\n    source: actions/spin.js\n    \
         component: components/spin.wasm\n    timeout: 1s\n    parameters: {}\n    \
         capabilities: [wasi:filesystem]\n\
         \n  bomb:\n    kind: action\n    source: actions/bomb.js\n    \
         component: components/bomb.wasm\n    memory: 32MiB\n    parameters: {}\n    \
         capabilities: [wasi:filesystem]\n",
    );
    std::fs::write(&manifest, text).unwrap();
    std::fs::write(
        dir.join("actions/spin.js"),
        "import { action } from \"drover\";\naction(() => { for (;;) {} });\n",
    )
    .unwrap();
    std::fs::write(
        dir.join("actions/bomb.js"),
        "import { action } from \"drover\";\n\
         action(() => {\n  const hoard = [];\n  \
         for (;;) hoard.push(new Array(1 << 16).fill(hoard.length));\n});\n",
    )
    .unwrap();
    build(&d, &dir);
    d.expect(0, &["pack", "install", "--trusted", dir.to_str().unwrap()]);

    let exec = d.json(1, &["run", "hostilejs.spin"]);
    assert_eq!(exec["status"], "timeout", "{exec}");
    let took = Duration::from_micros(exec["duration_us"].as_u64().unwrap());
    assert!(took < Duration::from_millis(1100), "stopped after {took:?}");
    let err = exec["error"].as_str().unwrap();
    assert!(err.contains("deadline") && err.contains("1s"), "{err}");

    let exec = d.json(1, &["run", "hostilejs.bomb"]);
    assert_eq!(exec["status"], "failed", "{exec}");
    let err = exec["error"].as_str().unwrap();
    assert!(err.contains("memory limit of 32 MiB exceeded"), "{err}");

    // And the process, the database and the other plugins are fine.
    let exec = d.json(0, &["run", "hostilejs.hello", "name=after"]);
    assert_eq!(exec["status"], "succeeded", "{exec}");
}

/// A JavaScript sensor (tests/packs/jssensor) through the same walk as the
/// Python one: `poll` on its interval with the manifest's config, counting
/// through kv, and `onMessage` for a signed webhook.
#[test]
fn a_js_sensor_polls_and_handles_webhook_messages() {
    let d = Drover::new();
    let dir = d.dir.path().join("jssensor");
    copy_dir(&repo().join("tests/packs/jssensor"), &dir);
    build(&d, &dir);
    support::server::a_sensor_polls_and_handles_webhooks(&d, &dir, "jssensor");
}
