//! How fast the web UI's pages render with 1,000,000 executions in the
//! database: the real routers (drover-api's and drover-web's, as `drover
//! serve` merges them) served by axum on 127.0.0.1, timed per request from
//! the client over loopback (the server's time plus a loopback round trip).
//!
//! ```sh
//! cargo bench -p drover --bench ui_pages                       # 1,000,000 executions, 5,000 nodes
//! DROVER_BENCH_EXECUTIONS=100000 DROVER_BENCH_NODES=20000 cargo bench -p drover --bench ui_pages
//! ```
//!
//! The database is the API benchmark's (see `support/generate.rs`), three
//! of every four executions made a task run of a workflow (1% of the
//! top-level ones alice's, for the actor filter), plus
//! 100,000 rule enforcements pointing at executions (5% failed), for the
//! dashboard's failing rules, and 100,000 inquiries (50 still pending: the
//! newest 20 and 30 spread through history) for the inquiries page, and an
//! inventory of 5,000 nodes in racks of 40 (60 of them silent). Each page
//! is asked 100 times after 10 warm-up requests; the median, p90 and max
//! are printed, and the size of each page.

#[path = "support/generate.rs"]
mod generate;
#[path = "support/timing.rs"]
mod timing;

use std::sync::Arc;
use std::time::{Duration, Instant};

use drover_engine::{Pipeline, PipelineConfig};
use drover_store::{Role, SqliteStore, Store};

const ROUNDS: usize = 100;
const WARMUP: usize = 10;

