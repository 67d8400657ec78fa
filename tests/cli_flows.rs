//! End-to-end flows of the `drover` command line, one per thing an operator
//! does: install and list packs, run an action (for real and as a dry run),
//! grant and revoke a capability, read executions and the audit log back.
//! Every test drives the real binary against its own fresh database and the
//! real bundled components, and checks what the operator relies on: the
//! JSON fields, the exit code (0 succeeded, 1 failed/denied/timeout, 2 the
//! command itself failed), the audit trail and that state persists between
//! processes.

mod support;

use serde_json::{Value, json};
use support::{Drover, last_line, stderr, stdout};

/// A drover with `packs/core`, `packs/demo` and the testkit installed.
fn installed() -> Drover {
    let d = Drover::new();
    d.install(&["packs/core", "packs/demo", "tests/packs/testkit"]);
    d
}

/// A node's state, read through a real run of `testkit.facts`.
fn node_state(d: &Drover, node: &str) -> String {
    let arg = format!("node={node}");
    let exec = d.json(0, &["run", "testkit.facts", &arg]);
    exec["result"]["node"]["state"].as_str().unwrap().to_owned()
}

/// The audit records of one execution.
fn audit_of(d: &Drover, exec: &Value) -> Vec<Value> {
    let id = exec["id"].as_str().unwrap();
    d.json(0, &["audit", "list", "--exec", id])
        .as_array()
        .unwrap()
        .clone()
}

#[test]
fn installed_packs_are_listed_as_text_and_json() {
    let d = Drover::new();
    let out = d.expect(0, &["pack", "list"]);
    assert!(
        stdout(&out).contains("no packs installed"),
        "{}",
        stdout(&out)
    );

    d.install(&["packs/core", "packs/demo"]);
    let text = stdout(&d.expect(0, &["pack", "list"]));
    for (name, plugin) in [("core", "echo"), ("demo", "reboot_node")] {
        let line = text
            .lines()
            .find(|l| l.starts_with(name))
            .unwrap_or_else(|| panic!("{name} missing:\n{text}"));
        assert!(line.contains("0.1.0") && line.contains(plugin), "{line}");
    }

    let list = d.json(0, &["pack", "list"]);
    let names: Vec<&str> = list
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["core", "demo"]);
    for p in list.as_array().unwrap() {
        assert_eq!(p["version"], "0.1.0");
        assert_eq!(p["installed_by"], "user:tester");
        for digest in p["plugins"].as_object().unwrap().values() {
            assert!(digest.as_str().unwrap().starts_with("sha256:"), "{p}");
        }
    }
    assert!(list[1]["plugins"].get("reboot_node").is_some(), "{list}");
}

#[test]
fn run_echo_as_json_reports_success_and_exits_0() {
    let d = installed();
    let exec = d.json(0, &["run", "core.echo", "message=hello"]);
    assert!(
        exec["id"].as_str().is_some_and(|id| id.len() == 26),
        "{exec}"
    );
    assert_eq!(exec["action"], "core.echo");
    assert_eq!(exec["status"], "succeeded");
    assert_eq!(exec["result"], json!({"message": "hello"}));
    assert_eq!(exec["error"], Value::Null);
    assert_eq!(exec["dry_run"], false);
    assert_eq!(exec["parameters"]["message"], "hello");
}

#[test]
fn dry_run_plans_the_reboot_and_performs_nothing() {
    let d = installed();
    let exec = d.json(1, &["run", "demo.reboot_node", "node=n001", "--dry-run"]);
    assert_eq!(exec["status"], "denied");
    assert_eq!(exec["dry_run"], true);
    let plan = exec["plan"].as_array().unwrap();
    assert_eq!(plan.len(), 1, "{exec}");
    assert_eq!(plan[0]["capability"], "nodes.reboot");
    assert_eq!(plan[0]["operation"], "reboot");
    assert_eq!(plan[0]["target"], "n001");
    assert_eq!(plan[0]["decision"], "denied");
    let audit = audit_of(&d, &exec);
    assert_eq!(
        (&audit[0]["decision"], &audit[0]["dry_run"]),
        (&json!("denied"), &json!(true))
    );
    assert_eq!(node_state(&d, "n001"), "production");
}

#[test]
fn granted_dry_run_plans_an_allowed_reboot_stores_the_plan_and_changes_nothing() {
    let d = installed();
    d.grant("demo@0.1.0", "nodes.reboot", "rack=r01");
    let exec = d.json(0, &["run", "demo.reboot_node", "node=n001", "--dry-run"]);
    assert_eq!(exec["status"], "succeeded");
    let plan = exec["plan"].as_array().unwrap();
    assert_eq!(plan.len(), 1, "{exec}");
    assert_eq!(plan[0]["decision"], "allowed");
    assert_eq!(plan[0]["target"], "n001");
    assert_eq!(plan[0]["simulated_result"]["outcome"], "accepted");
    assert_eq!(exec["result"]["outcome"], "accepted");
    assert_eq!(node_state(&d, "n001"), "production");

    let stored = d.json(0, &["exec", "get", exec["id"].as_str().unwrap()]);
    assert_eq!(stored["dry_run"], true);
    assert_eq!(stored["plan"], exec["plan"]);
    let text = stdout(&d.expect(0, &["exec", "get", exec["id"].as_str().unwrap()]));
    assert!(
        text.contains("1. nodes.reboot reboot n001: allowed"),
        "{text}"
    );
}

