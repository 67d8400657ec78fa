//! End-to-end: retention. `drover serve --gc-every` deletes history past
//! its retention in small batches while webhooks keep being accepted and
//! processed, gives the pages back (the file shrinks), and never deletes
//! what a waiting workflow or an open inquiry needs; `drover retention`
//! and `drover gc --dry-run` say what is kept and what would go.
//! (Latency under a million-row backlog is measured in
//! `cargo bench -p drover --bench retention`, not here.)

mod support;

use std::path::Path;
use std::time::{Duration, Instant};

use serde_json::Value;
use support::history::{self, now_ms};
use support::server::*;
use support::*;

const DAY_MS: i64 = history::DAY_MS;

const NAMES: history::Names = history::Names {
    trigger_type: "events.ping",
    rule: "events.on_ping",
    action: "core.echo",
    workflow: "flows.greet",
};

fn seed_old_history(db: &Path, roots: u64) -> u64 {
    history::seed_old_history(db, roots, &NAMES, true)
}

/// Rows of `table` older than 30 days (by `time_column`).
fn old_rows(db: &Path, table: &str, time_column: &str) -> i64 {
    let conn = rusqlite::Connection::open(db).unwrap();
    conn.query_row(
        &format!("SELECT count(*) FROM {table} WHERE {time_column} < ?1"),
        [now_ms() - 30 * DAY_MS],
        |r| r.get(0),
    )
    .unwrap()
}

fn db_bytes(db: &Path) -> i64 {
    let conn = rusqlite::Connection::open(db).unwrap();
    let pages: i64 = conn
        .query_row("PRAGMA page_count", [], |r| r.get(0))
        .unwrap();
    let size: i64 = conn
        .query_row("PRAGMA page_size", [], |r| r.get(0))
        .unwrap();
    pages * size
}

fn kind<'a>(report: &'a Value, name: &str) -> &'a Value {
    report["kinds"]
        .as_array()
        .unwrap()
        .iter()
        .find(|k| k["kind"] == name)
        .unwrap_or_else(|| panic!("no {name} in {report}"))
}

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

