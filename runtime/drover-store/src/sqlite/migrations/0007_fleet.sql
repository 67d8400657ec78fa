-- drover schema, version 7: the fleet controller. Append-only.

-- When a node entered its state, and why (the intervention reason, the
-- request that moved it).
ALTER TABLE nodes ADD COLUMN since INTEGER NOT NULL DEFAULT 0;
ALTER TABLE nodes ADD COLUMN note TEXT NOT NULL DEFAULT '';

-- Requests live through queued → active → done | intervention | denied |
-- cancelled. `spec` holds the controller's fields (origin, policy,
-- deadlines, phase, escalation step) as JSON; `detail` says why it waits
-- or how it ended.
ALTER TABLE fleet_requests ADD COLUMN actor TEXT NOT NULL DEFAULT '';
ALTER TABLE fleet_requests ADD COLUMN spec TEXT NOT NULL DEFAULT '{}';
ALTER TABLE fleet_requests ADD COLUMN detail TEXT NOT NULL DEFAULT '';
ALTER TABLE fleet_requests ADD COLUMN updated_at INTEGER NOT NULL DEFAULT 0;
CREATE INDEX fleet_requests_open ON fleet_requests (status, created_at)
    WHERE status IN ('queued', 'active');

-- Budgets: group semaphores over a label, global max unavailable.
CREATE TABLE fleet_budgets (
    name       TEXT PRIMARY KEY,
    spec       TEXT NOT NULL,        -- JSON
    created_at INTEGER NOT NULL,
    created_by TEXT NOT NULL
) STRICT;

-- Controller settings (brake, pause, windows, escalation ladders), JSON.
CREATE TABLE fleet_settings (
    key        TEXT PRIMARY KEY,
    value      TEXT NOT NULL,
    updated_at INTEGER NOT NULL
) STRICT;

-- Per-node history: requests, state changes, driver steps, interventions.
CREATE TABLE node_history (
    id         INTEGER PRIMARY KEY,
    node       TEXT NOT NULL,
    at         INTEGER NOT NULL,
    event      TEXT NOT NULL,
    from_state TEXT NOT NULL,
    to_state   TEXT NOT NULL,
    request_id TEXT,
    actor      TEXT NOT NULL,
    detail     TEXT NOT NULL
) STRICT;
CREATE INDEX node_history_by_node ON node_history (node, id);
CREATE INDEX node_history_by_event ON node_history (event, at);
