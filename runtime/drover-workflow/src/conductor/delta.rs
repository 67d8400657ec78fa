//! What changed in a workflow's state since it was last stored, so that a
//! durable runner writes O(1) per transition instead of the whole state.
//!
//! The state is a small *head* (status, staged tasks, routes, errors, …)
//! plus three lists that only grow or change at their end: the contexts
//! published, the frames of context-id chains, and the task sequence. A
//! [`StateDelta`] carries the head (with those lists empty) and the list
//! items added or changed since the previous delta; a store keeps the
//! items as rows keyed by (list, index) and puts the lists back into the
//! head when it reads the state ([`STATE_LISTS`] are their JSON pointers;
//! drover-store does this without knowing more of the state).
//! The first delta after [`Conductor::new`], or after resuming a state an
//! older drover stored, carries every item and says `replace`; so does
//! [`Conductor::take_full_delta`], for a state stored under a new run id.
//! A stored head never holds list items, so a resumed state's next delta
//! can start where the stored lists end.

use std::sync::Arc;

use serde::Serialize;

use super::{Conductor, ErrorEntry, Slab, WorkflowState};
use crate::Status;
use crate::expr::JsonMap;
use crate::index::FxSet;

/// JSON pointers of the state's lists, in [`StatePart::list`]'s terms.
pub const STATE_LISTS: [&str; 3] = ["/contexts", "/frames", "/ledger/sequence"];

/// The state's changes since the previous [`Conductor::take_delta`].
#[derive(Debug, Clone)]
pub struct StateDelta {
    /// The state as JSON with the [`STATE_LISTS`] empty.
    pub head: String,
    /// Items of those lists added or changed.
    pub parts: Vec<StatePart>,
    /// Every item is here: drop the ones stored before.
    pub replace: bool,
}

/// One item of one of the state's lists.
#[derive(Debug, Clone)]
pub struct StatePart {
    /// One of [`STATE_LISTS`].
    pub list: &'static str,
    pub index: u32,
    /// The item as JSON.
    pub value: String,
}

/// How far the stored lists go, and the entries changed since.
#[derive(Debug, Default)]
pub(super) struct Marks {
    /// The next delta carries everything.
    pub(super) full: bool,
    contexts: usize,
    frames: usize,
    entries: usize,
    /// Entries below `entries` changed since the last delta.
    pub(super) dirty: FxSet<u32>,
}

impl Marks {
    pub(super) fn full() -> Marks {
        Marks {
            full: true,
            ..Marks::default()
        }
    }

    /// Nothing to write for what a resumed state already holds.
    pub(super) fn stored(st: &WorkflowState) -> Marks {
        Marks {
            full: false,
            contexts: st.contexts.len(),
            frames: st.frames.len(),
            entries: st.ledger.sequence.len(),
            dirty: FxSet::default(),
        }
    }
}

fn none<T>(o: &&Option<T>) -> bool {
    o.is_none()
}

fn empty<T>(v: &&[T]) -> bool {
    v.is_empty()
}

/// [`WorkflowState`]'s serialized form with its lists left empty: the same
/// fields, in the same order.
#[derive(Serialize)]
struct Head<'a> {
    status: &'a Option<Status>,
    input: &'a JsonMap,
    contexts: [(); 0],
    frames: [(); 0],
    ledger: LedgerHead<'a>,
    staged: &'a Slab,
    next_stage: u64,
    errors: &'a [ErrorEntry],
    #[serde(skip_serializing_if = "none")]
    output: &'a Option<JsonMap>,
    #[serde(skip_serializing_if = "empty")]
    reruns: &'a [Vec<u32>],
    #[serde(skip_serializing_if = "zero")]
    task_runs: u64,
}

fn zero(n: &u64) -> bool {
    *n == 0
}

#[derive(Serialize)]
struct LedgerHead<'a> {
    sequence: [(); 0],
    routes: &'a [Vec<Arc<str>>],
}

fn json<T: Serialize + ?Sized>(value: &T) -> String {
    serde_json::to_string(value).expect("workflow state serializes")
}

impl Conductor<'_> {
    /// The whole state as a delta that replaces whatever is stored: for a
    /// state stored under a new run id (a run's start, a rerun). Later
    /// deltas follow on from it.
    pub fn take_full_delta(&mut self) -> StateDelta {
        assert!(
            self.st.contexts.is_whole() && self.st.ledger.sequence.is_whole(),
            "a conductor that forgot stored items cannot hand them all out again"
        );
        self.marks = Marks::full();
        self.take_delta()
    }

    /// The changes to store since the previous call (see [`StateDelta`]).
    /// A conductor that forgets ([`Conductor::forget_stored`]) then drops
    /// from memory what it handed out and no later event reads.
    pub fn take_delta(&mut self) -> StateDelta {
        let delta = self.delta();
        self.drop_stored();
        delta
    }

    fn delta(&mut self) -> StateDelta {
        let st = &self.st;
        let head = json(&Head {
            status: &st.status,
            input: &st.input,
            contexts: [],
            frames: [],
            ledger: LedgerHead {
                sequence: [],
                routes: &st.ledger.routes,
            },
            staged: &st.staged,
            next_stage: st.next_stage,
            errors: &st.errors,
            output: &st.output,
            reruns: &st.reruns,
            task_runs: st.task_runs,
        });
        let marks = std::mem::replace(&mut self.marks, Marks::stored(st));
        let replace = marks.full;
        let (contexts, frames, entries) = if replace {
            (0, 0, 0)
        } else {
            (marks.contexts, marks.frames, marks.entries)
        };
        let mut parts = Vec::new();
        let mut push = |list, index: usize, value: String| {
            parts.push(StatePart {
                list,
                index: index as u32,
                value,
            })
        };
        for (i, c) in st.contexts.starting_at(contexts) {
            push(STATE_LISTS[0], i, json(c));
        }
        for (i, f) in st.frames.iter().enumerate().skip(frames) {
            push(STATE_LISTS[1], i, json(f));
        }
        let sequence = &st.ledger.sequence;
        if !replace {
            let mut changed: Vec<u32> = marks
                .dirty
                .iter()
                .copied()
                .filter(|&i| (i as usize) < entries)
                .collect();
            changed.sort_unstable();
            for i in changed {
                push(STATE_LISTS[2], i as usize, json(&sequence[i as usize]));
            }
        }
        for (i, e) in sequence.starting_at(entries) {
            push(STATE_LISTS[2], i, json(e));
        }
        StateDelta {
            head,
            parts,
            replace,
        }
    }
}
