//! The [`EventStore`] impl of [`SqliteEventStore`]: each call checks and
//! notes corruption, then runs the step in the module named after it.

use std::ops::ControlFlow;

use es_core::{
    AppendResult, CommandRecord, CommitWatch, EventStore, ExpectedVersion, NewEvent, ReadAllPage,
    RecordedEvent, ReplayedEvent, StoreError, StreamEnd, Uuid, validate_stream_id,
};

use crate::read::{find_command_with, head_position_with, stream_version_with};
use crate::store::SqliteEventStore;

impl EventStore for SqliteEventStore {
    async fn append(
        &self,
        stream_id: &str,
        expected: ExpectedVersion,
        events: Vec<NewEvent>,
    ) -> Result<AppendResult, StoreError> {
        if let Some(cause) = self.inner.corrupt.get() {
            return Err(StoreError::Corrupt {
                stream_id: stream_id.to_owned(),
                message: format!(
                    "appends are refused: the database file {} is corrupt ({cause}); \
                     check it with `PRAGMA integrity_check` and restore it from a backup",
                    self.inner.label
                ),
            });
        }
        self.observe(self.append_batch(stream_id, expected, events, None).await)
    }

    async fn read_stream(
        &self,
        stream_id: &str,
        from_version: u64,
        to: StreamEnd,
        limit: usize,
    ) -> Result<Vec<RecordedEvent>, StoreError> {
        self.observe(
            self.read_stream_page(stream_id, from_version, to, limit)
                .await,
        )
    }

    /// Selects only the four columns a replay reads and lends each row to
    /// `visit` as it arrives, without copying type names or payloads.
    async fn replay_stream<F>(
        &self,
        stream_id: &str,
        from_version: u64,
        to: StreamEnd,
        limit: usize,
        visit: F,
    ) -> Result<usize, StoreError>
    where
        F: FnMut(ReplayedEvent<'_>) -> ControlFlow<()> + Send,
    {
        self.replay_rows(stream_id, from_version, to, limit, visit)
            .await
    }

    async fn read_all(
        &self,
        after_position: u64,
        limit: usize,
        types: Option<&[&str]>,
    ) -> Result<ReadAllPage, StoreError> {
        self.observe(self.read_all_page(after_position, limit, types).await)
    }

    async fn stream_version(&self, stream_id: &str) -> Result<u64, StoreError> {
        validate_stream_id(stream_id)?;
        self.observe(stream_version_with(&self.inner.pool, stream_id).await)
    }

    async fn head_position(&self) -> Result<u64, StoreError> {
        head_position_with(&self.inner.pool)
            .await
            .map_err(|e| self.observe_sqlx("reading the head position", e))
    }

    async fn find_command(
        &self,
        stream_id: &str,
        command_id: Uuid,
    ) -> Result<Option<CommandRecord>, StoreError> {
        validate_stream_id(stream_id)?;
        self.observe(find_command_with(&self.inner.pool, stream_id, command_id).await)
    }

    async fn watch_commits(&self) -> Result<CommitWatch, StoreError> {
        self.watch().await
    }
}
