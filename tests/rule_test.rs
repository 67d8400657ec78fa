//! End-to-end: `drover rule test`, the offline rule tester, on the batchops
//! sample rule and trigger instance. It needs no database and no installed
//! pack: every test checks the database was never created. Exit codes: 0
//! the rule matches, 1 it does not, 2 an error.

mod support;

use std::path::PathBuf;

use serde_json::json;
use support::{Drover, stderr, stdout};

const RULE: &str = "packs/batchops/rules/on_no_contact.yaml";
const INSTANCE: &str = "packs/batchops/tests/no_contact.json";

/// `drover rule test` on `rule` and `instance` with `extra` arguments.
fn rule_test(
    d: &Drover,
    code: i32,
    rule: &str,
    instance: &str,
    extra: &[&str],
) -> std::process::Output {
    let mut args = vec![
        "rule",
        "test",
        "--rule",
        rule,
        "--trigger-instance",
        instance,
    ];
    args.extend_from_slice(extra);
    let out = d.expect(code, &args);
    assert!(
        !d.db().exists(),
        "the rule tester must not open the database"
    );
    out
}

/// Writes a trigger instance with `payload` into the test's directory.
fn instance(d: &Drover, name: &str, payload: serde_json::Value) -> String {
    let path: PathBuf = d.dir.path().join(name);
    let doc = json!({"trigger": "batchops.no_contact", "payload": payload});
    std::fs::write(&path, doc.to_string()).unwrap();
    path.to_str().unwrap().to_owned()
}

#[test]
fn the_sample_rule_matches_its_sample_instance() {
    let d = Drover::new();
    let out = rule_test(&d, 0, RULE, INSTANCE, &[]);
    let text = stdout(&out);
    for line in [
        "rule     batchops.on_no_contact",
        "PASS  trigger.node ",
        "matchwildcard",
        "\"b*\"",
        "PASS  trigger.node#not_in_maintenance",
        "result: MATCH",
        "node: \"b7s01\"",
        "since: \"2026-01-31T11:48:00Z\"",
        "throttle (once within 1h) is not applied by the tester",
    ] {
        assert!(text.contains(line), "missing {line:?} in:\n{text}");
    }
}

#[test]
fn json_output_says_the_same() {
    let d = Drover::new();
    let out = rule_test(&d, 0, RULE, INSTANCE, &["--json"]);
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["verdict"], json!("match"));
    assert_eq!(report["rule"], json!("batchops.on_no_contact"));
    assert_eq!(report["criteria"][0]["value"], json!("b7s01"));
    assert_eq!(report["criteria"][0]["operator"], json!("matchwildcard"));
    assert_eq!(report["criteria"][0]["pattern"], json!("b*"));
    assert_eq!(report["criteria"][0]["passed"], json!(true));
    // The templated pattern, rendered: not in maintenance, so empty.
    assert_eq!(report["criteria"][1]["pattern"], json!(""));
    assert_eq!(
        report["parameters"],
        json!({"node": "b7s01", "since": "2026-01-31T11:48:00Z"})
    );
}

#[test]
fn a_node_in_maintenance_does_not_match() {
    let d = Drover::new();
    let out = rule_test(&d, 1, RULE, INSTANCE, &["--kv", "maintenance.b7s01=true"]);
    let text = stdout(&out);
    assert!(
        text.contains("FAIL  trigger.node#not_in_maintenance"),
        "{text}"
    );
    assert!(text.contains("result: NO MATCH"), "{text}");
    // Another node's maintenance changes nothing.
    rule_test(&d, 0, RULE, INSTANCE, &["--kv", "maintenance.b7s02=true"]);
}

#[test]
fn other_nodes_and_triggers_do_not_match() {
    let d = Drover::new();
    let other = instance(
        &d,
        "login.json",
        json!({"node": "lxplus901", "since": "2026-01-31T11:48:00Z"}),
    );
    let out = rule_test(&d, 1, RULE, &other, &[]);
    assert!(
        stdout(&out).contains("FAIL  trigger.node "),
        "{}",
        stdout(&out)
    );
    let wrong = d.dir.path().join("wrong.yaml");
    std::fs::write(
        &wrong,
        "trigger: batchops.contact_restored\npayload: {node: b7s01}\n",
    )
    .unwrap();
    let out = rule_test(&d, 1, RULE, wrong.to_str().unwrap(), &[]);
    assert!(stdout(&out).contains("MISMATCH"), "{}", stdout(&out));
}

#[test]
fn payload_templates_reach_the_action_as_text() {
    let d = Drover::new();
    let hostile = instance(
        &d,
        "hostile.json",
        json!({"node": "b{{ 7*7 }}", "since": "{{ 6*7 }}"}),
    );
    let out = rule_test(&d, 0, RULE, &hostile, &["--json"]);
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        report["parameters"],
        json!({"node": "b{{ 7*7 }}", "since": "{{ 6*7 }}"})
    );
}

#[test]
fn a_parameter_that_cannot_render_is_an_error() {
    let d = Drover::new();
    let no_since = instance(&d, "partial.json", json!({"node": "b7s01"}));
    let out = rule_test(&d, 2, RULE, &no_since, &[]);
    let text = stdout(&out);
    assert!(text.contains("result: ERROR"), "{text}");
    assert!(
        text.contains("failed to render parameter \"since\": undefined value"),
        "{text}"
    );
}

#[test]
fn bad_files_are_errors_with_a_place() {
    let d = Drover::new();
    let rule = d.dir.path().join("bad.yaml");
    let text = std::fs::read_to_string(support::repo().join(RULE))
        .unwrap()
        .replace("type: matchwildcard", "type: matchwildcards");
    std::fs::write(&rule, text).unwrap();
    let out = rule_test(&d, 2, rule.to_str().unwrap(), INSTANCE, &[]);
    let err = stderr(&out);
    assert!(
        err.contains("bad.yaml:19:11: criteria.trigger.node.type: unknown operator \"matchwildcards\"; did you mean \"matchwildcard\"?"),
        "{err}"
    );
    let out = rule_test(&d, 2, RULE, "no/such/instance.json", &[]);
    assert!(
        stderr(&out).contains("cannot read no/such/instance.json"),
        "{}",
        stderr(&out)
    );
    let broken = d.dir.path().join("broken.json");
    std::fs::write(
        &broken,
        "{\"trigger\": \"batch.no_contact\", \"payload\": {]}",
    )
    .unwrap();
    let out = rule_test(&d, 2, RULE, broken.to_str().unwrap(), &[]);
    assert!(stderr(&out).contains("broken.json:1:"), "{}", stderr(&out));
    assert!(stderr(&out).contains("invalid JSON"), "{}", stderr(&out));
}
