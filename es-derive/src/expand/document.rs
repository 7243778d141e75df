//! `#[derive(Document)]`: the name, the event-type filter, the indexed
//! fields, and `route` (decode a listed event, find its document's key,
//! hand it to the `Evolve<E>` impl).

use proc_macro2::TokenStream;
use quote::quote;
use syn::DeriveInput;

use crate::ast::document::DocumentItem;
use crate::ctxt::Ctxt;
use crate::valid::document::check_document;

impl<'a> super::Derive<'a> for DocumentItem<'a> {
    fn parse(cx: &Ctxt, input: &'a DeriveInput) -> Option<Self> {
        Self::from_ast(cx, input)
    }
    fn check(&self, cx: &Ctxt) {
        check_document(cx, self);
    }
    fn expand(&self) -> TokenStream {
        expand(self)
    }
    fn fallback(input: &DeriveInput, _: Option<Self>) -> TokenStream {
        fallback(input)
    }
}

fn expand(item: &DocumentItem<'_>) -> TokenStream {
    let ident = &item.input.ident;
    let name = &item.name;
    let events = &item
        .events
        .as_ref()
        .expect("checked: `events` is given")
        .list;
    let listed = super::listed_event_types(
        &format!("document `{name}`"),
        &events.iter().map(|e| &e.ty).collect::<Vec<_>>(),
    );
    let indexes = item.index.iter().map(ToString::to_string);
    let arms = super::keyed_arms(
        events,
        item.key.as_ref(),
        Some(quote!(::es_core::document::stream_key(event))),
        quote!(::es_core::document::Routed),
    );
    quote! {
        const _: () = {
            #listed

            #[automatically_derived]
            impl ::es_core::document::Document for #ident {
                const NAME: &'static str = #name;
                const EVENT_TYPES: &'static [&'static str] = &__NAMES;
                const INDEXES: &'static [&'static str] = &[#(#indexes),*];

                fn route(
                    event: &::es_core::RecordedEvent,
                ) -> ::core::result::Result<
                    ::core::option::Option<::es_core::document::Routed<Self>>,
                    ::es_core::DecodeError,
                > {
                    let event_type = ::std::string::String::as_str(&event.event_type);
                    #(#arms)*
                    ::core::result::Result::Ok(::core::option::Option::None)
                }
            }
        };
    }
}

/// A `Document` impl that compiles whatever the attributes said.
fn fallback(input: &DeriveInput) -> TokenStream {
    if !matches!(input.data, syn::Data::Struct(_)) || !input.generics.params.is_empty() {
        return TokenStream::new();
    }
    let ident = &input.ident;
    quote! {
        const _: () = {
            impl ::es_core::document::Document for #ident {
                const NAME: &'static str = "";
                const EVENT_TYPES: &'static [&'static str] = &[];
                const INDEXES: &'static [&'static str] = &[];
                fn route(
                    _: &::es_core::RecordedEvent,
                ) -> ::core::result::Result<
                    ::core::option::Option<::es_core::document::Routed<Self>>,
                    ::es_core::DecodeError,
                > {
                    ::core::unimplemented!()
                }
            }
        };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pretty(tokens: TokenStream) -> String {
        prettyplease::unparse(&syn::parse2(tokens).expect("the expansion parses as a file"))
    }

    #[test]
    fn document() {
        let input = syn::parse_quote! {
            #[document(name = "account_summary", index(owner_id, balance),
                       events(AccountOpened, MoneyDeposited, Transferred(key = to), Audit(key_with = audit_key)))]
            pub struct AccountSummary { owner_id: String, balance: i64 }
        };
        insta::assert_snapshot!(pretty(super::super::run::<DocumentItem<'_>>(&input)));
    }

    #[test]
    fn mistakes_give_errors_and_a_stub() {
        let input = syn::parse_quote! {
            #[document(index(owner, balance, balance), events(A, A))]
            pub struct Summary { balance: i64, #[serde(rename = "b")] renamed: i64 }
        };
        insta::assert_snapshot!(pretty(super::super::run::<DocumentItem<'_>>(&input)));
    }
}