#[test]
fn serve_deletes_old_history_while_webhooks_go_on_and_keeps_what_waits() {
    let d = events_drover();
    d.install(&["packs/demo", "tests/packs/flows"]);
    // A workflow waiting on an inquiry: nothing it needs may go.
    let parked = d.json(3, &["run", "flows.approve", "node=b7s01"]);
    let run = parked["id"].as_str().unwrap().to_owned();
    let inquiries = d.json(0, &["inquiry", "list"]);
    let question = inquiries[0]["id"].as_str().unwrap().to_owned();

    let db = d.db();
    let executions = seed_old_history(&db, 5_000);
    let dry = d.json(0, &["gc", "--dry-run"]);
    assert_eq!(
        kind(&dry, "executions")["would_delete"],
        executions,
        "{dry}"
    );
    assert_eq!(kind(&dry, "triggers")["would_delete"], 10_000, "{dry}");
    assert_eq!(
        kind(&dry, "audit")["would_delete"],
        0,
        "a year by default: {dry}"
    );
    assert_eq!(
        old_rows(&db, "executions", "finished_at"),
        executions as i64
    );
    let before = db_bytes(&db);

    let server = Server::start_with(&d, &["--grace", "10s", "--gc-every", "1s"]);
    // Webhooks throughout: every one accepted, whatever the collector does.
    let mut accepted = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(120);
    while old_rows(&db, "executions", "finished_at") > 0
        || old_rows(&db, "trigger_instances", "received_at") > 0
    {
        assert!(
            Instant::now() < deadline,
            "old history still there after 120 s\n{}",
            server.log()
        );
        let body = format!(r#"{{"node": "b7s{:02}"}}"#, accepted.len() % 100);
        accepted.push(post_signed(&server, body.as_bytes()).accepted_id());
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(!accepted.is_empty());
    // Every accepted trigger was processed, none lost to the collector.
    wait_for("the webhooks' triggers to be processed", SETTLE, || {
        let listed = triggers(&d);
        accepted
            .iter()
            .all(|id| {
                listed
                    .iter()
                    .any(|t| t["id"] == id.as_str() && t["state"] == "processed")
            })
            .then_some(())
    });
    // The file gave the pages back.
    let after = wait_for("the file to shrink", SETTLE, || {
        let now = db_bytes(&db);
        (now < before * 2 / 3).then_some(now)
    });
    assert!(after < before, "{before} -> {after}");
    // Audit is kept a year by default.
    assert_eq!(old_rows(&db, "audit", "at"), 5_000);

    // Keep only the newest execution: the waiting workflow still answers.
    d.expect(0, &["retention", "set", "executions", "--max-count", "1"]);
    std::thread::sleep(Duration::from_secs(3));
    assert_eq!(
        d.json(0, &["inquiry", "get", &question])["state"],
        "pending"
    );
    assert_eq!(d.json(0, &["exec", "get", &run])["status"], "pending");
    let done = d.json(
        0,
        &[
            "inquiry",
            "respond",
            &question,
            "approve=true",
            "--as",
            "oncall",
        ],
    );
    assert_eq!(done["status"], "succeeded", "{done}");
    drop(server);
}

#[test]
fn retention_settings_are_shown_set_checked_and_reset() {
    let d = Drover::new();
    let shown = d.json(0, &["retention", "show"]);
    let audit = shown
        .as_array()
        .unwrap()
        .iter()
        .find(|k| k["kind"] == "audit")
        .unwrap()
        .clone();
    assert_eq!(audit["max_age_ms"], 365 * DAY_MS);
    assert_eq!(audit["default"], true);

    d.expect(
        0,
        &[
            "retention",
            "set",
            "audit",
            "--max-age",
            "2y",
            "--max-count",
            "5000000",
        ],
    );
    let text = stdout(&d.expect(0, &["retention", "show"]));
    let line = text.lines().find(|l| l.starts_with("audit")).unwrap();
    assert!(line.contains("at most the newest 5000000"), "{text}");
    assert!(line.contains("user:") || line.contains("uid:"), "{text}");

    let out = d.expect(2, &["retention", "set", "logs", "--max-age", "1d"]);
    assert!(
        stderr(&out).contains("no kind of history is called \"logs\"")
            && stderr(&out).contains("executions, triggers, node-history, fleet-requests, audit"),
        "{}",
        stderr(&out)
    );
    let out = d.expect(2, &["retention", "set", "audit"]);
    assert!(stderr(&out).contains("--max-age"), "{}", stderr(&out));
    d.expect(0, &["retention", "set", "triggers", "--forever"]);
    let shown = d.json(0, &["retention", "show"]);
    let triggers = &shown.as_array().unwrap()[1];
    assert_eq!(
        (triggers["kind"].as_str(), triggers["max_age_ms"].is_null()),
        (Some("triggers"), true)
    );
    d.expect(0, &["retention", "reset", "audit"]);
    let shown = d.json(0, &["retention", "show"]);
    assert_eq!(shown.as_array().unwrap()[4]["default"], true);

    let out = d.expect(2, &["serve", "--gc-every", "0s"]);
    assert!(stderr(&out).contains("or off"), "{}", stderr(&out));
}

#[test]
fn gc_on_its_own_deletes_and_vacuums_an_old_database() {
    let d = Drover::new();
    d.expect(0, &["retention", "show"]);
    // A database made before incremental auto-vacuum: `--vacuum` switches it.
    {
        let conn = rusqlite::Connection::open(d.db()).unwrap();
        conn.execute_batch("PRAGMA auto_vacuum = NONE; VACUUM;")
            .unwrap();
    }
    let executions = seed_old_history(&d.db(), 2_000);
    let report = d.json(0, &["gc", "--vacuum"]);
    assert_eq!(
        kind(&report, "executions")["deleted"],
        executions,
        "{report}"
    );
    assert_eq!(kind(&report, "triggers")["deleted"], 4_000, "{report}");
    assert_eq!(report["free_bytes"], 0, "{report}");
    assert!(
        report["freed_bytes"].as_u64().unwrap() > 100_000,
        "{report}"
    );
    let conn = rusqlite::Connection::open(d.db()).unwrap();
    let mode: i64 = conn
        .query_row("PRAGMA auto_vacuum", [], |r| r.get(0))
        .unwrap();
    assert_eq!(mode, 2, "incremental from now on");
    let again = d.json(0, &["gc", "--dry-run"]);
    assert_eq!(kind(&again, "executions")["would_delete"], 0, "{again}");
}
