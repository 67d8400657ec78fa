-- Sensor status, one row per sensor (`pack.name`), written by the sensor
-- service of `drover serve` and read by `drover sensor list`.
CREATE TABLE sensor_status (
    name        TEXT PRIMARY KEY,
    -- running | failed | backoff | stopped
    state       TEXT NOT NULL,
    last_error  TEXT,
    polls       INTEGER NOT NULL DEFAULT 0,
    messages    INTEGER NOT NULL DEFAULT 0,
    triggers    INTEGER NOT NULL DEFAULT 0,
    failures    INTEGER NOT NULL DEFAULT 0,
    -- The current backoff before the next retry, when failing.
    backoff_ms  INTEGER,
    updated_at  INTEGER NOT NULL
);
