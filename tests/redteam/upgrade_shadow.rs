//! Hole: a shadow "new version" of a trusted pack took over its name. The
//! executor, the catalog and the rules table all followed the newest
//! install, so `core@9.9.9` from anywhere became what trusted rules,
//! workflows and `drover run` called, live, and its rules replaced
//! core@0.1.0's. Upgrades do not inherit trust: a new version arrives
//! shadowed (even from drover's own packs/), the trusted version stays live
//! and its rules stay in force until the new one is promoted; the candidate
//! is reached only dry: with `drover run --version`, and through its rules,
//! which run beside the live ones as dry runs of the candidate.

use serde_json::Value;

use crate::support::server::{
    HMAC_KEY, Server, execution, one_scheduled_echo, post_signed, processed, set_secret,
};
use crate::support::*;

fn versions(d: &Drover, name: &str) -> Vec<(String, bool, bool)> {
    d.json(0, &["pack", "list"])
        .as_array()
        .unwrap()
        .iter()
        .filter(|p| p["name"] == name)
        .map(|p| {
            (
                p["version"].as_str().unwrap().to_owned(),
                p["live"] == true,
                p["shadow"] == true,
            )
        })
        .collect()
}

fn rule_refs(d: &Drover) -> Vec<String> {
    d.json(0, &["rule", "list"])
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            r["ref"]
                .as_str()
                .or(r["reference"].as_str())
                .unwrap()
                .to_owned()
        })
        .collect()
}

#[test]
fn a_shadow_new_version_does_not_take_over_a_trusted_packs_name() {
    let d = Drover::new();
    d.install(&["packs/core", "tests/packs/events"]);
    set_secret(&d, "events.webhook", HMAC_KEY);
    let next = pack_dir("tests/redteam/packs/core_next");
    let out = d.expect(0, &["pack", "install", next.to_str().unwrap()]);
    let said = stdout(&out);

    // The operator's run: the trusted version, live.
    let e = d.json(0, &["run", "core.echo", "message=hi"]);
    assert_eq!(e["pack_version"], "0.1.0", "{e:#}");
    assert_eq!(e["dry_run"], false, "{e:#}");
    assert_eq!(e["result"]["message"], "hi", "{e:#}");

    assert!(
        said.contains("installed core@9.9.9 in shadow mode")
            && said.contains("core@0.1.0 stays the live version"),
        "{said}"
    );
    let mut listed = versions(&d, "core");
    listed.sort();
    assert_eq!(
        listed,
        [
            ("0.1.0".to_owned(), true, false),
            ("9.9.9".to_owned(), false, true)
        ],
        "(version, live, shadow)"
    );
    // The candidate's rule waits aside.
    assert!(
        !rule_refs(&d).contains(&"core.takeover".to_owned()),
        "{:?}",
        rule_refs(&d)
    );

    // A trusted rule (events.echo_ping calls core.echo): the trusted
    // version. The candidate's rule sees the trigger too, beside it, but
    // only ever as a dry run of the candidate (side-by-side shadow).
    let server = Server::start(&d);
    let id = post_signed(&server, br#"{"node":"b1","message":"live"}"#).accepted_id();
    let mut t = processed(&d, &server, &id);
    let all = t["enforcements"].as_array().unwrap().clone();
    let (beside, live): (Vec<Value>, Vec<Value>) =
        all.into_iter().partition(|e| e["candidate"].is_string());
    t["enforcements"] = Value::Array(live);
    let e = execution(&d, &server, &one_scheduled_echo(&t));
    assert_eq!(e["pack_version"], "0.1.0", "{e:#}");
    assert_eq!(e["dry_run"], false, "{e:#}");
    assert_eq!(e["result"]["message"], "live", "{e:#}");
    assert_eq!(beside.len(), 1, "{beside:#?}");
    assert_eq!(beside[0]["rule_ref"], "core.takeover");
    assert_eq!(beside[0]["candidate"], "9.9.9");
    let shadow = execution(&d, &server, beside[0]["execution_id"].as_str().unwrap());
    assert_eq!(shadow["pack_version"], "9.9.9", "{shadow:#}");
    assert_eq!(
        shadow["dry_run"], true,
        "the candidate never acts: {shadow:#}"
    );
    drop(server);

    // The candidate, on purpose: dry, with its plan.
    let out = d.expect(
        0,
        &[
            "run",
            "core.echo",
            "--version",
            "9.9.9",
            "message=x",
            "--json",
        ],
    );
    assert!(
        stderr(&out).contains("core@9.9.9 is in shadow mode"),
        "{}",
        stderr(&out)
    );
    let e: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(e["pack_version"], "9.9.9", "{e:#}");
    assert_eq!(e["dry_run"], true, "{e:#}");
    assert!(
        e["plan"]
            .as_array()
            .unwrap()
            .iter()
            .any(|p| p["capability"] == "kv" && p["operation"] == "set"),
        "{e:#}"
    );

    // Promoted: it is live, its rule in force.
    let out = d.expect(
        0,
        &["pack", "promote", "core@9.9.9", "--reason", "test: promote"],
    );
    assert!(
        stdout(&out).contains("it is now the live version (was core@0.1.0)"),
        "{}",
        stdout(&out)
    );
    let e = d.json(0, &["run", "core.echo", "message=hi"]);
    assert_eq!(e["pack_version"], "9.9.9", "{e:#}");
    assert_eq!(e["dry_run"], false, "{e:#}");
    assert!(rule_refs(&d).contains(&"core.takeover".to_owned()));
}

/// Even drover's own bundled pack arrives shadowed when it is a new version
/// of an installed one.
#[test]
fn a_new_version_from_drovers_own_packs_arrives_shadowed() {
    let d = Drover::new();
    let old = d.copy_pack("packs/core", "core-0.0.1");
    edit_manifest(&old, "version: 0.1.0", "version: 0.0.1");
    d.expect(0, &["pack", "install", "--trusted", old.to_str().unwrap()]);
    let out = d.expect(
        0,
        &["pack", "install", pack_dir("packs/core").to_str().unwrap()],
    );
    let e = d.json(0, &["run", "core.echo", "message=hi"]);
    assert_eq!(e["pack_version"], "0.0.1", "{e:#}");
    assert!(
        stdout(&out).contains("installed core@0.1.0 in shadow mode"),
        "{}",
        stdout(&out)
    );
    let shown = stdout(&d.expect(0, &["pack", "show", "core@0.1.0"]));
    assert!(
        shown.contains("NOT LIVE: core@0.0.1 is the live version"),
        "{shown}"
    );
}
