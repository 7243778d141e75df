-- Tags of events (consistency boundaries by query, es_core::dcb): one row
-- per (tag, event), the same shape as the PostgreSQL store's. An append
-- under a condition checks it and writes the events and their tags in one
-- BEGIN IMMEDIATE transaction: the file's one writer at a time is what
-- makes the condition hold.
--
-- A query item with tags reads `tag IN (…) AND global_position > ?` through
-- the primary key (per tag, in log order); a read gathers an event's tags
-- through the position index.
CREATE TABLE IF NOT EXISTS event_tags (
    tag             TEXT    NOT NULL,
    global_position INTEGER NOT NULL,
    event_type      TEXT    NOT NULL,
    PRIMARY KEY (tag, global_position)
) WITHOUT ROWID;

CREATE INDEX IF NOT EXISTS event_tags_position ON event_tags (global_position);

-- Tags are part of the log: immutable like the events.
CREATE TRIGGER IF NOT EXISTS event_tags_no_update BEFORE UPDATE ON event_tags
BEGIN
    SELECT RAISE(ABORT, 'event tags are immutable: UPDATE on event_tags is not allowed');
END;

CREATE TRIGGER IF NOT EXISTS event_tags_no_delete BEFORE DELETE ON event_tags
BEGIN
    SELECT RAISE(ABORT, 'event tags are immutable: DELETE on event_tags is not allowed');
END;
