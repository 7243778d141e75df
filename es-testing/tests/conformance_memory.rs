//! The conformance suite on `InMemoryEventStore`, and proof that it catches
//! broken stores.

use es_core::InMemoryEventStore;

// Every case as its own test against a fresh in-memory store.
es_testing::store_conformance_tests!(async { InMemoryEventStore::new() });

/// The same suite with a store that needs cleanup: the teardown runs after
/// every case.
mod with_teardown {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use es_core::{EventStore, InMemoryEventStore};
    use es_testing::conformance::{self, WithTeardown};

    static TORN_DOWN: AtomicUsize = AtomicUsize::new(0);

    async fn fresh()
    -> WithTeardown<InMemoryEventStore, impl FnOnce(InMemoryEventStore) -> std::future::Ready<()>>
    {
        WithTeardown::new(InMemoryEventStore::new(), |store: InMemoryEventStore| {
            drop(store);
            TORN_DOWN.fetch_add(1, Ordering::SeqCst);
            std::future::ready(())
        })
    }

    #[test]
    fn teardown_runs_after_a_passing_case() {
        let before = TORN_DOWN.load(Ordering::SeqCst);
        conformance::run(fresh(), conformance::expected_any);
        assert!(TORN_DOWN.load(Ordering::SeqCst) > before);
    }

    #[test]
    fn teardown_runs_after_a_failing_case() {
        let before = TORN_DOWN.load(Ordering::SeqCst);
        let failed = std::panic::catch_unwind(|| {
            conformance::run(fresh(), |store: InMemoryEventStore| async move {
                let _ = store.head_position().await;
                panic!("this case fails");
            });
        });
        assert!(failed.is_err());
        assert!(TORN_DOWN.load(Ordering::SeqCst) > before);
    }
}

/// Test doubles that get one thing wrong, and the cases that catch them.
mod broken_stores {
    use std::future::Future;
    use std::panic::AssertUnwindSafe;

    use es_core::{
        AppendResult, CommandRecord, CommitWatch, EventStore, ExpectedVersion, InMemoryEventStore,
        Metadata, NewEvent, ReadAllPage, RecordedEvent, Snapshot, SnapshotStore, StoreError,
        StreamEnd, Uuid,
    };
    use es_testing::{conformance, consumers};
    use futures::FutureExt as _;

    /// What a double gets wrong.
    #[derive(Clone, Copy, Debug, PartialEq)]
    enum Fault {
        /// Appends with `ExpectedVersion::Any` whatever the caller expected.
        IgnoresExpectedVersion,
        /// Stores every event with empty metadata.
        DropsMetadata,
        /// Forgets command ids.
        NoCommandDedup,
        /// Returns read_all's events newest first.
        ReadAllReversed,
        /// Ignores read_all's type filter.
        IgnoresTypeFilter,
        /// Keeps the first snapshot forever.
        NeverReplacesSnapshots,
        /// Returns one event fewer than asked when reading a stream.
        ShortPages,
        /// Says a read_all scanned to the head it asks for after the read:
        /// an event that commits in between is passed over.
        ScansToALaterHead,
    }

    #[derive(Clone, Debug)]
    struct Broken {
        inner: InMemoryEventStore,
        fault: Fault,
    }

    impl Broken {
        fn new(fault: Fault) -> Self {
            Self {
                inner: InMemoryEventStore::new(),
                fault,
            }
        }
    }

    impl EventStore for Broken {
        async fn append(
            &self,
            stream_id: &str,
            expected: ExpectedVersion,
            mut events: Vec<NewEvent>,
        ) -> Result<AppendResult, StoreError> {
            let expected = match self.fault {
                Fault::IgnoresExpectedVersion => ExpectedVersion::Any,
                _ => expected,
            };
            for e in &mut events {
                match self.fault {
                    Fault::DropsMetadata => e.metadata = Metadata::new(),
                    Fault::NoCommandDedup => e.metadata.command_id = None,
                    _ => {}
                }
            }
            self.inner.append(stream_id, expected, events).await
        }

        async fn read_stream(
            &self,
            stream_id: &str,
            from_version: u64,
            to: StreamEnd,
            limit: usize,
        ) -> Result<Vec<RecordedEvent>, StoreError> {
            let limit = match self.fault {
                Fault::ShortPages => limit.saturating_sub(1),
                _ => limit,
            };
            self.inner
                .read_stream(stream_id, from_version, to, limit)
                .await
        }

