//! The CLI against a running drover: `drover --server URL --token T` for
//! the fleet (`node drain|reboot|undrain|list`, `budget`, `brake`) and
//! `exec list --active`, against the real `drover serve` on 127.0.0.1
//! with its own database. What an operator relies on: the remote command
//! prints what the local one prints (compared on the same database), exits
//! with the same code, shows the API's refusal as its message, and never
//! opens a local database.

mod support;

use std::process::Output;

use serde_json::Value;
use support::server::{SETTLE, Server, wait_for};
use support::*;

/// `drover token create --role ROLE`: the token is the last line.
fn token(d: &Drover, role: &str) -> String {
    d.token(role)
}

/// A serve and a token per role.
struct Remote {
    d: Drover,
    server: Server,
    viewer: String,
    operator: String,
    admin: String,
}

impl Remote {
    fn start(packs: &[&str]) -> Remote {
        let d = Drover::new();
        d.install(packs);
        let server = Server::start(&d);
        Remote {
            viewer: token(&d, "viewer"),
            operator: token(&d, "operator"),
            admin: token(&d, "admin"),
            d,
            server,
        }
    }

    /// `drover --server URL --token TOKEN ARGS`, asserted to exit `code`,
    /// with `DROVER_DB` pointing where no database is: it must not be made.
    fn run(&self, token: &str, code: i32, args: &[&str]) -> Output {
        let base = format!("http://{}", self.server.addr);
        let mut all = vec!["--server", base.as_str(), "--token", token];
        all.extend_from_slice(args);
        let elsewhere = self.d.dir.path().join("elsewhere.db");
        let out = self
            .d
            .cmd()
            .env("DROVER_DB", &elsewhere)
            .args(&all)
            .output()
            .unwrap();
        assert!(!elsewhere.exists(), "--server opened a local database");
        assert_eq!(
            out.status.code(),
            Some(code),
            "drover {args:?}:\n{}{}\nserver log:\n{}",
            stdout(&out),
            stderr(&out),
            self.server.log()
        );
        out
    }

    fn json(&self, token: &str, code: i32, args: &[&str]) -> Value {
        let mut all = args.to_vec();
        all.push("--json");
        let out = self.run(token, code, &all);
        serde_json::from_slice(&out.stdout)
            .unwrap_or_else(|e| panic!("{args:?} printed no JSON ({e}): {}", stdout(&out)))
    }

    /// The state of `node`, read from the database.
    fn state(&self, node: &str) -> String {
        let shown = self.d.json(0, &["node", "show", node]);
        shown["node"]["state"].as_str().unwrap().to_owned()
    }
}

#[test]
fn nodes_drain_reboot_and_undrain_through_the_server_as_locally() {
    let r = Remote::start(&["packs/core"]);
    r.run(
        &r.admin,
        0,
        &["budget", "set", "rack-one", "--label", "rack", "--max", "1"],
    );

    // A dry run of two nodes of one rack: one now, one in a second wave;
    // nothing changes.
    let out = r.run(
        &r.operator,
        0,
        &[
            "node",
            "drain",
            "n001",
            "n002",
            "--reason",
            "patch",
            "--dry-run",
        ],
    );
    let text = stdout(&out);
    assert!(text.starts_with("dry run: nothing was changed"), "{text}");
    assert!(text.contains("n001: accepted"), "{text}");
    assert!(text.contains("n002: queued"), "{text}");
    assert!(text.contains("budget rack-one"), "{text}");
    assert!(text.contains("wave 2: n002"), "{text}");
    assert_eq!(r.state("n001"), "production");
    let plan = r.json(
        &r.operator,
        0,
        &[
            "node",
            "drain",
            "n001",
            "n002",
            "--reason",
            "patch",
            "--dry-run",
        ],
    );
    assert_eq!(plan["waves"], serde_json::json!([["n001"], ["n002"]]));

    // An unknown name refuses the whole request, as locally (exit 2).
    let out = r.run(
        &r.operator,
        2,
        &["node", "drain", "n001", "nope", "--reason", "patch"],
    );
    let err = stderr(&out);
    assert!(
        err.contains("no node named nope") && err.contains("nothing was requested"),
        "{err}"
    );
    let local =
        r.d.expect(2, &["node", "drain", "n001", "nope", "--reason", "x"]);
    assert!(stderr(&local).contains("no node named nope"));
    assert_eq!(r.state("n001"), "production");
    // A viewer is told the role it lacks.
    let out = r.run(&r.viewer, 2, &["node", "drain", "n001", "--reason", "x"]);
    assert!(stderr(&out).contains("operator"), "{}", stderr(&out));

    // For real: the budget decides, the answers say so, the token is the actor.
    let answers = r.json(
        &r.operator,
        0,
        &["node", "drain", "n003", "n004", "--reason", "patch"],
    );
    assert_eq!(answers[0]["node"], "n003", "{answers:#}");
    assert_eq!(answers[0]["outcome"], "accepted", "{answers:#}");
    assert_eq!(answers[1]["outcome"], "queued", "{answers:#}");
    assert_eq!(r.state("n003"), "draining");
    let shown = r.d.json(0, &["node", "show", "n003"]);
    assert!(
        shown["requests"][0]["actor"]
            .as_str()
            .unwrap()
            .starts_with("token:operator"),
        "{shown:#}"
    );
    // A reboot in another rack goes through drain, reboot and restore.
    let out = r.run(
        &r.operator,
        0,
        &["node", "reboot", "n041", "--reason", "kernel"],
    );
    assert!(
        stdout(&out).starts_with("n041: accepted"),
        "{}",
        stdout(&out)
    );
    wait_for("n041 to reboot and come back", SETTLE, || {
        let shown = r.d.json(0, &["node", "show", "n041", "--history"]);
        let rebooted = shown["history"]
            .as_array()
            .unwrap()
            .iter()
            .any(|h| h["to_state"] == "rebooting");
        (rebooted && shown["node"]["state"] == "production").then_some(())
    });
    // Undrain gives the node back.
    r.run(
        &r.operator,
        0,
        &["node", "undrain", "n003", "--reason", "done"],
    );
    wait_for("n003 to be back in production", SETTLE, || {
        (r.state("n003") == "production").then_some(())
    });

    // `node list` and `show` print what the local commands print.
    for args in [
        &["node", "show", "n041", "--history"][..],
        &["node", "show", "n041", "--json"][..],
        &["node", "list", "--label", "rack=r05"][..],
        &[
            "node",
            "list",
            "--state",
            "production",
            "--label",
            "rack=r07",
        ][..],
        &["node", "list", "--label", "rack=r05", "--json"][..],
    ] {
        let remote = stdout(&r.run(&r.viewer, 0, args));
        let local = stdout(&r.d.expect(0, args));
        assert_eq!(remote, local, "{args:?}");
    }
}

