//! The collector: deletes history past its retention (the store's
//! `retention` settings) in small batches with a pause between them, so
//! a backlog of a million rows drains while webhooks and executions keep
//! their latency, then gives the freed pages back to the file system.
//! `drover serve` runs it every `--gc-every`; `drover gc` runs one round.

use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use drover_store::{History, Store, StoreError, Tally};

use crate::Shared;

/// Root executions (each with its workflow tree) or rows per write.
const BATCH: usize = 200;
/// Free pages given back per write: moving pages is the costliest write
/// the collector makes, so fewer per write than rows per batch.
const VACUUM_PAGES: u32 = 64;

/// How a round paces itself.
#[derive(Clone, Copy, Debug)]
pub struct Pace {
    /// Units per write.
    pub batch: usize,
    /// Sleep between writes, leaving the writer to the pipeline.
    pub pause: Duration,
}

impl Pace {
    /// Under `serve`: small writes, each followed by a pause as long again
    /// as it took or at least 5 ms.
    pub const BACKGROUND: Pace = Pace {
        batch: BATCH,
        pause: Duration::from_millis(5),
    };
    /// `drover gc` on its own: as fast as the disk goes.
    pub const FOREGROUND: Pace = Pace {
        batch: 1000,
        pause: Duration::ZERO,
    };
}

/// What one round deleted.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Report {
    /// Per kind: rows deleted, and rows due but still needed.
    pub kinds: Vec<(History, Tally)>,
    /// Keys, sessions and signatures past their expiry.
    pub expired: u64,
    /// Bytes given back to the file system.
    pub freed_bytes: u64,
}

impl Report {
    pub fn rows(&self) -> u64 {
        self.kinds.iter().map(|(_, t)| t.rows).sum::<u64>() + self.expired
    }
}

/// Runs one round: every kind under its retention as of now, then
/// incremental vacuum. Stops early (between writes) when `stop` says so.
pub fn collect(store: &Store, pace: Pace, stop: &dyn Fn() -> bool) -> Result<Report, StoreError> {
    let now = drover_core::now_ms();
    let (size_before, _) = store.db_size()?;
    let mut report = Report {
        expired: store.gc_expired(now)?,
        ..Report::default()
    };
    for setting in store.retention()? {
        let mut sweep = store.gc_sweep(setting.kind, setting.keep, now)?;
        let mut tally = Tally::default();
        while !sweep.is_done() && !stop() {
            let started = Instant::now();
            tally += store.gc_batch(&mut sweep, pace.batch)?;
            rest(pace, started.elapsed());
        }
        report.kinds.push((setting.kind, tally));
    }
    if report.rows() > 0 {
        let mut left = u64::MAX;
        while !stop() {
            let started = Instant::now();
            // Done when nothing is free, or the database does not give
            // pages back, or giving back stopped making progress.
            match store.incremental_vacuum(VACUUM_PAGES)? {
                Some(free) if free > 0 && free < left => left = free,
                _ => break,
            }
            rest(pace, started.elapsed());
        }
    }
    let (size_after, _) = store.db_size()?;
    report.freed_bytes = size_before.saturating_sub(size_after);
    Ok(report)
}

/// What a round would delete now, deleting nothing.
pub fn preview(store: &Store) -> Result<Vec<(History, Tally)>, StoreError> {
    let now = drover_core::now_ms();
    store
        .retention()?
        .into_iter()
        .map(|s| Ok((s.kind, store.gc_preview(s.kind, s.keep, now)?)))
        .collect()
}

fn rest(pace: Pace, took: Duration) {
    if !pace.pause.is_zero() {
        std::thread::sleep(pace.pause.max(took));
    }
}

/// Runs a round every `every` (the first soon after start) until the
/// pipeline stops.
pub(crate) fn spawn(shared: Arc<Shared>, every: Duration) -> JoinHandle<()> {
    shared
        .clone()
        .spawn("drover-gc".into(), move || {
            let store = shared.app.store().clone();
            let mut next = Instant::now() + every.min(Duration::from_secs(10));
            while !shared.stopping() {
                if Instant::now() < next {
                    shared.stop.sleep(next - Instant::now());
                    continue;
                }
                match collect(&store, Pace::BACKGROUND, &|| shared.stopping()) {
                    Ok(report) if report.rows() > 0 => {
                        let kinds: Vec<String> = report
                            .kinds
                            .iter()
                            .filter(|(_, t)| t.rows > 0)
                            .map(|(k, t)| format!("{}={}", k.name(), t.rows))
                            .collect();
                        tracing::info!(
                            deleted = %kinds.join(" "),
                            expired = report.expired,
                            freed_bytes = report.freed_bytes,
                            "retention: history past its retention deleted"
                        );
                    }
                    Ok(_) => {}
                    Err(e) => tracing::warn!(error = %e, "retention: collection failed"),
                }
                next = Instant::now() + every;
            }
        })
        .expect("spawn the retention collector")
}
