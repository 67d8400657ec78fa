//! Plugin languages side by side (a plain `main`; figures in docs/perf.md).
//!
//! - per call: `Runtime::execute` of a no-op action, a fresh instance per
//!   call as `drover serve` runs it, for `core.noop` (Rust) and the same
//!   action in each language of [`LANGUAGES`]. Calls are timed one by one
//!   for about a second per round; rounds alternate the languages, and the
//!   median of the rounds' medians is reported with the process's RSS.
//! - concurrent: the same calls from [`THREADS`] threads at once, then the
//!   RSS again: each thread's freed slot stays warm, with up to the
//!   engine's keep-resident bytes of its memory resident.
//! - install: a pack of five plugins of one language into a fresh runtime,
//!   the five sharing one component and with five distinct components;
//!   then a second install of the same digests (the next version).
//!
//! Components are built with drover-build (componentize-py for Python,
//! componentize-js for JavaScript)
//! once and cached under `target/bench-components/`, named by a hash of all
//! the build reads, so repeated runs do not rebuild.
//!
//! ```sh
//! cargo xtask plugins                                   # once: packs/core
//! cargo bench -p drover-app --bench languages            # all
//! cargo bench -p drover-app --bench languages -- calls   # per call only
//! cargo bench -p drover-app --bench languages -- install # installs only
//! cargo bench -p drover-app --bench languages -- install python
//! DROVER_MEMORY_KEEP_RESIDENT_MIB=32 cargo bench -p drover-app --bench languages -- calls
//! ```

mod common;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use drover_core::ExecStatus;
use drover_host::Prepared;
use drover_pack::ActionRef;
use serde_json::json;
use sha2::{Digest, Sha256};

use common::{Env, repo_root};

/// One language's row: a no-op action written in it.
struct Language {
    name: &'static str,
    /// The source file's extension.
    ext: &'static str,
    /// A no-op action's source returning `{"n": n}` (`n` makes distinct
    /// components for the install bench).
    noop: fn(n: usize) -> String,
    /// What its runtime needs declared besides nothing.
    capabilities: &'static str,
    /// Everything besides the source that its build reads (the SDK).
    build_inputs: fn() -> String,
}

/// The languages benchmarked beside Rust, one row each.
const LANGUAGES: &[Language] = &[
    Language {
        name: "python",
        ext: "py",
        noop: |n| {
            format!(
                "from drover import action\n\n\n@action\ndef run(params, ctx):\n    return {{\"n\": {n}}}\n"
            )
        },
        capabilities: "[wasi:filesystem, wasi:sockets]",
        build_inputs: || {
            drover_build::python::SDK_FILES
                .iter()
                .map(|(_, text)| *text)
                .collect()
        },
    },
    Language {
        name: "js",
        ext: "js",
        noop: |n| {
            format!("import {{ action }} from \"drover\";\n\naction(() => ({{ n: {n} }}));\n")
        },
        capabilities: "[wasi:filesystem]",
        build_inputs: || drover_build::js::SDK.to_owned(),
    },
];

/// Threads calling at once in the concurrent scenario.
const THREADS: usize = 8;
/// How long one round of one language's calls lasts.
const ROUND: Duration = Duration::from_secs(1);
const ROUNDS: usize = 5;

fn main() {
    let filter: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with("--"))
        .collect();
    let wants = |what: &str| filter.is_empty() || filter.iter().any(|f| f == what);
    let load = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    println!(
        "languages bench: keep-resident {}, load average {}",
        std::env::var("DROVER_MEMORY_KEEP_RESIDENT_MIB")
            .map(|m| format!("{m} MiB (DROVER_MEMORY_KEEP_RESIDENT_MIB)"))
            .unwrap_or_else(|_| "default".into()),
        load.split_whitespace()
            .take(3)
            .collect::<Vec<_>>()
            .join(" ")
    );
    if wants("calls") {
        calls();
    }
    if wants("install") {
        // `-- install python`: only the languages named, if any are.
        let named: Vec<&Language> = LANGUAGES
            .iter()
            .filter(|l| filter.iter().any(|f| f == l.name))
            .collect();
        for language in LANGUAGES {
            if named.is_empty() || named.iter().any(|l| l.name == language.name) {
                install(language);
            }
        }
    }
}

