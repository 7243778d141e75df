//! Derive macros of the event-sourcing framework. Use them through `es_core`,
//! which re-exports each under its trait's name. The derives arrive with the
//! derive issue; until then this crate exports nothing.
