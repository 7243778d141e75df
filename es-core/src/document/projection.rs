//! [`DocumentProjection`]: a [`Document`] as a consumer of the engine.

use std::collections::HashMap;
use std::marker::PhantomData;

use super::backend::{DocumentBackend, Write};
use super::model::{Document, DocumentState, Routed};
use crate::consumer::Consumer;
use crate::envelope::RecordedEvent;
use crate::projection::{HandlerError, ProjectionError};

/// Runs a [`Document`] on the [`Engine`](crate::consumer::Engine): each
/// event is decoded and routed to its key as it is read; at the end of the
/// batch ([`Consumer::flush`]) the documents the batch touches are read in
/// one call, the handlers run in memory in log order, and the changed
/// documents are written back in one call, in the batch's transaction with
/// the checkpoint. A rebuild deletes the projection's documents first.
///
/// ```
/// use es_core::consumer::Engine;
/// use es_core::document::{Document, DocumentProjection};
/// use es_core::InMemoryEventStore;
///
/// fn engine<D: Document>(store: InMemoryEventStore) -> Engine<InMemoryEventStore, DocumentProjection<D, InMemoryEventStore>> {
///     Engine::new(store.clone(), DocumentProjection::new(store))
/// }
/// ```
pub struct DocumentProjection<D: Document, B> {
    backend: B,
    pending: Vec<Routed<D>>,
    /// Whether a batch locks its documents before it reads them.
    locking: bool,
    _document: PhantomData<fn() -> D>,
}

/// A clone starts with an empty batch: what a store's inline projections
/// need (a fresh clone per append).
impl<D: Document, B: Clone> Clone for DocumentProjection<D, B> {
    fn clone(&self) -> Self {
        Self {
            backend: self.backend.clone(),
            pending: Vec::new(),
            locking: self.locking,
            _document: PhantomData,
        }
    }
}

impl<D: Document, B> std::fmt::Debug for DocumentProjection<D, B> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DocumentProjection")
            .field("document", &D::NAME)
            .field("pending", &self.pending.len())
            .finish()
    }
}

impl<D: Document, B: DocumentBackend> DocumentProjection<D, B> {
    /// The projection of `D` on `backend`.
    pub fn new(backend: B) -> Self {
        Self {
            backend,
            pending: Vec::new(),
            locking: false,
            _document: PhantomData,
        }
    }

    /// The projection of `D` on `backend` for batches that may run at
    /// once: each locks the documents it touches
    /// ([`DocumentBackend::lock_documents`]) before it reads them, so two
    /// batches evolving one document apply one after the other and no
    /// update is lost. The stores' inline document projections
    /// (`es_postgres::PgEventStore::with_inline_document`,
    /// `es_sqlite::SqliteEventStore::with_inline_document`) run it in each
    /// append; an [`Engine`](crate::consumer::Engine) needs no locks (its
    /// lease lets one batch run at a time) and takes [`DocumentProjection::new`].
    pub fn locking(backend: B) -> Self {
        Self {
            locking: true,
            ..Self::new(backend)
        }
    }

    async fn write_back(&mut self, tx: &mut B::Tx) -> Result<(), HandlerError> {
        let pending = std::mem::take(&mut self.pending);
        if pending.is_empty() {
            return Ok(());
        }
        let mut keys: Vec<String> = Vec::new();
        for r in &pending {
            if !keys.iter().any(|k| k == r.key()) {
                keys.push(r.key().to_owned());
            }
        }
        if self.locking {
            self.backend.lock_documents(tx, D::NAME, &keys).await?;
        }
        let stored = self.backend.load_documents(tx, D::NAME, &keys).await?;
        // Per key: the document (None: absent or deleted), and whether it changed.
        let mut docs: HashMap<String, (Option<D>, bool)> = HashMap::with_capacity(keys.len());
        for s in stored {
            let doc: D = serde_json::from_slice(&s.body).map_err(|e| {
                format!(
                    "document `{}` of `{}` does not decode as this build's type (rebuild the projection after changing its shape): {e}",
                    s.key,
                    D::NAME
                )
            })?;
            docs.insert(s.key, (Some(doc), false));
        }
        for routed in pending {
            let entry = docs.entry(routed.key().to_owned()).or_insert((None, false));
            let mut state = DocumentState::new(entry.0.is_none());
            let mut doc = entry.0.take().unwrap_or_default();
            routed.apply(&mut doc, &mut state);
            entry.0 = (!state.is_deleted()).then_some(doc);
            entry.1 = true;
        }
        let mut writes = Vec::with_capacity(keys.len());
        for key in keys {
            let Some((doc, true)) = docs.remove(&key) else {
                continue;
            };
            writes.push(match doc {
                Some(doc) => Write::Put {
                    body: serde_json::to_vec(&doc)?,
                    key,
                },
                None => Write::Delete { key },
            });
        }
        self.backend.write_documents(tx, D::NAME, &writes).await?;
        Ok(())
    }
}

impl<D: Document, B: DocumentBackend> Consumer<B::Tx> for DocumentProjection<D, B> {
    fn name(&self) -> &'static str {
        D::NAME
    }

    fn event_types(&self) -> Option<&'static [&'static str]> {
        Some(D::EVENT_TYPES)
    }

    async fn handle(
        &mut self,
        event: &RecordedEvent,
        _: &mut B::Tx,
    ) -> Result<(), ProjectionError> {
        if let Some(routed) =
            D::route(event).map_err(|e| ProjectionError::decode_of(D::NAME, event, e))?
        {
            self.pending.push(routed);
        }
        Ok(())
    }

    async fn setup(&mut self, tx: &mut B::Tx) -> Result<(), HandlerError> {
        self.backend
            .setup_documents(tx, D::NAME, D::INDEXES)
            .await?;
        Ok(())
    }

    async fn reset(&mut self, tx: &mut B::Tx) -> Result<(), HandlerError> {
        self.pending.clear();
        self.backend.clear_documents(tx, D::NAME).await?;
        Ok(())
    }

    async fn flush(&mut self, tx: &mut B::Tx) -> Result<(), HandlerError> {
        self.write_back(tx).await
    }

    fn discard(&mut self) {
        self.pending.clear();
    }
}
