//! What the operator surfaces (the web UI, the API behind `--server`)
//! read about work that waits: how an unfinished workflow run stands, and
//! a cheap marker of the pending inquiries for the UI's change feed.

use rusqlite::OptionalExtension;

use crate::{Result, Store, WorkflowRun};

/// How an unfinished workflow run stands.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Progress {
    /// `running`, `pending` (parked: an inquiry, a delay), `paused`,
    /// `pausing` or `canceling`.
    pub status: &'static str,
    /// What it waits on (`inquiry ID`, `paused`), except a delay.
    pub waiting_on: Option<String>,
    /// The end of the task delay it waits for, in Unix milliseconds.
    pub delay_until_ms: Option<i64>,
}

impl WorkflowRun {
    /// Where this run stands, from what parks it and what was asked of it.
    pub fn progress(&self) -> Progress {
        if let Some(ms) = self
            .parked
            .as_deref()
            .and_then(|w| w.strip_prefix("delay until "))
            .and_then(|ms| ms.parse::<i64>().ok())
        {
            return Progress {
                status: "pending",
                waiting_on: None,
                delay_until_ms: Some(ms),
            };
        }
        let (status, waiting_on) = match (&self.parked, self.control.as_deref()) {
            (Some(why), _) if why == "paused" => ("paused", Some(why.clone())),
            (Some(why), _) => ("pending", Some(why.clone())),
            (None, Some("pause")) => ("pausing", None),
            (None, Some("cancel")) => ("canceling", None),
            _ => ("running", None),
        };
        Progress {
            status,
            waiting_on,
            delay_until_ms: None,
        }
    }
}

impl Store {
    /// `(pending inquiries, newest pending id)`: changes when an inquiry
    /// is asked, answered, times out or is canceled. One read of the
    /// pending-inquiries index.
    pub fn pending_inquiries_marker(&self) -> Result<(u64, Option<String>)> {
        self.read(|conn| {
            Ok(conn
                .prepare_cached("SELECT count(*), max(id) FROM inquiries WHERE state = 'pending'")?
                .query_row([], |r| Ok((r.get::<_, i64>(0)? as u64, r.get(1)?)))
                .optional()?
                .unwrap_or((0, None)))
        })
    }
}
