//! The process manager conformance suite on the in-memory store.

es_testing::process_conformance_tests!(async { es_core::InMemoryEventStore::new() });
