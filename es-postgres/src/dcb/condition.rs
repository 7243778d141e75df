//! What an append under a condition does besides the append itself
//! ([`DcbAppend`]: the locks, the check, the tags) and a query as SQL
//! ([`matching`]); used by the append (`crate::append`) and the reads
//! (`super`).

use es_core::StoreError;
use es_core::dcb::{AppendCondition, Query, TaggedEvent};

use crate::inline::PgTx;
use crate::row::{to_i64, to_u64};
use crate::schema::quote_ident;

/// Where the append statement takes a condition's check (see
/// [`DcbAppend::statement`]).
pub(crate) const CONDITION_SLOT: &str = "/* condition */";

fn backend(context: impl Into<String>, e: sqlx::Error) -> StoreError {
    StoreError::backend(context, e)
}

/// A query's matching positions after `$1` as SQL, with the texts it binds
/// from `$2` on, one parameter each (`tag IN ($2, $3)`): a generic plan of a
/// prepared statement then estimates a tag's rows from its statistics and
/// reads the tag's index, where an array parameter (`tag = ANY($2)`) was
/// estimated so that a range scan of the position index won, reading every
/// tag row in the range (5.6 ms against 0.4 ms for 30,000 rows). `bound`: an
/// extra condition on `global_position` (the read's settled bound), or none.
/// `after`: the number of the parameter holding the position (`$1` in a
/// statement of its own); the texts follow it.
pub(crate) fn matching(
    s: &str,
    query: &Query,
    bound: Option<&str>,
    after: usize,
) -> (String, Vec<String>) {
    let mut binds: Vec<String> = Vec::new();
    let mut list = |values: &mut dyn Iterator<Item = String>| {
        let mut params = Vec::new();
        for v in values {
            binds.push(v);
            params.push(format!("${}", after + binds.len()));
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
                "SELECT global_position FROM {s}.events WHERE global_position > ${after}{below}{type_filter}"
            ));
        } else {
            let count = tags.len();
            let params = list(&mut tags.iter().map(|t| t.as_str().to_owned()));
            parts.push(format!(
                "SELECT global_position FROM {s}.event_tags \
                 WHERE tag IN ({params}) AND global_position > ${after}{below}{type_filter} \
                 GROUP BY global_position HAVING count(*) = {count}"
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
    /// Lock keys and whether each is exclusive.
    keys: Vec<(String, bool)>,
    condition: Option<AppendCondition>,
    /// The tag rows (see [`DcbAppend::tag_rows`]).
    tag_names: Vec<String>,
    tag_ords: Vec<i64>,
    tag_types: Vec<String>,
}

impl DcbAppend {
    pub(crate) fn new(
        schema: &str,
        events: &[TaggedEvent],
        condition: Option<&AppendCondition>,
    ) -> Self {
        let mut keys: Vec<(String, bool)> = condition
            .map(|c| c.fail_if_events_match.lock_keys())
            .unwrap_or_default()
            .into_iter()
            .map(|k| (k, true))
            .collect();
        for e in events {
            for k in Query::event_keys(&e.event.event_type, &e.tags) {
                if !keys.iter().any(|(have, _)| *have == k) {
                    keys.push((k, false));
                }
            }
        }
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
            keys,
            condition: condition.cloned(),
            tag_names,
            tag_ords,
            tag_types,
        }
    }

    /// Takes the locks, in the append's transaction, before it writes
    /// anything (so its transaction id, and with it its events' positions,
    /// comes after every writer it waited for).
    pub(crate) async fn before(&self, tx: &mut PgTx) -> Result<(), StoreError> {
        let (names, exclusive): (Vec<String>, Vec<bool>) = self
            .keys
            .iter()
            .map(|(k, x)| (format!("{}/{k}", self.schema), *x))
            .unzip();
        sqlx::query(
            "SELECT CASE WHEN x THEN pg_advisory_xact_lock(h) ELSE pg_advisory_xact_lock_shared(h) END \
             FROM (SELECT hashtextextended(k, 0) AS h, bool_or(x) AS x \
                   FROM unnest($1::text[], $2::bool[]) AS u(k, x) GROUP BY 1 ORDER BY 1) AS locks",
        )
        .bind(&names)
        .bind(&exclusive)
        .execute(&mut **tx)
        .await
        .map_err(|e| backend("taking the locks of a tagged append", e))?;
        Ok(())
    }

    /// The append statement for this append: `full` with the condition
    /// checked in it (`None`: no condition, `full` as it is), the
    /// condition's position and the texts it binds after the append's 13
    /// parameters. The check runs in the statement after the locks' (under
    /// READ COMMITTED its snapshot sees every commit a lock waited for);
    /// the statement inserts nothing when an event matching the condition
    /// is after the position.
    pub(crate) fn statement(&self, full: &str) -> Option<(String, u64, Vec<String>)> {
        let condition = self.condition.as_ref()?;
        let s = quote_ident(&self.schema);
        let (sql, binds) = matching(&s, &condition.fail_if_events_match, None, 14);
        let check = format!(" AND NOT EXISTS ({sql})");
        Some((
            full.replacen(CONDITION_SLOT, &check, 1),
            condition.after,
            binds,
        ))
    }

    /// The error of an append its condition stopped: the first matching
    /// event after the condition's position, read in its transaction.
    pub(crate) async fn failure(&self, tx: &mut PgTx) -> StoreError {
        let Some(condition) = &self.condition else {
            return StoreError::backend("an append under no condition", "it wrote nothing");
        };
        let s = quote_ident(&self.schema);
        let (sql, binds) = matching(&s, &condition.fail_if_events_match, None, 1);
        let statement = format!("SELECT min(global_position) FROM ({sql}) AS m(global_position)");
        let mut check =
            sqlx::query_scalar::<_, Option<i64>>(&statement).bind(to_i64(condition.after));
        for b in &binds {
            check = check.bind(b);
        }
        match check.fetch_one(&mut **tx).await {
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
