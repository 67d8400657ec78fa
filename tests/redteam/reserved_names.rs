//! Hole 4: names and scopes are not capabilities.
//!
//! A pack's kv keys used to live in the scope named after the pack, and
//! rules read the scope `system` as `kv.*`: a pack *named* `system` wrote
//! what rules read, with no grant. Here it flips the operator's
//! maintenance flag for b7s01, and `batchops.on_no_contact` would then
//! remediate a node in maintenance. drover refuses reserved pack names at
//! install, keeps every pack's keys under `pack:NAME`, and lets a plugin
//! reach another scope only through a `kv` grant, audited.

use serde_json::Value;

use crate::support::{Drover, repo, stderr, stdout};

/// batchops installed and b7s01 in maintenance, as an operator sets it.
fn in_maintenance() -> Drover {
    let d = Drover::new();
    d.install(&["packs/core", "packs/batchops"]);
    d.expect(0, &["kv", "set", "maintenance.b7s01", "true"]);
    assert_eq!(
        rule_verdict(&d),
        1,
        "the rule must not match a node in maintenance"
    );
    d
}

/// Exit code of `drover rule test` for batchops.on_no_contact against a
/// no-contact report of b7s01, on the live kv store: 0 matches (the node
/// would be remediated), 1 does not.
fn rule_verdict(d: &Drover) -> i32 {
    let out = d.run(&[
        "rule",
        "test",
        "--rule-ref",
        "batchops.on_no_contact",
        "--trigger-instance",
        "packs/batchops/tests/no_contact.json",
    ]);
    out.status.code().unwrap_or(-1)
}

fn flag(d: &Drover) -> String {
    stdout(&d.expect(0, &["kv", "get", "maintenance.b7s01"]))
        .trim()
        .to_owned()
}

fn redteam_pack(name: &str) -> String {
    let dir = repo().join("tests/redteam/packs").join(name);
    assert!(
        dir.join("components").is_dir(),
        "{} has no components: run `cargo xtask plugins`",
        dir.display()
    );
    dir.to_str().unwrap().to_owned()
}

#[test]
fn a_pack_named_system_cannot_flip_a_maintenance_flag() {
    let d = in_maintenance();
    let install = d.run(&["pack", "install", &redteam_pack("system")]);
    if install.status.success() {
        // What an operator who reviewed the harmless counter would do.
        d.run(&[
            "pack",
            "promote",
            "system@0.1.0",
            "--reason",
            "test: promote",
        ]);
        d.run(&["run", "system.count", "key=maintenance.b7s01"]);
    }
    assert_eq!(
        flag(&d),
        "true",
        "a pack named `system` rewrote the operator's maintenance flag"
    );
    assert_eq!(
        rule_verdict(&d),
        1,
        "batchops.on_no_contact would now remediate b7s01, which is in maintenance"
    );

    // Refused at install, with the line, the field and what to do.
    assert_eq!(install.status.code(), Some(2), "{}", stdout(&install));
    let err = stderr(&install);
    assert!(
        err.contains("pack.yaml:8:1: name: \"system\" is reserved (the kv scope rules read"),
        "{err}"
    );
    assert!(err.contains("choose another name"), "{err}");
    let packs = d.json(0, &["pack", "list"]);
    assert!(
        packs
            .as_array()
            .unwrap()
            .iter()
            .all(|p| p["name"] != "system"),
        "{packs}"
    );
}

#[test]
fn every_reserved_name_is_refused() {
    let d = Drover::new();
    for name in ["system", "user", "drover", "st2", "st2kv", "kv"] {
        let dir = d.copy_pack("tests/redteam/packs/maint", name);
        crate::support::edit_manifest(&dir, "name: maint", &format!("name: {name}"));
        let out = d.expect(2, &["pack", "install", dir.to_str().unwrap()]);
        assert!(
            stderr(&out).contains(&format!("name: \"{name}\" is reserved")),
            "{name}: {}",
            stderr(&out)
        );
    }
}

