//! `drover pack test` through the built binary: the batchops pack's own
//! tests pass (rule tests and dry runs of its workflow on fixture nodes)
//! without the user's database being created; a pack whose test fails
//! shows the expected-vs-got difference and exits 1; hostile and broken
//! test files are refused with exit 2, naming the file, line and field.
//!
//! Install-time hygiene, observed through the compiled cache and the
//! install report rather than by timing: a refused install leaves no
//! compiled file behind, plugins sharing one component compile it once
//! (and a second install of the same digests compiles nothing), `drover
//! gc` removes only compiled files no installed version uses, and
//! components are found again after a kill -9 or a lost cache.

mod support;

use std::path::{Path, PathBuf};

use serde_json::Value;
use support::*;

/// A copy of batchops (with its built components) in the test's directory.
fn batchops_copy(d: &Drover) -> PathBuf {
    d.copy_pack("packs/batchops", "batchops")
}

fn write(path: &Path, text: &str) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, text).unwrap();
}

#[test]
fn the_batchops_tests_pass_on_a_scratch_database() {
    let d = Drover::new();
    let dir = pack_dir("packs/batchops");
    let out = d.expect(0, &["pack", "test", dir.to_str().unwrap()]);
    let text = stdout(&out);
    assert!(text.contains("PASS tests/rules.yaml: "), "{text}");
    assert!(text.contains("PASS tests/remediation.yaml: "), "{text}");
    assert!(!text.contains("FAIL"), "{text}");
    assert!(text.trim_end().ends_with(" 0 failed"), "{text}");
    let report = d.json(0, &["pack", "test", dir.to_str().unwrap()]);
    assert_eq!(report["pack"], "batchops@0.1.0");
    assert_eq!(report["failed"], 0);
    assert!(report["passed"].as_u64().unwrap() >= 5, "{report:#}");
    // The user's database was never opened (nor created).
    assert!(!d.db().exists(), "pack test created {}", d.db().display());
    // --filter runs only the tests whose name contains the text.
    let some = d.json(
        0,
        &[
            "pack",
            "test",
            dir.to_str().unwrap(),
            "--filter",
            "maintenance",
        ],
    );
    assert_eq!(some["passed"], 1, "{some:#}");
}

#[test]
fn a_failing_test_shows_expected_and_got_and_exits_1() {
    let d = Drover::new();
    let dir = batchops_copy(&d);
    write(
        &dir.join("tests/wrong.yaml"),
        r#"fixtures:
  nodes:
    - {name: b1s01, labels: {cluster: batch, rack: r01}, hung: true}
    - {name: b1s02, labels: {cluster: batch, rack: r01}}
    - {name: b1s03, labels: {cluster: batch, rack: r01}}
    - {name: b1s04, labels: {cluster: batch, rack: r01}}
grants:
  - {capability: probe, scope: "*"}
  - {capability: nodes.health, scope: "cluster=batch"}
  - {capability: command, scope: "cluster=batch: uptime"}
tests:
  - name: the rule renders another node
    trigger:
      type: batchops.no_contact
      payload: {node: b7s01, since: "2026-01-31T11:48:00Z"}
    expect:
      matches:
        - rule: on_no_contact
          parameters: {node: b7s99}
  - name: a rule that does not match
    trigger:
      type: batchops.no_contact
      payload: {node: web01}
    expect:
      matches:
        - rule: on_no_contact
  - name: a reboot without its grant
    run: handle_no_contact
    parameters: {node: b1s01}
    expect:
      plan:
        - {capability: nodes.health, target: b1s01}
        - {capability: nodes.reboot, target: b1s01, decision: allowed}
"#,
    );
    let out = d.expect(1, &["pack", "test", dir.to_str().unwrap()]);
    let text = stdout(&out);
    assert!(
        text.contains("FAIL tests/wrong.yaml: the rule renders another node"),
        "{text}"
    );
    assert!(
        text.contains(
            "matches[batchops.on_no_contact].parameters.node: expected \"b7s99\", got \"b7s01\""
        ),
        "{text}"
    );
    // Why the rule did not match: its failing criterion.
    assert!(
        text.contains("matches[batchops.on_no_contact]: expected \"a match\", got \"no match\""),
        "{text}"
    );
    assert!(text.contains("criterion trigger.node"), "{text}");
    // The dry run's plan: denied (no grant), shown as got.
    assert!(
        text.contains("FAIL tests/wrong.yaml: a reboot without its grant"),
        "{text}"
    );
    assert!(
        text.contains("plan[1].decision: expected \"allowed\", got \"denied\""),
        "{text}"
    );
    assert!(text.contains("got plan:"), "{text}");
    // The other files still pass.
    assert!(text.contains("PASS tests/rules.yaml"), "{text}");
    let report = d.json(1, &["pack", "test", dir.to_str().unwrap()]);
    assert_eq!(report["failed"], 3, "{report:#}");
    let wrong: &Value = report["files"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["file"] == "tests/wrong.yaml")
        .unwrap();
    assert_eq!(
        wrong["tests"][0]["differences"][0]["path"],
        "matches[batchops.on_no_contact].parameters.node"
    );
}

