-- Workflow runs (runner: workflow). A workflow's child executions point at
-- it; the run's conductor state is stored with every child result, in the
-- same transaction, so a restarted drover continues where it stopped.
ALTER TABLE executions ADD COLUMN parent TEXT;   -- workflow execution id
ALTER TABLE executions ADD COLUMN task TEXT;     -- task name in the parent
ALTER TABLE executions ADD COLUMN route INTEGER; -- task route in the parent
CREATE INDEX executions_by_parent ON executions (parent, id) WHERE parent IS NOT NULL;

CREATE TABLE workflow_runs (
    id          TEXT PRIMARY KEY,   -- the workflow execution's id
    action      TEXT NOT NULL,      -- pack.workflow
    parent      TEXT,               -- enclosing workflow run (subworkflows)
    task        TEXT,
    route       INTEGER,
    parameters  TEXT NOT NULL,
    dry_run     INTEGER NOT NULL,
    actor       TEXT NOT NULL,
    started_at  INTEGER NOT NULL,
    state       TEXT NOT NULL,      -- serialized conductor state
    inflight    TEXT,               -- the child started and not yet recorded
    finished    INTEGER NOT NULL DEFAULT 0,
    owner_pid   INTEGER,            -- the process driving it (resume skips a live one)
    updated_at  INTEGER NOT NULL
) STRICT;
CREATE INDEX workflow_runs_unfinished ON workflow_runs (id) WHERE finished = 0;
