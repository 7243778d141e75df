//! Code generation, one file per derive. Everything generated names
//! `::es_core::…`, `::core::…` or `::std::…` paths only, sits inside
//! `const _: () = { … };` and carries `#[automatically_derived]`.

pub(crate) mod aggregate;
pub(crate) mod decision;
pub(crate) mod document;
pub(crate) mod event;
pub(crate) mod process;
pub(crate) mod projection;

use proc_macro2::TokenStream;
use quote::{quote, quote_spanned};
use syn::DeriveInput;
use syn::spanned::Spanned;

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

/// The constants of a consumer's listed event types, for inside its
/// `const _: () = { … }` block: `__PARTS` (each type's `EVENT_TYPES`, in the
/// listed order, spanned on the type so "not an `Event`" points at it),
/// `__NAMES` (every name and alias: the store filter), and a compile-time
/// check that no stored name is read through two of the types. `who` names
/// the consumer in that check's message (`projection `order_details``).
pub(crate) fn listed_event_types(who: &str, types: &[&syn::Type]) -> TokenStream {
    let parts = types
        .iter()
        .map(|ty| quote_spanned!(ty.span()=> <#ty as ::es_core::Event>::EVENT_TYPES));
    let duplicate = format!("{who} reads the event type `");
    let duplicate_end = "` through two of the types in `events(…)`; an event enum already covers the types its variants wrap, so list one or the other";
    quote! {
        const __PARTS: &[&[::es_core::EventTypeInfo]] = &[#(#parts),*];
        const __N: usize = ::es_core::__private::count_type_names(__PARTS);
        const __NAMES: [&str; __N] = ::es_core::__private::concat_type_names::<__N>(__PARTS);
        const __TYPES: [::es_core::EventTypeInfo; ::es_core::__private::count_event_types(__PARTS)] =
            ::es_core::__private::concat_event_types(__PARTS);
        const _: () = if let ::core::option::Option::Some(name) = ::es_core::__private::duplicate_name(&__TYPES) {
            let message = ::es_core::__private::ConstMessage::new(&[#duplicate, name, #duplicate_end]);
            ::core::panic!("{}", message.as_str())
        };
    }
}

/// The arms of a keyed consumer's `route`/`receive`: for each listed type,
/// when the stored name is one of its names, decode it, compute its key
/// (`key_with` function, else its own `key` field, else `default_key`
/// field, else `fallback`) and return `wrapper::<Self>::new::<Type>(key,
/// recorded)`. `fallback` is `None` where the checks require a key.
pub(crate) fn keyed_arms(
    events: &[crate::attr::process::ListedEvent],
    default_key: Option<&syn::Ident>,
    fallback: Option<TokenStream>,
    wrapper: TokenStream,
) -> Vec<TokenStream> {
    events
        .iter()
        .enumerate()
        .map(|(i, e)| {
            let ty = &e.ty;
            let key = match (&e.key_with, e.key.as_ref().or(default_key)) {
                (Some(f), _) => quote_spanned! {f.span()=>
                    ::core::convert::Into::<::std::string::String>::into(#f(&recorded))
                },
                (None, Some(field)) => quote_spanned! {field.span()=>
                    ::std::string::ToString::to_string(&recorded.event.#field)
                },
                (None, None) => fallback.clone().expect("checked: every event has a key"),
            };
            // The wrapper's path takes the type's span too, so a missing
            // handler points at the listed type alone.
            let wrapper: TokenStream = wrapper
                .clone()
                .into_iter()
                .map(|mut tt| {
                    tt.set_span(ty.span());
                    tt
                })
                .collect();
            let wrapped = quote_spanned! {ty.span()=>
                #wrapper::<Self>::new::<#ty>(key, recorded)
            };
            quote! {
                if ::es_core::__private::type_matches(__PARTS[#i], event_type) {
                    let recorded = ::es_core::Recorded::<#ty>::decode(event)?;
                    let key: ::std::string::String = #key;
                    return ::core::result::Result::Ok(::core::option::Option::Some(#wrapped));
                }
            }
        })
        .collect()
}
