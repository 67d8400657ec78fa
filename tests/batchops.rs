//! The reference pack `batchops` end to end on the simulated fleet, under
//! a real `drover serve`: a no-contact report by webhook → the rule → the
//! `handle_no_contact` workflow (facts, ping, ssh uptime through the host's
//! simulation of `sim` nodes) → a reboot through the fleet controller.
//! A dead node is rebooted exactly once, a live one not at all, and a
//! storm (10% of the fleet silent at once) trips the brake before any
//! reboot happens; 20 dead nodes in one rack are rebooted one at a time.
//! The daily health check reports nodes that need a human, and runs on
//! its cron timer. The demo's storm is also played in a browser: the
//! operator sees why the brake engaged and which nodes are silent,
//! releases it with a reason, and the remediations go on.

#[path = "support/browser.rs"]
mod browser;
mod support;

use std::time::Duration;

use serde_json::{Value, json};
use support::server::*;
use support::*;

const TOKEN: &str = "batchops-test-token";

/// `racks` racks of `per_rack` sim nodes named bRsNN, rebooting in 0.3 s.
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

/// batchops installed and granted what it needs, the inventory imported,
/// the webhook token set.
fn batchops(racks: u32, per_rack: u32) -> Drover {
    let d = Drover::new();
    d.install(&["packs/core", "packs/batchops"]);
    let file = d.dir.path().join("nodes.yaml");
    std::fs::write(&file, inventory(racks, per_rack)).unwrap();
    d.expect(0, &["node", "import", file.to_str().unwrap()]);
    d.grant("batchops@0.1.0", "nodes.reboot", "cluster=batch");
    d.grant("batchops@0.1.0", "probe", "*");
    d.grant("batchops@0.1.0", "nodes.health", "cluster=batch");
    d.grant("batchops@0.1.0", "command", "cluster=batch: uptime");
    // The health sensor's subscriptions: a NATS subject and a webhook.
    d.grant(
        "batchops@0.1.0",
        "subscribe",
        "nats:batch.health,webhook:health",
    );
    set_secret(&d, "batchops.webhook_token", TOKEN);
    d
}

fn report(server: &Server, node: &str) {
    let body = json!({"node": node, "since": "2026-11-26T04:00:00Z"}).to_string();
    let answer = post(
        &agent(Duration::from_secs(30)),
        &server.url("batchops.no_contact"),
        &[("x-drover-token", TOKEN)],
        body.as_bytes(),
    )
    .unwrap_or_else(|e| panic!("POST batchops.no_contact: {e}\n{}", server.log()));
    assert_eq!(answer.status, 202, "{answer:?}");
}

/// POSTs a monitoring report `{"node", "status"}` to the health sensor's
/// webhook, as monitoring would; asserts it was accepted.
fn health_report(server: &Server, node: &str, status: &str) {
    let body = json!({"node": node, "status": status}).to_string();
    let answer = post(
        &agent(Duration::from_secs(30)),
        &server.url("batchops.health"),
        &[("x-drover-token", TOKEN)],
        body.as_bytes(),
    )
    .unwrap();
    assert_eq!(answer.status, 202, "{answer:?}\n{}", server.log());
}

/// Times `node` entered `rebooting`, from its history.
fn reboots(d: &Drover, node: &str) -> usize {
    let show = d.json(0, &["node", "show", node, "--history", "--limit", "500"]);
    show["history"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|h| h["to_state"] == "rebooting" && h["from_state"] != "rebooting")
        .count()
}

/// The ended `handle_no_contact` runs, by node.
fn remediations(d: &Drover) -> Vec<Value> {
    executions(d)
        .into_iter()
        .filter(|e| e["action"] == "batchops.handle_no_contact")
        .filter(|e| {
            !["requested", "running", "pending", "paused"]
                .contains(&e["status"].as_str().unwrap_or(""))
        })
        .collect()
}

