//! End-to-end tests of timers: `drover serve` with the `timers` test pack
//! (an interval timer every second, a cron timer on even seconds) fires
//! rules on its own; a restart fires no slot twice; `drover pack install`
//! refuses a rule whose timer parameters make no schedule.
//!
//! Every wait is a poll with a deadline; the server is killed when its
//! guard drops, even when the test panics.

mod support;

use std::collections::{BTreeMap, HashSet};
use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;
use support::*;

/// How long the timers may take to produce what a test waits for (the
/// server's start included; the machine may be loaded).
const DEADLINE: Duration = Duration::from_secs(90);
const POLL: Duration = Duration::from_millis(200);

/// A running `drover serve`; killed and reaped on drop.
struct Server {
    child: Option<Child>,
    log: PathBuf,
}

impl Server {
    fn start(d: &Drover, n: usize) -> Server {
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let log = d.dir.path().join(format!("serve-{n}.log"));
        let file = std::fs::File::create(&log).unwrap();
        let child = d
            .cmd()
            .args(["serve", "--listen", &format!("127.0.0.1:{port}")])
            .args(["--grace", "10s"])
            .env("DROVER_LOG", "info")
            .stdin(Stdio::null())
            .stdout(file.try_clone().unwrap())
            .stderr(file)
            .spawn()
            .expect("spawn drover serve");
        Server {
            child: Some(child),
            log,
        }
    }

    fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Panics (with the log) if the server has exited.
    fn check_alive(&mut self) {
        if let Some(status) = self.child.as_mut().unwrap().try_wait().unwrap() {
            panic!("drover serve exited {status}\n{}", self.log());
        }
    }

    /// SIGTERM, then a bounded wait for the exit.
    fn stop(mut self) {
        let mut child = self.child.take().unwrap();
        // SAFETY: kill(2) on our own unreaped child.
        unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
        let deadline = Instant::now() + Duration::from_secs(30);
        while child.try_wait().unwrap().is_none() {
            if Instant::now() > deadline {
                let _ = child.kill();
                let _ = child.wait();
                panic!("drover serve did not stop on SIGTERM\n{}", self.log());
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// Executions requested by `rule:<rule>`.
fn executions_of(d: &Drover, rule: &str) -> usize {
    let v = d.json(0, &["exec", "list", "--limit", "1000"]);
    let actor = format!("rule:{rule}");
    v.as_array()
        .unwrap()
        .iter()
        .filter(|e| e["actor"] == actor.as_str())
        .count()
}

/// Polls until `rule` has at least `n` executions.
fn wait_executions(d: &Drover, server: &mut Server, rule: &str, n: usize) -> usize {
    let deadline = Instant::now() + DEADLINE;
    loop {
        server.check_alive();
        let seen = executions_of(d, rule);
        if seen >= n {
            return seen;
        }
        assert!(
            Instant::now() < deadline,
            "{rule}: {seen} executions after {DEADLINE:?}, wanted {n}\n{}",
            server.log()
        );
        std::thread::sleep(POLL);
    }
}

/// The timer trigger instances, checked: a timer source, and no two
/// instances of one timer (type + parameters) on the same slot. Returns
/// the slots per trigger type.
fn timer_slots(d: &Drover) -> BTreeMap<String, Vec<String>> {
    let v = d.json(0, &["trigger", "list", "--limit", "1000"]);
    let mut seen = HashSet::new();
    let mut slots: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for t in v.as_array().unwrap() {
        let ty = t["trigger_type"].as_str().unwrap();
        assert_eq!(t["source"], format!("timer:{ty}").as_str(), "{t}");
        assert!(t["trigger_parameters"].is_object(), "{t}");
        assert_eq!(t["payload"]["schedule"], Value::Null, "{t}");
        let slot = t["payload"]["executed_at"].as_str().unwrap().to_owned();
        let key = (
            ty.to_owned(),
            t["trigger_parameters"].to_string(),
            slot.clone(),
        );
        assert!(seen.insert(key), "slot {slot} of {ty} fired twice");
        slots.entry(ty.to_owned()).or_default().push(slot);
    }
    slots
}

#[test]
fn timers_fire_rules_and_a_restart_fires_no_slot_twice() {
    let d = Drover::new();
    d.install(&["packs/core", "tests/packs/timers"]);

    let mut server = Server::start(&d, 0);
    wait_executions(&d, &mut server, "timers.every_second", 2);
    wait_executions(&d, &mut server, "timers.every_other_second", 1);
    server.stop();

    let slots = timer_slots(&d);
    assert!(slots["core.st2.IntervalTimer"].len() >= 2, "{slots:?}");
    for slot in &slots["core.st2.CronTimer"] {
        let t: jiff::Timestamp = slot.parse().unwrap();
        assert_eq!(t.as_second() % 2, 0, "cron */2 fired at {slot}");
    }

    // A restart: the timers resume, and no slot fires twice.
    let before = executions_of(&d, "timers.every_second");
    let mut server = Server::start(&d, 1);
    wait_executions(&d, &mut server, "timers.every_second", before + 2);
    server.stop();
    let after = timer_slots(&d);
    assert!(
        after["core.st2.IntervalTimer"].len() > slots["core.st2.IntervalTimer"].len(),
        "{after:?}"
    );
}

#[test]
fn pack_install_refuses_a_rule_with_invalid_timer_parameters() {
    let d = Drover::new();
    let dir = d.copy_pack("tests/packs/timers", "timers");
    std::fs::write(
        dir.join("rules/bad.yaml"),
        "name: bad\npack: timers\nenabled: true\n\
         trigger: {type: core.st2.CronTimer, parameters: {minute: \"*/0\"}}\n\
         action: {ref: core.noop}\n",
    )
    .unwrap();
    let out = d.run(&["pack", "install", dir.to_str().unwrap()]);
    assert!(!out.status.success(), "installed:\n{}", stdout(&out));
    let err = stderr(&out);
    assert!(
        err.contains("timers.bad") && err.contains("trigger.parameters.minute"),
        "{err}"
    );
    let packs = d.json(0, &["pack", "list"]);
    assert!(
        !packs.to_string().contains("\"timers\""),
        "the pack was installed anyway: {packs}"
    );
}
