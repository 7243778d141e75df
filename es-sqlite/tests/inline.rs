//! Inline projections on SQLite (`SqliteEventStore::with_inline`): the read
//! model is written in the append's own transaction, so it is current when
//! `append` returns (no runner); a failing handler or flush fails the append
//! and stores nothing, neither events nor model; only the projection's types
//! reach it; appends through the `Repository` run it too; `migrate` runs
//! its setup. The PostgreSQL counterparts are `an_inline_projection_is_never_behind_and_fails_the_append`
//! (es-postgres/tests/projections.rs), `an_inline_buffering_projection_is_flushed_in_the_append`
//! (batched_projection.rs) and `a_derived_projection_runs_under_the_runner_and_inline`
//! (derived_projection.rs).

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::error::Error as _;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use common::TempDb;
use es_core::projection::{Dispatch, HandlerError, Projection, ProjectionError};
use es_core::{
    Aggregate, Apply, Event, EventStore, ExpectedVersion, Handle, Metadata, NewEvent, On, Recorded,
    RecordedEvent, Repository, StoreError, StreamEnd, Uuid,
};
use es_sqlite::{ProjectionRunner, SqliteEventStore, SqliteProjection};
use serde::{Deserialize, Serialize};
use serde_json::json;
use sqlx::{SqliteConnection, SqlitePool};

fn ev(event_type: &str, payload: serde_json::Value) -> NewEvent {
    NewEvent::from_raw(
        event_type,
        1,
        payload.to_string().into_bytes(),
        Metadata::new(),
    )
}

// ------------------------------------------------------------------ balances

/// Balances per stream, and a journal of applied positions whose primary key
/// fails an event applied twice. Fails on a `"poison": true` payload (after
/// writing, so a rollback is needed to undo it).
#[derive(Clone, Default)]
struct Balances {
    /// The types its handler saw, across every clone.
    seen: Arc<Mutex<BTreeSet<String>>>,
    /// How many times `setup` ran.
    setups: Arc<AtomicU64>,
}

impl Projection for Balances {
    const NAME: &'static str = "balances";
    const EVENT_TYPES: &'static [&'static str] = &["Deposited", "Withdrawn"];
}

impl Dispatch<SqliteConnection> for Balances {
    async fn dispatch(
        &mut self,
        e: &RecordedEvent,
        conn: &mut SqliteConnection,
    ) -> Result<(), ProjectionError> {
        let fail = |err: HandlerError| ProjectionError::handler::<Self>(e, err);
        self.seen.lock().unwrap().insert(e.event_type.clone());
        let v: serde_json::Value = serde_json::from_slice(&e.payload).unwrap();
        let amount = v["amount"].as_i64().unwrap_or(0);
        let delta = if e.event_type == "Withdrawn" {
            -amount
        } else {
            amount
        };
        sqlx::query(
            "INSERT INTO balances (account, balance, events) VALUES (?, ?, 1) \
             ON CONFLICT (account) DO UPDATE SET balance = balance + excluded.balance, \
               events = events + 1",
        )
        .bind(&e.stream_id)
        .bind(delta)
        .execute(&mut *conn)
        .await
        .map_err(|x| fail(x.into()))?;
        sqlx::query("INSERT INTO applied (position) VALUES (?)")
            .bind(e.global_position as i64)
            .execute(&mut *conn)
            .await
            .map_err(|x| fail(x.into()))?;
        if v["poison"] == json!(true) {
            return Err(fail("poisoned event".into()));
        }
        Ok(())
    }
}

impl SqliteProjection for Balances {
    async fn setup(&mut self, conn: &mut SqliteConnection) -> Result<(), HandlerError> {
        self.setups.fetch_add(1, Ordering::SeqCst);
        sqlx::query(
            "CREATE TABLE IF NOT EXISTS balances \
             (account TEXT PRIMARY KEY, balance INTEGER NOT NULL, events INTEGER NOT NULL)",
        )
        .execute(&mut *conn)
        .await?;
        sqlx::query("CREATE TABLE IF NOT EXISTS applied (position INTEGER PRIMARY KEY)")
            .execute(&mut *conn)
            .await?;
        Ok(())
    }

