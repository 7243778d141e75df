//! The orders example's domain: the `Order` aggregate, its events and
//! commands.

pub mod domain;

pub use domain::*;
