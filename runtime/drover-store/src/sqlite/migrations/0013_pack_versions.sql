-- drover schema, version 13: the live version of a pack, and the rules and
-- policies of every installed version. Append-only.
--
-- Several versions of a pack may be installed; exactly one per name is
-- `live`: the newest trusted one (not shadow), else the newest. Actions,
-- workflows, sensors and trigger types resolve to the live version, and
-- the `rules` and `policies` tables hold the live version's. Each version
-- keeps the rules and policies it shipped with (JSON), so a shadowed
-- candidate's rules stay aside until it is promoted and becomes live.
ALTER TABLE packs ADD COLUMN rules TEXT NOT NULL DEFAULT '[]';    -- [[ref, yaml, enabled], ...]
ALTER TABLE packs ADD COLUMN policies TEXT NOT NULL DEFAULT '[]'; -- [[ref, yaml], ...]
ALTER TABLE packs ADD COLUMN live INTEGER NOT NULL DEFAULT 0;

-- Before this version the stored rules and policies were the newest
-- install's.
UPDATE packs SET
    rules = (SELECT json_group_array(json_array(r.ref, r.definition,
                 json(CASE WHEN r.enabled THEN 'true' ELSE 'false' END)))
             FROM rules r WHERE r.pack = packs.name AND r.origin = 'pack'),
    policies = (SELECT json_group_array(json_array(p.ref, p.definition))
                FROM policies p WHERE p.pack = packs.name)
WHERE rowid = (SELECT n.rowid FROM packs n WHERE n.name = packs.name
               ORDER BY n.installed_at DESC, n.rowid DESC LIMIT 1);

UPDATE packs SET live = 1
WHERE rowid = (SELECT n.rowid FROM packs n WHERE n.name = packs.name
               ORDER BY n.shadow ASC, n.installed_at DESC, n.rowid DESC LIMIT 1);

-- Where a shadow install had taken over a trusted version's name, its rules
-- and policies leave the live set (the trusted version's were replaced by
-- it and are not known: reinstall that version to restore them).
DELETE FROM rules WHERE origin = 'pack' AND pack IN (
    SELECT name FROM packs WHERE live = 1 AND rules = '[]' AND shadow = 0
      AND rowid != (SELECT n.rowid FROM packs n WHERE n.name = packs.name
                    ORDER BY n.installed_at DESC, n.rowid DESC LIMIT 1));
DELETE FROM policies WHERE pack IN (
    SELECT name FROM packs WHERE live = 1 AND policies = '[]' AND shadow = 0
      AND rowid != (SELECT n.rowid FROM packs n WHERE n.name = packs.name
                    ORDER BY n.installed_at DESC, n.rowid DESC LIMIT 1));
