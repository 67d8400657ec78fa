//! The change log (issue 16, part 5), through the `drover` binary on its
//! own database: every install, promotion, grant, revocation, rule
//! enabled or disabled, budget and fleet setting change and brake
//! release lands with who, when, why and the diff; promotion refuses to
//! go without a reason; a refused change records nothing; `drover changes
//! export` is JSON Lines. The API, `--server` and the web page are tested
//! in `tests/api.rs` and `tests/ui.rs`.

mod support;

use serde_json::Value;
use support::*;

/// Changes as `drover changes list --json` prints them, newest first,
/// with `filters`.
fn changes(d: &Drover, filters: &[&str]) -> Vec<Value> {
    let mut args = vec!["changes", "list"];
    args.extend_from_slice(filters);
    d.json(0, &args).as_array().unwrap().clone()
}

/// The newest change of `kind`.
fn newest(d: &Drover, kind: &str) -> Value {
    changes(d, &["--kind", kind])
        .into_iter()
        .next()
        .unwrap_or_else(|| panic!("no {kind} change"))
}

fn diff(c: &Value) -> Vec<String> {
    c["diff"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l.as_str().unwrap().to_owned())
        .collect()
}

/// demo@0.1.0 installed (trusted), and a copy bumped to 0.2.0 (not yet
/// installed).
fn demo_and_candidate() -> (Drover, std::path::PathBuf) {
    let d = Drover::new();
    d.install(&["packs/core", "packs/demo"]);
    let bumped = d.copy_pack("packs/demo", "demo-0.2.0");
    edit_manifest(&bumped, "version: 0.1.0", "version: 0.2.0");
    (d, bumped)
}

#[test]
fn an_install_lands_with_its_reason_and_what_it_changed() {
    let (d, bumped) = demo_and_candidate();
    let first = newest(&d, "pack.install");
    assert_eq!(first["actor"], "user:tester");
    assert!(first["reason"].is_null(), "no reason given: {first:#}");
    d.expect(
        0,
        &[
            "pack",
            "install",
            bumped.to_str().unwrap(),
            "--reason",
            "CHG-1: ssh timeout raised",
        ],
    );
    let c = newest(&d, "pack.install");
    assert_eq!(c["subject"], "demo@0.2.0", "{c:#}");
    assert_eq!(c["actor"], "user:tester");
    assert_eq!(c["reason"], "CHG-1: ssh timeout raised");
    assert!(
        c["summary"]
            .as_str()
            .unwrap()
            .contains("in shadow mode; demo@0.1.0 stays the live version"),
        "{c:#}"
    );
    let lines = diff(&c);
    assert!(
        lines.contains(&"installed: false → true".to_owned()),
        "{lines:?}"
    );
    assert!(lines.contains(&"shadow: — → true".to_owned()), "{lines:?}");
    assert_eq!(c["before"]["live_version"], "0.1.0");
    assert_eq!(c["after"]["live_version"], "0.1.0", "the candidate waits");
    assert!(
        c["after"]["digests"].as_object().unwrap().len() > 1,
        "the digests installed: {c:#}"
    );
    // The change is an audit record too: one log, seen from two sides.
    let audit = d.json(0, &["audit", "list", "--target", "demo@0.2.0"]);
    assert_eq!(audit[0]["capability"], "pack.install", "{audit:#}");
    assert_eq!(audit[0]["change"]["reason"], "CHG-1: ssh timeout raised");
}

#[test]
fn a_promotion_needs_a_reason_and_records_the_switch_of_the_live_version() {
    let (d, bumped) = demo_and_candidate();
    d.expect(0, &["pack", "install", bumped.to_str().unwrap()]);
    let out = d.expect(2, &["pack", "promote", "demo@0.2.0"]);
    assert!(stderr(&out).contains("--reason"), "{}", stderr(&out));
    let long = "x".repeat(501);
    let out = d.expect(2, &["pack", "promote", "demo@0.2.0", "--reason", &long]);
    assert!(
        stderr(&out).contains("501 characters long, more than the 500 kept"),
        "{}",
        stderr(&out)
    );
    let out = d.expect(2, &["pack", "promote", "demo@0.2.0", "--reason", "   "]);
    assert!(stderr(&out).contains("needs a reason"), "{}", stderr(&out));
    assert!(
        changes(&d, &["--kind", "pack.promote"]).is_empty(),
        "refused: nothing recorded"
    );
    let live = d.json(0, &["pack", "show", "demo"]);
    assert_eq!(live["pack"]["version"], "0.1.0", "refused: nothing changed");

    d.expect(
        0,
        &[
            "pack",
            "promote",
            "demo",
            "--reason",
            "CHG-1234: ssh timeout raised",
        ],
    );
    let c = newest(&d, "pack.promote");
    assert_eq!(c["subject"], "demo@0.2.0");
    assert_eq!(c["actor"], "user:tester");
    assert_eq!(c["reason"], "CHG-1234: ssh timeout raised");
    assert_eq!(
        diff(&c),
        ["live_version: 0.1.0 → 0.2.0", "shadow: true → false"]
    );
}

