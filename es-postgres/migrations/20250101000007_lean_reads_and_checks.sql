-- Leaner reads and checks: the settled bound of the global log as a
-- function; for decisions (consistency boundaries by query, es_core::dcb)
-- an event's tags on its row, and a condition's check that is planned
-- once. Run with `search_path` set to the store's schema, like every
-- migration here.

-- The bound below which every transaction has finished (committed or
-- rolled back), as a global position (`transaction id << 20`): what
-- `read_all`, the head and a read by query return events below (see
-- `settled_bound` in es-postgres/src/read.rs). It is the `xmin` of the
-- calling statement's snapshot (STABLE: the function runs in that
-- snapshot), except that transactions known to run in another database
-- are left out: they cannot write this database's events, and a long one
-- would otherwise hold every reader back. A transaction is left out only
-- when pg_stat_activity shows it in another database; one that is not
-- found still counts, so the bound is never too high. As a function, the
-- statements that use it carry one call instead of the lookup's joins
-- (which the server set up on every execution), and the lookup runs only
-- when a transaction is in progress.
CREATE FUNCTION settled_bound() RETURNS bigint
LANGUAGE plpgsql STABLE AS $$
DECLARE
    snap pg_snapshot := pg_current_snapshot();
BEGIN
    IF pg_snapshot_xmin(snap) = pg_snapshot_xmax(snap) THEN
        RETURN pg_snapshot_xmax(snap)::text::bigint << 20;
    END IF;
    RETURN LEAST(pg_snapshot_xmax(snap)::text::bigint,
                 (SELECT min(x::text::bigint) FROM pg_snapshot_xip(snap) AS x
                  WHERE NOT EXISTS (
                      SELECT 1 FROM pg_stat_activity AS a
                      WHERE a.backend_xid IS NOT NULL
                        AND a.backend_xid::text::bigint = (x::text::bigint & 4294967295)
                        AND a.datname IS DISTINCT FROM current_database()))) << 20;
END
$$;

-- An event's tags, sorted, on its own row (NULL: no tags), written with
-- the event by a tagged append. A read by query returns them with the
-- event instead of looking them up in `event_tags` per event (an index
-- probe each). `event_tags` stays the tag index that reads and checks
-- search (by tag), so its index by position, which served that lookup,
-- goes (after the fill below, which reads by position).
ALTER TABLE events ADD COLUMN tags text[];

-- The events tagged before this migration get theirs from `event_tags`.
-- The log stays append-only: the trigger that refuses changes is off only
-- inside this migration's transaction, for this one fill.
ALTER TABLE events DISABLE TRIGGER events_immutable;
UPDATE events AS e SET tags = t.tags
FROM (SELECT global_position, array_agg(tag ORDER BY tag) AS tags
      FROM event_tags GROUP BY global_position) AS t
WHERE e.global_position = t.global_position;
ALTER TABLE events ENABLE TRIGGER events_immutable;
DROP INDEX event_tags_position_idx;

-- `dcb_lock_and_check` (migration 6) with the condition's check for items
-- with tags written out here, not passed as SQL text: PL/pgSQL plans this
-- function's statements once per session and keeps the plans, where an
-- `EXECUTE` of the check's text planned it on every call (about 0.2 ms
-- of the 0.3 ms the append statement took). `dcb_lock_and_check` stays
-- for stores of the previous version running beside this one.
--
-- The locks: as `dcb_lock_and_check`. The check, after the locks, in
-- statements of their own (each takes a fresh snapshot, so it sees every
-- commit the locks waited for): the condition holds when no event after
-- `after` matches an item.
--
-- - Items with tags, one entry per item in `first_tags` (its first tag):
--   an event matches when it has the item's first tag (read through the
--   tag index, in log order after `after`), every other tag of the item
--   (`more_tags`, each with its item's index in `more_items`, from 1),
--   and, when the item names types (`types`, each with its item's index in
--   `type_items`), one of them.
-- - Items without tags (types only, or everything): `untagged_check`, SQL
--   over `$1` (`after`) and `$2` (`untagged_texts`) that returns whether
--   it found a match, as `dcb_lock_and_check`'s check; NULL when there are
--   none. It stays dynamic, planned with its values, so each type's
--   statistics choose its index; such a condition also locks the log
--   (`dcb_lock_log`), and is the rare one.
--
-- The function names its tables with the schema, fixed here (the search
-- path of the caller does not choose them).
DO $migration$
BEGIN
    EXECUTE format(
        $create$
        CREATE FUNCTION %1$I.dcb_lock_and_check_items(
            lock_keys      text[],
            exclusive      boolean[],
            after          bigint,
            first_tags     text[],
            more_tags      text[],
            more_items     integer[],
            types          text[],
            type_items     integer[],
            untagged_check text,
            untagged_texts text[]
        ) RETURNS boolean
        LANGUAGE plpgsql VOLATILE AS $body$
        DECLARE
            found_one boolean;
        BEGIN
            PERFORM CASE WHEN x THEN pg_advisory_xact_lock(h) ELSE pg_advisory_xact_lock_shared(h) END
            FROM (SELECT hashtextextended(k, 0) AS h, bool_or(x) AS x
                  FROM unnest(lock_keys, exclusive) AS u(k, x) GROUP BY 1 ORDER BY 1) AS locks;
            IF untagged_check IS NOT NULL THEN
                EXECUTE untagged_check INTO found_one USING after, untagged_texts;
                IF coalesce(found_one, false) THEN
                    RETURN false;
                END IF;
            END IF;
            IF coalesce(cardinality(first_tags), 0) = 0 THEN
                RETURN true;
            END IF;
            -- The common condition: one item with one tag.
            IF cardinality(first_tags) = 1 AND coalesce(cardinality(more_tags), 0) = 0 THEN
                RETURN NOT EXISTS (
                    SELECT 1 FROM %1$I.event_tags AS t
                    WHERE t.tag = first_tags[1] AND t.global_position > after
                      AND (coalesce(cardinality(types), 0) = 0 OR t.event_type = ANY (types)));
            END IF;
            RETURN NOT EXISTS (
                SELECT 1
                FROM unnest(first_tags) WITH ORDINALITY AS item(tag, i)
                CROSS JOIN LATERAL (
                    SELECT 1 FROM %1$I.event_tags AS t
                    WHERE t.tag = item.tag AND t.global_position > after
                      AND (NOT (item.i = ANY (coalesce(type_items, '{}')))
                           OR t.event_type IN (SELECT y.type FROM unnest(types, type_items) AS y(type, i)
                                               WHERE y.i = item.i))
                      AND NOT EXISTS (
                          SELECT 1 FROM unnest(more_tags, more_items) AS m(tag, i)
                          WHERE m.i = item.i
                            AND NOT EXISTS (SELECT 1 FROM %1$I.event_tags AS u
                                            WHERE u.tag = m.tag
                                              AND u.global_position = t.global_position))
                    LIMIT 1
                ) AS hit
            );
        END
        $body$
        $create$,
        current_schema());
END
$migration$;