    async fn reset(&mut self, conn: &mut SqliteConnection) -> Result<(), HandlerError> {
        sqlx::query("DELETE FROM balances")
            .execute(&mut *conn)
            .await?;
        sqlx::query("DELETE FROM applied").execute(conn).await?;
        Ok(())
    }
}

/// The balances (account, balance, events) and the applied positions.
type Model = (Vec<(String, i64, i64)>, Vec<i64>);

async fn model(pool: &SqlitePool) -> Model {
    let rows = sqlx::query_as("SELECT account, balance, events FROM balances ORDER BY account")
        .fetch_all(pool)
        .await
        .unwrap();
    let applied = sqlx::query_scalar("SELECT position FROM applied ORDER BY position")
        .fetch_all(pool)
        .await
        .unwrap();
    (rows, applied)
}

/// The positions of a stream's events of the given types.
async fn positions(store: &SqliteEventStore, stream: &str, types: &[&str]) -> Vec<i64> {
    store
        .read_stream(stream, 1, StreamEnd::Head, 1000)
        .await
        .unwrap()
        .iter()
        .filter(|e| types.contains(&e.event_type.as_str()))
        .map(|e| e.global_position as i64)
        .collect()
}

async fn table_exists(pool: &SqlitePool, name: &str) -> bool {
    let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM sqlite_master WHERE name = ?")
        .bind(name)
        .fetch_one(pool)
        .await
        .unwrap();
    n == 1
}

#[tokio::test]
async fn an_inline_projection_is_never_behind_and_fails_the_append() {
    let plain = SqliteEventStore::in_memory().await.unwrap();
    let projection = Balances::default();
    let seen = projection.seen.clone();
    let store = plain.clone().with_inline(projection);
    assert_eq!(store.inline_projections(), ["balances"]);
    assert!(plain.inline_projections().is_empty());
    store.migrate().await.unwrap(); // creates the tables through setup

    let r = store
        .append(
            "Account-1",
            ExpectedVersion::NoStream,
            vec![
                ev("Deposited", json!({"amount": 10})),
                ev("Renamed", json!({})),
                ev("Withdrawn", json!({"amount": 3})),
            ],
        )
        .await
        .unwrap();
    // Current as soon as `append` returns, with the events' positions.
    let applied = positions(&store, "Account-1", Balances::EVENT_TYPES).await;
    assert_eq!(applied.len(), 2);
    assert_eq!(applied.last().copied(), r.last_position.map(|p| p as i64));
    assert_eq!(
        model(store.pool()).await,
        (vec![("Account-1".to_owned(), 7, 2)], applied.clone())
    );
    // Only its own types reached it.
    assert_eq!(
        *seen.lock().unwrap(),
        BTreeSet::from(["Deposited".to_owned(), "Withdrawn".to_owned()])
    );

    // An append of no type it reads.
    store
        .append(
            "Account-2",
            ExpectedVersion::NoStream,
            vec![ev("Renamed", json!({}))],
        )
        .await
        .unwrap();
    assert_eq!(model(store.pool()).await.1, applied);
    assert!(!seen.lock().unwrap().contains("Renamed"));

    // A failing handler fails the append: no event, no model change (the
    // first event's rows were written before the second failed).
    let head = store.head_position().await.unwrap();
    let err = store
        .append(
            "Account-1",
            ExpectedVersion::Exact(3),
            vec![
                ev("Deposited", json!({"amount": 5})),
                ev("Deposited", json!({"amount": 1, "poison": true})),
            ],
        )
        .await
        .unwrap_err();
    let text = err.to_string();
    assert!(
        text.contains("appending to stream `Account-1`")
            && text.contains("inline projection `balances` failed; nothing was stored"),
        "{text}"
    );
    assert!(matches!(err, StoreError::Backend { .. }), "{err:?}");
    let source = err
        .source()
        .and_then(|s| s.downcast_ref::<ProjectionError>());
    assert!(
        matches!(
            source,
            Some(ProjectionError::Handler {
                projection: "balances",
                version: 5,
                ..
            })
        ),
        "{source:?}"
    );
    assert_eq!(store.stream_version("Account-1").await.unwrap(), 3);
    assert_eq!(store.head_position().await.unwrap(), head);
    assert_eq!(
        model(store.pool()).await,
        (vec![("Account-1".to_owned(), 7, 2)], applied.clone())
    );

    // Conflicts still report as conflicts, and run nothing.
    let conflict = store
        .append(
            "Account-1",
            ExpectedVersion::Exact(1),
            vec![ev("Deposited", json!({"amount": 5}))],
        )
        .await
        .unwrap_err();
    assert!(conflict.is_conflict(), "{conflict:?}");
    assert_eq!(model(store.pool()).await.1, applied);

    // A repeated command id stores nothing and runs nothing.
    let id = Uuid::now_v7();
    let with_id = || {
        vec![NewEvent::from_raw(
            "Deposited",
            1,
            br#"{"amount": 100}"#.to_vec(),
            Metadata::new().command_id(id),
        )]
    };
    store
        .append("Account-1", ExpectedVersion::Exact(3), with_id())
        .await
        .unwrap();
    let again = store
        .append("Account-1", ExpectedVersion::Any, with_id())
        .await
        .unwrap();
    assert!(again.duplicate);
    let (rows, applied) = model(store.pool()).await;
    assert_eq!(rows, vec![("Account-1".to_owned(), 107, 3)]);
    assert_eq!(
        applied,
        positions(&store, "Account-1", Balances::EVENT_TYPES).await
    );

    // A store without it (a clone made before `with_inline`) does not run it.
    plain
        .append(
            "Account-1",
            ExpectedVersion::Exact(4),
            vec![ev("Deposited", json!({"amount": 5}))],
        )
        .await
        .unwrap();
    assert_eq!(model(store.pool()).await.0[0].2, 3);
}

