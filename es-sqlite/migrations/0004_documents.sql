-- Document projections (es_core::document::DocumentBackend): one shared
-- table, one row per (projection, key), the same shape as the PostgreSQL
-- store's. The engine reads and writes these rows in its batch transaction
-- (BEGIN IMMEDIATE: the file's write lock), with the projection's
-- checkpoint.
--
-- `key` compares with SQLite's default BINARY collation: by bytes, as on
-- the other stores, so pages (`key > ? ORDER BY key`) follow one order.
-- `body` is the document's JSON as TEXT, byte for byte as written (a BLOB
-- would be taken for SQLite's binary JSONB by the JSON functions). The
-- filters on declared indexed fields read it with json_type and
-- json_extract; their expression indexes, partial on `projection = '…'`,
-- are created per projection by `setup_documents`. A rowid table:
-- documents can be large, and a WITHOUT ROWID table keeps whole rows in
-- its key's B-tree.
CREATE TABLE IF NOT EXISTS documents (
    projection TEXT NOT NULL,
    key        TEXT NOT NULL,
    body       TEXT NOT NULL,
    updated_at TEXT NOT NULL,                      -- RFC 3339 UTC, microseconds
    PRIMARY KEY (projection, key)
);
