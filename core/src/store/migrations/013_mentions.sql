-- Someone else's room message that names our nickname: a UI notifies of
-- it even in a room it keeps quiet, and marks it.
ALTER TABLE messages ADD COLUMN mentions_me INTEGER NOT NULL DEFAULT 0;
