//! Reading the next page while a batch is handled.
//!
//! After a full page (catching up), the engine starts reading the page
//! after it in a task of its own, then handles the batch: the store reads
//! batch n+1 while batch n's handlers, flush and commit run, so a catch-up
//! costs about the larger of the read and the batch instead of their sum.
//! The next batch takes that page when it reads from exactly where the
//! read ahead started (the batch committed as read), and reads anew
//! otherwise (the batch failed, the checkpoint moved, a rebuild reset it),
//! dropping the read ahead. An earlier-read page is as true an answer as a
//! new one: events never change, and its
//! [`scanned_to`](crate::ReadAllPage::scanned_to) vouches that nothing at
//! or below it can commit later. A read ahead that failed is read again,
//! so its error is the store's as of now. A short page (the head) reads
//! nothing ahead, so a following engine reads as it always did.

use tracing::Instrument;

use super::Engine;
use crate::consumer::backend::{Backend, Consumer};
use crate::consumer::partition::Partition;
use crate::store::{ReadAllPage, StoreError};

/// A page being read ahead, from `after`.
#[derive(Debug)]
pub(super) struct ReadAhead {
    after: u64,
    task: tokio::task::JoinHandle<Result<ReadAllPage, StoreError>>,
}

impl Drop for ReadAhead {
    fn drop(&mut self) {
        // Nobody will take it (a no-op once it has finished).
        self.task.abort();
    }
}

impl<B: Backend, C: Consumer<B::Tx>> Engine<B, C> {
    /// The page after `from`: the one read ahead when it started there and
    /// succeeded, read now otherwise.
    pub(super) async fn read_page(&mut self, from: u64) -> Result<ReadAllPage, StoreError> {
        if let Some(mut ahead) = self.ahead.take().filter(|a| a.after == from)
            && let Ok(Ok(page)) = (&mut ahead.task).await
        {
            return Ok(page);
        }
        let types = self.consumer.event_types();
        read(&self.backend, from, self.batch_size, types, self.partition).await
    }

    /// Starts reading the page after `after` (the checkpoint the batch
    /// about to be handled moves to).
    pub(super) fn read_ahead(&mut self, after: u64) {
        let backend = self.backend.clone();
        let (limit, types, partition) =
            (self.batch_size, self.consumer.event_types(), self.partition);
        let task = tokio::spawn(
            async move { read(&backend, after, limit, types, partition).await }.in_current_span(),
        );
        self.ahead = Some(ReadAhead { after, task });
    }
}

/// One page of the engine's events: of its partition, if it runs one.
async fn read<B: Backend>(
    backend: &B,
    from: u64,
    limit: usize,
    types: Option<&'static [&'static str]>,
    partition: Option<Partition>,
) -> Result<ReadAllPage, StoreError> {
    match partition {
        None => backend.read_all(from, limit, types).await,
        Some(p) => backend.read_partition(from, limit, types, p).await,
    }
}
