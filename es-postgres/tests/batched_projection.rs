//! Projections that buffer in their handlers and write once per batch
//! through `PgProjection::flush`; `discard` on every batch that does not
//! commit. Each test has its own database.

mod common;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use common::ev;
use es_core::projection::{Dispatch, HandlerError, Projection, ProjectionError};
use es_core::{EventStore, ExpectedVersion, RecordedEvent};
use es_postgres::{ErrorPolicy, PgEventStore, PgProjection, ProjectionRunner};
use es_testing::postgres::TestDatabase;
use serde_json::json;
use sqlx::{PgConnection, PgPool};

/// Faults and observations shared by the clones of a [`Counts`].
#[derive(Default)]
struct Control {
    /// Fail this many of the next flushes (non-transient error).
    fail_flushes: AtomicU64,
    /// Fail the next flush with a transient (connection) error.
    transient_flush: AtomicBool,
    /// Fail (after buffering) the handler of this position; 0: none.
    fail_position: AtomicU64,
    /// Pause (after buffering) in the handler of this position until
    /// `resume`; 0: none.
    pause_position: AtomicU64,
    paused: AtomicBool,
    resume: tokio::sync::Notify,
    discards: AtomicU64,
    flushes: AtomicU64,
}

/// Events per stream, buffered in `pending` and written by `flush` with one
/// `INSERT … SELECT FROM UNNEST … ON CONFLICT DO UPDATE`. An event whose
/// payload has `"poison": true` fails its handler after buffering; a flush
/// whose buffer holds a stream named `Bad-…` fails.
#[derive(Clone, Default)]
struct Counts {
    pending: BTreeMap<String, i64>,
    control: Arc<Control>,
}

impl Projection for Counts {
    const NAME: &'static str = "counts";
    const EVENT_TYPES: &'static [&'static str] = &["Ticked"];
}

impl Dispatch<PgConnection> for Counts {
    async fn dispatch(
        &mut self,
        e: &RecordedEvent,
        _: &mut PgConnection,
    ) -> Result<(), ProjectionError> {
        *self.pending.entry(e.stream_id.clone()).or_default() += 1;
        let c = &self.control;
        let v: serde_json::Value = serde_json::from_slice(&e.payload).unwrap();
        if v["poison"] == json!(true) {
            return Err(ProjectionError::handler::<Self>(e, "poisoned event".into()));
        }
        if c.fail_position
            .compare_exchange(e.global_position, 0, Ordering::SeqCst, Ordering::SeqCst)
            .is_ok()
        {
            return Err(ProjectionError::handler::<Self>(e, "injected fault".into()));
        }
        if c.pause_position
            .compare_exchange(e.global_position, 0, Ordering::SeqCst, Ordering::SeqCst)
            .is_ok()
        {
            let resumed = c.resume.notified();
            c.paused.store(true, Ordering::SeqCst);
            resumed.await;
        }
        Ok(())
    }
}

impl PgProjection for Counts {
    async fn setup(&mut self, conn: &mut PgConnection) -> Result<(), HandlerError> {
        sqlx::query(
            "CREATE TABLE IF NOT EXISTS counts (stream text PRIMARY KEY, n bigint NOT NULL)",
        )
        .execute(conn)
        .await?;
        Ok(())
    }

    async fn reset(&mut self, conn: &mut PgConnection) -> Result<(), HandlerError> {
        sqlx::query("TRUNCATE counts").execute(conn).await?;
        Ok(())
    }

    async fn flush(&mut self, conn: &mut PgConnection) -> Result<(), HandlerError> {
        let c = &self.control;
        c.flushes.fetch_add(1, Ordering::SeqCst);
        if c.transient_flush.swap(false, Ordering::SeqCst) {
            return Err(sqlx::Error::Io(std::io::Error::other("injected connection loss")).into());
        }
        if c.fail_flushes
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
            .is_ok()
        {
            return Err("injected flush failure".into());
        }
        if self.pending.keys().any(|s| s.starts_with("Bad-")) {
            return Err("a Bad- stream in the flush".into());
        }
        let (streams, ns): (Vec<String>, Vec<i64>) =
            std::mem::take(&mut self.pending).into_iter().unzip();
        sqlx::query(
            "INSERT INTO counts AS t (stream, n) SELECT * FROM UNNEST($1::text[], $2::int8[]) \
             ON CONFLICT (stream) DO UPDATE SET n = t.n + EXCLUDED.n",
        )
        .bind(streams)
        .bind(ns)
        .execute(conn)
        .await?;
        Ok(())
    }

