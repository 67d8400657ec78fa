//! The sensor service: one thread per installed sensor (newest version of
//! each pack). It calls `poll` on the sensor's `poll_interval` and
//! `on-message` for each message of its host-owned subscriptions: NATS
//! subjects (one reader thread each, see [`crate::nats`]) and webhooks
//! (`POST /api/v1/webhooks/<pack>.<name>`, handed over by the HTTP layer
//! through [`crate::Intake::sensor_webhook`]). Each call runs
//! in a fresh sandbox (`Runtime::call_sensor`), and the triggers it emits
//! enter the pipeline through [`Intake::accept`] with source
//! `sensor:pack.name`.
//!
//! A call that traps, times out or fails (or emits a trigger intake
//! rejects) marks the sensor `failed` with the error, and the sensor is
//! retried after an exponential backoff ([`MIN_BACKOFF`] doubling up to
//! [`MAX_BACKOFF`]; messages wait meanwhile); a good call resets it to
//! `running`. State and counts are stored in `sensor_status` after every
//! call, for `drover sensor list`.
//!
//! Liveness follows the least-trusted link: a sensor of a shadow pack is
//! called as a dry run (its kv writes, HTTP calls, node changes and
//! commands are planned, counted in its status with the latest plan, and
//! audited as dry runs), and the triggers it emits are stored tainted, so
//! every rule they fire starts a dry run. Subscriptions are capabilities:
//! each is opened only under a `subscribe` grant that covers it (checked
//! and audited at start); a sensor with one that is not granted does not
//! run and is shown `blocked` with the grant to give.

use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, RecvTimeoutError, Sender, TrySendError};
use drover_host::{PreparedSensor, RunOptions, SensorInput};
use drover_pack::{Subscription, WebhookAuth};
use drover_store::SensorStatus;
use serde_json::Value;

use crate::Shared;
use crate::intake::Intake;
use crate::nats;

/// First wait after a failure.
pub const MIN_BACKOFF: Duration = Duration::from_secs(1);
/// Longest wait between retries.
pub const MAX_BACKOFF: Duration = Duration::from_secs(60);
/// How often waiting threads look at the stop flag.
const SLICE: Duration = Duration::from_millis(100);
/// Messages waiting for a sensor before new ones are dropped.
const QUEUE: usize = 1024;

/// One message of a subscription: its source and payload.
type Message = (String, Value);

/// A sensor's webhook subscription, for the HTTP layer: how senders
/// authenticate, and the sensor's message queue.
#[derive(Clone)]
pub struct SensorWebhook {
    /// `pack.plugin` of the sensor.
    pub sensor: String,
    pub auth: WebhookAuth,
    source: String,
    tx: Sender<Message>,
}

/// Why a webhook message did not reach its sensor's queue.
#[derive(Debug, thiserror::Error)]
pub enum DeliveryError {
    #[error("sensor {0} has {QUEUE} messages waiting; retry shortly")]
    Full(String),
    #[error("sensor {0} is not running")]
    Stopped(String),
}

impl SensorWebhook {
    /// Queues one message for the sensor's `on-message` (in memory, like a
    /// NATS message: what the sensor emits is stored, the message is not).
    pub fn deliver(&self, payload: Value) -> Result<(), DeliveryError> {
        match self.tx.try_send((self.source.clone(), payload)) {
            Ok(()) => Ok(()),
            Err(TrySendError::Full(_)) => Err(DeliveryError::Full(self.sensor.clone())),
            Err(TrySendError::Disconnected(_)) => Err(DeliveryError::Stopped(self.sensor.clone())),
        }
    }
}

/// Starts a thread per installed sensor (and per NATS subscription).
pub(crate) fn spawn(
    shared: Arc<Shared>,
    intake: Arc<Intake>,
    nats_url: Option<String>,
) -> Vec<JoinHandle<()>> {
    let sensors = match shared.app.runtime().installed_sensors() {
        Ok(sensors) => sensors,
        Err(e) => {
            tracing::error!(error = %e, "cannot load the installed sensors; none will run");
            return Vec::new();
        }
    };
    let mut threads = Vec::new();
    for sensor in sensors {
        let name = sensor.name();
        if let Some(why) = refused_subscriptions(&shared, &sensor) {
            tracing::warn!(sensor = %name, error = %why, "sensor blocked");
            save_blocked(&shared, &name, why);
            continue;
        }
        let (tx, rx) = crossbeam_channel::bounded::<Message>(QUEUE);
        let mut setup_error = None;
        for sub in &sensor.plugin.sensor.subscriptions {
            let subject = match sub {
                Subscription::Nats(subject) => subject,
                Subscription::Webhook { name: hook, auth } => {
                    let url = format!("{}.{hook}", sensor.pack.name);
                    tracing::info!(sensor = %name, webhook = %url, "webhook subscription");
                    shared
                        .sensor_webhooks
                        .write()
                        .unwrap_or_else(|p| p.into_inner())
                        .insert(
                            url,
                            SensorWebhook {
                                sensor: name.clone(),
                                auth: auth.clone(),
                                source: sub.to_string(),
                                tx: tx.clone(),
                            },
                        );
                    continue;
                }
            };
            let Some(url) = &nats_url else {
                setup_error = Some(format!(
                    "subscribes to {sub}, but no NATS server is configured: \
                     start `drover serve --nats nats://HOST:PORT` (or set DROVER_NATS_URL)"
                ));
                continue;
            };
            match nats::address(url) {
                Ok(addr) => threads.push(spawn_nats(
                    shared.clone(),
                    addr,
                    subject.clone(),
                    sub.to_string(),
                    name.clone(),
                    tx.clone(),
                )),
                Err(e) => setup_error = Some(e.to_string()),
            }
        }
        let shared = shared.clone();
        let intake = intake.clone();
        let spawned = shared
            .clone()
            .spawn(format!("drover-sensor-{name}"), move || {
                run_sensor(&shared, &intake, &sensor, tx, rx, setup_error)
            });
        match spawned {
            Ok(t) => threads.push(t),
            Err(e) => tracing::error!(sensor = %name, error = %e, "cannot start the sensor thread"),
        }
    }
    threads
}

