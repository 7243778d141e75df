//! The consumer conformance case of `es-testing` on SQLite: the core
//! `catch_up`, the projection runner and the subscription each handle every
//! event once, in order, while a writer holds the write lock across their
//! reads and other writers append concurrently.

mod common;

use common::TempDb;
use es_core::projection::{Dispatch, Projection, ProjectionError};
use es_core::{AppendResult, EventStore, ExpectedVersion, NewEvent, RecordedEvent, StoreError};
use es_sqlite::{ProjectionRunner, SqliteEventStore, SqliteProjection};
use es_testing::consumers::{self, CatchUp, HeldWriter, Reporter};
use futures::future::BoxFuture;
use sqlx::{Connection, SqliteConnection};
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;

/// Holds SQLite's write lock (`BEGIN IMMEDIATE`) on a connection of its
/// own, then appends once it lets go: every other writer waits meanwhile,
/// readers go on.
struct WriteLock(SqliteEventStore);

impl HeldWriter for WriteLock {
    fn append_held(
        &self,
        stream: String,
        events: Vec<NewEvent>,
        holding: oneshot::Sender<()>,
        release: oneshot::Receiver<()>,
    ) -> BoxFuture<'static, Result<AppendResult, StoreError>> {
        let store = self.0.clone();
        Box::pin(async move {
            let mut conn = store
                .pool()
                .acquire()
                .await
                .map_err(|e| StoreError::backend("acquiring a connection", e))?;
            let tx = conn
                .begin_with("BEGIN IMMEDIATE")
                .await
                .map_err(|e| StoreError::backend("taking the write lock", e))?;
            let _ = holding.send(());
            let _ = release.await;
            tx.commit()
                .await
                .map_err(|e| StoreError::backend("letting go of the write lock", e))?;
            drop(conn);
            store.append(&stream, ExpectedVersion::Any, events).await
        })
    }
}

/// The reporting projection in SQLite's context.
struct Reported(Reporter);

impl Projection for Reported {
    const NAME: &'static str = Reporter::NAME;
    const EVENT_TYPES: &'static [&'static str] = Reporter::EVENT_TYPES;
}

impl Dispatch<SqliteConnection> for Reported {
    async fn dispatch(
        &mut self,
        event: &RecordedEvent,
        conn: &mut SqliteConnection,
    ) -> Result<(), ProjectionError> {
        self.0.dispatch(event, conn).await
    }
}

impl SqliteProjection for Reported {}

async fn run_case<C>(tag: &str, consumer: C)
where
    C: consumers::Consumer<SqliteEventStore>,
{
    let db = TempDb::new(tag);
    let store = SqliteEventStore::open(db.path())
        .await
        .expect("a SQLite store in a temp file");
    consumers::every_event_once(store.clone(), WriteLock(store.clone()), consumer).await;
    store.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn catch_up_handles_every_event_once() {
    run_case("consumers-catch-up", CatchUp).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_runner_handles_every_event_once() {
    run_case(
        "consumers-runner",
        |store: SqliteEventStore,
         handled: mpsc::UnboundedSender<RecordedEvent>|
         -> JoinHandle<()> {
            tokio::spawn(async move {
                let mut runner = ProjectionRunner::new(store, Reported(Reporter(handled)));
                runner
                    .run(std::future::pending())
                    .await
                    .expect("the runner stops only with an error");
            })
        },
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_subscription_handles_every_event_once() {
    run_case(
        "consumers-subscription",
        |store: SqliteEventStore,
         handled: mpsc::UnboundedSender<RecordedEvent>|
         -> JoinHandle<()> {
            tokio::spawn(async move {
                let mut sub = store
                    .subscribe(0)
                    .event_types(consumers::TYPES.iter().copied());
                loop {
                    let e = sub.next().await.expect("the subscription reads");
                    let _ = handled.send(e);
                }
            })
        },
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_listener_handles_every_event_once() {
    run_case(
        "consumers-listener",
        |store: SqliteEventStore,
         handled: mpsc::UnboundedSender<RecordedEvent>|
         -> JoinHandle<()> {
            tokio::spawn(async move {
                let _listener = store.listen("consumer_conformance", Some(consumers::TYPES), {
                    move |e: RecordedEvent| {
                        let _ = handled.send(e);
                        async { Ok(()) }
                    }
                });
                std::future::pending::<()>().await;
            })
        },
    )
    .await;
}

/// Read-your-writes: a wait on the runner's progress returns only once
/// everything up to the write is handled.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_runner_reads_its_writes() {
    let db = TempDb::new("consumers-read-your-writes");
    let store = SqliteEventStore::open(db.path())
        .await
        .expect("a SQLite store in a temp file");
    consumers::reads_its_writes(
        store.clone(),
        WriteLock(store.clone()),
        |store: SqliteEventStore, handled: mpsc::UnboundedSender<RecordedEvent>| {
            let mut runner = ProjectionRunner::new(store, Reported(Reporter(handled)));
            let progress = runner.progress();
            let task = tokio::spawn(async move {
                runner
                    .run(std::future::pending())
                    .await
                    .expect("the runner stops only with an error");
            });
            (task, progress)
        },
    )
    .await;
    store.close().await;
}
