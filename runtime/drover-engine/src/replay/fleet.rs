//! The fleet as it was when a replayed trigger arrived, as far as the
//! nodes' history tells: each node's state (a node's first line of history
//! after the moment gives the state it left), and whether a simulated node
//! hung then (its fault began before, and no reboot ended it in between).
//!
//! Replays move forward in time, so [`AsOf::advance`] only pops history
//! lines; each node's state is recomputed when one of its lines passes.
//! What history cannot give (labels, budgets, settings, kv) stays as it is
//! now, and [`AsOf::gaps`] says what was approximated.

use std::collections::{BTreeSet, HashMap, VecDeque};
use std::sync::{Arc, Mutex};

use drover_core::NodeRow;
use drover_host::ports::{
    ChangeAnswer, InstalledVersion, Kv, NodeChange, Nodes, Packs, PortError, PortResult, Records,
    RequestSummary, Secrets,
};
use drover_store::{HistoryRow, SimFault};

/// Node states at a moment, rebuilt from history; see the module doc.
pub struct AsOf {
    rows: Vec<HistoryRow>,
    /// The first row not yet passed.
    next: usize,
    /// Per node, the rows after the moment (indices into `rows`).
    ahead: HashMap<String, VecDeque<usize>>,
    /// States now.
    current: HashMap<String, String>,
    /// The latest simulated fault of each node (when it began).
    faults: HashMap<String, i64>,
    /// When each node left `rebooting` (sorted).
    reboots: HashMap<String, Vec<i64>>,
    /// The moment.
    at_ms: i64,
    /// Nodes whose state changed at the last advance.
    changed: BTreeSet<String>,
    /// Nodes removed since, and added since, the first moment.
    removed: BTreeSet<String>,
    added: BTreeSet<String>,
}

impl AsOf {
    /// From the current nodes, the history lines (any order) and the
    /// simulated faults.
    pub fn new(nodes: &[NodeRow], mut rows: Vec<HistoryRow>, faults: &[SimFault]) -> AsOf {
        rows.sort_by_key(|r| (r.at_ms, r.id));
        let mut ahead: HashMap<String, VecDeque<usize>> = HashMap::new();
        let mut reboots: HashMap<String, Vec<i64>> = HashMap::new();
        for (i, r) in rows.iter().enumerate() {
            ahead.entry(r.node.clone()).or_default().push_back(i);
            if r.from_state == "rebooting" && r.from_state != r.to_state {
                reboots.entry(r.node.clone()).or_default().push(r.at_ms);
            }
        }
        let current: HashMap<String, String> = nodes
            .iter()
            .map(|n| (n.name.clone(), n.state.clone()))
            .collect();
        AsOf {
            rows,
            next: 0,
            changed: ahead.keys().cloned().collect(),
            ahead,
            current,
            faults: faults
                .iter()
                .map(|f| (f.node.clone(), f.since_ms))
                .collect(),
            reboots,
            at_ms: i64::MIN,
            removed: BTreeSet::new(),
            added: BTreeSet::new(),
        }
    }

    /// Moves to `at_ms` (never back): passes the history lines up to it.
    pub fn advance(&mut self, at_ms: i64) {
        if at_ms <= self.at_ms {
            return;
        }
        self.at_ms = at_ms;
        while let Some(r) = self.rows.get(self.next).filter(|r| r.at_ms <= at_ms) {
            if let Some(q) = self.ahead.get_mut(&r.node) {
                q.pop_front();
            }
            self.changed.insert(r.node.clone());
            self.next += 1;
        }
    }

    /// The state of `node` at the moment; `None` for a node that no longer
    /// exists.
    pub fn state(&self, node: &str) -> Option<&str> {
        match self
            .ahead
            .get(node)
            .and_then(|q| q.front())
            .map(|&i| &self.rows[i])
        {
            // Its next line says what state it left (a node added later
            // did not exist yet: it keeps its current state, noted).
            Some(r) if r.event != "added" => Some(r.from_state.as_str()),
            _ => self.current.get(node).map(String::as_str),
        }
    }

    /// The nodes whose state may have changed since the last call, with
    /// their state now (at the moment), for the preview to take.
    pub fn take_changes(&mut self) -> Vec<(String, String)> {
        let changed = std::mem::take(&mut self.changed);
        let mut out = Vec::new();
        for node in changed {
            let next = self
                .ahead
                .get(&node)
                .and_then(|q| q.front())
                .map(|&i| &self.rows[i]);
            if next.is_some_and(|r| r.event == "added") {
                self.added.insert(node.clone());
            }
            if !self.current.contains_key(&node) {
                self.removed.insert(node);
                continue;
            }
            if let Some(state) = self.state(&node) {
                out.push((node.clone(), state.to_owned()));
            }
        }
        out
    }

    /// Whether simulated node `node` hung at the moment: its fault began
    /// before and no reboot ended it since.
    pub fn hung(&self, node: &str) -> bool {
        let Some(&since) = self.faults.get(node) else {
            return false;
        };
        since <= self.at_ms
            && !self
                .reboots
                .get(node)
                .is_some_and(|r| r.iter().any(|&at| at > since && at <= self.at_ms))
    }

