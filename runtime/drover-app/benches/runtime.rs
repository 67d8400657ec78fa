//! Per-call and load-time costs of the plugin runtime (criterion).
//!
//! - `per_call/execute core.noop`: `Runtime::execute` on a prepared
//!   `core.noop`, i.e. everything drover does for one call (a fresh
//!   `Store`, instantiate from the `InstancePre`, `run`, classify, build the
//!   `Execution`, drop), without storing the execution. Target: median
//!   ≤ 30 µs.
//! - `per_call/wasmtime floor`: the same component on an engine with the
//!   same configuration, but only `Store::new` with an empty `WasiCtx`,
//!   `instantiate`, `call_run` and drop. The gap to `execute` is drover's
//!   own per-call work.
//! - `component_cache/load hit`: [`ComponentCache::load`] of a cached
//!   component (`Component::deserialize_file`). Target: ≤ 1 ms.
//! - `component_cache/compile`: [`ComponentCache::compile`], what the first
//!   use of a component costs (Cranelift, serialize, write the file).
//!
//! Run from the repository root, after `cargo xtask plugins`:
//!
//! ```text
//! cargo bench -p drover-app --bench runtime                  # all
//! cargo bench -p drover-app --bench runtime -- per_call      # a filter
//! cargo bench -p drover-app --bench runtime -- --verbose     # + median
//! ```
//!
//! `cargo xtask bench` builds the plugins and runs this and the
//! `throughput` bench. Figures and how to read them: docs/perf.md.

mod common;

use std::hint::black_box;
use std::time::Duration;

use criterion::{Criterion, criterion_group, criterion_main};
use drover_host::cache::{CacheOutcome, ComponentCache};
use drover_host::engine::PluginEngine;
use wasmtime::component::{Linker, ResourceTable};
use wasmtime::{Engine, Store};
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};

use common::{Env, repo_root};

/// Typed bindings of the same world, for the floor: no host interfaces are
/// implemented (`core.noop` calls none), only the `run` export is used.
mod floor {
    wasmtime::component::bindgen!({ path: "../../wit", world: "action" });
}

/// The least a WASI component's store can hold.
struct FloorState {
    wasi: WasiCtx,
    table: ResourceTable,
}

impl WasiView for FloorState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}

/// `core.noop` ready to instantiate without drover's per-call work.
struct Floor {
    // Keeps the epoch ticker of `engine` running.
    _engine_owner: PluginEngine,
    engine: Engine,
    pre: floor::ActionPre<FloorState>,
    input: String,
    ctx: floor::drover::plugin::types::Context,
}

impl Floor {
    fn new(env: &Env) -> Floor {
        // drover's own engine configuration (pooling allocator, epochs);
        // the function cache changes compiles only.
        let owner = PluginEngine::new(None).expect("wasmtime engine");
        let engine = owner.engine().clone();
        let cache = ComponentCache::new(&env.cache_dir, &engine, None).expect("component cache");
        let (component, outcome) = cache
            .load(&engine, &env.noop.digest, || {
                Err(wasmtime::format_err!("core.noop should be in the cache"))
            })
            .expect("load core.noop");
        assert_eq!(outcome, CacheOutcome::Hit);
        let mut linker = Linker::new(&engine);
        wasmtime_wasi::p2::add_to_linker_sync(&mut linker).expect("link WASI");
        // drover's interfaces, should the component import any: `run` of
        // `core.noop` never calls them.
        linker
            .define_unknown_imports_as_traps(&component)
            .expect("stub drover's interfaces");
        let pre = linker
            .instantiate_pre(&component)
            .and_then(floor::ActionPre::new)
            .expect("pre-instantiate core.noop");
        Floor {
            _engine_owner: owner,
            engine,
            pre,
            input: "{}".into(),
            ctx: floor::drover::plugin::types::Context {
                execution_id: "01JBENCH0000000000000000000".into(),
                action: "core.noop".into(),
                pack_version: "0.1.0".into(),
                dry_run: false,
            },
        }
    }

    fn call(&self) -> Result<String, floor::drover::plugin::types::Error> {
        let mut store = Store::new(
            &self.engine,
            FloorState {
                wasi: WasiCtx::builder().build(),
                table: ResourceTable::new(),
            },
        );
        // Epoch interruption is on: without a deadline the call traps.
        store.set_epoch_deadline(100);
        self.pre
            .instantiate(&mut store)
            .and_then(|action| action.call_run(&mut store, &self.input, &self.ctx))
            .expect("run core.noop")
    }
}

fn per_call(c: &mut Criterion) {
    let env = Env::new();
    let floor = Floor::new(&env);
    assert_eq!(floor.call().ok().as_deref(), Some("{}"));
    let mut g = c.benchmark_group("per_call");
    g.bench_function("execute core.noop", |b| b.iter(|| black_box(env.execute())));
    g.bench_function("wasmtime floor", |b| b.iter(|| black_box(floor.call())));
    g.finish();
}

fn component_cache(c: &mut Criterion) {
    let env = Env::new();
    // Without the function cache: every round is a cold compile.
    let owner = PluginEngine::new(None).expect("wasmtime engine");
    let engine = owner.engine();
    // A cache of its own, so `compile` does not touch the runtime's files.
    let cache = ComponentCache::new(&env.dir.path().join("bench-cache"), engine, None)
        .expect("component cache");
    let wasm =
        std::fs::read(repo_root().join("packs/core/components/core_noop.wasm")).expect("read");
    let digest = &env.noop.digest;
    cache.compile(engine, digest, &wasm).expect("compile");

    let mut g = c.benchmark_group("component_cache");
    g.bench_function("load hit", |b| {
        b.iter(|| {
            let (component, outcome) = cache
                .load(engine, digest, || {
                    Err(wasmtime::format_err!("core.noop should be in the cache"))
                })
                .expect("load");
            debug_assert_eq!(outcome, CacheOutcome::Hit);
            black_box(component)
        })
    });
    // Tens of milliseconds per iteration: few samples, longer window.
    g.sample_size(10).measurement_time(Duration::from_secs(10));
    g.bench_function("compile", |b| {
        b.iter(|| black_box(cache.compile(engine, digest, &wasm).expect("compile")))
    });
    g.finish();
}

criterion_group!(benches, per_call, component_cache);
criterion_main!(benches);