#[test]
fn a_dead_node_is_rebooted_once_and_a_live_one_is_left_alone() {
    let d = batchops(2, 3);
    // One dead node of six is no storm here.
    d.expect(0, &["brake", "set", "--threshold", "50%"]);
    d.expect(0, &["sim", "hang", "b1s01"]);
    let server = Server::start(&d);
    report(&server, "b1s01");
    report(&server, "b1s02");
    let done = wait_for("both remediations to end", Duration::from_secs(120), || {
        let r = remediations(&d);
        (r.len() == 2).then_some(r)
    });
    let runs: Vec<Value> = done
        .iter()
        .map(|e| d.json(0, &["exec", "get", e["id"].as_str().unwrap()]))
        .collect();
    let result = |node: &str| -> Value {
        let e = runs
            .iter()
            .find(|e| e["parameters"]["node"] == node)
            .unwrap_or_else(|| panic!("no remediation of {node}: {runs:#?}"));
        assert_eq!(e["status"], "succeeded", "{e:#}\n{}", server.log());
        e["result"].clone()
    };
    let dead = result("b1s01");
    assert!(
        dead["verdict"]
            .as_str()
            .unwrap()
            .starts_with("rebooted (no answer to ping)"),
        "{dead:#}"
    );
    let live = result("b1s02");
    assert!(
        live["verdict"].as_str().unwrap().starts_with("alive: "),
        "{live:#}"
    );
    assert_eq!(reboots(&d, "b1s01"), 1, "the dead node is rebooted once");
    assert_eq!(reboots(&d, "b1s02"), 0, "the live node is not rebooted");
    let faults = d.json(0, &["sim", "list"]);
    assert_eq!(faults[0]["node"], "b1s01");
    assert_eq!(faults[0]["active"], false, "the reboot cleared the hang");
}

#[test]
fn health_reports_posted_to_the_sensor_webhook_start_a_remediation_for_down_nodes_only() {
    let d = batchops(1, 3);
    d.expect(0, &["brake", "set", "--threshold", "50%"]);
    d.expect(0, &["sim", "hang", "b1s01"]);
    let server = Server::start(&d);
    health_report(&server, "b1s02", "ok");
    health_report(&server, "b1s01", "down");
    let done = wait_for("the remediation of b1s01", Duration::from_secs(120), || {
        let r = remediations(&d);
        (!r.is_empty()).then_some(r)
    });
    let run = d.json(0, &["exec", "get", done[0]["id"].as_str().unwrap()]);
    assert_eq!(run["parameters"]["node"], "b1s01", "{run:#}");
    assert_eq!(run["status"], "succeeded", "{run:#}\n{}", server.log());
    // The "ok" report made no trigger: one remediation only.
    std::thread::sleep(Duration::from_secs(2));
    assert_eq!(remediations(&d).len(), 1);
    // Each report is also the node's health: b1s02 answers; b1s01 was
    // silent, then ping found it unreachable, then the reboot moved on.
    let ok = d.json(0, &["node", "show", "b1s02"]);
    assert_eq!(ok["health"]["health"], "answering", "{ok:#}");
    assert_eq!(ok["health"]["source"], "batchops.no_contact");
    let dead = d.json(0, &["node", "show", "b1s01", "--history"]);
    let seen: Vec<&str> = dead["history"]
        .as_array()
        .unwrap()
        .iter()
        .rev()
        .filter(|h| h["event"] == "health")
        .map(|h| h["detail"].as_str().unwrap())
        .collect();
    assert!(
        seen.len() == 2
            && seen[0].starts_with("silent: monitoring")
            && seen[1].starts_with("unreachable: no answer to ping"),
        "{seen:?}"
    );
    assert_eq!(dead["health"]["current"], false, "{dead:#}");
    let wrong = post(
        &agent(Duration::from_secs(30)),
        &server.url("batchops.health"),
        &[("x-drover-token", "not-the-token")],
        b"{}",
    )
    .unwrap();
    assert_eq!(wrong.status, 401, "a wrong token is refused");
}

