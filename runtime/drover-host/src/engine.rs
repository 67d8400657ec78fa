//! The one wasmtime `Engine` per process and the `Linker` that offers every
//! host interface.
//!
//! Configuration, and why:
//! - epoch interruption with a ticker thread every [`EPOCH_TICK`]: a
//!   wall-clock deadline for every call at a few percent of overhead;
//! - the pooling allocator: a fresh instance per call costs tens of
//!   microseconds instead of an mmap per memory; its slots bound how many
//!   plugins run at once, so callers take a permit first;
//! - freed slots are reset by zeroing the pages the call touched, found
//!   with Linux's `PAGEMAP_SCAN`, instead of `madvise`: madvise on a
//!   multi-threaded process flushes the TLB of every core with an IPI,
//!   which was half of a `core.noop` call and three quarters of the CPU of
//!   durable executions under load (docs/perf.md);
//! - Cranelift's incremental cache ([`crate::functions`]): components that
//!   share an interpreter (Python, JavaScript) share compiled functions;
//! - WASI p2 linked in full but each store's `WasiCtx` is empty (no
//!   preopens, env, args, network), so filesystem and socket calls fail
//!   inside the guest.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use wasmtime::component::{HasSelf, Linker};
use wasmtime::{Config, Enabled, Engine, InstanceAllocationStrategy, PoolingAllocationConfig};

use crate::bindings::Action;
use crate::call::{CallCtx, HostState};
use crate::functions::FunctionCache;

/// Deadline precision: a call is stopped at most one tick after its
/// deadline.
pub const EPOCH_TICK: Duration = Duration::from_millis(10);
/// The largest memory any plugin may be given (pack.yaml `memory`).
pub const MAX_PLUGIN_MEMORY: u64 = 512 << 20;
/// Plugin instances alive at once, process-wide.
pub const MAX_CONCURRENT_CALLS: u32 = 128;
/// Of each freed linear memory, how much may stay resident (zeroed) for
/// the next call instead of being returned to the kernel. Covers a small
/// Rust plugin (1 MiB stack + data + heap); a plugin that touches more
/// pays an madvise for the rest. Bounds the RSS kept per warm slot.
const MEMORY_KEEP_RESIDENT: usize = 2 << 20;
/// The same for tables.
const TABLE_KEEP_RESIDENT: usize = 64 << 10;

/// The engine, its linker and the epoch ticker.
pub struct PluginEngine {
    engine: Engine,
    linker: Linker<HostState>,
    ticker: Ticker,
}

impl PluginEngine {
    /// An engine compiling through `functions` when given.
    pub fn new(functions: Option<Arc<FunctionCache>>) -> wasmtime::Result<PluginEngine> {
        let keep_resident = memory_keep_resident();
        let mut pool = PoolingAllocationConfig::default();
        pool.total_component_instances(MAX_CONCURRENT_CALLS)
            .total_core_instances(MAX_CONCURRENT_CALLS * 8)
            .total_memories(MAX_CONCURRENT_CALLS * 2)
            .total_tables(MAX_CONCURRENT_CALLS * 8)
            .max_memories_per_component(4)
            .max_memory_size(MAX_PLUGIN_MEMORY as usize)
            .linear_memory_keep_resident(keep_resident)
            .table_keep_resident(TABLE_KEEP_RESIDENT)
            // Needs Linux 6.7+; elsewhere the kept part is zeroed whole.
            .pagemap_scan(Enabled::Auto);
        let mut config = Config::new();
        config
            .epoch_interruption(true)
            .allocation_strategy(InstanceAllocationStrategy::Pooling(pool));
        if let Some(functions) = functions {
            config.enable_incremental_compilation(functions)?;
        }
        let engine = Engine::new(&config)?;

        let mut linker = Linker::new(&engine);
        wasmtime_wasi::p2::add_to_linker_sync(&mut linker)?;
        Action::add_to_linker::<HostState, HasSelf<CallCtx>>(&mut linker, |s| &mut s.call)?;

        let ticker = Ticker::start(engine.clone());
        Ok(PluginEngine {
            engine,
            linker,
            ticker,
        })
    }

    pub fn engine(&self) -> &Engine {
        &self.engine
    }

    pub fn linker(&self) -> &Linker<HostState> {
        &self.linker
    }

    /// Stops the ticker now rather than when the engine is dropped.
    pub fn shutdown(&self) {
        self.ticker.stop.store(true, Ordering::Relaxed);
    }
}

/// [`MEMORY_KEEP_RESIDENT`], or `DROVER_MEMORY_KEEP_RESIDENT_MIB` when set
/// to a number of MiB (at most the largest plugin memory): a knob to
/// measure with (docs/perf.md), read once per engine.
fn memory_keep_resident() -> usize {
    let Ok(text) = std::env::var("DROVER_MEMORY_KEEP_RESIDENT_MIB") else {
        return MEMORY_KEEP_RESIDENT;
    };
    match text.trim().parse::<u64>() {
        Ok(mib) if mib << 20 <= MAX_PLUGIN_MEMORY => (mib << 20) as usize,
        _ => {
            tracing::warn!(
                value = %text,
                "DROVER_MEMORY_KEEP_RESIDENT_MIB is not a number of MiB up to 512: ignored"
            );
            MEMORY_KEEP_RESIDENT
        }
    }
}

/// Advances the engine's epoch every [`EPOCH_TICK`] until dropped.
struct Ticker {
    stop: Arc<AtomicBool>,
}

impl Ticker {
    fn start(engine: Engine) -> Ticker {
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        std::thread::Builder::new()
            .name("drover-epoch".into())
            .spawn(move || {
                // Ticks on a fixed schedule rather than "sleep a tick, then
                // tick": every sleep overshoots a little, and summed over a
                // deadline's ticks that stopped calls late (a 5 s deadline
                // 140 ms late on a busy machine). Behind schedule, it
                // catches up at once.
                let mut next = Instant::now();
                while !flag.load(Ordering::Relaxed) {
                    next += EPOCH_TICK;
                    let wait = next.saturating_duration_since(Instant::now());
                    if !wait.is_zero() {
                        std::thread::sleep(wait);
                    }
                    engine.increment_epoch();
                }
            })
            .expect("spawn the epoch ticker thread");
        Ticker { stop }
    }
}

impl Drop for Ticker {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}