        async fn read_all(
            &self,
            after_position: u64,
            limit: usize,
            types: Option<&[&str]>,
        ) -> Result<ReadAllPage, StoreError> {
            let types = match self.fault {
                Fault::IgnoresTypeFilter => None,
                _ => types,
            };
            let mut page = self.inner.read_all(after_position, limit, types).await?;
            match self.fault {
                Fault::ReadAllReversed => page.events.reverse(),
                Fault::ScansToALaterHead if page.len() < limit => {
                    tokio::time::sleep(std::time::Duration::from_millis(5)).await;
                    page.scanned_to = page.scanned_to.max(self.inner.head_position().await?);
                }
                _ => {}
            }
            Ok(page)
        }

        fn stream_version(
            &self,
            stream_id: &str,
        ) -> impl Future<Output = Result<u64, StoreError>> + Send {
            self.inner.stream_version(stream_id)
        }

        fn head_position(&self) -> impl Future<Output = Result<u64, StoreError>> + Send {
            self.inner.head_position()
        }

        fn find_command(
            &self,
            stream_id: &str,
            command_id: Uuid,
        ) -> impl Future<Output = Result<Option<CommandRecord>, StoreError>> + Send {
            self.inner.find_command(stream_id, command_id)
        }

        fn watch_commits(&self) -> impl Future<Output = Result<CommitWatch, StoreError>> + Send {
            self.inner.watch_commits()
        }
    }

    impl SnapshotStore for Broken {
        async fn save_snapshot(&self, snapshot: Snapshot) -> Result<(), StoreError> {
            if self.fault == Fault::NeverReplacesSnapshots
                && self
                    .inner
                    .load_snapshot(&snapshot.stream_id)
                    .await?
                    .is_some()
            {
                return Ok(());
            }
            self.inner.save_snapshot(snapshot).await
        }

        fn load_snapshot(
            &self,
            stream_id: &str,
        ) -> impl Future<Output = Result<Option<Snapshot>, StoreError>> + Send {
            self.inner.load_snapshot(stream_id)
        }
    }

    /// Runs a case on a broken store and returns its panic message; fails
    /// the test when the case passes.
    async fn must_fail<F, Fut>(fault: Fault, case: F) -> String
    where
        F: FnOnce(Broken) -> Fut,
        Fut: Future<Output = ()>,
    {
        let outcome = AssertUnwindSafe(case(Broken::new(fault)))
            .catch_unwind()
            .await;
        match outcome {
            Ok(()) => panic!("the conformance case passed on a store that {fault:?}"),
            Err(panic) => panic
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| panic.downcast_ref::<&str>().map(|s| (*s).to_owned()))
                .unwrap_or_default(),
        }
    }

    #[tokio::test]
    async fn ignoring_the_expected_version_fails_the_version_cases() {
        let f = Fault::IgnoresExpectedVersion;
        let msg = must_fail(f, conformance::expected_exact_wrong).await;
        assert!(
            msg.contains("must fail with a version conflict, but it succeeded"),
            "{msg}"
        );
        must_fail(f, conformance::expected_no_stream_on_existing_stream).await;
        must_fail(f, conformance::expected_exact_zero).await;
        must_fail(f, conformance::conflicting_batch_writes_nothing).await;
    }

    #[tokio::test]
    async fn ignoring_the_expected_version_fails_the_concurrency_case() {
        // With Any, a writer's append lands wherever the stream is by then;
        // the case yields between reading the version and appending, so
        // another writer moves the stream and the append lands elsewhere.
        let msg = must_fail(
            Fault::IgnoresExpectedVersion,
            conformance::concurrent_appenders_one_stream,
        )
        .await;
        assert!(msg.contains("ignored the expected version"), "{msg}");
    }

    #[tokio::test]
    async fn the_correct_store_passes_the_cases_the_broken_ones_fail() {
        // The same cases, on the real store: no panic.
        let store = InMemoryEventStore::new;
        conformance::expected_exact_wrong(store()).await;
        conformance::append_and_read_back(store()).await;
        conformance::repeated_command_id_appends_nothing(store()).await;
        conformance::read_all_in_global_order(store()).await;
        conformance::read_all_type_filter(store()).await;
        conformance::snapshots_save_load_replace(store()).await;
        conformance::read_stream_paging(store()).await;
    }

    #[tokio::test]
    async fn dropping_metadata_fails_append_and_read_back() {
        let msg = must_fail(Fault::DropsMetadata, conformance::append_and_read_back).await;
        assert!(msg.contains("metadata changed"), "{msg}");
    }

    #[tokio::test]
    async fn forgetting_command_ids_fails_the_idempotency_case() {
        let msg = must_fail(
            Fault::NoCommandDedup,
            conformance::repeated_command_id_appends_nothing,
        )
        .await;
        assert!(msg.contains("repeated command id"), "{msg}");
    }

    #[tokio::test]
    async fn reading_all_out_of_order_fails_the_order_case() {
        let msg = must_fail(
            Fault::ReadAllReversed,
            conformance::read_all_in_global_order,
        )
        .await;
        assert!(msg.contains("strictly increase"), "{msg}");
    }

    #[tokio::test]
    async fn ignoring_the_type_filter_fails_the_filter_case() {
        let msg = must_fail(Fault::IgnoresTypeFilter, conformance::read_all_type_filter).await;
        assert!(msg.contains("filtered by"), "{msg}");
    }

    #[tokio::test]
    async fn keeping_old_snapshots_fails_the_snapshot_case() {
        let msg = must_fail(
            Fault::NeverReplacesSnapshots,
            conformance::snapshots_save_load_replace,
        )
        .await;
        assert!(msg.contains("replace"), "{msg}");
    }

    #[tokio::test]
    async fn short_pages_fail_the_paging_case() {
        let msg = must_fail(Fault::ShortPages, conformance::read_stream_paging).await;
        assert!(msg.contains("pages of 10"), "{msg}");
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_scan_that_asks_for_the_head_afterwards_fails_the_consumer_case() {
        let msg = must_fail(Fault::ScansToALaterHead, |store: Broken| {
            consumers::every_event_once(
                store.clone(),
                consumers::Delayed(store),
                consumers::CatchUp,
            )
        })
        .await;
        assert!(msg.contains("never handled (skipped)"), "{msg}");
    }
}

