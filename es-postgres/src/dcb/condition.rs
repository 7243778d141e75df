//! What an append under a condition does besides the append itself
//! ([`DcbAppend`]: the locks, the check, the tags, bound to the append
//! statement's call of `dcb_lock_and_check_items`, migration
//! `20250101000007_lean_reads_and_checks.sql`) and a query as SQL
//! ([`matching`]); used by the append (`crate::append`) and the reads
//! (`super`).

use es_core::StoreError;
use es_core::dcb::{AppendCondition, Query, TaggedEvent};

use crate::inline::PgTx;
use crate::row::{to_i64, to_u64};
use crate::schema::quote_ident;

/// A statement with its parameters bound so far.
type PgQuery<'q> = sqlx::query::Query<'q, sqlx::Postgres, sqlx::postgres::PgArguments>;

fn backend(context: impl Into<String>, e: sqlx::Error) -> StoreError {
    StoreError::backend(context, e)
}

/// How [`matching`] refers to the texts it binds.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Texts {
    /// One parameter each, from `$2` on (`tag IN ($2, $3)`): a generic
    /// plan of a prepared statement then estimates a tag's rows from its
    /// statistics and reads the tag's index, where an array parameter (`tag
    /// = ANY($2)`) was estimated so that a range scan of the position index
    /// won, reading every tag row in the range (5.6 ms against 0.4 ms for
    /// 30,000 rows).
    Params,
    /// Elements of the array `$2` (`event_type IN ($2[1], $2[2])`), for the
    /// check of items without tags that `dcb_lock_and_check_items` runs
    /// with `EXECUTE … USING`: planned with the values, so each type's
    /// statistics count as with `Params`.
    Array,
}

/// A query's matching positions after `$1` as SQL, with the texts it binds
/// (see [`Texts`]). `bound`: an extra condition on `global_position` (the
/// read's settled bound), or none.
pub(crate) fn matching(
    s: &str,
    query: &Query,
    bound: Option<&str>,
    texts: Texts,
) -> (String, Vec<String>) {
    let mut binds: Vec<String> = Vec::new();
    let mut list = |values: &mut dyn Iterator<Item = String>| {
        let mut params = Vec::new();
        for v in values {
            binds.push(v);
            params.push(match texts {
                Texts::Params => format!("${}", 1 + binds.len()),
                Texts::Array => format!("$2[{}]", binds.len()),
            });
        }
        params.join(", ")
    };
    let below = bound.map_or(String::new(), |b| format!(" AND global_position < {b}"));
    let mut parts = Vec::new();
    for item in query.item_list() {
        let types = item.event_types();
        let tags = item.tag_list();
        let type_filter = if types.is_empty() {
            String::new()
        } else {
            format!(" AND event_type IN ({})", list(&mut types.iter().cloned()))
        };
        if tags.is_empty() {
            parts.push(format!(
                "SELECT global_position FROM {s}.events WHERE global_position > $1{below}{type_filter}"
            ));
        } else {
            let count = tags.len();
            let params = list(&mut tags.iter().map(|t| t.as_str().to_owned()));
            // An event has a tag once (the primary key): with one tag, each
            // matching row is an event of its own, in the tag's index order.
            let all_tags = if count == 1 {
                String::new()
            } else {
                format!(" GROUP BY global_position HAVING count(*) = {count}")
            };
            parts.push(format!(
                "SELECT global_position FROM {s}.event_tags \
                 WHERE tag IN ({params}) AND global_position > $1{below}{type_filter}{all_tags}"
            ));
        }
    }
    if parts.is_empty() {
        parts.push("SELECT NULL::bigint WHERE false".to_owned());
    }
    (parts.join(" UNION "), binds)
}