/// Runs `pack test` on batchops with `tests/bad.yaml` = `text`; asserts
/// exit 2 and returns stderr.
fn refused(d: &Drover, dir: &Path, text: &str) -> String {
    write(&dir.join("tests/bad.yaml"), text);
    let out = d.expect(2, &["pack", "test", dir.to_str().unwrap()]);
    assert!(stdout(&out).is_empty(), "{}", stdout(&out));
    stderr(&out)
}

#[test]
fn hostile_and_broken_test_files_are_refused_with_exit_2() {
    let d = Drover::new();
    let dir = batchops_copy(&d);
    // A misspelt key: file, line, field and the valid keys.
    let e = refused(
        &d,
        &dir,
        "tests:\n  - name: a\n    run: facts\n    expect:\n      stauts: succeeded\n",
    );
    assert!(e.contains("tests/bad.yaml:5"), "{e}");
    assert!(e.contains("stauts") && e.contains("status"), "{e}");
    // A wrong type.
    let e = refused(
        &d,
        &dir,
        "tests:\n  - name: a\n    run: facts\n    parameters: [node]\n    expect: {status: succeeded}\n",
    );
    assert!(
        e.contains("tests/bad.yaml:4") && e.contains("parameters"),
        "{e}"
    );
    // Another pack's action, and a path where a name goes.
    let e = refused(
        &d,
        &dir,
        "tests:\n  - name: a\n    run: core.local\n    expect: {status: succeeded}\n",
    );
    assert!(e.contains("tests/bad.yaml:3: tests[0].run:"), "{e}");
    assert!(e.contains("its own actions"), "{e}");
    let e = refused(
        &d,
        &dir,
        "tests:\n  - name: a\n    run: ../../etc/passwd\n    expect: {status: succeeded}\n",
    );
    assert!(e.contains("tests/bad.yaml:3: tests[0].run:"), "{e}");
    // A grant the pack does not declare.
    let e = refused(
        &d,
        &dir,
        "grants:\n  - {capability: secrets, scope: \"*\"}\ntests:\n  - name: a\n    run: facts\n    expect: {status: succeeded}\n",
    );
    assert!(e.contains("tests/bad.yaml:2: grants[0]:"), "{e}");
    // A fixture node in a state that does not exist.
    let e = refused(
        &d,
        &dir,
        "fixtures:\n  nodes:\n    - {name: b1, state: sleeping}\ntests:\n  - name: a\n    run: facts\n    expect: {status: succeeded}\n",
    );
    assert!(
        e.contains("tests/bad.yaml:3") && e.contains("production"),
        "{e}"
    );
    // An alias bomb.
    let e = refused(
        &d,
        &dir,
        "a: &a [x,x,x,x,x,x,x,x,x,x]\nb: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a,*a]\n\
         c: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b,*b]\nd: &d [*c,*c,*c,*c,*c,*c,*c,*c,*c,*c]\n\
         e: &e [*d,*d,*d,*d,*d,*d,*d,*d,*d,*d]\nf: &f [*e,*e,*e,*e,*e,*e,*e,*e,*e,*e]\n\
         tests: [*f]\n",
    );
    assert!(e.contains("tests/bad.yaml"), "{e}");
    // A huge file.
    let e = refused(&d, &dir, &format!("# {}\n", "x".repeat(2 << 20)));
    assert!(e.contains("tests/bad.yaml") && e.contains("larger"), "{e}");
    // A symlink out of the pack, as a test file, then as the directory.
    std::fs::remove_file(dir.join("tests/bad.yaml")).unwrap();
    std::os::unix::fs::symlink("/etc/passwd", dir.join("tests/evil.yaml")).unwrap();
    let out = d.expect(2, &["pack", "test", dir.to_str().unwrap()]);
    let e = stderr(&out);
    assert!(
        e.contains("tests/evil.yaml") && e.contains("symbolic link"),
        "{e}"
    );
    std::fs::remove_file(dir.join("tests/evil.yaml")).unwrap();
    let outside = d.dir.path().join("outside");
    std::fs::create_dir_all(&outside).unwrap();
    std::fs::rename(dir.join("tests"), outside.join("tests")).unwrap();
    std::os::unix::fs::symlink(outside.join("tests"), dir.join("tests")).unwrap();
    let e = stderr(&d.expect(2, &["pack", "test", dir.to_str().unwrap()]));
    assert!(e.contains("not a directory"), "{e}");
    // Not a pack at all.
    let e = stderr(&d.expect(2, &["pack", "test", outside.to_str().unwrap()]));
    assert!(e.contains("pack.yaml"), "{e}");
    assert!(!d.db().exists());
}

