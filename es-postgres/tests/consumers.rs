//! The consumer conformance case of `es-testing` on PostgreSQL: the core
//! `catch_up`, the projection runner, the subscription and the listener
//! each handle every event once, in order, while an append's transaction
//! stays open across their reads (it has written its events and holds
//! their positions) and other writers append concurrently.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use es_core::projection::{Dispatch, Projection, ProjectionError};
use es_core::{AppendResult, EventStore, ExpectedVersion, NewEvent, RecordedEvent, StoreError};
use es_postgres::{PgEventStore, PgProjection, ProjectionRunner};
use es_testing::consumers::{self, CatchUp, HeldWriter, Reporter};
use es_testing::postgres::TestDatabase;
use futures::future::BoxFuture;
use sqlx::PgConnection;
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;

type Gate = Arc<Mutex<Option<(oneshot::Sender<()>, oneshot::Receiver<()>)>>>;

/// An inline projection that keeps its append's transaction open (after
/// the events are inserted, before `COMMIT`) until the gate's release.
#[derive(Clone)]
struct Holder(Gate);

impl Projection for Holder {
    const NAME: &'static str = "holder";
    const EVENT_TYPES: &'static [&'static str] = consumers::TYPES;
}

impl Dispatch<PgConnection> for Holder {
    async fn dispatch(
        &mut self,
        _: &RecordedEvent,
        _: &mut PgConnection,
    ) -> Result<(), ProjectionError> {
        let gate = self.0.lock().unwrap().take();
        if let Some((holding, release)) = gate {
            let _ = holding.send(());
            let _ = release.await;
        }
        Ok(())
    }
}

impl PgProjection for Holder {}

/// Appends through a store whose inline [`Holder`] holds the transaction.
struct OpenTransaction {
    store: PgEventStore,
    gate: Gate,
}

impl HeldWriter for OpenTransaction {
    fn append_held(
        &self,
        stream: String,
        events: Vec<NewEvent>,
        holding: oneshot::Sender<()>,
        release: oneshot::Receiver<()>,
    ) -> BoxFuture<'static, Result<AppendResult, StoreError>> {
        *self.gate.lock().unwrap() = Some((holding, release));
        let store = self.store.clone();
        Box::pin(async move { store.append(&stream, ExpectedVersion::Any, events).await })
    }
}

/// The reporting projection in PostgreSQL's context.
struct Reported(Reporter);

impl Projection for Reported {
    const NAME: &'static str = Reporter::NAME;
    const EVENT_TYPES: &'static [&'static str] = Reporter::EVENT_TYPES;
}

impl Dispatch<PgConnection> for Reported {
    async fn dispatch(
        &mut self,
        event: &RecordedEvent,
        conn: &mut PgConnection,
    ) -> Result<(), ProjectionError> {
        self.0.dispatch(event, conn).await
    }
}

impl PgProjection for Reported {}

async fn run_case<C>(consumer: C)
where
    C: consumers::Consumer<PgEventStore>,
{
    let db = TestDatabase::create().await;
    // Reads give up waiting for the held transaction well before it
    // commits, so they return while it is open.
    let store = PgEventStore::builder()
        .settle_timeout(Duration::from_millis(100))
        .build(db.pool().clone());
    store.migrate().await.expect("migrate");
    let gate = Gate::default();
    let held = OpenTransaction {
        store: store.clone().with_inline(Holder(gate.clone())),
        gate,
    };
    consumers::every_event_once(store.clone(), held, consumer).await;
    drop(store);
    db.drop_db().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn catch_up_handles_every_event_once() {
    run_case(CatchUp).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_runner_handles_every_event_once() {
    run_case(
        |store: PgEventStore, handled: mpsc::UnboundedSender<RecordedEvent>| -> JoinHandle<()> {
            tokio::spawn(async move {
                let mut runner = ProjectionRunner::new(store, Reported(Reporter(handled)))
                    .poll_interval(Duration::from_millis(20));
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
        |store: PgEventStore, handled: mpsc::UnboundedSender<RecordedEvent>| -> JoinHandle<()> {
            tokio::spawn(async move {
                let types = consumers::TYPES.iter().map(|t| (*t).to_owned()).collect();
                let mut sub = store.subscribe(0, Some(types));
                while let Some(e) = sub.next().await {
                    let _ = handled.send(e.expect("the subscription reads"));
                }
            })
        },
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_listener_handles_every_event_once() {
    run_case(
        |store: PgEventStore, handled: mpsc::UnboundedSender<RecordedEvent>| -> JoinHandle<()> {
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
/// everything up to the write is handled, while a writer holds an earlier
/// position open.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_runner_reads_its_writes() {
    let db = TestDatabase::create().await;
    let store = PgEventStore::builder()
        .settle_timeout(Duration::from_millis(100))
        .build(db.pool().clone());
    store.migrate().await.expect("migrate");
    let gate = Gate::default();
    let held = OpenTransaction {
        store: store.clone().with_inline(Holder(gate.clone())),
        gate,
    };
    consumers::reads_its_writes(
        store.clone(),
        held,
        |store: PgEventStore, handled: mpsc::UnboundedSender<RecordedEvent>| {
            let mut runner = ProjectionRunner::new(store, Reported(Reporter(handled)))
                .poll_interval(Duration::from_millis(20));
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
    drop(store);
    db.drop_db().await;
}