#[test]
fn ungranted_reboot_is_denied_exits_1_and_is_audited() {
    let d = installed();
    let exec = d.json(1, &["run", "demo.reboot_node", "node=n001"]);
    assert_eq!(exec["status"], "denied");
    assert!(
        exec["error"]
            .as_str()
            .unwrap()
            .contains("no grant of nodes.reboot"),
        "{exec}"
    );
    let audit = audit_of(&d, &exec);
    assert_eq!(audit.len(), 1, "{audit:?}");
    let rec = &audit[0];
    assert_eq!(rec["decision"], "denied");
    assert_eq!(rec["capability"], "nodes.reboot");
    assert_eq!(rec["target"], "n001");
    assert_eq!(rec["pack"], "demo@0.1.0");
    assert_eq!(rec["plugin"], "reboot_node");
    assert_eq!(rec["actor"], "user:tester");
    assert_eq!(rec["dry_run"], false);
    assert!(
        rec["reason"]
            .as_str()
            .unwrap()
            .contains("drover grant add demo@0.1.0 nodes.reboot"),
        "{rec}"
    );
    assert_eq!(node_state(&d, "n001"), "production");
}

#[test]
fn granted_reboot_succeeds_and_is_audited_allowed() {
    let d = installed();
    let out = d.expect(
        0,
        &[
            "grant",
            "add",
            "demo@0.1.0",
            "nodes.reboot",
            "--scope",
            "rack=r01",
        ],
    );
    let id = last_line(&out);
    assert_eq!(id.len(), 26, "grant id on the last line:\n{}", stdout(&out));

    let exec = d.json(0, &["run", "demo.reboot_node", "node=n001"]);
    assert_eq!(exec["status"], "succeeded");
    assert_eq!(exec["result"]["outcome"], "accepted");
    let audit = audit_of(&d, &exec);
    assert_eq!(audit.len(), 1, "{audit:?}");
    assert_eq!(audit[0]["decision"], "allowed");
    assert_eq!(audit[0]["target"], "n001");
    assert!(
        audit[0]["reason"].as_str().unwrap().contains(&id),
        "{}",
        audit[0]
    );
    // Accepted: the node entered the lifecycle (drain first); the fleet
    // controller (`drover serve`, `drover fleet run`) carries it on.
    assert_eq!(node_state(&d, "n001"), "draining");
}

#[test]
fn reboot_outside_the_granted_scope_is_denied_naming_the_scope() {
    let d = installed();
    d.grant("demo@0.1.0", "nodes.reboot", "rack=r01");
    let exec = d.json(1, &["run", "demo.reboot_node", "node=n900"]);
    assert_eq!(exec["status"], "denied");
    let error = exec["error"].as_str().unwrap();
    assert!(
        error.contains("n900") && error.contains("rack=r01"),
        "{error}"
    );
    let audit = audit_of(&d, &exec);
    assert_eq!(audit[0]["decision"], "denied");
    assert!(
        audit[0]["reason"].as_str().unwrap().contains("rack=r01"),
        "{}",
        audit[0]
    );
    assert_eq!(node_state(&d, "n900"), "production");
}

#[test]
fn grant_list_shows_active_grants_as_text_and_json() {
    let d = installed();
    let out = d.expect(0, &["grant", "list"]);
    assert!(stdout(&out).contains("no grants"), "{}", stdout(&out));
    let id = d.grant("demo@0.1.0", "nodes.reboot", "rack=r01");

    let text = stdout(&d.expect(0, &["grant", "list"]));
    let line = text
        .lines()
        .find(|l| l.starts_with(&id))
        .unwrap_or_else(|| panic!("{id} missing:\n{text}"));
    for want in [
        "demo@0.1.0",
        "nodes.reboot",
        "rack=r01",
        "reboot_node",
        "active",
    ] {
        assert!(line.contains(want), "{want:?} in {line}");
    }

    let list = d.json(0, &["grant", "list"]);
    let g = &list.as_array().unwrap()[..];
    assert_eq!(g.len(), 1, "{list}");
    assert_eq!(g[0]["id"], id.as_str());
    assert_eq!(g[0]["pack"], "demo");
    assert_eq!(g[0]["version"], "0.1.0");
    assert_eq!(g[0]["capability"], "nodes.reboot");
    assert_eq!(g[0]["scope"], "rack=r01");
    assert_eq!(g[0]["created_by"], "user:tester");
    assert_eq!(g[0]["revoked_at_ms"], Value::Null);
    assert!(
        g[0]["digests"]["reboot_node"]
            .as_str()
            .unwrap()
            .starts_with("sha256:")
    );
}

