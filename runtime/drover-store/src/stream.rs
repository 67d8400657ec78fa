//! What changed: the tail of new rows across the streamed tables (the
//! API's event stream), and the cheap marker the web UI's live parts watch
//! (the newest execution, the queue, the node states).

use serde::Serialize;
use serde_json::Value;

use crate::Result;

/// Where the event stream has read up to, per table (rowids).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct StreamCursor {
    pub requests: i64,
    pub executions: i64,
    pub audit: i64,
    pub fleet: i64,
    /// `node_history` rows (node state changes).
    pub history: i64,
}

/// One new row, as the stream sends it.
#[derive(Clone, Debug, Serialize)]
pub struct StreamEvent {
    /// `execution`, `audit` or `node`.
    pub kind: &'static str,
    pub data: Value,
}

/// What changes on screen, cheap to read often: the newest stored
/// execution, the queue, the node states and the fleet requests.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Changes {
    pub newest_execution: Option<String>,
    pub queued: u64,
    pub running: u64,
    /// Each node with its state and current health (`production/silent`).
    pub nodes: Vec<(String, String)>,
    /// The fleet requests: how many are open, and the latest update of
    /// any (the Fleet page's queue follows them).
    pub requests: (u64, i64),
}

/// What changed: the event stream's tail and the UI's change marker.
pub trait StreamStore: Send + Sync {
    /// The cursor at the current end of every streamed table.
    fn stream_cursor(&self) -> Result<StreamCursor>;

    /// Rows added since `cursor` (at most `limit` per table), oldest
    /// first; advances the cursor past them.
    fn stream_since(&self, cursor: &mut StreamCursor, limit: u32) -> Result<Vec<StreamEvent>>;

    /// The state the UI's live parts watch; O(log n) in executions plus one
    /// pass over the nodes.
    fn changes(&self) -> Result<Changes>;
}
