-- Retention: how long the collector (`drover serve`, `drover gc`) keeps
-- each kind of history. A kind without a row keeps its default; a row
-- with both limits NULL keeps everything.
CREATE TABLE retention (
    kind       TEXT PRIMARY KEY,  -- executions, triggers, node-history, fleet-requests, audit
    max_age_ms INTEGER,           -- older than this goes (NULL: no age limit)
    max_count  INTEGER,           -- beyond the newest this many goes (NULL: no count limit)
    updated_at INTEGER NOT NULL,
    updated_by TEXT NOT NULL
) STRICT;

-- The collector walks top-level executions oldest first; a workflow's
-- children go with their root.
CREATE INDEX executions_roots ON executions (id) WHERE parent IS NULL;
-- Retries that still wait name the execution they repeat.
CREATE INDEX execution_requests_retry_of ON execution_requests (retry_of)
    WHERE retry_of IS NOT NULL;
-- Inquiries go with their top-level run.
CREATE INDEX inquiries_by_root ON inquiries (root);
-- Finished fleet requests go oldest first.
CREATE INDEX fleet_requests_by_update ON fleet_requests (updated_at);
-- Open fleet requests may name the execution that asked for them.
CREATE INDEX fleet_requests_by_execution ON fleet_requests (execution_id)
    WHERE execution_id IS NOT NULL;
