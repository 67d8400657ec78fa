//! The controller's vocabulary: node states, request kinds, origins,
//! policies and statuses, and a request with its lifecycle fields, with
//! the conversions to and from the store's rows.

use std::collections::BTreeMap;
use std::fmt;

pub use drover_core::GrantRef;
use drover_store::{NodeRow, RequestRow};
use serde::{Deserialize, Serialize};

use crate::FleetError;

/// Where a node is in its lifecycle. Every state but `production` counts
/// as unavailable for the budgets.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum State {
    Production,
    Draining,
    Drained,
    Rebooting,
    Restoring,
    Intervention,
}

impl State {
    pub const ALL: [State; 6] = [
        State::Production,
        State::Draining,
        State::Drained,
        State::Rebooting,
        State::Restoring,
        State::Intervention,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            State::Production => "production",
            State::Draining => "draining",
            State::Drained => "drained",
            State::Rebooting => "rebooting",
            State::Restoring => "restoring",
            State::Intervention => "intervention",
        }
    }

    pub fn parse(s: &str) -> Result<State, FleetError> {
        State::ALL
            .into_iter()
            .find(|st| st.as_str() == s)
            .ok_or_else(|| FleetError::UnknownState(s.to_owned()))
    }

    pub fn available(self) -> bool {
        self == State::Production
    }
}

impl fmt::Display for State {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A node as the controller sees it.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Node {
    pub name: String,
    pub labels: BTreeMap<String, String>,
    pub state: State,
    pub driver: String,
    pub options: serde_json::Value,
    pub since_ms: i64,
    pub note: String,
}

impl Node {
    pub fn from_row(r: NodeRow) -> Result<Node, FleetError> {
        Ok(Node {
            state: State::parse(&r.state)?,
            name: r.name,
            labels: r.labels,
            driver: r.driver,
            options: r.options,
            since_ms: r.since_ms,
            note: r.note,
        })
    }

    pub fn to_row(&self) -> NodeRow {
        NodeRow {
            name: self.name.clone(),
            labels: self.labels.clone(),
            state: self.state.as_str().to_owned(),
            driver: self.driver.clone(),
            options: self.options.clone(),
            since_ms: self.since_ms,
            note: self.note.clone(),
        }
    }

    /// The escalation ladder's class: the `class` label, else `default`.
    pub fn class(&self) -> &str {
        self.labels.get("class").map_or("default", String::as_str)
    }
}

/// What a request asks for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    /// drain → reboot (escalation ladder) → restore.
    Reboot,
    /// drain, and stay drained.
    Drain,
    /// give a drained node back to production.
    Undrain,
}

impl Kind {
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Reboot => "reboot",
            Kind::Drain => "drain",
            Kind::Undrain => "undrain",
        }
    }

    fn parse(s: &str) -> Option<Kind> {
        [Kind::Reboot, Kind::Drain, Kind::Undrain]
            .into_iter()
            .find(|k| k.as_str() == s)
    }
}

/// Who asked: an operator (CLI, API) or automation (a plugin, a rule). The
/// storm brake stops automation only; operators are the brake's release.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Origin {
    Operator,
    Automation,
}

/// When a request may start.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "policy", content = "at_ms")]
pub enum Policy {
    /// As soon as the budgets allow.
    Asap,
    /// Not before this time (ms since the epoch).
    At(i64),
    /// Inside a maintenance window that covers the node.
    Window,
}

impl Policy {
    /// `asap`, `window`, or `at=TIME` (RFC 3339, e.g. `at=2026-11-27T02:00:00Z`).
    pub fn parse(text: &str) -> Result<Policy, String> {
        match text {
            "asap" => Ok(Policy::Asap),
            "window" => Ok(Policy::Window),
            _ => {
                let Some(at) = text
                    .strip_prefix("at=")
                    .or_else(|| text.strip_prefix("at:"))
                else {
                    return Err(format!(
                        "unknown policy {text:?}: use asap, window, or at=TIME (e.g. at=2026-11-27T02:00:00Z)"
                    ));
                };
                let t: jiff::Timestamp = at
                    .parse()
                    .map_err(|e| format!("policy at={at}: not an RFC 3339 time ({e})"))?;
                Ok(Policy::At(t.as_millisecond()))
            }
        }
    }
}

impl fmt::Display for Policy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Policy::Asap => f.write_str("asap"),
            Policy::Window => f.write_str("window"),
            Policy::At(ms) => write!(f, "at={}", crate::fmt_time(*ms)),
        }
    }
}

/// Where a request is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    /// Waiting for a budget, a window, its time, the pause or the brake.
    Queued,
    /// The node is in the request's lifecycle.
    Active,
    Done,
    /// A step failed or a deadline passed: a person must look.
    Intervention,
    Denied,
    /// Ended by an operator: a cancel, or a set-state of its node.
    Cancelled,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Queued => "queued",
            Status::Active => "active",
            Status::Done => "done",
            Status::Intervention => "intervention",
            Status::Denied => "denied",
            Status::Cancelled => "cancelled",
        }
    }

    fn parse(s: &str) -> Status {
        match s {
            "queued" => Status::Queued,
            "active" => Status::Active,
            "intervention" => Status::Intervention,
            "denied" => Status::Denied,
            "cancelled" => Status::Cancelled,
            // Before the controller, requests were recorded `accepted` and
            // acted on at once: closed.
            _ => Status::Done,
        }
    }

    pub fn open(self) -> bool {
        matches!(self, Status::Queued | Status::Active)
    }
}

