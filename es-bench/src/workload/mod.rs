//! The workloads, one module each. Every one takes the environment (the
//! in-memory one only the scale) and returns its figures, framework against
//! raw sqlx; `main` runs those the command line asks for, in this order
//! (`growth` and `nats` only when named).

mod append;
mod cached;
mod catch_up;
mod commands;
mod dcb;
mod documents;
mod growth;
mod in_memory;
mod load;
mod nats;
mod partitions;
mod process;

pub(crate) use append::append;
pub(crate) use cached::cached;
pub(crate) use catch_up::catch_up;
pub(crate) use commands::commands;
pub(crate) use dcb::dcb;
pub(crate) use documents::documents;
pub(crate) use growth::{DEFAULT_SIZES, growth, label};
pub(crate) use in_memory::in_memory;
pub(crate) use load::load;
pub(crate) use nats::nats;
pub(crate) use partitions::partitions;
pub(crate) use process::process;
