//! The event pipeline's tables: trigger instances, enforcements, the
//! execution queue and rule state. Every hand-off between stages is one
//! transaction, so a crash between them loses or doubles nothing:
//!
//! - a trigger is stored `pending` before its source is acknowledged;
//! - the rules stage records its enforcements, the execution requests they
//!   make and the trigger's `processed` state together;
//! - the scheduler claims requests (`running`) in one transaction and
//!   stores each finished execution with its request's `done` in another.
//!
//! Also read here: a request still open (the web UI's execution page).

use drover_core::{Enforcement, Execution, ExecutionId, ExecutionRequest, TriggerInstance};
use serde::Serialize;

use crate::{Pending, Result};

/// A stored trigger instance with what the rules made of it.
#[derive(Clone, Debug, Serialize)]
pub struct TriggerSummary {
    #[serde(flatten)]
    pub instance: TriggerInstance,
    /// `pending` or `processed`.
    pub state: String,
    pub enforcements: Vec<Enforcement>,
}

/// The event pipeline: trigger instances, enforcements, the execution queue and rule state.
pub trait EventStore: Send + Sync {
    /// Stores a trigger instance as `pending`; durable when the returned
    /// write completes.
    fn insert_trigger(&self, t: TriggerInstance) -> Result<Pending<()>>;

    /// [`Self::insert_trigger`] that calls `then` once the instance is
    /// durable (or failed) instead of returning a write to wait on.
    fn insert_trigger_then(
        &self,
        t: TriggerInstance,
        then: Box<dyn FnOnce(Result<()>) + Send>,
    ) -> Result<()>;

    /// The oldest `pending` trigger instances after `after` (exclusive).
    fn pending_triggers(&self, after: Option<&str>, limit: u32) -> Result<Vec<TriggerInstance>>;

    /// Records what the rules made of one trigger instance, in one
    /// transaction: its enforcements, the executions they request, and the
    /// trigger's `processed` state.
    ///
    /// `storm`, when given, is the rules' throttle/threshold state after
    /// this trigger, saved in the same transaction so counts stay right
    /// across a restart.
    fn record_enforcements(
        &self,
        trigger_id: String,
        enforcements: Vec<Enforcement>,
        requests: Vec<ExecutionRequest>,
        storm: Option<String>,
    ) -> Result<Pending<()>>;

    /// [`Self::record_enforcements`] for many trigger instances in one
    /// write: all of them or none. `storm` is the state after the last.
    fn record_enforcements_many(
        &self,
        triggers: Vec<(String, Vec<Enforcement>, Vec<ExecutionRequest>)>,
        storm: Option<String>,
    ) -> Result<Pending<()>>;

    /// Queues an execution request on its own (CLI, API).
    fn request_execution(&self, r: ExecutionRequest) -> Result<()>;

    /// Takes up to `limit` queued requests that are due, oldest first,
    /// marking them `running` in the same transaction (no policies; see
    /// [`Self::claim_requests_gated`]).
    fn claim_requests(&self, limit: u32) -> Result<Vec<ExecutionRequest>>;

    /// Stores a finished execution and marks its request `done`, in one
    /// transaction; durable when the returned write completes.
    fn finish_request(&self, exec: Execution) -> Result<Pending<()>>;

    /// Requests left `running` by a process that stopped, each with whether
    /// it was marked started ([`Self::mark_started`]): a started one's
    /// outcome is unknown; one claimed but not marked never ran, unless its
    /// action is idempotent (those are not marked). The caller re-queues
    /// the safe ones and closes the others.
    fn interrupted_requests(&self) -> Result<Vec<(ExecutionRequest, bool)>>;

    /// Marks a claimed request started: from this commit on, a crash leaves
    /// its outcome unknown. Workers wait for it before running an action
    /// that is not idempotent; an idempotent one runs unmarked (re-running
    /// it after a crash is safe), so large claims cost no write per request.
    fn mark_started(&self, id: ExecutionId) -> Result<Pending<()>>;

    /// Puts interrupted requests back in the queue.
    fn requeue_requests(&self, ids: Vec<ExecutionId>) -> Result<()>;

    /// Number of requests in each queue state (for metrics and tests).
    fn queue_depth(&self) -> Result<(u64, u64)>;

    /// Stored trigger instances, newest first, with their enforcements.
    fn list_triggers(
        &self,
        trigger_type: Option<&str>,
        before: Option<&str>,
        limit: u32,
    ) -> Result<Vec<TriggerSummary>>;

    /// Stored trigger instances in arrival order (oldest first) with their
    /// state and enforcements: ids after `after` and before `upto` (both
    /// exclusive; ids are ULIDs, so a time bound is an id bound), of the
    /// types `types` (any type when empty), at most `limit`. The pages a
    /// replay reads.
    fn trigger_page(
        &self,
        types: &[String],
        after: Option<&str>,
        upto: Option<&str>,
        limit: u32,
    ) -> Result<Vec<TriggerSummary>>;

    /// One stored trigger instance.
    fn get_trigger(&self, id: &str) -> Result<Option<TriggerInstance>>;

    /// One stored trigger instance with its state and enforcements.
    fn trigger_summary(&self, id: &str) -> Result<Option<TriggerSummary>>;

    /// The enforcements of one trigger instance.
    fn enforcements(&self, trigger_id: &str) -> Result<Vec<Enforcement>>;

    /// The enforcement that requested an execution, if a rule did (the
    /// way back from an execution to its rule and trigger instance).
    fn enforcement_of_execution(&self, execution: ExecutionId) -> Result<Option<Enforcement>>;

    /// The enforcements of a rule in force (not a candidate's), newest first,
    /// before enforcement id `before` (exclusive) when given.
    fn rule_enforcements(
        &self,
        rule_ref: &str,
        before: Option<&str>,
        limit: u32,
    ) -> Result<Vec<Enforcement>>;

    /// Side by side: the enforcements of pack `pack`'s rules in force and of
    /// its candidate `version`'s rules, from the candidate's first
    /// enforcement on and not before `since_ms`, newest first, at most
    /// `limit`. Empty when the candidate never saw a trigger.
    fn shadow_enforcements(
        &self,
        pack: &str,
        version: &str,
        since_ms: i64,
        limit: u32,
    ) -> Result<Vec<Enforcement>>;

    /// A rule's persisted throttle/threshold state, as JSON.
    fn rule_state(&self, rule_ref: &str) -> Result<Option<String>>;

    /// A queued or running request that has no execution row yet.
    fn open_request(&self, id: ExecutionId) -> Result<Option<(ExecutionRequest, String)>>;
}
