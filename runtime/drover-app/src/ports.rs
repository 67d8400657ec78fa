//! The plugin host's ports over drover's SQLite store and fleet controller:
//! what a sandboxed call reads and writes, translated to the host's terms
//! (its error kinds, its view of node changes). No decision is made here;
//! the host checks grants, the controller applies budgets.

use drover_core::{AuditRecord, Execution, Grant, NodeRow};
use drover_fleet::{Answer, Fleet, FleetError, Kind, NewRequest, Origin, Outcome, Policy};
use drover_host::ports::{
    ChangeAnswer, ChangeKind, ChangeOutcome, InstalledVersion, Kv, NodeChange, Nodes, Packs,
    PortError, PortResult, Records, RequestSummary, Secrets,
};
use drover_store::{HealthReport, Store, StoreError};

use crate::catalog::{CatalogPack, PackIndex};
use std::sync::Arc;

/// The host's ports over one store and its fleet.
pub struct StorePorts {
    store: Store,
    fleet: Fleet,
    packs: Arc<PackIndex>,
}

impl StorePorts {
    pub fn new(store: Store, fleet: Fleet, packs: Arc<PackIndex>) -> StorePorts {
        StorePorts {
            store,
            fleet,
            packs,
        }
    }
}

fn failed(e: StoreError) -> PortError {
    PortError::Failed(e.to_string())
}

fn fleet_error(e: FleetError) -> PortError {
    match e {
        FleetError::UnknownNode(_)
        | FleetError::UnknownRequest(_)
        | FleetError::UnknownWindow(_) => PortError::NotFound(e.to_string()),
        FleetError::UnknownState(_)
        | FleetError::Invalid(_)
        | FleetError::Import(_)
        | FleetError::Conflict(_) => PortError::Invalid(e.to_string()),
        FleetError::Store(e) => failed(e),
    }
}

impl Packs for StorePorts {
    fn installed(&self, name: &str, version: Option<&str>) -> PortResult<Option<InstalledVersion>> {
        let installed = self.packs.current().map_err(failed)?;
        Ok(installed
            .get(name, version)
            .map(CatalogPack::installed_version))
    }

    fn all_installed(&self) -> PortResult<Vec<InstalledVersion>> {
        let installed = self.packs.current().map_err(failed)?;
        Ok(installed
            .all()
            .iter()
            .map(CatalogPack::installed_version)
            .collect())
    }

    fn component(&self, digest: &str) -> PortResult<Option<Vec<u8>>> {
        self.store.get_blob(digest).map_err(failed)
    }

    fn active_grants(&self, pack: &str, version: &str) -> PortResult<Vec<Grant>> {
        self.store.active_grants(pack, version).map_err(failed)
    }
}

impl Kv for StorePorts {
    fn kv_get(&self, scope: &str, key: &str) -> PortResult<Option<String>> {
        self.store.kv_get(scope, key).map_err(failed)
    }

    fn kv_set(
        &self,
        scope: &str,
        key: &str,
        value: &str,
        ttl_seconds: Option<u32>,
    ) -> PortResult<()> {
        self.store
            .kv_set(scope, key, value, ttl_seconds)
            .map_err(failed)
    }

    fn kv_delete(&self, scope: &str, key: &str) -> PortResult<bool> {
        self.store.kv_delete(scope, key).map_err(failed)
    }
}

impl Secrets for StorePorts {
    fn secret(&self, name: &str) -> PortResult<Option<String>> {
        self.store.secret_get(name).map_err(failed)
    }
}

impl Records for StorePorts {
    fn audit(&self, record: AuditRecord) -> PortResult<()> {
        self.store.append_audit(record).map(drop).map_err(failed)
    }

    fn execution(&self, exec: Execution) -> PortResult<()> {
        self.store.insert_execution(exec).map_err(failed)
    }
}

fn to_port(answer: Answer) -> ChangeAnswer {
    ChangeAnswer {
        outcome: match answer.outcome {
            Outcome::Accepted => ChangeOutcome::Accepted,
            Outcome::Queued => ChangeOutcome::Queued,
            Outcome::Denied => ChangeOutcome::Denied,
        },
        record: serde_json::to_value(&answer).unwrap_or_default(),
        gate: answer.gate.map(|g| g.as_str().to_owned()),
        request_id: answer.request_id,
        detail: answer.detail,
    }
}

impl Nodes for StorePorts {
    fn node(&self, name: &str) -> PortResult<NodeRow> {
        self.fleet.node(name).map_err(fleet_error)
    }

    fn nodes(&self) -> PortResult<Vec<NodeRow>> {
        self.store.list_nodes().map_err(failed)
    }

    fn node_requests(
        &self,
        name: &str,
        latest: usize,
    ) -> PortResult<(NodeRow, Vec<RequestSummary>)> {
        let detail = self.fleet.show(name, 0).map_err(fleet_error)?;
        let requests = detail
            .requests
            .iter()
            .take(latest)
            .map(|r| RequestSummary {
                id: r.id.clone(),
                kind: r.kind.as_str().to_owned(),
                status: r.status.as_str().to_owned(),
                detail: r.detail.clone(),
                created_ms: r.created_ms,
                updated_ms: r.updated_ms,
            })
            .collect();
        Ok((detail.node.to_row(), requests))
    }

    fn request(&self, change: NodeChange, dry_run: bool) -> PortResult<ChangeAnswer> {
        let execution_id = Some(change.execution_id);
        if let ChangeKind::SetState(state) = &change.kind {
            let set = if dry_run {
                Fleet::set_state_dry_run
            } else {
                Fleet::set_state
            };
            let answer = set(
                &self.fleet,
                &change.node,
                state,
                &change.reason,
                &change.actor,
                Origin::Automation,
                execution_id,
            )
            .map_err(fleet_error)?;
            return Ok(to_port(answer));
        }
        let req = NewRequest {
            id: ulid::Ulid::new().to_string(),
            node: change.node,
            kind: match change.kind {
                ChangeKind::Drain => Kind::Drain,
                ChangeKind::Undrain => Kind::Undrain,
                ChangeKind::Reboot | ChangeKind::SetState(_) => Kind::Reboot,
            },
            reason: change.reason,
            actor: change.actor,
            origin: Origin::Automation,
            execution_id,
            grant: Some(change.grant),
            policy: Policy::Asap,
            drain_timeout_ms: None,
            reboot_timeout_ms: None,
        };
        let answer = if dry_run {
            self.fleet
                .dry_run(vec![req])
                .map_err(fleet_error)?
                .answers
                .pop()
                .unwrap_or_else(|| Err("no answer".into()))
                .map_err(PortError::Invalid)?
        } else {
            self.fleet.request_one(req).map_err(fleet_error)?
        };
        Ok(to_port(answer))
    }

    fn sim_answers(&self, node: &str, state: &str) -> PortResult<bool> {
        self.store.sim_answers(node, state).map_err(failed)
    }

    fn report_health(
        &self,
        node: &str,
        health: &str,
        detail: &str,
        source: &str,
    ) -> PortResult<()> {
        // A change of health is a line of the node's history.
        self.store
            .record_node_health(HealthReport {
                node: node.to_owned(),
                health: health.to_owned(),
                detail: detail.to_owned(),
                source: source.to_owned(),
                at_ms: drover_core::now_ms(),
            })
            .map(drop)
            .map_err(failed)
    }
}
