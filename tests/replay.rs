//! `drover replay` (issue 16, part 2): stored trigger instances through a
//! candidate pack version as dry runs, next to what the live version did.
//! Hostile input first (an unknown candidate, a window reaching back a
//! century), then the real `packs/batchops`: 0.1.0 live under `drover
//! serve` remediates three reported nodes (one dead, rebooted), a 0.2.0
//! whose no-contact rule only takes rack 1 is installed beside it, and the
//! replay, run while serve still holds the database, names exactly the
//! trigger that would act differently, and changes nothing: no execution,
//! no audit record, no reboot.

mod support;

use std::time::Duration;

use serde_json::{Value, json};
use support::server::*;
use support::*;

const TOKEN: &str = "replay-test-token";

fn inventory(racks: u32, per_rack: u32) -> String {
    let mut y = String::from("nodes:\n");
    for r in 1..=racks {
        for n in 1..=per_rack {
            y.push_str(&format!(
                "  - {{name: b{r}s{n:02}, labels: {{rack: r{r:02}, cluster: batch}}, driver: sim, \
                 options: {{reboot_seconds: 0.3}}}}\n"
            ));
        }
    }
    y
}

fn grant_batchops(d: &Drover, version: &str) {
    let pack = format!("batchops@{version}");
    d.grant(&pack, "nodes.reboot", "cluster=batch");
    d.grant(&pack, "probe", "*");
    d.grant(&pack, "nodes.health", "cluster=batch");
    d.grant(&pack, "command", "cluster=batch: uptime");
}

fn batchops() -> Drover {
    let d = Drover::new();
    d.install(&["packs/core", "packs/batchops"]);
    let file = d.dir.path().join("nodes.yaml");
    std::fs::write(&file, inventory(2, 3)).unwrap();
    d.expect(0, &["node", "import", file.to_str().unwrap()]);
    grant_batchops(&d, "0.1.0");
    set_secret(&d, "batchops.webhook_token", TOKEN);
    d.expect(0, &["brake", "set", "--threshold", "50%"]);
    d
}

/// batchops 0.2.0: the no-contact rule takes rack 1's nodes only.
fn install_candidate(d: &Drover) {
    let dir = d.copy_pack("packs/batchops", "batchops-0.2.0");
    edit_manifest(&dir, "version: 0.1.0", "version: 0.2.0");
    let rule = dir.join("rules/on_no_contact.yaml");
    let text = std::fs::read_to_string(&rule).unwrap();
    assert_eq!(text.matches("pattern: \"b*\"").count(), 1);
    std::fs::write(&rule, text.replace("pattern: \"b*\"", "pattern: \"b1s*\"")).unwrap();
    d.expect(0, &["pack", "install", dir.to_str().unwrap()]);
}

fn report(server: &Server, node: &str) -> String {
    let body = json!({"node": node, "since": "2026-11-26T04:00:00Z"}).to_string();
    let answer = post(
        &agent(Duration::from_secs(30)),
        &server.url("batchops.no_contact"),
        &[("x-drover-token", TOKEN)],
        body.as_bytes(),
    )
    .unwrap_or_else(|e| panic!("POST batchops.no_contact: {e}\n{}", server.log()));
    assert_eq!(answer.status, 202, "{answer:?}");
    answer.accepted_id()
}

fn count(d: &Drover, args: &[&str]) -> usize {
    d.json(0, args).as_array().unwrap().len()
}

#[test]
fn an_unknown_candidate_or_window_exits_2_naming_what_is_installed() {
    let d = Drover::new();
    d.install(&["packs/core", "packs/batchops"]);
    let out = d.expect(2, &["replay", "--pack", "nope@1.0.0"]);
    let err = stderr(&out);
    assert!(
        err.contains("\"nope\"") && err.contains("batchops") && err.contains("core"),
        "{err}"
    );
    let out = d.expect(2, &["replay", "--pack", "batchops@0.9.0"]);
    let err = stderr(&out);
    assert!(
        err.contains("batchops@0.9.0 is not installed") && err.contains("0.1.0 (live)"),
        "{err}"
    );
    let out = d.expect(2, &["replay", "--pack", "batchops"]);
    assert!(stderr(&out).contains("NAME@VERSION"), "{}", stderr(&out));
    let out = d.expect(2, &["replay", "--pack", "batchops@0.1.0", "--since", "99y"]);
    assert!(
        stderr(&out).contains("at most 400 days"),
        "{}",
        stderr(&out)
    );
    let out = d.expect(
        2,
        &["replay", "--pack", "batchops@0.1.0", "--since", "lately"],
    );
    assert!(stderr(&out).contains("write an age"), "{}", stderr(&out));
    let out = d.expect(
        2,
        &["replay", "--pack", "batchops@0.1.0", "--limit", "100001"],
    );
    assert!(stderr(&out).contains("1 to 100000"), "{}", stderr(&out));
    let out = d.expect(
        2,
        &[
            "replay",
            "--pack",
            "batchops@0.1.0",
            "--rule",
            "batchops.nope",
        ],
    );
    assert!(
        stderr(&out).contains("batchops.on_no_contact"),
        "{}",
        stderr(&out)
    );
    // Nothing stored: an empty window replays nothing.
    let r = d.json(0, &["replay", "--pack", "batchops@0.1.0"]);
    assert_eq!(r["summary"]["triggers"], 0, "{r:#}");
}

