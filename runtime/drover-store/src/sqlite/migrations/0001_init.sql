-- drover schema, version 1. Append-only: never edit a shipped migration.

-- Installed packs. `manifest` is the validated pack as JSON.
CREATE TABLE packs (
    name         TEXT NOT NULL,
    version      TEXT NOT NULL,
    manifest     TEXT NOT NULL,
    source_dir   TEXT NOT NULL,
    installed_at INTEGER NOT NULL,
    installed_by TEXT NOT NULL,
    PRIMARY KEY (name, version)
) STRICT;

-- Which component digest each plugin of a pack version runs.
CREATE TABLE pack_components (
    pack    TEXT NOT NULL,
    version TEXT NOT NULL,
    plugin  TEXT NOT NULL,
    digest  TEXT NOT NULL REFERENCES blobs (digest),
    PRIMARY KEY (pack, version, plugin),
    FOREIGN KEY (pack, version) REFERENCES packs (name, version) ON DELETE CASCADE
) STRICT;

-- Component bytes, content-addressed.
CREATE TABLE blobs (
    digest TEXT PRIMARY KEY,
    bytes  BLOB NOT NULL
) STRICT;

CREATE TABLE executions (
    id           TEXT PRIMARY KEY,   -- ULID: sorts by creation time
    action       TEXT NOT NULL,
    pack_version TEXT NOT NULL,
    digest       TEXT NOT NULL,
    parameters   TEXT NOT NULL,
    status       TEXT NOT NULL,
    result       TEXT,
    error        TEXT,
    dry_run      INTEGER NOT NULL,
    plan         TEXT,
    logs         TEXT NOT NULL,
    actor        TEXT NOT NULL,
    started_at   INTEGER NOT NULL,
    finished_at  INTEGER NOT NULL,
    duration_us  INTEGER NOT NULL
) STRICT;
CREATE INDEX executions_by_action ON executions (action, id);
CREATE INDEX executions_by_status ON executions (status, id);

CREATE TABLE audit (
    id           INTEGER PRIMARY KEY,
    at           INTEGER NOT NULL,
    execution_id TEXT,
    actor        TEXT NOT NULL,
    pack         TEXT NOT NULL,
    plugin       TEXT NOT NULL,
    capability   TEXT NOT NULL,
    target       TEXT NOT NULL,
    decision     TEXT NOT NULL,
    reason       TEXT NOT NULL,
    dry_run      INTEGER NOT NULL
) STRICT;
CREATE INDEX audit_by_execution ON audit (execution_id);

CREATE TABLE grants (
    id         TEXT PRIMARY KEY,
    pack       TEXT NOT NULL,
    version    TEXT NOT NULL,
    capability TEXT NOT NULL,
    scope      TEXT NOT NULL,
    digests    TEXT NOT NULL,        -- JSON: plugin -> digest
    created_at INTEGER NOT NULL,
    created_by TEXT NOT NULL,
    revoked_at INTEGER
) STRICT;
CREATE INDEX grants_by_pack ON grants (pack, version);

-- Pack-scoped key-value store; `scope` is the pack name.
CREATE TABLE kv (
    scope      TEXT NOT NULL,
    key        TEXT NOT NULL,
    value      TEXT NOT NULL,
    expires_at INTEGER,
    PRIMARY KEY (scope, key)
) STRICT;

-- Secrets, encrypted with the key file beside the database.
CREATE TABLE secrets (
    name       TEXT PRIMARY KEY,
    nonce      BLOB NOT NULL,
    ciphertext BLOB NOT NULL,
    updated_at INTEGER NOT NULL
) STRICT;

-- The fleet inventory. Empty means the default simulated fleet.
CREATE TABLE nodes (
    name    TEXT PRIMARY KEY,
    labels  TEXT NOT NULL,           -- JSON object
    state   TEXT NOT NULL,
    driver  TEXT NOT NULL,
    options TEXT NOT NULL            -- JSON object
) STRICT;

-- Change requests accepted by the fleet controller.
CREATE TABLE fleet_requests (
    id           TEXT PRIMARY KEY,
    node         TEXT NOT NULL,
    kind         TEXT NOT NULL,
    reason       TEXT NOT NULL,
    execution_id TEXT,
    status       TEXT NOT NULL,
    created_at   INTEGER NOT NULL
) STRICT;
CREATE INDEX fleet_requests_by_node ON fleet_requests (node, created_at);

-- The default simulated inventory: n001..n1000, 40 nodes per rack (r01..r25).
-- `drover node import` (a later issue) replaces it.
INSERT INTO nodes (name, labels, state, driver, options)
WITH RECURSIVE seq(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM seq WHERE i < 1000)
SELECT printf('n%03d', i),
       json_object('rack', printf('r%02d', (i - 1) / 40 + 1)),
       'production', 'sim', '{}'
FROM seq;
