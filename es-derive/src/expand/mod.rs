//! Code generation, one file per derive. Everything generated names
//! `::es_core::…`, `::core::…` or `::std::…` paths only, sits inside
//! `const _: () = { … };` and carries `#[automatically_derived]`.

pub(crate) mod aggregate;
pub(crate) mod event;
pub(crate) mod projection;
