//! The domain the benchmarks run: a small `Counter` aggregate with two small
//! events, a `Tagged` event with a three-step upcast chain, and a projection
//! that upserts one row per stream.
//!
//! The `es-bench` binary (src/main.rs) measures the framework against raw
//! sqlx on PostgreSQL; `benches/micro.rs` holds the criterion benchmarks of
//! the in-memory paths. Both use these types.

use es_core::projection::HandlerError;
use es_core::{Aggregate, Apply, Event, Handle, Projection, Recorded, UpcastError};
use serde::{Deserialize, Serialize};
use sqlx::PgConnection;

/// Money in. Payload: `{"amount":1}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Event)]
pub struct Credited {
    /// How much.
    pub amount: i64,
}

/// Money out. Payload: `{"amount":1}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Event)]
pub struct Debited {
    /// How much.
    pub amount: i64,
}

/// The events of a [`Counter`].
#[derive(Debug, Clone, PartialEq, Event)]
pub enum CounterEvent {
    /// See [`Credited`].
    Credited(Credited),
    /// See [`Debited`].
    Debited(Debited),
}

/// A counter: a balance and how many events made it.
#[derive(Debug, Default, Clone, PartialEq, Serialize, Deserialize, Aggregate)]
#[aggregate(name = "Counter", event = CounterEvent, snapshot_version = 1)]
pub struct Counter {
    /// The sum of credits minus debits.
    pub balance: i64,
    /// How many events were applied.
    pub events: u64,
}

impl Apply<Credited> for Counter {
    fn apply(&mut self, e: &Credited) {
        self.balance += e.amount;
        self.events += 1;
    }
}

impl Apply<Debited> for Counter {
    fn apply(&mut self, e: &Debited) {
        self.balance -= e.amount;
        self.events += 1;
    }
}

/// Adds to a counter.
#[derive(Debug, Clone)]
pub struct Credit {
    /// How much (positive).
    pub amount: i64,
}

/// Why a counter refused a command.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CounterError {
    /// A credit of zero or less.
    #[error("the amount must be positive, not {0}")]
    NotPositive(i64),
}

impl Handle<Credit> for Counter {
    type Error = CounterError;
    fn handle(&self, cmd: Credit) -> Result<Vec<CounterEvent>, CounterError> {
        if cmd.amount <= 0 {
            return Err(CounterError::NotPositive(cmd.amount));
        }
        Ok(vec![CounterEvent::Credited(Credited {
            amount: cmd.amount,
        })])
    }
}

/// An event at schema version 4 whose version-1 payloads go through three
/// JSON upcast steps: v1 `{"n":1}` → v2 adds `label` → v3 renames `n` to
/// `count` → v4 adds `flag`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Event)]
#[event(
    version = 4,
    upcast(from = 1, with = tagged_v1_to_v2),
    upcast(from = 2, with = tagged_v2_to_v3),
    upcast(from = 3, with = tagged_v3_to_v4)
)]
pub struct Tagged {
    /// A number.
    pub count: i64,
    /// A label (`""` for events stored before version 2).
    pub label: String,
    /// A flag (`false` for events stored before version 4).
    pub flag: bool,
}

/// v1 → v2: adds `"label": ""`.
pub fn tagged_v1_to_v2(mut v: serde_json::Value) -> Result<serde_json::Value, UpcastError> {
    let o = v.as_object_mut().ok_or_else(UpcastError::not_an_object)?;
    o.insert("label".to_owned(), serde_json::Value::from(""));
    Ok(v)
}

/// v2 → v3: renames `n` to `count`.
pub fn tagged_v2_to_v3(mut v: serde_json::Value) -> Result<serde_json::Value, UpcastError> {
    let o = v.as_object_mut().ok_or_else(UpcastError::not_an_object)?;
    let n = o
        .remove("n")
        .ok_or_else(|| UpcastError::missing_field("n"))?;
    o.insert("count".to_owned(), n);
    Ok(v)
}