// ----- install-time hygiene ----------------------------------------------

/// The compiled components in the test's cache (not the function cache
/// beside them).
fn compiled(d: &Drover) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(d.dir.path().join("cache"))
        .map(|rd| {
            rd.map(|e| e.unwrap().file_name().into_string().unwrap())
                .filter(|name| name.ends_with(".cwasm"))
                .collect()
        })
        .unwrap_or_default();
    names.sort();
    names
}

/// A pack `name` of five actions that all run core's echo component.
fn shared_pack(d: &Drover, name: &str, version: &str) -> PathBuf {
    let dir = d.dir.path().join("packs").join(name);
    std::fs::create_dir_all(dir.join("components")).unwrap();
    std::fs::copy(
        pack_dir("packs/core").join("components/core_echo.wasm"),
        dir.join("components/echo.wasm"),
    )
    .unwrap();
    let mut yaml = format!("name: {name}\nversion: {version}\ndescription: shared\nplugins:\n");
    for i in 1..=5 {
        yaml.push_str(&format!(
            "  echo{i}:\n    kind: action\n    description: echo\n    component: components/echo.wasm\n    \
             parameters: {{message: {{type: string, required: true}}}}\n    capabilities: [log]\n"
        ));
    }
    std::fs::write(dir.join("pack.yaml"), yaml).unwrap();
    dir
}

#[test]
fn plugins_sharing_a_component_compile_it_once_and_a_reinstall_compiles_nothing() {
    let d = Drover::new();
    let dir = shared_pack(&d, "shared", "0.1.0");
    let first = d.json(0, &["pack", "install", "--trusted", dir.to_str().unwrap()]);
    assert_eq!(first[0]["compiled"], 1, "{first:#}");
    assert_eq!(first[0]["plugins"].as_array().unwrap().len(), 5);
    assert_eq!(compiled(&d).len(), 1, "{:?}", compiled(&d));
    // The same digests again: a reinstall, another version, another pack.
    let again = d.json(0, &["pack", "install", "--trusted", dir.to_str().unwrap()]);
    assert_eq!(again[0]["compiled"], 0, "{again:#}");
    let other = shared_pack(&d, "other", "0.2.0");
    let other = d.json(
        0,
        &["pack", "install", "--trusted", other.to_str().unwrap()],
    );
    assert_eq!(other[0]["compiled"], 0, "{other:#}");
    assert_eq!(compiled(&d).len(), 1);
    let out = d.expect(0, &["run", "shared.echo3", "message=hi"]);
    assert!(stdout(&out).contains("hi"), "{}", stdout(&out));
}

#[test]
fn a_refused_install_leaves_no_compiled_file_behind() {
    let d = Drover::new();
    d.install(&["packs/core"]);
    let before = compiled(&d);
    assert!(!before.is_empty());
    // batchops with ping's probe capability taken away: the plugins
    // checked before it compile, then ping is refused.
    let dir = batchops_copy(&d);
    edit_manifest(
        &dir,
        "capabilities: [log, probe, nodes.health]",
        "capabilities: [log, nodes.health]",
    );
    let out = d.expect(2, &["pack", "install", dir.to_str().unwrap()]);
    assert!(stderr(&out).contains("probe"), "{}", stderr(&out));
    assert_eq!(compiled(&d), before, "the refused install left files");
}

