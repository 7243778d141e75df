-- A page of the global log read in index order, whatever the table's
-- statistics say. Run with `search_path` set to the store's schema, like
-- every migration here.
--
-- Right after a bulk load, before autovacuum's ANALYZE (or after a load
-- that more than doubled a table analyzed when it was small), PostgreSQL
-- estimates a page's range, an event type or a partition at a fraction of
-- a percent of the table, and plans `read_all` as a bitmap scan of every
-- matching event after the position followed by a sort: it reads the rest
-- of the log (or of the type) for each page of 1,000 (270-700 ms a page on
-- 1,000,000 events, against 1.5 ms after ANALYZE). No query shape avoids
-- it: the planner compares the bitmap scan with the ordered index scan by
-- cost, and with a guess of a few rows the sort looks free.
--
-- This function reads the page with bitmap scans off (`SET
-- enable_bitmapscan = off`, for its own statements only), so each scan is
-- an index scan in position order that stops after the page: the position
-- index for the whole log or a partition; for event types, one scan of
-- the type index per type, merged in position order (a `Merge Append` of
-- `(event_type, global_position)` ranges), so a page reads at most its
-- rows and one more per type. The statement is planned on each call (its
-- branches are the types); that, the function call and its result's copy
-- cost about a third more than the usual statement on an analyzed table,
-- so the store takes this path only while the statistics are missing or
-- stale (`es-postgres/src/statistics.rs`).
--
-- The page: events with `after < global_position < bound`, of `types`
-- (NULL: all), of partition `part` of `parts` (NULL: all; the partition of
-- a stream as `partition_of` in es-postgres/src/read.rs), in position
-- order, at most `n`. The columns are those of `COLUMNS` in
-- es-postgres/src/row.rs. The function names its table with the schema,
-- fixed here.
DO $migration$
BEGIN
    EXECUTE format(
        $create$
        CREATE FUNCTION %1$I.read_all_in_index_order(
            after bigint,
            bound bigint,
            types text[],
            n     bigint,
            part  bigint,
            parts bigint
        ) RETURNS TABLE (
            global_position bigint,
            event_id        uuid,
            stream_id       text,
            stream_version  bigint,
            event_type      text,
            schema_version  integer,
            payload         text,
            metadata        text,
            recorded_at     timestamptz
        )
        LANGUAGE plpgsql STABLE SET enable_bitmapscan = off AS $body$
        DECLARE
            cols constant text := 'e.global_position, e.event_id, e.stream_id, e.stream_version, '
                || 'e.event_type, e.schema_version, e.payload::text, e.metadata::text, e.recorded_at';
            scan text := 'FROM %1$I.events AS e WHERE e.global_position > $1 AND e.global_position < $2';
            page text;
        BEGIN
            IF parts IS NOT NULL THEN
                scan := scan
                    || ' AND (((''x'' || substr(md5(e.stream_id), 1, 8))::bit(32)::bigint %% $5) = $4)';
            END IF;
            IF types IS NULL THEN
                page := format('SELECT %%s %%s ORDER BY e.global_position LIMIT $3', cols, scan);
            ELSE
                SELECT 'SELECT * FROM ('
                       || string_agg(format('(SELECT %%s %%s AND e.event_type = %%L '
                                            || 'ORDER BY e.global_position LIMIT $3)', cols, scan, t),
                                     ' UNION ALL ')
                       || ') AS u ORDER BY 1 LIMIT $3'
                INTO page
                FROM (SELECT DISTINCT t FROM unnest(types) AS t WHERE t IS NOT NULL) AS u;
                IF page IS NULL THEN
                    RETURN;
                END IF;
            END IF;
            RETURN QUERY EXECUTE page USING after, bound, n, part, parts;
        END
        $body$
        $create$,
        current_schema());
END
$migration$;
