-- With a room's position (012), the time no message after it may sort
-- before: the newest time stored up to it. The message at the position
-- may not be stored (a copy the room holds twice) or may be ours, stored
-- at our send time, so it cannot be read back from the messages.
ALTER TABLE rooms ADD COLUMN archive_floor INTEGER;