    fn discard(&mut self) {
        self.control.discards.fetch_add(1, Ordering::SeqCst);
        self.pending.clear();
    }
}

type Model = BTreeMap<String, i64>;

async fn model(pool: &PgPool) -> Model {
    sqlx::query_as::<_, (String, i64)>("SELECT stream, n FROM counts")
        .fetch_all(pool)
        .await
        .unwrap()
        .into_iter()
        .collect()
}

/// What the model must be: `Ticked` events per stream, of positions in
/// `(0, upto]`, minus those at `skip`.
async fn expected(store: &PgEventStore, upto: u64, skip: &[u64]) -> Model {
    let mut m = Model::new();
    for e in store
        .read_all(0, 100_000, Some(&["Ticked"]))
        .await
        .unwrap()
        .events
    {
        if e.global_position <= upto && !skip.contains(&e.global_position) {
            *m.entry(e.stream_id).or_default() += 1;
        }
    }
    m
}

async fn store() -> (TestDatabase, PgEventStore) {
    let db = TestDatabase::create().await;
    let store = PgEventStore::builder()
        .poll_interval(Duration::from_millis(20))
        .build(db.pool().clone());
    store.migrate().await.expect("migrate");
    (db, store)
}

/// Appends `n` events in batches of 3 over 5 streams (with `salt` in the
/// names), every 4th of a type the projection does not read.
async fn seed(store: &PgEventStore, n: usize, salt: &str) {
    for (k, chunk) in (0..n).collect::<Vec<_>>().chunks(3).enumerate() {
        let batch = chunk
            .iter()
            .map(|i| {
                if i % 4 == 3 {
                    ev("Other", json!({}))
                } else {
                    ev("Ticked", json!({ "i": i }))
                }
            })
            .collect();
        store
            .append(&format!("S{salt}-{}", k % 5), ExpectedVersion::Any, batch)
            .await
            .unwrap();
    }
}

async fn head(store: &PgEventStore) -> u64 {
    store
        .projection_status(Counts::NAME, Counts::EVENT_TYPES)
        .await
        .unwrap()
        .head
}

