//! `#[derive(DecisionModel)]`: the query (the listed event types, with the
//! tags the `#[tag]` fields bind) and `apply` (decode a listed event, hand
//! it to the `Apply<E>` impl).

use proc_macro2::TokenStream;
use quote::{quote, quote_spanned};
use syn::DeriveInput;
use syn::spanned::Spanned;

use crate::ast::decision::DecisionItem;
use crate::ctxt::Ctxt;
use crate::valid::decision::check_decision;

impl<'a> super::Derive<'a> for DecisionItem<'a> {
    fn parse(cx: &Ctxt, input: &'a DeriveInput) -> Option<Self> {
        Self::from_ast(cx, input)
    }
    fn check(&self, cx: &Ctxt) {
        check_decision(cx, self);
    }
    fn expand(&self) -> TokenStream {
        expand(self)
    }
    fn fallback(input: &DeriveInput, _: Option<Self>) -> TokenStream {
        fallback(input)
    }
}

fn expand(item: &DecisionItem<'_>) -> TokenStream {
    let ident = &item.input.ident;
    let events = &item
        .events
        .as_ref()
        .expect("checked: `events` is given")
        .list;
    let types: Vec<&syn::Type> = events.iter().map(|e| &e.ty).collect();
    let listed = super::listed_event_types(&format!("decision model `{ident}`"), &types);
    let tags = item.tags.iter().map(|t| {
        let (kind, member) = (&t.kind, &t.member);
        quote_spanned!(t.ty_span=> ::es_core::dcb::Tag::of(#kind, &self.#member)?)
    });
    let arms = types.iter().map(|ty| {
        let apply = quote_spanned!(ty.span()=> <Self as ::es_core::Apply<#ty>>::apply);
        quote! {
            if <#ty as ::es_core::Event>::EVENT_TYPES.iter().any(|t| t.matches(event_type)) {
                let decoded: #ty = event.event.decode()?;
                #apply(self, &decoded);
                return ::core::result::Result::Ok(());
            }
        }
    });
    quote! {
        const _: () = {
            #listed

            #[automatically_derived]
            impl ::es_core::dcb::DecisionModel for #ident {
                fn query(&self) -> ::core::result::Result<::es_core::dcb::Query, ::es_core::dcb::InvalidTag> {
                    ::core::result::Result::Ok(::es_core::dcb::Query::item(
                        ::es_core::dcb::QueryItem::new()
                            .types(__NAMES)
                            .tags([#(#tags),*]),
                    ))
                }

                fn apply(
                    &mut self,
                    event: &::es_core::dcb::SequencedEvent,
                ) -> ::core::result::Result<(), ::es_core::DecodeError> {
                    let event_type = ::std::string::String::as_str(&event.event.event_type);
                    #(#arms)*
                    ::core::result::Result::Ok(())
                }
            }
        };
    }
}

/// A `DecisionModel` impl that compiles whatever the attributes said.
fn fallback(input: &DeriveInput) -> TokenStream {
    if !matches!(input.data, syn::Data::Struct(_)) || !input.generics.params.is_empty() {
        return TokenStream::new();
    }
    let ident = &input.ident;
    quote! {
        const _: () = {
            impl ::es_core::dcb::DecisionModel for #ident {
                fn query(&self) -> ::core::result::Result<::es_core::dcb::Query, ::es_core::dcb::InvalidTag> {
                    ::core::unimplemented!()
                }
                fn apply(
                    &mut self,
                    _: &::es_core::dcb::SequencedEvent,
                ) -> ::core::result::Result<(), ::es_core::DecodeError> {
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
    fn decision_model() {
        let input = syn::parse_quote! {
            #[decision(events(CourseDefined, CourseCapacityChanged, StudentSubscribed))]
            pub struct CourseCapacity {
                #[tag] pub course_id: String,
                pub capacity: u32,
                pub subscribed: u32,
            }
        };
        insta::assert_snapshot!(pretty(super::super::run::<DecisionItem<'_>>(&input)));
    }

    #[test]
    fn mistakes_give_errors_and_a_stub() {
        let input = syn::parse_quote! {
            #[decision(events(A, A, B(key = id)), name = "x")]
            pub struct Broken { #[tag] id: String }
        };
        insta::assert_snapshot!(pretty(super::super::run::<DecisionItem<'_>>(&input)));
    }
}
