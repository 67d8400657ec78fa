-- A node's page (and the executions list filtered by node) finds the
-- executions about a node by their `node` parameter, and the audit records
-- whose target is the node, without a scan of either table.
CREATE INDEX executions_by_node ON executions (json_extract(parameters, '$.node'), id)
    WHERE json_extract(parameters, '$.node') IS NOT NULL;
CREATE INDEX audit_by_target ON audit (target, id);
