//! The repository's reads: replaying a stream (from a usable snapshot),
//! the recorded outcome of a repeated command, and taking snapshots.

use std::ops::ControlFlow;

use super::{Executed, Loaded, PAGE, Repository, RepositoryError};
use crate::aggregate::{Aggregate, snapshot_key};
use crate::store::{EventStore, Snapshot, SnapshotStore, StreamEnd};

impl<A, S> Repository<A, S>
where
    A: Aggregate,
    S: EventStore + SnapshotStore,
{
    /// The outcome an earlier execution of a command recorded.
    pub(super) async fn recorded_outcome(
        &self,
        stream_id: String,
        first_version: u64,
        last_version: u64,
    ) -> Result<Executed<A>, RepositoryError> {
        let mut events = Vec::new();
        let mut last_position = None;
        let mut next = first_version;
        while next <= last_version {
            let page = self
                .store
                .read_stream(&stream_id, next, StreamEnd::Version(last_version), PAGE)
                .await
                .map_err(|e| RepositoryError::from_store(&stream_id, e))?;
            if page.is_empty() {
                break;
            }
            for rec in &page {
                events.push(
                    rec.decode::<A::Event>()
                        .map_err(|e| RepositoryError::from_decode(rec, e))?,
                );
                next = rec.stream_version + 1;
                last_position = Some(rec.global_position);
            }
        }
        let loaded = self
            .load_state(&stream_id, StreamEnd::Version(last_version))
            .await?;
        tracing::debug!(stream = %stream_id, first_version, last_version, "command id already recorded; returning its outcome");
        Ok(Executed {
            stream_id,
            events,
            first_version,
            version: last_version,
            last_position,
            state: loaded.state,
            duplicate: true,
        })
    }

    /// Replays a stream up to `to`, starting from a usable snapshot.
    pub(super) async fn load_state(
        &self,
        stream_id: &str,
        to: StreamEnd,
    ) -> Result<Loaded<A>, RepositoryError> {
        let (mut state, mut version) = match self.usable_snapshot(stream_id, to).await? {
            Some((state, version)) => (state, version),
            None => (A::default(), 0),
        };
        let mut applied = 0usize;
        loop {
            // Each event is decoded and applied as the store lends it; the
            // first one that does not decode stops the read.
            let mut failed = None;
            let n = self
                .store
                .replay_stream(stream_id, version + 1, to, PAGE, |rec| {
                    match rec.decode::<A::Event>() {
                        Ok(event) => {
                            state.apply_event(&event);
                            version = rec.stream_version;
                            ControlFlow::Continue(())
                        }
                        Err(e) => {
                            failed = Some(RepositoryError::from_decode_at(
                                stream_id,
                                rec.stream_version,
                                rec.event_type,
                                rec.schema_version,
                                e,
                            ));
                            ControlFlow::Break(())
                        }
                    }
                })
                .await
                .map_err(|e| RepositoryError::from_store(stream_id, e))?;
            if let Some(e) = failed {
                return Err(e);
            }
            applied += n;
            if n < PAGE {
                break;
            }
        }
        let span = tracing::Span::current();
        span.record("version", version);
        span.record("events", applied);
        Ok(Loaded { state, version })
    }

    async fn usable_snapshot(
        &self,
        stream_id: &str,
        to: StreamEnd,
    ) -> Result<Option<(A, u64)>, RepositoryError> {
        if self.snapshot_every.is_none() {
            return Ok(None);
        }
        let limit = match to {
            StreamEnd::Head => u64::MAX,
            StreamEnd::Version(v) => v,
            // A snapshot records a version, not the time of its last event.
            StreamEnd::Time(_) => return Ok(None),
        };
        let Some(snapshot) = self
            .store
            .load_snapshot(stream_id)
            .await
            .map_err(|e| RepositoryError::from_store(stream_id, e))?
        else {
            return Ok(None);
        };
        if snapshot.version > limit {
            return Ok(None);
        }
        if snapshot.snapshot_version != snapshot_key::<A>() {
            tracing::debug!(
                stream = %stream_id,
                stored = snapshot.snapshot_version,
                current = snapshot_key::<A>(),
                "ignoring a snapshot of another snapshot_version or state shape; rebuilding from events"
            );
            return Ok(None);
        }
        match serde_json::from_slice::<A>(&snapshot.payload) {
            Ok(state) => Ok(Some((state, snapshot.version))),
            Err(e) => {
                tracing::warn!(stream = %stream_id, error = %e, "ignoring an undecodable snapshot; rebuilding from events");
                Ok(None)
            }
        }
    }

    pub(super) async fn maybe_snapshot(&self, stream_id: &str, before: u64, after: u64, state: &A) {
        let Some(n) = self.snapshot_every else {
            return;
        };
        if after / n == before / n {
            return;
        }
        let payload = match serde_json::to_vec(state) {
            Ok(p) => p,
            Err(e) => {
                tracing::warn!(stream = %stream_id, error = %e, "cannot serialize a snapshot; skipping it");
                return;
            }
        };
        let snapshot = Snapshot {
            stream_id: stream_id.to_owned(),
            version: after,
            snapshot_version: snapshot_key::<A>(),
            payload,
            taken_at: chrono::Utc::now(),
        };
        // The events are committed; a lost snapshot only costs a longer replay.
        if let Err(e) = self.store.save_snapshot(snapshot).await {
            tracing::warn!(stream = %stream_id, version = after, error = %crate::error::ErrorChain(&e), "cannot save a snapshot");
        }
    }
}
