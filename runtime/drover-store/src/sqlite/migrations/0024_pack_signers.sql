-- Signed pack archives (issue 15): the publisher keys an operator trusts,
-- each for the pack names its patterns match, and who signed each
-- installed pack version.
--
-- `trusted_keys`: one row per trusted OpenSSH ed25519 public key, by the
-- operator's name for it; `packs` is a JSON array of name patterns
-- (`*` and `?`). Removing a key deletes its row; the change log keeps
-- when it was added and removed, by whom and why.
--
-- `packs.signer`: NULL for a version installed from a directory;
-- otherwise `unsigned` (installed with --allow-unsigned) or the trusted
-- key's name and fingerprint, as installed (`NAME SHA256:…`).
CREATE TABLE trusted_keys (
    name TEXT PRIMARY KEY,
    public_key TEXT NOT NULL,
    fingerprint TEXT NOT NULL UNIQUE,
    packs TEXT NOT NULL,
    added_at INTEGER NOT NULL,
    added_by TEXT NOT NULL
);
ALTER TABLE packs ADD COLUMN signer TEXT;