#[test]
fn a_storm_trips_the_brake_and_nothing_reboots() {
    // 20 nodes; the brake trips above 5% (one node) unhealthy, and
    // automatic requests settle for 3 s first.
    let d = batchops(2, 10);
    d.expect(0, &["brake", "set", "--threshold", "5%", "--settle", "3s"]);
    let silent = ["b1s01", "b2s05"];
    d.expect(0, &["sim", "hang", silent[0], silent[1]]);
    let server = Server::start(&d);
    for node in silent {
        report(&server, node);
    }
    wait_for("the brake to engage", Duration::from_secs(60), || {
        let s = d.json(0, &["brake", "status"]);
        (s["engaged"] == true).then_some(())
    });
    // Past the settle time, the held requests still do not start.
    std::thread::sleep(Duration::from_secs(5));
    for node in silent {
        assert_eq!(
            reboots(&d, node),
            0,
            "{node} rebooted under the brake\n{}",
            server.log()
        );
    }
    let list = d.json(0, &["node", "list"]);
    for n in list.as_array().unwrap() {
        assert_eq!(n["state"], "production", "{n:#}");
    }
}

#[test]
fn twenty_dead_nodes_in_one_rack_are_rebooted_one_at_a_time() {
    let d = batchops(1, 20);
    d.budget_rack_one();
    // A whole rack silent would be a storm; here it is what we test.
    d.expect(0, &["brake", "set", "--threshold", "100%"]);
    let nodes: Vec<String> = (1..=20).map(|n| format!("b1s{n:02}")).collect();
    let mut hang = vec!["sim", "hang"];
    hang.extend(nodes.iter().map(String::as_str));
    d.expect(0, &hang);
    let server = Server::start(&d);
    for node in &nodes {
        report(&server, node);
    }
    let done = wait_for("20 remediations to end", Duration::from_secs(400), || {
        let r = remediations(&d);
        (r.len() == 20).then_some(r)
    });
    for e in &done {
        let run = d.json(0, &["exec", "get", e["id"].as_str().unwrap()]);
        assert_eq!(run["status"], "succeeded", "{run:#}\n{}", server.log());
        let verdict = run["result"]["verdict"].as_str().unwrap();
        assert!(verdict.starts_with("rebooted"), "{run:#}");
    }
    for node in &nodes {
        assert_eq!(reboots(&d, node), 1, "{node} is rebooted exactly once");
    }
    assert_eq!(
        most_out_per_rack(&d.db()),
        1,
        "the rack budget serves the rack one node at a time"
    );
}

/// An operator cancels the reboot a remediation waits on (it was queued
/// behind the rack's budget): `wait_for_node` sees the request cancelled,
/// answers at once instead of retrying, and the workflow ends; the node
/// is never rebooted.
#[test]
fn a_cancelled_reboot_ends_the_remediation_waiting_on_it() {
    let d = batchops(1, 2);
    d.budget_rack_one();
    d.expect(0, &["brake", "set", "--threshold", "100%"]);
    // b1s02 holds the rack's one slot: b1s01's reboot will queue.
    d.expect(
        0,
        &[
            "node",
            "set-state",
            "b1s02",
            "intervention",
            "--reason",
            "PSU",
        ],
    );
    d.expect(0, &["sim", "hang", "b1s01"]);
    let server = Server::start(&d);
    report(&server, "b1s01");
    let request = wait_for("the reboot to queue", Duration::from_secs(60), || {
        let q = d.json(0, &["fleet", "queue"]);
        q.as_array()?
            .iter()
            .find(|r| r["node"] == "b1s01" && r["gate"] == "budget")
            .map(|r| r["id"].as_str().unwrap().to_owned())
    });
    let out = d.expect(
        0,
        &[
            "fleet",
            "cancel",
            &request,
            "--reason",
            "replacing the board",
        ],
    );
    assert!(stdout(&out).contains("cancelled"), "{}", stdout(&out));
    let done = wait_for("the remediation to end", Duration::from_secs(60), || {
        let r = remediations(&d);
        (r.len() == 1).then_some(r)
    });
    let waited = executions(&d)
        .into_iter()
        .filter(|e| e["action"] == "batchops.wait_for_node" && e["status"] == "succeeded")
        .map(|e| d.json(0, &["exec", "get", e["id"].as_str().unwrap()]))
        .find(|e| e["result"]["back"] == false)
        .unwrap_or_else(|| panic!("no final wait_for_node answer\n{}", server.log()));
    let why = waited["result"]["why"].as_str().unwrap();
    assert!(
        why.contains("cancelled") && why.contains("replacing the board"),
        "{waited:#}"
    );
    assert_ne!(done[0]["status"], "succeeded", "{:#}", done[0]);
    assert_eq!(
        reboots(&d, "b1s01"),
        0,
        "the cancelled reboot never happened"
    );
}

