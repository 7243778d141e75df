//! The append statements that write through CTEs: the full statement (a
//! command id, inline projections, the tags and the condition of a tagged
//! append) and the lean statement of a tagged append.

use crate::row::POSITION_SHIFT;

/// The full append statement (see `Appends::full`), with `condition` added
/// to the version check of its `ok` step. The transaction id (and with it
/// the events' positions) is taken from `ok`'s row, so after whatever the
/// condition waited for.
pub(super) fn full_statement(s: &str, condition: &str) -> String {
    // One statement, one round trip: check the command id ($9) and
    // the expected version, insert the whole batch from arrays,
    // record the command, store the tags of a tagged append ($11-$13,
    // see `crate::dcb`), and notify when $10 (the channel) is not NULL
    // (only inside an inline projection's transaction; otherwise the
    // `notify` task announces the commit, see src/notify.rs).
    // Concurrent writers that both pass the
    // version check collide on (stream_id, stream_version): the
    // second fails with 23505 and writes nothing.
    format!(
        r#"
WITH cur AS MATERIALIZED (
    SELECT COALESCE(max(stream_version), 0) AS version
    FROM {s}.events WHERE stream_id = $1
), dup AS MATERIALIZED (
    SELECT first_version, last_version
    FROM {s}.commands WHERE stream_id = $1 AND command_id = $9::uuid
), ok AS MATERIALIZED (
    SELECT cur.version FROM cur
    WHERE NOT EXISTS (SELECT 1 FROM dup)
      AND ($3::bigint IS NULL OR cur.version = $3::bigint){condition}
), txn AS MATERIALIZED (
    SELECT x.id, COALESCE(
        (SELECT max(global_position) FROM {s}.events
         WHERE global_position > x.base AND global_position < x.base + {per_tx}),
        x.base) AS base
    FROM (SELECT pg_current_xact_id() AS id,
                 (pg_current_xact_id()::text::bigint) << {POSITION_SHIFT} AS base
          FROM ok) AS x
), ins AS (
    INSERT INTO {s}.events (global_position, event_id, stream_id, stream_version,
        aggregate_type, event_type, schema_version, payload, metadata, tx_id, tags)
    SELECT txn.base + e.ord, e.event_id, $1, ok.version + e.ord, $2, e.event_type,
           e.schema_version, e.payload::jsonb, COALESCE(e.metadata::jsonb, '{{}}'::jsonb), txn.id,
           {event_tags_11}
    FROM ok, txn, unnest($4::uuid[], $5::text[], $6::int4[], $7::text[], $8::text[])
        WITH ORDINALITY AS e(event_id, event_type, schema_version, payload, metadata, ord)
    RETURNING global_position, stream_version
), summary AS MATERIALIZED (
    SELECT count(*) AS n, min(stream_version) AS first_version,
           max(stream_version) AS last_version, max(global_position) AS last_position
    FROM ins
), cmd AS (
    INSERT INTO {s}.commands (stream_id, command_id, first_version, last_version)
    SELECT $1, $9::uuid, first_version, last_version FROM summary
    WHERE $9::uuid IS NOT NULL AND n > 0
    RETURNING 1
), notified AS (
    SELECT pg_notify($10, last_position::text) FROM summary WHERE n > 0 AND $10::text IS NOT NULL
), tags AS (
    INSERT INTO {s}.event_tags (tag, global_position, event_type)
    SELECT t.tag, txn.base + t.ord, t.event_type
    FROM txn, unnest($11::text[], $12::int8[], $13::text[]) AS t(tag, ord, event_type)
    RETURNING 1
)
SELECT cur.version AS current_version, summary.n, summary.first_version,
       summary.last_version, summary.last_position,
       dup.first_version AS dup_first, dup.last_version AS dup_last,
       (SELECT count(*) FROM cmd) AS commands, (SELECT count(*) FROM notified) AS notified
FROM cur CROSS JOIN summary LEFT JOIN dup ON true"#,
        per_tx = 1i64 << POSITION_SHIFT,
        event_tags_11 = event_tags("$11", "$12"),
    )
}

/// An event's tags for its row (`events.tags`, sorted as a read by query
/// returns them; NULL without tags), from the tag rows the statement binds
/// (`tags`: each tag, `ords`: its event's ordinal in the batch).
fn event_tags(tags: &str, ords: &str) -> String {
    format!(
        "(SELECT array_agg(t.tag ORDER BY t.tag) FROM unnest({tags}::text[], {ords}::int8[]) \
         AS t(tag, ord) WHERE t.ord = e.ord)"
    )
}

/// The call of `dcb_lock_and_check_items` (migration
/// `20250101000007_lean_reads_and_checks.sql`) from parameter `$first` on (ten
/// parameters, bound by `DcbAppend::bind_call`).
pub(super) fn lock_and_check(s: &str, first: usize) -> String {
    let p = |i: usize| format!("${}", first + i);
    format!(
        "{s}.dcb_lock_and_check_items({}::text[], {}::bool[], {}::int8, {}::text[], {}::text[], \
         {}::int4[], {}::text[], {}::int4[], {}::text, {}::text[])",
        p(0),
        p(1),
        p(2),
        p(3),
        p(4),
        p(5),
        p(6),
        p(7),
        p(8),
        p(9)
    )
}

/// The append of a tagged batch with no command id, outside an inline
/// projection's transaction: `plain`, with the call of
/// `dcb_lock_and_check_items` (`$9`-`$18`: the locks, then the condition's
/// check, see `crate::dcb`) in its version check and the tags (`$19`-`$21`)
/// inserted beside the events and on their rows.
/// One statement in a transaction of its own, so one round trip. The
/// transaction id (and with it the positions) is taken from `ok`'s row,
/// after whatever the locks waited for. No rows: the condition did not hold
/// (or the stream was not at the expected version).
pub(super) fn tagged_statement(s: &str) -> String {
    format!(
        r#"
WITH ok AS MATERIALIZED (
    SELECT cur.version, pg_current_xact_id() AS tx_id
    FROM (SELECT COALESCE(max(stream_version), 0) AS version
          FROM {s}.events WHERE stream_id = $1) AS cur
    WHERE ($3::bigint IS NULL OR cur.version = $3::bigint)
      AND {call}
), ins AS (
    INSERT INTO {s}.events (global_position, event_id, stream_id, stream_version,
        aggregate_type, event_type, schema_version, payload, metadata, tx_id, tags)
    SELECT (ok.tx_id::text::bigint << {POSITION_SHIFT}) + e.ord, e.event_id, $1,
           ok.version + e.ord, $2, e.event_type, e.schema_version, e.payload::jsonb,
           COALESCE(e.metadata::jsonb, '{{}}'::jsonb), ok.tx_id, {event_tags_19}
    FROM ok, unnest($4::uuid[], $5::text[], $6::int4[], $7::text[], $8::text[])
        WITH ORDINALITY AS e(event_id, event_type, schema_version, payload, metadata, ord)
    RETURNING global_position, stream_version
), tags AS (
    INSERT INTO {s}.event_tags (tag, global_position, event_type)
    SELECT t.tag, (ok.tx_id::text::bigint << {POSITION_SHIFT}) + t.ord, t.event_type
    FROM ok, unnest($19::text[], $20::int8[], $21::text[]) AS t(tag, ord, event_type)
    RETURNING 1
)
SELECT global_position, stream_version FROM ins"#,
        call = lock_and_check(s, 9),
        event_tags_19 = event_tags("$19", "$20"),
    )
}
