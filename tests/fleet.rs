//! End-to-end flows of the fleet controller through the real binary: an
//! inventory imported from YAML and CSV (bad rows reported, nothing half
//! imported), budgets that queue a reboot behind the node holding the
//! rack, a dry run that shows the decision and the schedule, the
//! controller (`drover fleet run`) carrying nodes round the lifecycle with
//! history and audit records, a plugin's `nodes.reboot` refused by the
//! storm brake, and `drover brake release`.

mod support;

use serde_json::Value;
use support::{Drover, stderr, stdout};

const INVENTORY: &str = "nodes:
  - name: b7s01
    labels: {rack: r07, cluster: batch}
    driver: sim
    options: {reboot_seconds: 0.2}
  - name: b7s02
    labels: {rack: r07, cluster: batch}
    options: {reboot_seconds: 0.2}
  - name: b8s01
    labels: {rack: r08, cluster: batch}
    options: {reboot_seconds: 0.2}
  - name: b8s02
    labels: {rack: r08, cluster: batch}
    options: {reboot_seconds: 0.2, no_return_rate: 1}
";

fn with_inventory() -> Drover {
    let d = Drover::new();
    let f = d.dir.path().join("nodes.yaml");
    std::fs::write(&f, INVENTORY).unwrap();
    let out = d.expect(0, &["node", "import", f.to_str().unwrap()]);
    assert!(stdout(&out).contains("4 added"), "{}", stdout(&out));
    d
}

fn node<'a>(list: &'a Value, name: &str) -> &'a Value {
    list.as_array()
        .unwrap()
        .iter()
        .find(|n| n["name"] == name)
        .unwrap_or_else(|| panic!("{name} not listed: {list}"))
}

#[test]
fn a_bad_inventory_names_every_bad_row_and_imports_nothing() {
    let d = Drover::new();
    let f = d.dir.path().join("bad.yaml");
    std::fs::write(
        &f,
        "nodes:\n  - name: ok1\n  - name: b1\n    driver: redfsh\n  - name: b2\n    driver: redfish\n    options: {insecure: yes please}\n",
    )
    .unwrap();
    let out = d.expect(2, &["node", "import", f.to_str().unwrap()]);
    let err = stderr(&out);
    assert!(
        err.contains("bad.yaml:4: driver: unknown driver \"redfsh\" (did you mean redfish?)"),
        "{err}"
    );
    assert!(
        err.contains("bad.yaml:7: options.url: redfish needs the BMC's URL"),
        "{err}"
    );
    assert!(
        err.contains("bad.yaml:7: options.insecure: must be true or false"),
        "{err}"
    );
    assert!(err.contains("5 problems; nothing was imported"), "{err}");
    // The default simulated fleet is still there; ok1 was not imported.
    let list = d.json(0, &["node", "list"]);
    assert_eq!(list.as_array().unwrap().len(), 1000);
    assert!(list.as_array().unwrap().iter().all(|n| n["name"] != "ok1"));

    let csv = d.dir.path().join("bad.csv");
    std::fs::write(&csv, "name,driver,label.rack\nc1,sim,r1\nc 2,sim,r1\n").unwrap();
    let err = stderr(&d.expect(2, &["node", "import", csv.to_str().unwrap()]));
    assert!(
        err.contains("bad.csv:3: name: \"c 2\" is not a node name"),
        "{err}"
    );
}

#[test]
fn import_list_export_round_trip() {
    let d = with_inventory();
    let list = d.json(0, &["node", "list", "--label", "rack=r07"]);
    assert_eq!(list.as_array().unwrap().len(), 2);
    let b = node(&list, "b7s01");
    assert_eq!(b["state"], "production");
    assert_eq!(b["labels"]["cluster"], "batch");
    // An unknown name stops the whole request.
    let err = stderr(&d.expect(2, &["node", "reboot", "b7s01", "zz9", "--reason", "x"]));
    assert!(
        err.contains("no node named zz9") && err.contains("nothing was requested"),
        "{err}"
    );
    let list = d.json(0, &["node", "list", "--state", "production"]);
    assert!(
        list.as_array()
            .unwrap()
            .iter()
            .any(|n| n["name"] == "b7s01")
    );
    // The default simulated fleet was replaced by the first import.
    assert_eq!(d.json(0, &["node", "list"]).as_array().unwrap().len(), 4);

    let csv = stdout(&d.expect(0, &["node", "export", "--format", "csv"]));
    assert!(
        csv.starts_with(
            "name,driver,label.cluster,label.rack,option.no_return_rate,option.reboot_seconds"
        ),
        "{csv}"
    );
    let f = d.dir.path().join("again.csv");
    std::fs::write(&f, csv.replace("b8s02,sim", "b9s01,sim")).unwrap();
    let out = d.expect(0, &["node", "import", f.to_str().unwrap(), "--replace"]);
    assert!(
        stdout(&out).contains("1 added, 3 updated, 1 removed"),
        "{}",
        stdout(&out)
    );
}

