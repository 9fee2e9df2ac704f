-- 001: messages and the per-conversation summary.
--
-- Both tables are user data: never drop them in a later migration, only
-- add to them (or rebuild them copying every row).

CREATE TABLE messages (
    -- Our stable id (a UUID). For outgoing messages it is also the
    -- XEP-0359 origin-id and the stanza @id, reused on every retry.
    id           TEXT    NOT NULL PRIMARY KEY,
    -- Local insertion order: breaks timestamp ties so paging is stable.
    seq          INTEGER NOT NULL UNIQUE,
    -- The peer's bare JID.
    conversation TEXT    NOT NULL,
    direction    TEXT    NOT NULL CHECK (direction IN ('in', 'out')),
    -- Bare JID of the author (our own JID for outgoing messages).
    sender       TEXT    NOT NULL,
    body         TEXT    NOT NULL,
    -- Unix milliseconds, UTC.
    timestamp    INTEGER NOT NULL,
    -- XEP-0359 origin-id, as chosen by the sending client.
    origin_id    TEXT,
    -- XEP-0359 stanza-id, as assigned by our server's archive.
    stanza_id    TEXT,
    -- The stanza's @id as received.
    remote_id    TEXT,
    -- queued, sent, acked, delivered, failed (outgoing); received (incoming).
    -- Deliberately no CHECK: a new state must not need a table rebuild.
    state        TEXT    NOT NULL
);

-- History paging: one conversation, newest first, ties broken by seq.
CREATE INDEX messages_by_conversation ON messages (conversation, timestamp, seq);

-- Dedup, the store's promise: a message is stored once, however often the
-- server, a carbon or the archive hands it to us.
CREATE UNIQUE INDEX messages_unique_stanza_id
    ON messages (stanza_id)
    WHERE stanza_id IS NOT NULL;

CREATE UNIQUE INDEX messages_unique_sender_key
    ON messages (sender, coalesce(origin_id, remote_id))
    WHERE coalesce(origin_id, remote_id) IS NOT NULL;

-- Maintained on every insert, so the conversation list never scans messages.
CREATE TABLE conversations (
    peer            TEXT    NOT NULL PRIMARY KEY,
    last_message_id TEXT    NOT NULL REFERENCES messages (id),
    last_timestamp  INTEGER NOT NULL,
    last_seq        INTEGER NOT NULL
);

CREATE INDEX conversations_by_activity ON conversations (last_timestamp, last_seq);
