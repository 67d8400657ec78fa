//! What the sandbox reaches outside itself, as small traits the application
//! implements (over SQLite today; a second backend is another
//! implementation): installed packs and their components, grants, kv,
//! secrets, the audit log, executions and the fleet's nodes.
//!
//! The host keeps every decision (grant checks, limits, dry-run planning,
//! redaction); a port only reads and writes, and says why it could not in
//! a [`PortError`]. This is what keeps `drover-host` a leaf: it knows no
//! database and no fleet controller.

use std::collections::BTreeMap;

use drover_core::{AuditRecord, Execution, Grant, GrantRef, NodeRow};
use drover_pack::Pack;
use serde_json::Value;

/// Why a port could not answer.
#[derive(Debug, thiserror::Error)]
pub enum PortError {
    /// What was asked for does not exist (an unknown node).
    #[error("{0}")]
    NotFound(String),
    /// The request itself is wrong (an unknown state).
    #[error("{0}")]
    Invalid(String),
    /// The backend failed (the database, a corrupt record).
    #[error("{0}")]
    Failed(String),
}

pub type PortResult<T> = Result<T, PortError>;

/// One installed version of a pack.
#[derive(Clone, Debug)]
pub struct InstalledVersion {
    pub pack: Pack,
    /// Everything a shadow version causes is a dry run, until promoted.
    pub shadow: bool,
    /// Plugin name -> component digest.
    pub digests: BTreeMap<String, String>,
}

/// Installed packs, their components and grants.
pub trait Packs: Send + Sync {
    /// Version `version` of pack `name`, or its live version with `None`.
    fn installed(&self, name: &str, version: Option<&str>) -> PortResult<Option<InstalledVersion>>;
    /// Every installed version, newest install first per name.
    fn all_installed(&self) -> PortResult<Vec<InstalledVersion>>;
    /// The component bytes stored under `digest`.
    fn component(&self, digest: &str) -> PortResult<Option<Vec<u8>>>;
    /// The grants in force for a pack version.
    fn active_grants(&self, pack: &str, version: &str) -> PortResult<Vec<Grant>>;
}

/// The `kv` interface's storage.
pub trait Kv: Send + Sync {
    fn kv_get(&self, scope: &str, key: &str) -> PortResult<Option<String>>;
    fn kv_set(
        &self,
        scope: &str,
        key: &str,
        value: &str,
        ttl_seconds: Option<u32>,
    ) -> PortResult<()>;
    /// Whether the key existed.
    fn kv_delete(&self, scope: &str, key: &str) -> PortResult<bool>;
}

/// The `secrets` interface's storage (values decrypted).
pub trait Secrets: Send + Sync {
    fn secret(&self, name: &str) -> PortResult<Option<String>>;
}

/// Where decisions and finished executions are recorded.
pub trait Records: Send + Sync {
    fn audit(&self, record: AuditRecord) -> PortResult<()>;
    /// Stores a finished execution durably before the caller sees it.
    fn execution(&self, exec: Execution) -> PortResult<()>;
}

/// A node change a plugin asks for.
#[derive(Clone, Debug, PartialEq)]
pub enum ChangeKind {
    Reboot,
    Drain,
    /// `set-state production` of a drained node: through the driver.
    Undrain,
    SetState(String),
}

/// A node change request, after the host's grant check.
#[derive(Clone, Debug)]
pub struct NodeChange {
    pub node: String,
    pub kind: ChangeKind,
    pub reason: String,
    pub actor: String,
    pub execution_id: String,
    /// The grant it was allowed under (checked again by the controller).
    pub grant: GrantRef,
}

/// What the fleet controller answered.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ChangeOutcome {
    Accepted,
    Queued,
    /// A budget, the storm brake or a node in intervention refused it.
    Denied,
}

#[derive(Clone, Debug)]
pub struct ChangeAnswer {
    pub outcome: ChangeOutcome,
    /// The request that carries it (empty when none was made).
    pub request_id: String,
    pub detail: String,
    /// The fleet's gate that delays or refuses it (`brake`, `budget`...).
    pub gate: Option<String>,
    /// The controller's whole answer, as a dry run's plan records it.
    pub record: Value,
}

/// One of a node's latest change requests.
#[derive(Clone, Debug)]
pub struct RequestSummary {
    pub id: String,
    pub kind: String,
    pub status: String,
    pub detail: String,
    pub created_ms: i64,
    pub updated_ms: i64,
}

