//! `drover replay` (issue 16, part 2): stored trigger instances through a
//! candidate pack version as dry runs, next to what the live version did.
//! Hostile input first (an unknown candidate, a window reaching back a
//! century), then the real `packs/batchops`: 0.1.0 live under `drover
//! serve` remediates three reported nodes (one dead, rebooted), a 0.2.0
//! whose no-contact rule only takes rack 1 is installed beside it, and the
//! replay, run while serve still holds the database, names exactly the
//! trigger that would act differently, and changes nothing: no execution,
//! no audit record, no reboot.

#[path = "support/browser.rs"]
mod browser;
mod support;

use std::time::{Duration, Instant};

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

    // A rule file tried on the live version, nothing installed: the same
    // change as 0.2.0's, the same answer.
    let live_rule =
        std::fs::read_to_string(pack_dir("packs/batchops").join("rules/on_no_contact.yaml"))
            .unwrap();
    let file = d.dir.path().join("on_no_contact.yaml");
    std::fs::write(
        &file,
        live_rule.replace("pattern: \"b*\"", "pattern: \"b1s*\""),
    )
    .unwrap();
    let file_arg = file.to_str().unwrap();
    let r = d.json(
        0,
        &[
            "replay",
            "--pack",
            "batchops@0.1.0",
            "--rule-file",
            file_arg,
            "--since",
            "1h",
        ],
    );
    assert_eq!(r["summary"]["triggers"], 3, "{r:#}");
    assert_eq!(r["summary"]["differ"], 1, "{r:#}");
    assert_eq!(r["triggers"][0]["id"], other_rack.as_str());
    assert!(
        r["candidate"].as_str().unwrap().ends_with(file_arg),
        "{r:#}"
    );
    // Hostile or broken files are refused, naming the file.
    std::fs::write(&file, live_rule.replace("pack: batchops", "pack: core")).unwrap();
    let out = d.expect(
        2,
        &[
            "replay",
            "--pack",
            "batchops@0.1.0",
            "--rule-file",
            file_arg,
        ],
    );
    assert!(
        stderr(&out).contains(file_arg) && stderr(&out).contains("belongs to pack \"core\""),
        "{}",
        stderr(&out)
    );
    std::fs::write(&file, "name: x\npack: batchops\ntrigger: [unclosed\n").unwrap();
    let out = d.expect(
        2,
        &[
            "replay",
            "--pack",
            "batchops@0.1.0",
            "--rule-file",
            file_arg,
        ],
    );
    assert!(
        stderr(&out).contains(file_arg) && stderr(&out).contains("line"),
        "{}",
        stderr(&out)
    );
    let out = d.expect(
        2,
        &[
            "replay",
            "--pack",
            "batchops@0.1.0",
            "--rule-file",
            "/nonexistent/rule.yaml",
        ],
    );
    assert!(
        stderr(&out).contains("/nonexistent/rule.yaml"),
        "{}",
        stderr(&out)
    );

    // A workflow file tried on the live version: a dead node gets an
    // alarm instead of a reboot. Only the dead node's trigger differs,
    // by its effects.
    let live_workflow = std::fs::read_to_string(
        pack_dir("packs/batchops").join("workflows/handle_no_contact.yaml"),
    )
    .unwrap();
    let no_reboot = live_workflow.replace(
        "- problem: \"no answer to ping\"\n        do: reboot",
        "- problem: \"no answer to ping\"\n        do: alarm",
    );
    assert_ne!(no_reboot, live_workflow);
    let wf_dir = d.dir.path().join("wf");
    std::fs::create_dir_all(&wf_dir).unwrap();
    let wf = wf_dir.join("handle_no_contact.yaml");
    std::fs::write(&wf, &no_reboot).unwrap();
    let wf_arg = wf.to_str().unwrap();
    let replay_wf = |code: i32, arg: &str| {
        d.expect(
            code,
            &[
                "replay",
                "--pack",
                "batchops@0.1.0",
                "--workflow-file",
                arg,
                "--since",
                "1h",
                "--json",
            ],
        )
    };
    let r: Value = serde_json::from_str(&stdout(&replay_wf(0, wf_arg))).unwrap();
    assert_eq!(r["summary"]["triggers"], 3, "{r:#}");
    assert_eq!(r["summary"]["differ"], 1, "{r:#}");
    assert_eq!(r["summary"]["rebooted"], json!([]), "{r:#}");
    assert_eq!(r["triggers"][0]["id"], dead.as_str(), "{r:#}");
    assert!(
        r["triggers"][0]["differences"]
            .as_array()
            .unwrap()
            .iter()
            .any(|d| d["kind"] == "effects"),
        "{r:#}"
    );
    assert!(r["candidate"].as_str().unwrap().ends_with(wf_arg), "{r:#}");
    // Named by its action, whatever the file's name.
    let renamed = wf_dir.join("candidate.yaml");
    std::fs::write(&renamed, &no_reboot).unwrap();
    let named = format!("batchops.handle_no_contact={}", renamed.display());
    let r: Value = serde_json::from_str(&stdout(&replay_wf(0, &named))).unwrap();
    assert_eq!(r["summary"]["differ"], 1, "{r:#}");
    // Refused, naming the file: no workflow of that name, an action that
    // is not a workflow, a step calling an action that does not exist,
    // YAML that does not parse.
    let said = |code: i32, arg: &str| stderr(&replay_wf(code, arg));
    let err = said(2, renamed.to_str().unwrap());
    assert!(
        err.contains("candidate.yaml")
            && err.contains("none of batchops@0.1.0's workflow files is named like it")
            && err.contains("ACTION=FILE"),
        "{err}"
    );
    let err = said(2, &format!("batchops.ping={}", renamed.display()));
    assert!(
        err.contains("has no workflow action \"batchops.ping\""),
        "{err}"
    );
    std::fs::write(
        &wf,
        live_workflow.replace("action: batchops.reboot", "action: batchops.nope"),
    )
    .unwrap();
    let err = said(2, wf_arg);
    assert!(
        err.contains(wf_arg) && err.contains("batchops.nope"),
        "{err}"
    );
    std::fs::write(&wf, "version: 1.0\ntasks: [unclosed\n").unwrap();
    let err = said(2, wf_arg);
    assert!(
        err.contains(&format!("{wf_arg}:3:1: invalid YAML")),
        "{err}"
    );

    assert_eq!(
        before.0,
        count(&d, &["exec", "list", "--limit", "1000"]),
        "still nothing stored"
    );
    drop(server);
}