/// Two inline projections run in the order they were added, in one
/// transaction: when the second fails, the first's writes go too.
#[tokio::test]
async fn a_later_inline_projection_failing_undoes_the_earlier_ones() {
    let store = SqliteEventStore::in_memory()
        .await
        .unwrap()
        .with_inline(Balances::default())
        .with_inline(Refuser);
    assert_eq!(store.inline_projections(), ["balances", "refuser"]);
    store.migrate().await.unwrap();
    store
        .append(
            "Account-1",
            ExpectedVersion::NoStream,
            vec![ev("Deposited", json!({"amount": 10}))],
        )
        .await
        .unwrap();
    let before = model(store.pool()).await;
    assert_eq!(before.0, vec![("Account-1".to_owned(), 10, 1)]);

    let err = store
        .append(
            "Account-1",
            ExpectedVersion::Exact(1),
            vec![ev("Deposited", json!({"amount": 5, "refuse": true}))],
        )
        .await
        .unwrap_err();
    assert!(
        err.to_string()
            .contains("inline projection `refuser` failed; nothing was stored"),
        "{err}"
    );
    assert_eq!(store.stream_version("Account-1").await.unwrap(), 1);
    assert_eq!(model(store.pool()).await, before);
}

/// Keeps no model; refuses a `"refuse": true` payload.
#[derive(Clone)]
struct Refuser;

impl Projection for Refuser {
    const NAME: &'static str = "refuser";
    const EVENT_TYPES: &'static [&'static str] = &["Deposited"];
}

impl Dispatch<SqliteConnection> for Refuser {
    async fn dispatch(
        &mut self,
        e: &RecordedEvent,
        _: &mut SqliteConnection,
    ) -> Result<(), ProjectionError> {
        let v: serde_json::Value = serde_json::from_slice(&e.payload).unwrap();
        if v["refuse"] == json!(true) {
            return Err(ProjectionError::handler::<Self>(e, "refused".into()));
        }
        Ok(())
    }
}

impl SqliteProjection for Refuser {}

// ------------------------------------------------------------------- buffers

#[derive(Default)]
struct Control {
    /// Fail this many flushes from now.
    fail_flushes: AtomicU64,
    flushes: AtomicU64,
    discards: AtomicU64,
}

/// Counts `Ticked` events per stream by buffering in `self` and writing the
/// buffer in `flush`.
#[derive(Clone, Default)]
struct Counts {
    pending: BTreeMap<String, i64>,
    control: Arc<Control>,
}

