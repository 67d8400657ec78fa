-- The change log (issue 16): an operator's change to automation is an
-- audit record that also carries `change`, JSON {"reason", "before",
-- "after"}; capability uses leave it NULL. The partial index lists the
-- changes newest first without walking the capability uses around them.
ALTER TABLE audit ADD COLUMN change TEXT;
CREATE INDEX audit_changes ON audit (id) WHERE change IS NOT NULL;