fn main() {
    let n: u64 = std::env::var("DROVER_BENCH_EXECUTIONS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1_000_000);
    let dir = tempfile::tempdir().expect("a temporary directory");
    let db = dir.path().join("drover.db");
    // Raw SQL (the generator, the probes below) needs the SQLite backend itself.
    let sqlite = SqliteStore::open(&db).expect("open the database");
    let store = Store::new(sqlite.clone());
    let started = Instant::now();
    generate::generate(&sqlite, n);
    workflows_and_actors(&sqlite);
    enforcements(&sqlite, 100_000);
    inquiries(&sqlite, 100_000);
    let nodes: u64 = std::env::var("DROVER_BENCH_NODES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(5_000);
    inventory(&sqlite, nodes);
    held_by_the_brake(&store, 500);
    let cursor = one_node_changes(&sqlite);
    println!(
        "generated {n} executions, 200000 audit records, 100000 enforcements, 100000 \
         inquiries in {:.1}s",
        started.elapsed().as_secs_f64()
    );
    let root = sqlite
        .read(|conn| {
            Ok(conn.query_row(
                "SELECT parent FROM executions WHERE parent IS NOT NULL ORDER BY id DESC LIMIT 1",
                [],
                |r| r.get::<_, String>(0),
            )?)
        })
        .unwrap();
    let (deep, one) = sqlite
        .read(|conn| {
            let at = |offset: u64| -> rusqlite::Result<String> {
                conn.query_row(
                    "SELECT id FROM executions ORDER BY id DESC LIMIT 1 OFFSET ?1",
                    [offset],
                    |r| r.get(0),
                )
            };
            Ok((at(n * 9 / 10)?, at(n / 2)?))
        })
        .unwrap();

    let app = Arc::new(
        drover_app::App::with_defaults(store.clone(), &dir.path().join("cache")).expect("runtime"),
    );
    let pipeline = Pipeline::start(
        app.clone(),
        PipelineConfig {
            workers: 1,
            ..PipelineConfig::default()
        },
    )
    .expect("pipeline");
    let (_, token) =
        drover_app::access::create_token(&store, "bench", Role::Viewer, "bench").unwrap();
    let api = drover_api::AppState {
        app,
        intake: pipeline.intake(),
        metrics: pipeline.metrics(),
        config: Arc::new(drover_api::ApiConfig::default()),
        events: drover_api::stream::Events::default(),
    };
    let web = drover_web::WebState::new(api.clone()).expect("the web UI");
    let app = drover_api::router(api).merge(drover_web::router(web));
    let tokio = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let listener = tokio
        .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
        .unwrap();
    let addr = listener.local_addr().unwrap();
    tokio.spawn(async move { axum::serve(listener, app).await });

    let agent: ureq::Agent = ureq::Agent::config_builder()
        .timeout_global(Some(Duration::from_secs(30)))
        .build()
        .into();
    let auth = format!("Bearer {token}");
    // (name, path, the fewest execution rows the page must show)
    let cases = [
        ("dashboard", "/ui/".to_owned(), 0),
        (
            "executions, first page (top-level)",
            "/ui/executions".to_owned(),
            50,
        ),
        (
            "executions, flat (tasks=1)",
            "/ui/executions?tasks=1".to_owned(),
            50,
        ),
        (
            "executions, 90% deep (before=)",
            format!("/ui/executions?before={deep}"),
            50,
        ),
        (
            "executions, status=timeout (1%)",
            "/ui/executions?status=timeout".to_owned(),
            50,
        ),
        (
            "executions, status=failed, 90% deep",
            format!("/ui/executions?status=failed&before={deep}"),
            50,
        ),
        (
            "executions, action=pack.a1&status=denied, flat",
            "/ui/executions?action=pack.a1&status=denied&tasks=1".to_owned(),
            50,
        ),
        (
            "executions, actor=alice (1%)",
            "/ui/executions?actor=alice".to_owned(),
            50,
        ),
        (
            "executions, rule=pack.rule0",
            "/ui/executions?rule=pack.rule0".to_owned(),
            50,
        ),
        (
            // Its 10,000 enforcements all started task runs: the worst case.
            "executions, rule=pack.rule3 (no top-level)",
            "/ui/executions?rule=pack.rule3".to_owned(),
            0,
        ),
        (
            "executions, since=1h",
            "/ui/executions?since=1h".to_owned(),
            50,
        ),
        (
            "executions, since=2h&until=1h",
            "/ui/executions?since=2h&until=1h".to_owned(),
            50,
        ),
        (
            "executions, q=n041 (search, 1 in 1,000)",
            "/ui/executions?q=n041".to_owned(),
            1,
        ),
        (
            "executions, q=nothing (search, no match)",
            "/ui/executions?q=nothing".to_owned(),
            0,
        ),
        (
            "executions, q=n04 (search, flat)",
            "/ui/executions?q=n04&tasks=1".to_owned(),
            50,
        ),
        (
            "a workflow's task runs (the toggle)",
            format!("/ui/executions/{root}/children"),
            0,
        ),
        ("one execution", format!("/ui/executions/{one}"), 0),
        ("audit, first page", "/ui/audit".to_owned(), 0),
        (
            "audit, decision=denied",
            "/ui/audit?decision=denied".to_owned(),
            0,
        ),
        ("fleet", "/ui/fleet".to_owned(), 0),
        (
            "fleet grid (the whole grid)",
            "/ui/fleet/grid".to_owned(),
            0,
        ),
        (
            "fleet changes after one node's (live update)",
            format!("/ui/fleet/changes?after={cursor}"),
            0,
        ),
        ("one node's page", "/ui/nodes/n002".to_owned(), 0),
        (
            "executions, node=n001",
            "/ui/executions?node=n001".to_owned(),
            50,
        ),
        ("incidents, last 24 h", "/ui/incidents".to_owned(), 0),
        ("events, first page", "/ui/triggers".to_owned(), 0),
        (
            "one event's trace (1,000 matches, 50 followed)",
            "/ui/triggers/01BENCH0000000000000000000".to_owned(),
            50,
        ),
        (
            "one rule with its 20 recent matches",
            "/ui/rules/pack.rule0".to_owned(),
            0,
        ),
        ("rules", "/ui/rules".to_owned(), 0),
        ("packs", "/ui/packs".to_owned(), 0),
        (
            "inquiries (100,000 asked, 50 pending)",
            "/ui/inquiries".to_owned(),
            0,
        ),
    ];
    println!("{nodes} nodes");
    println!(
        "{:<44} {:>10} {:>10} {:>10} {:>10}",
        "page", "median", "p90", "max", "bytes"
    );
    for (name, path, fewest) in cases {
        let url = format!("http://{addr}{path}");
        let mut bytes = 0;
        let times = timing::time_gets(&agent, &url, &auth, WARMUP, ROUNDS, |body| {
            bytes = body.len();
            if path == "/ui/fleet/grid" {
                assert!(body.contains("class=\"racks\""), "{path}: not the grid");
                return;
            }
            if path.starts_with("/ui/fleet/changes") {
                assert!(body.contains("id=\"node-n002\""), "{path}: {body}");
                assert_eq!(body.matches("class=\"node ").count(), 1, "{path}: {body}");
                return;
            }
            if path.ends_with("/children") {
                assert!(body.contains("class=\"children\""), "{path}: {body}");
                return;
            }
            assert!(body.contains("<main"), "{path}: not a page: {body}");
            if path == "/ui/incidents" {
                assert!(
                    body.contains("The storm brake held or refused 500 requests"),
                    "{path}: no brake incident"
                );
            }
            if path == "/ui/inquiries" {
                let pending = body.matches("<article class=\"inquiry\"").count();
                assert_eq!(pending, 50, "{path}: {pending} pending inquiries shown");
            }
            let rows = body.matches("<a href=\"/ui/executions/").count();
            assert!(rows >= fewest, "{path}: {rows} rows");
        });
        timing::print_row(name, 44, &times);
        println!("{:>89}", bytes);
    }
    pipeline.shutdown(Duration::from_secs(1));
}

/// Makes the history look like remediations: three of every four
/// executions are task runs of the one before them (workflows of three
/// tasks), and 1% of the top-level ones are alice's.
fn workflows_and_actors(store: &SqliteStore) {
    store
        .write(|conn| {
            conn.execute(
                "UPDATE executions SET task = 'step', route = 0, parent = (SELECT p.id FROM executions p
                     WHERE p.rowid = executions.rowid - (executions.rowid - 1) % 4)
                 WHERE (rowid - 1) % 4 != 0",
                [],
            )?;
            conn.execute(
                "UPDATE executions SET actor = 'alice' WHERE rowid % 100 = 1",
                [],
            )?;
            Ok(())
        })
        .expect("make workflows");
}

/// `n` enforcements of ten rules on one trigger instance, each pointing at
/// one of the newest executions; every twentieth failed to schedule.
fn enforcements(store: &SqliteStore, n: u64) {
    store
        .write(move |conn| {
            conn.execute(
                "INSERT INTO trigger_instances (id, trigger_type, payload, source, received_at,
                    state) VALUES ('01BENCH0000000000000000000', 'pack.t', '{}', 'bench', 0,
                    'processed')",
                [],
            )?;
            // The ten rules, installed (their pages list recent matches).
            conn.execute(
                "WITH RECURSIVE k(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM k WHERE i < 9)
                 INSERT INTO rules (ref, pack, definition, enabled, origin, updated_at)
                 SELECT printf('pack.rule%d', i), 'pack',
                        printf('name: rule%d\npack: pack\nenabled: true\ntrigger:\n  type: pack.t\n\
criteria:\n  trigger.node:\n    type: equals\n    pattern: n%03d\naction:\n  ref: pack.a1\n', i, i),
                        1, 'bench', 0
                 FROM k",
                [],
            )?;
            conn.execute(
                "INSERT INTO enforcements (id, trigger_instance_id, rule_ref, execution_id,
                    state, reason, at)
                 SELECT printf('E%025d', rn), '01BENCH0000000000000000000',
                        printf('pack.rule%d', rn % 10), id,
                        CASE WHEN rn % 20 = 0 THEN 'failed' ELSE 'scheduled' END,
                        CASE WHEN rn % 20 = 0 THEN 'missing parameter' END, 0
                 FROM (SELECT id, row_number() OVER (ORDER BY id DESC) AS rn
                       FROM executions ORDER BY id DESC LIMIT ?1)",
                [n],
            )?;
            Ok(())
        })
        .expect("generate enforcements");
}

