-- Signatures of timestamped webhook requests already accepted, kept until
-- their timestamp leaves the ±5 minute window: a replay within the window
-- finds its row and is refused, across restarts.
CREATE TABLE webhook_signatures (
    webhook TEXT NOT NULL,      -- the trigger type or sensor webhook, `pack.name`
    signature TEXT NOT NULL,    -- lowercase hex of the HMAC
    expires_at INTEGER NOT NULL, -- unix seconds: the timestamp plus the window
    PRIMARY KEY (webhook, signature)
) WITHOUT ROWID;
CREATE INDEX webhook_signatures_expiry ON webhook_signatures (expires_at);
