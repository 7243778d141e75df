//! Cross-crate integration tests live in `tests/`; this library only makes
//! the README's Rust code a doc test, so the quickstart always compiles and
//! runs.

#[cfg(doctest)]
#[doc = include_str!("../../README.md")]
pub struct ReadmeDoctests;
