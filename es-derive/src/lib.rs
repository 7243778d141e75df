//! Derive macros of the event-sourcing framework. Use them through `es_core`,
//! which re-exports each under its trait's name and documents its attributes.
//!
//! Every derive runs in three stages: `ast` parses the input (with `attr`
//! reading the attributes), `valid` checks the rules that span several
//! attributes, and `expand` writes the impls. All mistakes of one item are
//! gathered in one `ctxt::Ctxt` and reported together, beside a stub impl
//! (`fallback`) so one typo does not cascade into unrelated errors.

mod ast;
mod attr;
mod ctxt;
mod expand;
mod fallback;
mod fingerprint;
mod valid;

use proc_macro::TokenStream;
use syn::{DeriveInput, parse_macro_input};

/// Derives `es_core::Event`; see `es_core::Event` for the attribute keys.
///
/// `serde` is a helper attribute too, so an inline variant's fields take
/// `#[serde(…)]` without the enum deriving serde's traits.
#[proc_macro_derive(Event, attributes(event, serde, tag))]
pub fn derive_event(input: TokenStream) -> TokenStream {
    let input = parse_macro_input!(input as DeriveInput);
    expand::run::<ast::EventItem<'_>>(&input).into()
}

/// Derives `es_core::Aggregate`; see `es_core::Aggregate` for the attribute keys.
///
/// It also sets `STATE_FINGERPRINT`, a hash of the type's own definition
/// (field names, types as written, attributes; see `src/fingerprint.rs`), so a snapshot of another shape of the state is ignored.
/// A change inside a field's type is not part of it: raise
/// `snapshot_version` for that.
#[proc_macro_derive(Aggregate, attributes(aggregate))]
pub fn derive_aggregate(input: TokenStream) -> TokenStream {
    let input = parse_macro_input!(input as DeriveInput);
    expand::run::<ast::AggregateItem<'_>>(&input).into()
}

/// Derives `es_core::Projection` and `es_core::Dispatch`; see
/// `es_core::Projection` for the attribute keys.
#[proc_macro_derive(Projection, attributes(projection))]
pub fn derive_projection(input: TokenStream) -> TokenStream {
    let input = parse_macro_input!(input as DeriveInput);
    expand::run::<ast::ProjectionItem<'_>>(&input).into()
}

/// Derives `es_core::process::ProcessManager`; see
/// `es_core::process::ProcessManager` (the derive) for the attribute keys.
#[proc_macro_derive(ProcessManager, attributes(process))]
pub fn derive_process_manager(input: TokenStream) -> TokenStream {
    let input = parse_macro_input!(input as DeriveInput);
    expand::run::<ast::process::ProcessItem<'_>>(&input).into()
}

/// Derives `es_core::process::ProcessCommand` (and `From` each wrapped
/// command); see `es_core::process::ProcessCommand` (the derive).
#[proc_macro_derive(ProcessCommand, attributes(command))]
pub fn derive_process_command(input: TokenStream) -> TokenStream {
    let input = parse_macro_input!(input as DeriveInput);
    expand::run::<ast::process::CommandItem<'_>>(&input).into()
}

/// `#[derive(DecisionModel)]`: a decision model of consistency boundaries
/// by query (`es_core::dcb`) from `#[decision(events(…))]`, the fields
/// marked `#[tag]` that bind its query, and its `Apply<E>` impls.
#[proc_macro_derive(DecisionModel, attributes(decision, tag))]
pub fn derive_decision_model(input: TokenStream) -> TokenStream {
    let input = parse_macro_input!(input as DeriveInput);
    expand::run::<ast::decision::DecisionItem<'_>>(&input).into()
}

/// Derives `es_core::document::Document`; see `es_core::document::Document`
/// (the derive) for the attribute keys.
#[proc_macro_derive(Document, attributes(document))]
pub fn derive_document(input: TokenStream) -> TokenStream {
    let input = parse_macro_input!(input as DeriveInput);
    expand::run::<ast::document::DocumentItem<'_>>(&input).into()
}
