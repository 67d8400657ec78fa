//! The `inquiries` table: questions `core.ask` tasks wait on, their
//! responses and expiry. Recording a response (or an expiry) and putting
//! the waiting workflow back in the queue is one transaction, so an answer
//! is never recorded without the workflow continuing, nor twice. The
//! pending and ended lists read through their indexes, and a cheap marker
//! of the pending ones feeds the web UI's change feed.

use drover_core::ExecutionId;
use serde::Serialize;
use serde_json::Value;

use crate::{Result, StoreError};

/// One inquiry.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Inquiry {
    /// The asking task's child execution id.
    pub id: ExecutionId,
    /// The workflow run whose task asks.
    pub run_id: ExecutionId,
    /// Its top-level run (what continues when it is answered).
    pub root: ExecutionId,
    /// The workflow, `pack.name`.
    pub action: String,
    pub task: String,
    pub route: u32,
    /// JSON Schema the response must satisfy.
    pub schema: Value,
    /// Who may answer; empty: anyone.
    pub roles: Vec<String>,
    /// Where to announce it (free text for notifiers), if given.
    pub route_to: Option<String>,
    pub ttl_s: u64,
    pub created_at_ms: i64,
    pub expires_at_ms: i64,
    /// `pending`, `responded`, `timed_out` or `canceled`.
    pub state: String,
    pub response: Option<Value>,
    pub responder: Option<String>,
    pub responded_at_ms: Option<i64>,
}

/// Why a response was not recorded.
#[derive(Debug, thiserror::Error)]
pub enum RespondError {
    #[error("no inquiry {0} (see `drover inquiry list`)")]
    Unknown(ExecutionId),
    #[error("inquiry {id} is {state}, not pending: it takes no more responses")]
    NotPending { id: ExecutionId, state: String },
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Inquiries: questions workflows wait on, their answers and expiry.
pub trait InquiryStore: Send + Sync {
    /// In one transaction: the asking run's `state` (the ask in flight)
    /// and the new pending inquiry.
    fn workflow_ask(
        &self,
        run: ExecutionId,
        state: crate::StateWrite,
        inflight: Value,
        inquiry: Inquiry,
    ) -> Result<()>;

    fn get_inquiry(&self, id: ExecutionId) -> Result<Option<Inquiry>>;

    /// Inquiries, newest first; only those in `state` when given.
    fn list_inquiries(&self, state: Option<&str>, limit: u32) -> Result<Vec<Inquiry>>;

    /// Records `response` by `responder` to pending inquiry `id` and, when
    /// `requeue`, puts its parked workflow back in the queue, in one
    /// transaction. The caller validated the response and the role.
    fn respond_inquiry(
        &self,
        id: ExecutionId,
        response: Value,
        responder: String,
        requeue: bool,
    ) -> Result<Inquiry, RespondError>;

    /// Ends inquiry `id` as `timed_out` or `canceled` if still pending
    /// (without queueing anything: the caller drives the run).
    fn close_inquiry(&self, id: ExecutionId, state: &'static str) -> Result<()>;

    /// Marks every pending inquiry past its deadline `timed_out` and
    /// queues its parked workflow again, in one transaction; returns them.
    fn expire_inquiries(&self, now: i64) -> Result<Vec<Inquiry>>;

    /// The newest `limit` pending inquiries, read through the
    /// pending-inquiries index: the cost follows what waits, not how many
    /// inquiries were ever asked.
    fn pending_inquiries(&self, limit: u32) -> Result<Vec<Inquiry>>;

    /// The newest `limit` inquiries that ended (answered, timed out,
    /// canceled), newest first.
    fn ended_inquiries(&self, limit: u32) -> Result<Vec<Inquiry>>;

    /// `(pending inquiries, newest pending id)`: changes when an inquiry
    /// is asked, answered, times out or is canceled. One read of the
    /// pending-inquiries index.
    fn pending_inquiries_marker(&self) -> Result<(u64, Option<String>)>;
}
