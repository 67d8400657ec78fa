-- Workflow control and inquiries. A run's `control` is what an operator
-- asked (pause, cancel) and the runner reads at each transition, whichever
-- process drives it; `parked` says why a run waits with no thread driving
-- it (paused, inquiry <id>) until a resume or a response queues it again.
ALTER TABLE workflow_runs ADD COLUMN control TEXT;
ALTER TABLE workflow_runs ADD COLUMN parked TEXT;
ALTER TABLE workflow_runs ADD COLUMN digest TEXT NOT NULL DEFAULT '';
ALTER TABLE workflow_runs ADD COLUMN timeout_ms INTEGER;

-- core.ask: a question a workflow waits on. `id` is the ask task's child
-- execution id; `root` the top-level workflow run to continue when it is
-- answered. `state`: pending, responded, timed_out, canceled.
CREATE TABLE inquiries (
    id           TEXT PRIMARY KEY,
    run_id       TEXT NOT NULL,      -- the workflow run whose task asks
    root         TEXT NOT NULL,      -- its top-level run (the queued request)
    action       TEXT NOT NULL,      -- the workflow, pack.name
    task         TEXT NOT NULL,
    route        INTEGER NOT NULL,
    schema       TEXT NOT NULL,      -- JSON Schema of the response
    roles        TEXT NOT NULL,      -- JSON list; empty: anyone may answer
    route_to     TEXT,               -- optional notification route
    ttl_s        INTEGER NOT NULL,
    created_at   INTEGER NOT NULL,
    expires_at   INTEGER NOT NULL,
    state        TEXT NOT NULL,
    response     TEXT,
    responder    TEXT,
    responded_at INTEGER,
    consumed     INTEGER NOT NULL DEFAULT 0 -- its task has taken the answer
) STRICT;
CREATE INDEX inquiries_pending ON inquiries (expires_at) WHERE state = 'pending';
