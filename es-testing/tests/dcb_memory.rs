//! The DCB conformance suite on the in-memory store.

es_testing::dcb_conformance_tests!(async { es_core::InMemoryEventStore::new() });
