//! The consumer engine conformance suite on `InMemoryEventStore`, and proof
//! that it catches a broken journal.

use es_testing::engine::MemoryHarness;

// Every case as its own test against a fresh in-memory store.
es_testing::engine_conformance_tests!(async { MemoryHarness::new() });

/// A journal whose `clear` does nothing (a reset hook that leaves the old
/// model): the rebuild case must fail, naming the events handled twice.
mod broken_reset {
    use es_core::InMemoryEventStore;
    use es_core::consumer::{DeadLetter, MemoryTx};
    use es_core::projection::HandlerError;
    use es_testing::engine::{self, EngineHarness, Journal, MemoryHarness, MemoryJournal};

    struct KeepsOnReset(MemoryJournal);

    impl Journal<MemoryTx> for KeepsOnReset {
        async fn record(&mut self, tx: &mut MemoryTx, position: u64) -> Result<(), HandlerError> {
            self.0.record(tx, position).await
        }

        async fn clear(&mut self, _: &mut MemoryTx) -> Result<(), HandlerError> {
            Ok(())
        }
    }

    struct Broken(MemoryHarness);

    impl EngineHarness for Broken {
        type Backend = InMemoryEventStore;
        type Journal = KeepsOnReset;

        fn backend(&self) -> InMemoryEventStore {
            self.0.backend()
        }

        fn journal(&self, name: &'static str) -> KeepsOnReset {
            KeepsOnReset(self.0.journal(name))
        }

        async fn applied(&self, name: &'static str) -> Vec<u64> {
            self.0.applied(name).await
        }

        async fn dead_letters(&self, name: &'static str) -> Vec<DeadLetter> {
            self.0.dead_letters(name).await
        }
    }

    #[test]
    fn a_reset_that_keeps_the_journal_fails_the_rebuild_case() {
        let failed = std::panic::catch_unwind(|| {
            engine::run(async { Broken(MemoryHarness::new()) }, |h| {
                Box::pin(engine::rebuild_replays_into_an_emptied_journal(h))
            });
        });
        let panic =
            failed.expect_err("the rebuild case must fail on a reset that keeps the journal");
        let text = panic.downcast_ref::<String>().cloned().unwrap_or_default();
        assert!(
            text.contains("engine conformance: after rebuild") && text.contains("handled twice"),
            "{text}"
        );
    }
}