/// What an append under a condition does besides the append itself.
pub(crate) struct DcbAppend {
    schema: String,
    /// The lock keys (`{schema}/{key}`) and whether each is exclusive.
    lock_names: Vec<String>,
    exclusive: Vec<bool>,
    condition: Option<AppendCondition>,
    /// The condition's items with tags, as `dcb_lock_and_check_items`
    /// takes them (see [`TaggedItems`]).
    tagged: TaggedItems,
    /// The check of the condition's items without tags (`SELECT EXISTS
    /// (…)` over `$1` and `$2[i]`) and its texts: `None` when it has none.
    untagged_check: Option<(String, Vec<String>)>,
    /// The tag rows (see [`DcbAppend::tag_rows`]).
    tag_names: Vec<String>,
    tag_ords: Vec<i64>,
    tag_types: Vec<String>,
}

/// A condition's items with tags, flattened into arrays for the static
/// check of `dcb_lock_and_check_items` (migration
/// `20250101000007_lean_reads_and_checks.sql`): per item its first tag; its
/// other tags and its types, each with the item's index (from 1).
#[derive(Default)]
struct TaggedItems {
    first_tags: Vec<String>,
    more_tags: Vec<String>,
    more_items: Vec<i32>,
    types: Vec<String>,
    type_items: Vec<i32>,
}

impl TaggedItems {
    fn of(query: &Query) -> Self {
        let mut items = Self::default();
        for item in query.item_list() {
            let Some((first, more)) = item.tag_list().split_first() else {
                continue;
            };
            items.first_tags.push(first.as_str().to_owned());
            let index = i32::try_from(items.first_tags.len()).unwrap_or(i32::MAX);
            for t in more {
                items.more_tags.push(t.as_str().to_owned());
                items.more_items.push(index);
            }
            for t in item.event_types() {
                items.types.push(t.clone());
                items.type_items.push(index);
            }
        }
        items
    }
}

impl DcbAppend {
    pub(crate) fn new(
        schema: &str,
        events: &[TaggedEvent],
        condition: Option<&AppendCondition>,
    ) -> Self {
        // Only tags are locked: the keys of items without tags (their types,
        // `*`) and the shared keys every event took for them (its type,
        // `*`) met only writers that lock the whole log first (see
        // [`DcbAppend::locks_the_log`]), which waits for every append in
        // flight anyway. Each key named as `Query::lock_keys` names it.
        let tag_key = |k: &String| k.starts_with("t:");
        let mut keys: Vec<(String, bool)> = condition
            .map(|c| c.fail_if_events_match.lock_keys())
            .unwrap_or_default()
            .into_iter()
            .filter(tag_key)
            .map(|k| (k, true))
            .collect();
        for e in events {
            for k in Query::event_keys(&e.event.event_type, &e.tags) {
                if tag_key(&k) && !keys.iter().any(|(have, _)| *have == k) {
                    keys.push((k, false));
                }
            }
        }
        let (lock_names, exclusive) = keys
            .into_iter()
            .map(|(k, x)| (format!("{schema}/{k}"), x))
            .unzip();
        let s = quote_ident(schema);
        let tagged = condition.map_or_else(TaggedItems::default, |c| {
            TaggedItems::of(&c.fail_if_events_match)
        });
        // The items without tags, checked by SQL planned with its values.
        let untagged = condition.map(|c| {
            Query::items(
                c.fail_if_events_match
                    .item_list()
                    .iter()
                    .filter(|item| item.tag_list().is_empty())
                    .cloned(),
            )
        });
        let untagged_check = untagged.filter(|q| !q.is_empty()).map(|q| {
            let (sql, texts) = matching(&s, &q, None, Texts::Array);
            (format!("SELECT EXISTS ({sql})"), texts)
        });
        let (mut tag_names, mut tag_ords, mut tag_types) = (Vec::new(), Vec::new(), Vec::new());
        for (i, e) in events.iter().enumerate() {
            for t in &e.tags {
                tag_names.push(t.as_str().to_owned());
                tag_ords.push(i as i64 + 1);
                tag_types.push(e.event.event_type.clone());
            }
        }
        Self {
            schema: schema.to_owned(),
            lock_names,
            exclusive,
            condition: condition.cloned(),
            tagged,
            untagged_check,
            tag_names,
            tag_ords,
            tag_types,
        }
    }

