-- drover schema, version 11: faults injected into the simulated fleet
-- (`drover sim hang`). A `sim` node with a fault newer than its last
-- reboot does not answer probes or ssh; a reboot through the fleet
-- controller clears it. Append-only.
CREATE TABLE sim_faults (
    node     TEXT PRIMARY KEY,
    since_ms INTEGER NOT NULL,
    actor    TEXT NOT NULL
) STRICT;
