-- The consumer engine's tables: dead letters and leases, the same shape as
-- the PostgreSQL store's dead letters.

-- Events a consumer with the dead-letter policy skipped: what failed, where
-- and why. A rebuild deletes its consumer's.
CREATE TABLE IF NOT EXISTS dead_letters (
    projection      TEXT    NOT NULL,
    global_position INTEGER NOT NULL,
    event_id        TEXT    NOT NULL,
    stream_id       TEXT    NOT NULL,
    stream_version  INTEGER NOT NULL,
    event_type      TEXT    NOT NULL,
    schema_version  INTEGER NOT NULL,
    error           TEXT    NOT NULL,
    failed_at       TEXT    NOT NULL,                  -- RFC 3339 UTC
    PRIMARY KEY (projection, global_position)
) WITHOUT ROWID;

-- Which engine of a consumer name is the active one, across processes on one
-- file: the owner (a random id per lease) holds it until `expires_at`
-- (milliseconds since the Unix epoch) and renews it as it works; another may
-- take it once it has expired, so a killed process's lease frees itself.
CREATE TABLE IF NOT EXISTS leases (
    name       TEXT    PRIMARY KEY,
    owner      TEXT    NOT NULL,
    expires_at INTEGER NOT NULL
) WITHOUT ROWID;
