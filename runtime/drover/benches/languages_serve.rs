//! A no-op action in each plugin language under the real `drover serve`:
//! signed webhooks → rule → the action (a fresh instance per call) →
//! stored execution, one language per fresh database.
//!
//! ```sh
//! cargo xtask plugins       # once: packs/core's components
//! cargo bench -p drover --bench languages_serve -- [SECONDS] [RATE]
//! ```
//!
//! For each row of [`LANGUAGES`] (Rust's `core.noop` first), in
//! [`ROUNDS`] interleaved rounds: install the bench pack with that row's
//! component, start `drover serve`, send RATE signed webhooks a second
//! (default 200) for SECONDS (default 5) open loop, wait for the queue to
//! drain, and read: the median and p90 `duration_us` of the stored
//! executions (the call as the executor timed it), the server's CPU per
//! execution (user + system from /proc over the whole step: HTTP, rule,
//! queue, call, SQLite), and its peak RSS. The Python and JavaScript
//! components are built with `drover pack build` once and kept under
//! `target/bench-components/`, named by a hash of all the build reads.

#[path = "support/sweep.rs"]
mod sweep;

use std::path::{Path, PathBuf};
use std::time::Instant;

use sha2::{Digest, Sha256};
use sweep::*;

/// One language's row: a no-op action's source (None: Rust's core.noop),
/// its file extension and the capabilities its runtime needs.
struct Language {
    name: &'static str,
    source: Option<(&'static str, &'static str)>,
    capabilities: &'static str,
}

const LANGUAGES: &[Language] = &[
    Language {
        name: "rust",
        source: None,
        capabilities: "[]",
    },
    Language {
        name: "python",
        source: Some((
            "py",
            "from drover import action\n\n\n@action\ndef run(params, ctx):\n    return {}\n",
        )),
        capabilities: "[wasi:filesystem, wasi:sockets]",
    },
    Language {
        name: "js",
        source: Some((
            "js",
            "import { action } from \"drover\";\n\naction(() => ({}));\n",
        )),
        capabilities: "[wasi:filesystem]",
    },
];

const ROUNDS: usize = 3;

fn main() {
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with("--"))
        .collect();
    let seconds: f64 = args.first().and_then(|a| a.parse().ok()).unwrap_or(5.0);
    let rate: u64 = args.get(1).and_then(|a| a.parse().ok()).unwrap_or(200);
    let load = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    println!(
        "languages under drover serve: {rate}/s for {seconds} s per step, {ROUNDS} rounds; \
         load average {}",
        load.split_whitespace()
            .take(3)
            .collect::<Vec<_>>()
            .join(" ")
    );
    let components: Vec<PathBuf> = LANGUAGES.iter().map(component).collect();
    println!(
        "{:<8} {:>5} {:>7} {:>12} {:>12} {:>14} {:>10} {:>9}",
        "language",
        "round",
        "execs",
        "call p50",
        "call p90",
        "CPU/execution",
        "e2e p50",
        "peak RSS"
    );
    for round in 1..=ROUNDS {
        for (language, component) in LANGUAGES.iter().zip(&components) {
            step(language, component, round, rate, seconds);
        }
    }
}

fn step(language: &Language, component: &Path, round: usize, rate: u64, seconds: f64) {
    let dir = tempfile::tempdir().unwrap();
    let db = install_pack(dir.path(), language, component);
    let server = start_server(dir.path(), &db, &[]);
    let cpu_before = cpu_ticks(&server);
    let (samples, _) = offer(server.addr, rate, seconds, 0);
    drain(&db);
    let cpu = cpu_ticks(&server) - cpu_before;
    let stored = executions_by_trigger(&db);
    let summary = summarize(&samples, &stored);
    let mut durations = durations_us(&db);
    durations.sort();
    let n = durations.len().max(1) as f64;
    // USER_HZ is 100 on Linux: a tick is 10 ms.
    let cpu_per_exec_us = cpu as f64 * 10_000.0 / n;
    println!(
        "{:<8} {:>5} {:>7} {:>9} µs {:>9} µs {:>11.0} µs {:>7} ms {:>5.0} MiB",
        language.name,
        round,
        durations.len(),
        percentile(&durations, 0.5),
        percentile(&durations, 0.9),
        cpu_per_exec_us,
        percentile(&summary.latencies, 0.5),
        server.peak_rss_mib()
    );
    assert_eq!(
        summary.lost + summary.doubled,
        0,
        "every 202 must become one execution"
    );
}

