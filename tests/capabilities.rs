//! The host interfaces a plugin reaches the world through, each exercised
//! against a real peer: `http` against a local HTTP server this test runs
//! (granted hosts only, dry-run GETs live and other methods only planned,
//! redirects returned rather than followed); `kv` against the database
//! (round trip, dry runs write nothing, each pack sees only its own keys);
//! `secrets` set by an operator (granted names only, the value never shown
//! or stored in clear); `nodes` facts from the inventory, and health
//! reports (granted nodes only, shown until the node changes state). `probe` and
//! `command` (against a real sshd) are in `tests/remote.rs`. Real binary,
//! real components, fresh database per test.

mod support;

use std::io::Write;
use std::process::Stdio;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use support::{Drover, stderr, stdout};

/// A local HTTP server that records every request (`METHOD /path`) and
/// answers `/status` with a JSON body, `/redirect-to/PORT` with a 302 to
/// `http://127.0.0.1:PORT/landed`, anything else with 200 `hello`. It
/// stops when dropped, or after a minute whatever happens.
struct Server {
    port: u16,
    seen: Arc<Mutex<Vec<String>>>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl Server {
    fn start() -> Server {
        let server = tiny_http::Server::http("127.0.0.1:0").expect("bind 127.0.0.1:0");
        let port = server.server_addr().to_ip().unwrap().port();
        let seen = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let thread = {
            let (seen, stop) = (seen.clone(), stop.clone());
            std::thread::spawn(move || {
                let give_up = Instant::now() + Duration::from_secs(60);
                while !stop.load(Ordering::Relaxed) && Instant::now() < give_up {
                    let Ok(Some(req)) = server.recv_timeout(Duration::from_millis(20)) else {
                        continue;
                    };
                    seen.lock()
                        .unwrap()
                        .push(format!("{} {}", req.method(), req.url()));
                    let header = |k: &str, v: &str| tiny_http::Header::from_bytes(k, v).unwrap();
                    let _ = match req.url() {
                        "/status" => req.respond(
                            tiny_http::Response::from_string(r#"{"healthy": true}"#)
                                .with_header(header("Content-Type", "application/json")),
                        ),
                        url if url.starts_with("/redirect-to/") => {
                            let port = &url["/redirect-to/".len()..];
                            let location = format!("http://127.0.0.1:{port}/landed");
                            req.respond(
                                tiny_http::Response::from_string("moved")
                                    .with_status_code(302)
                                    .with_header(header("Location", &location)),
                            )
                        }
                        _ => req.respond(tiny_http::Response::from_string("hello")),
                    };
                }
            })
        };
        Server {
            port,
            seen,
            stop,
            thread: Some(thread),
        }
    }

    fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    /// `127.0.0.1:PORT`, the host-list entry for this server only.
    fn host(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// The requests received so far. drover has exited by the time a test
    /// asks, so every request it sent has been answered and recorded.
    fn seen(&self) -> Vec<String> {
        self.seen.lock().unwrap().clone()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn installed() -> Drover {
    let d = Drover::new();
    d.install(&["packs/core", "packs/demo", "tests/packs/testkit"]);
    d
}

fn fetch(d: &Drover, code: i32, url: &str) -> Value {
    d.json(code, &["run", "demo.fetch_status", &format!("url={url}")])
}

// ---- http ----

#[test]
fn http_without_a_grant_is_denied_and_sends_nothing() {
    let d = installed();
    let server = Server::start();
    let exec = fetch(&d, 1, &server.url("/status"));
    assert_eq!(exec["status"], "denied");
    assert!(
        exec["error"]
            .as_str()
            .unwrap()
            .contains("no grant of http to demo@0.1.0"),
        "{exec}"
    );
    assert_eq!(server.seen(), Vec::<String>::new());
}

#[test]
fn granted_host_and_port_is_reached_and_answers() {
    let d = installed();
    let server = Server::start();
    d.grant("demo@0.1.0", "http", &server.host());
    let exec = fetch(&d, 0, &server.url("/status"));
    assert_eq!(exec["result"]["status"], 200);
    assert_eq!(exec["result"]["body"], json!({"healthy": true}));
    assert_eq!(server.seen(), ["GET /status"]);
    let audit = d.json(
        0,
        &["audit", "list", "--exec", exec["id"].as_str().unwrap()],
    );
    assert_eq!(audit[0]["capability"], "http");
    assert_eq!(audit[0]["decision"], "allowed");
    assert_eq!(audit[0]["target"], server.url("/status"));
}

#[test]
fn another_port_of_a_granted_host_is_denied() {
    let d = installed();
    let granted = Server::start();
    let other = Server::start();
    d.grant("demo@0.1.0", "http", &granted.host());
    let exec = fetch(&d, 1, &other.url("/status"));
    assert_eq!(exec["status"], "denied");
    assert!(
        exec["error"]
            .as_str()
            .unwrap()
            .contains("outside the granted scope"),
        "{exec}"
    );
    assert_eq!(other.seen(), Vec::<String>::new());
}

#[test]
fn dry_run_post_is_planned_and_never_sent() {
    let d = installed();
    let server = Server::start();
    d.grant("core@0.1.0", "http", &server.host());
    let url = server.url("/restart");
    let exec = d.json(
        0,
        &[
            "run",
            "core.http",
            "method=POST",
            &format!("url={url}"),
            "body=now",
            "--dry-run",
        ],
    );
    let plan = exec["plan"].as_array().unwrap();
    assert_eq!(plan.len(), 1, "{exec}");
    assert_eq!(plan[0]["capability"], "http");
    assert_eq!(plan[0]["operation"], "POST");
    assert_eq!(plan[0]["target"], url.as_str());
    assert_eq!(plan[0]["decision"], "allowed");
    assert_eq!(server.seen(), Vec::<String>::new(), "a dry run sent a POST");

    d.json(
        0,
        &[
            "run",
            "core.http",
            "method=POST",
            &format!("url={url}"),
            "body=now",
        ],
    );
    assert_eq!(server.seen(), ["POST /restart"]);
}

#[test]
fn dry_run_get_goes_out_live() {
    let d = installed();
    let server = Server::start();
    d.grant("core@0.1.0", "http", &server.host());
    let exec = d.json(
        0,
        &[
            "run",
            "core.http",
            &format!("url={}", server.url("/status")),
            "--dry-run",
        ],
    );
    assert_eq!(exec["plan"], json!([]));
    assert_eq!(exec["result"]["status"], 200);
    assert_eq!(exec["result"]["body"], r#"{"healthy": true}"#);
    assert_eq!(server.seen(), ["GET /status"]);
}

#[test]
fn redirects_are_returned_not_followed() {
    let d = installed();
    let server = Server::start();
    let target = Server::start();
    // Both servers are granted: only the no-redirects rule keeps drover
    // from following.
    d.grant("core@0.1.0", "http", "127.0.0.1");
    let url = server.url(&format!("/redirect-to/{}", target.port));
    let exec = d.json(0, &["run", "core.http", &format!("url={url}")]);
    assert_eq!(exec["result"]["status"], 302);
    assert_eq!(exec["result"]["headers"]["location"], target.url("/landed"));
    assert_eq!(server.seen(), [format!("GET /redirect-to/{}", target.port)]);
    assert_eq!(
        target.seen(),
        Vec::<String>::new(),
        "the redirect was followed"
    );
}

// ---- kv ----

/// Reads or writes the kv store of `pack` (scope `pack:NAME`) directly in
/// the test's database (while no drover process runs), to set up and
/// check what plugins did.
fn kv_get(d: &Drover, pack: &str, key: &str) -> Option<String> {
    drover_store::Store::open(&d.db())
        .unwrap()
        .kv_get(&format!("pack:{pack}"), key)
        .unwrap()
}

fn kv_set(d: &Drover, pack: &str, key: &str, value: &str) {
    drover_store::Store::open(&d.db())
        .unwrap()
        .kv_set(&format!("pack:{pack}"), key, value, None)
        .unwrap();
}

#[test]
fn kv_round_trip_sets_gets_and_deletes() {
    let d = installed();
    let exec = d.json(0, &["run", "testkit.kv", "key=k", "value=v1"]);
    assert_eq!(
        exec["result"],
        json!({"got": "v1", "deleted": true, "after_delete": null})
    );
    assert_eq!(kv_get(&d, "testkit", "k"), None);
}

#[test]
fn kv_dry_run_plans_the_writes_and_leaves_the_store_alone() {
    let d = installed();
    kv_set(&d, "testkit", "k", "before");
    let exec = d.json(
        0,
        &["run", "testkit.kv", "key=k", "value=planned", "--dry-run"],
    );
    // The plugin sees its own planned writes, so it takes the path it
    // would take for real...
    assert_eq!(
        exec["result"],
        json!({"got": "planned", "deleted": true, "after_delete": null})
    );
    let plan: Vec<(&str, &str, &str)> = exec["plan"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["capability"].as_str().unwrap(),
                e["operation"].as_str().unwrap(),
                e["target"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(plan, [("kv", "set", "k"), ("kv", "delete", "k")]);
    // ...but the store is untouched.
    assert_eq!(kv_get(&d, "testkit", "k").as_deref(), Some("before"));
}

#[test]
fn kv_is_private_to_each_pack() {
    let d = installed();
    let twin = d.copy_pack("tests/packs/testkit", "twinkit");
    support::edit_manifest(&twin, "name: testkit", "name: twinkit");
    // Trusted: a shadow pack's runs are dry, and this is about real writes.
    d.expect(0, &["pack", "install", "--trusted", twin.to_str().unwrap()]);
    kv_set(&d, "testkit", "shared", "testkit's");

    let exec = d.json(0, &["run", "twinkit.kv", "key=shared", "value=twin's"]);
    assert_eq!(exec["result"]["got"], "twin's");
    assert_eq!(
        kv_get(&d, "testkit", "shared").as_deref(),
        Some("testkit's")
    );

    d.json(0, &["run", "testkit.kv", "key=shared", "value=mine"]);
    assert_eq!(
        kv_get(&d, "testkit", "shared"),
        None,
        "testkit's own run deletes its key"
    );
}

// ---- secrets ----

const SECRET: &str = "hunter2-Xq9-not-in-any-output";

fn set_secret(d: &Drover, name: &str, value: &str) -> std::process::Output {
    let mut child = d
        .cmd()
        .args(["secret", "set", name])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(format!("{value}\n").as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    out
}

#[test]
fn secret_is_denied_without_a_grant_and_read_with_one() {
    let d = installed();
    set_secret(&d, "redfish.password", SECRET);
    let exec = d.json(1, &["run", "testkit.secret", "name=redfish.password"]);
    assert_eq!(exec["status"], "denied");
    d.grant("testkit@0.1.0", "secrets", "redfish.*");
    let exec = d.json(0, &["run", "testkit.secret", "name=redfish.password"]);
    assert_eq!(exec["result"], json!({"length": SECRET.len()}));
    let audit = d.json(
        0,
        &["audit", "list", "--exec", exec["id"].as_str().unwrap()],
    );
    assert_eq!(audit[0]["capability"], "secrets");
    assert_eq!(audit[0]["target"], "redfish.password");
    assert_eq!(audit[0]["decision"], "allowed");
}

#[test]
fn secret_outside_the_granted_names_is_denied() {
    let d = installed();
    set_secret(&d, "bmc.password", SECRET);
    d.grant("testkit@0.1.0", "secrets", "redfish.*");
    let exec = d.json(1, &["run", "testkit.secret", "name=bmc.password"]);
    assert_eq!(exec["status"], "denied");
    assert!(
        exec["error"]
            .as_str()
            .unwrap()
            .contains("outside the granted scope"),
        "{exec}"
    );
}

#[test]
fn secret_values_never_appear_in_output_or_the_database() {
    let d = installed();
    let mut printed = String::new();
    let mut keep = |o: &std::process::Output| printed.push_str(&(stdout(o) + &stderr(o)));
    keep(&set_secret(&d, "redfish.password", SECRET));
    keep(&d.run(&["run", "testkit.secret", "name=redfish.password"]));
    d.grant("testkit@0.1.0", "secrets", "redfish.*");
    for args in [
        &["run", "testkit.secret", "name=redfish.password", "--json"][..],
        &[
            "run",
            "testkit.secret",
            "name=redfish.password",
            "--dry-run",
        ],
        &["secret", "list"],
        &["secret", "list", "--json"],
        &["audit", "list", "--json"],
        &["exec", "list", "--json"],
    ] {
        keep(&d.expect(0, args));
    }
    let names = d.json(0, &["secret", "list"]);
    assert_eq!(names, json!(["redfish.password"]));
    assert!(printed.contains("redfish.password"));
    assert!(
        !printed.contains(SECRET),
        "the secret value was printed:\n{printed}"
    );

    // Nothing under the database directory (db, WAL, key, cache) holds it.
    let mut stack = vec![d.dir.path().to_owned()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path);
                continue;
            }
            let bytes = std::fs::read(&path).unwrap();
            let found = bytes.windows(SECRET.len()).any(|w| w == SECRET.as_bytes());
            assert!(
                !found,
                "the secret value is stored in clear in {}",
                path.display()
            );
        }
    }
}

// ---- nodes ----

#[test]
fn facts_report_the_nodes_rack() {
    let d = installed();
    let exec = d.json(0, &["run", "testkit.facts", "node=n041"]);
    assert_eq!(exec["result"]["node"]["name"], "n041");
    assert_eq!(exec["result"]["node"]["state"], "production");
    let facts: Value = match &exec["result"]["facts"] {
        Value::String(text) => serde_json::from_str(text).unwrap(),
        other => other.clone(),
    };
    assert_eq!(facts["labels"]["rack"], "r02", "{exec}");
}

#[test]
fn facts_of_an_unknown_node_fail_as_not_found() {
    let d = installed();
    let exec = d.json(1, &["run", "testkit.facts", "node=n9999"]);
    assert_eq!(exec["status"], "failed");
    let error = exec["error"].as_str().unwrap();
    assert!(
        error.contains("not found") && error.contains("n9999"),
        "{error}"
    );
}

// ---- nodes: health reports ----

fn report_health(d: &Drover, code: i32, node: &str, health: &str, extra: &[&str]) -> Value {
    let mut args = vec![
        "run".to_owned(),
        "demo.report_health".to_owned(),
        format!("node={node}"),
        format!("health={health}"),
    ];
    args.extend(extra.iter().map(|a| a.to_string()));
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    d.json(code, &args)
}

fn health_of(d: &Drover, node: &str) -> Value {
    d.json(0, &["node", "show", node])["health"].clone()
}

#[test]
fn a_health_report_without_a_grant_is_denied_audited_and_not_recorded() {
    let d = installed();
    let exec = report_health(&d, 1, "n001", "silent", &["detail=lies"]);
    assert_eq!(exec["status"], "denied", "{exec}");
    assert!(
        exec["error"]
            .as_str()
            .unwrap()
            .contains("no grant of nodes.health"),
        "{exec}"
    );
    assert!(health_of(&d, "n001").is_null());
    let audit = d.json(
        0,
        &["audit", "list", "--exec", exec["id"].as_str().unwrap()],
    );
    assert_eq!(audit[0]["capability"], "nodes.health", "{audit}");
    assert_eq!(audit[0]["decision"], "denied", "{audit}");
}

#[test]
fn a_health_report_reaches_only_the_granted_nodes_and_is_bounded() {
    let d = installed();
    d.grant("demo@0.1.0", "nodes.health", "rack=r01");
    // n041 is in rack r02: outside the grant.
    let exec = report_health(&d, 1, "n041", "silent", &[]);
    assert_eq!(exec["status"], "denied", "{exec}");
    assert!(health_of(&d, "n041").is_null());
    // An unknown node, and an oversized detail, fail without a record.
    let exec = report_health(&d, 1, "n9999", "silent", &[]);
    assert!(exec["error"].as_str().unwrap().contains("n9999"), "{exec}");
    let long = format!("detail={}", "x".repeat(2000));
    let exec = report_health(&d, 1, "n001", "silent", &[&long]);
    assert_eq!(exec["status"], "failed", "{exec}");
    assert!(
        exec["error"]
            .as_str()
            .unwrap()
            .contains("at most 1024 bytes"),
        "{exec}"
    );
    assert!(health_of(&d, "n001").is_null());
}

#[test]
fn a_health_report_is_shown_until_the_node_changes_state_and_planned_in_a_dry_run() {
    let d = installed();
    d.grant("demo@0.1.0", "nodes.health", "rack=r01");
    // A dry run plans the report and records nothing.
    let dry = report_health(
        &d,
        0,
        "n001",
        "silent",
        &["detail=no heartbeat", "--dry-run"],
    );
    assert_eq!(dry["plan"][0]["capability"], "nodes.health", "{dry}");
    assert_eq!(dry["plan"][0]["operation"], "report-health", "{dry}");
    assert_eq!(dry["plan"][0]["simulated_result"]["health"], "silent");
    assert!(health_of(&d, "n001").is_null());

    report_health(&d, 0, "n001", "silent", &["detail=no heartbeat"]);
    let h = health_of(&d, "n001");
    assert_eq!(h["health"], "silent", "{h}");
    assert_eq!(h["detail"], "no heartbeat");
    assert_eq!(h["source"], "demo.report_health");
    assert_eq!(h["current"], true);
    // The change is in the node's history; a repeat is not.
    report_health(&d, 0, "n001", "silent", &["detail=still nothing"]);
    let show = d.json(0, &["node", "show", "n001", "--history"]);
    let lines: Vec<&Value> = show["history"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|h| h["event"] == "health")
        .collect();
    assert_eq!(lines.len(), 1, "{show}");
    assert_eq!(lines[0]["detail"], "silent: no heartbeat");
    // A change of state makes the report history.
    d.expect(0, &["node", "drain", "n001", "--reason", "look at it"]);
    std::thread::sleep(Duration::from_millis(5));
    assert_eq!(health_of(&d, "n001")["current"], false);
    let text = stdout(&d.expect(0, &["node", "show", "n001"]));
    assert!(
        text.contains("health    silent at") && text.contains("(before its last change of state)"),
        "{text}"
    );
}