/// v3 → v4: adds `"flag": false`.
pub fn tagged_v3_to_v4(mut v: serde_json::Value) -> Result<serde_json::Value, UpcastError> {
    let o = v.as_object_mut().ok_or_else(UpcastError::not_an_object)?;
    o.insert("flag".to_owned(), serde_json::Value::from(false));
    Ok(v)
}

/// The read model table of [`StreamTotals`] (in the store's database, public schema).
pub const TOTALS_TABLE: &str = "bench_stream_totals";

/// A projection that upserts one row per stream: its event count, balance and
/// last version.
#[derive(Debug, Default, Clone, Projection)]
#[projection(name = "bench_stream_totals", events(Credited, Debited))]
pub struct StreamTotals;

async fn upsert(
    conn: &mut PgConnection,
    stream_id: &str,
    delta: i64,
    version: u64,
) -> Result<(), HandlerError> {
    sqlx::query(
        "INSERT INTO bench_stream_totals (stream_id, events, balance, version) \
         VALUES ($1, 1, $2, $3) \
         ON CONFLICT (stream_id) DO UPDATE SET events = bench_stream_totals.events + 1, \
           balance = bench_stream_totals.balance + EXCLUDED.balance, version = EXCLUDED.version",
    )
    .bind(stream_id)
    .bind(delta)
    .bind(i64::try_from(version).unwrap_or(i64::MAX))
    .execute(conn)
    .await?;
    Ok(())
}

impl es_core::projection::On<Credited, PgConnection> for StreamTotals {
    async fn on(
        &mut self,
        e: Recorded<Credited>,
        conn: &mut PgConnection,
    ) -> Result<(), HandlerError> {
        upsert(conn, &e.stream_id, e.event.amount, e.stream_version).await
    }
}

impl es_core::projection::On<Debited, PgConnection> for StreamTotals {
    async fn on(
        &mut self,
        e: Recorded<Debited>,
        conn: &mut PgConnection,
    ) -> Result<(), HandlerError> {
        upsert(conn, &e.stream_id, -e.event.amount, e.stream_version).await
    }
}

/// The SQL that creates [`TOTALS_TABLE`] (or a table of the same shape under
/// another name).
pub fn totals_table_sql(name: &str) -> String {
    format!(
        "CREATE TABLE IF NOT EXISTS {name} (stream_id text PRIMARY KEY, events bigint NOT NULL, \
         balance bigint NOT NULL, version bigint NOT NULL)"
    )
}

impl es_postgres::PgProjection for StreamTotals {
    async fn setup(&mut self, conn: &mut PgConnection) -> Result<(), HandlerError> {
        sqlx::query(&totals_table_sql(TOTALS_TABLE))
            .execute(conn)
            .await?;
        Ok(())
    }

    async fn reset(&mut self, conn: &mut PgConnection) -> Result<(), HandlerError> {
        sqlx::query("TRUNCATE bench_stream_totals")
            .execute(conn)
            .await?;
        Ok(())
    }
}

/// The read model table of [`BatchedStreamTotals`].
pub const BATCHED_TOTALS_TABLE: &str = "bench_stream_totals_flushed";

/// The same read model as [`StreamTotals`], written set-wise: the handlers
/// add to per-stream sums in `self`, and [`PgProjection::flush`] writes them
/// with one `INSERT … SELECT … FROM UNNEST … ON CONFLICT DO UPDATE` per
/// batch, in the batch's transaction.
///
/// [`PgProjection::flush`]: es_postgres::PgProjection::flush
#[derive(Debug, Default, Clone, Projection)]
#[projection(name = "bench_stream_totals_flushed", events(Credited, Debited))]
pub struct BatchedStreamTotals {
    index: std::collections::HashMap<String, usize>,
    streams: Vec<String>,
    events: Vec<i64>,
    balance: Vec<i64>,
    version: Vec<i64>,
}