/// batchops 0.1.0 live and 0.2.0 (rack 1 only) beside it, granted, under
/// `drover serve`, with the reports `nodes` remediated (or failed) by the
/// live version; their trigger ids.
fn served_candidate(nodes: &[&str]) -> (Drover, Server, Vec<String>) {
    let d = batchops();
    install_candidate(&d);
    grant_batchops(&d, "0.2.0");
    let server = Server::start(&d);
    let ids: Vec<String> = nodes.iter().map(|n| report(&server, n)).collect();
    // The candidate's shadow dry runs are executions too: all of them end.
    let ended = |e: &Value| {
        ["succeeded", "failed", "denied", "timeout", "canceled"]
            .contains(&e["status"].as_str().unwrap_or(""))
    };
    let settled = poll(Duration::from_secs(90), Duration::from_millis(250), || {
        let runs: Vec<Value> = executions(&d)
            .into_iter()
            .filter(|e| e["action"] == "batchops.handle_no_contact")
            .collect();
        (runs.len() >= nodes.len() && runs.iter().all(ended)).then_some(())
    });
    assert!(
        settled.is_some(),
        "the remediations did not end: {:#}\n{}",
        Value::from(executions(&d)),
        server.log()
    );
    (d, server, ids)
}

fn api_replay(server: &Server, token: Option<&str>, body: &Value) -> Answer {
    let auth = token.map(|t| format!("Bearer {t}"));
    let headers: Vec<(&str, &str)> = auth
        .as_deref()
        .map(|a| vec![("authorization", a)])
        .unwrap_or_default();
    post(
        &agent(Duration::from_secs(120)),
        &format!("http://{}/api/v1/packs/batchops/replay", server.addr),
        &headers,
        body.to_string().as_bytes(),
    )
    .unwrap_or_else(|e| panic!("POST replay: {e}\n{}", server.log()))
}

/// The text without the elapsed time (`…; 0.4 s`), which differs per run.
fn timeless(text: &str) -> String {
    text.lines()
        .map(|l| match l.find(" s") {
            Some(_) if l.starts_with("  rules fired:") => l.rsplit_once(';').unwrap().0,
            _ => l,
        })
        .collect::<Vec<_>>()
        .join("\n")
}

