//! A projection with tables (`setup`) but no `reset` hook: a rebuild
//! refuses up front, naming the missing hook, and changes nothing (before,
//! it replayed into the old rows and failed halfway on their keys).

mod common;

use common::ev;
use es_core::projection::{Dispatch, HandlerError, Projection, ProjectionError};
use es_core::{EventStore, ExpectedVersion, RecordedEvent};
use es_postgres::{PgProjection, ProjectionRunner};
use serde_json::json;
use sqlx::PgConnection;

struct Rows;

impl Projection for Rows {
    const NAME: &'static str = "rows";
    const EVENT_TYPES: &'static [&'static str] = &["Added"];
}

impl Dispatch<PgConnection> for Rows {
    async fn dispatch(
        &mut self,
        e: &RecordedEvent,
        conn: &mut PgConnection,
    ) -> Result<(), ProjectionError> {
        sqlx::query("INSERT INTO rows_model (id) VALUES ($1)")
            .bind(e.event_id)
            .execute(conn)
            .await
            .map_err(|x| ProjectionError::handler::<Self>(e, x.into()))?;
        Ok(())
    }
}

impl PgProjection for Rows {
    async fn setup(&mut self, conn: &mut PgConnection) -> Result<(), HandlerError> {
        sqlx::query("CREATE TABLE IF NOT EXISTS rows_model (id uuid PRIMARY KEY)")
            .execute(conn)
            .await?;
        Ok(())
    }
}

#[tokio::test]
async fn a_rebuild_without_a_reset_hook_refuses_and_changes_nothing() {
    let (db, store) = common::store().await;
    store
        .append(
            "Rows-1",
            ExpectedVersion::NoStream,
            vec![ev("Added", json!({})), ev("Added", json!({}))],
        )
        .await
        .unwrap();
    let mut runner = ProjectionRunner::new(store.clone(), Rows);
    runner.catch_up().await.unwrap();
    let checkpoint = store.load_checkpoint(Rows::NAME).await.unwrap();
    assert!(checkpoint.is_some_and(|p| p > 0));

    let err = runner.rebuild(|_, _| {}).await.unwrap_err();
    assert!(
        matches!(err, ProjectionError::NoReset { projection: "rows" }),
        "{err:?}"
    );
    assert!(err.to_string().contains("no `reset` hook"), "{err}");
    let (rows,): (i64,) = sqlx::query_as("SELECT count(*) FROM rows_model")
        .fetch_one(db.pool())
        .await
        .unwrap();
    assert_eq!(rows, 2, "the model is as it was");
    assert_eq!(store.load_checkpoint(Rows::NAME).await.unwrap(), checkpoint);
    drop(runner);
    drop(store);
    db.drop_db().await;
}
