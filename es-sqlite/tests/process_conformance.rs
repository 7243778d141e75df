//! The process manager conformance suite of `es-testing` (the shop's
//! checkout run by `ProcessRunner`) on SQLite: a fresh database file per
//! case, removed afterwards.

mod common;

es_testing::process_conformance_tests!(common::file_store("process-conformance"));