#[test]
fn budgets_queue_a_reboot_behind_its_rack_and_the_controller_carries_both_through() {
    let d = with_inventory();
    d.budget_rack_one();
    d.expect(0, &["budget", "set", "fleet", "--max-unavailable", "75%"]);

    let plan = d.json(
        0,
        &[
            "node",
            "reboot",
            "b7s01",
            "b7s02",
            "b8s01",
            "--reason",
            "kernel",
            "--dry-run",
        ],
    );
    assert_eq!(plan["answers"][0]["outcome"], "accepted");
    assert_eq!(plan["answers"][1]["outcome"], "queued");
    assert_eq!(plan["answers"][1]["hold"]["budget"], "rack-one");
    // Each answer names the gate that holds it back (none: accepted).
    assert_eq!(plan["answers"][1]["gate"], "budget", "{plan}");
    assert!(plan["answers"][0].get("gate").is_none(), "{plan}");
    assert_eq!(plan["answers"][1]["hold"]["holders"][0][0], "b7s01");
    assert_eq!(
        plan["waves"],
        serde_json::json!([["b7s01", "b8s01"], ["b7s02"]])
    );
    // Nothing changed.
    assert!(
        d.json(0, &["node", "list", "--state", "draining"])
            .as_array()
            .unwrap()
            .is_empty()
    );

    let text = stdout(&d.expect(
        0,
        &["node", "reboot", "b7s01", "b7s02", "--reason", "kernel"],
    ));
    assert!(text.contains("b7s01: accepted"), "{text}");
    assert!(
        text.contains("b7s02: queued") && text.contains("budget rack-one (groupsemaphore rack max 1) is full for rack=r07: held by b7s01 (draining)"),
        "{text}"
    );
    // Asking again joins the open request.
    let again = d.json(0, &["node", "reboot", "b7s01", "--reason", "again"]);
    assert_eq!(again[0]["joined"], true);

    let out = d.expect(
        0,
        &[
            "fleet",
            "run",
            "--until-idle",
            "--interval",
            "100ms",
            "--timeout",
            "60s",
        ],
    );
    assert!(stdout(&out).contains("0 requests open"), "{}", stdout(&out));
    let list = d.json(0, &["node", "list"]);
    assert_eq!(node(&list, "b7s01")["state"], "production");
    assert_eq!(node(&list, "b7s02")["state"], "production");

    let show = d.json(0, &["node", "show", "b7s02", "--history"]);
    let moves: Vec<String> = show["history"]
        .as_array()
        .unwrap()
        .iter()
        .rev()
        .filter(|h| h["from_state"] != h["to_state"])
        .map(|h| {
            format!(
                "{}>{}",
                h["from_state"].as_str().unwrap(),
                h["to_state"].as_str().unwrap()
            )
        })
        .collect();
    assert_eq!(
        moves,
        [
            "production>draining",
            "draining>drained",
            "drained>rebooting",
            "rebooting>restoring",
            "restoring>production"
        ]
    );
    assert_eq!(show["requests"][0]["status"], "done");

    let audit = d.json(0, &["audit", "list", "--pack", "drover", "--limit", "100"]);
    let caps: Vec<(&str, &str)> = audit
        .as_array()
        .unwrap()
        .iter()
        .map(|a| {
            (
                a["capability"].as_str().unwrap(),
                a["target"].as_str().unwrap(),
            )
        })
        .collect();
    for cap in ["fleet.drain", "fleet.reboot", "fleet.undrain"] {
        for n in ["b7s01", "b7s02"] {
            assert!(caps.contains(&(cap, n)), "{cap} {n} not audited: {caps:?}");
        }
    }
    assert!(caps.contains(&("fleet.budget", "rack-one")));
}

