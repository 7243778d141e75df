//! The process manager conformance suite of `es-testing` (the shop's
//! checkout run by `ProcessRunner`) on PostgreSQL: a fresh database per
//! case, dropped afterwards.

mod common;

es_testing::process_conformance_tests!(common::conformance_store());