#[test]
fn a_grant_and_its_revocation_land_with_their_scope() {
    let (d, _) = demo_and_candidate();
    let given = d.json(
        0,
        &[
            "grant",
            "add",
            "demo@0.1.0",
            "nodes.reboot",
            "--scope",
            "rack=r01",
            "--reason",
            "CHG-2: rack r01 only",
        ],
    );
    let id = given["id"].as_str().unwrap();
    let c = newest(&d, "grant.add");
    assert_eq!(c["subject"], "demo@0.1.0 nodes.reboot");
    assert_eq!(
        (&c["actor"], &c["reason"]),
        (&"user:tester".into(), &"CHG-2: rack r01 only".into())
    );
    assert!(c["before"].is_null());
    assert_eq!(c["after"]["scope"], "rack=r01");
    assert_eq!(c["after"]["id"], id);
    assert!(diff(&c).contains(&"+ scope: rack=r01".to_owned()), "{c:#}");

    d.expect(0, &["grant", "revoke", id, "--reason", "CHG-3: done"]);
    let c = newest(&d, "grant.revoke");
    assert_eq!(c["subject"], "demo@0.1.0 nodes.reboot");
    assert_eq!(c["reason"], "CHG-3: done");
    assert_eq!(c["before"]["scope"], "rack=r01");
    assert!(c["after"].is_null());
    assert!(diff(&c).contains(&"- scope: rack=r01".to_owned()), "{c:#}");
    // A grant given without a reason is still recorded (the reason is
    // optional but for promotions).
    d.grant("demo@0.1.0", "nodes.reboot", "*");
    assert!(newest(&d, "grant.add")["reason"].is_null());
    assert_eq!(changes(&d, &["--kind", "grant"]).len(), 3);
}

#[test]
fn disabling_and_enabling_a_rule_land_with_the_flag_before_and_after() {
    let d = Drover::new();
    d.install(&["packs/core", "tests/packs/events"]);
    d.expect(
        0,
        &[
            "rule",
            "disable",
            "events.echo_ping",
            "--reason",
            "noisy tonight",
        ],
    );
    let c = newest(&d, "rule.disable");
    assert_eq!(c["subject"], "events.echo_ping");
    assert_eq!(c["actor"], "user:tester");
    assert_eq!(c["reason"], "noisy tonight");
    assert_eq!(diff(&c), ["enabled: true → false"]);
    // Disabling it again changes nothing and records nothing.
    d.expect(0, &["rule", "disable", "events.echo_ping"]);
    assert_eq!(changes(&d, &["--kind", "rule"]).len(), 1);
    d.expect(0, &["rule", "enable", "events.echo_ping"]);
    let c = newest(&d, "rule.enable");
    assert_eq!(diff(&c), ["enabled: false → true"]);
    assert!(c["reason"].is_null());
    // A refused change records nothing.
    d.expect(2, &["rule", "enable", "events.nope", "--reason", "x"]);
    assert_eq!(changes(&d, &["--kind", "rule"]).len(), 2);
}

