-- What checks and monitoring last saw of each node (`nodes.report-health`),
-- shown beside its lifecycle state until that state changes. A change of
-- health is also a `health` line of the node's history.
CREATE TABLE node_health (
    node   TEXT PRIMARY KEY,
    health TEXT NOT NULL,    -- answering, unreachable, silent
    detail TEXT NOT NULL,
    source TEXT NOT NULL,    -- the plugin that reported it, pack.plugin
    at     INTEGER NOT NULL
) STRICT;
