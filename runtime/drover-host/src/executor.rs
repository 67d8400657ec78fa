//! The executor: from an action reference and parameters to a stored
//! execution. Errors before any Wasm runs (unknown action, bad parameter)
//! are [`RunError`]s and store nothing; everything after is an
//! [`Execution`] with a status, stored before `run` returns.

use std::collections::HashMap;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use drover_core::{Execution, ExecutionId, LogLevel, LogLine, now_ms};
use drover_pack::{ActionRef, Pack, ParamError, Plugin, PluginKind};
use serde_json::Value;
use wasmtime::UpdateDeadline;
use wasmtime::component::InstancePre;
use wasmtime::component::ResourceTable;
use wasmtime_wasi::WasiCtx;
use wasmtime_wasi::p2::pipe::MemoryOutputPipe;

use crate::bindings::sensor::SensorPre;
use crate::bindings::{ActionPre, Context};
use crate::cache::ComponentCache;
use crate::call::{CallCtx, CallSpec, HostState, Services, classify};
use crate::engine::{EPOCH_TICK, MAX_CONCURRENT_CALLS, PluginEngine};
use crate::functions::FunctionCache;
use crate::grants::GrantSet;
use crate::limits::{CallLimiter, Permits};
use crate::ports::{PortError, Ports};

/// Why an action could not be run at all.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error("no pack named {pack:?} is installed{hint}", hint = installed_hint(installed))]
    UnknownPack {
        pack: String,
        installed: Vec<String>,
    },
    #[error("pack {pack} has no installed version {version:?} (see `drover pack list`)")]
    UnknownVersion { pack: String, version: String },
    #[error("pack {pack} has no action {action:?} (its actions: {available})", available = available.join(", "))]
    UnknownAction {
        pack: String,
        action: String,
        available: Vec<String>,
    },
    #[error("{action} is a sensor, not an action; sensors are started by `drover serve`")]
    NotAnAction { action: String },
    #[error("{action} is a workflow (runner: workflow); run it with `drover run {action}`")]
    IsWorkflow { action: String },
    #[error("{sensor} is an action, not a sensor")]
    NotASensor { sensor: String },
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
    Backend(#[from] PortError),
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
    /// The pack version is in shadow mode: every run of it is a dry run,
    /// whatever the caller asks (liveness follows the least-trusted link).
    pub shadow: bool,
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
    /// Instantiation-ready sensor components by digest.
    pub(crate) sensor_pres: Mutex<HashMap<String, SensorPre<HostState>>>,
    permits: Permits,
}

impl Runtime {
    /// A runtime over `ports` (storage and the fleet), caching compiled
    /// components in `cache_dir`.
    pub fn new(ports: Arc<dyn Ports>, cache_dir: &Path) -> Result<Runtime, RunError> {
        let functions = Arc::new(FunctionCache::new(cache_dir));
        let engine = PluginEngine::new(Some(functions.clone()))
            .map_err(|e| RunError::Setup(format!("wasmtime engine: {e:#}")))?;
        let cache =
            ComponentCache::new(cache_dir, engine.engine(), Some(functions)).map_err(|e| {
                RunError::Setup(format!("component cache {}: {e}", cache_dir.display()))
            })?;
        Ok(Runtime {
            services: Arc::new(Services {
                ports,
                http: crate::caps::http_client(),
                ssh: crate::ssh::SshSettings::default(),
                lookup: Box::new(crate::net::SystemLookup),
            }),
            engine,
            cache,
            prepared: Mutex::new(HashMap::new()),
            sensor_pres: Mutex::new(HashMap::new()),
            permits: Permits::new(MAX_CONCURRENT_CALLS),
        })
    }

    /// Where the `command` interface finds its ssh files (see
    /// [`crate::ssh`]). Call before the runtime serves any call.
    pub fn with_ssh(mut self, ssh: crate::ssh::SshSettings) -> Runtime {
        match Arc::get_mut(&mut self.services) {
            Some(services) => services.ssh = ssh,
            None => tracing::error!("with_ssh called on a runtime already in use; ignored"),
        }
        self
    }