#[test]
fn budget_changes_land_with_the_rule_before_and_after() {
    let d = Drover::new();
    let args = |name: &str, max: &str, why: &str| -> Vec<String> {
        [
            "budget",
            "set",
            name,
            "--strategy",
            "groupsemaphore",
            "--label",
            "rack",
            "--max",
            max,
            "--reason",
            why,
        ]
        .map(str::to_owned)
        .to_vec()
    };
    let run = |a: Vec<String>| d.expect(0, &a.iter().map(String::as_str).collect::<Vec<_>>());
    run(args("rack-one", "1", "CHG-5: one per rack"));
    let c = newest(&d, "fleet.budget");
    assert_eq!(c["subject"], "rack-one");
    assert_eq!(c["reason"], "CHG-5: one per rack");
    assert!(c["before"].is_null());
    assert_eq!(c["after"]["max"], 1, "{c:#}");
    run(args("rack-one", "2", "CHG-6: two per rack"));
    let c = newest(&d, "fleet.budget");
    assert_eq!(diff(&c), ["max: 1 → 2"], "{c:#}");
    d.expect(0, &["budget", "remove", "rack-one", "--reason", "CHG-7"]);
    let c = newest(&d, "fleet.budget");
    assert_eq!(c["summary"], "budget removed");
    assert!(c["after"].is_null());
    assert_eq!(c["before"]["max"], 2);
    assert_eq!(c["reason"], "CHG-7");
    // Refused: nothing recorded.
    d.expect(2, &["budget", "remove", "rack-one"]);
    assert_eq!(changes(&d, &["--kind", "fleet.budget"]).len(), 3);
}

#[test]
fn fleet_settings_and_the_brake_release_land_as_changes() {
    let d = Drover::new();
    d.expect(
        0,
        &["brake", "set", "--threshold", "7%", "--reason", "CHG-8"],
    );
    let c = newest(&d, "fleet.settings");
    assert_eq!(
        (c["subject"].as_str(), c["reason"].as_str()),
        (Some("brake"), Some("CHG-8"))
    );
    assert!(
        diff(&c)
            .iter()
            .any(|l| l.starts_with("threshold_percent:") && l.ends_with("→ 7.0")),
        "{c:#}"
    );
    d.expect(0, &["fleet", "pause", "--reason", "incident 4711"]);
    let c = newest(&d, "fleet.settings");
    assert_eq!(c["subject"], "pause");
    assert_eq!(
        c["reason"], "incident 4711",
        "a pause's reason is the change's"
    );
    assert_eq!(c["after"]["reason"], "incident 4711");
    d.expect(0, &["fleet", "resume", "--reason", "incident over"]);
    let c = newest(&d, "fleet.settings");
    assert!(
        c["after"].is_null() && c["before"]["by"] == "user:tester",
        "{c:#}"
    );
    d.expect(0, &["brake", "release", "--reason", "switch r03 replaced"]);
    let c = newest(&d, "fleet.brake");
    assert_eq!(c["subject"], "brake");
    assert_eq!(c["reason"], "switch r03 replaced");
    assert_eq!(c["after"]["engaged"], false);
    assert!(d.brake_release_audited("why: switch r03 replaced"));
}

#[test]
fn the_log_filters_and_exports_as_json_lines() {
    let (d, bumped) = demo_and_candidate();
    d.expect(0, &["pack", "install", bumped.to_str().unwrap()]);
    d.expect(
        0,
        &[
            "pack",
            "promote",
            "demo@0.2.0",
            "--reason",
            "say \"why\", with a tab-free line",
        ],
    );
    d.grant("demo@0.2.0", "nodes.reboot", "*");
    d.expect(0, &["budget", "set", "fleet", "--max-unavailable", "2"]);

    // Filters: by kind prefix, subject (a pack covers its versions and
    // grants), actor and age.
    let kinds = |f: &[&str]| -> Vec<String> {
        changes(&d, f)
            .iter()
            .map(|c| c["kind"].as_str().unwrap().to_owned())
            .collect()
    };
    assert_eq!(kinds(&["--kind", "pack"])[0], "pack.promote");
    assert_eq!(
        kinds(&["--subject", "demo"]),
        ["grant.add", "pack.promote", "pack.install", "pack.install"]
    );
    assert_eq!(kinds(&["--actor", "user:tester"]).len(), 6);
    assert!(kinds(&["--actor", "user:nobody"]).is_empty());
    assert_eq!(kinds(&["--since", "1h"]).len(), 6);
    assert!(kinds(&["--since", "2999-01-01T00:00:00Z"]).is_empty());
    let out = d.expect(2, &["changes", "list", "--kind", "grants"]);
    assert!(
        stderr(&out).contains("unknown kind \"grants\""),
        "{}",
        stderr(&out)
    );
    let out = d.expect(2, &["changes", "list", "--since", "last tuesday"]);
    assert!(stderr(&out).contains("write an age"), "{}", stderr(&out));

    // The export: one JSON object per line, oldest first, all of them.
    let out = d.expect(0, &["changes", "export"]);
    let text = stdout(&out);
    let lines: Vec<Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect();
    assert_eq!(lines.len(), 6, "{text}");
    assert_eq!(lines[0]["kind"], "pack.install");
    assert_eq!(lines[5]["kind"], "fleet.budget");
    let ids: Vec<i64> = lines.iter().map(|l| l["id"].as_i64().unwrap()).collect();
    assert!(ids.windows(2).all(|w| w[0] < w[1]), "oldest first: {ids:?}");
    let promoted = lines.iter().find(|l| l["kind"] == "pack.promote").unwrap();
    assert_eq!(promoted["reason"], "say \"why\", with a tab-free line");
    // `list --jsonl` is the same shape, newest first, filtered.
    let out = d.expect(0, &["changes", "list", "--jsonl", "--kind", "grant"]);
    let only: Vec<Value> = stdout(&out)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(only.len(), 1);
    assert_eq!(only[0]["subject"], "demo@0.2.0 nodes.reboot");
    // The table names who, what and why.
    let out = d.expect(0, &["changes", "list", "--kind", "pack.promote"]);
    let table = stdout(&out);
    assert!(
        table.contains("user:tester")
            && table.contains("demo@0.2.0")
            && table.contains("live_version: 0.1.0 → 0.2.0"),
        "{table}"
    );
}

