-- 002: the outbox, the persisted send queue.
--
-- A row exists from the moment an outgoing message is stored until the
-- server acks it (or a receipt arrives first), or until it is given up as
-- failed. On start-up the sender replays it in seq order. User data.

CREATE TABLE outbox (
    -- AUTOINCREMENT: seq is never reused, so the order survives an empty queue.
    seq        INTEGER PRIMARY KEY AUTOINCREMENT,
    message_id TEXT    NOT NULL UNIQUE REFERENCES messages (id) ON DELETE CASCADE,
    attempts   INTEGER NOT NULL DEFAULT 0,
    last_error TEXT
);

-- Why an outgoing message ended up failed; the outbox row is gone by then.
ALTER TABLE messages ADD COLUMN failure_reason TEXT;