impl BatchedStreamTotals {
    fn add(&mut self, stream_id: &str, delta: i64, version: u64) {
        let i = match self.index.get(stream_id) {
            Some(&i) => i,
            None => {
                let i = self.streams.len();
                self.index.insert(stream_id.to_owned(), i);
                self.streams.push(stream_id.to_owned());
                self.events.push(0);
                self.balance.push(0);
                self.version.push(0);
                i
            }
        };
        self.events[i] += 1;
        self.balance[i] += delta;
        self.version[i] = i64::try_from(version).unwrap_or(i64::MAX);
    }
}

impl es_core::projection::On<Credited, PgConnection> for BatchedStreamTotals {
    async fn on(
        &mut self,
        e: Recorded<Credited>,
        _: &mut PgConnection,
    ) -> Result<(), HandlerError> {
        self.add(&e.stream_id, e.event.amount, e.stream_version);
        Ok(())
    }
}

impl es_core::projection::On<Debited, PgConnection> for BatchedStreamTotals {
    async fn on(&mut self, e: Recorded<Debited>, _: &mut PgConnection) -> Result<(), HandlerError> {
        self.add(&e.stream_id, -e.event.amount, e.stream_version);
        Ok(())
    }
}

impl es_postgres::PgProjection for BatchedStreamTotals {
    async fn setup(&mut self, conn: &mut PgConnection) -> Result<(), HandlerError> {
        sqlx::query(&totals_table_sql(BATCHED_TOTALS_TABLE))
            .execute(conn)
            .await?;
        Ok(())
    }

    async fn reset(&mut self, conn: &mut PgConnection) -> Result<(), HandlerError> {
        sqlx::query("TRUNCATE bench_stream_totals_flushed")
            .execute(conn)
            .await?;
        Ok(())
    }

    async fn flush(&mut self, conn: &mut PgConnection) -> Result<(), HandlerError> {
        if !self.streams.is_empty() {
            sqlx::query(
                "INSERT INTO bench_stream_totals_flushed AS t (stream_id, events, balance, version) \
                 SELECT * FROM UNNEST($1::text[], $2::int8[], $3::int8[], $4::int8[]) \
                 ON CONFLICT (stream_id) DO UPDATE SET events = t.events + EXCLUDED.events, \
                   balance = t.balance + EXCLUDED.balance, version = EXCLUDED.version",
            )
            .bind(&self.streams)
            .bind(&self.events)
            .bind(&self.balance)
            .bind(&self.version)
            .execute(conn)
            .await?;
        }
        self.discard();
        Ok(())
    }

    fn discard(&mut self) {
        self.index.clear();
        self.streams.clear();
        self.events.clear();
        self.balance.clear();
        self.version.clear();
    }
}

/// The payload of a `Credited` or `Debited` event as the raw baselines parse it.
#[derive(Debug, Clone, Copy, Deserialize)]
pub struct RawAmount {
    /// How much.
    pub amount: i64,
}

/// The model of [`BatchedStreamTotals`] as a document projection: one
/// document per stream (its events, its balance, its last version), stored
/// and written by the framework, no SQL of its own.
#[derive(Debug, Default, Clone, PartialEq, Serialize, Deserialize, es_core::document::Document)]
#[document(
    name = "bench_stream_totals_documents",
    events(Credited, Debited),
    index(balance)
)]
pub struct StreamTotalsDocument {
    /// Events of the stream.
    pub events: i64,
    /// Credits less debits.
    pub balance: i64,
    /// The stream's last version.
    pub version: i64,
}

impl StreamTotalsDocument {
    fn add(&mut self, delta: i64, version: u64) {
        self.events += 1;
        self.balance += delta;
        self.version = i64::try_from(version).unwrap_or(i64::MAX);
    }
}

impl es_core::document::Evolve<Credited> for StreamTotalsDocument {
    fn evolve(&mut self, e: &Recorded<Credited>, _: &mut es_core::document::DocumentState) {
        self.add(e.event.amount, e.stream_version);
    }
}

impl es_core::document::Evolve<Debited> for StreamTotalsDocument {
    fn evolve(&mut self, e: &Recorded<Debited>, _: &mut es_core::document::DocumentState) {
        self.add(-e.event.amount, e.stream_version);
    }
}