#[test]
fn gc_removes_only_compiled_files_no_installed_version_uses() {
    let d = Drover::new();
    d.install(&["packs/core"]);
    let dir = shared_pack(&d, "shared", "0.1.0");
    d.expect(0, &["pack", "install", "--trusted", dir.to_str().unwrap()]);
    let used = compiled(&d);
    // The same version rebuilt with another component: the old digest is
    // no longer used by any installed version.
    std::fs::copy(
        pack_dir("packs/core").join("components/core_noop.wasm"),
        dir.join("components/echo.wasm"),
    )
    .unwrap();
    let edited = std::fs::read_to_string(dir.join("pack.yaml"))
        .unwrap()
        .replace("capabilities: [log]", "capabilities: []")
        .replace(
            "parameters: {message: {type: string, required: true}}",
            "parameters: {}",
        );
    std::fs::write(dir.join("pack.yaml"), edited).unwrap();
    let reinstall = d.json(0, &["pack", "install", "--trusted", dir.to_str().unwrap()]);
    // core's noop is compiled already: nothing new.
    assert_eq!(reinstall[0]["compiled"], 0, "{reinstall:#}");
    // Nothing is unused yet but the echo digest... which core.echo uses.
    let dry = d.json(0, &["gc", "--dry-run"]);
    assert_eq!(
        dry["compiled_cache"]["removed"],
        serde_json::json!([]),
        "{dry:#}"
    );
    // A stray file of an old engine and a dead digest: removed; a file
    // that is not the cache's: kept.
    let cache = d.dir.path().join("cache");
    let dead = format!(
        "{}-{}.cwasm",
        "d".repeat(64),
        used[0].split(['-', '.']).nth(1).unwrap()
    );
    std::fs::write(cache.join(&dead), b"old").unwrap();
    let stale = format!("{}-{}.cwasm", "e".repeat(64), "0".repeat(16));
    std::fs::write(cache.join(&stale), b"old").unwrap();
    std::fs::write(cache.join("README"), b"mine").unwrap();
    let dry = d.json(0, &["gc", "--dry-run"]);
    let mut would: Vec<String> = dry["compiled_cache"]["removed"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap().to_owned())
        .collect();
    would.sort();
    let mut expected = vec![dead.clone(), stale.clone()];
    expected.sort();
    assert_eq!(would, expected, "{dry:#}");
    assert!(cache.join(&dead).exists(), "a dry run removed a file");
    let done = d.json(0, &["gc"]);
    assert_eq!(
        done["compiled_cache"]["removed"].as_array().unwrap().len(),
        2
    );
    assert!(!cache.join(&dead).exists() && !cache.join(&stale).exists());
    assert!(cache.join("README").exists());
    // The functions compiles share: all used today, so all kept.
    let functions = &done["compiled_cache"]["functions"];
    assert_eq!(functions["removed"], 0, "{done:#}");
    assert!(functions["kept"].as_u64().unwrap() > 0, "{done:#}");
    assert!(cache.join("functions.sqlite").is_file());
    for f in &used {
        assert!(cache.join(f).exists(), "{f} is used and was removed");
    }
    let text = stdout(&d.expect(0, &["gc"]));
    assert!(
        text.contains("compiled components no installed version uses: 0 removed"),
        "{text}"
    );
    d.expect(0, &["run", "shared.echo1"]);
    d.expect(0, &["run", "core.echo", "message=still here"]);
}

#[test]
fn components_are_found_after_kill_9_and_a_lost_cache() {
    let d = Drover::new();
    d.install(&["packs/core"]);
    // A run killed while its component is loaded and running.
    let mut child = d
        .cmd()
        .args(["run", "core.sleep", "seconds=20"])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    std::thread::sleep(std::time::Duration::from_millis(500));
    // SIGKILL: no chance to clean anything up.
    child.kill().unwrap();
    child.wait().unwrap();
    let out = d.expect(0, &["run", "core.echo", "message=after kill"]);
    assert!(stdout(&out).contains("after kill"));
    // The whole cache gone: compiled again from the database.
    std::fs::remove_dir_all(d.dir.path().join("cache")).unwrap();
    let out = d.expect(0, &["run", "core.echo", "message=no cache"]);
    assert!(stdout(&out).contains("no cache"));
    assert!(!compiled(&d).is_empty());
}
