//! Hole 10: a queued fleet request is checked against its grant again.
//!
//! A plugin's reboot request is checked against its `nodes.reboot` grant
//! when it is made; if it has to wait (the fleet is paused, a budget is
//! full), the node may have moved meanwhile (`drover node import`, a label
//! edit). The controller used to start it anyway. Now each request records
//! the pack version, plugin build and grant that made it, and the
//! controller checks it again before starting it: outside the grant, the
//! request ends `denied` with the reason, audited. Operators' requests are
//! not grant-scoped.

use serde_json::Value;

use crate::support::{Drover, stdout};

fn inventory(b7s01_rack: &str) -> String {
    format!(
        "nodes:
  - name: b7s01
    labels: {{rack: {b7s01_rack}, cluster: batch}}
    driver: sim
    options: {{reboot_seconds: 0.2}}
  - name: b7s02
    labels: {{rack: r07, cluster: batch}}
    driver: sim
    options: {{reboot_seconds: 0.2}}
"
    )
}

fn import(d: &Drover, b7s01_rack: &str) {
    let f = d.dir.path().join("nodes.yaml");
    std::fs::write(&f, inventory(b7s01_rack)).unwrap();
    d.expect(0, &["node", "import", f.to_str().unwrap()]);
}

fn requests(d: &Drover, node: &str) -> Vec<Value> {
    d.json(0, &["node", "show", node])["requests"]
        .as_array()
        .unwrap()
        .clone()
}

#[test]
fn a_request_whose_node_left_the_grant_while_queued_is_denied() {
    let d = Drover::new();
    d.install(&["packs/core", "packs/demo"]);
    import(&d, "r07");
    // Two nodes: keep the storm brake out of the way (it would trip at 1 of 2).
    d.expect(0, &["brake", "set", "--threshold", "100%"]);
    let grant = d.grant("demo@0.1.0", "nodes.reboot", "rack=r07");

    // Both requests wait: the fleet is paused.
    d.expect(0, &["fleet", "pause", "--reason", "red team"]);
    for node in ["b7s01", "b7s02"] {
        let exec = d.json(0, &["run", "demo.reboot_node", &format!("node={node}")]);
        assert_eq!(exec["status"], "succeeded", "{exec}");
        assert_eq!(requests(&d, node)[0]["status"], "queued");
    }

    // b7s01 moves to rack r08, outside the grant, while it waits.
    import(&d, "r08");
    d.expect(0, &["fleet", "resume"]);
    d.expect(
        0,
        &[
            "fleet",
            "run",
            "--until-idle",
            "--interval",
            "50ms",
            "--timeout",
            "30s",
        ],
    );

    let moved = &requests(&d, "b7s01")[0];
    assert_eq!(
        moved["status"], "denied",
        "the controller rebooted b7s01 after it left the grant's rack: {moved}"
    );
    let detail = moved["detail"].as_str().unwrap();
    assert_eq!(
        detail,
        format!(
            "denied: the grant no longer covers it: b7s01 (labels now cluster=batch,rack=r08) \
             is outside the granted scope of nodes.reboot to demo@0.1.0: 'rack=r07' \
             (grant {grant})"
        )
    );
    let show = d.json(0, &["node", "show", "b7s01", "--history"]);
    assert_eq!(show["node"]["state"], "production", "{show}");
    let history = show["history"].as_array().unwrap();
    assert!(
        history.iter().all(|h| h["to_state"] == "production"),
        "b7s01 left production: {history:?}"
    );

    let audit = d.json(0, &["audit", "list", "--decision", "denied"]);
    let denied: Vec<&Value> = audit
        .as_array()
        .unwrap()
        .iter()
        .filter(|a| a["capability"] == "fleet.reboot" && a["target"] == "b7s01")
        .collect();
    assert_eq!(denied.len(), 1, "{audit}");
    assert!(
        denied[0]["reason"]
            .as_str()
            .unwrap()
            .contains("outside the granted scope"),
        "{audit}"
    );

    // The request says which grant it was made under.
    assert_eq!(moved["grant"]["pack"], "demo", "{moved}");
    assert_eq!(moved["grant"]["version"], "0.1.0", "{moved}");
    assert_eq!(moved["grant"]["plugin"], "reboot_node", "{moved}");
    assert_eq!(moved["grant"]["grant_id"], grant.as_str(), "{moved}");

    // The request still inside its grant went ahead.
    assert_eq!(requests(&d, "b7s02")[0]["status"], "done");

    // An operator's request is not grant-scoped.
    let out = d.expect(0, &["node", "reboot", "b7s01", "--reason", "operator"]);
    assert!(!stdout(&out).contains("denied"), "{}", stdout(&out));
}
