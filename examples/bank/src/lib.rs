//! The bank example: a `BankAccount` aggregate with its events and commands
//! ([`domain`]), the `account_summary` read model ([`summary`]) and money
//! in dollars and cents ([`money`]).

pub mod domain;
pub mod money;
pub mod summary;

pub use domain::*;
pub use summary::AccountSummary;