#[test]
fn budgets_and_the_brake_through_the_server_as_locally() {
    let r = Remote::start(&["packs/core"]);
    let out = r.run(
        &r.admin,
        0,
        &["budget", "set", "fleet", "--max-unavailable", "2%"],
    );
    assert_eq!(
        stdout(&out).trim(),
        stdout(&r.d.expect(0, &["budget", "set", "fleet", "--max-unavailable", "2%"])).trim()
    );
    r.run(
        &r.admin,
        0,
        &["budget", "set", "racks", "--label", "rack", "--max", "2"],
    );
    for args in [&["budget", "list"][..], &["budget", "list", "--json"][..]] {
        assert_eq!(
            stdout(&r.run(&r.viewer, 0, args)),
            stdout(&r.d.expect(0, args)),
            "{args:?}"
        );
    }
    // Bad flags are refused before anything is sent; roles by the server.
    let out = r.run(&r.admin, 2, &["budget", "set", "x", "--label", "rack"]);
    assert!(
        stderr(&out).contains("--label and --max"),
        "{}",
        stderr(&out)
    );
    let out = r.run(
        &r.operator,
        2,
        &["budget", "set", "x", "--max-unavailable", "3"],
    );
    assert!(stderr(&out).contains("admin"), "{}", stderr(&out));
    r.run(&r.admin, 0, &["budget", "delete", "racks"]);
    let out = r.run(&r.admin, 2, &["budget", "delete", "racks"]);
    assert!(stderr(&out).contains("no budget"), "{}", stderr(&out));
    let names: Vec<String> =
        r.d.json(0, &["budget", "list"])
            .as_array()
            .unwrap()
            .iter()
            .map(|b| b["name"].as_str().unwrap().to_owned())
            .collect();
    assert_eq!(names, ["fleet"]);

    // The brake: status as locally; settings and release are the admin's.
    for args in [&["brake", "status"][..], &["brake", "status", "--json"][..]] {
        assert_eq!(
            stdout(&r.run(&r.viewer, 0, args)),
            stdout(&r.d.expect(0, args)),
            "{args:?}"
        );
    }
    let set = [
        "brake",
        "set",
        "--threshold",
        "7%",
        "--window",
        "5m",
        "--settle",
        "2s",
    ];
    let out = r.run(&r.operator, 2, &set);
    assert!(stderr(&out).contains("admin"), "{}", stderr(&out));
    let out = r.run(&r.admin, 0, &set);
    assert_eq!(
        stdout(&out).trim(),
        "storm brake: trips above 7% unhealthy within 5m; automatic requests settle 2s"
    );
    let status = r.d.json(0, &["brake", "status"]);
    assert_eq!(status["threshold_percent"], 7.0);
    assert_eq!(status["window_ms"], 300_000);
    let out = r.run(&r.admin, 2, &["brake", "set", "--threshold", "150%"]);
    assert!(stderr(&out).contains("at most 100"), "{}", stderr(&out));
    let out = r.run(&r.operator, 2, &["brake", "release"]);
    assert!(stderr(&out).contains("admin"), "{}", stderr(&out));
    let out = r.run(&r.admin, 0, &["brake", "release"]);
    assert!(stdout(&out).contains("was not engaged"), "{}", stdout(&out));
    let status = r.d.json(0, &["brake", "status"]);
    assert!(
        status["released_by"]
            .as_str()
            .unwrap()
            .starts_with("token:admin"),
        "{status:#}"
    );
}

#[test]
fn executions_are_listed_by_node_actor_and_rule_through_the_server_as_locally() {
    let r = Remote::start(&["packs/core", "packs/demo"]);
    // Without a grant each reboot is denied: still an execution about its node.
    for node in ["n001", "n002", "n001"] {
        r.d.expect(1, &["run", "demo.reboot_node", &format!("node={node}")]);
    }
    r.d.expect(0, &["run", "core.echo", "message=hi"]);
    let local = r.d.json(0, &["exec", "list", "--node", "n001"]);
    let ids: Vec<&Value> = local.as_array().unwrap().iter().collect();
    assert_eq!(ids.len(), 2, "{local:#}");
    assert!(ids.iter().all(|e| e["node"] == "n001"), "{local:#}");
    let actor = ids[0]["actor"].as_str().unwrap().to_owned();
    assert_eq!(
        r.d.json(0, &["exec", "list", "--actor", &actor])
            .as_array()
            .unwrap()
            .len(),
        4
    );
    assert!(
        r.d.json(0, &["exec", "list", "--actor", "user:nobody"])
            .as_array()
            .unwrap()
            .is_empty()
    );
    assert!(
        r.d.json(0, &["exec", "list", "--rule", "demo.no_such_rule"])
            .as_array()
            .unwrap()
            .is_empty()
    );
    // The same rows through the API.
    let remote = r.json(&r.viewer, 0, &["exec", "list", "--node", "n001"]);
    let remote_ids: Vec<&Value> = remote
        .as_array()
        .unwrap()
        .iter()
        .map(|e| &e["id"])
        .collect();
    let local_ids: Vec<&Value> = local.as_array().unwrap().iter().map(|e| &e["id"]).collect();
    assert_eq!(remote_ids, local_ids);
}

#[test]
fn active_workflows_list_through_the_server_as_locally() {
    let r = Remote::start(&["packs/core", "packs/demo", "tests/packs/flows"]);
    let out = r.run(&r.viewer, 0, &["exec", "list", "--active"]);
    assert_eq!(stdout(&out).trim(), "no workflows in progress");
    // A workflow parked on its inquiry is in progress, waiting on it.
    let parked = r.d.json(3, &["run", "flows.approve_ops", "node=n9"]);
    let id = parked["id"].as_str().unwrap();
    let active = r.json(&r.viewer, 0, &["exec", "list", "--active"]);
    assert_eq!(active[0]["id"], id, "{active:#}");
    assert_eq!(active[0]["status"], "pending");
    assert!(
        active[0]["waiting_on"]
            .as_str()
            .unwrap()
            .starts_with("inquiry "),
        "{active:#}"
    );
    for args in [
        &["exec", "list", "--active"][..],
        &["exec", "list", "--active", "--json"][..],
    ] {
        assert_eq!(
            stdout(&r.run(&r.viewer, 0, args)),
            stdout(&r.d.expect(0, args)),
            "{args:?}"
        );
    }
    // Without a token the API's refusal is the message, exit 2.
    let base = format!("http://{}", r.server.addr);
    let out =
        r.d.cmd()
            .env_remove("DROVER_TOKEN")
            .args(["--server", &base, "exec", "list", "--active"])
            .output()
            .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("pass --token"), "{}", stderr(&out));
}

