-- 008: receipts (XEP-0184) and read markers (XEP-0333) wait in the send
-- queue until our server acks them, like messages in the outbox: they
-- survive an app kill and a lost session. Each keeps its stanza id for
-- every retry, so a receiver that already has it can tell.
CREATE TABLE pending_stanzas (
    -- Order of queueing: pushed oldest first.
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    -- The stanza's @id, the same on every retry.
    id TEXT NOT NULL UNIQUE,
    kind TEXT NOT NULL CHECK (kind IN ('receipt', 'marker')),
    -- Where it goes: the sender's full JID for a receipt, the peer's bare
    -- JID for a marker.
    recipient TEXT NOT NULL,
    -- The conversation it belongs to (a bare JID).
    conversation TEXT NOT NULL,
    -- The @id of the message it is about, as its sender sent it.
    about TEXT NOT NULL
);

-- A marker names the newest message displayed: one per conversation is
-- enough, a newer one replaces it.
CREATE UNIQUE INDEX pending_marker_per_conversation
    ON pending_stanzas (conversation) WHERE kind = 'marker';

-- A receipt is queued once per message until it is acked.
CREATE UNIQUE INDEX pending_receipt_once
    ON pending_stanzas (recipient, about) WHERE kind = 'receipt';
