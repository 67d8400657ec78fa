//! Hole 1: a shadow pack's sensor ran live. Its kv writes, HTTP calls,
//! node changes and commands happened for real on every poll (grants say
//! what a pack may touch; trust says whether it acts), and the triggers it
//! emitted made a trusted pack's rule act for real.
//!
//! Now a shadow pack's sensor runs as a dry run: every effect is planned
//! (its status counts them and keeps the latest plan; the audit rows say
//! dry run), and its triggers are stored tainted, so whatever rule they
//! fire starts a dry run. Promoting the pack makes it live.

use std::io::{Read, Write};
use std::net::TcpListener;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use serde_json::Value;

use crate::support::server::{Server, executions, wait_for};
use crate::support::*;

const SETTLE: Duration = Duration::from_secs(60);

/// An HTTP listener on 127.0.0.1 that counts the requests it gets.
fn listener() -> (u16, Arc<AtomicUsize>) {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    let hits = Arc::new(AtomicUsize::new(0));
    let counted = hits.clone();
    std::thread::spawn(move || {
        for stream in l.incoming() {
            let Ok(mut s) = stream else { continue };
            counted.fetch_add(1, Ordering::SeqCst);
            let _ = s.set_read_timeout(Some(Duration::from_millis(500)));
            let mut buf = [0u8; 4096];
            let _ = s.read(&mut buf);
            let _ =
                s.write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\nconnection: close\r\n\r\nok");
        }
    });
    (port, hits)
}

fn sensor(d: &Drover) -> Option<Value> {
    let all = d.json(0, &["sensor", "list"]);
    all.as_array()?
        .iter()
        .find(|s| s["name"] == "shadow_sensor.sensor")
        .cloned()
}

fn count(d: &Drover, sql: &str) -> i64 {
    let conn =
        rusqlite::Connection::open_with_flags(d.db(), rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)
            .unwrap();
    conn.query_row(sql, [], |r| r.get(0)).unwrap()
}

#[test]
fn a_shadow_sensor_runs_dry_and_taints_its_triggers() {
    let d = Drover::new();
    let (port, hits) = listener();
    d.install(&["tests/packs/testkit"]);
    let dir = d.copy_pack("tests/redteam/packs/shadow_sensor", "shadow_sensor");
    edit_manifest(&dir, "PORT", &port.to_string());
    d.expect(0, &["pack", "install", dir.to_str().unwrap()]);
    let trusting = pack_dir("tests/redteam/packs/trusting_rule");
    d.expect(
        0,
        &["pack", "install", "--trusted", trusting.to_str().unwrap()],
    );
    let nodes = d.dir.path().join("nodes.yaml");
    std::fs::write(
        &nodes,
        "nodes:\n  - {name: n1, labels: {rack: r1}, driver: sim}\n",
    )
    .unwrap();
    d.expect(0, &["node", "import", nodes.to_str().unwrap()]);
    // The operator granted everything it asks for: only trust is missing.
    let pack = "shadow_sensor@0.1.0";
    d.grant(pack, "http", &format!("http://127.0.0.1:{port}"));
    d.grant(pack, "nodes.reboot", "*");
    d.grant(pack, "command", "*: uptime");

    let server = Server::start(&d);
    // Polls, and the trusted rule acting on their triggers.
    let ruled = wait_for("the trusted rule to act on three polls", SETTLE, || {
        let runs: Vec<Value> = executions(&d)
            .into_iter()
            .filter(|e| e["actor"] == "rule:trusting_rule.on_polled")
            .collect();
        (runs.len() >= 3).then_some(runs)
    });

    // Nothing happened for real.
    assert_eq!(
        hits.load(Ordering::SeqCst),
        0,
        "the shadow sensor's HTTP POST reached the listener\n{}",
        server.log()
    );
    assert_eq!(
        count(&d, "SELECT count(*) FROM kv WHERE key = 'calls'"),
        0,
        "the shadow sensor's kv write was performed"
    );
    assert_eq!(
        count(&d, "SELECT count(*) FROM fleet_requests"),
        0,
        "the shadow sensor's reboot reached the fleet"
    );
    for run in &ruled {
        assert_eq!(
            run["dry_run"], true,
            "a trusted rule on a shadow sensor's trigger ran live: {run}"
        );
    }
    let id = ruled[0]["id"].as_str().unwrap();
    let exec = d.json(0, &["exec", "get", id]);
    let plan = exec["plan"].as_array().expect("the rule's run has a plan");
    assert!(
        plan.iter().any(|e| e["capability"] == "kv"),
        "the rule's dry run plans its kv write: {exec}"
    );

    // The attempts are visible: the sensor's plan, dry-run audit rows,
    // tainted triggers.
    let status = sensor(&d).expect("the sensor has a status");
    assert_eq!(status["dry_run"], true, "{status}");
    assert!(status["planned"].as_u64().unwrap() >= 4, "{status}");
    let planned: Vec<String> = status["last_plan"]
        .as_array()
        .expect("the sensor keeps its latest plan")
        .iter()
        .map(|e| format!("{} {}", e["capability"], e["operation"]).replace('"', ""))
        .collect();
    for wanted in ["kv set", "http POST", "nodes.reboot reboot", "command run"] {
        assert!(
            planned.iter().any(|p| p.starts_with(wanted)),
            "{wanted} is not in the sensor's plan {planned:?}"
        );
    }
    let audit = d.json(
        0,
        &["audit", "list", "--pack", "shadow_sensor", "--limit", "500"],
    );
    // Its host calls, not the operator's changes to the pack (its install
    // is in the change log, which is part of the audit log).
    let rows: Vec<&serde_json::Value> = audit
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r.get("change").is_none())
        .collect();
    for cap in ["http", "nodes.reboot", "command"] {
        assert!(
            rows.iter().any(|r| r["capability"] == cap),
            "no audit row for the sensor's {cap}: {audit}"
        );
    }
    assert!(
        rows.iter().all(|r| r["dry_run"] == true),
        "a shadow sensor's host call was audited live: {audit}"
    );
    let listed = d.json(
        0,
        &[
            "trigger",
            "list",
            "--type",
            "shadow_sensor.polled",
            "--limit",
            "1000",
        ],
    );
    let listed = listed.as_array().unwrap();
    assert!(!listed.is_empty());
    assert!(
        listed.iter().all(|t| t["shadow"] == true),
        "a shadow sensor's trigger is not marked: {:?}",
        listed[0]
    );
    // And the operator reads it.
    let text = stdout(&d.expect(0, &["sensor", "list"]));
    assert!(text.contains("dry run"), "{text}");
    let text = stdout(&d.expect(0, &["trigger", "list", "--limit", "3"]));
    assert!(text.contains("shadow source"), "{text}");

    // Promoted, the same sensor acts (its next polls are live).
    d.expect(0, &["pack", "promote", pack, "--reason", "test: promote"]);
    wait_for("a promoted sensor's POST", SETTLE, || {
        (hits.load(Ordering::SeqCst) > 0).then_some(())
    });
    wait_for("a promoted sensor's kv write", SETTLE, || {
        (count(&d, "SELECT count(*) FROM kv WHERE key = 'calls'") > 0).then_some(())
    });
}
