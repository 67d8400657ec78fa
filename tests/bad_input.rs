//! Bad input is refused before anything happens, with a message that says
//! where the problem is: a broken `pack.yaml` names the file, line and
//! field; an unknown action, pack or parameter names it and what exists
//! instead; a corrupt, truncated or non-component `.wasm` names the file;
//! a component importing more than its manifest declares is refused. Every
//! refusal exits 2, and leaves the installed packs (and stored executions)
//! exactly as they were. Real binary, real components, fresh database per
//! test.

mod support;

use std::path::{Path, PathBuf};

use serde_json::Value;
use support::{Drover, edit_manifest, stderr};

/// A drover with `packs/core` installed.
fn with_core() -> Drover {
    let d = Drover::new();
    d.install(&["packs/core"]);
    d
}

/// A copy of `packs/core` renamed to `name`, so a half-finished install
/// would show up as a new pack in `pack list`.
fn core_copy(d: &Drover, name: &str) -> PathBuf {
    let dir = d.copy_pack("packs/core", name);
    edit_manifest(&dir, "name: core", &format!("name: {name}"));
    dir
}

/// Runs `pack install dir`, asserts exit 2 and that the installed packs did
/// not change; returns stderr.
fn refused_install(d: &Drover, dir: &Path) -> String {
    let before = d.json(0, &["pack", "list"]);
    let out = d.expect(2, &["pack", "install", dir.to_str().unwrap()]);
    assert_eq!(
        d.json(0, &["pack", "list"]),
        before,
        "a refused install changed the installed packs"
    );
    stderr(&out)
}

/// Runs an action, asserts exit 2 and that no execution was stored;
/// returns stderr.
fn refused_run(d: &Drover, args: &[&str]) -> String {
    let mut all = vec!["run"];
    all.extend_from_slice(args);
    let out = d.expect(2, &all);
    assert_eq!(
        d.json(0, &["exec", "list"]),
        Value::Array(vec![]),
        "a refused run stored an execution"
    );
    stderr(&out)
}

#[test]
fn yaml_syntax_error_names_the_file_and_line() {
    let d = with_core();
    let dir = core_copy(&d, "broken");
    edit_manifest(
        &dir,
        "description: Built-in actions every drover has.",
        "description: [Built-in",
    );
    let err = refused_install(&d, &dir);
    let file = dir.join("pack.yaml");
    // The parser notices the unclosed `[` on line 3 or 4.
    let at_line = |n: u32| err.contains(&format!("{}:{n}:", file.display()));
    assert!(at_line(3) || at_line(4), "{err}");
    assert!(err.contains("invalid YAML"), "{err}");
}

#[test]
fn unknown_manifest_field_names_the_line_and_field() {
    let d = with_core();
    let dir = core_copy(&d, "typo");
    edit_manifest(&dir, "    timeout: 30s", "    timout: 30s");
    let err = refused_install(&d, &dir);
    let file = dir.join("pack.yaml");
    assert!(
        err.contains(&format!("{}:41:5: plugins.sleep.timout", file.display())),
        "{err}"
    );
    assert!(err.contains("did you mean \"timeout\""), "{err}");
}

#[test]
fn bad_version_names_the_line_and_field() {
    let d = with_core();
    let dir = core_copy(&d, "badver");
    edit_manifest(&dir, "version: 0.1.0", "version: 1.x");
    let err = refused_install(&d, &dir);
    let file = dir.join("pack.yaml");
    assert!(
        err.contains(&format!(
            "{}:2:10: version: invalid version \"1.x\"",
            file.display()
        )),
        "{err}"
    );
}

#[test]
fn unknown_action_lists_the_packs_actions() {
    let d = with_core();
    let err = refused_run(&d, &["core.nope"]);
    assert!(err.contains("no action \"nope\""), "{err}");
    assert!(err.contains("noop, echo, fail, sleep, http"), "{err}");
}

#[test]
fn unknown_pack_lists_the_installed_packs() {
    let d = with_core();
    let err = refused_run(&d, &["nope.echo"]);
    assert!(err.contains("no pack named \"nope\""), "{err}");
    assert!(err.contains("installed: core"), "{err}");
    let empty = Drover::new();
    let out = empty.expect(2, &["run", "core.echo", "message=hi"]);
    assert!(
        stderr(&out).contains("drover pack install packs/core"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn parameter_of_the_wrong_type_is_named() {
    let d = with_core();
    let err = refused_run(&d, &["core.sleep", "seconds=abc"]);
    assert!(err.contains("core.sleep: parameter \"seconds\""), "{err}");
    assert!(err.contains("number"), "{err}");
}

#[test]
fn missing_required_parameter_is_named() {
    let d = with_core();
    let err = refused_run(&d, &["core.echo"]);
    assert!(
        err.contains("missing required parameter \"message\""),
        "{err}"
    );
}

#[test]
fn unknown_parameter_is_named() {
    let d = with_core();
    let err = refused_run(&d, &["core.echo", "message=hi", "colour=red"]);
    assert!(err.contains("unknown parameter \"colour\""), "{err}");
    assert!(err.contains("message (string, required)"), "{err}");
}

#[test]
fn garbage_component_is_refused_naming_the_file() {
    let d = with_core();
    let dir = core_copy(&d, "garbage");
    let file = dir.join("components/core_http.wasm");
    std::fs::write(&file, b"this is not webassembly at all\n").unwrap();
    let err = refused_install(&d, &dir);
    assert!(
        err.contains(&format!(
            "{} is not a WebAssembly component",
            file.display()
        )),
        "{err}"
    );
}

#[test]
fn truncated_component_is_refused_naming_the_file() {
    let d = with_core();
    let dir = core_copy(&d, "truncated");
    let file = dir.join("components/core_http.wasm");
    let bytes = std::fs::read(&file).unwrap();
    std::fs::write(&file, &bytes[..bytes.len() / 2]).unwrap();
    let err = refused_install(&d, &dir);
    assert!(
        err.contains(&format!("{}: not a valid component", file.display())),
        "{err}"
    );

    // A refused reinstall of an installed version keeps the old one working.
    let same = d.copy_pack("packs/core", "core-truncated");
    std::fs::copy(&file, same.join("components/core_http.wasm")).unwrap();
    refused_install(&d, &same);
    d.expect(0, &["run", "core.echo", "message=still here"]);
}

#[test]
fn core_module_is_refused_as_not_a_component() {
    let d = with_core();
    let dir = core_copy(&d, "module");
    let file = dir.join("components/core_echo.wasm");
    std::fs::write(&file, b"\0asm\x01\0\0\0").unwrap();
    let err = refused_install(&d, &dir);
    assert!(
        err.contains(&format!(
            "{} is not a WebAssembly component",
            file.display()
        )),
        "{err}"
    );
    assert!(
        err.contains("core WebAssembly module, not a component"),
        "{err}"
    );
}

#[test]
fn component_importing_undeclared_interfaces_is_refused() {
    let d = with_core();
    let dir = support::pack_dir("tests/packs/greedy");
    let err = refused_install(&d, &dir);
    assert!(err.contains("greedy_undeclared.wasm"), "{err}");
    assert!(err.contains("drover:plugin/nodes"), "{err}");
    assert!(err.contains("declares only [log]"), "{err}");
    d.expect(2, &["run", "greedy.undeclared"]);
}