#[test]
fn a_node_that_never_comes_back_ends_in_intervention_with_the_reason() {
    let d = with_inventory();
    d.expect(
        0,
        &[
            "fleet",
            "ladder",
            "set",
            "default",
            "graceful-restart:1s,force-restart:1s",
        ],
    );
    d.expect(0, &["node", "reboot", "b8s02", "--reason", "kernel"]);
    d.expect(
        0,
        &[
            "fleet",
            "run",
            "--until-idle",
            "--interval",
            "100ms",
            "--timeout",
            "60s",
        ],
    );
    let show = d.json(0, &["node", "show", "b8s02"]);
    assert_eq!(show["node"]["state"], "intervention");
    let note = show["node"]["note"].as_str().unwrap();
    assert!(
        note.contains("escalation ladder (graceful-restart, force-restart) is exhausted"),
        "{note}"
    );
    assert_eq!(show["requests"][0]["status"], "intervention");
    // An operator repairs it.
    d.expect(
        0,
        &[
            "node",
            "set-state",
            "b8s02",
            "production",
            "--reason",
            "replaced the PSU",
        ],
    );
    assert_eq!(
        d.json(0, &["node", "show", "b8s02"])["node"]["state"],
        "production"
    );
}

#[test]
fn the_storm_brake_refuses_a_plugin_reboot_until_released() {
    let d = Drover::new();
    d.install(&["packs/core", "packs/demo"]);
    d.grant("demo@0.1.0", "nodes.reboot", "*");
    d.expect(
        0,
        &["brake", "set", "--threshold", "0.2%", "--window", "10m"],
    );
    // 0.2% of 1000 nodes: the third unhealthy node trips it.
    for n in ["n001", "n041"] {
        let exec = d.json(0, &["run", "demo.reboot_node", &format!("node={n}")]);
        assert_eq!(exec["result"]["outcome"], "accepted", "{exec}");
    }
    let exec = d.json(1, &["run", "demo.reboot_node", "node=n081"]);
    assert_eq!(exec["status"], "denied");
    let err = exec["error"].as_str().unwrap();
    assert!(
        err.contains("fleet: ") && err.contains("storm brake engaged"),
        "{err}"
    );
    let status = d.json(0, &["brake", "status"]);
    assert_eq!(status["engaged"], true);
    assert_eq!(status["unhealthy"], 3);
    // The dry run says the same, names the gate that answered (the brake,
    // not the grant that let it through), and changes nothing.
    let dry = d.json(1, &["run", "demo.reboot_node", "node=n121", "--dry-run"]);
    let planned = &dry["plan"][0];
    assert_eq!(planned["decision"], "denied");
    assert_eq!(planned["gate"], "brake", "{dry}");
    let reason = planned["reason"].as_str().unwrap();
    assert!(
        reason.starts_with("brake: storm brake engaged") && reason.contains("the grant allowed it"),
        "{reason}"
    );
    // The audit log records that check once, as the brake decided it.
    let exec_id = dry["id"].as_str().unwrap();
    let audit = d.json(0, &["audit", "list", "--exec", exec_id]);
    let records = audit.as_array().unwrap();
    assert_eq!(records.len(), 1, "{audit}");
    assert_eq!(records[0]["decision"], "denied", "{audit}");
    assert!(
        records[0]["reason"]
            .as_str()
            .unwrap()
            .starts_with("brake: "),
        "{audit}"
    );
    // Operators are not braked.
    let op = d.json(0, &["node", "reboot", "n121", "--reason", "by hand"]);
    assert_eq!(op[0]["outcome"], "accepted");

    d.expect(0, &["brake", "release"]);
    let exec = d.json(0, &["run", "demo.reboot_node", "node=n161"]);
    assert_eq!(exec["result"]["outcome"], "accepted", "{exec}");
    assert!(d.brake_release_audited("released"));
}
