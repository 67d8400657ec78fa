//! The scheduler: a dispatcher thread claims queued execution requests
//! (marking them `running` in the same transaction) and hands them to a
//! pool of worker threads, which run each in its own sandbox and store the
//! execution together with its request's `done`.
//!
//! Concurrency policies are applied by the claim itself: the catalog's
//! [`crate::policies::Policies`] say which semaphore slots a request needs,
//! and the store counts held slots in the claiming transaction (see
//! `drover_store::Store::claim_requests_gated`). A retry policy is applied
//! when an execution is stored: the retry is queued in that transaction.
//!
//! A claim takes many requests in one transaction (`running`, not yet
//! started). A worker about to run an action that is not `idempotent`
//! first marks its request started and waits for that to be durable; an
//! idempotent action just runs. So after a crash, [`recover`] knows: a
//! request never marked started did not run, or is safe to run again, and
//! is re-queued; a started one has an unknown outcome and is closed as
//! failed with the reason, so nothing runs twice unasked.

use std::collections::HashMap;
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use crossbeam_channel::{Receiver, Sender};
use drover_core::{ExecStatus, Execution, ExecutionRequest, now_ms};
use drover_host::{Prepared, RunOptions};
use drover_pack::ActionRef;

use crate::Shared;

const IDLE_POLL: Duration = Duration::from_millis(200);
/// Requests claimed ahead per worker, and at least this many in all: a
/// claim is one durable transaction (an fsync), so claiming many at once
/// amortizes it. Claimed requests are not started (see [`recover`]).
const LOOKAHEAD_PER_WORKER: usize = 4;
const LOOKAHEAD_MIN: usize = 256;

/// Re-queues or closes the requests a stopped process left `running`.
pub(crate) fn recover(shared: &Shared) {
    let store = shared.app.store();
    let interrupted = match store.interrupted_requests() {
        Ok(r) => r,
        Err(e) => {
            tracing::error!(error = %e, "cannot read interrupted executions");
            return;
        }
    };
    let mut requeue = Vec::new();
    for (req, started) in interrupted {
        // A workflow continues from its stored state (crate::workflows).
        if crate::workflows::recover_request(&shared.app, &req) {
            continue;
        }
        // Claimed but never started (or idempotent: see below).
        if !started {
            requeue.push(req.id);
            continue;
        }
        let idempotent = req
            .action
            .parse::<ActionRef>()
            .ok()
            .and_then(|a| {
                let version = req.pack_version.as_deref();
                shared.app.runtime().prepare_version(&a, version).ok()
            })
            .is_some_and(|p| p.plugin.idempotent);
        if idempotent {
            requeue.push(req.id);
            continue;
        }
        let exec = closed(
            &req,
            "abandoned: drover stopped while this execution ran, and its action is not \
             idempotent, so it was not run again; check its effects and rerun it if needed",
        );
        if let Err(e) = store.finish_request(exec).and_then(|p| p.wait()) {
            tracing::error!(error = %e, id = %req.id, "cannot close an interrupted execution");
        }
    }
    if !requeue.is_empty() {
        tracing::info!(
            count = requeue.len(),
            "re-queueing interrupted idempotent executions"
        );
        if let Err(e) = store.requeue_requests(requeue) {
            tracing::error!(error = %e, "cannot re-queue interrupted executions");
        }
    }
}

/// A failed execution for a request that could not run.
fn closed(req: &ExecutionRequest, error: &str) -> Execution {
    Execution::closed(req, ExecStatus::Failed, error, now_ms())
}

pub(crate) fn spawn(shared: Arc<Shared>, workers: usize) -> Vec<JoinHandle<()>> {
    let workers = workers.max(1);
    // Claimed requests waiting for a worker, at most.
    let lookahead = (workers * LOOKAHEAD_PER_WORKER).max(LOOKAHEAD_MIN);
    let (tx, rx) = crossbeam_channel::bounded::<ExecutionRequest>(lookahead);
    let mut threads = Vec::with_capacity(workers + 1);
    let dispatcher = shared.clone();
    threads.push(
        shared
            .spawn("drover-dispatch".into(), move || {
                dispatch(dispatcher, tx, lookahead)
            })
            .expect("spawn the dispatcher"),
    );
    // Workers hand each stored execution's pending write to the completer
    // and go on: many writes share one fsync instead of one per worker.
    let (done_tx, done_rx) = crossbeam_channel::bounded::<Finished>(lookahead.max(64));
    for n in 0..workers {
        let (worker, rx, done_tx) = (shared.clone(), rx.clone(), done_tx.clone());
        threads.push(
            shared
                .spawn(format!("drover-worker-{n}"), move || {
                    work(worker, rx, done_tx)
                })
                .expect("spawn a worker"),
        );
    }
    drop(done_tx);
    let completer = shared.clone();
    threads.push(
        shared
            .spawn("drover-complete".into(), move || {
                complete(completer, done_rx)
            })
            .expect("spawn the completer"),
    );
    threads
}

/// An execution whose write (execution, request done, slots released,
/// retry queued) was submitted.
struct Finished {
    req: ExecutionRequest,
    status: ExecStatus,
    write:
        Result<drover_store::Pending<Option<drover_core::ExecutionId>>, drover_store::StoreError>,
}

