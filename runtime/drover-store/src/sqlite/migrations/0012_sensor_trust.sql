-- drover schema, version 12: sensors and the least-trusted link. Append-only.

-- A trigger instance produced by a shadow pack (its sensor, or a webhook
-- into its trigger type): every enforcement of it is a dry run, whatever
-- the rule's pack.
ALTER TABLE trigger_instances ADD COLUMN shadow INTEGER NOT NULL DEFAULT 0;

-- A shadow pack's sensor runs as a dry run: its effects are planned, not
-- performed. `dry_run`: its calls are dry runs now; `planned`: effects
-- planned so far; `last_plan`: the latest call's plan with effects (JSON
-- list of planned effects).
ALTER TABLE sensor_status ADD COLUMN dry_run INTEGER NOT NULL DEFAULT 0;
ALTER TABLE sensor_status ADD COLUMN planned INTEGER NOT NULL DEFAULT 0;
ALTER TABLE sensor_status ADD COLUMN last_plan TEXT;
