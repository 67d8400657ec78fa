//! Grants end to end: an effect happens only when an operator granted the
//! capability to this exact pack version and component build, and the
//! target lies inside the grant's scope. A new version or a rebuilt
//! component must be reviewed and granted again; every refusal is audited.
//! Mistakes at `grant add`/`revoke` time are command errors (exit 2) with a
//! message saying what is wrong. Real binary, real components, fresh
//! database per test.

mod support;

use std::path::Path;

use serde_json::Value;
use support::{Drover, edit_manifest, stderr};

fn demo() -> Drover {
    let d = Drover::new();
    d.install(&["packs/demo"]);
    d
}

fn reboot(d: &Drover, code: i32, node: &str) -> Value {
    d.json(code, &["run", "demo.reboot_node", &format!("node={node}")])
}

/// Appends a custom section (id 0) named `name` to a component file: a
/// valid component with other bytes, hence another digest.
fn append_custom_section(file: &Path, name: &str, payload: &[u8]) {
    fn leb128(mut n: usize, out: &mut Vec<u8>) {
        loop {
            let byte = (n & 0x7f) as u8;
            n >>= 7;
            if n == 0 {
                out.push(byte);
                return;
            }
            out.push(byte | 0x80);
        }
    }
    let mut body = Vec::new();
    leb128(name.len(), &mut body);
    body.extend_from_slice(name.as_bytes());
    body.extend_from_slice(payload);
    let mut bytes = std::fs::read(file).unwrap();
    bytes.push(0x00);
    leb128(body.len(), &mut bytes);
    bytes.extend_from_slice(&body);
    std::fs::write(file, bytes).unwrap();
}

#[test]
fn ungranted_effect_is_denied_and_audited() {
    let d = demo();
    let exec = reboot(&d, 1, "n001");
    assert_eq!(exec["status"], "denied");
    let audit = d.json(0, &["audit", "list", "--decision", "denied"]);
    let rec = &audit[0];
    assert_eq!(rec["execution_id"], exec["id"]);
    assert_eq!(rec["capability"], "nodes.reboot");
    assert_eq!(rec["target"], "n001");
    assert!(
        rec["reason"]
            .as_str()
            .unwrap()
            .contains("no grant of nodes.reboot to demo@0.1.0"),
        "{rec}"
    );
}

#[test]
fn target_outside_the_scope_is_denied() {
    let d = demo();
    d.grant("demo@0.1.0", "nodes.reboot", "rack in (r01,r02)");
    // n081 is the first node of rack r03.
    let exec = reboot(&d, 1, "n081");
    assert!(
        exec["error"]
            .as_str()
            .unwrap()
            .contains("outside the granted scope"),
        "{exec}"
    );
    reboot(&d, 0, "n080");
}

#[test]
fn granted_effect_in_scope_is_allowed() {
    let d = demo();
    let id = d.grant("demo@0.1.0", "nodes.reboot", "name=n007");
    let exec = reboot(&d, 0, "n007");
    assert_eq!(exec["result"]["outcome"], "accepted");
    let audit = d.json(
        0,
        &["audit", "list", "--exec", exec["id"].as_str().unwrap()],
    );
    assert_eq!(audit[0]["decision"], "allowed");
    assert!(
        audit[0]["reason"].as_str().unwrap().contains(&id),
        "{audit}"
    );
}

/// A new version arrives shadowed: the granted version stays live until
/// the new one is promoted, and then the new one needs its own grant.
#[test]
fn version_bump_needs_a_new_grant() {
    let d = demo();
    d.grant("demo@0.1.0", "nodes.reboot", "*");
    reboot(&d, 0, "n001");

    let bumped = d.copy_pack("packs/demo", "demo-0.2.0");
    edit_manifest(&bumped, "version: 0.1.0", "version: 0.2.0");
    d.expect(0, &["pack", "install", bumped.to_str().unwrap()]);
    let exec = reboot(&d, 0, "n002");
    assert_eq!(
        exec["pack_version"], "0.1.0",
        "the trusted version stays live until the new one is promoted"
    );
    d.expect(
        0,
        &["pack", "promote", "demo@0.2.0", "--reason", "test: promote"],
    );

    let exec = reboot(&d, 1, "n003");
    assert_eq!(
        exec["pack_version"], "0.2.0",
        "promoted: the new version runs"
    );
    assert_eq!(exec["status"], "denied");
    assert!(
        exec["error"].as_str().unwrap().contains("demo@0.2.0"),
        "{exec}"
    );
    let audit = d.json(
        0,
        &["audit", "list", "--exec", exec["id"].as_str().unwrap()],
    );
    assert_eq!(audit[0]["pack"], "demo@0.2.0");

    d.grant("demo@0.2.0", "nodes.reboot", "*");
    reboot(&d, 0, "n003");
}

