-- drover schema, version 6: shadow packs. Append-only.
-- A pack version in shadow mode has its rules fire normally, but every
-- execution they start is a dry run, until an operator promotes it.
ALTER TABLE packs ADD COLUMN shadow INTEGER NOT NULL DEFAULT 0;
