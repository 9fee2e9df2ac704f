-- 006: where catching up from our own message archive (XEP-0313) starts:
-- the newest archive id a catch-up reached. One row at most. An empty id:
-- the archive was empty then, so the next catch-up starts at its beginning.
--
-- A cache, not user data: losing it only makes the next catch-up fetch
-- the recent window again (the unique indexes drop what is already stored).

CREATE TABLE archive_meta (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    last_id TEXT NOT NULL
);
