-- drover schema, version 2: the event pipeline. Append-only.

-- Every trigger instance, stored before its source is acknowledged.
-- `state`: pending (not yet seen by the rules engine) or processed.
CREATE TABLE trigger_instances (
    id           TEXT PRIMARY KEY,   -- ULID: arrival order
    trigger_type TEXT NOT NULL,
    payload      TEXT NOT NULL,
    source       TEXT NOT NULL,      -- webhook, sensor:<ref>, timer:<ref>, cli
    received_at  INTEGER NOT NULL,
    state        TEXT NOT NULL,
    matched      INTEGER NOT NULL DEFAULT 0
) STRICT;
CREATE INDEX trigger_instances_pending ON trigger_instances (state, id);
CREATE INDEX trigger_instances_by_type ON trigger_instances (trigger_type, id);

-- Rules: from packs (origin 'pack') or created through the CLI/API ('api').
CREATE TABLE rules (
    ref        TEXT PRIMARY KEY,     -- pack.name
    pack       TEXT NOT NULL,
    definition TEXT NOT NULL,        -- the rule's YAML source
    enabled    INTEGER NOT NULL,
    origin     TEXT NOT NULL,
    updated_at INTEGER NOT NULL
) STRICT;

-- One record per rule match: what it asked for, or why it could not.
-- `state`: scheduled (an execution was requested), failed (bad template,
-- missing parameter...), suppressed (throttle or threshold).
CREATE TABLE enforcements (
    id                  TEXT PRIMARY KEY,
    trigger_instance_id TEXT NOT NULL REFERENCES trigger_instances (id),
    rule_ref            TEXT NOT NULL,
    execution_id        TEXT,
    state               TEXT NOT NULL,
    reason              TEXT,
    at                  INTEGER NOT NULL
) STRICT;
CREATE INDEX enforcements_by_trigger ON enforcements (trigger_instance_id);
CREATE INDEX enforcements_by_rule ON enforcements (rule_ref, id);

-- The execution queue. A request becomes an `executions` row when it ends.
-- `state`: requested, running, done.
CREATE TABLE execution_requests (
    id             TEXT PRIMARY KEY, -- the execution's id
    action         TEXT NOT NULL,
    parameters     TEXT NOT NULL,
    dry_run        INTEGER NOT NULL,
    actor          TEXT NOT NULL,
    enforcement_id TEXT,
    state          TEXT NOT NULL,
    requested_at   INTEGER NOT NULL,
    started_at     INTEGER
) STRICT;
CREATE INDEX execution_requests_by_state ON execution_requests (state, id);

-- Persistent state of rules' throttles and thresholds (JSON per rule).
CREATE TABLE rule_state (
    rule_ref TEXT PRIMARY KEY,
    state    TEXT NOT NULL
) STRICT;