#[test]
fn set_state_and_the_fleet_pause_through_the_server_as_locally() {
    let r = Remote::start(&["packs/core"]);
    // A node in intervention, given back after its repair, over the API;
    // the same words as `drover node set-state` prints on the host.
    r.d.expect(
        0,
        &[
            "node",
            "set-state",
            "n003",
            "intervention",
            "--reason",
            "PSU",
        ],
    );
    let set = [
        "node",
        "set-state",
        "n003",
        "production",
        "--reason",
        "PSU swapped",
    ];
    let out = r.run(&r.operator, 0, &set);
    assert_eq!(r.state("n003"), "production");
    r.d.expect(
        0,
        &[
            "node",
            "set-state",
            "n003",
            "intervention",
            "--reason",
            "PSU",
        ],
    );
    let local = r.d.expect(0, &set);
    assert_eq!(stdout(&out), stdout(&local), "remote and local print alike");
    // A viewer may not; an unknown state is the API's 400, exit 2.
    let out = r.run(&r.viewer, 2, &set);
    assert!(stderr(&out).contains("operator"), "{}", stderr(&out));
    let out = r.run(
        &r.operator,
        2,
        &["node", "set-state", "n003", "sideways", "--reason", "x"],
    );
    assert!(stderr(&out).contains("sideways"), "{}", stderr(&out));

    let paused = r.run(
        &r.operator,
        0,
        &["fleet", "pause", "--reason", "change freeze"],
    );
    assert!(
        stdout(&paused).starts_with("fleet paused"),
        "{}",
        stdout(&paused)
    );
    let status = r.d.json(0, &["brake", "status"]);
    assert_eq!(status["paused"]["reason"], "change freeze", "{status:#}");
    let resumed = r.run(&r.operator, 0, &["fleet", "resume"]);
    assert_eq!(stdout(&resumed).trim(), "fleet resumed");
    assert!(r.d.json(0, &["brake", "status"])["paused"].is_null());
    // What still needs the host says so.
    let out = r.run(&r.admin, 2, &["fleet", "ladder", "list"]);
    assert!(
        stderr(&out).contains("run it on the drover host"),
        "{}",
        stderr(&out)
    );
}

/// `drover pack promote NAME` means the same version through the server as
/// locally: the newest shadowed candidate, not the live version (the API
/// once took the live one and answered "not in shadow mode").
#[test]
fn pack_promote_without_a_version_promotes_the_candidate_through_the_server() {
    let r = Remote::start(&["packs/core", "packs/demo"]);
    let bumped = r.d.copy_pack("packs/demo", "demo-0.2.0");
    edit_manifest(&bumped, "version: 0.1.0", "version: 0.2.0");
    r.d.expect(0, &["pack", "install", bumped.to_str().unwrap()]);
    let live = |r: &Remote| {
        let packs = r.d.json(0, &["pack", "list"]);
        packs
            .as_array()
            .unwrap()
            .iter()
            .find(|p| p["name"] == "demo" && p["live"] == true)
            .map(|p| p["version"].as_str().unwrap().to_owned())
    };
    assert_eq!(live(&r).as_deref(), Some("0.1.0"), "the candidate waits");

    let out = r.run(
        &r.admin,
        0,
        &["pack", "promote", "demo", "--reason", "test: promote"],
    );
    let printed = stdout(&out);
    assert!(
        printed.starts_with("demo@0.2.0: it now runs for real")
            && printed.contains("now the live version (was demo@0.1.0)"),
        "{printed}"
    );
    assert_eq!(live(&r).as_deref(), Some("0.2.0"));
    // Again: nothing waits now, and the live version is named.
    let out = r.run(
        &r.admin,
        0,
        &["pack", "promote", "demo", "--reason", "test: promote"],
    );
    assert_eq!(stdout(&out).trim(), "demo@0.2.0: it was not in shadow mode");
    let refused = r.run(
        &r.viewer,
        2,
        &["pack", "promote", "demo", "--reason", "test: promote"],
    );
    assert!(
        stderr(&refused).contains("needs the operator role"),
        "{}",
        stderr(&refused)
    );
}

/// `drover kv set` checks what the API checks, locally and through the
/// server: a value over 64 KiB (the limit plugins have) is refused with the
/// same message and nothing is stored. Locally it used to be stored.
#[test]
fn kv_set_has_the_same_limits_locally_and_through_the_server() {
    let r = Remote::start(&["packs/core"]);
    let big = "v".repeat(64 * 1024 + 1);
    // Exit 2: the input was wrong, here and there.
    let local = r.d.expect(2, &["kv", "set", "blob", &big]);
    let remote = r.run(&r.operator, 2, &["kv", "set", "blob", &big]);
    for out in [&local, &remote] {
        assert!(
            stderr(out).contains("the value is over 65536 bytes"),
            "{}",
            stderr(out)
        );
    }
    r.d.expect(2, &["kv", "get", "blob"]);
    r.run(&r.operator, 0, &["kv", "set", "maintenance.r01", "on"]);
    assert_eq!(
        stdout(&r.d.expect(0, &["kv", "get", "maintenance.r01"])).trim(),
        "on"
    );
}

