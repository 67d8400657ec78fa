//! The collector: deletes history past its retention (the store's
//! `retention` settings) in small batches with a pause between them, so
//! a backlog of a million rows drains while webhooks and executions keep
//! their latency, then gives the freed pages back to the file system.
//! `drover serve` runs it every `--gc-every`; `drover gc` runs one round,
//! locally or through `POST /api/v1/gc` (and previews one, `GET
//! /api/v1/gc`): both answer with [`GcPreview`] or [`GcReport`], made by
//! [`gc_preview`] and [`gc_round`], which the CLI prints the same way.

use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use drover_store::{History, Store, StoreError, Tally};
use serde::{Deserialize, Serialize};

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

/// One kind in a [`GcPreview`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PreviewKind {
    pub kind: String,
    pub would_delete: u64,
    pub in_use: u64,
}

/// What a round would delete now (`drover gc --dry-run`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct GcPreview {
    pub kinds: Vec<PreviewKind>,
}

/// One kind in a [`GcReport`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CollectedKind {
    pub kind: String,
    pub deleted: u64,
    pub in_use: u64,
}

/// What a round deleted (`drover gc`), and the database's size after it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct GcReport {
    pub kinds: Vec<CollectedKind>,
    /// Keys, sessions and webhook signatures past their expiry.
    pub expired: u64,
    pub freed_bytes: u64,
    pub size_bytes: u64,
    /// Free pages left in the file.
    pub free_bytes: u64,
}

/// [`preview`], as `drover gc --dry-run` and `GET /api/v1/gc` answer it.
pub fn gc_preview(store: &Store) -> Result<GcPreview, StoreError> {
    Ok(GcPreview {
        kinds: preview(store)?
            .into_iter()
            .map(|(k, t)| PreviewKind {
                kind: k.name().to_owned(),
                would_delete: t.rows,
                in_use: t.in_use,
            })
            .collect(),
    })
}

/// One round ([`collect`] at `pace`), then with `vacuum` the whole file
/// rewritten (the caller makes sure nothing else uses the database), as
/// `drover gc` and `POST /api/v1/gc` answer it.
pub fn gc_round(
    store: &Store,
    pace: Pace,
    vacuum: bool,
    stop: &dyn Fn() -> bool,
) -> Result<GcReport, StoreError> {
    let report = collect(store, pace, stop)?;
    let mut freed = report.freed_bytes;
    if vacuum {
        let (before, _) = store.db_size()?;
        store.vacuum()?;
        let (after, _) = store.db_size()?;
        freed += before.saturating_sub(after);
    }
    let (size, free) = store.db_size()?;
    Ok(GcReport {
        kinds: report
            .kinds
            .iter()
            .map(|(k, t)| CollectedKind {
                kind: k.name().to_owned(),
                deleted: t.rows,
                in_use: t.in_use,
            })
            .collect(),
        expired: report.expired,
        freed_bytes: freed,
        size_bytes: size,
        free_bytes: free,
    })
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
