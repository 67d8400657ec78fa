//! Timer state: per timer, when drover first saw it and the latest slot it
//! fired. A slot is recorded in the same transaction as the trigger
//! instance it produces, so a restarted drover never fires it again.

use drover_core::TriggerInstance;
use rusqlite::{OptionalExtension, params};

use crate::{Pending, Result, Store};

/// A timer's persisted state (milliseconds since the Unix epoch).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TimerState {
    /// When the timer was first seen.
    pub anchor_ms: i64,
    /// The latest slot fired, if any.
    pub last_slot_ms: Option<i64>,
}

impl Store {
    /// The timer's state, created with `anchor_ms = now_ms` on first sight.
    pub fn timer_state(&self, timer_key: &str, now_ms: i64) -> Result<TimerState> {
        let key = timer_key.to_owned();
        self.write(move |conn| {
            conn.prepare_cached(
                "INSERT INTO timer_state (timer_key, anchor, last_slot) VALUES (?1, ?2, NULL)
                 ON CONFLICT (timer_key) DO NOTHING",
            )?
            .execute(params![key, now_ms])?;
            Ok(conn
                .prepare_cached("SELECT anchor, last_slot FROM timer_state WHERE timer_key = ?1")?
                .query_row([&key], |r| {
                    Ok(TimerState {
                        anchor_ms: r.get(0)?,
                        last_slot_ms: r.get(1)?,
                    })
                })?)
        })
    }

    /// Fires slot `slot_ms` of a timer: stores `trigger` as `pending` and
    /// the slot as the timer's last, in one transaction, unless that slot
    /// (or a later one) was already fired, in which case nothing is
    /// written. Resolves to whether the trigger was stored.
    pub fn fire_timer_slot(
        &self,
        timer_key: &str,
        slot_ms: i64,
        trigger: TriggerInstance,
    ) -> Result<Pending<bool>> {
        let key = timer_key.to_owned();
        self.write_pipelined(move |conn| {
            let changed = conn
                .prepare_cached(
                    "UPDATE timer_state SET last_slot = ?2
                     WHERE timer_key = ?1 AND (last_slot IS NULL OR last_slot < ?2)",
                )?
                .execute(params![key, slot_ms])?;
            if changed == 0 {
                return Ok(false);
            }
            crate::events::insert_trigger(conn, &trigger)?;
            Ok(true)
        })
    }

    /// The latest slot fired by a timer, if any (for tests and inspection).
    pub fn timer_last_slot(&self, timer_key: &str) -> Result<Option<i64>> {
        self.read(|conn| {
            Ok(conn
                .prepare_cached("SELECT last_slot FROM timer_state WHERE timer_key = ?1")?
                .query_row([timer_key], |r| r.get::<_, Option<i64>>(0))
                .optional()?
                .flatten())
        })
    }
}