    /// What could not be rebuilt, in words.
    pub fn gaps(&self) -> Vec<String> {
        let mut out = Vec::new();
        let list = |s: &BTreeSet<String>| {
            let mut names: Vec<&str> = s.iter().take(10).map(String::as_str).collect();
            if s.len() > 10 {
                names.push("…");
            }
            names.join(", ")
        };
        if !self.removed.is_empty() {
            out.push(format!(
                "{} node(s) removed since could not be rebuilt (their labels and options are \
                 gone): {}",
                self.removed.len(),
                list(&self.removed)
            ));
        }
        if !self.added.is_empty() {
            out.push(format!(
                "{} node(s) added after some replayed triggers are in those triggers' preview \
                 anyway: {}",
                self.added.len(),
                list(&self.added)
            ));
        }
        out
    }
}

/// The host's ports of a replay: the scratch database's, except that a
/// simulated node answers as it did at the replayed moment, every fleet
/// request is a dry run, and nothing is recorded about nodes or kv.
pub(crate) struct ReplayPorts<P> {
    pub(crate) inner: P,
    pub(crate) asof: Arc<Mutex<AsOf>>,
}

fn refused(what: &str) -> PortError {
    PortError::Invalid(format!("a replay does not {what}: it only plans"))
}

impl<P: Packs> Packs for ReplayPorts<P> {
    fn installed(&self, name: &str, version: Option<&str>) -> PortResult<Option<InstalledVersion>> {
        self.inner.installed(name, version)
    }
    fn all_installed(&self) -> PortResult<Vec<InstalledVersion>> {
        self.inner.all_installed()
    }
    fn component(&self, digest: &str) -> PortResult<Option<Vec<u8>>> {
        self.inner.component(digest)
    }
    fn active_grants(&self, pack: &str, version: &str) -> PortResult<Vec<drover_core::Grant>> {
        self.inner.active_grants(pack, version)
    }
}

impl<P: Kv> Kv for ReplayPorts<P> {
    fn kv_get(&self, scope: &str, key: &str) -> PortResult<Option<String>> {
        self.inner.kv_get(scope, key)
    }
    fn kv_set(&self, _: &str, _: &str, _: &str, _: Option<u32>) -> PortResult<()> {
        Err(refused("write kv"))
    }
    fn kv_delete(&self, _: &str, _: &str) -> PortResult<bool> {
        Err(refused("delete kv"))
    }
}

impl<P: Secrets> Secrets for ReplayPorts<P> {
    fn secret(&self, name: &str) -> PortResult<Option<String>> {
        self.inner.secret(name)
    }
}

impl<P: Records> Records for ReplayPorts<P> {
    fn audit(&self, record: drover_core::AuditRecord) -> PortResult<()> {
        // Into the scratch database, which goes away with the replay.
        self.inner.audit(record)
    }
    fn execution(&self, exec: drover_core::Execution) -> PortResult<()> {
        self.inner.execution(exec)
    }
}

impl<P: Nodes> Nodes for ReplayPorts<P> {
    fn node(&self, name: &str) -> PortResult<NodeRow> {
        self.inner.node(name)
    }
    fn nodes(&self) -> PortResult<Vec<NodeRow>> {
        self.inner.nodes()
    }
    fn node_requests(
        &self,
        name: &str,
        latest: usize,
    ) -> PortResult<(NodeRow, Vec<RequestSummary>)> {
        self.inner.node_requests(name, latest)
    }
    fn request(&self, change: NodeChange, _dry_run: bool) -> PortResult<ChangeAnswer> {
        // Whatever the caller asks: the preview's answer, never a request.
        self.inner.request(change, true)
    }
    fn sim_answers(&self, node: &str, state: &str) -> PortResult<bool> {
        let asof = self.asof.lock().unwrap_or_else(|p| p.into_inner());
        Ok(state != "rebooting" && !asof.hung(node))
    }
    fn report_health(&self, _: &str, _: &str, _: &str, _: &str) -> PortResult<()> {
        Err(refused("record a node's health"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(id: i64, node: &str, at: i64, event: &str, from: &str, to: &str) -> HistoryRow {
        HistoryRow {
            id,
            node: node.into(),
            at_ms: at,
            event: event.into(),
            from_state: from.into(),
            to_state: to.into(),
            request_id: None,
            actor: "t".into(),
            detail: String::new(),
        }
    }

    fn node(name: &str, state: &str) -> NodeRow {
        NodeRow {
            name: name.into(),
            labels: Default::default(),
            state: state.into(),
            driver: "sim".into(),
            options: serde_json::json!({}),
            since_ms: 0,
            note: String::new(),
        }
    }

    #[test]
    fn a_node_has_the_state_its_next_line_left() {
        let rows = vec![
            row(1, "a", 10, "state", "production", "rebooting"),
            row(2, "a", 20, "state", "rebooting", "production"),
        ];
        let fault = SimFault {
            node: "a".into(),
            since_ms: 5,
            actor: "t".into(),
            active: false,
        };
        let mut asof = AsOf::new(&[node("a", "production")], rows, &[fault]);
        asof.advance(7);
        assert_eq!(asof.state("a"), Some("production"));
        assert!(asof.hung("a"), "hung since 5, rebooted at 20");
        asof.advance(15);
        assert_eq!(asof.take_changes(), vec![("a".into(), "rebooting".into())]);
        asof.advance(25);
        assert_eq!(asof.state("a"), Some("production"));
        assert!(!asof.hung("a"), "the reboot at 20 ended the fault");
    }

    #[test]
    fn removed_nodes_are_gaps() {
        let rows = vec![row(1, "gone", 10, "removed", "production", "production")];
        let mut asof = AsOf::new(&[], rows, &[]);
        asof.advance(5);
        assert!(asof.take_changes().is_empty());
        assert!(asof.gaps()[0].contains("gone"));
    }
}