/// The per-call and concurrent scenarios.
fn calls() {
    let env = Env::new();
    let mut rows: Vec<(String, Prepared)> = vec![("rust core.noop".into(), env.noop.clone())];
    for language in LANGUAGES {
        let dir = env.dir.path().join(format!("bench_{}", language.name));
        let component = component(language, 0);
        write_pack(&dir, language, "0.1.0", &[component]);
        let started = Instant::now();
        env.app
            .install(&dir, "bench")
            .expect("install the bench pack");
        println!(
            "{}: built/cached component installed in {:.1} s",
            language.name,
            started.elapsed().as_secs_f64()
        );
        let prepared = env
            .app
            .runtime()
            .prepare(&ActionRef::new(format!("bench_{}", language.name), "p0"))
            .expect("prepare the no-op");
        rows.push((format!("{} noop", language.name), prepared));
    }
    for (name, prepared) in &rows {
        let exec = execute(&env, prepared);
        assert_eq!(
            exec.status,
            ExecStatus::Succeeded,
            "{name}: {:?}",
            exec.error
        );
    }

    let mut medians: Vec<Vec<Duration>> = vec![Vec::new(); rows.len()];
    let mut p90s: Vec<Vec<Duration>> = vec![Vec::new(); rows.len()];
    let mut counts = vec![0usize; rows.len()];
    for _ in 0..ROUNDS {
        for (i, (_, prepared)) in rows.iter().enumerate() {
            let mut times = Vec::new();
            let round = Instant::now();
            while round.elapsed() < ROUND {
                let t = Instant::now();
                std::hint::black_box(execute(&env, prepared));
                times.push(t.elapsed());
            }
            times.sort();
            counts[i] += times.len();
            medians[i].push(times[times.len() / 2]);
            p90s[i].push(times[times.len() * 9 / 10]);
        }
    }
    println!(
        "\nper call, one thread ({ROUNDS} rounds of {ROUND:?} each; median of the rounds' medians):"
    );
    println!(
        "{:<18} {:>10} {:>10} {:>22} {:>8}",
        "action", "median", "p90", "round medians", "calls"
    );
    for (i, (name, _)) in rows.iter().enumerate() {
        let rounds: Vec<String> = medians[i].iter().map(|d| micros(*d)).collect();
        println!(
            "{:<18} {:>10} {:>10} {:>22} {:>8}",
            name,
            micros(median(&medians[i])),
            micros(median(&p90s[i])),
            rounds.join(" "),
            counts[i]
        );
    }
    println!("RSS after: {} (peak {})", rss("VmRSS"), rss("VmHWM"));

    println!("\n{THREADS} threads at once, {ROUND:?} per action:");
    for (name, prepared) in &rows {
        let calls = std::thread::scope(|s| {
            let handles: Vec<_> = (0..THREADS)
                .map(|_| {
                    s.spawn(|| {
                        let mut n = 0u64;
                        let round = Instant::now();
                        while round.elapsed() < ROUND {
                            std::hint::black_box(execute(&env, prepared));
                            n += 1;
                        }
                        n
                    })
                })
                .collect();
            handles.into_iter().map(|h| h.join().unwrap()).sum::<u64>()
        });
        println!(
            "{:<18} {:>8.0} calls/s   RSS after: {} (peak {})",
            name,
            calls as f64 / ROUND.as_secs_f64(),
            rss("VmRSS"),
            rss("VmHWM")
        );
    }
}

/// A pack of five plugins of `language` installed into a fresh runtime,
/// sharing one component, then with five distinct ones; each then
/// installed again as the next version (the same digests).
fn install(language: &Language) {
    println!(
        "\ninstall, five {} plugins (a fresh runtime each):",
        language.name
    );
    let shared: Vec<PathBuf> = vec![component(language, 0); 5];
    let distinct: Vec<PathBuf> = (0..5).map(|n| component(language, n)).collect();
    for (layout, components) in [
        ("one shared component", shared),
        ("five components", distinct),
    ] {
        let env = Env::new();
        let dir = env.dir.path().join(format!("bench_{}", language.name));
        write_pack(&dir, language, "0.1.0", &components);
        let started = Instant::now();
        env.app.install(&dir, "bench").expect("install");
        let first = started.elapsed();
        write_pack(&dir, language, "0.1.1", &components);
        let started = Instant::now();
        env.app.install(&dir, "bench").expect("install again");
        let again = started.elapsed();
        println!(
            "{:<22} first install {:>7.2} s   again (same digests) {:>7.3} s",
            layout,
            first.as_secs_f64(),
            again.as_secs_f64()
        );
    }
}