#[test]
fn revoked_grant_denies_the_reboot_again() {
    let d = installed();
    let id = d.grant("demo@0.1.0", "nodes.reboot", "rack=r01");
    d.json(0, &["run", "demo.reboot_node", "node=n001"]);
    d.expect(0, &["grant", "revoke", &id]);

    let exec = d.json(1, &["run", "demo.reboot_node", "node=n001"]);
    assert_eq!(exec["status"], "denied");
    assert_eq!(d.json(0, &["grant", "list"]), json!([]));
    let all = d.json(0, &["grant", "list", "--all"]);
    assert!(all[0]["revoked_at_ms"].is_i64(), "{all}");
}

#[test]
fn exec_list_is_newest_first_and_filters_by_status() {
    let d = installed();
    let first = d.json(0, &["run", "core.echo", "message=one"]);
    let denied = d.json(1, &["run", "demo.reboot_node", "node=n001"]);
    let last = d.json(0, &["run", "core.noop"]);
    let id = |e: &Value| e["id"].as_str().unwrap().to_owned();

    let list = d.json(0, &["exec", "list"]);
    let ids: Vec<String> = list.as_array().unwrap().iter().map(id).collect();
    assert_eq!(ids, [id(&last), id(&denied), id(&first)]);

    let text = stdout(&d.expect(0, &["exec", "list"]));
    let rows: Vec<&str> = text.lines().skip(1).collect();
    assert!(
        rows[0].starts_with(&id(&last)) && rows[2].starts_with(&id(&first)),
        "{text}"
    );

    let only = d.json(0, &["exec", "list", "--status", "denied"]);
    let ids: Vec<String> = only.as_array().unwrap().iter().map(id).collect();
    assert_eq!(ids, [id(&denied)]);
    d.expect(2, &["exec", "list", "--status", "sideways"]);
}

#[test]
fn exec_get_json_is_the_execution_run_printed() {
    let d = installed();
    let exec = d.json(0, &["run", "core.echo", "message=hello"]);
    let got = d.json(0, &["exec", "get", exec["id"].as_str().unwrap()]);
    assert_eq!(got, exec);
    let denied = d.json(1, &["run", "demo.reboot_node", "node=n001", "--dry-run"]);
    let got = d.json(0, &["exec", "get", denied["id"].as_str().unwrap()]);
    assert_eq!(got, denied);
}

#[test]
fn exit_codes_are_0_succeeded_1_failed_or_timed_out_2_command_errors() {
    let d = installed();
    d.expect(0, &["run", "core.noop"]);
    let failed = d.json(1, &["run", "core.fail", "message=on purpose"]);
    assert_eq!(failed["status"], "failed");
    assert_eq!(failed["error"], "on purpose");
    let timeout = d.json(1, &["run", "core.sleep", "seconds=5", "--timeout", "200ms"]);
    assert_eq!(timeout["status"], "timeout");
    let out = d.expect(2, &["run", "core.nope"]);
    assert!(
        stderr(&out).contains("no action \"nope\""),
        "{}",
        stderr(&out)
    );
    d.expect(2, &["exec", "get", "01M8AHKY581GNJH88CMQEQGT36"]);
}

#[test]
fn executions_persist_in_the_database_file_across_processes() {
    let d = installed();
    assert!(d.db().is_file(), "{} not created", d.db().display());
    let exec = d.json(0, &["run", "core.echo", "message=kept"]);
    // Each call below is a new process reading the same file.
    let got = d.json(0, &["exec", "get", exec["id"].as_str().unwrap()]);
    assert_eq!(got["result"]["message"], "kept");
    let text = stdout(&d.expect(0, &["exec", "get", exec["id"].as_str().unwrap()]));
    assert!(
        text.contains("core.echo") && text.contains("succeeded"),
        "{text}"
    );
}

#[test]
fn db_flag_overrides_the_drover_db_variable() {
    let d = Drover::new();
    let other = d.dir.path().join("other").join("flag.db");
    let out = d
        .cmd()
        .args([
            "--db",
            other.to_str().unwrap(),
            "pack",
            "install",
            "packs/core",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(other.is_file(), "--db file not created");
    assert!(
        !d.db().exists(),
        "DROVER_DB was used although --db was given"
    );

    let list = |db: &str| {
        let out = d
            .cmd()
            .args(["--db", db, "pack", "list", "--json"])
            .output()
            .unwrap();
        serde_json::from_slice::<Value>(&out.stdout).unwrap()
    };
    assert_eq!(list(other.to_str().unwrap())[0]["name"], "core");
    assert_eq!(d.json(0, &["pack", "list"]), json!([]));
}
