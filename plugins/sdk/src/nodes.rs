//! The fleet (`drover:plugin/nodes`): read node facts, ask the fleet
//! controller for changes.
//!
//! Capabilities: `nodes.read` for [`get`] and [`facts`] (no grant needed);
//! `nodes.reboot`, `nodes.drain`, `nodes.set-state` for the changes, and
//! `nodes.health` for [`report_health`], each granted with a label
//! selector. A change passes the grant check and then
//! the fleet's budgets; in a dry run it is planned with the decision it
//! would get. A refusal is [`Error::Denied`]: return it with `?` so the
//! execution records it as such.

use serde::Serializer;
use serde_json::Value;

use crate::Error;
use crate::bindings::drover::plugin::nodes as wit;

pub use wit::{Health, Node, Outcome, RequestStatus};

/// The node called `name`: [`Error::NotFound`] when there is none.
pub fn get(name: &str) -> Result<Node, Error> {
    wit::get(name)
}

/// Nodes matching a label selector (`rack=r07`, `cluster=batch`; `*` for
/// all), in `drover node list` order; at most 10,000.
pub fn select(selector: &str) -> Result<Vec<Node>, Error> {
    wit::select(selector)
}

/// Facts about `name` as a JSON object (labels, state, driver, since_ms,
/// note, and `requests`: the latest few fleet requests for it, newest
/// first, each with `id`, `kind`, `status`, `detail`).
pub fn facts(name: &str) -> Result<Value, Error> {
    let facts = wit::facts(name)?;
    serde_json::from_str(&facts)
        .map_err(|e| Error::failed(format!("host sent facts that are not json: {e}")))
}

/// Ask for `name` to be rebooted, saying why.
pub fn reboot(name: &str, reason: &str) -> Result<RequestStatus, Error> {
    wit::reboot(name, reason)
}

/// Ask for `name` to be drained, saying why.
pub fn drain(name: &str, reason: &str) -> Result<RequestStatus, Error> {
    wit::drain(name, reason)
}

/// Ask for `name` to be put in `state`, saying why.
pub fn set_state(name: &str, state: &str, reason: &str) -> Result<RequestStatus, Error> {
    wit::set_state(name, state, reason)
}

/// Tell drover what this plugin saw of `name` (a ping that went
/// unanswered, monitoring that lost contact), with how in `detail` (at
/// most 1 KiB). Operators see it on the fleet grid beside the node's
/// lifecycle state until that state changes; a dry run plans it.
pub fn report_health(name: &str, health: Health, detail: &str) -> Result<(), Error> {
    wit::report_health(name, health, detail)
}

impl RequestStatus {
    /// The fleet request's id, to follow it in [`facts`]' `requests`: the
    /// host puts it first in the detail, as `request <id>: …`.
    pub fn request_id(&self) -> Option<&str> {
        let rest = self.detail.strip_prefix("request ")?;
        rest.split_once(": ").map(|(id, _)| id)
    }
}

impl Node {
    /// The value of label `key`, if set.
    pub fn label(&self, key: &str) -> Option<&str> {
        self.labels
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }
}

impl Outcome {
    /// `accepted` or `queued`, as in WIT and in JSON.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Accepted => "accepted",
            Self::Queued => "queued",
        }
    }
}

/// Serialises labels as a JSON object rather than a list of pairs.
#[doc(hidden)]
pub fn serialize_labels<S: Serializer>(
    labels: &[(String, String)],
    serializer: S,
) -> Result<S::Ok, S::Error> {
    serializer.collect_map(labels.iter().map(|(k, v)| (k, v)))
}