/// The fleet: node facts, and changes through its controller (which
/// applies its budgets and brake whoever asks).
pub trait Nodes: Send + Sync {
    fn node(&self, name: &str) -> PortResult<NodeRow>;
    fn nodes(&self) -> PortResult<Vec<NodeRow>>;
    /// A node with its `latest` requests, newest first.
    fn node_requests(
        &self,
        name: &str,
        latest: usize,
    ) -> PortResult<(NodeRow, Vec<RequestSummary>)>;
    /// Asks for `change`; with `dry_run`, only what would be answered.
    fn request(&self, change: NodeChange, dry_run: bool) -> PortResult<ChangeAnswer>;
    /// Whether a node of the simulated fleet in `state` answers now.
    fn sim_answers(&self, node: &str, state: &str) -> PortResult<bool>;
    /// Records what `source` (`pack.plugin`) saw of a node: `health` is
    /// `answering`, `unreachable` or `silent`.
    fn report_health(&self, node: &str, health: &str, detail: &str, source: &str)
    -> PortResult<()>;
}

/// Everything the host reaches: what a [`crate::Runtime`] is built on.
pub trait Ports: Packs + Kv + Secrets + Records + Nodes {}

impl<T: Packs + Kv + Secrets + Records + Nodes> Ports for T {}

/// Ports for the host's own unit tests: an audit log in memory, and
/// nothing installed, stored or known. What the tests check is the host's
/// decisions; the application's tests run the real store.
#[cfg(test)]
pub(crate) mod memory {
    use std::sync::Mutex;

    use super::*;

    #[derive(Default)]
    pub(crate) struct AuditOnly {
        pub(crate) audit: Mutex<Vec<AuditRecord>>,
    }

    impl AuditOnly {
        pub(crate) fn records(&self) -> Vec<AuditRecord> {
            self.audit.lock().unwrap().clone()
        }
    }

    fn none(what: &str) -> PortError {
        PortError::NotFound(format!("no {what} in the test ports"))
    }

    impl Packs for AuditOnly {
        fn installed(&self, _: &str, _: Option<&str>) -> PortResult<Option<InstalledVersion>> {
            Ok(None)
        }
        fn all_installed(&self) -> PortResult<Vec<InstalledVersion>> {
            Ok(Vec::new())
        }
        fn component(&self, _: &str) -> PortResult<Option<Vec<u8>>> {
            Ok(None)
        }
        fn active_grants(&self, _: &str, _: &str) -> PortResult<Vec<Grant>> {
            Ok(Vec::new())
        }
    }

    impl Kv for AuditOnly {
        fn kv_get(&self, _: &str, _: &str) -> PortResult<Option<String>> {
            Ok(None)
        }
        fn kv_set(&self, _: &str, _: &str, _: &str, _: Option<u32>) -> PortResult<()> {
            Err(none("kv"))
        }
        fn kv_delete(&self, _: &str, _: &str) -> PortResult<bool> {
            Ok(false)
        }
    }

    impl Secrets for AuditOnly {
        fn secret(&self, _: &str) -> PortResult<Option<String>> {
            Ok(None)
        }
    }

    impl Records for AuditOnly {
        fn audit(&self, record: AuditRecord) -> PortResult<()> {
            self.audit.lock().unwrap().push(record);
            Ok(())
        }
        fn execution(&self, _: Execution) -> PortResult<()> {
            Ok(())
        }
    }

    impl Nodes for AuditOnly {
        fn node(&self, name: &str) -> PortResult<NodeRow> {
            Err(none(name))
        }
        fn nodes(&self) -> PortResult<Vec<NodeRow>> {
            Ok(Vec::new())
        }
        fn node_requests(
            &self,
            name: &str,
            _: usize,
        ) -> PortResult<(NodeRow, Vec<RequestSummary>)> {
            Err(none(name))
        }
        fn request(&self, change: NodeChange, _: bool) -> PortResult<ChangeAnswer> {
            Err(none(&change.node))
        }
        fn sim_answers(&self, node: &str, _: &str) -> PortResult<bool> {
            Err(none(node))
        }
        fn report_health(&self, node: &str, _: &str, _: &str, _: &str) -> PortResult<()> {
            Err(none(node))
        }
    }
}
