//! SQLite: [`TimerStore`] over the tables of [`crate::timers`].

use crate::timers::*;
use crate::{Pending, Result, SqliteStore};
use drover_core::TriggerInstance;
use rusqlite::{OptionalExtension, params};

impl TimerStore for SqliteStore {
    fn timer_state(&self, timer_key: &str, now_ms: i64) -> Result<TimerState> {
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

    fn fire_timer_slot(
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
            super::events::insert_trigger(conn, &trigger)?;
            Ok(true)
        })
    }

    fn timer_last_slot(&self, timer_key: &str) -> Result<Option<i64>> {
        self.read(|conn| {
            Ok(conn
                .prepare_cached("SELECT last_slot FROM timer_state WHERE timer_key = ?1")?
                .query_row([timer_key], |r| r.get::<_, Option<i64>>(0))
                .optional()?
                .flatten())
        })
    }
}