async fn wait_for<F, Fut>(what: &str, mut f: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = Instant::now() + Duration::from_secs(20);
    while !f().await {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

fn ticked(events: &[RecordedEvent]) -> Vec<&RecordedEvent> {
    events.iter().filter(|e| e.event_type == "Ticked").collect()
}

// ---------------------------------------------------------------------------

#[tokio::test]
async fn a_buffering_projection_built_live_equals_a_rebuild() {
    let (db, store) = store().await;
    seed(&store, 100, "a").await;
    let mut runner = ProjectionRunner::new(store.clone(), Counts::default()).batch_size(16);
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let task = tokio::spawn(async move {
        let r = runner
            .run(async {
                let _ = stopped.await;
            })
            .await;
        (runner, r)
    });
    tokio::join!(seed(&store, 60, "b"), seed(&store, 60, "c"));
    // The newest event to wait for, from `read_all` (which waits for
    // commits held back by an open transaction, such as the runner's own
    // batch); a status read now could still leave the last batch out.
    let h = store
        .read_all(0, 100_000, Some(Counts::EVENT_TYPES))
        .await
        .unwrap()
        .events
        .last()
        .map(|e| e.global_position)
        .unwrap();
    wait_for("catch-up", || async {
        store
            .load_checkpoint(Counts::NAME)
            .await
            .unwrap()
            .unwrap_or(0)
            == h
    })
    .await;
    stop.send(()).unwrap();
    let (runner, r) = task.await.unwrap();
    r.unwrap();
    assert!(runner.projection().pending.is_empty());
    let live = model(db.pool()).await;
    assert_eq!(live, expected(&store, h, &[]).await);
    assert!(runner.projection().control.flushes.load(Ordering::SeqCst) >= 11);

    let mut again = ProjectionRunner::new(store.clone(), Counts::default()).batch_size(7);
    again.rebuild(|_, _| {}).await.unwrap();
    assert_eq!(model(db.pool()).await, live);
}

#[tokio::test]
async fn a_flush_that_fails_rolls_the_batch_back_and_the_retry_counts_once() {
    let (db, store) = store().await;
    seed(&store, 80, "a").await;
    let events = ticked(&store.read_all(0, 1000, None).await.unwrap().events)
        .into_iter()
        .cloned()
        .collect::<Vec<_>>();
    let mut runner = ProjectionRunner::new(store.clone(), Counts::default())
        .batch_size(10)
        .retry_backoff(Duration::from_millis(1), Duration::from_millis(1));

    // A transient flush failure is retried by the runner itself.
    runner
        .projection()
        .control
        .transient_flush
        .store(true, Ordering::SeqCst);
    assert_eq!(runner.catch_up().await.unwrap(), events.len() as u64);
    let h = events.last().unwrap().global_position;
    assert_eq!(model(db.pool()).await, expected(&store, h, &[]).await);

    // A failing flush (not transient) stops the runner, names the batch,
    // and leaves nothing of it: neither rows nor buffer nor checkpoint.
    seed(&store, 40, "b").await;
    runner
        .projection()
        .control
        .fail_flushes
        .store(1, Ordering::SeqCst);
    let discards = runner.projection().control.discards.load(Ordering::SeqCst);
    let err = runner.catch_up().await.unwrap_err();
    assert!(matches!(err, ProjectionError::Store { .. }), "{err:?}");
    let text = format!("{err}: {:?}", std::error::Error::source(&err));
    assert!(text.contains("flushing the batch"), "{text}");
    assert!(text.contains("injected flush failure"), "{text}");
    assert!(runner.projection().pending.is_empty());
    assert!(runner.projection().control.discards.load(Ordering::SeqCst) > discards);
    assert_eq!(
        store
            .load_checkpoint(Counts::NAME)
            .await
            .unwrap()
            .unwrap_or(0),
        h
    );
    assert_eq!(model(db.pool()).await, expected(&store, h, &[]).await);

    // The same runner goes on: every event counted exactly once.
    let n = runner.catch_up().await.unwrap();
    let h2 = head(&store).await;
    assert!(h2 > h && n > 0);
    assert_eq!(model(db.pool()).await, expected(&store, h2, &[]).await);
}

#[tokio::test]
async fn a_handler_error_after_buffered_events_discards_the_buffer() {
    let (db, store) = store().await;
    seed(&store, 60, "a").await;
    let events = ticked(&store.read_all(0, 1000, None).await.unwrap().events)
        .into_iter()
        .cloned()
        .collect::<Vec<_>>();
    let mut runner = ProjectionRunner::new(store.clone(), Counts::default()).batch_size(10);
    // The 6th event of the 2nd batch: 5 events and its own are buffered.
    let bad = events[15].global_position;
    runner
        .projection()
        .control
        .fail_position
        .store(bad, Ordering::SeqCst);
    let err = runner.catch_up().await.unwrap_err();
    assert_eq!(err.position(), Some(bad));
    assert!(runner.projection().pending.is_empty());
    let first_batch_end = events[9].global_position;
    assert_eq!(
        store
            .load_checkpoint(Counts::NAME)
            .await
            .unwrap()
            .unwrap_or(0),
        first_batch_end
    );
    assert_eq!(
        model(db.pool()).await,
        expected(&store, first_batch_end, &[]).await
    );

    // The fault fired once; the same runner resumes and counts each once.
    runner.catch_up().await.unwrap();
    let h = events.last().unwrap().global_position;
    assert_eq!(model(db.pool()).await, expected(&store, h, &[]).await);
}

#[tokio::test]
async fn dead_letters_of_a_buffering_projection_leave_nothing_of_the_failed_events() {
    let (db, store) = store().await;
    seed(&store, 30, "a").await;
    // A poisoned event (its handler buffers, then fails) and a stream whose
    // flush fails, in the middle of the batches.
    store
        .append(
            "Sa-1",
            ExpectedVersion::Any,
            vec![
                ev("Ticked", json!({"poison": true})),
                ev("Ticked", json!({})),
            ],
        )
        .await
        .unwrap();
    store
        .append("Bad-1", ExpectedVersion::Any, vec![ev("Ticked", json!({}))])
        .await
        .unwrap();
    seed(&store, 30, "b").await;
    let events = ticked(&store.read_all(0, 1000, None).await.unwrap().events)
        .into_iter()
        .cloned()
        .collect::<Vec<_>>();
    let poisoned = events
        .iter()
        .find(|e| e.payload.starts_with(b"{\"poison\""))
        .unwrap()
        .global_position;
    let bad = events
        .iter()
        .find(|e| e.stream_id == "Bad-1")
        .unwrap()
        .global_position;

    let mut runner = ProjectionRunner::new(store.clone(), Counts::default())
        .batch_size(8)
        .error_policy(ErrorPolicy::DeadLetter);
    assert_eq!(runner.catch_up().await.unwrap(), events.len() as u64);
    assert!(runner.projection().pending.is_empty());
    let letters = store.dead_letters(Counts::NAME).await.unwrap();
    let positions: Vec<u64> = letters.iter().map(|l| l.global_position).collect();
    assert_eq!(positions, vec![poisoned, bad]);
    assert!(
        letters[0].error.contains("poisoned event"),
        "{}",
        letters[0].error
    );
    assert!(
        letters[1].error.contains("Bad- stream"),
        "{}",
        letters[1].error
    );
    let h = events.last().unwrap().global_position;
    let want = expected(&store, h, &[poisoned, bad]).await;
    assert!(!want.contains_key("Bad-1"));
    assert_eq!(model(db.pool()).await, want);

    // A rebuild gives the same model and the same dead letters.
    runner.rebuild(|_, _| {}).await.unwrap();
    assert_eq!(model(db.pool()).await, want);
    assert_eq!(store.dead_letters(Counts::NAME).await.unwrap().len(), 2);
}

#[tokio::test]
async fn a_checkpoint_moved_by_another_runner_mid_batch_discards_the_buffer() {
    let (db, store) = store().await;
    seed(&store, 60, "a").await;
    let events = ticked(&store.read_all(0, 1000, None).await.unwrap().events)
        .into_iter()
        .cloned()
        .collect::<Vec<_>>();
    let retry = Duration::from_millis(20);
    let a = Counts::default();
    let control = a.control.clone();
    // Runner A pauses in its 2nd batch, with 4 events buffered.
    control
        .pause_position
        .store(events[13].global_position, Ordering::SeqCst);
    let mut runner_a = ProjectionRunner::new(store.clone(), a)
        .batch_size(10)
        .lease_retry(retry);
    let task_a = tokio::spawn(async move {
        let r = runner_a.catch_up().await;
        runner_a.release().await;
        (runner_a, r)
    });
    wait_for("runner A to pause", || async {
        control.paused.load(Ordering::SeqCst)
    })
    .await;
    // A's lease connection dies; B takes over and moves the checkpoint past
    // A's batch once A's transaction is gone.
    let (killed,): (i64,) = sqlx::query_as(
        "SELECT count(*) FROM (SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
         WHERE application_name = 'es lease counts' AND datname = current_database()) t",
    )
    .fetch_one(db.pool())
    .await
    .unwrap();
    assert_eq!(killed, 1);
    let mut runner_b = ProjectionRunner::new(store.clone(), Counts::default())
        .batch_size(10)
        .lease_retry(retry);
    let task_b = tokio::spawn(async move {
        let r = runner_b.catch_up().await;
        runner_b.release().await;
        (runner_b, r)
    });
    tokio::time::sleep(Duration::from_millis(50)).await;
    let discards = control.discards.load(Ordering::SeqCst);
    control.resume.notify_one();
    let (runner_b, rb) = task_b.await.unwrap();
    rb.unwrap();
    let (runner_a, ra) = task_a.await.unwrap();
    ra.unwrap();
    // A's batch did not commit, and what it had buffered was dropped.
    assert!(control.discards.load(Ordering::SeqCst) > discards);
    assert!(runner_a.projection().pending.is_empty());
    assert!(runner_b.projection().pending.is_empty());
    let h = events.last().unwrap().global_position;
    assert_eq!(
        store
            .load_checkpoint(Counts::NAME)
            .await
            .unwrap()
            .unwrap_or(0),
        h
    );
    assert_eq!(model(db.pool()).await, expected(&store, h, &[]).await);
}

#[tokio::test]
async fn an_inline_buffering_projection_is_flushed_in_the_append() {
    let db = TestDatabase::create().await;
    let inline = Counts::default();
    let control = inline.control.clone();
    let store = PgEventStore::from_pool(db.pool().clone()).with_inline(inline);
    store.migrate().await.unwrap();
    seed(&store, 40, "a").await;
    let h = head(&store).await;
    assert_eq!(model(db.pool()).await, expected(&store, h, &[]).await);

    // A failing flush fails the append: nothing stored, nothing counted.
    control.fail_flushes.store(1, Ordering::SeqCst);
    let err = store
        .append("Sa-0", ExpectedVersion::Any, vec![ev("Ticked", json!({}))])
        .await
        .unwrap_err();
    assert!(
        format!("{err:?}").contains("injected flush failure"),
        "{err:?}"
    );
    assert_eq!(head(&store).await, h);
    assert_eq!(model(db.pool()).await, expected(&store, h, &[]).await);
}