/// The controller's fields of a request (the `spec` JSON column).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Lifecycle {
    /// When the current phase (the node's state) began.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phase_started_ms: Option<i64>,
    /// When the current phase (or escalation step) times out.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phase_deadline_ms: Option<i64>,
    /// The whole reboot must be back by then (set when rebooting starts).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reboot_deadline_ms: Option<i64>,
    /// The escalation step (index into the node class's ladder).
    #[serde(default)]
    pub step: u32,
    /// The phase's one-shot driver call has been recorded as issued.
    #[serde(default)]
    pub issued: bool,
    /// The last gate that held or refused it (brake, pause, window,
    /// intervention, budget), kept once it passes: related incidents are
    /// grouped by it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub held_by: Option<Gate>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
struct Spec {
    origin: Origin,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    grant: Option<GrantRef>,
    #[serde(flatten)]
    policy: Policy,
    drain_timeout_ms: i64,
    reboot_timeout_ms: i64,
    #[serde(flatten)]
    life: Lifecycle,
}

/// A fleet request.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Request {
    pub id: String,
    pub node: String,
    pub kind: Kind,
    pub reason: String,
    pub execution_id: Option<String>,
    pub actor: String,
    pub origin: Origin,
    /// The grant a plugin's request was made under; `None` for operators.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub grant: Option<GrantRef>,
    pub policy: Policy,
    /// How long the drain may take once started.
    pub drain_timeout_ms: i64,
    /// How long the node may take to come back once the reboot starts.
    pub reboot_timeout_ms: i64,
    pub status: Status,
    pub detail: String,
    pub created_ms: i64,
    pub updated_ms: i64,
    #[serde(flatten)]
    pub life: Lifecycle,
}

impl Request {
    pub fn from_row(r: RequestRow) -> Result<Request, FleetError> {
        let kind = Kind::parse(&r.kind).unwrap_or(Kind::Reboot);
        let spec: Spec = serde_json::from_value(r.spec.clone()).unwrap_or(Spec {
            origin: if r.execution_id.is_some() {
                Origin::Automation
            } else {
                Origin::Operator
            },
            grant: None,
            policy: Policy::Asap,
            drain_timeout_ms: 0,
            reboot_timeout_ms: 0,
            life: Lifecycle::default(),
        });
        Ok(Request {
            id: r.id,
            node: r.node,
            kind,
            reason: r.reason,
            execution_id: r.execution_id,
            actor: r.actor,
            origin: spec.origin,
            grant: spec.grant,
            policy: spec.policy,
            drain_timeout_ms: spec.drain_timeout_ms,
            reboot_timeout_ms: spec.reboot_timeout_ms,
            status: Status::parse(&r.status),
            detail: r.detail,
            created_ms: r.created_at_ms,
            updated_ms: r.updated_at_ms,
            life: spec.life,
        })
    }

    pub fn to_row(&self) -> RequestRow {
        let spec = Spec {
            origin: self.origin,
            grant: self.grant.clone(),
            policy: self.policy,
            drain_timeout_ms: self.drain_timeout_ms,
            reboot_timeout_ms: self.reboot_timeout_ms,
            life: self.life.clone(),
        };
        RequestRow {
            id: self.id.clone(),
            node: self.node.clone(),
            kind: self.kind.as_str().to_owned(),
            reason: self.reason.clone(),
            execution_id: self.execution_id.clone(),
            status: self.status.as_str().to_owned(),
            created_at_ms: self.created_ms,
            actor: self.actor.clone(),
            spec: serde_json::to_value(spec).unwrap_or_default(),
            detail: self.detail.clone(),
            updated_at_ms: self.updated_ms,
        }
    }
}

/// How the controller answered a request.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// Taken on now: the node is in the lifecycle.
    Accepted,
    /// Waiting for a budget, a window, its time, the pause or the brake.
    Queued,
    /// Refused (storm brake, a node in intervention): it will not happen.
    Denied,
}

/// The gate that delayed or refused a request, so that a plan or an
/// answer can say which of the fleet's rules answered (a grant is checked
/// before the fleet sees the request: the host names that one).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Gate {
    /// Waiting for the time it was scheduled at.
    Schedule,
    /// Waiting for a maintenance window.
    Window,
    /// The fleet is paused.
    Pause,
    /// The storm brake is engaged.
    Brake,
    /// Automatic requests settle before they start.
    Settle,
    /// A budget (rack, max unavailable, ...) is full.
    Budget,
    /// The node is in intervention: automation may not touch it.
    Intervention,
}

impl Gate {
    const ALL: [Gate; 7] = [
        Gate::Schedule,
        Gate::Window,
        Gate::Pause,
        Gate::Brake,
        Gate::Settle,
        Gate::Budget,
        Gate::Intervention,
    ];

    /// The gate `as_str` names, if `text` is one.
    pub fn parse(text: &str) -> Option<Gate> {
        Gate::ALL.into_iter().find(|g| g.as_str() == text)
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Gate::Schedule => "schedule",
            Gate::Window => "window",
            Gate::Pause => "pause",
            Gate::Brake => "brake",
            Gate::Settle => "settle",
            Gate::Budget => "budget",
            Gate::Intervention => "intervention",
        }
    }
}

impl Outcome {
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Accepted => "accepted",
            Outcome::Queued => "queued",
            Outcome::Denied => "denied",
        }
    }
}
