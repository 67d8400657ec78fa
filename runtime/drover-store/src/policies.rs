//! Scheduler state: action policies from packs, semaphore slots, retries
//! and the catalog generation.
//!
//! A concurrency policy is enforced where requests are claimed: in the one
//! transaction that marks a request `running`, the scheduler's gate says
//! which semaphore slots it needs, the slots held are counted from
//! `semaphore_slots`, and the request either takes its slots, stays queued
//! (in order) or is closed as `canceled`. Slots are released in the
//! transaction that stores the execution or re-queues the request. Counts
//! are thus read from the database, never from memory: they are right
//! after `kill -9` and a restart.
//!
//! A retry is a new request, linked to the execution it repeats, written in
//! the transaction that stores the failed one.

use drover_core::{ExecStatus, Execution, ExecutionId, ExecutionRequest};
use serde::Serialize;

use crate::{Pending, Result};

/// A stored policy.
#[derive(Clone, Debug, Serialize)]
pub struct StoredPolicy {
    /// `pack.name`.
    pub reference: String,
    pub pack: String,
    /// The policy's YAML source.
    pub definition: String,
}

/// One semaphore slot a request needs before it may run.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SlotNeed {
    /// The semaphore's name (shared by every action whose policy names it).
    pub semaphore: String,
    /// The rendered key ('' when the policy has none): slots are counted
    /// per semaphore and key.
    pub key: String,
    /// How many requests may hold a slot at once.
    pub threshold: u32,
    /// When full: close the request as `canceled` (else it waits, in order).
    pub cancel: bool,
    /// The policy that asked, for messages.
    pub policy: String,
}

/// What the claim's gate says about one queued request.
pub type Gate = Box<dyn FnMut(&ExecutionRequest) -> Result<Vec<SlotNeed>, String> + Send>;

/// How a failed execution is retried.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RetryRule {
    /// The statuses that are retried (failed, timeout).
    pub on: Vec<ExecStatus>,
    /// Retries after the first run, at most.
    pub max_retries: u32,
    /// Between the end of a run and its retry.
    pub delay_ms: i64,
}

/// How a request relates to retries.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct RetryLink {
    /// The execution this one repeats (the first run), if it is a retry.
    pub retry_of: Option<ExecutionId>,
    /// 0 for a first run, 1 for the first retry, ...
    pub attempt: u32,
    /// The retries of this execution (when it is a first run), in order.
    pub retries: Vec<ExecutionId>,
}

/// Scheduler state: policies, semaphore slots, retries, the catalog generation.
pub trait PolicyStore: Send + Sync {
    /// Replaces the policies a pack ships (reference, YAML), in one
    /// transaction, and bumps the catalog generation.
    fn replace_pack_policies(&self, pack: &str, policies: Vec<(String, String)>) -> Result<()>;

    /// Stores one policy of `owner` (the operator's: `drover policy set`)
    /// and bumps the catalog generation.
    fn put_policy(&self, owner: &str, reference: &str, definition: &str) -> Result<()>;

    /// Deletes policy `reference` of `owner`; false if there was none.
    fn delete_policy(&self, owner: &str, reference: &str) -> Result<bool>;

    /// Every stored policy, by reference.
    fn list_policies(&self) -> Result<Vec<StoredPolicy>>;

    /// The catalog generation: changes whenever packs, rules or policies
    /// change, so a running service knows to reload them.
    fn catalog_generation(&self) -> Result<i64>;

    /// Takes up to `limit` queued requests, oldest first, that are due and
    /// whose semaphores have room, marking them `running` and writing their
    /// slots in the same transaction. Requests whose semaphore is full wait
    /// in order, or are closed as `canceled` when their policy says so;
    /// requests the gate refuses are closed as `failed` with its reason.
    /// Returns the claimed requests and the statuses of those closed.
    fn claim_requests_gated(
        &self,
        limit: u32,
        gate: Gate,
    ) -> Result<(Vec<ExecutionRequest>, Vec<ExecStatus>)>;

    /// Stores a finished execution, marks its request `done` and releases
    /// its slots, in one transaction; when `retry` applies to its status and
    /// attempts remain, queues a retry (a new request linked to the first
    /// run, due after the delay) in the same transaction. Returns the
    /// retry's id, if one was queued.
    fn finish_request_retrying(
        &self,
        exec: Execution,
        retry: Option<RetryRule>,
    ) -> Result<Pending<Option<ExecutionId>>>;

    /// How execution `id` relates to retries.
    fn retry_link(&self, id: ExecutionId) -> Result<RetryLink>;

    /// Semaphore slots held, by semaphore and key (for `/metrics`, tests).
    fn semaphore_counts(&self) -> Result<Vec<(String, String, u64)>>;
}
