//! The bank example's domain: a `BankAccount` aggregate, its events and its
//! commands.

pub mod domain;

pub use domain::*;