impl Projection for Counts {
    const NAME: &'static str = "counts";
    const EVENT_TYPES: &'static [&'static str] = &["Ticked"];
}

impl Dispatch<SqliteConnection> for Counts {
    async fn dispatch(
        &mut self,
        e: &RecordedEvent,
        _: &mut SqliteConnection,
    ) -> Result<(), ProjectionError> {
        *self.pending.entry(e.stream_id.clone()).or_default() += 1;
        Ok(())
    }
}

impl SqliteProjection for Counts {
    async fn setup(&mut self, conn: &mut SqliteConnection) -> Result<(), HandlerError> {
        sqlx::query(
            "CREATE TABLE IF NOT EXISTS counts (stream TEXT PRIMARY KEY, n INTEGER NOT NULL)",
        )
        .execute(conn)
        .await?;
        Ok(())
    }

    async fn flush(&mut self, conn: &mut SqliteConnection) -> Result<(), HandlerError> {
        let c = &self.control;
        c.flushes.fetch_add(1, Ordering::SeqCst);
        for (stream, n) in std::mem::take(&mut self.pending) {
            sqlx::query(
                "INSERT INTO counts (stream, n) VALUES (?, ?) \
                 ON CONFLICT (stream) DO UPDATE SET n = n + excluded.n",
            )
            .bind(stream)
            .bind(n)
            .execute(&mut *conn)
            .await?;
        }
        // Fails after writing: only the rollback undoes it.
        if c.fail_flushes
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
            .is_ok()
        {
            return Err("injected flush failure".into());
        }
        Ok(())
    }

    fn discard(&mut self) {
        self.control.discards.fetch_add(1, Ordering::SeqCst);
        self.pending.clear();
    }
}

async fn counts(pool: &SqlitePool) -> Vec<(String, i64)> {
    sqlx::query_as("SELECT stream, n FROM counts ORDER BY stream")
        .fetch_all(pool)
        .await
        .unwrap()
}

#[tokio::test]
async fn an_inline_buffering_projection_is_flushed_in_the_append() {
    let inline = Counts::default();
    let control = inline.control.clone();
    let store = SqliteEventStore::in_memory()
        .await
        .unwrap()
        .with_inline(inline);
    store.migrate().await.unwrap();
    store
        .append(
            "S-1",
            ExpectedVersion::NoStream,
            vec![
                ev("Ticked", json!({})),
                ev("Tocked", json!({})),
                ev("Ticked", json!({})),
            ],
        )
        .await
        .unwrap();
    store
        .append(
            "S-2",
            ExpectedVersion::NoStream,
            vec![ev("Ticked", json!({}))],
        )
        .await
        .unwrap();
    // One flush per append, written before `append` returned.
    assert_eq!(control.flushes.load(Ordering::SeqCst), 2);
    assert_eq!(
        counts(store.pool()).await,
        [("S-1".to_owned(), 2), ("S-2".to_owned(), 1)]
    );
    // An append of no type it reads does not run it, not even its flush.
    store
        .append(
            "S-3",
            ExpectedVersion::NoStream,
            vec![ev("Tocked", json!({}))],
        )
        .await
        .unwrap();
    assert_eq!(control.flushes.load(Ordering::SeqCst), 2);

    // A failing flush fails the append: nothing stored, nothing counted,
    // and the clone's buffer is discarded.
    let head = store.head_position().await.unwrap();
    control.fail_flushes.store(1, Ordering::SeqCst);
    let err = store
        .append(
            "S-1",
            ExpectedVersion::Exact(3),
            vec![ev("Ticked", json!({}))],
        )
        .await
        .unwrap_err();
    assert!(
        err.to_string()
            .contains("inline projection `counts` failed; nothing was stored"),
        "{err}"
    );
    assert!(
        format!("{err:?}").contains("injected flush failure"),
        "{err:?}"
    );
    let source = err
        .source()
        .and_then(|s| s.downcast_ref::<ProjectionError>());
    assert!(
        matches!(
            source,
            Some(ProjectionError::Store {
                projection: "counts",
                ..
            })
        ),
        "{source:?}"
    );
    assert_eq!(control.discards.load(Ordering::SeqCst), 1);
    assert_eq!(store.head_position().await.unwrap(), head);
    assert_eq!(store.stream_version("S-1").await.unwrap(), 3);
    assert_eq!(
        counts(store.pool()).await,
        [("S-1".to_owned(), 2), ("S-2".to_owned(), 1)]
    );

    // The next append goes through.
    store
        .append(
            "S-1",
            ExpectedVersion::Exact(3),
            vec![ev("Ticked", json!({}))],
        )
        .await
        .unwrap();
    assert_eq!(counts(store.pool()).await[0], ("S-1".to_owned(), 3));
}

