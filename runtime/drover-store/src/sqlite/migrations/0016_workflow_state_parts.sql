-- A workflow run's state as a head (workflow_runs.state, with its lists
-- empty) plus the items of those lists, one row each: a transition
-- writes the head and the items it added or changed, not the whole state
-- (drover_workflow::StateDelta). A head never holds list items: a
-- resumed run appends where the stored lists end.
CREATE TABLE workflow_state_parts (
    run   TEXT NOT NULL,      -- workflow_runs.id
    list  TEXT NOT NULL,      -- JSON pointer of the list in the state
    idx   INTEGER NOT NULL,
    value TEXT NOT NULL,      -- the item as JSON
    PRIMARY KEY (run, list, idx)
) STRICT, WITHOUT ROWID;

-- Runs stored before: their lists move here.
INSERT INTO workflow_state_parts (run, list, idx, value)
    SELECT w.id, '/contexts', j.key, j.value
    FROM workflow_runs w, json_each(w.state, '$.contexts') j
    UNION ALL
    SELECT w.id, '/frames', j.key, j.value
    FROM workflow_runs w, json_each(w.state, '$.frames') j
    UNION ALL
    SELECT w.id, '/ledger/sequence', j.key, j.value
    FROM workflow_runs w, json_each(w.state, '$.ledger.sequence') j;
UPDATE workflow_runs SET state = json_set(state,
    '$.contexts', json('[]'), '$.frames', json('[]'), '$.ledger.sequence', json('[]'))
    WHERE json_valid(state) AND json_type(state, '$.ledger') = 'object';