/// `n` answered inquiries, but for the newest 20 and 30 spread through
/// history, which still wait (far from their deadline).
fn inquiries(store: &SqliteStore, n: u64) {
    store
        .write(move |conn| {
            conn.execute(
                "WITH RECURSIVE k(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM k WHERE i < ?1)
                 INSERT INTO inquiries (id, run_id, root, action, task, route, schema, roles,
                    ttl_s, created_at, expires_at, state, response, responder, responded_at)
                 SELECT printf('Q%025d', i), printf('R%025d', i), printf('R%025d', i),
                        'flows.approve', 'ask', 0,
                        '{\"type\":\"object\",\"properties\":{\"approve\":{\"type\":\"boolean\"},\"reason\":{\"type\":\"string\"}},\"required\":[\"approve\"]}',
                        '[\"operator\"]', 3600, 0, 4102444800000,
                        CASE WHEN i > ?1 - 20 OR (i - 1) % (?1 / 30) = 0 THEN 'pending'
                             ELSE 'responded' END,
                        CASE WHEN i > ?1 - 20 OR (i - 1) % (?1 / 30) = 0 THEN NULL
                             ELSE '{\"approve\":true}' END,
                        'user:bench', 0
                 FROM k",
                [n],
            )?;
            Ok(())
        })
        .expect("generate inquiries");
}

