//! The process store conformance suite on `InMemoryEventStore`, the
//! reference [`ProcessBackend`](es_core::process::ProcessBackend).

es_testing::process_store_conformance_tests!(async { es_core::InMemoryEventStore::new() });
