-- Process managers: their instances, their outbox of commands and their
-- deadlines (es_core::process::ProcessBackend). Run with `search_path` set
-- to the store's schema, like every migration here. The engine writes these
-- rows in its batch transaction, with the process's checkpoint; the
-- dispatcher reads the outbox and the due deadlines, and removes or marks
-- rows one statement at a time.

-- One row per instance (process, key). `state` is the instance's JSON as
-- bytes, exactly as the process manager encoded it (jsonb would rewrite it:
-- key order, spacing, duplicate keys), NULL once a finished instance has
-- dropped it; nothing queries inside it, and bytea costs no parse on write.
-- A finished row stays, so that its key stays closed.
CREATE TABLE process_instances (
    process    text        NOT NULL,
    key        text        NOT NULL,
    state      bytea,
    finished   boolean     NOT NULL DEFAULT false,
    updated_at timestamptz NOT NULL DEFAULT now(),
    -- load_instance (WHERE process = $1 AND key = $2), save_instance
    -- (ON CONFLICT (process, key)), process_counts (WHERE process = $1).
    CONSTRAINT process_instances_pkey PRIMARY KEY (process, key)
);

-- Commands waiting to be executed, in `seq` order per process. The batches
-- of one process are serialized by its checkpoint's row lock, so within a
-- process `seq` order is also commit order: a dispatcher never sees a
-- command commit behind one it already executed.
CREATE TABLE process_outbox (
    seq            bigserial   NOT NULL,
    process        text        NOT NULL,
    key            text        NOT NULL,
    command_id     uuid        NOT NULL,
    causation_id   uuid        NOT NULL,
    correlation_id uuid,
    aggregate      text        NOT NULL,
    target_id      text        NOT NULL,
    -- The command's JSON, as bytes (as `state`).
    command        bytea       NOT NULL,
    created_at     timestamptz NOT NULL DEFAULT now(),
    -- command_done (WHERE process = $1 AND seq = $2).
    CONSTRAINT process_outbox_pkey PRIMARY KEY (seq)
);

-- pending_commands: WHERE process = $1 ORDER BY seq LIMIT $2.
CREATE INDEX process_outbox_process_seq_idx ON process_outbox (process, seq);

-- Scheduled deadlines: one per (process, key, deadline JSON); scheduling an
-- equal one replaces its id and due time and clears `fired`. `fired`: its
-- event is in the log, and the row waits for the engine to take it.
CREATE TABLE process_deadlines (
    process  text        NOT NULL,
    key      text        NOT NULL,
    deadline text        NOT NULL,
    id       uuid        NOT NULL,
    due_at   timestamptz NOT NULL,
    fired    boolean     NOT NULL DEFAULT false,
    -- schedule (ON CONFLICT), cancel (WHERE process = $1 AND key = $2
    -- [AND deadline = $3]), take_deadline (WHERE process = $1 AND key = $2
    -- AND id = $3).
    CONSTRAINT process_deadlines_pkey PRIMARY KEY (process, key, deadline)
);

-- due_deadlines: WHERE process = $1 AND NOT fired AND due_at <= $2
-- ORDER BY due_at LIMIT $3. Only the rows still to fire are in it.
CREATE INDEX process_deadlines_due_idx ON process_deadlines (process, due_at) WHERE NOT fired;

-- deadline_fired: WHERE process = $1 AND id = $2 (the dispatcher knows the
-- scheduling's id, not its deadline).
CREATE INDEX process_deadlines_id_idx ON process_deadlines (id);