#[test]
fn the_replay_api_refuses_strangers_viewers_and_bad_fields_and_server_prints_what_local_prints() {
    let (d, server, ids) = served_candidate(&["b1s02", "b2s01"]);
    let viewer = d.token("viewer");
    let operator = d.token("operator");
    let ok = json!({"version": "0.2.0", "since": "1h"});

    let a = api_replay(&server, None, &ok);
    assert_eq!(a.status, 401, "{a:?}");
    let a = api_replay(&server, Some(&viewer), &ok);
    assert_eq!(a.status, 403, "{a:?}");
    assert!(a.body.contains("operator"), "{a:?}");
    let a = api_replay(
        &server,
        Some(&operator),
        &json!({"version": "0.2.0", "since": "lately"}),
    );
    assert_eq!(a.status, 400, "{a:?}");
    assert!(
        a.json()["error"].as_str().unwrap().starts_with("since "),
        "{a:?}"
    );
    let a = api_replay(
        &server,
        Some(&operator),
        &json!({"version": "0.2.0", "limit": 10001}),
    );
    assert_eq!(a.status, 400, "{a:?}");
    assert!(
        a.body.contains("limit 10001") && a.body.contains("1 to 10000"),
        "{a:?}"
    );
    let a = api_replay(&server, Some(&operator), &json!({"version": "0.9.0"}));
    assert_eq!(a.status, 404, "{a:?}");
    assert!(
        a.body.contains("batchops@0.9.0 is not installed") && a.body.contains("0.1.0 (live)"),
        "{a:?}"
    );
    let a = api_replay(
        &server,
        Some(&operator),
        &json!({"version": "0.2.0", "nodes": ["x"]}),
    );
    assert_eq!(a.status, 400, "{a:?}");

    // The default version is the one waiting in shadow mode.
    let a = api_replay(&server, Some(&operator), &json!({"since": "1h"}));
    assert_eq!(a.status, 200, "{a:?}");
    let r = a.json();
    assert_eq!(r["candidate"], "batchops@0.2.0", "{r:#}");
    assert_eq!(r["summary"]["triggers"], 2, "{r:#}");
    assert_eq!(r["summary"]["differ"], 1, "{r:#}");
    assert_eq!(r["triggers"][0]["id"], ids[1].as_str(), "{r:#}");

    // `--server` prints what the local command prints on this database.
    let base = format!("http://{}", server.addr);
    let args = [
        "replay",
        "--pack",
        "batchops@0.2.0",
        "--since",
        "1h",
        "--all",
    ];
    let local = stdout(&d.expect(0, &args));
    let mut remote_args = vec!["--server", base.as_str(), "--token", operator.as_str()];
    remote_args.extend_from_slice(&args);
    let remote = stdout(&d.expect(0, &remote_args));
    assert!(
        local.contains("2 trigger(s): 1 would act differently"),
        "{local}"
    );
    assert_eq!(timeless(&remote), timeless(&local));
    let mut viewer_args = vec!["--server", base.as_str(), "--token", viewer.as_str()];
    viewer_args.extend_from_slice(&args);
    let out = d.expect(2, &viewer_args);
    assert!(stderr(&out).contains("operator"), "{}", stderr(&out));
    // A file to try is read where the replay runs: refused, not ignored.
    for flag in ["--rule-file", "--workflow-file"] {
        let mut file_args = remote_args.clone();
        file_args.extend_from_slice(&[flag, "on_no_contact.yaml"]);
        let out = d.expect(2, &file_args);
        assert!(
            stderr(&out).contains("replay on the drover host itself"),
            "{flag}: {}",
            stderr(&out)
        );
    }
    drop(server);
}

#[test]
fn the_replay_page_from_the_shadow_report_shows_the_summary_and_a_hostile_node_as_text() {
    let hostile = "b2<script>window.pwned=1</script>";
    let (d, server, ids) = served_candidate(&["b1s02", hostile]);
    let log = server.log();
    let password = log
        .lines()
        .find(|l| l.contains("created user \"admin\""))
        .and_then(|l| l.rsplit(' ').next())
        .unwrap_or_else(|| panic!("no first-start password:\n{log}"))
        .to_owned();
    let b = browser::Browser::start(1400, 1000);
    let base = format!("http://{}", server.addr);
    b.login(&base, "admin", &password);
    b.goto(&format!("{base}/ui/packs/batchops/shadow?version=0.2.0"));
    b.click("#shadow-replay");
    b.wait_for("the replay page", || {
        b.url().contains("/ui/packs/batchops/replay").then_some(())
    });
    assert_eq!(
        b.eval("return document.getElementById('replay-version').value"),
        "0.2.0"
    );
    b.select("#replay-since", "1h");
    b.click("#replay-run");
    let deadline = Instant::now() + Duration::from_secs(120);
    while b.try_find("#replay-summary").is_none() {
        assert!(
            Instant::now() < deadline,
            "no replay result:\n{}",
            server.log()
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    assert_eq!(b.text("#replay-differ"), "1");
    assert_eq!(b.text("#replay-triggers"), "2");
    let row = b.text(&format!("#t-{}", ids[1]));
    assert!(row.contains(hostile), "{row}");
    assert!(row.contains("live fired, candidate no_match"), "{row}");
    let link = b.attr(&format!("#t-{} a", ids[1]), "href").unwrap();
    assert!(
        link.ends_with(&format!("/ui/triggers/{}", ids[1])),
        "{link}"
    );
    assert!(b.try_find(&format!("#t-{}", ids[0])).is_none());
    assert_eq!(
        b.eval(
            "return [window.pwned === undefined, \
             document.querySelectorAll('#replay-items script').length]"
        ),
        json!([true, 0])
    );
    assert!(b.text("#replay-approximations").contains("kv"));

    // The pack page of the shadowed version links here too.
    b.goto(&format!("{base}/ui/packs/batchops?version=0.2.0"));
    let link = b.attr("#pack-replay", "href").unwrap();
    assert!(
        link.ends_with("/ui/packs/batchops/replay?version=0.2.0"),
        "{link}"
    );
    drop(d);
}
