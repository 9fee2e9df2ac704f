-- 005: contacts' availability (RFC 6121 §4), one row per available
-- resource, so the UI shows who is online at once after a restart.
--
-- A cache, not user data: every fresh session clears it (the server sends
-- the presence of every contact again after our initial presence).

CREATE TABLE presence (
    jid TEXT NOT NULL,
    resource TEXT NOT NULL,
    show TEXT NOT NULL CHECK (show IN ('online', 'away', 'dnd', 'xa')),
    status TEXT,
    priority INTEGER NOT NULL DEFAULT 0,
    -- UTC unix milliseconds.
    updated_at INTEGER NOT NULL,
    PRIMARY KEY (jid, resource)
);