/// A receiver for the pack's reports: answers 201, hands each body over.
fn report_sink() -> (String, std::sync::mpsc::Receiver<Value>) {
    let server = tiny_http::Server::http("127.0.0.1:0").unwrap();
    let url = format!("http://{}", server.server_addr().to_ip().unwrap());
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for mut req in server.incoming_requests() {
            let mut body = String::new();
            req.as_reader().read_to_string(&mut body).unwrap();
            let _ = tx.send(serde_json::from_str(&body).unwrap_or(Value::String(body)));
            let _ = req.respond(tiny_http::Response::from_string("{}").with_status_code(201));
        }
    });
    (url, rx)
}

#[test]
fn the_daily_health_check_reports_the_nodes_that_need_a_human() {
    let d = batchops(2, 3);
    let (url, reports) = report_sink();
    d.grant("batchops@0.1.0", "http", &url);
    let report_url = format!("report_url={url}/report");

    // All in production: nothing to report.
    let calm = d.json(0, &["run", "batchops.daily_health_check", &report_url]);
    assert_eq!(calm["result"]["attention"], json!([]), "{calm:#}");
    assert!(
        calm["result"]["summary"]
            .as_str()
            .unwrap()
            .starts_with("6 nodes (cluster=batch): none"),
        "{calm:#}"
    );
    assert!(reports.try_recv().is_err(), "no report when all is well");

    d.expect(
        0,
        &[
            "node",
            "set-state",
            "b2s03",
            "intervention",
            "--reason",
            "PSU smoke",
        ],
    );
    let run = d.json(0, &["run", "batchops.daily_health_check", &report_url]);
    assert_eq!(run["status"], "succeeded", "{run:#}");
    let report = reports.recv_timeout(Duration::from_secs(10)).unwrap();
    assert_eq!(report["kind"], "report");
    assert_eq!(
        report["summary"],
        "daily health check: 1 of 6 nodes (cluster=batch) need a human: b2s03"
    );
    assert_eq!(report["details"]["attention"][0]["note"], "PSU smoke");

    // A selector that does not parse is the plugin's error, with the text.
    let bad = d.json(1, &["run", "batchops.fleet_health", "selector=rack in ("]);
    let error = bad["error"].as_str().unwrap();
    assert!(error.contains("selector \"rack in (\""), "{bad:#}");
}

#[test]
fn the_daily_health_check_runs_on_its_cron_timer() {
    let d = Drover::new();
    d.install(&["packs/core"]);
    // The pack as shipped, with the rule's 06:00 moved to every 2 seconds.
    let pack = d.copy_pack("packs/batchops", "batchops");
    let rule = pack.join("rules/daily_health_check.yaml");
    let text = std::fs::read_to_string(&rule).unwrap();
    let every_2s = text.replace(
        "    hour: 6\n    minute: 0\n    second: 0\n",
        "    second: \"*/2\"\n",
    );
    assert_ne!(text, every_2s, "the rule's schedule moved");
    std::fs::write(&rule, every_2s).unwrap();
    d.expect(0, &["pack", "install", pack.to_str().unwrap()]);
    let _server = Server::start(&d);
    let run = wait_for(
        "a timer-started health check",
        Duration::from_secs(60),
        || {
            executions(&d).into_iter().find(|e| {
                e["action"] == "batchops.daily_health_check"
                    && e["actor"] == "rule:batchops.daily_health_check"
                    && e["status"] == "succeeded"
            })
        },
    );
    let got = d.json(0, &["exec", "get", run["id"].as_str().unwrap()]);
    assert_eq!(got["result"]["attention"], json!([]), "{got:#}");
}

