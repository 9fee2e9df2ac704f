-- 007: read markers (XEP-0333) and last-message correction (XEP-0308).

-- The sender asked to be told when this message is displayed
-- (<markable/>); only such messages may be named in a <displayed/> marker.
ALTER TABLE messages ADD COLUMN markable INTEGER NOT NULL DEFAULT 0;

-- The body was replaced by a correction from the message's own sender.
ALTER TABLE messages ADD COLUMN corrected INTEGER NOT NULL DEFAULT 0;

-- Our correction of this (outgoing) message that the server has not acked
-- yet: the correction stanza's id, reused on every retry; NULL when none is
-- pending. Like the outbox, it survives an app kill.
ALTER TABLE messages ADD COLUMN correction_id TEXT;

CREATE INDEX messages_pending_correction
    ON messages (correction_id)
    WHERE correction_id IS NOT NULL;
