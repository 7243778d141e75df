//! The store conformance suite of `es-testing`, on PostgreSQL: a fresh
//! database per case, dropped afterwards (also when the case failed).

mod common;

es_testing::store_conformance_tests!(common::conformance_store());
