-- Where a room's archive catch-up resumes: the room's stanza-id of the
-- last message known to have no gap before it (the end of a completed
-- archive page, or a live message received once caught up). The newest
-- stored message is not that: live messages arrive while a catch-up is
-- still paging, and a session lost then would skip the rest.
ALTER TABLE rooms ADD COLUMN archive_after TEXT;
