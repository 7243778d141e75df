//! Least privilege: an application role that may only INSERT and SELECT the
//! log (the grants of the README's PostgreSQL section) runs the store, and cannot
//! UPDATE, DELETE or TRUNCATE events.
//!
//! Roles are cluster-wide: the role has a unique name and is dropped after
//! the test body, whether it passed or not.

mod common;

use std::str::FromStr;

use common::ev;
use es_core::dcb::{AppendCondition, DcbStore, Query, QueryItem, Tag, TaggedEvent};
use es_core::{
    EventStore, ExpectedVersion, Metadata, NewEvent, Repository, SnapshotStore, StreamEnd,
};
use es_postgres::PgEventStore;
use es_testing::postgres::TestDatabase;
use serde_json::json;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::{Connection, PgConnection};

/// The grants the application role gets (after `migrate()` ran as the owner).
fn grants(role: &str, database: &str) -> Vec<String> {
    vec![
        format!("GRANT CONNECT ON DATABASE \"{database}\" TO {role}"),
        format!("GRANT USAGE ON SCHEMA es TO {role}"),
        // The log and the command ids: append and read, nothing else. No
        // sequence is involved (positions come from the transaction id) and
        // the functions an append calls (pg_current_xact_id, pg_notify,
        // pg_current_snapshot, the schema's settled_bound) are PUBLIC.
        format!("GRANT SELECT, INSERT ON es.events, es.commands TO {role}"),
        // Snapshots are replaced (upsert).
        format!("GRANT SELECT, INSERT, UPDATE ON es.snapshots TO {role}"),
        // Tags, like the log (the function a tagged append calls is PUBLIC).
        format!("GRANT SELECT, INSERT ON es.event_tags TO {role}"),
    ]
}

