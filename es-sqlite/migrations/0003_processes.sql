-- Process managers: their instances, their outbox of commands and their
-- deadlines (es_core::process::ProcessBackend), the same shape as the
-- PostgreSQL store's. The engine writes these rows in its batch transaction
-- (BEGIN IMMEDIATE: the file's write lock), with the process's checkpoint;
-- the dispatcher reads the outbox and the due deadlines and removes or
-- marks rows one statement at a time. One writer at a time, so no two of
-- these writes ever interleave.

-- One row per instance (process, key). `state` is the instance's JSON as a
-- BLOB, exactly as the process manager encoded it; NULL once a finished
-- instance has dropped it. A finished row stays, so that its key stays
-- closed. A rowid table: states can be large, and a WITHOUT ROWID table
-- keeps whole rows in its key's B-tree.
CREATE TABLE IF NOT EXISTS process_instances (
    process    TEXT    NOT NULL,
    key        TEXT    NOT NULL,
    state      BLOB,
    finished   INTEGER NOT NULL DEFAULT 0,         -- 0 or 1
    updated_at TEXT    NOT NULL,                   -- RFC 3339 UTC, microseconds
    PRIMARY KEY (process, key)
);

-- Commands waiting to be executed, in `seq` order per process.
-- AUTOINCREMENT: a number is never used twice, even after the newest row
-- is removed, as in PostgreSQL's sequence.
CREATE TABLE IF NOT EXISTS process_outbox (
    seq            INTEGER PRIMARY KEY AUTOINCREMENT,
    process        TEXT    NOT NULL,
    key            TEXT    NOT NULL,
    command_id     TEXT    NOT NULL,               -- UUID, hyphenated
    causation_id   TEXT    NOT NULL,
    correlation_id TEXT,
    aggregate      TEXT    NOT NULL,
    target_id      TEXT    NOT NULL,
    command        BLOB    NOT NULL,               -- the command's JSON, as encoded
    created_at     TEXT    NOT NULL
);

-- pending_commands: WHERE process = ? ORDER BY seq LIMIT ?.
CREATE INDEX IF NOT EXISTS process_outbox_process_seq ON process_outbox (process, seq);

-- Scheduled deadlines: one per (process, key, deadline JSON); scheduling an
-- equal one replaces its id and due time and clears `fired` (its event is
-- in the log, and the row waits for the engine to take it).
CREATE TABLE IF NOT EXISTS process_deadlines (
    process  TEXT    NOT NULL,
    key      TEXT    NOT NULL,
    deadline TEXT    NOT NULL,
    id       TEXT    NOT NULL,                     -- UUID, hyphenated
    due_at   TEXT    NOT NULL,                     -- RFC 3339 UTC, microseconds: sorts as text
    fired    INTEGER NOT NULL DEFAULT 0,           -- 0 or 1
    PRIMARY KEY (process, key, deadline)
);

-- due_deadlines: WHERE process = ? AND fired = 0 AND due_at <= ? ORDER BY due_at.
CREATE INDEX IF NOT EXISTS process_deadlines_due ON process_deadlines (process, due_at)
    WHERE fired = 0;

-- deadline_fired: WHERE process = ? AND id = ?.
CREATE INDEX IF NOT EXISTS process_deadlines_id ON process_deadlines (id);
