//! drover's storage: everything an operator or a plugin may need later
//! (packs, component blobs, executions, audit, grants, kv, secrets, the
//! fleet inventory), behind one contract any backend implements.
//!
//! The contract is a set of traits, one per table or aggregate (each
//! module here: its rows and its `…Store` trait), gathered by
//! [`Storage`]. Callers hold a [`Store`], a cheap handle on one backend,
//! and call the traits' methods on it with [`prelude`] in scope; nothing
//! outside this crate sees SQL. [`sqlite`] is the embedded default; a
//! second backend is one more implementation of the same traits.

mod audit;
mod auth;
mod events;
mod executions;
mod fleet;
mod grants;
mod inquiries;
mod kv;
mod nodes;
mod packs;
mod pending;
mod policies;
mod retention;
mod rules;
mod secrets;
mod sensors;
mod sim;
pub mod sqlite;
mod stream;
mod timers;
mod trust;
mod webhooks;
mod workflows;

use std::ops::Deref;
use std::path::{Path, PathBuf};
use std::sync::Arc;

pub use audit::{AuditFilter, ChangeFilter};
pub use auth::{ApiToken, Role, SessionRow, User};
pub use events::TriggerSummary;
pub use executions::{
    ExecutionFilter, ExecutionPage, ExecutionQuery, ExecutionSummary, SEARCH_SCAN, SearchScan,
};
pub use fleet::{BudgetRow, FleetTx, HistoryRow, RequestRow};
pub use inquiries::{Inquiry, RespondError};
pub use nodes::{FleetRequest, HealthReport, NodeCell, NodeRow};
pub use packs::{ComponentBlob, InstalledPack, PackCatalog, RolledBack};
pub use policies::{Gate, RetryLink, RetryRule, SlotNeed, StoredPolicy};
pub use retention::{History, Keep, RetentionSetting, Sweep, Tally};
pub use rules::{FailingRule, StoredRule};
pub use secrets::SECRET_KEY_ENV;
pub use sensors::SensorStatus;
pub use sim::SimFault;
pub use stream::{Changes, StreamCursor, StreamEvent};
pub use timers::TimerState;
pub use trust::TrustedKey;
pub use workflows::{
    ChildLink, ChildRow, ChildrenHead, Progress, StatePart, StateWrite, WorkflowRun,
};

pub use pending::{Pending, WriterStats};
pub use sqlite::SqliteStore;

/// The store traits, for calling them on a [`Store`].
pub mod prelude {
    pub use crate::Storage;
    pub use crate::audit::AuditStore;
    pub use crate::auth::AuthStore;
    pub use crate::events::EventStore;
    pub use crate::executions::ExecutionStore;
    pub use crate::fleet::{FleetStore, FleetTx};
    pub use crate::grants::GrantStore;
    pub use crate::inquiries::InquiryStore;
    pub use crate::kv::KvStore;
    pub use crate::nodes::NodeStore;
    pub use crate::packs::PackStore;
    pub use crate::policies::PolicyStore;
    pub use crate::retention::RetentionStore;
    pub use crate::rules::RuleStore;
    pub use crate::secrets::SecretStore;
    pub use crate::sensors::SensorStore;
    pub use crate::sim::SimStore;
    pub use crate::stream::StreamStore;
    pub use crate::timers::TimerStore;
    pub use crate::trust::TrustStore;
    pub use crate::webhooks::WebhookStore;
    pub use crate::workflows::WorkflowStore;
}

use prelude::*;

/// Everything that can go wrong in the store.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("database error: {0}")]
    Sqlite(#[from] rusqlite::Error),
    #[error("cannot migrate the database schema: {0}")]
    Migration(#[from] rusqlite_migration::Error),
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("stored data is corrupt: {0}")]
    Corrupt(String),
    #[error("{0}")]
    Secret(String),
    #[error("the database writer has stopped")]
    WriterGone,
}

impl From<serde_json::Error> for StoreError {
    fn from(e: serde_json::Error) -> Self {
        StoreError::Corrupt(e.to_string())
    }
}

pub type Result<T, E = StoreError> = std::result::Result<T, E>;

/// Everything a backend stores: the union of the per-table traits, plus
/// what describes the backend itself.
pub trait Storage:
    AuditStore
    + AuthStore
    + EventStore
    + ExecutionStore
    + FleetStore
    + GrantStore
    + InquiryStore
    + KvStore
    + NodeStore
    + PackStore
    + PolicyStore
    + RetentionStore
    + RuleStore
    + SecretStore
    + SensorStore
    + SimStore
    + StreamStore
    + TimerStore
    + TrustStore
    + WebhookStore
    + WorkflowStore
{
    /// Counts of committed transactions and of the writes batched into
    /// them, since the backend was opened (for metrics and benchmarks).
    fn writer_stats(&self) -> WriterStats;
}

/// A handle on the store of this process: one backend behind the
/// [`Storage`] traits (called through [`Deref`] with [`prelude`] in
/// scope). Cheap to clone; all clones share the backend.
#[derive(Clone)]
pub struct Store(Arc<dyn Storage>);

impl Store {
    /// Opens (creating if needed) the SQLite database at `path`: see
    /// [`SqliteStore::open`].
    pub fn open(path: &Path) -> Result<Store> {
        Ok(Store::new(SqliteStore::open(path)?))
    }

    /// A handle on `backend`.
    pub fn new(backend: impl Storage + 'static) -> Store {
        Store(Arc::new(backend))
    }

    /// Runs one fleet controller step in a write transaction: `f`'s error
    /// rolls back everything it wrote (see [`FleetStore::fleet_write_with`]).
    pub fn fleet_write<R, F>(&self, f: F) -> Result<R>
    where
        F: FnOnce(&dyn FleetTx) -> Result<R> + Send + 'static,
        R: Send + 'static,
    {
        let (send, answer) = std::sync::mpsc::sync_channel(1);
        self.0.fleet_write_with(Box::new(move |tx| {
            let _ = send.send(f(tx)?);
            Ok(())
        }))?;
        answer.try_recv().map_err(|_| StoreError::WriterGone)
    }

    /// Reads the fleet tables outside a write transaction.
    pub fn fleet_read<R>(&self, f: impl FnOnce(&dyn FleetTx) -> Result<R>) -> Result<R> {
        let mut f = Some(f);
        let mut out = None;
        self.0.fleet_read_with(&mut |tx| {
            let f = f.take().expect("fleet_read_with calls its reader once");
            out = Some(f(tx)?);
            Ok(())
        })?;
        out.ok_or(StoreError::WriterGone)
    }
}

impl Deref for Store {
    type Target = dyn Storage;

    fn deref(&self) -> &Self::Target {
        &*self.0
    }
}
