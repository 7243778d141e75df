//! The document store conformance suite on `InMemoryEventStore`, the
//! reference [`DocumentBackend`](es_core::document::DocumentBackend).

es_testing::document_store_conformance_tests!(async { es_core::InMemoryEventStore::new() });