/// Waits for each execution's write to be durable, then counts it and wakes
/// the dispatcher (its semaphore slots are free). Ends when every worker
/// has.
fn complete(shared: Arc<Shared>, rx: Receiver<Finished>) {
    for f in rx {
        match f.write.and_then(|p| p.wait()) {
            Ok(retried) => {
                let latency_ms = (now_ms() - f.req.requested_at_ms).max(0) as u64;
                shared.metrics.execution(f.status, latency_ms * 1000);
                if let Some(retry) = retried {
                    tracing::info!(id = %f.req.id, %retry, action = %f.req.action,
                        status = %f.status, "queued a retry (retry policy)");
                }
            }
            Err(e) => tracing::error!(error = %e, id = %f.req.id, "cannot store an execution"),
        }
        shared.requests_waiting.notify();
    }
}

/// Claims as many requests as there are free slots; stops claiming on
/// shutdown (dropping the sender lets the workers finish and exit).
fn dispatch(shared: Arc<Shared>, tx: Sender<ExecutionRequest>, slots: usize) {
    while !shared.stopping() {
        // Claim when a quarter of the lookahead is free, not for every
        // request a worker takes: fewer, larger claims.
        let free = slots.saturating_sub(tx.len());
        if free < slots / 4 {
            std::thread::sleep(Duration::from_millis(1));
            continue;
        }
        let gate = crate::policies::gate(shared.catalog().policies().clone());
        let claimed = match shared.app.store().claim_requests_gated(free as u32, gate) {
            Ok((claimed, closed)) => {
                for status in closed {
                    shared.metrics.execution(status, 0);
                }
                claimed
            }
            Err(e) => {
                tracing::error!(error = %e, "cannot claim queued executions");
                std::thread::sleep(IDLE_POLL);
                continue;
            }
        };
        if claimed.is_empty() {
            shared.requests_waiting.wait(IDLE_POLL);
            continue;
        }
        for req in claimed {
            // Claimed means `running`: it must reach a worker (or be
            // recovered after a crash), so block rather than drop.
            if tx.send(req).is_err() {
                return;
            }
        }
    }
}

fn work(shared: Arc<Shared>, rx: Receiver<ExecutionRequest>, done: Sender<Finished>) {
    let mut prepared: Cache = HashMap::new();
    let mut workflows = crate::workflows::serve::Workflows::default();
    let mut generation = shared.catalog().generation();
    while let Ok(req) = rx.recv() {
        if shared.stopping() {
            // Claimed, not started: back to the queue for the next start.
            let mut left = vec![req.id];
            left.extend(rx.try_iter().map(|r| r.id));
            if let Err(e) = shared.app.store().requeue_requests(left) {
                tracing::error!(error = %e, "cannot re-queue claimed executions");
            }
            continue;
        }
        let catalog = shared.catalog();
        if catalog.generation() != generation {
            // A pack may have been reinstalled: look actions up again.
            prepared.clear();
            workflows = Default::default();
            generation = catalog.generation();
        }
        if workflows.handles(&shared, &req) {
            continue;
        }
        let exec = run_one(&shared, &mut prepared, &req);
        let status = exec.status;
        // A candidate's dry run (pinned to its version) is not retried by
        // the live version's policies.
        let retry = match req.pack_version {
            None => catalog.policies().retry(&req.action, exec.dry_run),
            Some(_) => None,
        };
        let write = shared.app.store().finish_request_retrying(exec, retry);
        if done.send(Finished { req, status, write }).is_err() {
            return;
        }
    }
}

/// Each action prepared once, by action and pinned pack version.
type Cache = HashMap<(String, Option<String>), Result<Prepared, String>>;

fn run_one(shared: &Shared, cache: &mut Cache, req: &ExecutionRequest) -> Execution {
    let app = &shared.app;
    let key = (req.action.clone(), req.pack_version.clone());
    let prepared = cache.entry(key).or_insert_with(|| {
        let reference: ActionRef = req.action.parse().map_err(|e| format!("{e}"))?;
        app.runtime()
            .prepare_version(&reference, req.pack_version.as_deref())
            .map_err(|e| e.to_string())
    });
    let prepared = match prepared {
        Ok(p) => p,
        Err(e) => return closed(req, e),
    };
    let params = match prepared.plugin.parameters.validate(req.parameters.clone()) {
        Ok(p) => p,
        Err(e) => return closed(req, &format!("{}: {e}", req.action)),
    };
    // A shadow pack's action runs dry (see `Runtime::execute_as`): safe to
    // run again.
    if !prepared.plugin.idempotent && !req.dry_run && !prepared.shadow {
        // Durable before the action can have an effect: after a crash this
        // request counts as maybe-run and is not run again.
        let marked = shared
            .app
            .store()
            .mark_started(req.id)
            .and_then(|p| p.wait());
        if let Err(e) = marked {
            return closed(req, &format!("cannot mark the execution started: {e}"));
        }
    }
    let opts = RunOptions {
        dry_run: req.dry_run,
        actor: req.actor.clone(),
        timeout: None,
    };
    app.runtime()
        .execute_as(req.id, prepared, params, &opts)
        .unwrap_or_else(|e| closed(req, &e.to_string()))
}