/// The demo's storm, run from the browser as an operator would: the brake
/// engages, the Fleet page says why and shows which nodes are silent, the
/// operator releases it with a reason, the held remediation goes on and
/// the refused one is run again from its page; the release is audited.
#[test]
fn the_storm_is_run_from_the_browser() {
    let d = batchops(2, 10);
    d.expect(0, &["brake", "set", "--threshold", "5%", "--settle", "3s"]);
    let out = d.expect(0, &["user", "add", "ops", "--role", "admin"]);
    let password = stdout(&out).lines().last().unwrap().trim().to_owned();
    let silent = ["b1s01", "b2s05"];
    d.expect(0, &["sim", "hang", silent[0], silent[1]]);
    let server = Server::start(&d);
    for node in silent {
        // As monitoring reports it: to the health sensor, which marks the
        // node silent and raises batchops.no_contact.
        health_report(&server, node, "down");
    }
    wait_for("the brake to engage", Duration::from_secs(60), || {
        (d.json(0, &["brake", "status"])["engaged"] == true).then_some(())
    });

    let b = browser::Browser::start(1400, 1000);
    let base = format!("http://{}", server.addr);
    b.login(&base, "ops", &password);
    b.goto(&format!("{base}/ui/fleet"));
    assert!(b.text("#brake h3").contains("engaged"));
    let why = b.text("#brake-reason");
    assert!(why.contains("2 of 20 nodes unhealthy"), "{why}");
    let counted = b.text("#brake-nodes");
    for node in silent {
        assert!(counted.contains(node), "{node} counted: {counted}");
        // Still "production", but not drawn as a healthy node.
        assert_eq!(
            b.attr(&format!("#node-{node}"), "data-state").as_deref(),
            Some("production")
        );
        let health = b.attr(&format!("#node-{node}"), "data-health").unwrap();
        assert!(
            ["silent", "unreachable"].contains(&health.as_str()),
            "{node}: {health:?}"
        );
    }
    assert_eq!(reboots(&d, silent[0]) + reboots(&d, silent[1]), 0);

    // Released with a reason, after the question.
    b.type_into("#release-reason", "storm over: switch r01 replaced");
    b.eval("window.confirm = function () { return true; }; return null");
    b.click("#release-button");
    b.wait_text("#notice", "Brake released");
    assert_eq!(d.json(0, &["brake", "status"])["engaged"], false);

    // Both remediations end without an alarm or a ticket (the brake is one
    // incident, not one per node): the reboot refused, or queued behind the
    // brake, says so. The queued one goes on once released; the operator
    // runs the held ones again from their pages (a second run finds the
    // node rebooting, or back, and leaves it).
    let ended = wait_for("both remediations to end", Duration::from_secs(120), || {
        let r = remediations(&d);
        (r.len() >= 2).then_some(r)
    });
    let mut held = Vec::new();
    for e in &ended {
        let run = d.json(0, &["exec", "get", e["id"].as_str().unwrap(), "--tree"]);
        let tasks: Vec<&str> = run["children"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| t["task"].as_str().unwrap_or(""))
            .collect();
        assert!(
            !tasks.iter().any(|t| *t == "alarm" || *t == "open_ticket"),
            "{run:#}"
        );
        let verdict = run["result"]["verdict"].as_str().unwrap_or("");
        if verdict.starts_with("held by the storm brake") {
            assert_eq!(run["status"], "succeeded", "{run:#}");
            held.push(run["id"].as_str().unwrap().to_owned());
        }
    }
    assert!(!held.is_empty(), "{ended:#?}");

    // The held remediations are one incident, not unrelated failures: the
    // brake's, with their nodes and the runs they belong to, on the
    // dashboard and the incidents page; each member links to its event,
    // whose trace leads to the run.
    b.goto(&format!("{base}/ui/"));
    // The dashboard redraws live while runs end: read and click what is
    // there at the time.
    b.wait_text("#dashboard-incidents", "The storm brake held or refused");
    b.click_fresh("#dashboard-incidents a");
    let incident = "article.incident.k-held";
    let text = b.wait_text(incident, "storm brake");
    let brake_incidents = b.eval(
        "return [...document.querySelectorAll('article.incident.k-held')]\
         .filter(a => a.textContent.includes('storm brake')).length",
    );
    assert_eq!(brake_incidents, 1, "one brake incident: {text}");
    for id in &held {
        assert!(
            text.contains(id.as_str()),
            "held run {id} is a member: {text}"
        );
    }
    let node_of = |id: &str| d.json(0, &["exec", "get", id])["parameters"]["node"].clone();
    for id in &held {
        let node = node_of(id);
        assert!(text.contains(node.as_str().unwrap()), "{node} in {text}");
    }
    assert!(
        b.try_find("article.incident.k-failed").is_none(),
        "no failure incident"
    );
    let first = &held[0];
    b.click(&format!(
        "{incident} tr:has(a[href='/ui/executions/{first}']) a[href^='/ui/triggers/']"
    ));
    b.wait_text("h1", "Event");
    b.find(&format!("#trace a[href='/ui/executions/{first}']"));

    for id in &held {
        b.goto(&format!("{base}/ui/executions/{id}"));
        b.eval("window.confirm = function () { return true; }; return null");
        b.click("#run-again-button");
        b.wait_for("the new run's page", || {
            (!b.url().ends_with(id.as_str())).then_some(())
        });
    }
    for n in silent {
        wait_for(
            &format!("{n} to be rebooted"),
            Duration::from_secs(180),
            || (reboots(&d, n) == 1).then_some(()),
        );
    }
    assert!(d.brake_release_audited("why: storm over: switch r01 replaced"));
}

