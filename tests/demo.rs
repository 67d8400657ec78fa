//! `drover demo` end to end, as a user runs it: a fresh database in its
//! directory, the packs installed and granted, a simulated fleet of 500
//! nodes in 25 racks, `drover serve`, the alarm and ticket sink on
//! 127.0.0.1:8331 and the monitoring stand-in. Within a few minutes dead
//! nodes are rebooted, false alarms are left alone, a node that never
//! comes back ends in an alarm and a ticket, the brake trips, and once
//! the operator releases it reboots go on; the printed admin password
//! logs in, no rack ever has two nodes out at once, and SIGTERM stops it
//! cleanly.

mod support;

use std::collections::HashMap;
use std::process::{Child, Stdio};
use std::time::Duration;

use support::server::*;
use support::*;

/// Kills the demo when the test ends, however it ends.
struct Running(Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn the_demo_tells_the_whole_story() {
    // The demo's directory is the scratch dir, so `d` reads its database.
    let d = Drover::new();
    let port = free_port();
    // Outside the demo's directory, which must start empty.
    let logs = tempfile::tempdir().unwrap();
    let log = logs.path().join("demo.log");
    let file = std::fs::File::create(&log).unwrap();
    let child = d
        .cmd()
        .args(["demo", "--dir", d.dir.path().to_str().unwrap()])
        .args(["--packs", repo().join("packs").to_str().unwrap()])
        .args(["--listen", &format!("127.0.0.1:{port}")])
        .args(["--every", "1s", "--storm-after", "50s", "--duration", "10m"])
        .stdin(Stdio::null())
        .stdout(file.try_clone().unwrap())
        .stderr(file)
        .spawn()
        .unwrap();
    let mut demo = Running(child);
    let text = || std::fs::read_to_string(&log).unwrap_or_default();

    let password = poll(Duration::from_secs(120), Duration::from_millis(200), || {
        let t = text();
        let line = t.lines().find(|l| l.starts_with("log in as \"admin\""))?;
        Some(line.rsplit(' ').next()?.to_owned())
    })
    .unwrap_or_else(|| panic!("no banner with the admin password:\n{}", text()));
    let no_redirects: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .max_redirects(0)
        .build()
        .into();
    let login = no_redirects
        .post(format!("http://127.0.0.1:{port}/login"))
        .header("content-type", "application/x-www-form-urlencoded")
        .send(format!("name=admin&password={password}").as_bytes())
        .unwrap();
    assert_eq!(login.status(), 303, "the printed password logs in");

    // Verdicts of ended remediations, by execution id (asked once each).
    let mut verdicts: HashMap<String, String> = HashMap::new();
    let story = |verdicts: &HashMap<String, String>| {
        let rebooted = verdicts.values().any(|v| v.starts_with("rebooted"));
        let alive = verdicts.values().any(|v| v.starts_with("alive: "));
        // Something a person must look at: an alarm and a ticket (a node in
        // intervention), or a reboot held by the brake (one incident for
        // the operator, so no alarm per node).
        let t = text();
        let alarm = t.contains("sink: ALARM for ") && t.contains("sink: TICKET for ");
        let held = verdicts
            .values()
            .any(|v| v.starts_with("held by the storm brake"));
        let brake = d.json(0, &["brake", "status"])["engaged"] == true;
        (rebooted, alive, alarm || held, brake)
    };
    let mut last = (false, false, false, false);
    let told = poll(Duration::from_secs(420), Duration::from_secs(2), || {
        for e in executions(&d) {
            let id = e["id"].as_str().unwrap().to_owned();
            if e["action"] != "batchops.handle_no_contact"
                || e["status"] != "succeeded"
                || verdicts.contains_key(&id)
            {
                continue;
            }
            let got = d.json(0, &["exec", "get", &id]);
            let v = got["result"]["verdict"].as_str().unwrap_or("").to_owned();
            verdicts.insert(id, v);
        }
        last = story(&verdicts);
        (last == (true, true, true, true)).then_some(())
    });
    assert!(
        told.is_some(),
        "(rebooted, alive, alarm+ticket or held, brake) = {last:?}\n{}",
        text()
    );
    // At one incident a second the brake trips (before or by the storm).
    // The operator releases it, and remediations go on.
    d.expect(0, &["brake", "release"]);
    let released = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64;
    let resumed = poll(Duration::from_secs(300), Duration::from_secs(2), || {
        executions(&d).into_iter().find(|e| {
            e["action"] == "batchops.handle_no_contact"
                && e["status"] == "succeeded"
                && e["started_at_ms"].as_i64().unwrap_or(0) > released
                && d.json(0, &["exec", "get", e["id"].as_str().unwrap()])["result"]["verdict"]
                    .as_str()
                    .is_some_and(|v| v.starts_with("rebooted"))
        })
    });
    assert!(
        resumed.is_some(),
        "no reboot after the brake's release:\n{}",
        text()
    );
    assert!(
        most_out_per_rack(&d.db()) <= 1,
        "a rack had two nodes out at once"
    );
    // A node that never comes back ends in intervention with an alarm and
    // a ticket.
    let alarmed = poll(Duration::from_secs(300), Duration::from_secs(2), || {
        let t = text();
        (t.contains("sink: ALARM for ") && t.contains("sink: TICKET for ")).then_some(())
    });
    assert!(alarmed.is_some(), "no alarm and ticket:\n{}", text());

    // SIGTERM: the same graceful stop as Ctrl-C.
    // SAFETY: kill(2) on our own unreaped child.
    unsafe { libc::kill(demo.0.id() as i32, libc::SIGTERM) };
    let status = wait_for("the demo to stop", Duration::from_secs(60), || {
        demo.0.try_wait().unwrap()
    });
    assert!(status.success(), "{status}\n{}", text());
}
