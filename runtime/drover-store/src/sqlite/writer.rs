//! The single writer thread and its group commit.
//!
//! Each job runs in its own savepoint inside a shared transaction; the
//! transaction commits once for the whole batch and every caller is told
//! the outcome after the commit, so "returned Ok" always means "durable".

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{Receiver, SyncSender, sync_channel};
use std::thread::JoinHandle;

use rusqlite::Connection;

use crate::{Pending, Result, StoreError, WriterStats};

/// Most jobs folded into one transaction. Bounds the latency one commit
/// adds to the first job of a batch.
const MAX_BATCH: usize = 1024;
/// Queued jobs before submitters block: back-pressure, not unbounded memory.
const QUEUE_DEPTH: usize = 8192;

type Deliver = Box<dyn FnOnce(Result<()>) + Send>;
/// A queued write. Given no connection (the batch could not begin) it
/// reports the failure without running.
type Job = Box<dyn FnOnce(Option<&Connection>) -> Deliver + Send>;

pub(crate) struct Writer {
    jobs: Option<SyncSender<Job>>,
    thread: Option<JoinHandle<()>>,
    counters: Arc<Counters>,
}

#[derive(Default)]
struct Counters {
    transactions: AtomicU64,
    writes: AtomicU64,
}

impl Writer {
    pub(crate) fn start(conn: Connection) -> Writer {
        let (tx, rx) = sync_channel::<Job>(QUEUE_DEPTH);
        let counters = Arc::new(Counters::default());
        let thread_counters = counters.clone();
        let thread = std::thread::Builder::new()
            .name("drover-db-writer".into())
            .spawn(move || run(conn, rx, &thread_counters))
            .expect("spawn the database writer thread");
        Writer {
            jobs: Some(tx),
            thread: Some(thread),
            counters,
        }
    }

    pub(crate) fn stats(&self) -> WriterStats {
        WriterStats {
            transactions: self.counters.transactions.load(Ordering::Relaxed),
            writes: self.counters.writes.load(Ordering::Relaxed),
        }
    }

    pub(crate) fn submit<R, F>(&self, f: F) -> Result<Pending<R>>
    where
        F: FnOnce(&Connection) -> Result<R> + Send + 'static,
        R: Send + 'static,
    {
        let (tx, rx) = sync_channel(1);
        self.submit_then(f, move |outcome| {
            let _ = tx.send(outcome);
        })?;
        Ok(Pending::new(rx))
    }

    /// Like [`Writer::submit`], but instead of a [`Pending`] to wait on,
    /// `then` is called with the outcome once it is durable (or failed),
    /// on the writer thread: it must be quick and must not write.
    pub(crate) fn submit_then<R, F, T>(&self, f: F, then: T) -> Result<()>
    where
        F: FnOnce(&Connection) -> Result<R> + Send + 'static,
        R: Send + 'static,
        T: FnOnce(Result<R>) + Send + 'static,
    {
        let job: Job = Box::new(move |conn| {
            let outcome = match conn {
                Some(conn) => in_savepoint(conn, f),
                None => Err(StoreError::Corrupt(
                    "cannot begin a write transaction".into(),
                )),
            };
            Box::new(move |commit: Result<()>| then(commit.and(outcome)))
        });
        self.jobs
            .as_ref()
            .ok_or(StoreError::WriterGone)?
            .send(job)
            .map_err(|_| StoreError::WriterGone)
    }
}

impl Drop for Writer {
    fn drop(&mut self) {
        // Closing the queue lets the thread finish what is queued and exit.
        drop(self.jobs.take());
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn in_savepoint<R>(conn: &Connection, f: impl FnOnce(&Connection) -> Result<R>) -> Result<R> {
    // Prepared once per connection: parsing these on every write showed in
    // profiles of the event pipeline.
    conn.prepare_cached("SAVEPOINT job")?.execute([])?;
    match f(conn) {
        Ok(r) => {
            conn.prepare_cached("RELEASE job")?.execute([])?;
            Ok(r)
        }
        Err(e) => {
            conn.execute_batch("ROLLBACK TO job; RELEASE job")?;
            Err(e)
        }
    }
}

fn run(conn: Connection, rx: Receiver<Job>, counters: &Counters) {
    let mut delivers: Vec<Deliver> = Vec::with_capacity(MAX_BATCH);
    while let Ok(first) = rx.recv() {
        if let Err(e) = conn.execute_batch("BEGIN IMMEDIATE") {
            tracing::error!(error = %e, "cannot begin a write transaction");
            first(None)(Ok(()));
            continue;
        }
        delivers.push(first(Some(&conn)));
        while delivers.len() < MAX_BATCH {
            match rx.try_recv() {
                Ok(job) => delivers.push(job(Some(&conn))),
                Err(_) => break,
            }
        }
        let commit = conn.execute_batch("COMMIT");
        if commit.is_err() {
            let _ = conn.execute_batch("ROLLBACK");
        }
        let commit_msg = commit.as_ref().err().map(|e| e.to_string());
        counters.transactions.fetch_add(1, Ordering::Relaxed);
        counters
            .writes
            .fetch_add(delivers.len() as u64, Ordering::Relaxed);
        for deliver in delivers.drain(..) {
            deliver(match &commit_msg {
                None => Ok(()),
                Some(m) => Err(StoreError::Corrupt(format!("commit failed: {m}"))),
            });
        }
    }
}
