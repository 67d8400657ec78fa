-- drover schema, version 3: timers. Append-only.

-- The parameters of a parameterized trigger (a timer's schedule), as
-- canonical JSON, so the rules stage matches the rules on that trigger;
-- NULL for triggers without parameters.
ALTER TABLE trigger_instances ADD COLUMN trigger_parameters TEXT;

-- One row per timer (trigger type + canonical parameters). `anchor`: when
-- drover first saw it (interval timers count from it); `last_slot`: the
-- latest slot fired, written in the same transaction as its trigger
-- instance, so a restart never fires a slot twice. Milliseconds since the
-- Unix epoch.
CREATE TABLE timer_state (
    timer_key TEXT PRIMARY KEY,
    anchor    INTEGER NOT NULL,
    last_slot INTEGER
) STRICT;