#[test]
fn a_packs_own_keys_live_under_pack_and_rules_never_read_them() {
    let d = in_maintenance();
    d.install(&["tests/redteam/packs/maint"]);
    d.expect(
        0,
        &[
            "pack",
            "promote",
            "maint@0.1.0",
            "--reason",
            "test: promote",
        ],
    );
    let exec = d.json(0, &["run", "maint.count", "key=maintenance.b7s01"]);
    assert_eq!(exec["result"]["count"], 1, "{exec}");

    assert_eq!(flag(&d), "true");
    assert_eq!(rule_verdict(&d), 1);
    let own = d.expect(
        0,
        &["kv", "get", "maintenance.b7s01", "--scope", "pack:maint"],
    );
    assert_eq!(stdout(&own).trim(), "1");

    // A bare pack name is no scope: the operator is told the right one.
    let out = d.expect(2, &["kv", "get", "maintenance.b7s01", "--scope", "maint"]);
    assert!(stderr(&out).contains("`pack:maint`"), "{}", stderr(&out));
}

fn reach(d: &Drover, code: i32, op: &str, value: Option<&str>) -> Value {
    let mut args = vec![
        "run".to_owned(),
        "kvreach.reach".to_owned(),
        format!("op={op}"),
        "scope=system".to_owned(),
        "key=maintenance.b7s01".to_owned(),
    ];
    if let Some(v) = value {
        args.push(format!("value={v}"));
    }
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    d.json(code, &args)
}

fn audit_of(d: &Drover, exec: &Value) -> Vec<Value> {
    let id = exec["id"].as_str().unwrap();
    d.json(0, &["audit", "list", "--exec", id])
        .as_array()
        .unwrap()
        .clone()
}

#[test]
fn another_scope_takes_a_kv_grant_and_every_use_is_audited() {
    let d = in_maintenance();
    d.expect(0, &["pack", "install", &redteam_pack("kvreach")]);
    d.expect(
        0,
        &[
            "pack",
            "promote",
            "kvreach@0.1.0",
            "--reason",
            "test: promote",
        ],
    );

    // No grant: refused, audited, nothing written.
    let exec = reach(&d, 1, "set", Some("false"));
    assert_eq!(exec["status"], "denied", "{exec}");
    let error = exec["error"].as_str().unwrap();
    assert!(
        error.contains(
            "no grant of kv to kvreach@0.1.0; an admin can run: drover grant add \
             kvreach@0.1.0 kv --scope 'write system:maintenance.b7s01'"
        ),
        "{error}"
    );
    let audit = audit_of(&d, &exec);
    assert_eq!(audit.len(), 1, "{audit:?}");
    assert_eq!(audit[0]["capability"], "kv");
    assert_eq!(audit[0]["target"], "system:maintenance.b7s01");
    assert_eq!(audit[0]["decision"], "denied");
    assert_eq!(flag(&d), "true");

    // A read grant reads, and still does not write.
    let read = d.grant("kvreach@0.1.0", "kv", "system:maintenance.*");
    let exec = reach(&d, 0, "get", None);
    assert_eq!(exec["result"]["value"], "true", "{exec}");
    assert_eq!(audit_of(&d, &exec)[0]["decision"], "allowed");
    let exec = reach(&d, 1, "set", Some("false"));
    assert_eq!(
        exec["error"],
        format!(
            "denied: writing system:maintenance.b7s01 is outside the granted scope of kv: \
             'system:maintenance.*' (grant {read})"
        )
    );
    assert_eq!(flag(&d), "true");
    assert_eq!(rule_verdict(&d), 1);

    // Only an explicit write grant writes.
    d.grant("kvreach@0.1.0", "kv", "write system:maintenance.*");
    let exec = reach(&d, 0, "set", Some("false"));
    assert_eq!(exec["result"]["value"], "false", "{exec}");
    assert_eq!(flag(&d), "false");

    // Scopes that are not scopes are refused as invalid.
    let exec = d.json(
        1,
        &["run", "kvreach.reach", "op=get", "scope=batchops", "key=x"],
    );
    assert!(
        exec["error"].as_str().unwrap().contains("`pack:batchops`"),
        "{exec}"
    );
}
