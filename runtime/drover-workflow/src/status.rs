//! Statuses and the two state machines (task and workflow).
//!
//! These are Orquesta's tables (`orquesta/statuses.py`, `orquesta/machines.py`)
//! written as `match`es over typed events instead of string keys. A status
//! change is looked up, never computed: an event the table does not list for
//! the current status changes nothing, exactly as upstream. The context that
//! upstream appends to event names (`_workflow_active`, `_items_incomplete`,
//! ...) is computed by the conductor from its counters and passed in here as
//! plain fields, so this module is pure and O(1).

use std::fmt;

use serde::{Deserialize, Serialize};

/// The status of a workflow, a task or an action execution. An entry whose
/// status was never set is `None` (upstream's `"null"`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Requested,
    Scheduled,
    Delayed,
    Running,
    Pending,
    Pausing,
    Paused,
    Resuming,
    Succeeded,
    Failed,
    /// Upstream's `EXPIRED`, spelled `timeout`.
    #[serde(rename = "timeout")]
    Expired,
    Abandoned,
    Retrying,
    Canceling,
    Canceled,
}

impl Status {
    /// Every status, in upstream's order.
    pub const ALL: [Status; 15] = [
        Status::Requested,
        Status::Scheduled,
        Status::Delayed,
        Status::Running,
        Status::Pending,
        Status::Pausing,
        Status::Paused,
        Status::Resuming,
        Status::Succeeded,
        Status::Failed,
        Status::Expired,
        Status::Abandoned,
        Status::Retrying,
        Status::Canceling,
        Status::Canceled,
    ];

    /// The wire name (`"timeout"` for [`Status::Expired`]).
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Requested => "requested",
            Status::Scheduled => "scheduled",
            Status::Delayed => "delayed",
            Status::Running => "running",
            Status::Pending => "pending",
            Status::Pausing => "pausing",
            Status::Paused => "paused",
            Status::Resuming => "resuming",
            Status::Succeeded => "succeeded",
            Status::Failed => "failed",
            Status::Expired => "timeout",
            Status::Abandoned => "abandoned",
            Status::Retrying => "retrying",
            Status::Canceling => "canceling",
            Status::Canceled => "canceled",
        }
    }

    /// Parses a wire name.
    pub fn parse(s: &str) -> Option<Status> {
        Status::ALL.into_iter().find(|st| st.as_str() == s)
    }

    /// requested, scheduled, delayed, running, pending.
    pub fn is_starting(self) -> bool {
        matches!(
            self,
            Status::Requested
                | Status::Scheduled
                | Status::Delayed
                | Status::Running
                | Status::Pending
        )
    }

    /// requested, scheduled, delayed, running, resuming, retrying: the
    /// workflow hands out tasks only in these.
    pub fn is_running(self) -> bool {
        matches!(
            self,
            Status::Requested
                | Status::Scheduled
                | Status::Delayed
                | Status::Running
                | Status::Resuming
                | Status::Retrying
        )
    }

    /// requested, scheduled, delayed, running, resuming, pausing, canceling.
    pub fn is_active(self) -> bool {
        matches!(
            self,
            Status::Requested
                | Status::Scheduled
                | Status::Delayed
                | Status::Running
                | Status::Resuming
                | Status::Pausing
                | Status::Canceling
        )
    }

    /// failed, timeout, abandoned.
    pub fn is_abended(self) -> bool {
        matches!(self, Status::Failed | Status::Expired | Status::Abandoned)
    }

    /// succeeded, failed, timeout, abandoned, canceled.
    pub fn is_completed(self) -> bool {
        matches!(
            self,
            Status::Succeeded
                | Status::Failed
                | Status::Expired
                | Status::Abandoned
                | Status::Canceled
        )
    }

    /// pausing, paused.
    pub fn is_pause(self) -> bool {
        matches!(self, Status::Pausing | Status::Paused)
    }

    /// canceling, canceled.
    pub fn is_cancel(self) -> bool {
        matches!(self, Status::Canceling | Status::Canceled)
    }
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Helpers over optional statuses (`None` = unset).
pub(crate) fn opt_str(s: Option<Status>) -> &'static str {
    s.map_or("null", Status::as_str)
}