    fn ports(&self) -> &dyn Ports {
        &*self.services.ports
    }

    /// Forgets the components readied so far: after an install, a digest's
    /// pack may have changed.
    pub fn forget_prepared(&self) {
        self.prepared
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clear();
        self.sensor_pres
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clear();
    }

    /// Looks an action up in the installed packs (the live version of its
    /// pack: the newest trusted one, else the newest) and readies its
    /// component.
    pub fn prepare(&self, action: &ActionRef) -> Result<Prepared, RunError> {
        self.prepare_version(action, None)
    }

    /// [`Runtime::prepare`] for a given installed version of the pack (a
    /// shadowed candidate runs dry), or the live one with `None`.
    pub fn prepare_version(
        &self,
        action: &ActionRef,
        version: Option<&str>,
    ) -> Result<Prepared, RunError> {
        let (pack, plugin, digest, shadow) = self.lookup_in(action, PluginKind::Action, version)?;
        if plugin.kind != PluginKind::Action {
            return Err(RunError::NotAnAction {
                action: action.to_string(),
            });
        }
        if plugin.is_workflow() {
            return Err(RunError::IsWorkflow {
                action: action.to_string(),
            });
        }
        let pre = self.action_pre(&action.to_string(), &digest)?;
        Ok(Prepared {
            pack: Arc::new(pack),
            plugin,
            digest,
            shadow,
            pre,
        })
    }

    /// The pack (live version) and plugin of an action, whether a component
    /// or a workflow.
    pub fn action_plugin(&self, action: &ActionRef) -> Result<(Arc<Pack>, Plugin), RunError> {
        self.action_plugin_version(action, None)
    }

    /// [`Runtime::action_plugin`] for a given installed version of the pack,
    /// or the live one with `None`.
    pub fn action_plugin_version(
        &self,
        action: &ActionRef,
        version: Option<&str>,
    ) -> Result<(Arc<Pack>, Plugin), RunError> {
        let (pack, plugin, _, _) = self.lookup_in(action, PluginKind::Action, version)?;
        if plugin.kind != PluginKind::Action {
            return Err(RunError::NotAnAction {
                action: action.to_string(),
            });
        }
        Ok((Arc::new(pack), plugin))
    }

    /// Whether the installed pack version `pack` is in shadow mode (true
    /// when it is no longer installed, or cannot be read: when in doubt, a
    /// run is dry).
    pub fn is_shadow(&self, pack: &Pack) -> bool {
        self.ports()
            .installed(&pack.name, Some(&pack.version))
            .ok()
            .flatten()
            .is_none_or(|p| p.shadow)
    }

    /// The pack (live version), plugin and component digest of `reference`;
    /// `kind` only shapes the "its actions/sensors" hint.
    pub(crate) fn lookup(
        &self,
        reference: &ActionRef,
        kind: PluginKind,
    ) -> Result<(Pack, Plugin, String), RunError> {
        let (pack, plugin, digest, _) = self.lookup_in(reference, kind, None)?;
        Ok((pack, plugin, digest))
    }

    /// [`Runtime::lookup`] in pack version `version` (the live one when
    /// `None`), with whether that version is in shadow mode.
    pub(crate) fn lookup_in(
        &self,
        reference: &ActionRef,
        kind: PluginKind,
        version: Option<&str>,
    ) -> Result<(Pack, Plugin, String, bool), RunError> {
        let ports = self.ports();
        let Some(installed) = ports.installed(&reference.pack, version)? else {
            let mut names: Vec<String> = ports
                .all_installed()?
                .into_iter()
                .map(|p| p.pack.name)
                .collect();
            names.dedup();
            if let Some(version) = version.filter(|_| names.contains(&reference.pack)) {
                return Err(RunError::UnknownVersion {
                    pack: reference.pack.clone(),
                    version: version.to_owned(),
                });
            }
            return Err(RunError::UnknownPack {
                pack: reference.pack.clone(),
                installed: names,
            });
        };
        let shadow = installed.shadow;
        let pack = installed.pack;
        let Some(plugin) = pack.plugin(&reference.plugin).cloned() else {
            return Err(RunError::UnknownAction {
                pack: pack.reference(),
                action: reference.plugin.clone(),
                available: pack
                    .plugins
                    .iter()
                    .filter(|p| p.kind == kind)
                    .map(|p| p.name.clone())
                    .collect(),
            });
        };
        if plugin.is_workflow() {
            // A workflow has no component.
            return Ok((pack, plugin, String::new(), shadow));
        }
        let digest = installed
            .digests
            .get(&plugin.name)
            .cloned()
            .ok_or_else(|| PortError::Failed(format!("{reference} has no component record")))?;
        Ok((pack, plugin, digest, shadow))
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
        let pre = self
            .instance_pre(action, digest)
            .and_then(|pre| ActionPre::new(pre).map_err(|e| component_err(action, digest, e)))?;
        self.prepared
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(digest.to_owned(), pre.clone());
        Ok(pre)
    }

