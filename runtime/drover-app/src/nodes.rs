//! Operators' node requests: drain, reboot or undrain several nodes at
//! once, decided together by the fleet controller, all or nothing on
//! unknown names. One implementation for `drover node drain|reboot|undrain`,
//! `POST /api/v1/node-requests`, `POST /api/v1/nodes/NAME/drain|reboot` and
//! the web UI's node page, so their checks and answers cannot drift.

use std::collections::HashSet;

use drover_fleet::{Fleet, FleetError, Kind, NewRequest, Origin, Policy};
use serde_json::{Value, json};

/// Why a batch was refused before anything was requested.
#[derive(Debug, thiserror::Error)]
pub enum NodeRequestError {
    #[error("name at least one node")]
    NoNodes,
    #[error("say why (it is recorded in the node's history)")]
    NoReason,
    /// Names not in the inventory; nothing was requested.
    #[error("no node named {} in the inventory; nothing was requested", .0.join(", "))]
    Unknown(Vec<String>),
    #[error(transparent)]
    Fleet(#[from] FleetError),
}

/// A batch of operator requests of one kind.
#[derive(Clone, Debug)]
pub struct OperatorRequest {
    pub kind: Kind,
    pub nodes: Vec<String>,
    pub reason: String,
    /// `user:NAME` (recorded in each node's history).
    pub actor: String,
    pub policy: Policy,
    pub drain_timeout_ms: Option<i64>,
    pub reboot_timeout_ms: Option<i64>,
}

impl OperatorRequest {
    /// A request with the defaults: `asap`, the fleet's timeouts.
    pub fn new(kind: Kind, nodes: Vec<String>, reason: &str, actor: &str) -> OperatorRequest {
        OperatorRequest {
            kind,
            nodes,
            reason: reason.to_owned(),
            actor: actor.to_owned(),
            policy: Policy::Asap,
            drain_timeout_ms: None,
            reboot_timeout_ms: None,
        }
    }

    /// The controller's requests, after the checks every front end makes.
    fn checked(&self, fleet: &Fleet) -> Result<Vec<NewRequest>, NodeRequestError> {
        if self.nodes.is_empty() {
            return Err(NodeRequestError::NoNodes);
        }
        if self.reason.trim().is_empty() {
            return Err(NodeRequestError::NoReason);
        }
        let known: HashSet<String> = fleet
            .list(None, None)?
            .into_iter()
            .map(|n| n.name)
            .collect();
        let unknown: Vec<String> = self
            .nodes
            .iter()
            .filter(|n| !known.contains(*n))
            .cloned()
            .collect();
        if !unknown.is_empty() {
            return Err(NodeRequestError::Unknown(unknown));
        }
        Ok(self
            .nodes
            .iter()
            .map(|n| NewRequest {
                id: drover_fleet::new_request_id(),
                node: n.clone(),
                kind: self.kind,
                reason: self.reason.clone(),
                actor: self.actor.clone(),
                origin: Origin::Operator,
                execution_id: None,
                grant: None,
                policy: self.policy,
                drain_timeout_ms: self.drain_timeout_ms,
                reboot_timeout_ms: self.reboot_timeout_ms,
            })
            .collect())
    }

    /// Submits the batch (one transaction): one answer per node, in order
    /// (the request's answer, or `{"node", "error"}`).
    pub fn submit(&self, fleet: &Fleet) -> Result<Vec<Value>, NodeRequestError> {
        let answers = fleet.request(self.checked(fleet)?)?;
        Ok(answers
            .into_iter()
            .zip(&self.nodes)
            .map(|(a, node)| match a {
                Ok(a) => serde_json::to_value(a).unwrap_or_default(),
                Err(e) => json!({"node": node, "error": e.to_string()}),
            })
            .collect())
    }

    /// What [`OperatorRequest::submit`] would answer, changing nothing:
    /// `{"dry_run": true, "answers", "waves", "blocked", "notes"}`.
    pub fn dry_run(&self, fleet: &Fleet) -> Result<Value, NodeRequestError> {
        let plan = fleet.dry_run(self.checked(fleet)?)?;
        let answers: Vec<Value> = plan
            .answers
            .iter()
            .zip(&self.nodes)
            .map(|(a, node)| match a {
                Ok(a) => serde_json::to_value(a).unwrap_or_default(),
                Err(e) => json!({"node": node, "error": e}),
            })
            .collect();
        Ok(json!({
            "dry_run": true,
            "answers": answers,
            "waves": plan.waves,
            "blocked": plan.blocked,
            "notes": plan.notes,
        }))
    }
}

#[cfg(test)]
mod tests {
    use drover_store::Store;

    use super::*;

    fn fleet() -> (Fleet, tempfile::TempDir) {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("drover.db")).unwrap();
        (Fleet::new(store), dir)
    }

    #[test]
    fn an_unknown_name_refuses_the_whole_batch() {
        let (fleet, _dir) = fleet();
        let first = fleet.list(None, None).unwrap()[0].name.clone();
        let req = OperatorRequest::new(
            Kind::Drain,
            vec![first.clone(), "no-such-node".into()],
            "disk errors",
            "user:test",
        );
        let err = req.submit(&fleet).unwrap_err();
        assert!(
            matches!(&err, NodeRequestError::Unknown(u) if u == &["no-such-node"]),
            "{err}"
        );
        let detail = fleet.show(&first, 0).unwrap();
        assert!(detail.requests.is_empty(), "nothing was requested");
    }

    #[test]
    fn a_batch_needs_nodes_and_a_reason() {
        let (fleet, _dir) = fleet();
        let no_nodes = OperatorRequest::new(Kind::Reboot, vec![], "why", "user:test");
        assert!(matches!(
            no_nodes.submit(&fleet),
            Err(NodeRequestError::NoNodes)
        ));
        let first = fleet.list(None, None).unwrap()[0].name.clone();
        let no_reason = OperatorRequest::new(Kind::Reboot, vec![first], "  ", "user:test");
        assert!(matches!(
            no_reason.dry_run(&fleet),
            Err(NodeRequestError::NoReason)
        ));
    }

    #[test]
    fn a_dry_run_answers_per_node_and_changes_nothing() {
        let (fleet, _dir) = fleet();
        let names: Vec<String> = fleet
            .list(None, None)
            .unwrap()
            .into_iter()
            .take(3)
            .map(|n| n.name)
            .collect();
        let req = OperatorRequest::new(Kind::Drain, names.clone(), "kernel update", "user:t");
        let plan = req.dry_run(&fleet).unwrap();
        assert_eq!(plan["dry_run"], true);
        assert_eq!(plan["answers"].as_array().unwrap().len(), 3);
        for name in &names {
            assert!(fleet.show(name, 0).unwrap().requests.is_empty());
        }
        let answers = req.submit(&fleet).unwrap();
        assert_eq!(answers.len(), 3);
        assert_eq!(answers[0]["node"], names[0].as_str());
        assert_eq!(fleet.show(&names[0], 0).unwrap().requests.len(), 1);
    }
}
