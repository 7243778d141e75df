//! PostgreSQL under the consumer engine: [`PgEventStore`] as an
//! [`es_core::consumer::Backend`].
//!
//! A batch transaction is a pooled connection's transaction; the
//! checkpoint is a row of the `checkpoints` table, locked `FOR UPDATE` by
//! the batch, so every batch of one name is serialized; dead letters are
//! rows of `dead_letters`, written in the batch; the lease is a session
//! advisory lock on a connection of its own (see [`PgLease`]). A partition's
//! read and status filter by the partition hash in SQL.

use std::time::Duration;

use es_core::consumer::{Backend, ConsumerStatus, DeadLetter, Failed, Partition, Savepoint};
use es_core::{ReadAllPage, StoreError};

use crate::error::is_transient;
use crate::inline::PgTx;
use crate::lease::PgLease;
use crate::store::PgEventStore;

fn backend(context: impl Into<String>, e: sqlx::Error) -> StoreError {
    StoreError::backend(context.into(), e)
}

impl Backend for PgEventStore {
    type Tx = PgTx;
    type Lease = PgLease;

    /// The lease is a session lock on a connection of its own.
    const LEASE_USES_TX: bool = false;

    async fn begin(&self) -> Result<PgTx, StoreError> {
        self.pool()
            .begin()
            .await
            .map_err(|e| backend("beginning a batch", e))
    }

    async fn commit(&self, tx: PgTx) -> Result<(), StoreError> {
        tx.commit()
            .await
            .map_err(|e| backend("committing a batch", e))
    }

    async fn init_checkpoint(&self, tx: &mut PgTx, name: &str) -> Result<u64, StoreError> {
        let checkpoints = self.checkpoints();
        checkpoints
            .init(tx, name)
            .await
            .map_err(|e| backend(format!("creating the checkpoint of `{name}`"), e))?;
        Ok(self.lock_checkpoint(tx, name).await?.unwrap_or(0))
    }

    async fn lock_checkpoint(&self, tx: &mut PgTx, name: &str) -> Result<Option<u64>, StoreError> {
        self.checkpoints()
            .lock(tx, name)
            .await
            .map_err(|e| backend(format!("locking the checkpoint of `{name}`"), e))
    }

    async fn save_checkpoint(
        &self,
        tx: &mut PgTx,
        name: &str,
        position: u64,
    ) -> Result<(), StoreError> {
        self.checkpoints()
            .update(tx, name, position)
            .await
            .map_err(|e| backend(format!("saving the checkpoint of `{name}`"), e))
    }

    async fn savepoint(&self, tx: &mut PgTx, step: Savepoint) -> Result<(), StoreError> {
        let statements: &[&str] = match step {
            Savepoint::Begin => &["SAVEPOINT es_event"],
            Savepoint::Release => &["RELEASE SAVEPOINT es_event"],
            Savepoint::Undo => &[
                "ROLLBACK TO SAVEPOINT es_event",
                "RELEASE SAVEPOINT es_event",
            ],
        };
        for s in statements {
            sqlx::query(s)
                .execute(&mut **tx)
                .await
                .map_err(|e| backend("handling a savepoint", e))?;
        }
        Ok(())
    }

    async fn record_dead_letter(
        &self,
        tx: &mut PgTx,
        name: &str,
        failed: Failed<'_>,
        error: &str,
    ) -> Result<(), StoreError> {
        let checkpoints = self.checkpoints();
        let r = match failed {
            Failed::Event(e) => {
                checkpoints
                    .record_dead_letter(tx, name, e, error.to_owned())
                    .await
            }
            Failed::Unreadable(p) => {
                checkpoints
                    .record_unreadable(tx, name, p, error.to_owned())
                    .await
            }
            _ => Ok(()),
        };
        r.map_err(|e| backend(format!("recording a dead letter of `{name}`"), e))
    }

    async fn dead_letters(&self, name: &str) -> Result<Vec<DeadLetter>, StoreError> {
        PgEventStore::dead_letters(self, name).await
    }

    async fn clear_dead_letters(&self, tx: &mut PgTx, name: &str) -> Result<(), StoreError> {
        self.checkpoints()
            .clear_dead_letters(tx, name)
            .await
            .map_err(|e| backend(format!("clearing the dead letters of `{name}`"), e))
    }

    async fn try_lease(&self, name: &str) -> Result<Option<PgLease>, StoreError> {
        PgLease::try_acquire(self, name)
            .await
            .map_err(|e| backend(format!("taking the lease of `{name}`"), e))
    }

    async fn lease_alive(&self, lease: &mut PgLease, _: Option<&mut PgTx>) -> bool {
        lease.alive().await
    }

    async fn release_lease(&self, lease: PgLease) {
        lease.close().await;
    }

    async fn leases_held(&self, names: &[String]) -> Result<Option<Vec<bool>>, StoreError> {
        PgLease::held(self, names)
            .await
            .map(Some)
            .map_err(|e| backend("reading which leases are held", e))
    }

    async fn consumer_status(
        &self,
        name: &str,
        types: Option<&[&str]>,
    ) -> Result<ConsumerStatus, StoreError> {
        self.consumer_status_of(name, types).await
    }

    /// One statement: `read_all`'s, with the partition computed in SQL
    /// (see `es_core::consumer::partition_hash`), so only the partition's
    /// events leave the server.
    async fn read_partition(
        &self,
        after_position: u64,
        limit: usize,
        types: Option<&[&str]>,
        partition: Partition,
    ) -> Result<ReadAllPage, StoreError> {
        self.reads()
            .read_all_page(self.pool(), after_position, limit, types, Some(partition))
            .await
    }

    async fn partition_status(
        &self,
        name: &str,
        types: Option<&[&str]>,
        partition: Partition,
    ) -> Result<ConsumerStatus, StoreError> {
        self.checkpoints()
            .status_of(self.pool(), name, types, Some(partition))
            .await
    }

    fn is_transient(err: &(dyn std::error::Error + 'static)) -> bool {
        is_transient(err)
    }

    fn poll_interval(&self) -> Duration {
        PgEventStore::poll_interval(self)
    }
}
