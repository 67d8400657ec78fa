//! End-to-end: operating workflows (`tests/packs/flows`) with the real
//! binary and real Wasm actions: inquiries (`core.ask`: approve, deny,
//! timeout, roles and schema checks, nested in a subworkflow), pause,
//! resume, cancel, rerun after an abandoned task, with-items concurrency,
//! parallel branches, retries with a delay, and workflows started by a
//! rule under `drover serve`.

mod support;

use std::io::Write;
use std::net::{SocketAddr, TcpListener};
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use support::*;

const TOKEN: &str = "flows-token-for-tests";

fn installed() -> Drover {
    let d = Drover::new();
    d.install(&["packs/core", "packs/demo", "tests/packs/flows"]);
    d
}

fn children(d: &Drover, id: &str) -> Vec<Value> {
    d.json(0, &["exec", "get", id, "--tree"])["children"]
        .as_array()
        .unwrap()
        .clone()
}

fn tasks(d: &Drover, id: &str) -> Vec<(String, String)> {
    children(d, id)
        .iter()
        .map(|c| {
            (
                c["task"].as_str().unwrap().to_owned(),
                c["status"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

fn pairs(items: &[(&str, &str)]) -> Vec<(String, String)> {
    items
        .iter()
        .map(|(a, b)| ((*a).to_owned(), (*b).to_owned()))
        .collect()
}

/// Polls `f` every 50 ms for up to `within`.
fn wait_for<T>(what: &str, within: Duration, mut f: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + within;
    loop {
        if let Some(v) = f() {
            return v;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// `drover run ARGS --json` that parks (exit 3): the run's id.
fn run_parked(d: &Drover, args: &[&str]) -> (String, Value) {
    let mut all = vec!["run"];
    all.extend_from_slice(args);
    let v = d.json(3, &all);
    (v["id"].as_str().unwrap().to_owned(), v)
}

/// The id of the only pending inquiry.
fn pending_inquiry(d: &Drover) -> Value {
    let list = d.json(0, &["inquiry", "list"]);
    let list = list.as_array().unwrap();
    assert_eq!(list.len(), 1, "{list:?}");
    list[0].clone()
}

#[test]
fn an_inquiry_checks_roles_and_schema_then_the_answer_routes_the_workflow() {
    let d = installed();
    let (id, parked) = run_parked(&d, &["flows.approve", "node=b7s01"]);
    assert_eq!(parked["status"], "pending");
    let q = pending_inquiry(&d);
    let qid = q["id"].as_str().unwrap();
    assert_eq!(parked["waiting_on"], format!("inquiry {qid}"));
    assert_eq!(q["root"], id.as_str());
    assert_eq!(q["task"], "ask");
    assert_eq!(q["roles"], json!(["oncall"]));
    assert_eq!(q["route_to"], "#ops");
    // In progress: `exec get` shows it waiting.
    let progress = d.json(0, &["exec", "get", &id]);
    assert_eq!(progress["status"], "pending");
    assert_eq!(progress["waiting_on"], format!("inquiry {qid}"));
    let active = d.json(0, &["exec", "list", "--active"]);
    assert_eq!(active[0]["id"], id.as_str(), "{active}");

    // Wrong role, wrong type, missing field: refused, nothing recorded.
    let out = d.expect(2, &["inquiry", "respond", qid, "approve=true"]);
    assert!(
        stderr(&out).contains("answered by oncall only"),
        "{}",
        stderr(&out)
    );
    let out = d.expect(
        2,
        &["inquiry", "respond", qid, "approve=yes", "--as", "oncall"],
    );
    assert!(
        stderr(&out).contains("field \"approve\": \"yes\" is not of type \"boolean\""),
        "{}",
        stderr(&out)
    );
    let out = d.expect(
        2,
        &["inquiry", "respond", qid, "reason=x", "--as", "oncall"],
    );
    assert!(
        stderr(&out).contains("\"approve\" is a required property"),
        "{}",
        stderr(&out)
    );
    assert_eq!(pending_inquiry(&d)["state"], "pending");

    // Approved: the workflow goes on here and takes the approving branch.
    let exec = d.json(
        0,
        &["inquiry", "respond", qid, "approve=true", "--as", "oncall"],
    );
    assert_eq!(exec["status"], "succeeded", "{exec}");
    assert_eq!(exec["result"], json!({"decision": "approved"}));
    assert!(exec["digest"].as_str().unwrap().starts_with("sha256:"));
    assert_eq!(
        tasks(&d, &id),
        pairs(&[("ask", "succeeded"), ("act", "succeeded")])
    );
    let ask = d.json(0, &["exec", "get", qid]);
    assert_eq!(ask["action"], "core.ask");
    assert_eq!(ask["result"], json!({"approve": true}));
    let answered = d.json(0, &["inquiry", "get", qid]);
    assert_eq!(answered["state"], "responded");
    assert!(answered["responder"].as_str().unwrap().starts_with("user:"));
    // A second answer is refused.
    let out = d.expect(
        2,
        &["inquiry", "respond", qid, "approve=false", "--as", "oncall"],
    );
    assert!(
        stderr(&out).contains("is responded, not pending"),
        "{}",
        stderr(&out)
    );
    assert_eq!(d.json(0, &["inquiry", "list"]), json!([]));

    // Denied: a response the workflow routes on.
    let (id, _) = run_parked(&d, &["flows.approve", "node=b7s02"]);
    let qid = pending_inquiry(&d)["id"].as_str().unwrap().to_owned();
    let exec = d.json(
        0,
        &[
            "inquiry",
            "respond",
            &qid,
            "approve=false",
            "reason=not now",
            "--as",
            "oncall",
        ],
    );
    assert_eq!(exec["status"], "succeeded", "{exec}");
    assert_eq!(exec["result"], json!({"decision": "denied: not now"}));
    assert_eq!(
        tasks(&d, &id),
        pairs(&[("ask", "succeeded"), ("report", "succeeded")])
    );
}

#[test]
fn an_inquiry_in_a_subworkflow_parks_the_whole_tree() {
    let d = installed();
    let (id, _) = run_parked(&d, &["flows.nested_ask", "node=b7s01"]);
    let q = pending_inquiry(&d);
    assert_eq!(q["root"], id.as_str());
    assert_eq!(q["action"], "flows.approve");
    // In progress, the subworkflow shows under its task.
    let progress = d.json(0, &["exec", "get", &id]);
    assert_eq!(progress["status"], "pending");
    let subs = progress["subworkflows_in_progress"].as_array().unwrap();
    assert_eq!(
        (subs[0]["task"].as_str(), subs[0]["action"].as_str()),
        (Some("inner"), Some("flows.approve"))
    );
    let exec = d.json(
        0,
        &[
            "inquiry",
            "respond",
            q["id"].as_str().unwrap(),
            "approve=true",
            "--as",
            "oncall",
        ],
    );
    assert_eq!(exec["status"], "succeeded", "{exec}");
    assert_eq!(exec["result"], json!({"decision": "approved"}));
    let kids = children(&d, &id);
    assert_eq!(kids.len(), 1);
    assert_eq!(kids[0]["action"], "flows.approve");
    let inner: Vec<&str> = kids[0]["children"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["task"].as_str().unwrap())
        .collect();
    assert_eq!(inner, ["ask", "act"]);
}

#[test]
fn canceling_a_workflow_that_waits_on_an_inquiry_closes_the_inquiry() {
    let d = installed();
    let (id, _) = run_parked(&d, &["flows.approve", "node=b7s01"]);
    let qid = pending_inquiry(&d)["id"].as_str().unwrap().to_owned();
    let exec = d.json(1, &["exec", "cancel", &id]);
    assert_eq!(exec["status"], "canceled", "{exec}");
    assert_eq!(d.json(0, &["inquiry", "get", &qid])["state"], "canceled");
    let out = d.expect(
        2,
        &["inquiry", "respond", &qid, "approve=true", "--as", "oncall"],
    );
    assert!(
        stderr(&out).contains("is canceled, not pending"),
        "{}",
        stderr(&out)
    );
    let out = d.expect(2, &["exec", "cancel", &id]);
    assert!(
        stderr(&out).contains("already ended canceled: nothing to cancel"),
        "{}",
        stderr(&out)
    );
}

/// Starts `drover run flows.naps seconds=SECONDS` in the background and
/// returns it with the run's id once its first nap is in flight.
fn naps_in_background(d: &Drover, seconds: &str) -> (Child, String) {
    let arg = format!("seconds={seconds}");
    let child = d
        .cmd()
        .args(["run", "flows.naps", &arg, "--json"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let id = wait_for("the run to start", Duration::from_secs(30), || {
        let active = d.json(0, &["exec", "list", "--active"]);
        active
            .as_array()
            .unwrap()
            .first()
            .map(|r| r["id"].as_str().unwrap().to_owned())
    });
    (child, id)
}

#[test]
fn pause_reaches_the_running_process_and_resume_continues_in_the_foreground() {
    let d = installed();
    let (child, id) = naps_in_background(&d, "1");
    let out = d.expect(0, &["exec", "pause", &id]);
    assert!(stdout(&out).contains("pause requested"), "{}", stdout(&out));
    // The running process finishes the nap in flight, then parks.
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
    let parked: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        parked,
        json!({"id": id, "status": "paused", "waiting_on": "paused"})
    );
    assert_eq!(d.json(0, &["exec", "get", &id])["status"], "paused");
    assert_eq!(tasks(&d, &id), pairs(&[("one", "succeeded")]));
    // Nothing happens while it is paused.
    std::thread::sleep(Duration::from_millis(1500));
    assert_eq!(tasks(&d, &id).len(), 1);

    let exec = d.json(0, &["exec", "resume", &id]);
    assert_eq!(exec["status"], "succeeded", "{exec}");
    assert_eq!(exec["result"], json!({"slept": true}));
    assert_eq!(
        tasks(&d, &id),
        pairs(&[
            ("one", "succeeded"),
            ("two", "succeeded"),
            ("three", "succeeded")
        ])
    );
    // Each task ran once.
    let out = d.expect(2, &["exec", "pause", &id]);
    assert!(
        stderr(&out).contains("already ended succeeded: nothing to pause"),
        "{}",
        stderr(&out)
    );
    let out = d.expect(2, &["exec", "resume", &id]);
    assert!(
        stderr(&out).contains("nothing to resume"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn cancel_reaches_the_running_process_and_ends_it_canceled() {
    let d = installed();
    let (child, id) = naps_in_background(&d, "1");
    let out = d.expect(0, &["exec", "cancel", &id]);
    assert!(
        stdout(&out).contains("cancel requested"),
        "{}",
        stdout(&out)
    );
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let exec: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(exec["status"], "canceled", "{exec}");
    assert!(
        exec["error"].as_str().unwrap().contains("canceled"),
        "{exec}"
    );
    assert_eq!(tasks(&d, &id), pairs(&[("one", "succeeded")]));
    let listed = d.json(0, &["exec", "list", "--status", "canceled"]);
    assert_eq!(listed[0]["id"], id.as_str());
    // Not a workflow: refused with the reason.
    let echo = d.json(0, &["run", "core.echo", "message=hi"]);
    let out = d.expect(2, &["exec", "pause", echo["id"].as_str().unwrap()]);
    assert!(stderr(&out).contains("not a workflow"), "{}", stderr(&out));
}

/// Max number of `(start, end)` intervals overlapping at one instant.
fn max_overlap(spans: &[(i64, i64)]) -> usize {
    let mut points: Vec<(i64, i32)> = Vec::new();
    for (s, e) in spans {
        points.push((*s, 1));
        points.push((*e, -1));
    }
    // Ends before starts at the same instant.
    points.sort();
    let (mut cur, mut max) = (0i32, 0i32);
    for (_, delta) in points {
        cur += delta;
        max = max.max(cur);
    }
    max as usize
}

fn span(c: &Value) -> (i64, i64) {
    let start = c["started_at_ms"].as_i64().unwrap();
    (start, start + (c["duration_us"].as_i64().unwrap() / 1000))
}

#[test]
fn with_items_run_concurrently_up_to_their_concurrency_and_branches_in_parallel() {
    let d = installed();
    let exec = d.json(
        0,
        &[
            "run",
            "flows.fanout",
            "--params-json",
            r#"{"items": [1, 2, 3, 4, 5, 6, 7], "width": 3, "seconds": 0.4}"#,
        ],
    );
    assert_eq!(exec["status"], "succeeded", "{exec}");
    assert_eq!(exec["result"], json!({"count": 7}));
    let kids = children(&d, exec["id"].as_str().unwrap());
    let each: Vec<(i64, i64)> = kids
        .iter()
        .filter(|c| c["task"] == "each")
        .map(span)
        .collect();
    assert_eq!(each.len(), 7, "{kids:?}");
    let overlap = max_overlap(&each);
    assert!(
        (2..=3).contains(&overlap),
        "items overlapped {overlap} at a time (concurrency 3): {each:?}"
    );
    let branches: Vec<(i64, i64)> = kids
        .iter()
        .filter(|c| c["task"] == "left" || c["task"] == "right")
        .map(span)
        .collect();
    assert_eq!(
        max_overlap(&branches),
        2,
        "branches ran one after the other: {branches:?}"
    );
    let joined: Vec<&Value> = kids.iter().filter(|c| c["task"] == "joined").collect();
    assert_eq!(joined.len(), 1);
    assert!(span(joined[0]).0 >= branches.iter().map(|b| b.1).max().unwrap());
}

#[test]
fn a_retried_task_waits_its_delay_between_attempts() {
    let d = installed();
    let exec = d.json(0, &["run", "flows.retrying"]);
    assert_eq!(exec["status"], "succeeded", "{exec}");
    let kids = children(&d, exec["id"].as_str().unwrap());
    let flaky: Vec<(i64, i64)> = kids
        .iter()
        .filter(|c| c["task"] == "flaky")
        .map(span)
        .collect();
    assert_eq!(flaky.len(), 3, "one run and two retries: {kids:?}");
    for w in flaky.windows(2) {
        assert!(
            w[1].0 - w[0].1 >= 950,
            "retry started {} ms after the failure (delay 1 s)",
            w[1].0 - w[0].1
        );
    }
    let remediate: Vec<(i64, i64)> = kids
        .iter()
        .filter(|c| c["task"] == "remediate")
        .map(span)
        .collect();
    assert_eq!(remediate.len(), 1, "{kids:?}");
    assert!(remediate[0].0 >= flaky[2].1, "{kids:?}");
}

// ------------------------------------------------------------- under serve

/// A running `drover serve`, killed on drop.
struct Server {
    child: Child,
    addr: SocketAddr,
    log: std::path::PathBuf,
}

impl Server {
    fn start(d: &Drover) -> Server {
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let addr: SocketAddr = ([127, 0, 0, 1], port).into();
        let log = d.dir.path().join(format!("serve-{port}.log"));
        let file = std::fs::File::create(&log).unwrap();
        let child = d
            .cmd()
            .args(["serve", "--listen", &addr.to_string()])
            .env("DROVER_LOG", "info")
            .stdout(file.try_clone().unwrap())
            .stderr(file)
            .spawn()
            .unwrap();
        let server = Server { child, addr, log };
        let agent = agent();
        wait_for("serve to answer /healthz", Duration::from_secs(60), || {
            agent
                .get(&format!("http://{addr}/healthz"))
                .call()
                .ok()
                .filter(|r| r.status() == 200)
        });
        server
    }

    fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(10)))
        .build()
        .into()
}

fn set_secret(d: &Drover, name: &str, value: &str) {
    let mut child = d
        .cmd()
        .args(["secret", "set", name])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(value.as_bytes())
        .unwrap();
    assert!(child.wait().unwrap().success());
}

/// The stored execution `id`, once there (polls up to a minute).
fn stored(d: &Drover, server: &Server, id: &str) -> Value {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let out = d.run(&["exec", "get", id, "--json"]);
        if out.status.success() {
            let v: Value = serde_json::from_slice(&out.stdout).unwrap();
            if v["status"] != "running" && v["status"] != "pending" && v["status"] != "paused" {
                return v;
            }
        }
        assert!(
            Instant::now() < deadline,
            "{id} not stored: {}\n{}",
            stderr(&out),
            server.log()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn a_webhook_rule_starts_a_workflow_that_serve_runs_with_its_subworkflow() {
    let d = installed();
    set_secret(&d, "flows.token", TOKEN);
    let server = Server::start(&d);
    let resp = agent()
        .post(&format!(
            "http://{}/api/v1/webhooks/flows.alert",
            server.addr
        ))
        .header("content-type", "application/json")
        .header("x-drover-token", TOKEN)
        .send(r#"{"node": "b7s01"}"#)
        .unwrap();
    assert_eq!(resp.status(), 202);
    let id = wait_for(
        "the rule to request the workflow",
        Duration::from_secs(60),
        || {
            let triggers = d.json(0, &["trigger", "list"]);
            let t = triggers.as_array()?.first()?.clone();
            t["enforcements"][0]["execution_id"]
                .as_str()
                .map(str::to_owned)
        },
    );
    let exec = stored(&d, &server, &id);
    assert_eq!(exec["status"], "succeeded", "{exec}\n{}", server.log());
    assert_eq!(exec["action"], "flows.nested");
    assert_eq!(exec["actor"], "rule:flows.greet_on_alert");
    assert_eq!(exec["result"], json!({"inner": "hello b7s01"}));
    let kids = children(&d, &id);
    assert_eq!(kids.len(), 1);
    assert_eq!(
        (kids[0]["task"].as_str(), kids[0]["status"].as_str()),
        (Some("inner"), Some("succeeded"))
    );
    let inner: Vec<&str> = kids[0]["children"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["task"].as_str().unwrap())
        .collect();
    assert_eq!(inner, ["first", "second"]);
}

#[test]
fn under_serve_a_queued_answer_continues_and_an_unanswered_inquiry_times_out() {
    let d = installed();
    let (answered, _) = run_parked(&d, &["flows.approve", "node=b7s01"]);
    let (ignored, _) = run_parked(&d, &["flows.approve", "node=b7s02", "ttl=2"]);
    let server = Server::start(&d);
    let list = d.json(0, &["inquiry", "list"]);
    let q = list
        .as_array()
        .unwrap()
        .iter()
        .find(|q| q["root"] == answered.as_str())
        .unwrap()
        .clone();
    let out = d.expect(
        0,
        &[
            "inquiry",
            "respond",
            q["id"].as_str().unwrap(),
            "approve=true",
            "--as",
            "oncall",
            "--queue",
        ],
    );
    assert!(
        stdout(&out).contains("queued for `drover serve`"),
        "{}",
        stdout(&out)
    );
    let exec = stored(&d, &server, &answered);
    assert_eq!(exec["result"], json!({"decision": "approved"}), "{exec}");
    // The other one times out (ttl 2 s): its failure route reports it.
    let exec = stored(&d, &server, &ignored);
    assert_eq!(exec["status"], "succeeded", "{exec}");
    assert_eq!(exec["result"], json!({"decision": "no answer"}));
    let kids = children(&d, &ignored);
    assert_eq!(kids[0]["status"], "timeout");
    assert!(
        kids[0]["error"]
            .as_str()
            .unwrap()
            .contains("inquiry timed out after 2s"),
        "{kids:?}"
    );
}

#[test]
fn rerun_goes_on_from_an_abandoned_task_with_its_context() {
    let d = installed();
    // Kill `drover run` while the non-idempotent nap is in flight.
    let mut child = d
        .cmd()
        .args(["run", "flows.sleepy", "seconds=2"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let id = wait_for("the nap to start", Duration::from_secs(30), || {
        let list = d.json(0, &["exec", "list"]);
        list.as_array()
            .unwrap()
            .iter()
            .any(|e| e["action"] == "core.echo")
            .then_some(())?;
        let active = d.json(0, &["exec", "list", "--active"]);
        active.as_array()?.first()?["id"]
            .as_str()
            .map(str::to_owned)
    });
    std::thread::sleep(Duration::from_millis(300));
    child.kill().unwrap();
    child.wait().unwrap();
    // Without serve, resume continues it here: the nap is abandoned.
    let exec = d.json(1, &["exec", "resume", &id]);
    assert_eq!(exec["status"], "failed", "{exec}");
    let error = exec["error"].as_str().unwrap();
    assert!(error.contains("abandoned"), "{error}");
    assert!(
        error.contains(&format!("drover exec rerun {id} --task nap")),
        "{error}"
    );

    let out = d.run(&["exec", "rerun", &id, "--task", "nap", "--json"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let text = stdout(&out);
    let exec: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(exec["status"], "succeeded", "{exec}");
    let new = exec["id"].as_str().unwrap();
    assert_ne!(new, id);
    // Only the nap and what follows ran again; `before` is not repeated.
    assert_eq!(
        tasks(&d, new),
        pairs(&[("nap", "succeeded"), ("after", "succeeded")])
    );
    let out = d.expect(2, &["exec", "rerun", &id, "--task", "nope"]);
    assert!(stderr(&out).contains("nope"), "{}", stderr(&out));
}

// ------------------------------------------------------------ crash test

/// A small deterministic generator (seeded from the clock, printed).
struct Lcg(u64);

impl Lcg {
    fn next(&mut self, below: u64) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (self.0 >> 33) % below
    }
}

#[test]
fn a_hundred_workflows_survive_kill_9_of_serve_and_no_task_runs_twice() {
    const RUNS: usize = 100;
    let d = installed();
    set_secret(&d, "flows.token", TOKEN);
    let seed = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos() as u64;
    let mut rng = Lcg(seed);
    eprintln!("crash test seed {seed}");

    // 100 webhooks, each accepted (durable) before the first kill.
    let mut server = Server::start(&d);
    let agent = agent();
    for n in 0..RUNS {
        let resp = agent
            .post(&format!(
                "http://{}/api/v1/webhooks/flows.crash",
                server.addr
            ))
            .header("content-type", "application/json")
            .header("x-drover-token", TOKEN)
            .send(format!(r#"{{"tag": "w{n}"}}"#))
            .unwrap();
        assert_eq!(resp.status(), 202);
    }
    // Kill -9 at random points while the workflows run; restart each time.
    let mut kills = Vec::new();
    for _ in 0..4 {
        let after = Duration::from_millis(200 + rng.next(1500));
        std::thread::sleep(after);
        kills.push(after);
        drop(server); // SIGKILL
        server = Server::start(&d);
    }
    eprintln!("killed serve after {kills:?} each");
    let deadline = Instant::now() + Duration::from_secs(120);
    let execs = loop {
        let list = d.json(
            0,
            &[
                "exec",
                "list",
                "--action",
                "flows.crashy",
                "--limit",
                "1000",
            ],
        );
        let list = list.as_array().unwrap().clone();
        if list.len() == RUNS {
            break list;
        }
        assert!(
            Instant::now() < deadline,
            "{} of {RUNS} workflows ended\n{}",
            list.len(),
            server.log()
        );
        std::thread::sleep(Duration::from_millis(200));
    };
    assert_eq!(d.json(0, &["exec", "list", "--active"]), json!([]));

    // Every non-idempotent step ran at most once (its counter is 0 or 1),
    // and exactly once in every workflow that succeeded; a workflow that
    // did not succeed lost a step in flight to a kill, and says so.
    let counters = d.json(0, &["kv", "list", "--scope", "pack:flows"]);
    let count = |key: &str| -> u64 {
        counters
            .as_array()
            .unwrap()
            .iter()
            .find(|kv| kv[0] == key)
            .map_or(0, |kv| kv[1].as_str().unwrap().parse().unwrap())
    };
    let steps = ["first", "fan1", "fan2", "fan3", "fan4", "right", "last"];
    let mut abandoned = 0;
    for e in &execs {
        let exec = d.json(0, &["exec", "get", e["id"].as_str().unwrap()]);
        let tag = exec["parameters"]["tag"].as_str().unwrap();
        for step in steps {
            let n = count(&format!("{tag}.{step}"));
            assert!(n <= 1, "{tag}.{step} ran {n} times (seed {seed})");
            if exec["status"] == "succeeded" {
                assert_eq!(n, 1, "{tag}.{step} did not run in a succeeded workflow");
            }
        }
        if exec["status"] != "succeeded" {
            abandoned += 1;
            let error = exec["error"].as_str().unwrap_or_default();
            assert!(error.contains("abandoned"), "{tag}: {exec}");
        }
    }
    eprintln!(
        "{RUNS} workflows ended: {} succeeded, {abandoned} abandoned a step",
        RUNS - abandoned
    );
}

#[test]
fn timeout_reaches_every_child() {
    let d = installed();
    let out = d.run(&[
        "run",
        "flows.naps",
        "seconds=2",
        "--timeout",
        "300ms",
        "--json",
    ]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let exec: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(exec["status"], "failed", "{exec}");
    // Each nap (2 s) was stopped at the run's 300 ms deadline.
    let kids = children(&d, exec["id"].as_str().unwrap());
    assert_eq!(kids.len(), 3, "{kids:?}");
    for kid in &kids {
        assert_eq!(kid["status"], "timeout", "{kid}");
        assert!(
            kid["error"]
                .as_str()
                .unwrap()
                .contains("stopped after 300ms"),
            "{kid}"
        );
    }
}

#[test]
fn a_paused_run_resumed_with_queue_is_finished_by_serve() {
    let d = installed();
    let (child, id) = naps_in_background(&d, "1");
    d.expect(0, &["exec", "pause", &id]);
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
    let server = Server::start(&d);
    // Serve leaves a parked run alone until asked.
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(d.json(0, &["exec", "get", &id])["status"], "paused");
    let out = d.expect(0, &["exec", "resume", &id, "--queue"]);
    assert!(
        stdout(&out).contains("queued for `drover serve`"),
        "{}",
        stdout(&out)
    );
    let exec = stored(&d, &server, &id);
    assert_eq!(exec["status"], "succeeded", "{exec}\n{}", server.log());
    assert_eq!(
        tasks(&d, &id),
        pairs(&[
            ("one", "succeeded"),
            ("two", "succeeded"),
            ("three", "succeeded")
        ])
    );
}

#[test]
fn under_serve_a_delay_parks_the_run_and_serve_wakes_it() {
    let d = installed();
    set_secret(&d, "flows.token", TOKEN);
    let server = Server::start(&d);
    let resp = agent()
        .post(&format!(
            "http://{}/api/v1/webhooks/flows.later",
            server.addr
        ))
        .header("content-type", "application/json")
        .header("x-drover-token", TOKEN)
        .send(r#"{"node": "b7s01"}"#)
        .unwrap();
    assert_eq!(resp.status(), 202);
    // While it waits out the delay, no thread holds it: it is parked.
    let waiting = wait_for(
        "the run to park for its delay",
        Duration::from_secs(30),
        || {
            let active = d.json(0, &["exec", "list", "--active"]);
            let run = active.as_array()?.first()?.clone();
            run["waiting_on"]
                .as_str()
                .is_some_and(|w| w.starts_with("delay until"))
                .then_some(run)
        },
    );
    assert_eq!(waiting["status"], "pending");
    let id = waiting["id"].as_str().unwrap();
    let exec = stored(&d, &server, id);
    assert_eq!(exec["status"], "succeeded", "{exec}\n{}", server.log());
    let kids = children(&d, id);
    assert_eq!(kids.len(), 2, "{kids:?}");
    let (now, later) = (span(&kids[0]), span(&kids[1]));
    assert!(
        later.0 - now.1 >= 1900,
        "`later` started {} ms after `now` (delay 2 s)",
        later.0 - now.1
    );
}

/// A promotion (or a rollback) while a workflow waits does not change the
/// run under way: it resumes with the version it started with, and the
/// next run takes the new one.
#[test]
fn a_run_under_way_finishes_on_the_version_it_started_with() {
    let d = installed();
    let (old_run, _) = run_parked(&d, &["flows.approve", "node=b7s01"]);
    let old_q = pending_inquiry(&d)["id"].as_str().unwrap().to_owned();

    let next = d.copy_pack("tests/packs/flows", "flows-0.2.0");
    edit_manifest(&next, "version: 0.1.0", "version: 0.2.0");
    edit_file(
        &next.join("workflows/approve.yaml"),
        "- decision: approved\n",
        "- decision: approved by 0.2.0\n",
    );
    d.expect(0, &["pack", "install", "--trusted", next.to_str().unwrap()]);
    let live = d.json(0, &["pack", "show", "flows"]);
    assert_eq!(live["pack"]["version"], "0.2.0", "{live:#}");

    let done = d.json(
        0,
        &[
            "inquiry",
            "respond",
            &old_q,
            "approve=true",
            "--as",
            "oncall",
        ],
    );
    assert_eq!(done["id"], old_run.as_str());
    assert_eq!(done["result"], json!({"decision": "approved"}), "{done:#}");
    assert_eq!(done["pack_version"], "0.1.0", "{done:#}");

    let (new_run, _) = run_parked(&d, &["flows.approve", "node=b7s02"]);
    let new_q = pending_inquiry(&d)["id"].as_str().unwrap().to_owned();
    let done = d.json(
        0,
        &[
            "inquiry",
            "respond",
            &new_q,
            "approve=true",
            "--as",
            "oncall",
        ],
    );
    assert_eq!(done["id"], new_run.as_str());
    assert_eq!(done["result"], json!({"decision": "approved by 0.2.0"}));
    assert_eq!(done["pack_version"], "0.2.0", "{done:#}");
}
