-- Document projections (es_core::document::DocumentBackend): one shared
-- table, one row per (projection, key). Run with `search_path` set to the
-- store's schema, like every migration here. The engine reads and writes
-- these rows in its batch transaction, with the projection's checkpoint.
--
-- `key` sorts and compares by bytes (COLLATE "C"), as on the other stores:
-- pages (`key > $after ORDER BY key`) follow the same order everywhere.
-- `body` is the document's JSON as jsonb: the filters on declared indexed
-- fields read inside it, and their expression indexes (created per
-- projection by `setup_documents`, partial on `projection = '…'`) index it.
CREATE TABLE documents (
    projection text        NOT NULL,
    key        text        COLLATE "C" NOT NULL,
    body       jsonb       NOT NULL,
    updated_at timestamptz NOT NULL DEFAULT now(),
    -- load_documents (projection = $1 AND key = ANY($2)), the upsert
    -- (ON CONFLICT), the pages (projection = … AND key > $after ORDER BY key).
    CONSTRAINT documents_pkey PRIMARY KEY (projection, key)
);
