//! Workflows in the scheduler: a worker that claims a request for a
//! `runner: workflow` action drives the run until it ends or parks (a
//! parked run frees the worker; a resume or an inquiry response queues it
//! again and some worker continues it).

use std::collections::HashMap;

use drover_core::{ExecStatus, Execution, ExecutionRequest, now_ms};
use drover_pack::ActionRef;

use super::{Outcome, is_workflow, run_request};
use crate::Shared;

/// A worker's memory of which actions are workflows.
#[derive(Default)]
pub(crate) struct Workflows {
    known: HashMap<String, bool>,
}

impl Workflows {
    /// Runs `req` if its action is a workflow; false if it is not (the
    /// worker runs it as a Wasm action).
    pub(crate) fn handles(&mut self, shared: &Shared, req: &ExecutionRequest) -> bool {
        let runtime = &shared.runtime;
        let is_wf = *self.known.entry(req.action.clone()).or_insert_with(|| {
            req.action
                .parse::<ActionRef>()
                .ok()
                .is_some_and(|a| is_workflow(runtime, &a).unwrap_or(false))
        });
        if !is_wf {
            return false;
        }
        match run_request(runtime, req) {
            Ok(Outcome::Finished(exec)) => {
                let latency_ms = (now_ms() - req.requested_at_ms).max(0) as u64;
                shared.metrics.execution(exec.status, latency_ms * 1000);
            }
            Ok(Outcome::Parked { id, why }) => {
                tracing::info!(run = %id, %why, "workflow waits; worker released");
            }
            Err(e) => {
                let store = runtime.store();
                if matches!(store.get_workflow_run_record(req.id), Ok(None)) {
                    // It never started (bad parameters, a broken workflow):
                    // close its request as a failed execution.
                    let now = now_ms();
                    let exec = Execution {
                        id: req.id,
                        action: req.action.clone(),
                        pack_version: String::new(),
                        digest: String::new(),
                        parameters: req.parameters.clone(),
                        status: ExecStatus::Failed,
                        result: None,
                        error: Some(e.to_string()),
                        dry_run: req.dry_run,
                        plan: req.dry_run.then(Vec::new),
                        logs: Vec::new(),
                        actor: req.actor.clone(),
                        started_at_ms: now,
                        finished_at_ms: now,
                        duration_us: 0,
                    };
                    if let Err(e) = store.finish_request(exec).and_then(|p| p.wait()) {
                        tracing::error!(error = %e, id = %req.id, "cannot store an execution");
                    }
                } else {
                    // Its stored state stays; the next start continues it.
                    tracing::error!(error = %e, run = %req.id, "workflow run stopped");
                }
            }
        }
        true
    }
}