/// The bench pack (sweep's, with `language`'s component) installed into a
/// new database in `dir`.
fn install_pack(dir: &Path, language: &Language, component: &Path) -> PathBuf {
    let pack = dir.join("bench");
    std::fs::create_dir_all(pack.join("components")).unwrap();
    std::fs::create_dir_all(pack.join("rules")).unwrap();
    let manifest = PACK
        .replace("components/core_noop.wasm", "components/noop.wasm")
        .replace(
            "    parameters: {}\n",
            &format!(
                "    parameters: {{}}\n    capabilities: {}\n",
                language.capabilities
            ),
        );
    std::fs::write(pack.join("pack.yaml"), manifest).unwrap();
    std::fs::write(pack.join("rules/down.yaml"), RULE).unwrap();
    std::fs::copy(component, pack.join("components/noop.wasm")).unwrap();
    let db = dir.join("drover.db");
    run(
        &db,
        &["pack", "install", "--trusted", pack.to_str().unwrap()],
        None,
    );
    run(&db, &["secret", "set", "bench.webhook"], Some(SECRET));
    db
}

/// `language`'s no-op component: packs/core's for Rust, else built with
/// `drover pack build` once per source and drover binary.
fn component(language: &Language) -> PathBuf {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let Some((ext, source)) = language.source else {
        let noop = root.join("packs/core/components/core_noop.wasm");
        assert!(
            noop.is_file(),
            "{}: run `cargo xtask plugins` first",
            noop.display()
        );
        return noop;
    };
    // Everything the build reads: the source, the manifest's capabilities,
    // the SDKs and the WIT drover pack build embeds.
    let mut hash = Sha256::new();
    let sdks: String = drover_build::python::SDK_FILES
        .iter()
        .map(|(_, text)| *text)
        .chain([drover_build::js::SDK])
        .collect();
    for part in [
        source,
        language.capabilities,
        &sdks,
        drover_build::world::PLUGIN_WIT,
    ] {
        hash.update(part.len().to_le_bytes());
        hash.update(part);
    }
    let key = hex::encode(&hash.finalize()[..8]);
    let cache = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| root.join("target"))
        .join("bench-components");
    let cached = cache.join(format!("serve_{}_{key}.wasm", language.name));
    if cached.is_file() {
        return cached;
    }
    let dir = tempfile::tempdir().unwrap();
    let pack = dir.path().join("src");
    std::fs::create_dir_all(pack.join("actions")).unwrap();
    std::fs::write(pack.join(format!("actions/noop.{ext}")), source).unwrap();
    std::fs::write(
        pack.join("pack.yaml"),
        format!(
            "name: benchsrc\nversion: 0.1.0\ndescription: languages bench.\nplugins:\n  \
             noop:\n    kind: action\n    description: A no-op.\n    \
             source: actions/noop.{ext}\n    component: components/noop.wasm\n    \
             capabilities: {}\n",
            language.capabilities
        ),
    )
    .unwrap();
    let started = Instant::now();
    run(
        &dir.path().join("drover.db"),
        &["pack", "build", pack.to_str().unwrap()],
        None,
    );
    println!(
        "built {} ({:.1} s)",
        cached.display(),
        started.elapsed().as_secs_f64()
    );
    std::fs::create_dir_all(&cache).unwrap();
    let tmp = cached.with_extension("wasm.tmp");
    std::fs::copy(pack.join("components/noop.wasm"), &tmp).unwrap();
    std::fs::rename(&tmp, &cached).unwrap();
    cached
}

/// The server's user + system CPU so far, in clock ticks.
fn cpu_ticks(server: &Server) -> u64 {
    let stat = std::fs::read_to_string(format!("/proc/{}/stat", server.pid())).unwrap();
    // Fields after the command (which may hold spaces), from field 3.
    let rest = &stat[stat.rfind(')').unwrap() + 2..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    fields[11].parse::<u64>().unwrap() + fields[12].parse::<u64>().unwrap()
}

/// Every stored execution's `duration_us`.
fn durations_us(db: &Path) -> Vec<i64> {
    let conn =
        rusqlite::Connection::open_with_flags(db, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)
            .unwrap();
    let mut stmt = conn.prepare("SELECT duration_us FROM executions").unwrap();
    stmt.query_map([], |r| r.get::<_, i64>(0))
        .unwrap()
        .map(Result::unwrap)
        .collect()
}
