-- A pack's own kv keys move from scope NAME to scope `pack:NAME`, so that
-- no pack name can reach the scopes rules read (`system` for `kv.*` and
-- `st2kv.system.*`, `user:NAME` for `st2kv.user.*`). Every scope that is
-- neither `system` nor has a `:` was a pack's. Keys a pack named `system`
-- wrote (possible before the name was reserved) cannot be told from the
-- operators' and stay in `system`. A key an operator had already put under
-- `pack:NAME` gives way to the pack's own.
UPDATE OR REPLACE kv SET scope = 'pack:' || scope
 WHERE scope <> 'system' AND instr(scope, ':') = 0;
