//! A `#[derive(Projection)]` projection with `On<E, PgConnection>` handlers
//! under the runner and inline.

mod common;

use common::store;
use es_core::projection::HandlerError;
use es_core::{Event, EventStore, ExpectedVersion, Metadata, NewEvent, On, Projection, Recorded};
use es_postgres::{PgProjection, ProjectionRunner};
use serde::{Deserialize, Serialize};
use sqlx::PgConnection;

#[derive(Debug, Serialize, Deserialize, Event)]
struct Deposited {
    amount: i64,
}

#[derive(Debug, Serialize, Deserialize, Event)]
struct Withdrawn {
    amount: i64,
}

#[derive(Debug, Serialize, Deserialize, Event)]
struct Renamed {
    name: String,
}

#[derive(Clone, Default, Projection)]
#[projection(name = "totals", events(Deposited, Withdrawn))]
struct Totals;

impl On<Deposited, PgConnection> for Totals {
    async fn on(
        &mut self,
        e: Recorded<Deposited>,
        tx: &mut PgConnection,
    ) -> Result<(), HandlerError> {
        sqlx::query("UPDATE totals SET balance = balance + $1, events = events + 1")
            .bind(e.event.amount)
            .execute(tx)
            .await?;
        Ok(())
    }
}

impl On<Withdrawn, PgConnection> for Totals {
    async fn on(
        &mut self,
        e: Recorded<Withdrawn>,
        tx: &mut PgConnection,
    ) -> Result<(), HandlerError> {
        sqlx::query("UPDATE totals SET balance = balance - $1, events = events + 1")
            .bind(e.event.amount)
            .execute(tx)
            .await?;
        Ok(())
    }
}

impl PgProjection for Totals {
    async fn setup(&mut self, tx: &mut PgConnection) -> Result<(), HandlerError> {
        sqlx::query(
            "CREATE TABLE IF NOT EXISTS totals (balance bigint NOT NULL, events bigint NOT NULL)",
        )
        .execute(&mut *tx)
        .await?;
        sqlx::query("INSERT INTO totals SELECT 0, 0 WHERE NOT EXISTS (SELECT 1 FROM totals)")
            .execute(tx)
            .await?;
        Ok(())
    }

    async fn reset(&mut self, tx: &mut PgConnection) -> Result<(), HandlerError> {
        sqlx::query("UPDATE totals SET balance = 0, events = 0")
            .execute(tx)
            .await?;
        Ok(())
    }
}

fn new(e: &impl Event) -> NewEvent {
    NewEvent::new(e, Metadata::new()).unwrap()
}

#[tokio::test]
async fn a_derived_projection_runs_under_the_runner_and_inline() {
    let (db, store) = store().await;
    assert_eq!(Totals::EVENT_TYPES, ["Deposited", "Withdrawn"]);
    store
        .append(
            "Account-1",
            ExpectedVersion::NoStream,
            vec![
                new(&Deposited { amount: 10 }),
                new(&Renamed { name: "x".into() }),
                new(&Withdrawn { amount: 4 }),
            ],
        )
        .await
        .unwrap();
    let mut runner = ProjectionRunner::new(store.clone(), Totals);
    assert_eq!(runner.catch_up().await.unwrap(), 2);
    let row: (i64, i64) = sqlx::query_as("SELECT balance, events FROM totals")
        .fetch_one(db.pool())
        .await
        .unwrap();
    assert_eq!(row, (6, 2));
    assert_eq!(runner.rebuild(|_, _| {}).await.unwrap(), 2);
    runner.release().await;

    // The same projection inline (the runner's checkpoint is separate).
    let inline = store.clone().with_inline(Totals);
    inline
        .append(
            "Account-1",
            ExpectedVersion::Exact(3),
            vec![new(&Deposited { amount: 5 })],
        )
        .await
        .unwrap();
    let row: (i64, i64) = sqlx::query_as("SELECT balance, events FROM totals")
        .fetch_one(db.pool())
        .await
        .unwrap();
    assert_eq!(row, (11, 3));
}
