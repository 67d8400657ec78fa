-- Traces: from an execution back to the enforcement (and so the rule and
-- the trigger instance) that requested it, and fleet requests by time for
-- grouping related incidents.
CREATE INDEX enforcements_by_execution ON enforcements (execution_id)
    WHERE execution_id IS NOT NULL;
CREATE INDEX fleet_requests_by_time ON fleet_requests (created_at);
-- Top-level runs by status (the incidents' failed runs, the executions
-- list's grouped view filtered by status) without walking every root.
CREATE INDEX executions_roots_by_status ON executions (status, id) WHERE parent IS NULL;
