-- A workflow run's state as a head (workflow_runs.state, with its lists
-- empty) plus the items of those lists, one row each: a transition
-- writes the head and the items it added or changed, not the whole state
-- (drover_workflow::StateDelta). A run stored before this table, or by a
-- full write, has no rows here and its lists in the head.
CREATE TABLE workflow_state_parts (
    run   TEXT NOT NULL,      -- workflow_runs.id
    list  TEXT NOT NULL,      -- JSON pointer of the list in the state
    idx   INTEGER NOT NULL,
    value TEXT NOT NULL,      -- the item as JSON
    PRIMARY KEY (run, list, idx)
) STRICT, WITHOUT ROWID;
