-- The event store's tables: the same shape as the PostgreSQL store's.

-- Every event ever appended, in one global order.
--
-- `global_position` is an INTEGER PRIMARY KEY (the rowid): SQLite assigns
-- max + 1. SQLite has one writer at a time per database file and every
-- append holds the write lock (BEGIN IMMEDIATE) from its version check to its
-- commit, so positions commit in increasing order and a reader tailing by
-- position can never skip an event that commits late with a lower position.
-- No AUTOINCREMENT: rows are never deleted (see the triggers), so positions
-- are never reused, and a rolled-back append leaves no gap.
CREATE TABLE IF NOT EXISTS events (
    global_position INTEGER PRIMARY KEY,
    event_id        TEXT    NOT NULL UNIQUE,           -- UUID v7, hyphenated
    stream_id       TEXT    NOT NULL,
    stream_version  INTEGER NOT NULL CHECK (stream_version >= 1),
    aggregate_type  TEXT    NOT NULL,                  -- the stream id's part before the first '-'
    event_type      TEXT    NOT NULL,
    schema_version  INTEGER NOT NULL CHECK (schema_version >= 0),
    payload         TEXT    NOT NULL,                  -- the JSON as written (a BLOB if not UTF-8)
    metadata        TEXT    NOT NULL,                  -- JSON: correlation, causation, command id, actor, extra
    recorded_at     TEXT    NOT NULL,                  -- RFC 3339 UTC, microseconds: sorts as text
    -- The optimistic-concurrency guard: one event per stream version.
    UNIQUE (stream_id, stream_version)
);

CREATE INDEX IF NOT EXISTS events_event_type ON events (event_type, global_position);
CREATE INDEX IF NOT EXISTS events_aggregate_type ON events (aggregate_type, global_position);

-- Stored events never change.
CREATE TRIGGER IF NOT EXISTS events_no_update BEFORE UPDATE ON events
BEGIN
    SELECT RAISE(ABORT, 'events are immutable: UPDATE on events is not allowed');
END;

CREATE TRIGGER IF NOT EXISTS events_no_delete BEFORE DELETE ON events
BEGIN
    SELECT RAISE(ABORT, 'events are immutable: DELETE on events is not allowed');
END;

-- The command ids recorded per stream, with the versions the command wrote:
-- a repeated command id appends nothing and answers from here.
CREATE TABLE IF NOT EXISTS commands (
    stream_id     TEXT    NOT NULL,
    command_id    TEXT    NOT NULL,                    -- UUID, hyphenated
    first_version INTEGER NOT NULL,
    last_version  INTEGER NOT NULL,
    recorded_at   TEXT    NOT NULL,
    PRIMARY KEY (stream_id, command_id)
) WITHOUT ROWID;

-- Command records are immutable too.
CREATE TRIGGER IF NOT EXISTS commands_no_update BEFORE UPDATE ON commands
BEGIN
    SELECT RAISE(ABORT, 'command records are immutable: UPDATE on commands is not allowed');
END;

CREATE TRIGGER IF NOT EXISTS commands_no_delete BEFORE DELETE ON commands
BEGIN
    SELECT RAISE(ABORT, 'command records are immutable: DELETE on commands is not allowed');
END;

-- The latest snapshot of each stream (a save replaces it).
CREATE TABLE IF NOT EXISTS snapshots (
    stream_id        TEXT    PRIMARY KEY,
    version          INTEGER NOT NULL,
    snapshot_version INTEGER NOT NULL,
    payload          TEXT    NOT NULL,                 -- JSON (a BLOB if not UTF-8)
    taken_at         TEXT    NOT NULL
) WITHOUT ROWID;

-- How far each projection has read the global log.
CREATE TABLE IF NOT EXISTS checkpoints (
    projection TEXT    PRIMARY KEY,
    position   INTEGER NOT NULL,
    updated_at TEXT    NOT NULL
) WITHOUT ROWID;