#[test]
fn replay_shows_exactly_the_triggers_a_changed_rule_would_treat_differently_and_changes_nothing() {
    let d = batchops();
    d.expect(0, &["sim", "hang", "b1s01"]);
    let server = Server::start(&d);
    let dead = report(&server, "b1s01");
    let alive = report(&server, "b1s02");
    let other_rack = report(&server, "b2s01");
    wait_for("three remediations", Duration::from_secs(120), || {
        let done = executions(&d)
            .into_iter()
            .filter(|e| e["action"] == "batchops.handle_no_contact")
            .filter(|e| e["status"] == "succeeded")
            .count();
        (done == 3).then_some(())
    });
    install_candidate(&d);
    grant_batchops(&d, "0.2.0");
    let before = (
        count(&d, &["exec", "list", "--limit", "1000"]),
        count(&d, &["audit", "list", "--limit", "1000"]),
        d.json(0, &["node", "show", "b1s01", "--history"]),
    );

    // Beside the running serve, which holds the database's serve lock.
    let r = d.json(0, &["replay", "--pack", "batchops@0.2.0", "--since", "1h"]);
    let s = &r["summary"];
    assert_eq!(r["live"], "batchops@0.1.0", "{r:#}");
    assert_eq!(s["triggers"], 3, "{r:#}");
    assert_eq!(s["differ"], 1, "{r:#}");
    assert_eq!(
        (s["fired_live"].as_u64(), s["fired_candidate"].as_u64()),
        (Some(3), Some(2))
    );
    let listed: Vec<&Value> = r["triggers"].as_array().unwrap().iter().collect();
    assert_eq!(listed.len(), 1, "{r:#}");
    assert_eq!(listed[0]["id"], other_rack.as_str());
    assert_eq!(
        listed[0]["differences"],
        json!([{"kind": "fired", "rule": "batchops.on_no_contact", "live": "fired",
                "candidate": "no_match"}])
    );
    // The dead node: the fleet as it was (hung, in production) gives the
    // candidate the reboot the live version did.
    assert_eq!(s["rebooted"], json!(["b1s01"]), "{r:#}");
    assert_eq!(s["effects"]["nodes.reboot"]["allowed"], 1, "{r:#}");
    assert_eq!(s["denials"], json!([]), "{r:#}");

    // Every trigger, with its sides.
    let all = d.json(0, &["replay", "--pack", "batchops@0.2.0", "--all"]);
    let by_id = |id: &str| -> Value {
        all["triggers"]
            .as_array()
            .unwrap()
            .iter()
            .find(|t| t["id"] == id)
            .cloned()
            .unwrap_or_else(|| panic!("{id} not listed: {all:#}"))
    };
    let t = by_id(&dead);
    assert_eq!(t["differs"], false, "{t:#}");
    assert_eq!(t["live"][0]["status"], "succeeded");
    assert_eq!(t["candidate"][0]["dry_run"], true);
    assert!(
        t["candidate"][0]["result"]["verdict"]
            .as_str()
            .unwrap()
            .contains("no answer to ping"),
        "{t:#}"
    );
    assert_eq!(by_id(&alive)["differs"], false);

    // Nothing happened: no execution, no audit record, no reboot.
    let after = (
        count(&d, &["exec", "list", "--limit", "1000"]),
        count(&d, &["audit", "list", "--limit", "1000"]),
        d.json(0, &["node", "show", "b1s01", "--history"]),
    );
    assert_eq!(before, after);
    let text = stdout(&d.expect(0, &["replay", "--pack", "batchops@0.2.0"]));
    assert!(
        text.contains("1 would act differently") && text.contains(&other_rack),
        "{text}"
    );
    drop(server);
}