/// `drover retention show|set|reset`, `drover policy set|list|remove` and
/// `drover gc` through the server: what the local commands print, from
/// the same database; changes are the admin's; a refusal is the local
/// one's, and stores nothing.
#[test]
fn retention_policies_and_gc_through_the_server_as_locally() {
    let r = Remote::start(&["packs/core"]);
    let same = |r: &Remote, token: &str, args: &[&str]| {
        assert_eq!(
            stdout(&r.run(token, 0, args)),
            stdout(&r.d.expect(0, args)),
            "{args:?}"
        );
    };
    for args in [
        &["retention", "show"][..],
        &["retention", "show", "--json"][..],
    ] {
        same(&r, &r.viewer, args);
    }
    let set = [
        "retention",
        "set",
        "audit",
        "--max-age",
        "2y",
        "--max-count",
        "5000000",
    ];
    same(&r, &r.admin, &set);
    let set_by = |r: &Remote| {
        let shown = r.d.json(0, &["retention", "show"]);
        shown[4]["set_by"].as_str().unwrap().to_owned()
    };
    assert!(set_by(&r).starts_with("user:") || set_by(&r).starts_with("uid:"));
    r.run(&r.admin, 0, &set);
    assert!(set_by(&r).starts_with("token:admin("), "{}", set_by(&r));
    for args in [
        &["retention", "show"][..],
        &["retention", "show", "--json"][..],
    ] {
        same(&r, &r.viewer, args);
    }
    for token in [&r.viewer, &r.operator] {
        let out = r.run(token, 2, &["retention", "reset", "audit"]);
        assert!(
            stderr(&out).contains("needs the admin role"),
            "{}",
            stderr(&out)
        );
    }
    for args in [
        &["retention", "set", "logs", "--max-age", "1d"][..],
        &["retention", "set", "audit"][..],
    ] {
        let local = stderr(&r.d.expect(2, args)).replace("drover: error: ", "");
        let remote = stderr(&r.run(&r.admin, 2, args));
        assert!(
            remote.contains(local.trim()),
            "{args:?}: {remote} vs {local}"
        );
    }
    same(&r, &r.admin, &["retention", "reset", "audit"]);

    // Policies: set, listed alike, removed; an unknown action refused alike.
    let file = r.d.dir.path().join("one_sleep.yaml");
    std::fs::write(
        &file,
        "name: one_sleep\nresource_ref: core.sleep\npolicy_type: action.concurrency\n\
         parameters:\n  threshold: 1\n",
    )
    .unwrap();
    let path = file.to_str().unwrap();
    let out = r.run(&r.operator, 2, &["policy", "set", path]);
    assert!(
        stderr(&out).contains("needs the admin role"),
        "{}",
        stderr(&out)
    );
    same(&r, &r.admin, &["policy", "set", path]);
    for args in [&["policy", "list"][..], &["policy", "list", "--json"][..]] {
        same(&r, &r.viewer, args);
    }
    let audit = stdout(&r.d.expect(0, &["audit", "list"]));
    assert!(audit.contains("token:admin("), "{audit}");
    let typo = r.d.dir.path().join("typo.yaml");
    std::fs::write(
        &typo,
        "name: typo\nresource_ref: core.nope\npolicy_type: action.concurrency\n\
         parameters:\n  threshold: 1\n",
    )
    .unwrap();
    let args = ["policy", "set", typo.to_str().unwrap()];
    let local = stderr(&r.d.expect(2, &args));
    let remote = stderr(&r.run(&r.admin, 2, &args));
    let expected = format!(
        "{}: resource_ref: core.nope is not an installed action",
        typo.display()
    );
    assert!(local.contains(&expected), "{local}");
    assert!(remote.contains(&expected), "{remote}");
    let out = r.run(&r.admin, 0, &["policy", "remove", "one_sleep"]);
    assert_eq!(stdout(&out).trim(), "policy drover.one_sleep removed");
    let local = stderr(&r.d.expect(2, &["policy", "remove", "one_sleep"]));
    let remote = stderr(&r.run(&r.admin, 2, &["policy", "remove", "one_sleep"]));
    for err in [&local, &remote] {
        assert!(err.contains("no operator policy \"one_sleep\""), "{err}");
    }
    let listed = r.d.json(0, &["policy", "list"]);
    assert!(!listed.to_string().contains("drover.one_sleep"), "{listed}");

    // gc: the preview as locally; a round is the admin's; no --vacuum.
    // Locally, gc also sweeps the compiled cache beside the database (a
    // `compiled_cache` key); the server's round leaves its cache alone.
    let remote: Value =
        serde_json::from_slice(&r.run(&r.admin, 0, &["gc", "--dry-run", "--json"]).stdout).unwrap();
    let mut local = r.d.json(0, &["gc", "--dry-run"]);
    assert!(local["compiled_cache"]["removed"].is_array(), "{local}");
    local.as_object_mut().unwrap().remove("compiled_cache");
    assert_eq!(remote, local);
    let out = r.run(&r.viewer, 2, &["gc"]);
    assert!(
        stderr(&out).contains("needs the admin role"),
        "{}",
        stderr(&out)
    );
    let report = r.json(&r.admin, 0, &["gc"]);
    assert!(report["kinds"].as_array().unwrap().len() == 5, "{report}");
    let out = r.run(&r.admin, 2, &["gc", "--vacuum"]);
    assert!(stderr(&out).contains("serve stopped"), "{}", stderr(&out));
}

/// Tokens, grants and rules through the server as locally: the same
/// checks (a token needs a name), the same output (lists, what was
/// granted, enabled or revoked) and the same refusals.
#[test]
fn tokens_grants_and_rules_through_the_server_as_locally() {
    let r = Remote::start(&["packs/core", "packs/demo", "tests/packs/events"]);
    // A token needs a name, here and there; none is made.
    let before = r.d.json(0, &["token", "list"]).as_array().unwrap().len();
    for name in ["", "   "] {
        let args = ["token", "create", "--role", "viewer", "--name", name];
        let local = stderr(&r.d.expect(2, &args));
        let remote = stderr(&r.run(&r.admin, 2, &args));
        for err in [&local, &remote] {
            assert!(err.contains("a token name is 1 to 128 characters"), "{err}");
        }
    }
    assert_eq!(
        r.d.json(0, &["token", "list"]).as_array().unwrap().len(),
        before
    );
    for args in [&["token", "list"][..], &["token", "list", "--all"][..]] {
        assert_eq!(
            stdout(&r.run(&r.admin, 0, args)),
            stdout(&r.d.expect(0, args)),
            "{args:?}"
        );
    }
    let out = r.run(&r.admin, 2, &["token", "revoke", "nope"]);
    let local = stderr(&r.d.expect(2, &["token", "revoke", "nope"]));
    assert!(local.contains("no active token \"nope\""), "{local}");
    assert!(
        stderr(&out).contains("no active token \"nope\""),
        "{}",
        stderr(&out)
    );

    // Grants: given, listed and revoked with the same words.
    let give = [
        "grant",
        "add",
        "demo@0.1.0",
        "nodes.reboot",
        "--scope",
        "rack=r01",
    ];
    let remote = stdout(&r.run(&r.admin, 0, &give));
    let local = stdout(&r.d.expect(0, &give));
    let first_line = |s: &str| s.lines().next().unwrap_or("").to_owned();
    assert_eq!(first_line(&remote), first_line(&local));
    for args in [
        &["grant", "list"][..],
        &["grant", "list", "--json"][..],
        &["grant", "list", "--all"][..],
    ] {
        assert_eq!(
            stdout(&r.run(&r.viewer, 0, args)),
            stdout(&r.d.expect(0, args)),
            "{args:?}"
        );
    }
    let id = remote.lines().last().unwrap().trim().to_owned();
    let out = stdout(&r.run(&r.admin, 0, &["grant", "revoke", &id]));
    assert!(
        out.starts_with(&format!("revoked grant {id}: nodes.reboot on demo@0.1.0")),
        "{out}"
    );
    let local = stderr(&r.d.expect(2, &["grant", "revoke", &id]));
    let remote = stderr(&r.run(&r.admin, 2, &["grant", "revoke", &id]));
    let expected = format!("no active grant {id} (see `drover grant list --all`)");
    assert!(local.contains(&expected), "{local}");
    assert!(remote.contains(&expected), "{remote}");

    // Rules: enabled and disabled with the same words; unknown alike.
    let rule = r.d.json(0, &["rule", "list"])[0]["ref"]
        .as_str()
        .unwrap()
        .to_owned();
    for verb in ["disable", "enable"] {
        let remote = stdout(&r.run(&r.operator, 0, &["rule", verb, &rule]));
        let local = stdout(&r.d.expect(0, &["rule", verb, &rule]));
        assert_eq!(remote, local, "{verb}");
    }
    let local = stderr(&r.d.expect(2, &["rule", "enable", "demo.nope"]));
    let remote = stderr(&r.run(&r.operator, 2, &["rule", "enable", "demo.nope"]));
    for err in [&local, &remote] {
        assert!(
            err.contains("no rule \"demo.nope\" (see `drover rule list`)"),
            "{err}"
        );
    }
}