/// batchops 0.2.0, a candidate beside the trusted 0.1.0: its no-contact
/// rule only takes rack 1 (`b1*`), and its remediation raises an alarm
/// instead of rebooting a node that does not answer ping.
fn batchops_next(d: &Drover) -> std::path::PathBuf {
    let dir = d.copy_pack("packs/batchops", "batchops-0.2.0");
    edit_manifest(&dir, "version: 0.1.0", "version: 0.2.0");
    edit_file(
        &dir.join("rules/on_no_contact.yaml"),
        "pattern: \"b*\"",
        "pattern: \"b1*\"",
    );
    edit_file(
        &dir.join("workflows/handle_no_contact.yaml"),
        "          - problem: \"no answer to ping\"\n        do: reboot",
        "          - problem: \"no answer to ping\"\n        do: alarm",
    );
    dir
}

/// The same grants as [`batchops`] gives 0.1.0, for `version`.
fn grant_all(d: &Drover, version: &str) {
    let pack = format!("batchops@{version}");
    d.grant(&pack, "nodes.reboot", "cluster=batch");
    d.grant(&pack, "probe", "*");
    d.grant(&pack, "nodes.health", "cluster=batch");
    d.grant(&pack, "command", "cluster=batch: uptime");
}

/// Issue 16's upgrade, end to end: batchops 0.2.0 (rack 1 only, an alarm
/// instead of a reboot) beside 0.1.0 under a real serve; the shadow report
/// and the replay both single out exactly the triggers 0.2.0 would handle
/// differently; from the report to the diff to a promotion with a reason
/// in a browser, then a rollback to 0.1.0 and its grants; the change log
/// has both with their reasons.
#[test]
fn an_upgrade_is_watched_beside_the_live_version_replayed_promoted_and_rolled_back() {
    let d = batchops(2, 3);
    d.expect(0, &["brake", "set", "--threshold", "50%"]);
    let next = batchops_next(&d);
    let out = d.expect(0, &["pack", "install", next.to_str().unwrap()]);
    assert!(
        stdout(&out).contains("installed batchops@0.2.0 in shadow mode"),
        "{}",
        stdout(&out)
    );
    grant_all(&d, "0.2.0");
    // Nothing seen yet: the report says so, not an empty success.
    let none = d.json(0, &["shadow", "report", "batchops"]);
    assert_eq!(none["triggers"], 0, "{none:#}");
    let err = stderr(&d.expect(2, &["shadow", "report", "batchops@0.1.0"]));
    assert!(
        err.contains("batchops@0.1.0 is not a candidate: it is the live version"),
        "{err}"
    );
    let err = stderr(&d.expect(2, &["shadow", "report", "batchops@9.9.9"]));
    assert!(
        err.contains("not installed") && err.contains("0.1.0, 0.2.0"),
        "{err}"
    );

    d.expect(0, &["sim", "hang", "b1s01"]);
    let server = Server::start(&d);
    // A node name a page must show as text: both versions' rules take it
    // (`b*`, `b1*`), and both remediations fail alike (no such node).
    let hostile = "b1<script>window.pwned=1</script>";
    for node in ["b1s01", "b1s02", "b2s01", hostile] {
        report(&server, node);
    }
    // Four live remediations, three dry ones of the candidate (b2s01 is
    // not its rule's any more).
    let ended = wait_for(
        "the runs of both versions to end",
        Duration::from_secs(120),
        || {
            let r = remediations(&d);
            (r.len() == 7).then_some(r)
        },
    );
    let dry: Vec<&Value> = ended
        .iter()
        .filter(|e| e["dry_run"] == true && e["node"] != hostile)
        .collect();
    assert_eq!(dry.len(), 2, "{ended:#?}");
    assert_eq!(reboots(&d, "b1s01"), 1, "live rebooted the dead node once");
    assert_eq!(reboots(&d, "b1s02"), 0);
    let candidate_run = d.json(0, &["exec", "get", dry[0]["id"].as_str().unwrap()]);
    assert_eq!(candidate_run["pack_version"], "0.2.0", "{candidate_run:#}");
    // Its steps run the candidate's own actions too, dry.
    let tree = d.json(
        0,
        &["exec", "get", dry[0]["id"].as_str().unwrap(), "--tree"],
    );
    let first = &tree["children"][0];
    let child_id = first["id"].as_str().or(first["summary"]["id"].as_str());
    let child = d.json(0, &["exec", "get", child_id.unwrap()]);
    assert_eq!(child["action"], "batchops.facts", "{child:#}");
    assert_eq!(child["pack_version"], "0.2.0", "{child:#}");
    assert_eq!(child["dry_run"], true, "{child:#}");

    let report_json = wait_for("the report to settle", Duration::from_secs(30), || {
        let r = d.json(0, &["shadow", "report", "batchops"]);
        (r["running"] == 0 && r["triggers"] == 4).then_some(r)
    });
    assert_eq!(report_json["live_version"], "0.1.0");
    assert_eq!(report_json["candidate_version"], "0.2.0");
    assert_eq!(report_json["differing"], 2, "{report_json:#}");
    let items = report_json["items"].as_array().unwrap();
    let differing: Vec<&str> = items
        .iter()
        .filter(|i| i["differs"] == true)
        .map(|i| i["node"].as_str().unwrap())
        .collect();
    assert!(
        differing.contains(&"b1s01") && differing.contains(&"b2s01"),
        "the dead node and the rack-2 node, first: {items:#?}"
    );
    let same: Vec<&str> = items[2..]
        .iter()
        .map(|i| i["node"].as_str().unwrap())
        .collect();
    assert!(
        same.contains(&"b1s02") && same.contains(&hostile),
        "the same outcomes come last: {items:#?}"
    );
    let said = |node: &str| -> String {
        items.iter().find(|i| i["node"] == node).unwrap()["said"].to_string()
    };
    assert!(
        said("b2s01").contains("batchops.on_no_contact: live fired, candidate no_match"),
        "{}",
        said("b2s01")
    );
    assert!(
        said("b1s01").contains("effects only live [nodes.reboot b1s01]"),
        "{}",
        said("b1s01")
    );

    // The same through the server, in text.
    let token = d.token("operator");
    let text = stdout(&d.expect(
        0,
        &[
            "--server",
            &format!("http://{}", server.addr),
            "--token",
            &token,
            "shadow",
            "report",
            "batchops@0.2.0",
        ],
    ));
    assert!(
        text.contains("batchops@0.2.0 (candidate, dry runs) beside batchops@0.1.0 (live): 4 triggers, 2 would act differently"),
        "{text}"
    );
    assert!(
        text.contains("DIFFERS") && !text.contains("same "),
        "{text}"
    );
    // The trace of the rack-2 trigger shows the candidate's side (nothing).
    let b1 = items.iter().find(|i| i["node"] == "b1s01").unwrap();
    let trace = d.json(0, &["trigger", "show", b1["trigger_id"].as_str().unwrap()]);
    assert_eq!(
        trace["candidates"][0]["enforcement"]["candidate"], "0.2.0",
        "{trace:#}"
    );

    // In the browser: from the candidate's page to its shadow report.
    let out = d.expect(0, &["user", "add", "ops", "--role", "admin"]);
    let password = stdout(&out).lines().last().unwrap().trim().to_owned();
    let b = browser::Browser::start(1400, 1000);
    let base = format!("http://{}", server.addr);
    b.login(&base, "ops", &password);
    b.goto(&format!("{base}/ui/packs/batchops?version=0.2.0"));
    b.click("#shadow-report");
    let summary = b.wait_text("#shadow-summary", "would be handled differently");
    assert!(summary.contains("2 of 4 triggers"), "{summary}");
    let rows = b.text("#shadow-items");
    assert!(
        rows.contains("effects only live [nodes.reboot b1s01]"),
        "{rows}"
    );
    assert!(
        rows.contains(hostile),
        "the node's name shown as text: {rows}"
    );
    assert_eq!(b.eval("return window.pwned === undefined"), json!(true));
    let first = b.attr("#shadow-items tbody tr", "class").unwrap();
    assert_eq!(first, "differs", "the differences first");
    // Viewers and up only.
    let anonymous: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .max_redirects(0)
        .build()
        .into();
    let r = anonymous
        .get(&format!("{base}/ui/packs/batchops/shadow"))
        .call()
        .unwrap();
    assert_eq!(r.status(), 303);
    assert_eq!(r.headers()["location"], "/login");

    // The replay of the same triggers says the same: the dead node and
    // the rack-2 node would be handled differently, and nothing else.
    let replayed = d.json(0, &["replay", "--pack", "batchops@0.2.0", "--since", "1h"]);
    assert_eq!(replayed["summary"]["triggers"], 4, "{replayed:#}");
    assert_eq!(replayed["summary"]["differ"], 2, "{replayed:#}");
    let mut replay_nodes: Vec<&str> = replayed["triggers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["payload"]["node"].as_str().unwrap())
        .collect();
    replay_nodes.sort_unstable();
    assert_eq!(replay_nodes, ["b1s01", "b2s01"], "{replayed:#}");

    // From the report to what changed, promoted with a reason, in the
    // change log.
    b.goto(&format!("{base}/ui/packs/batchops/shadow"));
    b.click("#shadow-diff");
    b.wait_text("#diff-rules", "b1*");
    b.click("#promote-form button");
    b.wait_text("h1", "Confirm the promotion");
    b.type_into("#reason", "CHG-77: rack 1 only, alarm before rebooting");
    b.click("#confirm-button");
    b.wait_text("#notice", "Promoted");
    assert_eq!(
        d.json(0, &["pack", "show", "batchops"])["pack"]["version"],
        "0.2.0"
    );
    b.click("nav a[href=\"/ui/changes\"]");
    b.wait_text("h1", "Change log");
    assert_eq!(
        b.text("#changes tbody tr.change td.reason"),
        "CHG-77: rack 1 only, alarm before rebooting"
    );
    // No candidate waits any more: the report says so.
    let err = stderr(&d.expect(2, &["shadow", "report", "batchops"]));
    assert!(err.contains("no candidate of batchops waits"), "{err}");

    // Rolled back: 0.1.0 is live again with its rule and its grants.
    d.expect(
        0,
        &[
            "pack",
            "rollback",
            "batchops",
            "--reason",
            "CHG-78: back to all racks",
        ],
    );
    let shown = d.json(0, &["pack", "show", "batchops"]);
    assert_eq!(shown["pack"]["version"], "0.1.0", "{shown:#}");
    assert!(
        shown["grants"]
            .as_array()
            .unwrap()
            .iter()
            .any(|g| g["capability"] == "nodes.reboot"),
        "{shown:#}"
    );
    let rule = d.json(0, &["rule", "show", "batchops.on_no_contact"]);
    assert_eq!(
        rule["criteria"]["trigger.node"]["pattern"], "b*",
        "{rule:#}"
    );
    let changes = d.json(0, &["changes", "list", "--subject", "batchops"]);
    let reason_of = |kind: &str| -> Value {
        changes
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["kind"] == kind)
            .map(|c| c["reason"].clone())
            .unwrap_or(Value::Null)
    };
    assert_eq!(
        reason_of("pack.promote"),
        "CHG-77: rack 1 only, alarm before rebooting"
    );
    assert_eq!(reason_of("pack.rollback"), "CHG-78: back to all racks");
    assert_eq!(
        reason_of("pack.install"),
        Value::Null,
        "installed without one"
    );
}
