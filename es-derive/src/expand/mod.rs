//! Code generation, one file per derive. Everything generated names
//! `::es_core::…`, `::core::…` or `::std::…` paths only, sits inside
//! `const _: () = { … };` and carries `#[automatically_derived]`.

pub(crate) mod aggregate;
pub(crate) mod event;
pub(crate) mod process;
pub(crate) mod projection;

use proc_macro2::TokenStream;
use syn::DeriveInput;

use crate::ctxt::Ctxt;

/// One derive's stages, run by [`run`]: parse the input into an item,
/// check it, then expand it; on a mistake, a stub for after the errors.
pub(crate) trait Derive<'a>: Sized {
    /// Parses the input, recording each mistake in `cx`; `None` when its
    /// shape is wrong (the mistake is recorded).
    fn parse(cx: &Ctxt, input: &'a DeriveInput) -> Option<Self>;
    /// Records each rule the parsed item breaks in `cx`.
    fn check(&self, cx: &Ctxt);
    /// The generated code, for an item that passed every check.
    fn expand(&self) -> TokenStream;
    /// What follows the compile errors: a stub impl, so one mistake does
    /// not cascade into unrelated errors.
    fn fallback(input: &DeriveInput, item: Option<Self>) -> TokenStream;
}

/// Parses, checks and expands; on a mistake, the errors (all of them, each
/// spanned) and the derive's stub.
pub(crate) fn run<'a, D: Derive<'a>>(input: &'a DeriveInput) -> TokenStream {
    let cx = Ctxt::new();
    let item = D::parse(&cx, input);
    if let Some(item) = &item {
        item.check(&cx);
    }
    match (cx.check(), item) {
        (Ok(()), Some(item)) => item.expand(),
        (Err(e), item) => {
            let mut out = e.to_compile_error();
            out.extend(D::fallback(input, item));
            out
        }
        (Ok(()), None) => unreachable!("the shape mistake was recorded"),
    }
}