#[test]
fn changed_binary_needs_a_new_grant() {
    let d = Drover::new();
    let original = d.json(
        0,
        &[
            "pack",
            "install",
            support::pack_dir("packs/demo").to_str().unwrap(),
        ],
    );
    let grant = d.grant("demo@0.1.0", "nodes.reboot", "*");
    reboot(&d, 0, "n001");

    let rebuilt = d.copy_pack("packs/demo", "demo-rebuilt");
    append_custom_section(
        &rebuilt.join("components/demo_reboot_node.wasm"),
        "rebuilt",
        b"by someone else",
    );
    // --trusted: the operator vouches for the rebuild (from elsewhere it
    // would be shadowed, its runs dry); the old grant still does not carry.
    let report = d.json(
        0,
        &["pack", "install", "--trusted", rebuilt.to_str().unwrap()],
    );
    assert_eq!(report[0]["pack"], "demo@0.1.0");
    assert_eq!(report[0]["replaced"], true);
    let digest = |r: &Value, plugin: &str| {
        r[0]["plugins"]
            .as_array()
            .unwrap()
            .iter()
            .find(|p| p["name"] == plugin)
            .unwrap()["digest"]
            .clone()
    };
    assert_ne!(
        digest(&report, "reboot_node"),
        digest(&original, "reboot_node")
    );
    assert_eq!(
        digest(&report, "fetch_status"),
        digest(&original, "fetch_status")
    );

    let exec = reboot(&d, 1, "n002");
    assert_eq!(exec["digest"], digest(&report, "reboot_node"));
    let error = exec["error"].as_str().unwrap();
    assert!(
        error.contains("another build") && error.contains(&grant),
        "{error}"
    );

    d.grant("demo@0.1.0", "nodes.reboot", "*");
    reboot(&d, 0, "n002");
}

#[test]
fn grant_of_a_capability_no_plugin_declares_is_refused() {
    let d = demo();
    let out = d.expect(
        2,
        &["grant", "add", "demo@0.1.0", "nodes.drain", "--scope", "*"],
    );
    assert!(
        stderr(&out).contains("no plugin of demo@0.1.0 declares nodes.drain"),
        "{}",
        stderr(&out)
    );
    assert_eq!(
        d.json(0, &["grant", "list", "--all"]),
        serde_json::json!([])
    );
}

#[test]
fn grant_of_a_capability_that_needs_none_is_refused() {
    let d = demo();
    let out = d.expect(2, &["grant", "add", "demo@0.1.0", "log", "--scope", "*"]);
    assert!(
        stderr(&out).contains("log needs no grant"),
        "{}",
        stderr(&out)
    );
    assert_eq!(
        d.json(0, &["grant", "list", "--all"]),
        serde_json::json!([])
    );
}

#[test]
fn grant_with_bad_scope_syntax_names_the_problem() {
    let d = demo();
    let out = d.expect(
        2,
        &[
            "grant",
            "add",
            "demo@0.1.0",
            "nodes.reboot",
            "--scope",
            "rack in (r01",
        ],
    );
    let err = stderr(&out);
    assert!(
        err.contains("invalid label selector") && err.contains("rack in (r01"),
        "{err}"
    );
    let out = d.expect(
        2,
        &[
            "grant",
            "add",
            "demo@0.1.0",
            "http",
            "--scope",
            "http://status.example.com/health",
        ],
    );
    assert!(stderr(&out).contains("/health"), "{}", stderr(&out));
    assert_eq!(
        d.json(0, &["grant", "list", "--all"]),
        serde_json::json!([])
    );
}

#[test]
fn grant_to_a_pack_version_not_installed_is_refused() {
    let d = demo();
    let out = d.expect(
        2,
        &["grant", "add", "demo@9.9.9", "nodes.reboot", "--scope", "*"],
    );
    assert!(
        stderr(&out).contains("demo@9.9.9 is not installed"),
        "{}",
        stderr(&out)
    );
    let out = d.expect(2, &["grant", "add", "demo", "nodes.reboot", "--scope", "*"]);
    assert!(stderr(&out).contains("PACK@VERSION"), "{}", stderr(&out));
}

#[test]
fn revoking_an_unknown_grant_exits_2() {
    let d = demo();
    let out = d.expect(2, &["grant", "revoke", "01M8AHKY581GNJH88CMQEQGT36"]);
    assert!(
        stderr(&out).contains("no active grant 01M8AHKY581GNJH88CMQEQGT36"),
        "{}",
        stderr(&out)
    );
    let out = d.expect(2, &["grant", "revoke", "not-an-id"]);
    assert!(stderr(&out).contains("not-an-id"), "{}", stderr(&out));
    let id = d.grant("demo@0.1.0", "nodes.reboot", "*");
    d.expect(0, &["grant", "revoke", &id]);
    d.expect(2, &["grant", "revoke", &id]);
}
