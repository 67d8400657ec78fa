//! Timer state: per timer, when drover first saw it and the latest slot it
//! fired. A slot is recorded in the same transaction as the trigger
//! instance it produces, so a restarted drover never fires it again.

use drover_core::TriggerInstance;

use crate::{Pending, Result};

/// A timer's persisted state (milliseconds since the Unix epoch).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TimerState {
    /// When the timer was first seen.
    pub anchor_ms: i64,
    /// The latest slot fired, if any.
    pub last_slot_ms: Option<i64>,
}

/// Timer state: when each timer was first seen and its latest slot.
pub trait TimerStore: Send + Sync {
    /// The timer's state, created with `anchor_ms = now_ms` on first sight.
    fn timer_state(&self, timer_key: &str, now_ms: i64) -> Result<TimerState>;

    /// Fires slot `slot_ms` of a timer: stores `trigger` as `pending` and
    /// the slot as the timer's last, in one transaction, unless that slot
    /// (or a later one) was already fired, in which case nothing is
    /// written. Resolves to whether the trigger was stored.
    fn fire_timer_slot(
        &self,
        timer_key: &str,
        slot_ms: i64,
        trigger: TriggerInstance,
    ) -> Result<Pending<bool>>;

    /// The latest slot fired by a timer, if any (for tests and inspection).
    fn timer_last_slot(&self, timer_key: &str) -> Result<Option<i64>>;
}
