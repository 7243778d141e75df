//! Testing support for the event-sourcing framework: given/when/then
//! fixtures, the store conformance suite, and (feature `postgres`) a
//! per-test PostgreSQL database.

#[cfg(feature = "postgres")]
pub mod postgres;
