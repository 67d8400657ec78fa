-- drover schema: the API (who may use it; the execution list). Append-only.

-- People who log in to the web UI. `password_hash` is an argon2id PHC
-- string; the password itself is never stored. Roles: viewer, operator,
-- admin.
CREATE TABLE users (
    name          TEXT PRIMARY KEY,
    role          TEXT NOT NULL,
    password_hash TEXT NOT NULL,
    created_at    INTEGER NOT NULL,
    updated_at    INTEGER NOT NULL
) STRICT;

-- API tokens. Only the SHA-256 of a token is kept: it is shown once, when
-- created, and cannot be recovered from the database.
CREATE TABLE api_tokens (
    id         TEXT PRIMARY KEY,         -- ULID, what `drover token revoke` takes
    name       TEXT NOT NULL,
    role       TEXT NOT NULL,
    hash       TEXT NOT NULL UNIQUE,     -- hex SHA-256 of the token
    created_at INTEGER NOT NULL,
    created_by TEXT NOT NULL,
    revoked_at INTEGER
) STRICT;

-- Web sessions. The cookie carries a random id; only its SHA-256 is kept.
-- `csrf` is the session's synchronizer token, required on every form post
-- and every unsafe API request made with the cookie.
CREATE TABLE sessions (
    id_hash    TEXT PRIMARY KEY,
    user       TEXT NOT NULL REFERENCES users (name) ON DELETE CASCADE,
    csrf       TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL
) STRICT;
CREATE INDEX sessions_by_expiry ON sessions (expires_at);

-- The API's execution list filters by action and status together; with
-- this index a page costs the same however rare the combination is
-- (executions_by_action and executions_by_status cover each alone).
CREATE INDEX executions_by_action_status ON executions (action, status, id);
