-- Finding runs (the executions list and API): by actor, and by the rule
-- whose enforcement requested them, newest first without a scan.
CREATE INDEX executions_by_actor ON executions (actor, id);
CREATE INDEX enforcements_by_rule_execution ON enforcements (rule_ref, execution_id)
    WHERE execution_id IS NOT NULL;
