//! The executor: from an action reference and parameters to a stored
//! execution. Errors before any Wasm runs (unknown action, bad parameter)
//! are [`RunError`]s and store nothing; everything after is an
//! [`Execution`] with a status, stored before `run` returns.

use std::collections::HashMap;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use drover_core::{Execution, ExecutionId, LogLevel, LogLine, now_ms};
use drover_fleet::Fleet;
use drover_pack::{ActionRef, Pack, ParamError, Plugin, PluginKind};
use drover_store::{Store, StoreError};
use serde_json::Value;
use wasmtime::component::ResourceTable;
use wasmtime_wasi::WasiCtx;
use wasmtime_wasi::p2::pipe::MemoryOutputPipe;

use crate::bindings::{ActionPre, Context};
use crate::cache::ComponentCache;
use crate::call::{CallCtx, CallSpec, HostState, Services, classify};
use crate::engine::{EPOCH_TICK, MAX_CONCURRENT_CALLS, PluginEngine};
use crate::grants::GrantSet;
use crate::limits::{CallLimiter, Permits};

/// Why an action could not be run at all.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error("no pack named {pack:?} is installed{hint}", hint = installed_hint(installed))]
    UnknownPack {
        pack: String,
        installed: Vec<String>,
    },
    #[error("pack {pack} has no action {action:?} (its actions: {available})", available = available.join(", "))]
    UnknownAction {
        pack: String,
        action: String,
        available: Vec<String>,
    },
    #[error("{action} is a sensor, not an action; sensors are started by `drover serve`")]
    NotAnAction { action: String },
    #[error("{action}: {problem}\n{action} takes:\n  {params}", params = if params.is_empty() { "no parameters".to_string() } else { params.join("\n  ") })]
    Params {
        action: String,
        problem: ParamError,
        params: Vec<String>,
    },
    #[error("{action}: cannot load component {digest}: {message}")]
    Component {
        action: String,
        digest: String,
        message: String,
    },
    #[error("cannot start the plugin runtime: {0}")]
    Setup(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

fn installed_hint(installed: &[String]) -> String {
    if installed.is_empty() {
        "; no packs are installed yet: try `drover pack install packs/core`".into()
    } else {
        format!(
            " (installed: {}); install it with `drover pack install DIR`",
            installed.join(", ")
        )
    }
}

/// How to run an execution.
#[derive(Clone, Debug)]
pub struct RunOptions {
    /// Record effects as a plan instead of performing them.
    pub dry_run: bool,
    /// Who asked: `user:NAME`, later `rule:REF`.
    pub actor: String,
    /// Overrides the plugin's `timeout` from pack.yaml.
    pub timeout: Option<Duration>,
}

/// An action looked up and ready to instantiate.
#[derive(Clone)]
pub struct Prepared {
    pub pack: Arc<Pack>,
    pub plugin: Plugin,
    pub digest: String,
    pre: ActionPre<HostState>,
}

impl Prepared {
    /// `pack.plugin`.
    pub fn action(&self) -> String {
        format!("{}.{}", self.pack.name, self.plugin.name)
    }
}

/// The plugin runtime of one process.
pub struct Runtime {
    pub(crate) services: Arc<Services>,
    pub(crate) engine: PluginEngine,
    pub(crate) cache: ComponentCache,
    /// Instantiation-ready components by digest.
    prepared: Mutex<HashMap<String, ActionPre<HostState>>>,
    permits: Permits,
}

impl Runtime {
    /// A runtime over `store`, caching compiled components in `cache_dir`.
    pub fn new(store: Store, cache_dir: &Path) -> Result<Runtime, RunError> {
        let engine =
            PluginEngine::new().map_err(|e| RunError::Setup(format!("wasmtime engine: {e:#}")))?;
        let cache = ComponentCache::new(cache_dir, engine.engine()).map_err(|e| {
            RunError::Setup(format!("component cache {}: {e}", cache_dir.display()))
        })?;
        Ok(Runtime {
            services: Arc::new(Services {
                fleet: Fleet::new(store.clone()),
                store,
                http: crate::caps::http_client(),
            }),
            engine,
            cache,
            prepared: Mutex::new(HashMap::new()),
            permits: Permits::new(MAX_CONCURRENT_CALLS),
        })
    }

    pub fn store(&self) -> &Store {
        &self.services.store
    }

    pub fn fleet(&self) -> &Fleet {
        &self.services.fleet
    }

    pub(crate) fn forget_prepared(&self) {
        self.prepared
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clear();
    }

    /// Looks an action up in the installed packs (the newest installed
    /// version of its pack) and readies its component.
    pub fn prepare(&self, action: &ActionRef) -> Result<Prepared, RunError> {
        let store = self.store();
        let Some(installed) = store.get_pack(&action.pack, None)? else {
            let mut names: Vec<String> = store.list_packs()?.into_iter().map(|p| p.name).collect();
            names.dedup();
            return Err(RunError::UnknownPack {
                pack: action.pack.clone(),
                installed: names,
            });
        };
        let pack: Pack = serde_json::from_value(installed.manifest).map_err(StoreError::from)?;
        let Some(plugin) = pack.plugin(&action.plugin).cloned() else {
            return Err(RunError::UnknownAction {
                pack: pack.reference(),
                action: action.plugin.clone(),
                available: pack
                    .plugins
                    .iter()
                    .filter(|p| p.kind == PluginKind::Action)
                    .map(|p| p.name.clone())
                    .collect(),
            });
        };
        if plugin.kind != PluginKind::Action {
            return Err(RunError::NotAnAction {
                action: action.to_string(),
            });
        }
        let digest = installed
            .digests
            .get(&plugin.name)
            .cloned()
            .ok_or_else(|| StoreError::Corrupt(format!("{action} has no component record")))?;
        let pre = self.action_pre(&action.to_string(), &digest)?;
        Ok(Prepared {
            pack: Arc::new(pack),
            plugin,
            digest,
            pre,
        })
    }

    fn action_pre(&self, action: &str, digest: &str) -> Result<ActionPre<HostState>, RunError> {
        if let Some(pre) = self
            .prepared
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(digest)
        {
            return Ok(pre.clone());
        }
        let component_err = |message: String| RunError::Component {
            action: action.to_owned(),
            digest: digest.to_owned(),
            message,
        };
        let store = self.store().clone();
        let (component, _) = self
            .cache
            .load(self.engine.engine(), digest, || {
                store
                    .get_blob(digest)
                    .map_err(|e| wasmtime::format_err!("{e}"))?
                    .ok_or_else(|| {
                        wasmtime::format_err!("the component blob is missing; reinstall the pack")
                    })
            })
            .map_err(|e| component_err(format!("{e:#}")))?;
        let pre = self
            .engine
            .linker()
            .instantiate_pre(&component)
            .and_then(ActionPre::new)
            .map_err(|e| component_err(format!("{e:#}")))?;
        self.prepared
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(digest.to_owned(), pre.clone());
        Ok(pre)
    }

    /// Looks up, validates, runs and stores one execution.
    pub fn run(
        &self,
        action: &ActionRef,
        params: Value,
        opts: &RunOptions,
    ) -> Result<Execution, RunError> {
        self.run_prepared(&self.prepare(action)?, params, opts)
    }

    /// Validates the parameters of a prepared action, runs it and stores
    /// the execution before returning it.
    pub fn run_prepared(
        &self,
        prepared: &Prepared,
        params: Value,
        opts: &RunOptions,
    ) -> Result<Execution, RunError> {
        let params = prepared
            .plugin
            .parameters
            .validate(params)
            .map_err(|problem| RunError::Params {
                action: prepared.action(),
                problem,
                params: prepared.plugin.parameters.describe(),
            })?;
        let exec = self.execute(prepared, params, opts)?;
        self.store().insert_execution(exec.clone())?;
        Ok(exec)
    }

    /// Runs a prepared action with already validated parameters, in a
    /// fresh sandbox. Does not store the execution.
    pub fn execute(
        &self,
        p: &Prepared,
        params: Value,
        opts: &RunOptions,
    ) -> Result<Execution, RunError> {
        let grants = GrantSet::new(
            &p.pack.name,
            &p.pack.version,
            self.store().active_grants(&p.pack.name, &p.pack.version)?,
        );
        let limits = &p.plugin.limits;
        let timeout = opts.timeout.unwrap_or(limits.timeout);
        let output_cap = limits.output_bytes as usize;
        let id = ExecutionId::new();
        let action = p.action();
        let input = params.to_string();
        let ctx = Context {
            execution_id: id.to_string(),
            action: action.clone(),
            pack_version: p.pack.version.clone(),
            dry_run: opts.dry_run,
        };

        let _permit = self.permits.acquire();
        let stdout = MemoryOutputPipe::new(output_cap);
        let stderr = MemoryOutputPipe::new(output_cap);
        // No preopens, env, args or network: the plugin reaches the world
        // through drover's interfaces only.
        let wasi = WasiCtx::builder()
            .stdout(stdout.clone())
            .stderr(stderr.clone())
            .build();
        let call = CallCtx::new(
            self.services.clone(),
            CallSpec {
                exec_id: id,
                pack: p.pack.name.clone(),
                version: p.pack.version.clone(),
                plugin: p.plugin.name.clone(),
                digest: p.digest.clone(),
                declared: p.plugin.capabilities.clone(),
                grants,
                dry_run: opts.dry_run,
                actor: opts.actor.clone(),
                timeout,
                output_cap,
            },
        );
        let mut store = wasmtime::Store::new(
            self.engine.engine(),
            HostState {
                wasi,
                table: ResourceTable::new(),
                limiter: CallLimiter {
                    memory_cap: limits.memory_bytes as usize,
                    hit: None,
                },
                call,
            },
        );
        store.limiter(|s| &mut s.limiter);
        store.set_epoch_deadline(deadline_ticks(timeout));

        let started_at_ms = now_ms();
        let t0 = Instant::now();
        let outcome = p
            .pre
            .instantiate(&mut store)
            .and_then(|action| action.call_run(&mut store, &input, &ctx));
        let duration = t0.elapsed();
        let state = store.into_data();
        let ending = classify(outcome, &state, timeout, &stdout, &stderr);

        let mut logs = state.call.logs;
        append_pipe(&mut logs, "stdout", LogLevel::Info, &stdout, duration);
        append_pipe(&mut logs, "stderr", LogLevel::Warn, &stderr, duration);
        Ok(Execution {
            id,
            action,
            pack_version: p.pack.version.clone(),
            digest: p.digest.clone(),
            parameters: params,
            status: ending.status,
            result: ending.result,
            error: ending.error,
            dry_run: opts.dry_run,
            plan: opts.dry_run.then_some(state.call.plan),
            logs,
            actor: opts.actor.clone(),
            started_at_ms,
            finished_at_ms: now_ms(),
            duration_us: duration.as_micros() as u64,
        })
    }
}

/// Epoch ticks for a timeout, rounded up, at least one.
fn deadline_ticks(timeout: Duration) -> u64 {
    (timeout.as_nanos().div_ceil(EPOCH_TICK.as_nanos()) as u64).max(1)
}

/// Keeps what a plugin printed (it should log instead, but a panic report
/// lands on stderr) as log lines.
fn append_pipe(
    logs: &mut Vec<LogLine>,
    name: &str,
    level: LogLevel,
    pipe: &MemoryOutputPipe,
    at: Duration,
) {
    let bytes = pipe.contents();
    if bytes.is_empty() {
        return;
    }
    logs.push(LogLine {
        at_ms: at.as_millis() as u64,
        level,
        message: format!("[{name}] {}", String::from_utf8_lossy(&bytes).trim_end()),
    });
}