#[tokio::test]
async fn an_insert_and_select_role_runs_the_store_and_cannot_change_history() {
    let db = TestDatabase::create().await;
    let owner = PgEventStore::from_pool(db.pool().clone());
    owner.migrate().await.unwrap();
    owner
        .append(
            "Seed-1",
            ExpectedVersion::NoStream,
            vec![ev("Seeded", json!({}))],
        )
        .await
        .unwrap();

    let role = format!("es_app_{}", es_core::Uuid::now_v7().simple());
    let password = format!("pw{}", es_core::Uuid::now_v7().simple());
    let server = PgConnectOptions::from_str(db.url()).unwrap();
    // The role is created and dropped over a connection to the server's own
    // database (one to the test database would die with it).
    let admin_url = std::env::var("DATABASE_URL")
        .ok()
        .filter(|u| !u.is_empty())
        .unwrap_or_else(|| es_testing::postgres::DEFAULT_DATABASE_URL.to_owned());
    let mut admin = PgConnection::connect(&admin_url).await.unwrap();
    sqlx::query(&format!("CREATE ROLE {role} LOGIN PASSWORD '{password}'"))
        .execute(&mut admin)
        .await
        .unwrap();

    let body = {
        let role = role.clone();
        let url = db.url().to_owned();
        let name = db.name().to_owned();
        let mut admin_conn = PgConnection::connect_with(&server).await.unwrap();
        // In a task of its own: a failed assertion comes back as an error
        // here, and the role is dropped below either way.
        tokio::spawn(async move {
            for g in grants(&role, &name) {
                sqlx::query(&g).execute(&mut admin_conn).await.unwrap();
            }
            let _ = admin_conn.close().await;
            let options = PgConnectOptions::from_str(&url)
                .unwrap()
                .username(&role)
                .password(&password);
            let pool = PgPoolOptions::new()
                .max_connections(2)
                .connect_with(options)
                .await
                .unwrap();
            let app = PgEventStore::from_pool(pool.clone());

            // The store works: appends, conflicts, reads, commands, snapshots.
            app.append(
                "App-1",
                ExpectedVersion::NoStream,
                vec![ev("A", json!({"n": 1})), ev("B", json!({"n": 2}))],
            )
            .await
            .unwrap();
            assert!(
                app.append("App-1", ExpectedVersion::Exact(1), vec![ev("C", json!({}))])
                    .await
                    .unwrap_err()
                    .is_conflict()
            );
            assert_eq!(
                app.read_stream("App-1", 1, StreamEnd::Head, 10)
                    .await
                    .unwrap()
                    .len(),
                2
            );
            assert_eq!(app.read_all(0, 10, None).await.unwrap().events.len(), 3);
            assert!(app.head_position().await.unwrap() > 0);
            let accounts = Repository::<bank_like::Counter, _>::new(app.clone())
                .snapshot_every(2)
                .retry_on_conflict(3);
            for _ in 0..5 {
                accounts.execute("c-1", bank_like::Increment).await.unwrap();
            }
            let loaded = accounts.load("c-1").await.unwrap().unwrap();
            assert_eq!((loaded.state.value, loaded.version), (5, 5));
            assert!(app.load_snapshot("Counter-c-1").await.unwrap().is_some());

            // Tagged appends under conditions, with tags and with types only
            // (which locks the log: the INSERT grant allows it).
            let seat = Tag::new("seat:s1").unwrap();
            for query in [
                Query::item(QueryItem::new().tags([seat.clone()])),
                Query::item(QueryItem::new().types(["SeatTaken"])),
            ] {
                let read = app.read_query(&query, 0, 10).await.unwrap();
                let e = NewEvent::from_raw("SeatTaken", 1, b"{}".to_vec(), Metadata::new());
                let condition = AppendCondition::new(query, read.scanned_to);
                app.append_tagged(
                    "seat-1",
                    vec![TaggedEvent::new(e, [seat.clone()])],
                    Some(&condition),
                )
                .await
                .unwrap();
            }

            // History cannot change: each is a permission error (42501).
            let mut refused = Vec::new();
            for sql in [
                "UPDATE es.events SET payload = '{}'::jsonb",
                "DELETE FROM es.events",
                "TRUNCATE es.events",
                "UPDATE es.commands SET last_version = 0",
                "DELETE FROM es.commands",
                "DROP TABLE es.events",
            ] {
                let err = sqlx::query(sql).execute(&pool).await.unwrap_err();
                let code = err
                    .as_database_error()
                    .and_then(|d| d.code())
                    .map(|c| c.into_owned());
                // 42501: insufficient privilege (DROP of a table it does not own).
                assert_eq!(code.as_deref(), Some("42501"), "{sql}: {err}");
                refused.push(sql);
            }
            pool.close().await;
            refused.len()
        })
        .await
    };

    // Clean up whatever happened: the database first (it holds the grants),
    // then the role.
    db.drop_db().await;
    sqlx::query(&format!("DROP ROLE IF EXISTS {role}"))
        .execute(&mut admin)
        .await
        .unwrap();
    let _ = admin.close().await;
    let refused = match body {
        Ok(n) => n,
        Err(e) => std::panic::resume_unwind(e.into_panic()),
    };
    assert_eq!(refused, 6);
}

/// A tiny aggregate, so this test needs no example crate.
mod bank_like {
    use es_core::{Aggregate, Event, Handle};
    use serde::{Deserialize, Serialize};

    #[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Event)]
    pub(super) struct Incremented {}

    #[derive(Debug, Default, Clone, Serialize, Deserialize, Aggregate)]
    #[aggregate(name = "Counter", event = Incremented, snapshot_version = 1)]
    pub(super) struct Counter {
        pub(super) value: u64,
    }

    impl es_core::Apply<Incremented> for Counter {
        fn apply(&mut self, _: &Incremented) {
            self.value += 1;
        }
    }

    #[derive(Debug, Clone)]
    pub(super) struct Increment;

    impl Handle<Increment> for Counter {
        type Error = std::convert::Infallible;
        fn handle(&self, _: Increment) -> Result<Vec<Incremented>, Self::Error> {
            Ok(vec![Incremented {}])
        }
    }
}
