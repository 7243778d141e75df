//! The process store conformance suite of `es-testing` on PostgreSQL: a
//! fresh database per case, migrated, dropped afterwards (also when the
//! case failed).

mod common;

use es_postgres::PgEventStore;
use es_testing::postgres::TestDatabase;

es_testing::process_store_conformance_tests!(common::conformance_store());

/// A schema migrated by the version before process managers (the first
/// two migrations), with an event in it: `migrate` adds the process tables
/// alone, the event stays, and a process manager runs on it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn migrate_upgrades_a_schema_without_the_process_tables() {
    use es_core::{EventStore, ExpectedVersion, Metadata, NewEvent, StreamEnd};

    let db = TestDatabase::create().await;
    common::older_schema(&db, 20250101000003).await;

    let store = PgEventStore::from_pool(db.pool().clone());
    let e = NewEvent::from_raw("Pinged", 1, br#"{"n":1}"#.to_vec(), Metadata::new());
    store
        .append("Pinger-1", ExpectedVersion::NoStream, vec![e])
        .await
        .expect("append on the older schema");
    let table = "SELECT to_regclass('es.process_instances') IS NOT NULL";
    let before: bool = sqlx::query_scalar(table)
        .fetch_one(db.pool())
        .await
        .expect("regclass");
    assert!(!before, "the older schema has no process tables");
    store.migrate().await.expect("migrate upgrades the schema");
    let after: bool = sqlx::query_scalar(table)
        .fetch_one(db.pool())
        .await
        .expect("regclass");
    assert!(after, "migrate creates the process tables");

    let kept = store.read_stream("Pinger-1", 1, StreamEnd::Head, 10).await;
    assert_eq!(kept.expect("read").len(), 1, "the older event is kept");

    // A process manager runs on the upgraded store.
    es_testing::process_store::runner_settles_commands_deadlines_and_rejections(store.clone())
        .await;
    drop(store);
    db.drop_db().await;
}

/// The dispatcher's `deadline_fired` meeting the engine's batch on one
/// deadline row, under READ COMMITTED: it waits for the batch's row lock,
/// then re-checks its `WHERE` on what the batch committed.
mod races {
    use std::time::Duration;

    use es_core::Uuid;
    use es_core::consumer::Backend;
    use es_core::process::{ProcessBackend, ScheduledDeadline};
    use es_postgres::{PgEventStore, PgTx};

    fn deadline(id: Uuid) -> ScheduledDeadline {
        ScheduledDeadline {
            key: "k".to_owned(),
            deadline: r#""ring""#.to_owned(),
            id,
            due_at: chrono::Utc::now(),
        }
    }

    async fn schedule(store: &PgEventStore, d: &ScheduledDeadline) {
        let mut tx = store.begin().await.unwrap();
        store.schedule(&mut tx, "p", d).await.unwrap();
        store.commit(tx).await.unwrap();
    }

    type Fire = tokio::task::JoinHandle<Result<(), es_core::StoreError>>;

    /// Marks `id` fired in a task, and checks it is held up by the open
    /// batch (it waits on the row lock).
    async fn fire_behind_the_batch(store: &PgEventStore, id: Uuid) -> Fire {
        let s = store.clone();
        let fire = tokio::spawn(async move { s.deadline_fired("p", id).await });
        tokio::time::sleep(Duration::from_millis(300)).await;
        assert!(
            !fire.is_finished(),
            "deadline_fired waits for the batch's row lock"
        );
        fire
    }

    /// A committed deadline, a batch that has taken it (still open), and
    /// `deadline_fired` of it waiting behind the batch.
    async fn taken_while_firing(store: &PgEventStore) -> (PgTx, Fire, Uuid) {
        let d = deadline(Uuid::now_v7());
        schedule(store, &d).await;
        let mut tx = store.begin().await.unwrap();
        assert!(store.take_deadline(&mut tx, "p", "k", d.id).await.unwrap());
        let fire = fire_behind_the_batch(store, d.id).await;
        (tx, fire, d.id)
    }

    async fn due_ids(store: &PgEventStore) -> Vec<Uuid> {
        let due = store.due_deadlines("p", chrono::Utc::now(), 10).await;
        due.unwrap().iter().map(|d| d.id).collect()
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn fired_behind_a_take_changes_nothing() {
        let (db, store) = super::common::store().await;
        let (tx, fire, _) = taken_while_firing(&store).await;
        store.commit(tx).await.unwrap();
        let fired = fire.await.unwrap();
        fired.expect("deadline_fired behind a take succeeds");

        assert_eq!(store.process_counts("p").await.unwrap().deadlines, 0);
        drop(store);
        db.drop_db().await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn fired_behind_a_reschedule_leaves_the_new_one_due() {
        let (db, store) = super::common::store().await;
        let old = deadline(Uuid::now_v7());
        schedule(&store, &old).await;

        let new = deadline(Uuid::now_v7());
        let mut tx = store.begin().await.unwrap();
        store.schedule(&mut tx, "p", &new).await.unwrap();
        let fire = fire_behind_the_batch(&store, old.id).await;
        store.commit(tx).await.unwrap();
        let fired = fire.await.unwrap();
        fired.expect("deadline_fired behind a reschedule succeeds");

        assert_eq!(due_ids(&store).await, [new.id], "the new one stays unfired");
        drop(store);
        db.drop_db().await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn fired_behind_a_rolled_back_take_marks_it() {
        let (db, store) = super::common::store().await;
        let (tx, fire, id) = taken_while_firing(&store).await;
        drop(tx); // the batch fails: its deadline event is delivered again
        let fired = fire.await.unwrap();
        fired.expect("deadline_fired behind a rollback succeeds");

        assert!(
            due_ids(&store).await.is_empty(),
            "the deadline is marked fired"
        );
        let mut tx = store.begin().await.unwrap();
        assert!(
            store.take_deadline(&mut tx, "p", "k", id).await.unwrap(),
            "the redelivered deadline event still finds it"
        );
        store.commit(tx).await.unwrap();
        drop(store);
        db.drop_db().await;
    }
}
