-- 004: the contact list (RFC 6121 roster), cached so the UI renders it at
-- once after a restart, and the version the server gave it (roster
-- versioning: the next fetch transfers nothing if it is current).
--
-- The server owns the roster, but pending_in is ours: a request someone
-- sent us that the user has not answered. Such a requester may not be on
-- the roster (on_roster = 0) until the user approves.

CREATE TABLE roster_items (
    jid TEXT PRIMARY KEY NOT NULL,
    name TEXT,
    subscription TEXT NOT NULL DEFAULT 'none'
        CHECK (subscription IN ('none', 'to', 'from', 'both')),
    -- We asked for the contact's presence (pending-out).
    ask INTEGER NOT NULL DEFAULT 0,
    pending_in INTEGER NOT NULL DEFAULT 0,
    on_roster INTEGER NOT NULL DEFAULT 1
);

CREATE TABLE roster_groups (
    jid TEXT NOT NULL REFERENCES roster_items (jid) ON DELETE CASCADE,
    name TEXT NOT NULL,
    PRIMARY KEY (jid, name)
);

-- One row at most: the version of the stored roster.
CREATE TABLE roster_meta (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    ver TEXT
);
