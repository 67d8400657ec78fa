//! drover's event pipeline, as plain threads around the store:
//!
//! ```text
//! intake (webhooks, sensors, timers) ──► trigger_instances (pending)
//!        rules stage ──► enforcements + execution_requests (one transaction)
//!        scheduler   ──► claims requests, runs them on worker threads,
//!                        stores each execution with its request's end
//! ```
//!
//! Every arrow is a SQLite transaction, so a crash between stages loses and
//! doubles nothing: a restarted pipeline finds pending triggers and queued
//! requests where they were. Stages wake each other through in-memory
//! signals and also poll, so a missed signal only delays work.
//!
//! - [`catalog`]: trigger types and rules of the installed packs;
//! - [`intake`]: accepting a trigger instance (validation, back-pressure);
//! - [`rules_stage`], [`scheduler`]: the two stages;
//! - [`sensors`]: a thread per sensor (poll, NATS messages, backoff);
//!   [`nats`]: the small NATS subscriber behind it;
//! - [`timers`]: interval, cron and date timers (st2's `core.st2.*Timer`);
//! - [`Pipeline`]: starts and stops them.

pub mod catalog;
pub mod intake;
pub mod metrics;
pub mod nats;
mod rules_stage;
mod scheduler;
pub mod sensors;
mod signal;
pub mod timers;
pub mod workflows;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::Duration;

use drover_host::Runtime;

pub use catalog::{Catalog, CatalogError, PackRules, read_pack_rules, store_pack_rules};
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
}

impl Default for PipelineConfig {
    fn default() -> Self {
        PipelineConfig {
            workers: 8,
            max_intake_in_flight: 4096,
            nats_url: None,
        }
    }
}

/// Shared by the stages.
pub(crate) struct Shared {
    pub(crate) runtime: Arc<Runtime>,
    pub(crate) catalog: Arc<Catalog>,
    pub(crate) metrics: Arc<Metrics>,
    pub(crate) triggers_waiting: Signal,
    pub(crate) requests_waiting: Signal,
    pub(crate) stop: AtomicBool,
}

/// The running pipeline. Dropping it without [`Pipeline::shutdown`] stops
/// the threads without waiting for them.
pub struct Pipeline {
    shared: Arc<Shared>,
    intake: Arc<Intake>,
    threads: Vec<JoinHandle<()>>,
}

impl Pipeline {
    /// Recovers what a previous process left (interrupted executions),
    /// then starts the rules stage, the scheduler and its workers.
    pub fn start(runtime: Arc<Runtime>, config: PipelineConfig) -> Result<Pipeline, CatalogError> {
        let catalog = Arc::new(Catalog::load(runtime.store())?);
        let shared = Arc::new(Shared {
            runtime,
            catalog,
            metrics: Arc::new(Metrics::default()),
            triggers_waiting: Signal::default(),
            requests_waiting: Signal::default(),
            stop: AtomicBool::new(false),
        });
        scheduler::recover(&shared);
        if let Err(e) = workflows::recover_runs(&shared.runtime) {
            tracing::error!(error = %e, "cannot queue unfinished workflow runs");
        }
        let intake = Arc::new(Intake::new(shared.clone(), config.max_intake_in_flight));
        let mut threads = vec![rules_stage::spawn(shared.clone())];
        threads.extend(scheduler::spawn(shared.clone(), config.workers));
        threads.extend(timers::spawn(shared.clone()));
        threads.push(workflows::ask::spawn_expiry(shared.clone()));
        threads.extend(sensors::spawn(
            shared.clone(),
            intake.clone(),
            config.nats_url,
        ));
        Ok(Pipeline {
            shared,
            intake,
            threads,
        })
    }

    /// Where trigger instances enter.
    pub fn intake(&self) -> Arc<Intake> {
        self.intake.clone()
    }

    pub fn catalog(&self) -> Arc<Catalog> {
        self.shared.catalog.clone()
    }

    pub fn metrics(&self) -> Arc<Metrics> {
        self.shared.metrics.clone()
    }

    /// Stops taking new work and waits (up to `grace`) for running
    /// executions to finish and be stored; what is left is recovered by
    /// the next start.
    pub fn shutdown(self, grace: Duration) {
        self.shared.stop.store(true, Ordering::SeqCst);
        self.shared.triggers_waiting.notify();
        self.shared.requests_waiting.notify();
        let deadline = std::time::Instant::now() + grace;
        for t in self.threads {
            while !t.is_finished() && std::time::Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(10));
            }
            if t.is_finished() {
                let _ = t.join();
            }
        }
    }
}

impl Shared {
    pub(crate) fn stopping(&self) -> bool {
        self.stop.load(Ordering::SeqCst)
    }
}