#[test]
fn a_refused_change_records_nothing() {
    let (d, _) = demo_and_candidate();
    let before = changes(&d, &[]).len();
    d.expect(
        2,
        &[
            "grant",
            "add",
            "demo@0.1.0",
            "nodes.reboot",
            "--scope",
            "rack in (",
        ],
    );
    d.expect(
        2,
        &[
            "grant",
            "add",
            "demo@0.1.0",
            "nodes.reboot",
            "--scope",
            "*",
            "--reason",
            "a\u{7}b",
        ],
    );
    d.expect(2, &["grant", "revoke", "01J00000000000000000000000"]);
    d.expect(
        2,
        &[
            "budget",
            "set",
            "x",
            "--strategy",
            "groupsemaphore",
            "--max",
            "1",
        ],
    );
    d.expect(2, &["pack", "promote", "demo@9.9.9", "--reason", "x"]);
    assert_eq!(changes(&d, &[]).len(), before);
}

/// batchops 0.1.0 installed (trusted, granted `nodes.reboot`) and a copy
/// bumped to 0.2.0 that narrows the no-contact rule's criterion (`b*` →
/// `b7*`) and asks for `nodes.drain` in fleet_health (not yet installed).
fn batchops_and_candidate() -> (Drover, std::path::PathBuf) {
    let d = Drover::new();
    d.install(&["packs/core", "packs/batchops"]);
    let bumped = d.copy_pack("packs/batchops", "batchops-0.2.0");
    edit_manifest(&bumped, "version: 0.1.0", "version: 0.2.0");
    edit_manifest(
        &bumped,
        "capabilities: [log, nodes.read]",
        "capabilities: [log, nodes.read, nodes.drain]",
    );
    let rule = bumped.join("rules/on_no_contact.yaml");
    let text = std::fs::read_to_string(&rule).unwrap();
    assert_eq!(text.matches("pattern: \"b*\"").count(), 1);
    std::fs::write(&rule, text.replace("pattern: \"b*\"", "pattern: \"b7*\"")).unwrap();
    (d, bumped)
}

/// The no-contact rule's batch-worker pattern, as stored (live).
fn node_pattern(d: &Drover) -> String {
    let rule = d.json(0, &["rule", "show", "batchops.on_no_contact"]);
    rule["criteria"]["trigger.node"]["pattern"]
        .as_str()
        .unwrap()
        .to_owned()
}

