//! drover's event pipeline, as plain threads around the store:
//!
//! ```text
//! intake (webhooks, sensors, timers) ──► trigger_instances (pending)
//!        rules stage ──► enforcements + execution_requests (one transaction)
//!        scheduler   ──► claims requests (concurrency policies decide,
//!                        from semaphore slots in the same transaction),
//!                        runs them on worker threads, stores each
//!                        execution with its request's end (and a retry)
//! ```
//!
//! Every arrow is a SQLite transaction, so a crash between stages loses and
//! doubles nothing: a restarted pipeline finds pending triggers and queued
//! requests where they were. Stages wake each other through in-memory
//! signals and also poll, so a missed signal only delays work. Every
//! thread hangs on the pipeline's node of the stop tree
//! ([`drover_core::Stop`]): stopping it wakes them all at once.
//!
//! - [`catalog`]: trigger types, rules and policies of the installed packs,
//!   reloaded when the store's catalog generation changes;
//! - [`policies`]: action concurrency and retry policies;
//! - [`intake`]: accepting a trigger instance (validation, back-pressure);
//! - [`rules_stage`], [`scheduler`]: the two stages;
//! - [`sensors`]: a thread per sensor (poll, NATS messages, backoff);
//!   [`nats`]: the small NATS subscriber behind it;
//! - [`timers`]: interval, cron and date timers (st2's `core.st2.*Timer`);
//! - [`replay`]: stored trigger instances through a candidate pack version,
//!   as dry runs on a scratch copy, next to what the live version did;
//! - [`pack_test`]: `drover pack test`, a pack's own tests on a scratch
//!   database;
//! - [`retention`]: the collector deleting history past its retention;
//! - [`Pipeline`]: starts and stops them.

pub mod catalog;
pub mod intake;
pub mod metrics;
pub mod nats;
pub mod pack_test;
pub mod policies;
pub mod replay;
pub mod retention;
mod rules_stage;
mod scheduler;
pub mod sensors;
mod signal;
pub mod timers;
pub mod workflows;

use std::collections::HashMap;
use std::sync::mpsc::{self, Receiver, Sender};
use std::sync::{Arc, Mutex, RwLock};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use drover_app::App;
use drover_core::Stop;

pub use catalog::{Catalog, CatalogError, PackRules, read_pack_rules};
pub use intake::{Intake, IntakeError};
pub use metrics::Metrics;
use signal::Signal;

/// How the pipeline runs.
#[derive(Clone, Debug)]
pub struct PipelineConfig {
    /// Worker threads running plugins.
    pub workers: usize,
    /// Trigger instances accepted but not yet durable before intake says
    /// "busy" (HTTP 429): bounds memory under overload.
    pub max_intake_in_flight: usize,
    /// NATS server for sensors' subscriptions (`nats://HOST:PORT`).
    pub nats_url: Option<String>,
    /// How often the store's catalog generation is checked for changed
    /// packs, rules and policies.
    pub reload_every: Duration,
    /// How often the retention collector runs (`None`: never).
    pub gc_every: Option<Duration>,
    /// The node of the stop tree the pipeline hangs under (`drover
    /// serve`'s root); stopping it stops the pipeline.
    pub stop: Stop,
}

impl Default for PipelineConfig {
    fn default() -> Self {
        PipelineConfig {
            workers: 8,
            max_intake_in_flight: 4096,
            nats_url: None,
            reload_every: Duration::from_millis(500),
            gc_every: None,
            stop: Stop::new(),
        }
    }
}

/// Shared by the stages.
pub(crate) struct Shared {
    pub(crate) app: Arc<App>,
    catalog: RwLock<Arc<Catalog>>,
    pub(crate) metrics: Arc<Metrics>,
    pub(crate) triggers_waiting: Signal,
    pub(crate) requests_waiting: Signal,
    /// The pipeline's node of the stop tree.
    pub(crate) stop: Stop,
    /// Each thread says here that it ended (see [`Shared::spawn`]).
    ended: Mutex<Sender<()>>,
    /// Sensors' webhook subscriptions by `pack.name`, set when sensors start.
    pub(crate) sensor_webhooks: RwLock<HashMap<String, sensors::SensorWebhook>>,
}

/// The running pipeline. Dropping it without [`Pipeline::shutdown`] stops
/// the threads without waiting for them.
pub struct Pipeline {
    shared: Arc<Shared>,
    intake: Arc<Intake>,
    threads: Vec<JoinHandle<()>>,
    ended: Receiver<()>,
}

impl Pipeline {
    /// Recovers what a previous process left (interrupted executions),
    /// then starts the rules stage, the scheduler and its workers.
    pub fn start(app: Arc<App>, config: PipelineConfig) -> Result<Pipeline, CatalogError> {
        let catalog = Arc::new(Catalog::load(&app)?);
        let (ended_tx, ended) = mpsc::channel();
        let shared = Arc::new(Shared {
            app,
            catalog: RwLock::new(catalog),
            metrics: Arc::new(Metrics::default()),
            triggers_waiting: Signal::default(),
            requests_waiting: Signal::default(),
            stop: config.stop.child(),
            ended: Mutex::new(ended_tx),
            sensor_webhooks: RwLock::new(HashMap::new()),
        });
        scheduler::recover(&shared);
        if let Err(e) = workflows::recover_runs(&shared.app) {
            tracing::error!(error = %e, "cannot queue unfinished workflow runs");
        }
        let intake = Arc::new(Intake::new(shared.clone(), config.max_intake_in_flight));
        let mut threads = vec![
            rules_stage::spawn(shared.clone()),
            spawn_reloader(shared.clone(), config.reload_every),
        ];
        threads.extend(scheduler::spawn(shared.clone(), config.workers));
        threads.extend(timers::spawn(shared.clone()));
        threads.push(workflows::ask::spawn_expiry(shared.clone()));
        if let Some(every) = config.gc_every {
            threads.push(retention::spawn(shared.clone(), every));
        }
        threads.extend(sensors::spawn(
            shared.clone(),
            intake.clone(),
            config.nats_url,
        ));
        Ok(Pipeline {
            shared,
            intake,
            threads,
            ended,
        })
    }

