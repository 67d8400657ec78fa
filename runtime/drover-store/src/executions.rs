//! The `executions` table: store a finished execution, get one, list a page
//! (the API's list: its `WHERE` is built from the filters actually given,
//! so SQLite walks the matching index backwards and stops after one page;
//! the cost of a page does not grow with the table or the page's depth).

use drover_core::{ExecStatus, Execution, ExecutionId};
use serde::Serialize;

use crate::Result;

/// Which executions to list, newest first.
#[derive(Clone, Debug, Default)]
pub struct ExecutionFilter {
    pub action: Option<String>,
    pub status: Option<ExecStatus>,
    /// Keyset pagination: only executions older than this id.
    pub before: Option<ExecutionId>,
    pub limit: u32,
}

/// One row of an execution list.
#[derive(Clone, Debug, Serialize)]
pub struct ExecutionSummary {
    pub id: ExecutionId,
    pub action: String,
    pub status: ExecStatus,
    pub dry_run: bool,
    pub actor: String,
    pub started_at_ms: i64,
    pub duration_us: u64,
    /// Its `node` parameter, when it has one: the node it is about.
    pub node: Option<String>,
}

/// One page of executions, newest first.
#[derive(Clone, Debug, Default)]
pub struct ExecutionQuery {
    pub action: Option<String>,
    pub status: Option<drover_core::ExecStatus>,
    /// Keyset: only executions older than this one (the previous page's
    /// last id).
    pub after: Option<ExecutionId>,
    /// Only ids at or above this one: ids are ULIDs, so a ULID made from a
    /// time is a creation-time lower bound that uses the primary key.
    pub min_id: Option<String>,
    /// Only ids below this one: a creation-time upper bound (with
    /// `min_id`, a time range), on the primary key like `min_id`.
    pub max_id: Option<String>,
    /// Only executions whose `node` parameter is this node.
    pub node: Option<String>,
    /// Only top-level executions, not a workflow's task runs (the partial
    /// index `executions_roots`).
    pub top_level: bool,
    /// Only executions of this actor (exact: `admin`, `rule:pack.name`).
    pub actor: Option<String>,
    /// Only executions requested by an enforcement of this rule
    /// (`pack.rule`): the page walks that rule's enforcements by execution
    /// id (`enforcements_by_rule_execution`) and joins each to its row.
    pub rule: Option<String>,
    /// Only executions whose parameters (their JSON text) contain this,
    /// ignoring ASCII case; `%`, `_` and `\` are literal. Bounded: a page
    /// reads at most [`SEARCH_SCAN`] executions that match the other
    /// filters (see [`ExecutionPage::search`]).
    pub search: Option<String>,
    pub limit: u32,
}

/// The most executions one page of a parameter search reads.
pub const SEARCH_SCAN: u32 = 10_000;

/// How a parameter search went on one page.
#[derive(Clone, Copy, Debug, Serialize, PartialEq, Eq)]
pub struct SearchScan {
    /// Executions read (those matching the other filters, newest first).
    pub scanned: u32,
    /// The scan stopped at [`SEARCH_SCAN`] with older executions left
    /// unread: `next_after` then continues the search below them.
    pub bounded: bool,
}

/// A page and the cursor of the next one.
#[derive(Clone, Debug, Serialize)]
pub struct ExecutionPage {
    pub items: Vec<ExecutionSummary>,
    /// Pass as `after` for the next page; absent on the last page.
    pub next_after: Option<ExecutionId>,
    /// With a parameter search: how far it read.
    pub search: Option<SearchScan>,
}

/// Finished executions: store, get, page through.
pub trait ExecutionStore: Send + Sync {
    /// Stores a finished execution and waits until it is durable.
    fn insert_execution(&self, exec: Execution) -> Result<()>;

    /// Like [`Self::insert_execution`] without waiting (group commit
    /// pipelining).
    fn insert_execution_pipelined(&self, exec: Execution) -> Result<crate::Pending<()>>;

    fn get_execution(&self, id: ExecutionId) -> Result<Option<Execution>>;

    /// The error of each execution in `ids` (in order; `None` when it has
    /// none or is not stored), without reading the rest of the row.
    fn execution_errors(&self, ids: &[ExecutionId]) -> Result<Vec<Option<String>>>;

    fn list_executions(&self, filter: &ExecutionFilter) -> Result<Vec<ExecutionSummary>>;

    /// Number of stored executions (for tests and benchmarks).
    fn count_executions(&self) -> Result<u64>;

    fn execution_page(&self, q: &ExecutionQuery) -> Result<ExecutionPage>;

    /// How many task runs each of `parents` has (those with none are
    /// absent), by the `executions_by_parent` index.
    fn child_counts(
        &self,
        parents: &[ExecutionId],
    ) -> Result<std::collections::HashMap<ExecutionId, u64>>;
}
