//! A projection with tables (`setup`) but no `reset` hook: a rebuild
//! refuses up front, naming the missing hook, and changes nothing (before,
//! it replayed into the old rows and failed halfway on their keys).

mod common;

use common::{TempDb, events};
use es_core::projection::{Dispatch, HandlerError, Projection, ProjectionError};
use es_core::{EventStore, ExpectedVersion, RecordedEvent};
use es_sqlite::{ProjectionRunner, SqliteEventStore, SqliteProjection};
use sqlx::SqliteConnection;

struct Rows;

impl Projection for Rows {
    const NAME: &'static str = "rows";
    const EVENT_TYPES: &'static [&'static str] = &["Added"];
}

impl Dispatch<SqliteConnection> for Rows {
    async fn dispatch(
        &mut self,
        e: &RecordedEvent,
        conn: &mut SqliteConnection,
    ) -> Result<(), ProjectionError> {
        sqlx::query("INSERT INTO rows_model (id) VALUES (?)")
            .bind(e.event_id.to_string())
            .execute(conn)
            .await
            .map_err(|x| ProjectionError::handler::<Self>(e, x.into()))?;
        Ok(())
    }
}

impl SqliteProjection for Rows {
    async fn setup(&mut self, conn: &mut SqliteConnection) -> Result<(), HandlerError> {
        sqlx::query("CREATE TABLE IF NOT EXISTS rows_model (id TEXT PRIMARY KEY)")
            .execute(conn)
            .await?;
        Ok(())
    }
}

#[tokio::test]
async fn a_rebuild_without_a_reset_hook_refuses_and_changes_nothing() {
    let db = TempDb::new("rebuild-no-reset");
    let store = SqliteEventStore::open(db.path()).await.unwrap();
    store
        .append("Rows-1", ExpectedVersion::NoStream, events("Added", 2))
        .await
        .unwrap();
    let mut runner = ProjectionRunner::new(store.clone(), Rows);
    runner.catch_up().await.unwrap();
    let checkpoint = store.load_checkpoint(Rows::NAME).await.unwrap();
    assert_eq!(checkpoint, Some(2));

    let err = runner.rebuild(|_, _| {}).await.unwrap_err();
    assert!(
        matches!(err, ProjectionError::NoReset { projection: "rows" }),
        "{err:?}"
    );
    let rows: i64 = sqlx::query_scalar("SELECT count(*) FROM rows_model")
        .fetch_one(store.pool())
        .await
        .unwrap();
    assert_eq!(rows, 2, "the model is as it was");
    assert_eq!(store.load_checkpoint(Rows::NAME).await.unwrap(), checkpoint);
    store.close().await;
}