fn execute(env: &Env, prepared: &Prepared) -> drover_core::Execution {
    env.app
        .runtime()
        .execute(prepared, json!({}), &env.opts)
        .expect("execute")
}

/// Writes `dir/pack.yaml` naming `components` as plugins `p0`, `p1`, …
/// (copied into `dir/components/`).
fn write_pack(dir: &Path, language: &Language, version: &str, components: &[PathBuf]) {
    std::fs::create_dir_all(dir.join("components")).unwrap();
    let mut yaml = format!(
        "name: {}\nversion: {version}\ndescription: languages bench.\nplugins:\n",
        dir.file_name().unwrap().to_str().unwrap()
    );
    for (i, component) in components.iter().enumerate() {
        let file = component.file_name().unwrap().to_str().unwrap();
        std::fs::copy(component, dir.join("components").join(file)).unwrap();
        yaml.push_str(&format!(
            "  p{i}:\n    kind: action\n    description: A no-op.\n    \
             component: components/{file}\n    capabilities: {}\n",
            language.capabilities
        ));
    }
    std::fs::write(dir.join("pack.yaml"), yaml).unwrap();
}

/// The no-op `n` in `language`, built once and kept under
/// `target/bench-components/`.
fn component(language: &Language, n: usize) -> PathBuf {
    let source = (language.noop)(n);
    let mut hash = Sha256::new();
    for part in [
        language.name,
        language.capabilities,
        &source,
        &(language.build_inputs)(),
        drover_build::world::PLUGIN_WIT,
    ] {
        hash.update(part.len().to_le_bytes());
        hash.update(part);
    }
    let key = hex::encode(&hash.finalize()[..8]);
    let cache = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| repo_root().join("target"))
        .join("bench-components");
    let cached = cache.join(format!("{}_{key}.wasm", language.name));
    if cached.is_file() {
        return cached;
    }
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("actions")).unwrap();
    std::fs::write(
        dir.path().join(format!("actions/noop.{}", language.ext)),
        source,
    )
    .unwrap();
    std::fs::write(
        dir.path().join("pack.yaml"),
        format!(
            "name: benchsrc\nversion: 0.1.0\ndescription: languages bench.\nplugins:\n  \
             noop:\n    kind: action\n    description: A no-op.\n    \
             source: actions/noop.{}\n    component: components/noop.wasm\n    \
             capabilities: {}\n",
            language.ext, language.capabilities
        ),
    )
    .unwrap();
    let started = Instant::now();
    drover_build::compile_sources(dir.path()).unwrap_or_else(|e| {
        panic!("building the {} no-op: {e}", language.name);
    });
    println!(
        "built {} ({:.1} s)",
        cached.display(),
        started.elapsed().as_secs_f64()
    );
    std::fs::create_dir_all(&cache).unwrap();
    let tmp = cached.with_extension("wasm.tmp");
    std::fs::copy(dir.path().join("components/noop.wasm"), &tmp).unwrap();
    std::fs::rename(&tmp, &cached).unwrap();
    cached
}

fn median(values: &[Duration]) -> Duration {
    let mut v = values.to_vec();
    v.sort();
    v[v.len() / 2]
}

fn micros(d: Duration) -> String {
    format!("{:.1} µs", d.as_secs_f64() * 1e6)
}

/// A field of /proc/self/status, in MiB.
fn rss(field: &str) -> String {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix(field)?.strip_prefix(':'))
        .and_then(|v| v.trim().strip_suffix(" kB")?.parse::<u64>().ok())
        .map(|kb| format!("{:.0} MiB", kb as f64 / 1024.0))
        .unwrap_or_else(|| "?".into())
}
