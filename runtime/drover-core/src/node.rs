//! Nodes as the rest of drover sees them: a node's stored facts, and the
//! grant a plugin's request for a node change was made under.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// A node as stored.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct NodeRow {
    pub name: String,
    pub labels: BTreeMap<String, String>,
    pub state: String,
    pub driver: String,
    pub options: serde_json::Value,
    /// When the node entered `state` (ms since the epoch; 0: never changed).
    pub since_ms: i64,
    /// Why it is in that state (an intervention's reason, a request).
    pub note: String,
}

/// The grant a plugin's node request was allowed under. The controller
/// checks it again before it starts it, since the node's labels (or the
/// grants) may have changed while it waited. Requests made by operators
/// have none.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct GrantRef {
    pub pack: String,
    pub version: String,
    pub plugin: String,
    /// The component digest the grant was checked for.
    pub digest: String,
    /// `nodes.reboot`, `nodes.drain` or `nodes.set-state`.
    pub capability: String,
    /// The grant that allowed it then (for the record).
    pub grant_id: String,
}
