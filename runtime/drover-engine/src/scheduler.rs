//! The scheduler: a dispatcher thread claims queued execution requests
//! (marking them `running` in the same transaction) and hands them to a
//! pool of worker threads, which run each in its own sandbox and store the
//! execution together with its request's `done`.
//!
//! After a crash, requests left `running` have an unknown outcome:
//! [`recover`] re-queues those whose action is `idempotent` and closes the
//! others as failed with the reason, so nothing runs twice unasked.

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

/// Re-queues or closes the requests a stopped process left `running`.
pub(crate) fn recover(shared: &Shared) {
    let store = shared.runtime.store();
    let interrupted = match store.interrupted_requests() {
        Ok(r) => r,
        Err(e) => {
            tracing::error!(error = %e, "cannot read interrupted executions");
            return;
        }
    };
    let mut requeue = Vec::new();
    for req in interrupted {
        // A workflow continues from its stored state (crate::workflows).
        if crate::workflows::recover_request(&shared.runtime, &req) {
            continue;
        }
        let idempotent = req
            .action
            .parse::<ActionRef>()
            .ok()
            .and_then(|a| shared.runtime.prepare(&a).ok())
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
    let now = now_ms();
    Execution {
        id: req.id,
        action: req.action.clone(),
        pack_version: String::new(),
        digest: String::new(),
        parameters: req.parameters.clone(),
        status: ExecStatus::Failed,
        result: None,
        error: Some(error.to_owned()),
        dry_run: req.dry_run,
        plan: req.dry_run.then(Vec::new),
        logs: Vec::new(),
        actor: req.actor.clone(),
        started_at_ms: now,
        finished_at_ms: now,
        duration_us: 0,
    }
}

pub(crate) fn spawn(shared: Arc<Shared>, workers: usize) -> Vec<JoinHandle<()>> {
    let workers = workers.max(1);
    let (tx, rx) = crossbeam_channel::bounded::<ExecutionRequest>(workers);
    let mut threads = Vec::with_capacity(workers + 1);
    let dispatcher = shared.clone();
    threads.push(
        std::thread::Builder::new()
            .name("drover-dispatch".into())
            .spawn(move || dispatch(dispatcher, tx, workers))
            .expect("spawn the dispatcher"),
    );
    for n in 0..workers {
        let (shared, rx) = (shared.clone(), rx.clone());
        threads.push(
            std::thread::Builder::new()
                .name(format!("drover-worker-{n}"))
                .spawn(move || work(shared, rx))
                .expect("spawn a worker"),
        );
    }
    threads
}

/// Claims as many requests as there are free slots; stops claiming on
/// shutdown (dropping the sender lets the workers finish and exit).
fn dispatch(shared: Arc<Shared>, tx: Sender<ExecutionRequest>, slots: usize) {
    while !shared.stopping() {
        let free = slots.saturating_sub(tx.len());
        if free == 0 {
            std::thread::sleep(Duration::from_millis(1));
            continue;
        }
        let claimed = match shared.runtime.store().claim_requests(free as u32) {
            Ok(c) => c,
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

fn work(shared: Arc<Shared>, rx: Receiver<ExecutionRequest>) {
    let mut prepared: HashMap<String, Result<Prepared, String>> = HashMap::new();
    let mut workflows = crate::workflows::serve::Workflows::default();
    for req in rx {
        if workflows.handles(&shared, &req) {
            continue;
        }
        let exec = run_one(&shared, &mut prepared, &req);
        let status = exec.status;
        match shared
            .runtime
            .store()
            .finish_request(exec)
            .and_then(|p| p.wait())
        {
            Ok(()) => {
                let latency_ms = (now_ms() - req.requested_at_ms).max(0) as u64;
                shared.metrics.execution(status, latency_ms * 1000);
            }
            Err(e) => tracing::error!(error = %e, id = %req.id, "cannot store an execution"),
        }
    }
}

fn run_one(
    shared: &Shared,
    cache: &mut HashMap<String, Result<Prepared, String>>,
    req: &ExecutionRequest,
) -> Execution {
    let runtime = &shared.runtime;
    let prepared = cache.entry(req.action.clone()).or_insert_with(|| {
        let reference: ActionRef = req.action.parse().map_err(|e| format!("{e}"))?;
        runtime.prepare(&reference).map_err(|e| e.to_string())
    });
    let prepared = match prepared {
        Ok(p) => p,
        Err(e) => return closed(req, e),
    };
    let params = match prepared.plugin.parameters.validate(req.parameters.clone()) {
        Ok(p) => p,
        Err(e) => return closed(req, &format!("{}: {e}", req.action)),
    };
    let opts = RunOptions {
        dry_run: req.dry_run,
        actor: req.actor.clone(),
        timeout: None,
    };
    runtime
        .execute_as(req.id, prepared, params, &opts)
        .unwrap_or_else(|e| closed(req, &e.to_string()))
}
