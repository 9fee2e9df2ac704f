-- 015: one send queue for everything that must reach our server exactly
-- once. Messages waited in `outbox` (002), our corrections on their message
-- row (`messages.correction_id`, 007), receipts and read markers in
-- `pending_stanzas` (008): three orders, three ack paths. Now one table,
-- pushed in `seq` order; a row leaves it once the server acked it (or it
-- is given up).
CREATE TABLE send_queue (
    -- AUTOINCREMENT: never reused, so the order survives an empty queue.
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    -- The stanza's @id, the same on every retry (a message's is its own id).
    id TEXT NOT NULL UNIQUE,
    kind TEXT NOT NULL
        CHECK (kind IN ('message', 'correction', 'receipt', 'marker')),
    -- The conversation it belongs to (a bare JID, or an occupant's full JID).
    conversation TEXT NOT NULL,
    -- The message sent (message) or corrected (correction).
    message_id TEXT REFERENCES messages (id) ON DELETE CASCADE,
    -- Receipt: the sender's full JID; marker: the peer's bare JID.
    recipient TEXT,
    -- Receipt, marker: the @id of the message it is about, as sent.
    about TEXT,
    -- Not pushed while that item is queued; it goes once the item left the
    -- queue acked (the reference becomes NULL), and fails with it.
    depends_on TEXT REFERENCES send_queue (id) ON DELETE SET NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    last_error TEXT,
    CHECK (CASE WHEN kind IN ('message', 'correction') THEN message_id IS NOT NULL
                ELSE recipient IS NOT NULL AND about IS NOT NULL END)
);

-- One entry per message, and one pending correction per message (a newer
-- correction replaces the waiting one).
-- (Message first: it also serves the foreign key's lookups.)
CREATE UNIQUE INDEX send_queue_per_message
    ON send_queue (message_id, kind) WHERE message_id IS NOT NULL;

-- A marker names the newest message displayed: one per conversation.
CREATE UNIQUE INDEX send_queue_marker_per_conversation
    ON send_queue (conversation) WHERE kind = 'marker';

-- A receipt is queued once per message until it is acked.
CREATE UNIQUE INDEX send_queue_receipt_once
    ON send_queue (recipient, about) WHERE kind = 'receipt';

-- What waits on an item, found when it leaves the queue.
CREATE INDEX send_queue_dependents
    ON send_queue (depends_on) WHERE depends_on IS NOT NULL;

-- The old places, in the order the sender pushed them: receipts and
-- markers, then the outbox, then corrections (each after its message,
-- and waiting on it while it is still queued).
INSERT INTO send_queue (id, kind, conversation, recipient, about)
    SELECT id, kind, conversation, recipient, about
    FROM pending_stanzas ORDER BY seq;

INSERT INTO send_queue (id, kind, conversation, message_id, attempts, last_error)
    SELECT o.message_id, 'message', m.conversation, o.message_id, o.attempts, o.last_error
    FROM outbox AS o JOIN messages AS m ON m.id = o.message_id
    ORDER BY o.seq;

INSERT INTO send_queue (id, kind, conversation, message_id, depends_on)
    SELECT m.correction_id, 'correction', m.conversation, m.id,
           (SELECT q.id FROM send_queue AS q
            WHERE q.kind = 'message' AND q.message_id = m.id)
    FROM messages AS m WHERE m.correction_id IS NOT NULL
    ORDER BY m.seq;

DROP TABLE pending_stanzas;
DROP TABLE outbox;
DROP INDEX messages_pending_correction;
ALTER TABLE messages DROP COLUMN correction_id;