// ------------------------------------------------------------------- setup

#[tokio::test]
async fn migrate_runs_the_inline_projections_setup() {
    let db = TempDb::new("inline-setup");
    let store = SqliteEventStore::open(db.path()).await.unwrap();
    let projection = Balances::default();
    let setups = projection.setups.clone();
    let store = store.with_inline(projection);
    // Adding it runs nothing yet.
    assert_eq!(setups.load(Ordering::SeqCst), 0);
    assert!(!table_exists(store.pool(), "balances").await);
    store.migrate().await.unwrap();
    assert_eq!(setups.load(Ordering::SeqCst), 1);
    assert!(table_exists(store.pool(), "balances").await);
    assert!(table_exists(store.pool(), "applied").await);
    // Idempotent, like the migrations.
    store.migrate().await.unwrap();
    assert_eq!(setups.load(Ordering::SeqCst), 2);

    // A failing setup fails `migrate`, naming the projection.
    let failing = store.clone().with_inline(FailingSetup);
    let err = failing.migrate().await.unwrap_err();
    assert!(
        err.to_string()
            .contains("setting up inline projection `failing_setup`"),
        "{err}"
    );
}

#[derive(Clone)]
struct FailingSetup;

impl Projection for FailingSetup {
    const NAME: &'static str = "failing_setup";
    const EVENT_TYPES: &'static [&'static str] = &["Deposited"];
}

impl Dispatch<SqliteConnection> for FailingSetup {
    async fn dispatch(
        &mut self,
        _: &RecordedEvent,
        _: &mut SqliteConnection,
    ) -> Result<(), ProjectionError> {
        Ok(())
    }
}

impl SqliteProjection for FailingSetup {
    async fn setup(&mut self, _: &mut SqliteConnection) -> Result<(), HandlerError> {
        Err("no room for tables".into())
    }
}

// -------------------------------------------- derived, through a repository

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Event)]
struct Deposited {
    amount: i64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Event)]
struct Withdrawn {
    amount: i64,
}

#[derive(Debug, Clone, PartialEq, Event)]
enum AccountEvent {
    Deposited(Deposited),
    Withdrawn(Withdrawn),
}

#[derive(Debug, Default, Clone, Serialize, Deserialize, Aggregate)]
#[aggregate(name = "Account", event = AccountEvent, snapshot_version = 1)]
struct Account {
    balance: i64,
}

impl Apply<Deposited> for Account {
    fn apply(&mut self, e: &Deposited) {
        self.balance += e.amount;
    }
}

impl Apply<Withdrawn> for Account {
    fn apply(&mut self, e: &Withdrawn) {
        self.balance -= e.amount;
    }
}

#[derive(Debug)]
struct Overdrawn;

impl std::fmt::Display for Overdrawn {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("overdrawn")
    }
}

impl std::error::Error for Overdrawn {}

#[derive(Clone)]
struct Deposit(i64);
#[derive(Clone)]
struct Withdraw(i64);

impl Handle<Deposit> for Account {
    type Error = Overdrawn;
    fn handle(&self, c: Deposit) -> Result<Vec<AccountEvent>, Overdrawn> {
        Ok(vec![Deposited { amount: c.0 }.into()])
    }
}

impl Handle<Withdraw> for Account {
    type Error = Overdrawn;
    fn handle(&self, c: Withdraw) -> Result<Vec<AccountEvent>, Overdrawn> {
        if c.0 > self.balance {
            return Err(Overdrawn);
        }
        Ok(vec![Withdrawn { amount: c.0 }.into()])
    }
}

