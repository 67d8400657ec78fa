//! Retention: how long each kind of history is kept (the `retention`
//! table, with defaults) and the collector's SQL, which deletes what has
//! expired in small batches, each its own short write, so the pipeline's
//! writes interleave with them instead of waiting behind one long delete.
//!
//! A row goes when it is older than its kind's age limit or beyond the
//! newest `max_count` of its kind, and nothing still needs it: an
//! execution goes with its whole workflow tree, and never while a run in
//! that tree is unfinished, an inquiry of it is pending, a retry of it
//! waits or an open fleet request names it; a trigger instance goes with
//! its enforcements, never before the rules have seen it nor while an
//! execution it asked for is queued; a fleet request only once finished.

use crate::Result;

pub(crate) const DAY_MS: i64 = 86_400_000;

/// What makes a row due, resolved against the table when a sweep starts.
#[derive(Clone, Debug)]
pub(crate) enum Due {
    /// ULID-keyed kinds: rows with an id below `count_below` go whatever
    /// their age; rows made before `scan_end` go if they ended before `cutoff`.
    Ids {
        cutoff: Option<i64>,
        count_below: Option<String>,
        scan_end: String,
    },
    /// Integer-keyed, append-only kinds: rows with an id below this go.
    Below(i64),
    /// Fleet requests: finished ones last updated before this instant go.
    UpdatedBefore(i64),
    Nothing,
}

/// A kind of history the collector prunes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum History {
    /// Executions with their workflow runs, children, inquiries and
    /// finished queue entries.
    Executions,
    /// Trigger instances with their enforcements.
    Triggers,
    /// The per-node history of the fleet controller.
    NodeHistory,
    /// Finished fleet requests.
    FleetRequests,
    /// The audit log of capability uses.
    Audit,
}

/// How long a kind is kept; both `None`: for ever.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct Keep {
    /// Rows older than this (milliseconds) go.
    pub max_age_ms: Option<i64>,
    /// Rows beyond the newest this many go.
    pub max_count: Option<u64>,
}

impl History {
    pub const ALL: [History; 5] = [
        History::Executions,
        History::Triggers,
        History::NodeHistory,
        History::FleetRequests,
        History::Audit,
    ];

    /// The name operators use (`drover retention set executions …`).
    pub fn name(self) -> &'static str {
        match self {
            History::Executions => "executions",
            History::Triggers => "triggers",
            History::NodeHistory => "node-history",
            History::FleetRequests => "fleet-requests",
            History::Audit => "audit",
        }
    }

    pub fn parse(name: &str) -> Option<History> {
        History::ALL.into_iter().find(|k| k.name() == name)
    }

    /// What a kind holds, for help and listings.
    pub fn holds(self) -> &'static str {
        match self {
            History::Executions => {
                "executions, their workflow runs and children, answered inquiries"
            }
            History::Triggers => "trigger instances and their enforcements",
            History::NodeHistory => "the fleet controller's per-node history",
            History::FleetRequests => "finished node requests",
            History::Audit => "the audit log of capability uses",
        }
    }

    /// Kept when the operator set nothing: a month of work, a quarter of
    /// fleet history, a year of audit (what was done outlives how).
    pub fn default_keep(self) -> Keep {
        let days = match self {
            History::Executions | History::Triggers => 30,
            History::NodeHistory | History::FleetRequests => 90,
            History::Audit => 365,
        };
        Keep {
            max_age_ms: Some(days * DAY_MS),
            max_count: None,
        }
    }
}

impl Keep {
    pub fn is_forever(&self) -> bool {
        self.max_age_ms.is_none() && self.max_count.is_none()
    }

    /// Rows older than this instant (Unix ms) are due by age.
    pub(crate) fn cutoff(&self, now_ms: i64) -> Option<i64> {
        self.max_age_ms.map(|age| now_ms.saturating_sub(age))
    }
}

/// A kind's retention as it applies now.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RetentionSetting {
    pub kind: History,
    pub keep: Keep,
    /// True when no operator set it: [`History::default_keep`].
    pub is_default: bool,
    pub updated_by: Option<String>,
}

/// One kind's collection within a round: which rows are due (fixed when
/// it starts) and how far the scan has come.
#[derive(Clone, Debug)]
pub struct Sweep {
    pub(crate) kind: History,
    pub(crate) due: Due,
    /// The last key scanned (text ids) or deleted below (integer ids).
    pub(crate) cursor: String,
    pub(crate) done: bool,
}

/// What a batch or a preview found.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Tally {
    /// Rows deleted (or, in a preview, that would be), dependents included.
    pub rows: u64,
    /// Rows due by age or count but kept because something still needs them.
    pub in_use: u64,
}

impl Tally {
    pub(crate) fn gone(rows: u64) -> Tally {
        Tally { rows, in_use: 0 }
    }

    pub(crate) fn kept(rows: u64) -> Tally {
        Tally {
            rows: 0,
            in_use: rows,
        }
    }
}

impl std::ops::AddAssign for Tally {
    fn add_assign(&mut self, other: Tally) {
        self.rows += other.rows;
        self.in_use += other.in_use;
    }
}

impl Sweep {
    /// True once nothing due is left past the cursor.
    pub fn is_done(&self) -> bool {
        self.done
    }
}

/// Retention settings and the collector's deletions.
pub trait RetentionStore: Send + Sync {
    /// Every kind's retention, the operator's setting or the default.
    fn retention(&self) -> Result<Vec<RetentionSetting>>;

    /// Sets a kind's retention (`None`: back to the default).
    fn set_retention(&self, kind: History, keep: Option<Keep>, actor: &str) -> Result<()>;

    /// Starts collecting one kind: fixes, as of `now_ms`, which rows are due.
    fn gc_sweep(&self, kind: History, keep: Keep, now_ms: i64) -> Result<Sweep>;

    /// Deletes the next batch of at most `batch` due units (a root
    /// execution with its tree, a trigger instance with its enforcements,
    /// a row) in one write, and advances the sweep.
    fn gc_batch(&self, sweep: &mut Sweep, batch: usize) -> Result<Tally>;

    /// What a whole sweep would delete, without deleting (`drover gc --dry-run`).
    fn gc_preview(&self, kind: History, keep: Keep, now_ms: i64) -> Result<Tally>;

    /// Deletes what has expired on its own: kv keys past their TTL, login
    /// sessions past their expiry, webhook signatures out of their window.
    fn gc_expired(&self, now_ms: i64) -> Result<u64>;

    /// Gives up to `pages` free pages back to the file system, when the
    /// database was created with incremental auto-vacuum (every database
    /// drover creates is; older ones need one `drover gc --vacuum`).
    /// Returns the free pages left, or `None` if the database does not
    /// give pages back (it was created without incremental auto-vacuum).
    fn incremental_vacuum(&self, pages: u32) -> Result<Option<u64>>;

    /// The database's size in bytes and how much of it is free pages.
    fn db_size(&self) -> Result<(u64, u64)>;

    /// Rewrites the whole database compactly and switches it to
    /// incremental auto-vacuum. Needs the database to itself for its
    /// duration: other writers wait (stop `drover serve` first).
    fn vacuum(&self) -> Result<()>;
}
