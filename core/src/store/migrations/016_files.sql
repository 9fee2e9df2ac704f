-- 016: files. A message may carry one file (XEP-0066 out-of-band URL,
-- uploaded with XEP-0363): its link, name, size, media type and where it
-- is on this device. All NULL for a text message.
ALTER TABLE messages ADD COLUMN file_url TEXT;
ALTER TABLE messages ADD COLUMN file_name TEXT;
ALTER TABLE messages ADD COLUMN file_size INTEGER;
ALTER TABLE messages ADD COLUMN file_mime TEXT;
ALTER TABLE messages ADD COLUMN file_path TEXT;

-- Our files still to upload, oldest first. A row lives from
-- `Client::send_file` until the upload is done (its message then joins the
-- send queue with the file's link) or given up (the message fails). An
-- upload is not a stanza: it is not in `send_queue`, so a large file
-- never holds up the chat queued behind it.
CREATE TABLE uploads (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    message_id TEXT NOT NULL UNIQUE REFERENCES messages (id) ON DELETE CASCADE,
    attempts INTEGER NOT NULL DEFAULT 0,
    last_error TEXT
);
