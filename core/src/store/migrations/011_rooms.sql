-- 011: group chat rooms (XEP-0045). A room's messages live in `messages`
-- like any conversation's (conversation = the room's bare JID, sender =
-- the occupant's full JID `room@service/nick`, ours = our bare JID).
-- The password is kept to rejoin after a fresh session, as the account's
-- password is kept to log in.
CREATE TABLE rooms (
    jid      TEXT    NOT NULL PRIMARY KEY,
    nick     TEXT    NOT NULL,
    password TEXT,
    autojoin INTEGER NOT NULL DEFAULT 1,
    subject  TEXT,
    -- When we last entered it (Unix ms): a rejoin pages the room's
    -- archive from here when no stored message has the room's stanza-id.
    joined_at INTEGER
);

-- Who is in each room now: rebuilt from presence on every join, so only
-- a cache between sessions.
CREATE TABLE room_occupants (
    room        TEXT NOT NULL REFERENCES rooms (jid) ON DELETE CASCADE,
    nick        TEXT NOT NULL,
    role        TEXT NOT NULL,
    affiliation TEXT NOT NULL,
    jid         TEXT,
    PRIMARY KEY (room, nick)
);
