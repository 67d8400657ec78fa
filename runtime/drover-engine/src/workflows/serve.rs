//! Workflows in the scheduler: a worker that claims a request for a
//! `runner: workflow` action drives the run until it ends or parks (a
//! parked run frees the worker; a resume or an inquiry response queues it
//! again and some worker continues it).

use std::collections::HashMap;

use drover_core::{ExecStatus, Execution, ExecutionRequest, now_ms};
use drover_pack::ActionRef;

use super::{Outcome, is_workflow_version, run_request};
use crate::Shared;

/// A worker's memory of which actions are workflows.
#[derive(Default)]
pub(crate) struct Workflows {
    known: HashMap<(String, Option<String>), bool>,
}

impl Workflows {
    /// Runs `req` if its action is a workflow; false if it is not (the
    /// worker runs it as a Wasm action).
    pub(crate) fn handles(&mut self, shared: &Shared, req: &ExecutionRequest) -> bool {
        let app = &shared.app;
        let key = (req.action.clone(), req.pack_version.clone());
        let is_wf = *self.known.entry(key).or_insert_with(|| {
            req.action.parse::<ActionRef>().ok().is_some_and(|a| {
                is_workflow_version(app, &a, req.pack_version.as_deref()).unwrap_or(false)
            })
        });
        if !is_wf {
            return false;
        }
        match run_request(app, req) {
            Ok(Outcome::Finished(exec)) => {
                let latency_ms = (now_ms() - req.requested_at_ms).max(0) as u64;
                shared.metrics.execution(exec.status, latency_ms * 1000);
            }
            Ok(Outcome::Parked { id, why }) => {
                tracing::info!(run = %id, %why, "workflow waits; worker released");
            }
            Err(e) => {
                let store = app.store();
                if matches!(store.get_workflow_run_record(req.id), Ok(None)) {
                    // It never started (bad parameters, a broken workflow):
                    // close its request as a failed execution.
                    let exec = Execution::closed(req, ExecStatus::Failed, &e.to_string(), now_ms());
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