/// Why `sensor` may not open its subscriptions (each needs a `subscribe`
/// grant covering it; every decision is audited), or `None`.
fn refused_subscriptions(shared: &Shared, sensor: &PreparedSensor) -> Option<String> {
    let mut refused = Vec::new();
    for sub in &sensor.plugin.sensor.subscriptions {
        match shared.app.runtime().check_subscription(sensor, sub) {
            Ok(check) if check.allowed() => {}
            Ok(check) => refused.push(format!("subscription {sub} refused: {}", check.reason)),
            Err(e) => refused.push(format!("subscription {sub}: cannot check its grant: {e}")),
        }
    }
    (!refused.is_empty()).then(|| {
        format!(
            "{}; the sensor does not run until then (restart drover serve after granting)",
            refused.join("; ")
        )
    })
}

/// Stores a sensor that does not run: `blocked`, with why.
fn save_blocked(shared: &Shared, name: &str, why: String) {
    let store = shared.app.store();
    let previous = store
        .list_sensor_status()
        .ok()
        .and_then(|all| all.into_iter().find(|s| s.name == name));
    let status = SensorStatus {
        name: name.to_owned(),
        state: "blocked".into(),
        last_error: Some(why),
        backoff_ms: None,
        ..previous.unwrap_or_default()
    };
    if let Err(e) = store.put_sensor_status(&status) {
        tracing::error!(sensor = %name, error = %e, "cannot store the sensor status");
    }
}

/// The state of one sensor's thread.
struct Driver<'a> {
    shared: &'a Shared,
    intake: &'a Intake,
    sensor: &'a PreparedSensor,
    opts: RunOptions,
    status: SensorStatus,
    backoff: Option<Duration>,
}

fn run_sensor(
    shared: &Shared,
    intake: &Intake,
    sensor: &PreparedSensor,
    // Kept so the channel stays open for a sensor with no subscriptions.
    _tx: Sender<Message>,
    rx: Receiver<Message>,
    setup_error: Option<String>,
) {
    let name = sensor.name();
    let previous = shared
        .app
        .store()
        .list_sensor_status()
        .ok()
        .and_then(|all| all.into_iter().find(|s| s.name == name));
    let mut d = Driver {
        shared,
        intake,
        sensor,
        opts: RunOptions {
            dry_run: false,
            actor: format!("sensor:{name}"),
            timeout: None,
        },
        // Counts go on from the previous run.
        status: SensorStatus {
            name: name.clone(),
            state: "running".into(),
            last_error: setup_error,
            backoff_ms: None,
            dry_run: shared
                .app
                .runtime()
                .sensor_is_shadow(sensor)
                .unwrap_or(true),
            ..previous.unwrap_or_default()
        },
        backoff: None,
    };
    d.save();
    let interval = sensor.plugin.sensor.poll_interval;
    let config = sensor.plugin.sensor.config.clone();
    let mut next_poll = interval.map(|_| Instant::now());
    let mut retry_at: Option<Instant> = None;
    while !shared.stopping() {
        let now = Instant::now();
        if let Some(at) = retry_at {
            if now < at {
                shared.stop.sleep(at - now);
                continue;
            }
            retry_at = None;
        }
        let wait = next_poll
            .map(|t| t.saturating_duration_since(now))
            .unwrap_or(SLICE)
            .min(SLICE);
        let failed = match rx.recv_timeout(wait) {
            Ok((source, payload)) => {
                d.status.messages += 1;
                d.call(SensorInput::Message {
                    source: &source,
                    payload: &payload,
                })
            }
            Err(RecvTimeoutError::Timeout) | Err(RecvTimeoutError::Disconnected) => {
                match (next_poll, interval) {
                    (Some(t), Some(every)) if Instant::now() >= t => {
                        next_poll = Some(Instant::now() + every);
                        d.status.polls += 1;
                        d.call(SensorInput::Poll { config: &config })
                    }
                    _ => continue,
                }
            }
        };
        if let Some(wait) = failed {
            let at = Instant::now() + wait;
            retry_at = Some(at);
            // The retry is a poll: the restart the operator sees.
            if next_poll.is_some() {
                next_poll = Some(at);
            }
        }
    }
    d.status.state = "stopped".into();
    d.status.backoff_ms = None;
    d.save();
}