/// The summary of a with-items task's other items that upstream appends to
/// an item event's name (`_task_active`/`_task_dormant` + `_items_*`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Items {
    Paused,
    Canceled,
    Failed,
    Incomplete,
    Completed,
}

/// An event as seen by the task state machine.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum TaskEvent {
    /// An action execution event; `items` is `Some((task_active, items))`
    /// for a with-items item event whose status needs the context.
    Action(Status, Option<(bool, Items)>),
    /// Engine commands: continue/noop (succeed), fail, retry.
    Continue,
    Noop,
    Fail,
    Retry,
    /// A workflow status request pushed to an active task; `items` is
    /// `Some((task_active, incomplete))` for a with-items task on pause/cancel.
    Workflow(Status, Option<(bool, bool)>),
}

/// The task state machine: the new status, or `None` if the table has no
/// entry (no change). `Err` when the current status has no table at all.
pub(crate) fn task_transition(cur: Option<Status>, ev: TaskEvent) -> Result<Option<Status>, ()> {
    use Items as I;
    use Status as S;
    use TaskEvent as E;
    let Some(cur) = cur else {
        return Ok(match ev {
            E::Action(S::Requested, None) => Some(S::Requested),
            E::Action(S::Scheduled, None) => Some(S::Scheduled),
            E::Action(S::Delayed, None) => Some(S::Delayed),
            E::Action(S::Running, None) => Some(S::Running),
            E::Action(S::Pending, None) => Some(S::Pending),
            E::Continue | E::Noop => Some(S::Succeeded),
            E::Fail => Some(S::Failed),
            _ => None,
        });
    };
    // Abended action statuses map to failed once a task has started.
    let abended = |s: S| matches!(s, S::Failed | S::Expired | S::Abandoned);
    let next = match cur {
        S::Requested | S::Scheduled | S::Delayed => match ev {
            E::Action(s, None) => match s {
                S::Requested => None,
                S::Scheduled if cur != S::Scheduled => Some(S::Scheduled),
                S::Delayed if cur != S::Delayed => Some(S::Delayed),
                S::Running
                | S::Pending
                | S::Pausing
                | S::Paused
                | S::Canceling
                | S::Canceled
                | S::Failed
                | S::Expired
                | S::Abandoned => Some(s),
                _ => None,
            },
            _ => None,
        },
        S::Running => match ev {
            E::Action(S::Running, None) => Some(S::Running),
            E::Action(S::Pending, None) => Some(S::Pending),
            E::Action(S::Pending, Some((true, I::Incomplete))) => Some(S::Pausing),
            E::Action(S::Pending | S::Paused, Some((false, i))) => Some(match i {
                I::Paused | I::Incomplete | I::Completed => S::Paused,
                I::Canceled => S::Canceled,
                I::Failed => S::Failed,
            }),
            E::Action(S::Pausing, None) => Some(S::Pausing),
            E::Action(S::Paused, None) => Some(S::Paused),
            E::Action(S::Paused, Some((true, I::Incomplete))) => Some(S::Pausing),
            E::Action(S::Canceling, None) => Some(S::Canceling),
            E::Action(S::Canceled, None) => Some(S::Canceled),
            E::Action(S::Canceled, Some((true, I::Incomplete))) => Some(S::Canceling),
            E::Action(S::Canceled, Some((false, _))) => Some(S::Canceled),
            E::Action(s, None) if abended(s) => Some(S::Failed),
            E::Action(s, Some((false, i))) if abended(s) => Some(if i == I::Canceled {
                S::Canceled
            } else {
                S::Failed
            }),
            E::Action(S::Succeeded, None) => Some(S::Succeeded),
            E::Action(S::Succeeded, Some((true, I::Incomplete))) => Some(S::Running),
            E::Action(S::Succeeded, Some((false, i))) => Some(match i {
                I::Canceled => S::Canceled,
                I::Paused => S::Paused,
                I::Failed => S::Failed,
                I::Incomplete => S::Running,
                I::Completed => S::Succeeded,
            }),
            E::Workflow(S::Pausing | S::Paused, Some((true, true))) => Some(S::Pausing),
            E::Workflow(S::Pausing | S::Paused, Some((false, true))) => Some(S::Paused),
            E::Workflow(S::Canceling | S::Canceled, Some((true, true))) => Some(S::Canceling),
            E::Workflow(S::Canceling | S::Canceled, Some((false, true))) => Some(S::Canceled),
            _ => None,
        },
        S::Pending => match ev {
            E::Action(S::Canceled, None) => Some(S::Canceled),
            E::Action(s, None) if abended(s) => Some(S::Failed),
            E::Action(S::Succeeded, None) => Some(S::Succeeded),
            _ => None,
        },
        S::Pausing => match ev {
            E::Action(S::Pending | S::Paused, Some((false, i))) => Some(match i {
                I::Paused | I::Incomplete | I::Completed => S::Paused,
                I::Canceled => S::Canceled,
                I::Failed => S::Failed,
            }),
            E::Action(S::Paused, None) => Some(S::Paused),
            E::Action(S::Resuming, None) => Some(S::Resuming),
            E::Action(S::Canceling, None) => Some(S::Canceling),
            E::Action(S::Canceled, None) => Some(S::Canceled),
            E::Action(S::Canceled, Some((false, _))) => Some(S::Canceled),
            E::Action(s, None) if abended(s) => Some(S::Failed),
            E::Action(s, Some((false, i))) if abended(s) => Some(if i == I::Canceled {
                S::Canceled
            } else {
                S::Failed
            }),
            E::Action(S::Succeeded, Some((false, i))) => Some(match i {
                I::Paused | I::Incomplete => S::Paused,
                I::Canceled => S::Canceled,
                I::Failed => S::Failed,
                I::Completed => S::Succeeded,
            }),
            _ => None,
        },
        S::Paused => match ev {
            E::Action(S::Running, None) => Some(S::Running),
            E::Action(S::Resuming, None) => Some(S::Resuming),
            E::Action(S::Canceling, None) => Some(S::Canceling),
            E::Action(S::Canceled, None) => Some(S::Canceled),
            _ => None,
        },
        S::Resuming => match ev {
            E::Action(S::Running, None) => Some(S::Running),
            E::Action(S::Canceling, None) => Some(S::Canceling),
            E::Action(S::Canceled, None) => Some(S::Canceled),
            _ => None,
        },
        S::Retrying => match ev {
            E::Action(S::Running, None) => Some(S::Running),
            E::Action(S::Canceling, None) => Some(S::Canceling),
            E::Action(S::Canceled, None) => Some(S::Canceled),
            E::Workflow(S::Canceling | S::Canceled, None) => Some(S::Canceled),
            _ => None,
        },
        S::Canceling => match ev {
            E::Action(S::Pending | S::Paused, Some((false, _))) => Some(S::Canceled),
            E::Action(S::Paused, None) => Some(S::Canceled),
            E::Action(S::Canceled, None) => Some(S::Canceled),
            E::Action(S::Canceled, Some((false, _))) => Some(S::Canceled),
            E::Action(s, None) if abended(s) => Some(S::Failed),
            E::Action(s, Some((false, _))) if abended(s) => Some(S::Canceled),
            E::Action(S::Succeeded, Some((false, i))) => Some(if i == I::Completed {
                S::Succeeded
            } else {
                S::Canceled
            }),
            _ => None,
        },
        S::Canceled => None,
        S::Succeeded | S::Failed => match ev {
            E::Retry => Some(S::Retrying),
            _ => None,
        },
        S::Expired | S::Abandoned => return Err(()),
    };
    Ok(next)
}

