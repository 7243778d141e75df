//! The in-memory store as an [`EngineHarness`].

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use es_core::InMemoryEventStore;
use es_core::consumer::{DeadLetter, MemoryTx};
use es_core::projection::HandlerError;

use super::{EngineHarness, Journal};

/// The in-memory store as an [`EngineHarness`]: each consumer's journal is
/// a `Vec` it keeps in itself (shared with the harness, so a new instance
/// of the name continues it and the case can read it while `run` owns the
/// engine). A failed transaction does not undo it; the in-memory backend
/// does not roll back ([`Backend::ROLLS_BACK`] is false).
///
/// [`Backend::ROLLS_BACK`]: es_core::consumer::Backend::ROLLS_BACK
///
/// ```
/// es_testing::engine_conformance_tests!(async { es_testing::engine::MemoryHarness::new() });
/// # fn main() {}
/// ```
#[derive(Debug, Clone, Default)]
pub struct MemoryHarness {
    store: InMemoryEventStore,
    journals: Arc<Mutex<HashMap<&'static str, Vec<u64>>>>,
}

impl MemoryHarness {
    /// A harness over a new, empty store.
    pub fn new() -> Self {
        Self::default()
    }

    fn with<T>(&self, f: impl FnOnce(&mut HashMap<&'static str, Vec<u64>>) -> T) -> T {
        with_journals(&self.journals, f)
    }
}

fn with_journals<T>(
    journals: &Mutex<HashMap<&'static str, Vec<u64>>>,
    f: impl FnOnce(&mut HashMap<&'static str, Vec<u64>>) -> T,
) -> T {
    // A panicking handler never holds the lock.
    let mut guard = journals.lock().unwrap_or_else(|p| p.into_inner());
    f(&mut guard)
}

/// The journal of a consumer of the in-memory store (see [`MemoryHarness`]).
#[derive(Debug, Clone)]
pub struct MemoryJournal {
    name: &'static str,
    journals: Arc<Mutex<HashMap<&'static str, Vec<u64>>>>,
}

impl MemoryJournal {
    /// What it holds.
    pub fn positions(&self) -> Vec<u64> {
        with_journals(&self.journals, |j| {
            j.get(self.name).cloned().unwrap_or_default()
        })
    }
}

impl Journal<MemoryTx> for MemoryJournal {
    async fn record(&mut self, _: &mut MemoryTx, position: u64) -> Result<(), HandlerError> {
        with_journals(&self.journals, |j| {
            j.entry(self.name).or_default().push(position)
        });
        Ok(())
    }

    async fn clear(&mut self, _: &mut MemoryTx) -> Result<(), HandlerError> {
        with_journals(&self.journals, |j| j.remove(self.name));
        Ok(())
    }
}

impl EngineHarness for MemoryHarness {
    type Backend = InMemoryEventStore;
    type Journal = MemoryJournal;

    fn backend(&self) -> InMemoryEventStore {
        self.store.clone()
    }

    fn journal(&self, name: &'static str) -> MemoryJournal {
        MemoryJournal {
            name,
            journals: Arc::clone(&self.journals),
        }
    }

    async fn applied(&self, name: &'static str) -> Vec<u64> {
        self.with(|j| j.get(name).cloned().unwrap_or_default())
    }

    async fn dead_letters(&self, name: &'static str) -> Vec<DeadLetter> {
        self.store.dead_letters(name)
    }
}
