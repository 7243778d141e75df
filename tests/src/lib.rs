//! Cross-crate integration tests live in `tests/`; this library only makes
//! the README's Rust code a doc test: every Rust block compiles, the ones
//! that need a PostgreSQL server as `no_run`, the others run
//! (`tests/readme_fences.rs` keeps `ignore` and unlabelled fences out).

#[cfg(doctest)]
#[doc = include_str!("../../README.md")]
pub struct ReadmeDoctests;
