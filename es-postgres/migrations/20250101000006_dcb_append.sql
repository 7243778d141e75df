-- The locks and the check of a tagged append (consistency boundaries by
-- query, es_core::dcb), as one function its append statement calls, so a
-- conditional append is one autocommitted statement: one round trip. Run
-- with `search_path` set to the store's schema, like every migration here.
--
-- It takes transaction-scoped advisory locks on `lock_keys` (exclusively
-- where `exclusive` is true for the key, shared otherwise), all in one
-- statement and in one order (by the keys' hashes), so no two writers wait
-- in a circle. Then, when `check_sql` is not NULL, it runs it with `after`
-- and `texts` as `$1` and `$2` and returns whether it found nothing: the
-- condition holds.
--
-- Why a function: under READ COMMITTED a statement's snapshot is taken
-- when it starts, before its locks waited for anyone; each statement a
-- VOLATILE function runs takes a snapshot of its own, so the check sees
-- every commit its locks waited for. The check is built by the store for
-- each query (`es-postgres/src/dcb/condition.rs`) and planned with its
-- values (EXECUTE … USING), so a tag's own statistics choose its index.
CREATE FUNCTION dcb_lock_and_check(
    lock_keys text[],
    exclusive boolean[],
    check_sql text,
    after     bigint,
    texts     text[]
) RETURNS boolean
LANGUAGE plpgsql VOLATILE AS $$
DECLARE
    found_one boolean;
BEGIN
    PERFORM CASE WHEN x THEN pg_advisory_xact_lock(h) ELSE pg_advisory_xact_lock_shared(h) END
    FROM (SELECT hashtextextended(k, 0) AS h, bool_or(x) AS x
          FROM unnest(lock_keys, exclusive) AS u(k, x) GROUP BY 1 ORDER BY 1) AS locks;
    IF check_sql IS NULL THEN
        RETURN true;
    END IF;
    EXECUTE check_sql INTO found_one USING after, texts;
    RETURN NOT coalesce(found_one, false);
END
$$;

-- The lock a condition with an item without tags takes first (types only:
-- events of plain appends, which take no advisory lock, can match it):
-- `SHARE ROW EXCLUSIVE` on `events`, in the caller's transaction, which
-- waits for every append in flight and holds off new ones until it
-- commits. PostgreSQL grants this mode only to roles that may UPDATE,
-- DELETE or TRUNCATE the table, which the application's role may not, so
-- the function runs with its owner's rights (SECURITY DEFINER). It takes
-- no argument and names the table with its schema, fixed here, and runs
-- with an empty `search_path`.
DO $migration$
BEGIN
    EXECUTE format(
        $create$
        CREATE FUNCTION %1$I.dcb_lock_log() RETURNS void
        LANGUAGE plpgsql SECURITY DEFINER SET search_path = '' AS $body$
        BEGIN
            LOCK TABLE %1$I.events IN SHARE ROW EXCLUSIVE MODE;
        END
        $body$
        $create$,
        current_schema());
END
$migration$;
