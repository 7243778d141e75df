-- The event store's tables. This migration is run with `search_path` set to
-- the store's schema only (see `PgEventStore::migrate`), so every name below
-- lands in that schema, whatever it is called.

-- The log. One row per event; rows are never updated or deleted (see the
-- trigger below).
CREATE TABLE events (
    -- The global order. Not a sequence: it is `tx_id << 20 | n` (the n-th
    -- event of its transaction), so global order is transaction-id order and
    -- a reader that only reads below the oldest running transaction id never
    -- skips an event that commits late (see `read_all` in src/lib.rs).
    global_position bigint      NOT NULL,
    event_id        uuid        NOT NULL,
    stream_id       text        NOT NULL,
    stream_version  bigint      NOT NULL,
    aggregate_type  text        NOT NULL,
    event_type      text        NOT NULL,
    schema_version  integer     NOT NULL,
    payload         jsonb       NOT NULL,
    metadata        jsonb       NOT NULL DEFAULT '{}'::jsonb,
    recorded_at     timestamptz NOT NULL DEFAULT now(),
    -- The writing transaction's id.
    tx_id           xid8        NOT NULL DEFAULT pg_current_xact_id(),

    -- read_all:      WHERE global_position > $after AND global_position < $bound ORDER BY global_position LIMIT $n
    -- head_position: SELECT max(global_position) WHERE global_position < $bound
    -- append:        SELECT max(global_position) of the current transaction's range
    CONSTRAINT events_pkey PRIMARY KEY (global_position),
    -- An event id is stored once (a retried batch with the same ids fails
    -- instead of duplicating).
    CONSTRAINT events_event_id_key UNIQUE (event_id),
    -- Enforces the expected version for free: two appends that both expect
    -- version n both insert version n + 1, and the second fails with 23505.
    -- Also serves read_stream (WHERE stream_id = $1 AND stream_version >= $2
    -- ORDER BY stream_version) and stream_version (SELECT max(stream_version)
    -- WHERE stream_id = $1).
    CONSTRAINT events_stream_version_key UNIQUE (stream_id, stream_version),
    CONSTRAINT events_stream_version_check CHECK (stream_version >= 1),
    CONSTRAINT events_global_position_check CHECK (global_position > 0)
);

-- read_all with an event-type filter (the projection runner):
--   WHERE event_type = ANY($types) AND global_position > $after ORDER BY global_position
CREATE INDEX events_event_type_position_idx ON events (event_type, global_position);

-- The batches that carried a command id: append's dedup check and
-- find_command (WHERE stream_id = $1 AND command_id = $2) use the primary key.
CREATE TABLE commands (
    stream_id     text        NOT NULL,
    command_id    uuid        NOT NULL,
    first_version bigint      NOT NULL,
    last_version  bigint      NOT NULL,
    recorded_at   timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT commands_pkey PRIMARY KEY (stream_id, command_id)
);

-- The latest snapshot per stream: load_snapshot (WHERE stream_id = $1) and
-- save_snapshot (ON CONFLICT (stream_id)) use the primary key.
CREATE TABLE snapshots (
    stream_id        text        NOT NULL,
    version          bigint      NOT NULL,
    snapshot_version integer     NOT NULL,
    payload          jsonb       NOT NULL,
    taken_at         timestamptz NOT NULL,
    CONSTRAINT snapshots_pkey PRIMARY KEY (stream_id)
);

-- Where each projection is: the runner reads and writes
-- WHERE projection = $1 through the primary key.
CREATE TABLE checkpoints (
    projection text        NOT NULL,
    position   bigint      NOT NULL,
    updated_at timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT checkpoints_pkey PRIMARY KEY (projection)
);

-- Events and command records are immutable.
CREATE FUNCTION refuse_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION '% on %.% is not allowed: the event log is append-only',
        TG_OP, TG_TABLE_SCHEMA, TG_TABLE_NAME
        USING ERRCODE = 'insufficient_privilege';
END
$$;

CREATE TRIGGER events_immutable
    BEFORE UPDATE OR DELETE ON events
    FOR EACH ROW EXECUTE FUNCTION refuse_change();
CREATE TRIGGER events_no_truncate
    BEFORE TRUNCATE ON events
    FOR EACH STATEMENT EXECUTE FUNCTION refuse_change();
CREATE TRIGGER commands_immutable
    BEFORE UPDATE OR DELETE ON commands
    FOR EACH ROW EXECUTE FUNCTION refuse_change();
CREATE TRIGGER commands_no_truncate
    BEFORE TRUNCATE ON commands
    FOR EACH STATEMENT EXECUTE FUNCTION refuse_change();