    /// Loads the component `digest` (compiled cache, else the stored blob)
    /// and resolves its imports against the linker.
    pub(crate) fn instance_pre(
        &self,
        plugin: &str,
        digest: &str,
    ) -> Result<InstancePre<HostState>, RunError> {
        let ports = self.services.ports.clone();
        let (component, _) = self
            .cache
            .load(self.engine.engine(), digest, || {
                ports
                    .component(digest)
                    .map_err(|e| wasmtime::format_err!("{e}"))?
                    .ok_or_else(|| {
                        wasmtime::format_err!("the component blob is missing; reinstall the pack")
                    })
            })
            .map_err(|e| component_err(plugin, digest, e))?;
        self.engine
            .linker()
            .instantiate_pre(&component)
            .map_err(|e| component_err(plugin, digest, e))
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
        self.ports().execution(exec.clone())?;
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
        self.execute_as(ExecutionId::new(), p, params, opts)
    }

    /// [`Runtime::execute`] under an id chosen beforehand (a queued
    /// request's).
    pub fn execute_as(
        &self,
        id: ExecutionId,
        p: &Prepared,
        params: Value,
        opts: &RunOptions,
    ) -> Result<Execution, RunError> {
        // A shadow pack's action is dry whoever calls it: a trusted rule or
        // workflow, an operator, the API.
        let shadowed;
        let opts = if p.shadow && !opts.dry_run {
            shadowed = RunOptions {
                dry_run: true,
                ..opts.clone()
            };
            &shadowed
        } else {
            opts
        };
        let action = p.action();
        let input = params.to_string();
        let ctx = Context {
            execution_id: id.to_string(),
            action: action.clone(),
            pack_version: p.pack.version.clone(),
            dry_run: opts.dry_run,
        };
        let run = self.sandboxed(id, &p.pack, &p.plugin, &p.digest, opts, |store| {
            let instance = p.pre.instantiate(&mut *store)?;
            instance.call_run(&mut *store, &input, &ctx)
        })?;
        let ending = classify(
            run.outcome,
            &run.state,
            run.timeout,
            opts.timeout.is_some(),
            &run.stdout,
            &run.stderr,
        );
        let logs = run_logs(run.state.call.logs, &run.stdout, &run.stderr, run.duration);
        let mut exec = Execution {
            id,
            action,
            pack_version: p.pack.version.clone(),
            digest: p.digest.clone(),
            parameters: params,
            status: ending.status,
            result: ending.result,
            error: ending.error,
            dry_run: opts.dry_run,
            plan: opts.dry_run.then_some(run.state.call.plan),
            logs,
            actor: opts.actor.clone(),
            started_at_ms: run.started_at_ms,
            finished_at_ms: now_ms(),
            duration_us: run.duration.as_micros() as u64,
        };
        // Secret values the call read appear nowhere a viewer reads.
        run.state.call.secrets.execution(&mut exec);
        Ok(exec)
    }

