-- Projections: dead letters. (Checkpoints live in the first migration; the
-- runner's lease is a session advisory lock, which needs no table.) Run with
-- `search_path` set to the store's schema, like every migration here.

-- Events a projection runner with `ErrorPolicy::DeadLetter` could not
-- handle: recorded in the batch's transaction, so a dead letter exists
-- exactly when the batch that skipped the event committed. One row per
-- (projection, event); a rebuild deletes the projection's rows and records
-- again what still fails.
CREATE TABLE dead_letters (
    projection      text        NOT NULL,
    global_position bigint      NOT NULL,
    event_id        uuid        NOT NULL,
    stream_id       text        NOT NULL,
    stream_version  bigint      NOT NULL,
    event_type      text        NOT NULL,
    schema_version  integer     NOT NULL,
    error           text        NOT NULL,
    failed_at       timestamptz NOT NULL DEFAULT now(),
    -- `dead_letters(projection)` reads WHERE projection = $1 ORDER BY global_position.
    CONSTRAINT dead_letters_pkey PRIMARY KEY (projection, global_position)
);
