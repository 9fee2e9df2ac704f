-- 003: full-text search over message bodies, and unread counts.
--
-- messages_fts is an index, not data: an external-content FTS5 table that
-- stores no text of its own and reads bodies back from messages. It is keyed
-- by messages.seq, not the implicit rowid, because VACUUM may renumber the
-- rowids of a table without an INTEGER PRIMARY KEY; seq is stable. The
-- triggers below keep it in step with every write to messages.
--
-- unicode61 with remove_diacritics 2 folds case and accents, so "cafe"
-- finds "café".

CREATE VIRTUAL TABLE messages_fts USING fts5(
    body,
    content = 'messages',
    content_rowid = 'seq',
    tokenize = 'unicode61 remove_diacritics 2'
);

CREATE TRIGGER messages_fts_after_insert AFTER INSERT ON messages BEGIN
    INSERT INTO messages_fts (rowid, body) VALUES (new.seq, new.body);
END;

-- An external-content delete must be given the exact text that was indexed.
CREATE TRIGGER messages_fts_after_delete AFTER DELETE ON messages BEGIN
    INSERT INTO messages_fts (messages_fts, rowid, body)
        VALUES ('delete', old.seq, old.body);
END;

-- Only the indexed columns: state changes must not reindex the body.
CREATE TRIGGER messages_fts_after_update AFTER UPDATE OF seq, body ON messages BEGIN
    INSERT INTO messages_fts (messages_fts, rowid, body)
        VALUES ('delete', old.seq, old.body);
    INSERT INTO messages_fts (rowid, body) VALUES (new.seq, new.body);
END;

-- Index what an upgraded store already holds (a no-op on a fresh one).
INSERT INTO messages_fts (messages_fts) VALUES ('rebuild');

-- Incoming messages not yet read; kept by the store on every insert and
-- reset by mark_read, so the conversation list never counts messages.
-- Messages from before this migration count as read.
ALTER TABLE conversations ADD COLUMN unread INTEGER NOT NULL DEFAULT 0;
