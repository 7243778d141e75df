-- Tags of events (consistency boundaries by query, es_core::dcb): one row
-- per (tag, event). Run with `search_path` set to the store's schema, like
-- every migration here.
--
-- A query item with tags reads `tag = ANY(…) AND global_position > $after`
-- through the primary key, a B-tree (per tag, in log order), grouped by
-- position; a read gathers an event's tags through the position index.
-- `event_type` is kept beside the tag so an item with types and tags
-- filters without reading the events.
CREATE TABLE event_tags (
    tag             text   NOT NULL,
    global_position bigint NOT NULL,
    event_type      text   NOT NULL,
    CONSTRAINT event_tags_pkey PRIMARY KEY (tag, global_position)
);
CREATE INDEX event_tags_position_idx ON event_tags (global_position);

-- Tags are part of the log: immutable like the events.
CREATE TRIGGER event_tags_immutable
    BEFORE UPDATE OR DELETE ON event_tags
    FOR EACH ROW EXECUTE FUNCTION refuse_change();
CREATE TRIGGER event_tags_no_truncate
    BEFORE TRUNCATE ON event_tags
    FOR EACH STATEMENT EXECUTE FUNCTION refuse_change();