    /// Whether the append must first lock the events table against every
    /// other writer: its condition has an item without a tag (types only,
    /// or everything), which events of plain appends (aggregates), taking
    /// no advisory locks, can match. `SHARE ROW EXCLUSIVE` waits for every
    /// append in flight to commit and holds off new ones (and other such
    /// appends) until this one commits, so its check counts them all. It
    /// is taken in a statement of its own, before the append statement
    /// (which holds the table's `ROW EXCLUSIVE` lock from its start: taking
    /// the stronger one there could deadlock with another such append).
    pub(crate) fn locks_the_log(&self) -> bool {
        self.untagged_check.is_some()
    }

    /// Takes the log's lock (see [`DcbAppend::locks_the_log`]) in the
    /// append's transaction, before its statement, through the function
    /// `dcb_lock_log` (which has the rights the lock needs).
    pub(crate) async fn lock_the_log(&self, tx: &mut PgTx) -> Result<(), StoreError> {
        let s = quote_ident(&self.schema);
        sqlx::query(&format!("SELECT {s}.dcb_lock_log()"))
            .execute(&mut **tx)
            .await
            .map_err(|e| backend("locking the log for a condition without tags", e))?;
        Ok(())
    }

    /// Binds the arguments of the append statement's call of
    /// `dcb_lock_and_check_items`, ten parameters from the next one `query`
    /// takes: the lock keys, whether each is exclusive, the condition's
    /// position (0 without a condition), its items with tags (five arrays,
    /// see [`TaggedItems`]), and the check of its items without tags (NULL
    /// when it has none) with that check's texts.
    pub(crate) fn bind_call<'q>(&'q self, query: PgQuery<'q>) -> PgQuery<'q> {
        let (check, texts) = match &self.untagged_check {
            Some((sql, texts)) => (Some(sql.as_str()), texts.as_slice()),
            None => (None, &[][..]),
        };
        let after = self.condition.as_ref().map_or(0, |c| to_i64(c.after));
        let t = &self.tagged;
        query
            .bind(&self.lock_names)
            .bind(&self.exclusive)
            .bind(after)
            .bind(&t.first_tags)
            .bind(&t.more_tags)
            .bind(&t.more_items)
            .bind(&t.types)
            .bind(&t.type_items)
            .bind(check)
            .bind(texts)
    }

    /// Whether the append is under a condition.
    pub(crate) fn conditional(&self) -> bool {
        self.condition.is_some()
    }

    /// The error of an append its condition stopped: the first matching
    /// event after the condition's position.
    pub(crate) async fn failure<'c, E>(&self, executor: E) -> StoreError
    where
        E: sqlx::Executor<'c, Database = sqlx::Postgres>,
    {
        let Some(condition) = &self.condition else {
            return StoreError::backend("an append under no condition", "it wrote nothing");
        };
        let s = quote_ident(&self.schema);
        let (sql, binds) = matching(&s, &condition.fail_if_events_match, None, Texts::Params);
        let statement = format!("SELECT min(global_position) FROM ({sql}) AS m(global_position)");
        let mut check =
            sqlx::query_scalar::<_, Option<i64>>(&statement).bind(to_i64(condition.after));
        for b in &binds {
            check = check.bind(b);
        }
        match check.fetch_one(executor).await {
            Ok(found) => StoreError::ConditionFailed {
                after: condition.after,
                position: found.map_or(condition.after, to_u64),
            },
            Err(e) => backend("checking an append condition", e),
        }
    }

    /// The rows of `event_tags` the append writes, as three arrays its
    /// statement binds: each tag, its event's ordinal in the batch (from
    /// 1: the event's position is the transaction's base plus it), and
    /// the event's type.
    pub(crate) fn tag_rows(&self) -> (&[String], &[i64], &[String]) {
        (&self.tag_names, &self.tag_ords, &self.tag_types)
    }
}