impl Driver<'_> {
    /// One call; on failure, the backoff to wait before the next.
    fn call(&mut self, input: SensorInput<'_>) -> Option<Duration> {
        let name = self.status.name.clone();
        // Asked on every call: a promotion applies from the next one, and
        // a pack we cannot look up is treated as untrusted.
        let shadow = self
            .shared
            .app
            .runtime()
            .sensor_is_shadow(self.sensor)
            .unwrap_or_else(|e| {
                tracing::warn!(sensor = %name, error = %e, "cannot read the pack's trust; calling it dry");
                true
            });
        self.opts.dry_run = shadow;
        self.status.dry_run = shadow;
        let result = match self
            .shared
            .app
            .runtime()
            .call_sensor(self.sensor, input, &self.opts)
        {
            Ok(call) => {
                if !call.plan.is_empty() {
                    tracing::info!(sensor = %name, planned = call.plan.len(), "shadow sensor: effects planned, not performed");
                    self.status.planned += call.plan.len() as u64;
                    self.status.last_plan = Some(call.plan);
                }
                call.outcome.map_err(|f| {
                    format!(
                        "{}: {}",
                        match f.kind {
                            drover_host::SensorFailureKind::Trap => "trap",
                            drover_host::SensorFailureKind::Timeout => "timeout",
                            drover_host::SensorFailureKind::Error => "error",
                        },
                        f.message
                    )
                })
            }
            Err(e) => Err(format!("error: {e}")),
        };
        let outcome = result.and_then(|triggers| {
            for t in triggers {
                let accepted = self
                    .intake
                    .accept_from(&t.trigger_type, t.payload, &self.opts.actor, shadow)
                    .and_then(|a| a.wait());
                match accepted {
                    Ok(id) => {
                        self.status.triggers += 1;
                        tracing::debug!(sensor = %name, trigger = %t.trigger_type, %id, "trigger accepted");
                    }
                    Err(e) => return Err(format!("error: trigger rejected: {e}")),
                }
            }
            Ok(())
        });
        let wait = match outcome {
            Ok(()) => {
                self.backoff = None;
                self.status.state = "running".into();
                self.status.backoff_ms = None;
                None
            }
            Err(message) => {
                let wait = self
                    .backoff
                    .map_or(MIN_BACKOFF, |b| (b * 2).min(MAX_BACKOFF));
                self.backoff = Some(wait);
                tracing::warn!(sensor = %name, error = %message, retry_in = ?wait, "sensor failed");
                self.status.failures += 1;
                self.status.state = "failed".into();
                self.status.last_error = Some(message);
                self.status.backoff_ms = Some(wait.as_millis() as u64);
                Some(wait)
            }
        };
        self.save();
        wait
    }

    fn save(&self) {
        if let Err(e) = self.shared.app.store().put_sensor_status(&self.status) {
            tracing::error!(sensor = %self.status.name, error = %e, "cannot store the sensor status");
        }
    }
}

/// Reads `subject` on `addr` and hands each message to the sensor,
/// reconnecting with backoff until the pipeline stops.
fn spawn_nats(
    shared: Arc<Shared>,
    addr: String,
    subject: String,
    source: String,
    sensor: String,
    tx: Sender<Message>,
) -> JoinHandle<()> {
    shared
        .clone()
        .spawn(format!("drover-nats-{subject}"), move || {
            let mut backoff = MIN_BACKOFF;
            while !shared.stopping() {
                let mut sub = match nats::Subscriber::connect(&addr, &subject) {
                    Ok(sub) => {
                        tracing::info!(%sensor, %source, "subscribed");
                        backoff = MIN_BACKOFF;
                        sub
                    }
                    Err(e) => {
                        tracing::warn!(%sensor, %source, error = %e, retry_in = ?backoff, "cannot subscribe");
                        shared.stop.sleep(backoff);
                        backoff = (backoff * 2).min(MAX_BACKOFF);
                        continue;
                    }
                };
                while !shared.stopping() {
                    match sub.next_message() {
                        Ok(None) => {}
                        Ok(Some(bytes)) => {
                            // A payload that is not JSON reaches the sensor
                            // as a JSON string.
                            let payload = serde_json::from_slice(&bytes).unwrap_or_else(|_| {
                                Value::String(String::from_utf8_lossy(&bytes).into_owned())
                            });
                            if let Err(TrySendError::Full(_)) = tx.try_send((source.clone(), payload)) {
                                tracing::warn!(%sensor, %source, "sensor queue full: message dropped");
                            }
                        }
                        Err(e) => {
                            tracing::warn!(%sensor, %source, error = %e, "NATS connection lost");
                            break;
                        }
                    }
                }
            }
        })
        .expect("spawn a NATS reader thread")
}