/// The same read model as `Balances`, derived from `On` handlers; refuses
/// a withdrawal of 13.
#[derive(Clone, Default, es_core::Projection)]
#[projection(name = "account_totals", events(Deposited, Withdrawn))]
struct Totals;

impl On<Deposited, SqliteConnection> for Totals {
    async fn on(
        &mut self,
        e: Recorded<Deposited>,
        tx: &mut SqliteConnection,
    ) -> Result<(), HandlerError> {
        sqlx::query(
            "INSERT INTO account_totals (account, balance, position) VALUES (?, ?, ?) \
             ON CONFLICT (account) DO UPDATE SET balance = balance + excluded.balance, \
               position = excluded.position",
        )
        .bind(&e.stream_id)
        .bind(e.event.amount)
        .bind(e.global_position as i64)
        .execute(tx)
        .await?;
        Ok(())
    }
}

impl On<Withdrawn, SqliteConnection> for Totals {
    async fn on(
        &mut self,
        e: Recorded<Withdrawn>,
        tx: &mut SqliteConnection,
    ) -> Result<(), HandlerError> {
        sqlx::query(
            "UPDATE account_totals SET balance = balance - ?, position = ? WHERE account = ?",
        )
        .bind(e.event.amount)
        .bind(e.global_position as i64)
        .bind(&e.stream_id)
        .execute(&mut *tx)
        .await?;
        if e.event.amount == 13 {
            return Err("unlucky withdrawal".into());
        }
        Ok(())
    }
}

impl SqliteProjection for Totals {
    async fn setup(&mut self, tx: &mut SqliteConnection) -> Result<(), HandlerError> {
        sqlx::query(
            "CREATE TABLE IF NOT EXISTS account_totals \
             (account TEXT PRIMARY KEY, balance INTEGER NOT NULL, position INTEGER NOT NULL)",
        )
        .execute(tx)
        .await?;
        Ok(())
    }

    async fn reset(&mut self, tx: &mut SqliteConnection) -> Result<(), HandlerError> {
        sqlx::query("DELETE FROM account_totals")
            .execute(tx)
            .await?;
        Ok(())
    }
}

async fn totals(pool: &SqlitePool) -> Vec<(String, i64, i64)> {
    sqlx::query_as("SELECT account, balance, position FROM account_totals ORDER BY account")
        .fetch_all(pool)
        .await
        .unwrap()
}

#[tokio::test]
async fn repository_appends_run_a_derived_inline_projection() {
    let store = SqliteEventStore::in_memory()
        .await
        .unwrap()
        .with_inline(Totals);
    store.migrate().await.unwrap();
    let accounts = Repository::<Account, _>::new(store.clone()).snapshot_every(2);
    accounts.execute("1", Deposit(100)).await.unwrap();
    let done = accounts.execute("1", Withdraw(30)).await.unwrap();
    assert_eq!(done.state.balance, 70);
    let at = store.head_position().await.unwrap() as i64;
    assert_eq!(
        totals(store.pool()).await,
        [("Account-1".to_owned(), 70, at)]
    );

    // A handler that fails under a command fails the command; the stream
    // and the model stay as they were.
    let err = accounts.execute("1", Withdraw(13)).await.unwrap_err();
    assert!(
        es_core::ErrorChain(&err)
            .to_string()
            .contains("inline projection `account_totals` failed; nothing was stored"),
        "{}",
        es_core::ErrorChain(&err)
    );
    assert_eq!(store.stream_version("Account-1").await.unwrap(), 2);
    assert_eq!(
        totals(store.pool()).await,
        [("Account-1".to_owned(), 70, at)]
    );
    let loaded = accounts.load("1").await.unwrap().unwrap();
    assert_eq!((loaded.state.balance, loaded.version), (70, 2));

    // The runner builds the same model from the log (its own checkpoint).
    sqlx::query("DELETE FROM account_totals")
        .execute(store.pool())
        .await
        .unwrap();
    let mut runner = ProjectionRunner::new(store.clone(), Totals);
    assert_eq!(runner.catch_up().await.unwrap(), 2);
    runner.release().await;
    assert_eq!(
        totals(store.pool()).await,
        [("Account-1".to_owned(), 70, at)]
    );
}