/// The consumer case on the in-memory store, with the core `catch_up`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn catch_up_handles_every_event_once() {
    let store = InMemoryEventStore::new();
    es_testing::consumers::every_event_once(
        store.clone(),
        es_testing::consumers::Delayed(store),
        es_testing::consumers::CatchUp,
    )
    .await;
}

/// The engine as an in-memory consumer: a [`MemoryProjection`] of the
/// reporter, following commits.
fn memory_engine(
    store: InMemoryEventStore,
    handled: tokio::sync::mpsc::UnboundedSender<es_core::RecordedEvent>,
) -> (tokio::task::JoinHandle<()>, es_core::consumer::Progress) {
    let mut engine = es_core::consumer::Engine::new(
        store,
        es_core::consumer::MemoryProjection::new(es_testing::consumers::Reporter(handled)),
    )
    .batch_size(7);
    let progress = engine.progress();
    let task = tokio::spawn(async move {
        engine
            .run(std::future::pending())
            .await
            .expect("the engine stops only with an error");
    });
    (task, progress)
}

/// The consumer case on the in-memory store, with the engine.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_engine_handles_every_event_once() {
    let store = InMemoryEventStore::new();
    es_testing::consumers::every_event_once(
        store.clone(),
        es_testing::consumers::Delayed(store),
        |store, handled| memory_engine(store, handled).0,
    )
    .await;
}

/// The consumer case on the in-memory store, with a listener.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_listener_handles_every_event_once() {
    let store = InMemoryEventStore::new();
    es_testing::consumers::every_event_once(
        store.clone(),
        es_testing::consumers::Delayed(store),
        |store: InMemoryEventStore, handled: tokio::sync::mpsc::UnboundedSender<_>| {
            tokio::spawn(async move {
                let _listener = store.listen(
                    "consumer_conformance",
                    Some(es_testing::consumers::TYPES),
                    move |e| {
                        let _ = handled.send(e);
                        async { Ok(()) }
                    },
                );
                std::future::pending::<()>().await;
            })
        },
    )
    .await;
}

/// Read-your-writes on the in-memory store.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_engine_reads_its_writes() {
    let store = InMemoryEventStore::new();
    es_testing::consumers::reads_its_writes(
        store.clone(),
        es_testing::consumers::Delayed(store),
        memory_engine,
    )
    .await;
}
