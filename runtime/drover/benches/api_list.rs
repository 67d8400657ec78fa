//! How fast the API's list endpoints answer with 1,000,000 executions in
//! the database: the real router (`drover_api::router`) served by axum on
//! 127.0.0.1, timed per request from the client over loopback, so each
//! figure is the server's time plus a loopback round trip.
//!
//! ```sh
//! cargo bench -p drover --bench api_list                       # 1,000,000 executions
//! DROVER_BENCH_EXECUTIONS=100000 cargo bench -p drover --bench api_list
//! ```
//!
//! The database is generated once per run in a temporary directory:
//! executions 90% succeeded, 6% failed, 3% denied, 1% timeout over ten
//! actions, ids one per 10 ms of the past (ULIDs, so id order is time
//! order), and 200,000 audit records. Each endpoint is asked 200 times
//! after 20 warm-up requests; the median, p90 and max are printed.

#[path = "support/generate.rs"]
mod generate;
#[path = "support/timing.rs"]
mod timing;

use std::sync::Arc;
use std::time::{Duration, Instant};

use drover_engine::{Pipeline, PipelineConfig};
use drover_store::{Role, SqliteStore, Store};

const ROUNDS: usize = 200;
const WARMUP: usize = 20;

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
    println!(
        "generated {n} executions and 200000 audit records in {:.1}s ({})",
        started.elapsed().as_secs_f64(),
        db.display()
    );
    let (deep, mid_ms) = sqlite
        .read(|conn| {
            let deep: String = conn.query_row(
                "SELECT id FROM executions ORDER BY id DESC LIMIT 1 OFFSET ?1",
                [n * 9 / 10],
                |r| r.get(0),
            )?;
            let mid: i64 = conn.query_row(
                "SELECT started_at FROM executions ORDER BY id DESC LIMIT 1 OFFSET ?1",
                [n / 2],
                |r| r.get(0),
            )?;
            Ok((deep, mid))
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
    let app = drover_api::router(drover_api::AppState {
        app,
        intake: pipeline.intake(),
        metrics: pipeline.metrics(),
        config: Arc::new(drover_api::ApiConfig::default()),
        events: drover_api::stream::Events::default(),
    });
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
    let cases = [
        (
            "executions, first page (limit 50)",
            "/api/v1/executions?limit=50".to_owned(),
        ),
        (
            "executions, page 90% deep (after=, limit 50)",
            format!("/api/v1/executions?limit=50&after={deep}"),
        ),
        (
            "executions, status=timeout (1%)",
            "/api/v1/executions?status=timeout&limit=50".to_owned(),
        ),
        (
            "executions, status=failed, 90% deep",
            format!("/api/v1/executions?status=failed&limit=50&after={deep}"),
        ),
        (
            "executions, action=pack.a7 (10%)",
            "/api/v1/executions?action=pack.a7&limit=50".to_owned(),
        ),
        (
            "executions, since= the middle",
            format!("/api/v1/executions?since={mid_ms}&limit=50"),
        ),
        (
            "executions, status=denied&action=pack.a1 (1%)",
            "/api/v1/executions?status=denied&action=pack.a1&limit=50".to_owned(),
        ),
        (
            "executions, status=timeout&action=pack.a7 (none)",
            "/api/v1/executions?status=timeout&action=pack.a7&limit=50".to_owned(),
        ),
        (
            "executions, limit 1000",
            "/api/v1/executions?limit=1000".to_owned(),
        ),
        ("audit, first page", "/api/v1/audit?limit=50".to_owned()),
        (
            "audit, decision=denied",
            "/api/v1/audit?decision=denied&limit=50".to_owned(),
        ),
        (
            "audit, pack=other (no match of 200,000)",
            "/api/v1/audit?pack=other&limit=50".to_owned(),
        ),
        (
            "triggers, first page",
            "/api/v1/triggers?limit=50".to_owned(),
        ),
        ("grants", "/api/v1/grants".to_owned()),
        ("packs", "/api/v1/packs".to_owned()),
    ];
    println!(
        "{:<48} {:>10} {:>10} {:>10}",
        "endpoint", "median", "p90", "max"
    );
    for (name, path) in cases {
        let url = format!("http://{addr}{path}");
        let times = timing::time_gets(&agent, &url, &auth, WARMUP, ROUNDS, |body| {
            check(&path, body);
        });
        timing::print_row(name, 48, &times);
    }
    pipeline.shutdown(Duration::from_secs(1));
}

/// The answer is what was asked for: full pages of executions (empty for
/// the filter nothing matches), JSON everywhere.
fn check(path: &str, body: &str) {
    let v: serde_json::Value =
        serde_json::from_str(body).unwrap_or_else(|e| panic!("{path}: {e}: {body}"));
    if path.starts_with("/api/v1/executions") {
        let items = v["items"].as_array().map_or(0, Vec::len);
        let want = if path.contains("status=timeout&action=pack.a7") {
            0
        } else if path.contains("limit=1000") {
            1000
        } else {
            50
        };
        assert_eq!(items, want, "{path}");
    }
}