    /// Where trigger instances enter.
    pub fn intake(&self) -> Arc<Intake> {
        self.intake.clone()
    }

    /// The catalog in use now (it is replaced when packs or rules change).
    pub fn catalog(&self) -> Arc<Catalog> {
        self.shared.catalog()
    }

    pub fn metrics(&self) -> Arc<Metrics> {
        self.shared.metrics.clone()
    }

    /// Stops taking new work and waits (up to `grace`) for running
    /// executions to finish and be stored; what is left is recovered by
    /// the next start.
    pub fn shutdown(self, grace: Duration) {
        self.shared.stop.stop();
        self.shared.triggers_waiting.notify();
        self.shared.requests_waiting.notify();
        let deadline = Instant::now() + grace;
        // Every thread sends one message when it ends (those already ended
        // have sent theirs).
        let mut left = self.threads.len();
        while left > 0 {
            let wait = deadline.saturating_duration_since(Instant::now());
            if self.ended.recv_timeout(wait).is_err() {
                break;
            }
            left -= 1;
        }
        for t in self.threads.into_iter().filter(JoinHandle::is_finished) {
            let _ = t.join();
        }
    }
}

impl Shared {
    pub(crate) fn stopping(&self) -> bool {
        self.stop.is_stopped()
    }

    /// Starts a named pipeline thread that says when it ended, so
    /// [`Pipeline::shutdown`] waits for the threads without polling them.
    pub(crate) fn spawn(
        &self,
        name: String,
        body: impl FnOnce() + Send + 'static,
    ) -> std::io::Result<JoinHandle<()>> {
        /// Says so on drop: a thread that panics has ended too.
        struct Ended(Sender<()>);
        impl Drop for Ended {
            fn drop(&mut self) {
                let _ = self.0.send(());
            }
        }
        let ended = Ended(self.ended.lock().unwrap_or_else(|p| p.into_inner()).clone());
        std::thread::Builder::new().name(name).spawn(move || {
            let _ended = ended;
            body()
        })
    }

    /// The current catalog: a snapshot, consistent for as long as it is held.
    pub(crate) fn catalog(&self) -> Arc<Catalog> {
        self.catalog
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// Loads the catalog again if the store's generation moved; the new one
    /// replaces the old in one step, so a stage sees either, never a mix.
    /// A catalog that does not load is logged and the old one kept.
    fn reload_if_changed(&self, failed_at: &mut Option<i64>) {
        let store = self.app.store();
        let now = match store.catalog_generation() {
            Ok(g) => g,
            Err(e) => {
                tracing::warn!(error = %e, "cannot read the catalog generation");
                return;
            }
        };
        if now == self.catalog().generation() || *failed_at == Some(now) {
            return;
        }
        match Catalog::load(&self.app) {
            Ok(catalog) => {
                tracing::info!(
                    generation = catalog.generation(),
                    rules = catalog.rules().len(),
                    "packs, rules or policies changed: catalog reloaded"
                );
                *self.catalog.write().unwrap_or_else(|p| p.into_inner()) = Arc::new(catalog);
                *failed_at = None;
                self.triggers_waiting.notify();
                self.requests_waiting.notify();
            }
            Err(e) => {
                tracing::error!(error = %e, "cannot reload the catalog; keeping the previous one");
                *failed_at = Some(now);
            }
        }
    }
}

/// Checks the catalog generation every `every` until the pipeline stops.
fn spawn_reloader(shared: Arc<Shared>, every: Duration) -> JoinHandle<()> {
    shared
        .clone()
        .spawn("drover-reload".into(), move || {
            let mut failed_at = None;
            while !shared.stop.sleep(every) {
                shared.reload_if_changed(&mut failed_at);
            }
        })
        .expect("spawn the catalog reloader")
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `drover serve` stops the pipeline through its root: every thread
    /// wakes and ends, and shutdown returns without using its grace.
    #[test]
    fn stopping_the_parent_stops_every_pipeline_thread() {
        let dir = tempfile::tempdir().unwrap();
        let store = drover_store::Store::open(&dir.path().join("drover.db")).unwrap();
        let app = Arc::new(App::with_defaults(store, &dir.path().join("cache")).unwrap());
        let root = Stop::new();
        let pipeline = Pipeline::start(
            app,
            PipelineConfig {
                workers: 2,
                // Long enough that a thread still sleeping on its own
                // timer would hold shutdown far past the bound below.
                reload_every: Duration::from_secs(600),
                gc_every: Some(Duration::from_secs(600)),
                stop: root.clone(),
                ..PipelineConfig::default()
            },
        )
        .unwrap();
        let threads = pipeline.threads.len();
        assert!(threads >= 6, "{threads} threads");
        root.stop();
        assert!(
            pipeline.shared.stopping(),
            "the pipeline's node is under root"
        );
        let started = Instant::now();
        pipeline.shutdown(Duration::from_secs(300));
        let took = started.elapsed();
        assert!(took < Duration::from_secs(60), "shutdown took {took:?}");
    }
}