    /// Runs `call` against a fresh sandbox for `plugin`: its grants, limits,
    /// epoch deadline, empty WASI context, audit and dry-run handling.
    /// Shared by actions and sensors.
    pub(crate) fn sandboxed<T>(
        &self,
        id: ExecutionId,
        pack: &Pack,
        plugin: &Plugin,
        digest: &str,
        opts: &RunOptions,
        call: impl FnOnce(&mut wasmtime::Store<HostState>) -> wasmtime::Result<T>,
    ) -> Result<SandboxRun<T>, RunError> {
        // Grants are only consulted for a declared capability that needs
        // one (see `GrantSet::check`), so a plugin that declares none, like
        // `core.noop`, skips the database read: it was about a fifth of such
        // a call (docs/perf.md). They are not cached across calls because
        // `drover grant` may change them from another process.
        // A `kv` access to another scope reads them when it happens
        // (`GrantSet::unloaded`).
        let grants = if plugin.capabilities.iter().any(|c| c.needs_grant()) {
            let active = self.ports().active_grants(&pack.name, &pack.version)?;
            GrantSet::new(&pack.name, &pack.version, active)
        } else {
            GrantSet::unloaded(&pack.name, &pack.version)
        };
        let limits = &plugin.limits;
        let timeout = opts.timeout.unwrap_or(limits.timeout);
        let output_cap = limits.output_bytes as usize;

        let _permit = self.permits.acquire();
        let stdout = MemoryOutputPipe::new(output_cap);
        let stderr = MemoryOutputPipe::new(output_cap);
        // No preopens, env, args or network: the plugin reaches the world
        // through drover's interfaces only.
        let wasi = WasiCtx::builder()
            .stdout(stdout.clone())
            .stderr(stderr.clone())
            .build();
        let call_ctx = CallCtx::new(
            self.services.clone(),
            CallSpec {
                exec_id: id,
                pack: pack.name.clone(),
                version: pack.version.clone(),
                plugin: plugin.name.clone(),
                digest: digest.to_owned(),
                declared: plugin.capabilities.clone(),
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
                limiter: CallLimiter::new(limits.memory_bytes as usize),
                call: call_ctx,
            },
        );
        store.limiter(|s| &mut s.limiter);
        store.set_epoch_deadline(deadline_ticks(timeout));
        // Epochs only approximate the clock (a deadline set just before a
        // tick expires up to a tick early; a late ticker catches up in a
        // burst): at each expiry, stop only once the deadline has passed.
        store.epoch_deadline_callback(|store| {
            let left = store.data().call.remaining();
            Ok(if left.is_zero() {
                UpdateDeadline::Interrupt
            } else {
                UpdateDeadline::Continue(deadline_ticks(left))
            })
        });

        let started_at_ms = now_ms();
        let t0 = Instant::now();
        let outcome = call(&mut store);
        let duration = t0.elapsed();
        Ok(SandboxRun {
            outcome,
            state: store.into_data(),
            stdout,
            stderr,
            timeout,
            started_at_ms,
            duration,
        })
    }
}

/// What one sandboxed call left behind, for its caller to classify.
pub(crate) struct SandboxRun<T> {
    pub(crate) outcome: wasmtime::Result<T>,
    pub(crate) state: HostState,
    pub(crate) stdout: MemoryOutputPipe,
    pub(crate) stderr: MemoryOutputPipe,
    pub(crate) timeout: Duration,
    pub(crate) started_at_ms: i64,
    pub(crate) duration: Duration,
}

/// The call's log lines followed by what it printed.
pub(crate) fn run_logs(
    mut logs: Vec<LogLine>,
    stdout: &MemoryOutputPipe,
    stderr: &MemoryOutputPipe,
    duration: Duration,
) -> Vec<LogLine> {
    append_pipe(&mut logs, "stdout", LogLevel::Info, stdout, duration);
    append_pipe(&mut logs, "stderr", LogLevel::Warn, stderr, duration);
    logs
}

pub(crate) fn component_err(plugin: &str, digest: &str, e: wasmtime::Error) -> RunError {
    RunError::Component {
        action: plugin.to_owned(),
        digest: digest.to_owned(),
        message: format!("{e:#}"),
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