/// The rollback (issue 16, part 4): 0.2.0 promoted (its rule in force,
/// and no grant: the reboot would be denied); `drover pack rollback`
/// makes 0.1.0 live again, with its rule and its grant in force, in one
/// change recorded with who, why and the live version before and after.
#[test]
fn a_rollback_restores_the_version_before_with_its_rules_and_grants() {
    let (d, bumped) = batchops_and_candidate();
    let grant = d.grant("batchops@0.1.0", "nodes.reboot", "*");
    d.expect(0, &["pack", "install", bumped.to_str().unwrap()]);
    d.expect(
        0,
        &["pack", "promote", "batchops", "--reason", "CHG-20: b7 only"],
    );
    assert_eq!(node_pattern(&d), "b7*", "0.2.0's rule in force");
    let shown = stdout(&d.expect(0, &["pack", "show", "batchops"]));
    assert!(
        shown.contains("batchops@0.2.0") && shown.contains("capability nodes.reboot: NOT GRANTED"),
        "{shown}"
    );
    // A dry run of the reboot: whatever its verdict, the version it ran.
    let dry = |d: &Drover| -> Value {
        let out = d.run(&[
            "run",
            "batchops.reboot",
            "node=n001",
            "reason=test",
            "--dry-run",
            "--json",
        ]);
        serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{e}: {}", stdout(&out)))
    };
    let e = dry(&d);
    assert_eq!(e["pack_version"], "0.2.0", "{e:#}");
    assert_eq!(e["status"], "denied", "0.2.0 has no grant: {e:#}");

    let out = d.expect(
        0,
        &[
            "pack",
            "rollback",
            "batchops",
            "--reason",
            "CHG-21: 0.2.0 misses b8",
        ],
    );
    assert!(
        stdout(&out).starts_with("rolled back batchops: live version 0.2.0 → 0.1.0"),
        "{}",
        stdout(&out)
    );
    assert_eq!(
        node_pattern(&d),
        "b*",
        "0.1.0's rule is the stored rule again"
    );
    let shown = stdout(&d.expect(0, &["pack", "show", "batchops"]));
    assert!(
        shown.starts_with("batchops@0.1.0")
            && shown.contains(&format!(
                "capability nodes.reboot: granted '*' (grant {grant})"
            )),
        "{shown}"
    );
    let e = dry(&d);
    assert_eq!(e["pack_version"], "0.1.0", "{e:#}");
    assert_eq!(e["status"], "succeeded", "{e:#}");
    assert!(
        e["plan"]
            .as_array()
            .unwrap()
            .iter()
            .any(|p| p["capability"] == "nodes.reboot" && p["decision"] == "allowed"),
        "0.1.0's grant in force: {e:#}"
    );
    let candidate = d.json(0, &["pack", "show", "batchops@0.2.0"]);
    assert_eq!(candidate["pack"]["shadow"], true, "a candidate again");

    let c = newest(&d, "pack.rollback");
    assert_eq!(c["subject"], "batchops@0.2.0", "{c:#}");
    assert_eq!(c["actor"], "user:tester");
    assert_eq!(c["reason"], "CHG-21: 0.2.0 misses b8");
    assert_eq!(
        diff(&c),
        ["live_version: 0.2.0 → 0.1.0", "shadow: false → true"]
    );
    assert!(
        c["summary"]
            .as_str()
            .unwrap()
            .contains("rolled back batchops: live version 0.2.0 → 0.1.0"),
        "{c:#}"
    );
}

/// `drover pack diff` on the batchops upgrade: the new capability first
/// (and the grant 0.2.0 lacks), then the rule's changed criterion with a
/// line diff.
#[test]
fn a_diff_shows_the_new_capability_first_and_the_changed_criterion() {
    let (d, bumped) = batchops_and_candidate();
    d.grant("batchops@0.1.0", "nodes.reboot", "cluster=batch");
    d.expect(0, &["pack", "install", bumped.to_str().unwrap()]);
    let text = stdout(&d.expect(0, &["pack", "diff", "batchops"]));
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines[0], "batchops 0.1.0 (live) → 0.2.0 (shadow)", "{text}");
    let caps = lines
        .iter()
        .position(|l| *l == "Capabilities and grants")
        .unwrap();
    assert!(
        lines[caps + 1].starts_with("  + fleet_health: nodes.drain  new in 0.2.0: needs a grant"),
        "{text}"
    );
    assert!(
        text.contains(
            "reboot: nodes.reboot  0.1.0 has 'cluster=batch'; 0.2.0 has no grant: denied once \
             0.2.0 is live"
        ),
        "{text}"
    );
    assert!(
        text.contains("~ batchops.on_no_contact")
            && text.contains("criteria.trigger.node.pattern: b* → b7*")
            && text.contains("-    pattern: \"b*\"")
            && text.contains("+    pattern: \"b7*\""),
        "{text}"
    );
    assert!(
        text.find("Capabilities and grants") < text.find("Rules"),
        "{text}"
    );
}
