//! Accepting trigger instances: check the type and the payload, store the
//! instance durably, wake the rules stage. Bounded: past
//! `max_in_flight` instances not yet durable, new ones are refused as busy
//! (HTTP 429 with Retry-After) instead of queueing without limit.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use drover_core::{TriggerInstance, now_ms};
use drover_pack::{ParamError, TriggerType};
use drover_store::{Pending, StoreError};
use serde_json::Value;

use crate::Shared;

#[derive(Debug, thiserror::Error)]
pub enum IntakeError {
    #[error("no trigger type {0:?} is installed")]
    UnknownTrigger(String),
    #[error("payload of {trigger}: {problem}")]
    InvalidPayload {
        trigger: String,
        problem: ParamError,
    },
    #[error("drover is busy: {0} trigger instances are being stored; retry shortly")]
    Busy(usize),
    #[error(transparent)]
    Store(#[from] StoreError),
}

pub struct Intake {
    shared: Arc<Shared>,
    in_flight: AtomicUsize,
    /// Requests admitted by [`Intake::admit`] and not yet answered.
    admitted: AtomicUsize,
    max_in_flight: usize,
}

/// A request's place in intake, from its arrival until it is answered;
/// released when dropped. See [`Intake::admit`].
pub struct Admission {
    intake: Arc<Intake>,
}

impl Drop for Admission {
    fn drop(&mut self) {
        self.intake.admitted.fetch_sub(1, Ordering::SeqCst);
    }
}

/// An accepted instance; [`Accepted::wait`] returns once it is durable.
pub struct Accepted<'a> {
    pub id: String,
    pending: Pending<()>,
    intake: &'a Intake,
}

impl Accepted<'_> {
    pub fn wait(self) -> Result<String, IntakeError> {
        let result = self.pending.wait();
        self.intake.in_flight.fetch_sub(1, Ordering::SeqCst);
        result?;
        let metrics = &self.intake.shared.metrics;
        metrics.triggers_accepted.fetch_add(1, Ordering::Relaxed);
        self.intake.shared.triggers_waiting.notify();
        Ok(self.id)
    }
}

impl Intake {
    pub(crate) fn new(shared: Arc<Shared>, max_in_flight: usize) -> Intake {
        Intake {
            shared,
            in_flight: AtomicUsize::new(0),
            admitted: AtomicUsize::new(0),
            max_in_flight,
        }
    }

    /// The sensor webhook subscription served at `reference`
    /// (`pack.name`), if a running sensor has one.
    pub fn sensor_webhook(&self, reference: &str) -> Option<crate::sensors::SensorWebhook> {
        self.shared
            .sensor_webhooks
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .get(reference)
            .cloned()
    }

    /// The trigger type `reference`, if installed.
    pub fn trigger_type(&self, reference: &str) -> Option<TriggerType> {
        self.shared.catalog().trigger(reference).cloned()
    }

    /// Queues an execution request (an operator's, through the API) and
    /// wakes the scheduler. The caller has validated its parameters; the
    /// worker validates them again against the action it finds then.
    pub fn request_execution(&self, req: drover_core::ExecutionRequest) -> Result<(), StoreError> {
        self.shared.app.store().request_execution(req)?;
        self.shared.requests_waiting.notify();
        Ok(())
    }

    /// Wakes the scheduler after a run was queued by other means (an
    /// inquiry answered, a workflow resumed or rerun through the API).
    pub fn notify_queued(&self) {
        self.shared.requests_waiting.notify();
    }

    /// Takes a place for a request that will be accepted later, or says
    /// busy when `max_in_flight` requests hold one. The webhook endpoint
    /// takes it on arrival, before the request waits for a thread to store
    /// it: counting only instances already handed to the store would let
    /// requests pile up unbounded in front of it (and never answer 429).
    pub fn admit(self: &Arc<Self>) -> Result<Admission, IntakeError> {
        let now = self.admitted.fetch_add(1, Ordering::SeqCst);
        if now >= self.max_in_flight {
            self.admitted.fetch_sub(1, Ordering::SeqCst);
            let metrics = &self.shared.metrics;
            metrics.triggers_rejected.fetch_add(1, Ordering::Relaxed);
            return Err(IntakeError::Busy(now));
        }
        Ok(Admission {
            intake: self.clone(),
        })
    }