/// Replaces the inventory with `n` nodes named `n001`... in racks of 40,
/// every 83rd silent (a current health report), as in a storm.
fn inventory(store: &SqliteStore, n: u64) {
    store
        .write(move |conn| {
            conn.execute("DELETE FROM nodes", [])?;
            conn.execute(
                "WITH RECURSIVE k(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM k WHERE i < ?1)
                 INSERT INTO nodes (name, labels, state, driver, options, since, note)
                 SELECT printf('n%03d', i),
                        json_object('rack', printf('r%03d', (i - 1) / 40 + 1), 'cluster', 'batch'),
                        'production', 'sim', '{}', 0, ''
                 FROM k",
                [n],
            )?;
            conn.execute(
                "INSERT INTO node_health (node, health, detail, source, at)
                 SELECT name, 'silent', 'monitoring: no contact', 'bench.sensor', 1
                 FROM nodes WHERE rowid % 83 = 0",
                [],
            )?;
            Ok(())
        })
        .expect("generate the inventory");
}

/// A storm: the brake engaged, then `n` automatic reboots it refused (one
/// incident of `n` members on the incidents page).
fn held_by_the_brake(store: &Store, n: usize) {
    let fleet = drover_fleet::Fleet::new(store.clone());
    fleet
        .edit_settings(
            "bench",
            "brake".to_owned(),
            "engage the brake".to_owned(),
            |s: &drover_fleet::Settings| serde_json::json!({ "engaged": s.brake.engaged }),
            |s| {
                s.brake.engaged = true;
                s.brake.engaged_at_ms = Some(drover_core::now_ms());
                s.brake.reason = "bench: a storm".to_owned();
                Ok(())
            },
        )
        .expect("engage the brake");
    let reqs = (0..n)
        .map(|i| drover_fleet::NewRequest {
            id: ulid::Ulid::new().to_string(),
            node: format!("n{:03}", i + 10),
            kind: drover_fleet::Kind::Reboot,
            reason: "bench: silent".to_owned(),
            actor: "rule:pack.rule0".to_owned(),
            origin: drover_fleet::Origin::Automation,
            execution_id: None,
            grant: None,
            policy: drover_fleet::Policy::Asap,
            drain_timeout_ms: None,
            reboot_timeout_ms: None,
        })
        .collect();
    let answers = fleet.request(reqs).expect("the requests");
    assert!(answers.iter().all(|a| {
        a.as_ref()
            .is_ok_and(|a| a.gate == Some(drover_fleet::Gate::Brake))
    }));
}

/// The history cursor, then one node (n002) drained after it: what the
/// grid's live update sends for one change.
fn one_node_changes(store: &SqliteStore) -> i64 {
    store
        .write(|conn| {
            let cursor: i64 =
                conn.query_row("SELECT coalesce(max(id), 0) FROM node_history", [], |r| {
                    r.get(0)
                })?;
            conn.execute(
                "UPDATE nodes SET state = 'draining', since = 2 WHERE name = 'n002'",
                [],
            )?;
            conn.execute(
                "INSERT INTO node_history (node, at, event, from_state, to_state, request_id,
                    actor, detail)
                 VALUES ('n002', 2, 'drain', 'production', 'draining', NULL, 'bench', 'bench')",
                [],
            )?;
            Ok(cursor)
        })
        .expect("change one node")
}