/// A trigger instance's trace, locally and through the server: the rule
/// that matched with its execution, the rules that did not with the
/// criterion that failed, and an enforcement that failed with its reason;
/// an unknown id is an error naming it, and the API refuses the anonymous.
#[test]
fn a_trigger_is_traced_to_its_rules_and_runs_through_the_server_as_locally() {
    use support::server as srv;
    let r = Remote::start(&["packs/core", "tests/packs/events"]);
    srv::set_secret(&r.d, "events.webhook", srv::HMAC_KEY);
    let fired = srv::post_signed(&r.server, br#"{"node":"b7","message":"hi"}"#).accepted_id();
    let refused = srv::post_signed(&r.server, br#"{"node":"x1","message":"hi"}"#).accepted_id();
    let t = srv::processed(&r.d, &r.server, &fired);
    let execution = srv::one_scheduled_echo(&t);
    srv::processed(&r.d, &r.server, &refused);
    srv::execution(&r.d, &r.server, &execution);

    let local = r.d.json(0, &["trigger", "show", &fired]);
    let rule = |trace: &Value, name: &str| -> Value {
        trace["rules"]
            .as_array()
            .unwrap()
            .iter()
            .find(|x| x["rule"] == name)
            .unwrap_or_else(|| panic!("no {name} in {trace:#}"))
            .clone()
    };
    let echo = rule(&local, "events.echo_ping");
    assert_eq!(echo["verdict"], "scheduled", "{local:#}");
    assert_eq!(echo["execution"]["id"], execution.as_str());
    assert_eq!(echo["execution"]["status"], "succeeded", "{echo:#}");
    let bad = rule(&local, "events.bad_param");
    assert_eq!(bad["verdict"], "no_match", "{bad:#}");
    assert_eq!(bad["misses"][0]["key"], "trigger.node", "{bad:#}");
    assert_eq!(bad["misses"][0]["value"], "b7", "{bad:#}");
    assert!(
        bad["why"]
            .as_str()
            .unwrap()
            .contains("trigger.node is \"b7\""),
        "{bad:#}"
    );
    assert_eq!(rule(&local, "events.three_strikes")["verdict"], "no_match");

    // The enforcement that failed says why, as recorded.
    let x1 = r.d.json(0, &["trigger", "show", &refused]);
    let failed = rule(&x1, "events.bad_param");
    assert_eq!(failed["verdict"], "failed", "{x1:#}");
    assert!(
        failed["why"].as_str().unwrap().contains("secs"),
        "{failed:#}"
    );

    // Through the server: the same trace, and the same text.
    let remote = r.json(&r.viewer, 0, &["trigger", "show", &fired]);
    assert_eq!(remote["rules"], local["rules"]);
    let text = stdout(&r.run(&r.viewer, 0, &["trigger", "show", &fired]));
    assert_eq!(text, stdout(&r.d.expect(0, &["trigger", "show", &fired])));
    assert!(text.contains("rule events.echo_ping scheduled"), "{text}");
    assert!(text.contains(&format!("execution {execution}")), "{text}");

    // Unknown ids, and no token.
    let out = r.d.run(&["trigger", "show", "01NOSUCHTRIGGER"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("no trigger instance \"01NOSUCHTRIGGER\""));
    let out = r.run(&r.viewer, 2, &["trigger", "show", "01NOSUCHTRIGGER"]);
    assert!(
        stderr(&out).contains("no trigger instance"),
        "{}",
        stderr(&out)
    );
    let anonymous = ureq::get(&format!("http://{}/api/v1/triggers/{fired}", r.server.addr))
        .config()
        .http_status_as_error(false)
        .build()
        .call()
        .unwrap();
    assert_eq!(anonymous.status().as_u16(), 401);
}

/// Incidents through the server as locally; a range out of bounds is
/// refused with the bounds, by the CLI, the API and the web page.
#[test]
fn incidents_list_through_the_server_as_locally_and_refuse_a_bad_range() {
    let r = Remote::start(&["packs/core", "packs/demo"]);
    // Three runs that fail the same way on three nodes: one incident.
    for node in ["n001", "n002", "n003"] {
        r.d.expect(1, &["run", "demo.reboot_node", &format!("node={node}")]);
    }
    let local = r.d.json(0, &["incident", "list"]);
    let list = local.as_array().unwrap();
    assert_eq!(list.len(), 1, "{local:#}");
    assert_eq!(list[0]["kind"], "failed");
    assert_eq!(list[0]["members"].as_array().unwrap().len(), 3, "{local:#}");
    assert_eq!(list[0]["nodes"], 3);
    assert_eq!(list[0]["ongoing"], true);
    let remote = r.json(&r.viewer, 0, &["incident", "list"]);
    assert_eq!(remote[0]["id"], list[0]["id"]);
    assert_eq!(remote[0]["members"], list[0]["members"]);
    let text = stdout(&r.d.expect(0, &["incident", "list", "--members"]));
    assert!(
        text.contains("demo.reboot_node failed 3 times the same way"),
        "{text}"
    );
    assert!(text.contains("n002"), "{text}");

    for bad in ["99d", "soon"] {
        let out = r.d.run(&["incident", "list", "--since", bad]);
        assert_eq!(out.status.code(), Some(2), "{bad}");
        assert!(stderr(&out).contains("since:"), "{}", stderr(&out));
        let out = r.run(&r.viewer, 2, &["incident", "list", "--since", bad]);
        assert!(stderr(&out).contains("since:"), "{}", stderr(&out));
    }
    let page = ureq::get(&format!(
        "http://{}/api/v1/incidents?since=31d",
        r.server.addr
    ))
    .header("authorization", &format!("Bearer {}", r.viewer))
    .config()
    .http_status_as_error(false)
    .build()
    .call()
    .unwrap();
    assert_eq!(page.status().as_u16(), 400);
}
/// The queue, a cancel, the budgets' holders and the maintenance windows
/// through the server print what they print on the host, and a viewer
/// may read but not change them.
#[test]
fn the_fleet_queue_cancel_and_windows_through_the_server_as_locally() {
    let r = Remote::start(&["packs/core"]);
    // Drains that take ten minutes: the queue holds still while we look.
    let inventory = r.d.dir.path().join("nodes.yaml");
    std::fs::write(
        &inventory,
        "nodes:
  - {name: a1, labels: {rack: r1}, options: {drain_seconds: 600}}
  - {name: a2, labels: {rack: r1}}
  - {name: b1, labels: {rack: r2}, options: {drain_seconds: 600}}
",
    )
    .unwrap();
    r.d.expect(0, &["node", "import", inventory.to_str().unwrap()]);
    r.d.budget_rack_one();
    r.d.expect(0, &["node", "drain", "a1", "a2", "b1", "--reason", "disk"]);
    for args in [
        &["fleet", "queue"][..],
        &["fleet", "queue", "--json"],
        &["budget", "list"],
        &["budget", "list", "--json"],
    ] {
        assert_eq!(
            stdout(&r.run(&r.viewer, 0, args)),
            stdout(&r.d.expect(0, args)),
            "{args:?}"
        );
    }
    let budgets = stdout(&r.d.expect(0, &["budget", "list"]));
    assert!(
        budgets.contains("rack=r1 full (1 of 1): a1 (draining)"),
        "{budgets}"
    );
    let queue = r.d.json(0, &["fleet", "queue"]);
    // Asked in the same millisecond: the queue's order among them is the
    // ids', which is random within a millisecond. Look them up by node.
    let of = |node: &str| -> Value {
        queue
            .as_array()
            .unwrap()
            .iter()
            .find(|q| q["node"] == node)
            .unwrap_or_else(|| panic!("no request of {node}: {queue:#}"))
            .clone()
    };
    assert_eq!(queue.as_array().unwrap().len(), 3, "{queue:#}");
    assert_eq!(of("a2")["gate"], "budget", "{queue:#}");
    assert_eq!(of("a1")["cancel"], "give_back", "{queue:#}");
    let text = stdout(&r.d.expect(0, &["fleet", "queue"]));
    assert!(
        text.contains("a2") && text.contains("budget rack-one"),
        "{text}"
    );
    let id = of("a2")["id"].as_str().unwrap().to_owned();

    let cancel = ["fleet", "cancel", id.as_str(), "--reason", "wrong node"];
    let out = r.run(&r.viewer, 2, &cancel);
    assert!(stderr(&out).contains("operator"), "{}", stderr(&out));
    let out = r.run(&r.operator, 0, &cancel);
    assert!(
        stdout(&out).contains(&format!("request {id} (drain of a2) cancelled")),
        "{}",
        stdout(&out)
    );
    let out = r.run(&r.operator, 2, &cancel);
    assert!(stderr(&out).contains("already ended"), "{}", stderr(&out));
    let out = r.run(
        &r.operator,
        2,
        &["fleet", "cancel", "01NOSUCH", "--reason", "x"],
    );
    assert!(stderr(&out).contains("01NOSUCH"), "{}", stderr(&out));
    // A draining node is given back, locally alike.
    let b1 = of("b1")["id"].as_str().unwrap().to_owned();
    let out = r.d.expect(0, &["fleet", "cancel", &b1, "--reason", "oops"]);
    assert!(
        stdout(&out).contains("b1 was draining and is given back to production"),
        "{}",
        stdout(&out)
    );
    wait_for("b1 back in production", SETTLE, || {
        (r.state("b1") == "production").then_some(())
    });

    let add = [
        "fleet",
        "window",
        "add",
        "nights",
        "--days",
        "mon,tue",
        "--start",
        "22:00",
        "--end",
        "04:00",
        "--tz",
        "Europe/Zurich",
    ];
    let out = r.run(&r.viewer, 2, &add);
    assert!(stderr(&out).contains("operator"), "{}", stderr(&out));
    r.run(&r.operator, 0, &add);
    for args in [
        &["fleet", "window", "list"][..],
        &["fleet", "window", "list", "--json"],
    ] {
        assert_eq!(
            stdout(&r.run(&r.viewer, 0, args)),
            stdout(&r.d.expect(0, args)),
            "{args:?}"
        );
    }
    let listed = r.d.json(0, &["fleet", "window", "list"]);
    assert_eq!(listed[0]["name"], "nights", "{listed:#}");
    assert_eq!(listed[0]["nodes"], 3, "{listed:#}");
    let out = r.run(
        &r.operator,
        2,
        &[
            "fleet", "window", "add", "odd", "--start", "25:00", "--end", "04:00",
        ],
    );
    assert!(stderr(&out).contains("25:00"), "{}", stderr(&out));
    let out = r.run(&r.operator, 2, &["fleet", "window", "remove", "nope"]);
    assert!(stderr(&out).contains("no window named"), "{}", stderr(&out));
    r.run(&r.operator, 0, &["fleet", "window", "remove", "nights"]);
    assert_eq!(
        r.d.json(0, &["fleet", "window", "list"]),
        serde_json::json!([])
    );
}

/// The live version of `name`, read from the database.
fn live_version(d: &Drover, name: &str) -> Option<String> {
    d.json(0, &["pack", "list"])
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"] == name && p["live"] == true)
        .map(|p| p["version"].as_str().unwrap().to_owned())
}

/// `drover pack rollback` (issue 16, part 4), locally and through the
/// server: refused, with the same message and exit 2, without a reason,
/// for a version instead of a pack, for an unknown pack, with nothing
/// earlier to go back to, and (through the server) for viewers and the
/// anonymous; a refusal changes and records nothing. Then an operator
/// rolls a promoted candidate back.
#[test]
fn pack_rollback_is_refused_alike_locally_and_through_the_server() {
    let r = Remote::start(&["packs/core", "packs/demo"]);
    let refused = |args: &[&str], says: &str| {
        let local = stderr(&r.d.expect(2, args));
        let remote = stderr(&r.run(&r.operator, 2, args));
        assert!(local.contains(says), "local {args:?}: {local}");
        assert!(remote.contains(says), "--server {args:?}: {remote}");
    };
    refused(
        &["pack", "rollback", "demo", "--reason", "CHG-1: back"],
        "cannot roll back demo: demo@0.1.0 is live and no earlier trusted version is installed \
         to go back to (installed: 0.1.0 (live)); install the version to go back to",
    );
    refused(
        &["pack", "rollback", "nope", "--reason", "CHG-1: back"],
        "no pack \"nope\" is installed",
    );
    refused(
        &["pack", "rollback", "demo", "--reason", "  "],
        "needs a reason",
    );
    refused(
        &["pack", "rollback", "demo@0.1.0", "--reason", "CHG-1: back"],
        "a rollback takes a pack name (\"demo\"), not a version (demo@0.1.0)",
    );
    let out = r.d.expect(2, &["pack", "rollback", "demo"]);
    assert!(stderr(&out).contains("--reason"), "{}", stderr(&out));

    // A promoted candidate: viewers and the anonymous cannot roll it back.
    let bumped = r.d.copy_pack("packs/demo", "demo-0.2.0");
    edit_manifest(&bumped, "version: 0.1.0", "version: 0.2.0");
    r.d.expect(0, &["pack", "install", bumped.to_str().unwrap()]);
    r.d.expect(0, &["pack", "promote", "demo", "--reason", "CHG-2: up"]);
    assert_eq!(live_version(&r.d, "demo").as_deref(), Some("0.2.0"));
    let args = ["pack", "rollback", "demo", "--reason", "CHG-3: back"];
    let out = r.run(&r.viewer, 2, &args);
    assert!(
        stderr(&out).contains("403") && stderr(&out).contains("needs the operator role"),
        "{}",
        stderr(&out)
    );
    let base = format!("http://{}", r.server.addr);
    let out =
        r.d.cmd()
            .env_remove("DROVER_TOKEN")
            .args(["--server", &base])
            .args(args)
            .output()
            .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("401") && stderr(&out).contains("pass --token"),
        "{}",
        stderr(&out)
    );
    assert_eq!(
        live_version(&r.d, "demo").as_deref(),
        Some("0.2.0"),
        "refused: nothing changed"
    );
    let none = r.d.json(0, &["changes", "list", "--kind", "pack.rollback"]);
    assert!(none.as_array().unwrap().is_empty(), "{none:#}");

    // An operator rolls it back through the server.
    let out = r.run(&r.operator, 0, &args);
    assert!(
        stdout(&out).starts_with(
            "rolled back demo: live version 0.2.0 → 0.1.0; demo@0.1.0 is the live version again"
        ),
        "{}",
        stdout(&out)
    );
    assert_eq!(live_version(&r.d, "demo").as_deref(), Some("0.1.0"));
    let c = &r.d.json(0, &["changes", "list", "--kind", "pack.rollback"])[0];
    assert_eq!(c["subject"], "demo@0.2.0", "{c:#}");
    assert_eq!(c["reason"], "CHG-3: back");
    assert!(
        c["actor"].as_str().unwrap().starts_with("token:operator"),
        "{c:#}"
    );
    // Nothing earlier than 0.1.0 now.
    refused(&args, "cannot roll back demo: demo@0.1.0 is live");
}

/// `drover pack diff` prints the same, locally and through the server,
/// in text and JSON; a version that is not installed is refused (exit 2)
/// naming it and the installed versions.
#[test]
fn pack_diff_is_the_same_locally_and_through_the_server() {
    let r = Remote::start(&["packs/core", "packs/demo"]);
    let refused = |args: &[&str], says: &[&str]| {
        for out in [r.d.expect(2, args), r.run(&r.viewer, 2, args)] {
            for s in says {
                assert!(stderr(&out).contains(s), "{args:?}: {}", stderr(&out));
            }
        }
    };
    refused(
        &["pack", "diff", "demo"],
        &["demo has no shadowed candidate to compare with the live demo@0.1.0"],
    );
    let bumped = r.d.copy_pack("packs/demo", "demo-0.2.0");
    edit_manifest(&bumped, "version: 0.1.0", "version: 0.2.0");
    edit_manifest(
        &bumped,
        "capabilities: [log, nodes.reboot]",
        "capabilities: [log, nodes.reboot, nodes.drain]",
    );
    r.d.expect(0, &["pack", "install", bumped.to_str().unwrap()]);
    r.d.grant("demo@0.1.0", "nodes.reboot", "rack=r01");
    refused(
        &["pack", "diff", "demo", "0.1.0", "9.9.9"],
        &[
            "demo@9.9.9 is not installed",
            "installed versions: 0.1.0 (live), 0.2.0 (shadow)",
        ],
    );
    refused(
        &["pack", "diff", "nope"],
        &["no pack \"nope\" is installed"],
    );

    for args in [
        &["pack", "diff", "demo"][..],
        &["pack", "diff", "demo", "0.1.0", "0.2.0"][..],
        &["pack", "diff", "demo", "0.2.0", "0.1.0"][..],
    ] {
        assert_eq!(
            stdout(&r.run(&r.viewer, 0, args)),
            stdout(&r.d.expect(0, args)),
            "{args:?}"
        );
        let mut json = args.to_vec();
        json.push("--json");
        let local: Value = serde_json::from_slice(&r.d.expect(0, &json).stdout).unwrap();
        assert_eq!(r.json(&r.viewer, 0, args), local, "{args:?}");
    }
    let d = r.d.json(0, &["pack", "diff", "demo"]);
    assert_eq!(d["from"]["version"], "0.1.0");
    assert_eq!(d["to"]["version"], "0.2.0");
    let first = &d["capabilities"][0];
    assert_eq!(first["capability"], "nodes.drain", "{d:#}");
    assert_eq!(first["change"], "added");
    assert_eq!(first["missing_grant"], true);
    let reboot = d["capabilities"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["capability"] == "nodes.reboot")
        .unwrap();
    assert_eq!(reboot["granted_from"], serde_json::json!(["rack=r01"]));
    assert_eq!(reboot["granted_to"], serde_json::json!([]));
    let text = stdout(&r.d.expect(0, &["pack", "diff", "demo"]));
    let caps = text.find("Capabilities and grants").unwrap();
    assert!(
        text[caps..].lines().nth(1).unwrap().contains("+ ")
            && text[caps..].lines().nth(1).unwrap().contains("nodes.drain"),
        "{text}"
    );
    assert!(
        text.contains("0.1.0 has 'rack=r01'; 0.2.0 has no grant: denied once 0.2.0 is live"),
        "{text}"
    );
}

/// `drover trust add|list|remove` through the server: what the local
/// commands print, on the same database; viewers list, only admins change
/// what is trusted, and a hostile key or name is refused before or by the
/// server, naming it, with nothing stored.
#[test]
fn trusted_keys_through_the_server_as_locally() {
    let r = Remote::start(&[]);
    let keys = r.d.dir.path().join("keys");
    r.d.expect(
        0,
        &[
            "key",
            "new",
            "--name",
            "ci-team",
            "--dir",
            keys.to_str().unwrap(),
        ],
    );
    let public = keys.join("ci-team.pub");
    let public = public.to_str().unwrap();

    // Only an admin may trust a key; the refusal names the role.
    let out = r.run(&r.operator, 2, &["trust", "add", public, "--name", "ci"]);
    assert!(stderr(&out).contains("admin"), "{}", stderr(&out));
    let none = r.run(&r.viewer, 0, &["trust", "list"]);
    assert!(
        stdout(&none).contains("no trusted keys"),
        "{}",
        stdout(&none)
    );

    let added = r.json(
        &r.admin,
        0,
        &[
            "trust",
            "add",
            public,
            "--name",
            "ci-team",
            "--packs",
            "ev*,ops",
            "--reason",
            "CHG-9: CI publishes events",
        ],
    );
    assert_eq!(added["name"], "ci-team");
    assert_eq!(added["packs"], serde_json::json!(["ev*", "ops"]));
    let fingerprint = added["fingerprint"].as_str().unwrap().to_owned();
    assert!(fingerprint.starts_with("SHA256:"), "{fingerprint}");
    assert!(
        added["added_by"]
            .as_str()
            .unwrap()
            .starts_with("token:admin"),
        "{added}"
    );

    // The remote list prints what the local one prints.
    let remote = stdout(&r.run(&r.viewer, 0, &["trust", "list"]));
    let local = stdout(&r.d.expect(0, &["trust", "list"]));
    assert_eq!(remote, local);
    assert!(
        remote.contains("ci-team") && remote.contains(&fingerprint),
        "{remote}"
    );

    // Taken name or key: 409's message; bad patterns, names and keys: 400's.
    let out = r.run(&r.admin, 2, &["trust", "add", public, "--name", "ci-team"]);
    assert!(stderr(&out).contains("already trusted"), "{}", stderr(&out));
    let out = r.run(&r.admin, 2, &["trust", "add", public, "--name", "other"]);
    assert!(
        stderr(&out).contains("is already trusted as \"ci-team\""),
        "{}",
        stderr(&out)
    );
    let out = r.run(
        &r.admin,
        2,
        &["trust", "add", public, "--name", "x", "--packs", "ops-*"],
    );
    assert!(
        stderr(&out).contains("--packs pattern \"ops-*\""),
        "{}",
        stderr(&out)
    );
    let out = r.run(&r.admin, 2, &["trust", "add", public, "--name", "../up"]);
    assert!(
        stderr(&out).contains("key name \"../up\""),
        "{}",
        stderr(&out)
    );
    // A file that is no key is named before anything is sent.
    let bad = r.d.dir.path().join("bad.pub");
    std::fs::write(&bad, "ssh-ed25519 AAAAnot-a-key\n").unwrap();
    let out = r.run(
        &r.admin,
        2,
        &["trust", "add", bad.to_str().unwrap(), "--name", "y"],
    );
    assert!(
        stderr(&out).contains("bad.pub: not an OpenSSH public key"),
        "{}",
        stderr(&out)
    );
    // The API itself refuses a hostile body (no CLI in between).
    let base = format!("http://{}", r.server.addr);
    let api = |body: serde_json::Value| {
        ureq::Agent::config_builder()
            .http_status_as_error(false)
            .build()
            .new_agent()
            .post(&format!("{base}/api/v1/trust"))
            .header("authorization", &format!("Bearer {}", r.admin))
            .header("content-type", "application/json")
            .send(body.to_string())
            .unwrap()
    };
    let huge = api(serde_json::json!({"name": "big", "public_key": "x".repeat(64 * 1024)}));
    assert_eq!(huge.status(), 400);
    let private = std::fs::read_to_string(keys.join("ci-team")).unwrap();
    let mut wrong = api(serde_json::json!({"name": "priv", "public_key": private}));
    assert_eq!(wrong.status(), 400);
    let said = wrong.body_mut().read_to_string().unwrap();
    assert!(said.contains("public_key"), "{said}");
    assert!(
        !said.contains("PRIVATE KEY"),
        "the error echoes the private key: {said}"
    );
    let extra = api(serde_json::json!({"name": "e", "public_key": "k", "grant": "all"}));
    assert_eq!(extra.status(), 400);
    assert_eq!(r.d.json(0, &["trust", "list"]).as_array().unwrap().len(), 1);

    // Removing: admin only, 404's message for an unknown name, reason kept.
    let out = r.run(&r.operator, 2, &["trust", "remove", "ci-team"]);
    assert!(stderr(&out).contains("admin"), "{}", stderr(&out));
    let out = r.run(&r.admin, 2, &["trust", "remove", "nobody"]);
    assert!(
        stderr(&out).contains("no trusted key is named \"nobody\""),
        "{}",
        stderr(&out)
    );
    let out = r.run(
        &r.admin,
        0,
        &[
            "trust",
            "remove",
            "ci-team",
            "--reason",
            "CHG-10: key rotated",
        ],
    );
    assert!(
        stdout(&out).contains("no longer trusting key ci-team"),
        "{}",
        stdout(&out)
    );
    assert!(
        r.d.json(0, &["trust", "list"])
            .as_array()
            .unwrap()
            .is_empty()
    );
    let changes = r.d.json(0, &["changes", "list", "--kind", "trust"]);
    let reasons: Vec<&str> = changes
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["reason"].as_str().unwrap_or(""))
        .collect();
    assert_eq!(
        reasons,
        ["CHG-10: key rotated", "CHG-9: CI publishes events"]
    );
}