    /// Validates and queues one instance for storage.
    pub fn accept(
        &self,
        trigger_type: &str,
        payload: Value,
        source: &str,
    ) -> Result<Accepted<'_>, IntakeError> {
        self.accept_from(trigger_type, payload, source, false)
    }

    /// [`Intake::accept`] for a source that knows whether it is a shadow
    /// pack's (a sensor): such an instance is stored tainted
    /// (`TriggerInstance::shadow`), and so is one of a trigger type
    /// declared by a shadow pack, whoever sends it.
    pub fn accept_from(
        &self,
        trigger_type: &str,
        payload: Value,
        source: &str,
        shadow_source: bool,
    ) -> Result<Accepted<'_>, IntakeError> {
        self.try_accept(trigger_type, payload, source, shadow_source)
            .inspect_err(|_| {
                let metrics = &self.shared.metrics;
                metrics.triggers_rejected.fetch_add(1, Ordering::Relaxed);
            })
    }

    /// Like [`Intake::accept`], but returns once the instance is queued for
    /// storage and calls `then` with its id once it is durable (or with the
    /// error), on the database writer's thread: `then` must be quick. Lets
    /// the HTTP layer wait for durability without holding a thread.
    pub fn accept_then(
        self: &Arc<Self>,
        trigger_type: &str,
        payload: Value,
        source: &str,
        then: impl FnOnce(Result<String, IntakeError>) + Send + 'static,
    ) -> Result<(), IntakeError> {
        let instance = self
            .admit_instance(trigger_type, payload, source, false)
            .inspect_err(|_| {
                let metrics = &self.shared.metrics;
                metrics.triggers_rejected.fetch_add(1, Ordering::Relaxed);
            })?;
        let id = instance.id.clone();
        let intake = self.clone();
        self.shared
            .app
            .store()
            .insert_trigger_then(
                instance,
                Box::new(move |stored| {
                    intake.in_flight.fetch_sub(1, Ordering::SeqCst);
                    then(match stored {
                        Ok(()) => {
                            let metrics = &intake.shared.metrics;
                            metrics.triggers_accepted.fetch_add(1, Ordering::Relaxed);
                            intake.shared.triggers_waiting.notify();
                            Ok(id)
                        }
                        Err(e) => Err(e.into()),
                    })
                }),
            )
            .map_err(|e| {
                self.in_flight.fetch_sub(1, Ordering::SeqCst);
                let metrics = &self.shared.metrics;
                metrics.triggers_rejected.fetch_add(1, Ordering::Relaxed);
                IntakeError::from(e)
            })
    }

    fn try_accept(
        &self,
        trigger_type: &str,
        payload: Value,
        source: &str,
        shadow_source: bool,
    ) -> Result<Accepted<'_>, IntakeError> {
        let instance = self.admit_instance(trigger_type, payload, source, shadow_source)?;
        let id = instance.id.clone();
        let pending = self
            .shared
            .app
            .store()
            .insert_trigger(instance)
            .inspect_err(|_| {
                self.in_flight.fetch_sub(1, Ordering::SeqCst);
            })?;
        Ok(Accepted {
            id,
            pending,
            intake: self,
        })
    }

    /// Checks the type and payload and takes an in-flight place (released
    /// by the caller once the write ends); the instance to store.
    fn admit_instance(
        &self,
        trigger_type: &str,
        payload: Value,
        source: &str,
        shadow_source: bool,
    ) -> Result<TriggerInstance, IntakeError> {
        let catalog = self.shared.catalog();
        let Some(declared) = catalog.trigger(trigger_type) else {
            return Err(IntakeError::UnknownTrigger(trigger_type.to_owned()));
        };
        let payload = declared
            .payload
            .validate_payload(payload)
            .map_err(|problem| IntakeError::InvalidPayload {
                trigger: trigger_type.to_owned(),
                problem,
            })?;
        let now = self.in_flight.fetch_add(1, Ordering::SeqCst);
        if now >= self.max_in_flight {
            self.in_flight.fetch_sub(1, Ordering::SeqCst);
            return Err(IntakeError::Busy(now));
        }
        Ok(TriggerInstance {
            id: ulid::Ulid::new().to_string(),
            trigger_type: trigger_type.to_owned(),
            payload,
            source: source.to_owned(),
            received_at_ms: now_ms(),
            trigger_parameters: None,
            // The least-trusted link: a shadow pack's sensor, or a webhook
            // into a trigger type a shadow pack declares.
            shadow: shadow_source
                || trigger_type
                    .split_once('.')
                    .is_some_and(|(pack, _)| catalog.is_shadow(pack)),
        })
    }
}
