-- Side-by-side shadow: while a candidate version of a trusted pack waits in
-- shadow, its rules see every trigger too, and what they do is recorded as
-- dry runs pinned to that version, beside the live version's.
--
-- `enforcements.candidate`: the candidate pack version whose rule this is
-- (NULL for the rules in force). `execution_requests.pack_version` and
-- `workflow_runs.pack_version`: the pack version the run must use (NULL or
-- '' for the live one): a candidate's dry runs, and a workflow that
-- resumes after a promotion or a rollback, run the version they started
-- with.
ALTER TABLE enforcements ADD COLUMN candidate TEXT;
ALTER TABLE execution_requests ADD COLUMN pack_version TEXT;
ALTER TABLE workflow_runs ADD COLUMN pack_version TEXT NOT NULL DEFAULT '';
CREATE INDEX enforcements_by_candidate ON enforcements (candidate, id)
    WHERE candidate IS NOT NULL;
