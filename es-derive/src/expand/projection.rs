//! `#[derive(Projection)]`: the name, the event-type filter (every name and
//! alias of each listed type, computed at compile time) and the dispatch of a
//! recorded event to the `On<E, Ctx>` handler of the listed type that reads it.
//!
//! `Dispatch<Ctx>` is implemented for every context `Ctx` the projection
//! handles all its listed types in: the derive cannot know whether it will
//! run in memory (`()`) or in a database transaction, so a missing handler
//! surfaces where a `Dispatch<Ctx>` is required (a runner, `catch_up`), as
//! `On`'s "projection `P` has no handler for `E`".

use proc_macro2::TokenStream;
use quote::{quote, quote_spanned};
use syn::spanned::Spanned;
use syn::{DeriveInput, Type};

use crate::ast::ProjectionItem;
use crate::ctxt::Ctxt;
use crate::{fallback, valid};

impl<'a> super::Derive<'a> for ProjectionItem<'a> {
    fn parse(cx: &Ctxt, input: &'a DeriveInput) -> Option<Self> {
        Self::from_ast(cx, input)
    }
    fn check(&self, cx: &Ctxt) {
        valid::check_projection(cx, self);
    }
    fn expand(&self) -> TokenStream {
        expand(self)
    }
    fn fallback(input: &DeriveInput, _: Option<Self>) -> TokenStream {
        fallback::projection(input)
    }
}

fn expand(item: &ProjectionItem<'_>) -> TokenStream {
    let input = item.input;
    let ident = &input.ident;
    let name = &item.name;
    let events: &[Type] = &item
        .events
        .as_ref()
        .expect("checked by valid::check_events_listed")
        .types;
    let (impl_generics, ty_generics, where_clause) = input.generics.split_for_impl();
    let mut predicates: Vec<TokenStream> = where_clause
        .map(|w| w.predicates.iter().map(|p| quote!(#p)).collect())
        .unwrap_or_default();
    if !input.generics.params.is_empty() {
        // `Projection: Send + 'static`; the bound says so for the parameters
        // that make it true instead of guessing bounds on each.
        predicates.push(quote!(Self: ::core::marker::Send + 'static));
    }

    let listed = super::listed_event_types(
        &format!("projection `{name}`"),
        &events.iter().collect::<Vec<_>>(),
    );
    // `#ty: Event` here, not only in the body: a listed type that is not an
    // event is then reported once for the impl, not again for each use.
    let handlers = events.iter().map(
        |ty| quote_spanned!(ty.span()=> #ty: ::es_core::Event, Self: ::es_core::On<#ty, __Ctx>),
    );
    let arms = events.iter().enumerate().map(|(i, ty)| {
        quote! {
            if ::es_core::__private::type_matches(__PARTS[#i], event_type) {
                return ::es_core::__private::dispatch_to::<Self, #ty, __Ctx>(self, event, ctx).await;
            }
        }
    });

    let mut dispatch_generics = input.generics.clone();
    dispatch_generics
        .params
        .push(syn::parse_quote!(__Ctx: ?::core::marker::Sized + ::core::marker::Send));
    let (dispatch_impl_generics, _, _) = dispatch_generics.split_for_impl();

    quote! {
        const _: () = {
            #listed

            #[automatically_derived]
            impl #impl_generics ::es_core::Projection for #ident #ty_generics
            where #(#predicates,)*
            {
                const NAME: &'static str = #name;
                const EVENT_TYPES: &'static [&'static str] = &__NAMES;
            }

            #[automatically_derived]
            impl #dispatch_impl_generics ::es_core::Dispatch<__Ctx> for #ident #ty_generics
            where
                #(#predicates,)*
                #(#handlers,)*
            {
                async fn dispatch(
                    &mut self,
                    event: &::es_core::RecordedEvent,
                    ctx: &mut __Ctx,
                ) -> ::core::result::Result<(), ::es_core::projection::ProjectionError> {
                    let event_type = ::std::string::String::as_str(&event.event_type);
                    #(#arms)*
                    // Not a listed type: a store without the type filter, or a
                    // name no listed type reads any more.
                    ::core::result::Result::Ok(())
                }
            }
        };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The whole derive: parse, check, expand (or errors and a stub).
    fn derive(input: &DeriveInput) -> TokenStream {
        super::super::run::<ProjectionItem<'_>>(input)
    }

    fn pretty(tokens: TokenStream) -> String {
        prettyplease::unparse(&syn::parse2(tokens).expect("the expansion parses as a file"))
    }

    #[test]
    fn projection() {
        let input = syn::parse_quote! {
            #[projection(name = "order_details", events(OrderPlaced, shipping::ShippingEvent))]
            pub struct OrderDetails { orders: Vec<Order> }
        };
        insta::assert_snapshot!(pretty(derive(&input)));
    }

    #[test]
    fn generic_projection_with_default_name() {
        let input = syn::parse_quote! {
            #[projection(events(Deposited))]
            pub struct AccountTotals<S> where S: Clone { sink: S }
        };
        insta::assert_snapshot!(pretty(derive(&input)));
    }

    #[test]
    fn mistakes_give_errors_and_a_stub() {
        let input = syn::parse_quote! {
            #[projection(name = "order details", event(OrderPlaced), events(A, A))]
            pub struct OrderDetails;
        };
        // The errors are `compile_error!` items, which `syn::File` parses.
        insta::assert_snapshot!(pretty(derive(&input)));
    }
}
