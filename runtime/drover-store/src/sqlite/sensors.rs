//! SQLite: [`SensorStore`] over the tables of [`crate::sensors`].

use crate::sensors::*;
use crate::{Result, SqliteStore};
use drover_core::now_ms;
use rusqlite::params;

impl SensorStore for SqliteStore {
    fn put_sensor_status(&self, status: &SensorStatus) -> Result<()> {
        let s = status.clone();
        let last_plan = s
            .last_plan
            .as_ref()
            .map(serde_json::to_string)
            .transpose()?;
        self.write(move |conn| {
            conn.execute(
                "INSERT INTO sensor_status
                    (name, state, last_error, polls, messages, triggers, failures, backoff_ms,
                     updated_at, dry_run, planned, last_plan)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)
                 ON CONFLICT (name) DO UPDATE SET state = excluded.state,
                    last_error = excluded.last_error, polls = excluded.polls,
                    messages = excluded.messages, triggers = excluded.triggers,
                    failures = excluded.failures, backoff_ms = excluded.backoff_ms,
                    updated_at = excluded.updated_at, dry_run = excluded.dry_run,
                    planned = excluded.planned, last_plan = excluded.last_plan",
                params![
                    s.name,
                    s.state,
                    s.last_error,
                    s.polls as i64,
                    s.messages as i64,
                    s.triggers as i64,
                    s.failures as i64,
                    s.backoff_ms.map(|b| b as i64),
                    now_ms(),
                    s.dry_run,
                    s.planned as i64,
                    last_plan
                ],
            )?;
            Ok(())
        })
    }

    fn list_sensor_status(&self) -> Result<Vec<SensorStatus>> {
        self.read(|conn| {
            let mut stmt = conn.prepare_cached(
                "SELECT name, state, last_error, polls, messages, triggers, failures, backoff_ms,
                        updated_at, dry_run, planned, last_plan
                 FROM sensor_status ORDER BY name",
            )?;
            let rows = stmt.query_map([], |r| {
                let last_plan: Option<String> = r.get(11)?;
                Ok(SensorStatus {
                    name: r.get(0)?,
                    state: r.get(1)?,
                    last_error: r.get(2)?,
                    polls: r.get::<_, i64>(3)? as u64,
                    messages: r.get::<_, i64>(4)? as u64,
                    triggers: r.get::<_, i64>(5)? as u64,
                    failures: r.get::<_, i64>(6)? as u64,
                    backoff_ms: r.get::<_, Option<i64>>(7)?.map(|b| b as u64),
                    updated_at_ms: r.get(8)?,
                    dry_run: r.get(9)?,
                    planned: r.get::<_, i64>(10)? as u64,
                    // An unreadable plan is shown as none rather than
                    // hiding the sensor.
                    last_plan: last_plan.and_then(|p| serde_json::from_str(&p).ok()),
                })
            })?;
            Ok(rows.collect::<rusqlite::Result<Vec<_>>>()?)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::SensorStatus;
    use crate::SqliteStore;
    use crate::prelude::*;

    #[test]
    fn sensor_status_round_trips_and_updates() {
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteStore::open(&dir.path().join("drover.db")).unwrap();
        let mut s = SensorStatus {
            name: "testkit.sensor".into(),
            state: "running".into(),
            polls: 1,
            ..Default::default()
        };
        store.put_sensor_status(&s).unwrap();
        s.state = "backoff".into();
        s.last_error = Some("the plugin panicked".into());
        s.failures = 1;
        s.backoff_ms = Some(1000);
        store.put_sensor_status(&s).unwrap();
        let listed = store.list_sensor_status().unwrap();
        assert_eq!(listed.len(), 1);
        s.updated_at_ms = listed[0].updated_at_ms;
        assert_eq!(listed[0], s);
    }
}