/// How a task event ended for the workflow (upstream's suffixes on
/// `task_succeeded`/`task_remediated`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Outlook {
    Canceled,
    Paused,
    Incomplete,
    Completed,
}

/// An event as seen by the workflow state machine.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum WorkflowEvent {
    /// A requested workflow status. `active` is `Some` for pause/cancel
    /// statuses (whether any task is active); `completed` is set on resume
    /// of a paused workflow that has nothing left to do.
    Request {
        status: Status,
        active: Option<bool>,
        completed: bool,
    },
    /// A task's new status. `remediated`: an abended task with satisfied
    /// transitions. `active`: set for conditional events. `outlook`: set for
    /// succeeded/remediated.
    Task {
        status: Status,
        remediated: bool,
        active: Option<bool>,
        outlook: Option<Outlook>,
    },
}

/// The workflow state machine: the new status, or `None` if the table has no
/// entry (no change). `Err` when the current status has no table at all.
pub(crate) fn workflow_transition(
    cur: Option<Status>,
    ev: WorkflowEvent,
) -> Result<Option<Status>, ()> {
    use Outlook as O;
    use Status as S;
    use WorkflowEvent as E;
    let Some(cur) = cur else {
        return Ok(match ev {
            E::Request {
                status,
                active: None,
                completed: false,
            } => match status {
                S::Requested | S::Scheduled | S::Delayed | S::Running | S::Failed => Some(status),
                _ => None,
            },
            _ => None,
        });
    };
    // The request part shared by running, pausing and resuming.
    let pause_cancel = |status: S, active: Option<bool>| -> Option<S> {
        match (status, active) {
            (S::Pausing | S::Paused, Some(true)) => Some(S::Pausing),
            (S::Pausing | S::Paused, Some(false)) => Some(S::Paused),
            (S::Canceling | S::Canceled, Some(true)) => Some(S::Canceling),
            (S::Canceling | S::Canceled, Some(false)) => Some(S::Canceled),
            _ => None,
        }
    };
    let next = match cur {
        S::Requested | S::Scheduled | S::Delayed => match ev {
            E::Request {
                status,
                active,
                completed: false,
            } => match (status, active) {
                (S::Scheduled, None) if cur != S::Scheduled => Some(S::Scheduled),
                (S::Delayed, None) if cur != S::Delayed => Some(S::Delayed),
                (S::Running, None) => Some(S::Running),
                (S::Pausing | S::Paused, Some(false)) => Some(S::Paused),
                (S::Canceling | S::Canceled, Some(false)) => Some(S::Canceled),
                (S::Failed, None) => Some(S::Failed),
                _ => None,
            },
            _ => None,
        },
        S::Running => match ev {
            E::Request {
                status,
                active,
                completed: false,
            } => match (status, active) {
                (S::Failed, None) => Some(S::Failed),
                (S::Succeeded, None) => Some(S::Succeeded),
                _ => pause_cancel(status, active),
            },
            E::Request { .. } => None,
            E::Task {
                status,
                remediated,
                active,
                outlook,
            } => match (status, remediated) {
                (S::Pending, false) => active.map(|a| if a { S::Pausing } else { S::Paused }),
                (S::Pausing, false) => Some(S::Running),
                (S::Paused, false) => active.map(|a| if a { S::Running } else { S::Paused }),
                (S::Succeeded, false) | (_, true) => match (active, outlook) {
                    (Some(true), Some(O::Incomplete | O::Completed)) => Some(S::Running),
                    (Some(true), Some(O::Paused)) => Some(S::Pausing),
                    (Some(true), Some(O::Canceled)) => Some(S::Canceling),
                    (Some(false), Some(O::Incomplete)) => Some(S::Running),
                    (Some(false), Some(O::Completed)) => Some(S::Succeeded),
                    (Some(false), Some(O::Paused)) => Some(S::Paused),
                    (Some(false), Some(O::Canceled)) => Some(S::Canceled),
                    _ => None,
                },
                (S::Failed, false) => active.map(|_| S::Failed),
                (S::Canceling, false) => Some(S::Canceling),
                (S::Canceled, false) => active.map(|a| if a { S::Canceling } else { S::Canceled }),
                _ => None,
            },
        },
        S::Pausing => match ev {
            E::Request {
                status,
                active,
                completed: false,
            } => match (status, active) {
                (S::Running, None) => Some(S::Running),
                (S::Resuming, None) => Some(S::Resuming),
                (S::Failed, None) => Some(S::Failed),
                _ => pause_cancel(status, active),
            },
            E::Request { .. } => None,
            E::Task {
                status,
                remediated,
                active,
                outlook,
            } => match (status, remediated) {
                (S::Pending | S::Paused | S::Retrying, false) => {
                    active.map(|a| if a { S::Pausing } else { S::Paused })
                }
                (S::Succeeded, false) => match (active, outlook) {
                    (Some(true), Some(_)) => Some(S::Pausing),
                    (Some(false), Some(O::Canceled)) => Some(S::Canceled),
                    (Some(false), Some(_)) => Some(S::Paused),
                    _ => None,
                },
                (_, true) => match (active, outlook) {
                    (Some(true), Some(O::Canceled)) => Some(S::Canceling),
                    (Some(true), Some(_)) => Some(S::Pausing),
                    (Some(false), Some(O::Canceled)) => Some(S::Canceled),
                    (Some(false), Some(_)) => Some(S::Paused),
                    _ => None,
                },
                (S::Failed, false) => active.map(|_| S::Failed),
                (S::Canceling, false) => Some(S::Canceling),
                (S::Canceled, false) => active.map(|a| if a { S::Canceling } else { S::Canceled }),
                _ => None,
            },
        },
        S::Paused => match ev {
            E::Request {
                status,
                active,
                completed,
            } => match (status, active, completed) {
                (S::Running, None, false) => Some(S::Running),
                (S::Running, None, true) => Some(S::Succeeded),
                (S::Resuming, None, false) => Some(S::Resuming),
                (S::Resuming, None, true) => Some(S::Succeeded),
                (S::Canceling | S::Canceled, Some(false), false) => Some(S::Canceled),
                (S::Failed, None, false) => Some(S::Failed),
                _ => None,
            },
            E::Task {
                status: S::Running | S::Resuming,
                remediated: false,
                ..
            } => Some(S::Running),
            E::Task { .. } => None,
        },
        S::Resuming => match ev {
            E::Request {
                status,
                active,
                completed: false,
            } => match (status, active) {
                (S::Running, None) => Some(S::Running),
                (S::Failed, None) => Some(S::Failed),
                _ => pause_cancel(status, active),
            },
            E::Request { .. } => None,
            E::Task {
                status,
                remediated,
                active,
                outlook,
            } => match (status, remediated) {
                (S::Running, false) => Some(S::Running),
                (S::Pending, false) => active.map(|a| if a { S::Pausing } else { S::Paused }),
                (S::Succeeded, false) | (_, true) => match (active, outlook) {
                    (Some(true), Some(O::Incomplete | O::Completed)) => Some(S::Running),
                    (Some(false), Some(O::Incomplete)) => Some(S::Running),
                    (Some(false), Some(O::Completed)) => Some(S::Succeeded),
                    (Some(false), Some(O::Paused)) => Some(S::Paused),
                    (Some(false), Some(O::Canceled)) => Some(S::Canceled),
                    _ => None,
                },
                (S::Failed, false) => active.map(|_| S::Failed),
                (S::Canceling, false) => Some(S::Canceling),
                (S::Canceled, false) => active.map(|a| if a { S::Canceling } else { S::Canceled }),
                _ => None,
            },
        },
        S::Canceling => match ev {
            E::Request {
                status,
                active,
                completed: false,
            } => match (status, active) {
                (S::Canceling | S::Canceled, Some(true)) => Some(S::Canceling),
                (S::Canceling | S::Canceled, Some(false)) => Some(S::Canceled),
                (S::Failed, None) => Some(S::Failed),
                _ => None,
            },
            E::Request { .. } => None,
            E::Task {
                status,
                remediated,
                active,
                outlook,
            } => match (status, remediated) {
                (S::Pending | S::Paused | S::Canceled | S::Retrying | S::Failed, false) => {
                    active.map(|a| if a { S::Canceling } else { S::Canceled })
                }
                (S::Succeeded, false) | (_, true) => match (active, outlook) {
                    (Some(true), Some(O::Incomplete | O::Completed)) => Some(S::Canceling),
                    (Some(false), Some(_)) => Some(S::Canceled),
                    _ => None,
                },
                _ => None,
            },
        },
        S::Canceled | S::Failed => None,
        S::Succeeded => match ev {
            E::Request {
                status: S::Failed,
                active: None,
                completed: false,
            } => Some(S::Failed),
            _ => None,
        },
        _ => return Err(()),
    };
    Ok(next)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wire_names_round_trip() {
        for s in Status::ALL {
            assert_eq!(Status::parse(s.as_str()), Some(s));
            let json = serde_json::to_string(&s).unwrap();
            assert_eq!(json, format!("\"{}\"", s.as_str()));
        }
    }

    #[test]
    fn task_table_samples() {
        use Status as S;
        let t = |cur, ev| task_transition(cur, ev).unwrap();
        assert_eq!(
            t(None, TaskEvent::Action(S::Running, None)),
            Some(S::Running)
        );
        assert_eq!(t(None, TaskEvent::Action(S::Succeeded, None)), None);
        assert_eq!(
            t(Some(S::Running), TaskEvent::Action(S::Expired, None)),
            Some(S::Failed)
        );
        assert_eq!(
            t(
                Some(S::Running),
                TaskEvent::Action(S::Failed, Some((true, Items::Incomplete)))
            ),
            None,
        );
        assert_eq!(
            t(
                Some(S::Running),
                TaskEvent::Action(S::Failed, Some((false, Items::Incomplete)))
            ),
            Some(S::Failed),
        );
        assert_eq!(t(Some(S::Failed), TaskEvent::Retry), Some(S::Retrying));
        assert_eq!(
            t(Some(S::Retrying), TaskEvent::Action(S::Running, None)),
            Some(S::Running)
        );
        assert_eq!(
            t(Some(S::Pausing), TaskEvent::Action(S::Succeeded, None)),
            None
        );
    }

    #[test]
    fn workflow_table_samples() {
        use Status as S;
        let w = |cur, ev| workflow_transition(cur, ev).unwrap();
        let task = |status, active, outlook| WorkflowEvent::Task {
            status,
            remediated: false,
            active,
            outlook,
        };
        assert_eq!(
            w(
                Some(S::Running),
                task(S::Succeeded, Some(false), Some(Outlook::Completed))
            ),
            Some(S::Succeeded),
        );
        assert_eq!(
            w(Some(S::Running), task(S::Failed, Some(true), None)),
            Some(S::Failed)
        );
        assert_eq!(
            w(Some(S::Resuming), task(S::Running, None, None)),
            Some(S::Running)
        );
        assert_eq!(w(Some(S::Running), task(S::Running, None, None)), None);
        assert_eq!(
            w(Some(S::Failed), task(S::Succeeded, Some(false), None)),
            None
        );
        let pause = WorkflowEvent::Request {
            status: S::Pausing,
            active: Some(true),
            completed: false,
        };
        assert_eq!(w(Some(S::Running), pause), Some(S::Pausing));
    }
}
