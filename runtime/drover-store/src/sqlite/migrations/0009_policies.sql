-- drover schema, version 9: scheduler policies, retries and catalog reloads.
-- Append-only.

-- Action policies from packs (`policies/*.yaml`): concurrency and retry.
CREATE TABLE policies (
    ref        TEXT PRIMARY KEY,     -- pack.name
    pack       TEXT NOT NULL,
    definition TEXT NOT NULL,        -- the policy's YAML source
    updated_at INTEGER NOT NULL
) STRICT;

-- Semaphore slots held by running requests. A slot row is written in the
-- transaction that claims its request and deleted in the one that stores
-- its execution (or re-queues it), so the count of a semaphore is exact
-- after a crash: it is whatever the last committed transaction left.
CREATE TABLE semaphore_slots (
    request_id TEXT NOT NULL,        -- execution_requests.id
    semaphore  TEXT NOT NULL,
    key        TEXT NOT NULL,        -- rendered key ('' when unkeyed)
    PRIMARY KEY (request_id, semaphore)
) STRICT;
CREATE INDEX semaphore_slots_by_key ON semaphore_slots (semaphore, key);

-- Retries: a retry is a new request linked to the execution it repeats,
-- not claimed before `not_before`.
ALTER TABLE execution_requests ADD COLUMN not_before INTEGER;
ALTER TABLE execution_requests ADD COLUMN retry_of TEXT;
ALTER TABLE execution_requests ADD COLUMN attempt INTEGER NOT NULL DEFAULT 0;

-- Bumped by every change a running `drover serve` must pick up (packs
-- installed or promoted, rules enabled, disabled or replaced, policies).
CREATE TABLE catalog_generation (
    id         INTEGER PRIMARY KEY CHECK (id = 1),
    generation INTEGER NOT NULL
) STRICT;
INSERT INTO catalog_generation (id, generation) VALUES (1, 0);
