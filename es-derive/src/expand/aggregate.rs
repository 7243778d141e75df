//! `#[derive(Aggregate)]`: the name, the snapshot version, the state's
//! fingerprint, the event type and `apply_event`, which dispatches through
//! the event type's generated `ApplyEvents` impl so a missing `Apply<X>` is
//! an error naming `X`.

use proc_macro2::{Literal, Span, TokenStream};
use quote::{quote, quote_spanned};
use syn::DeriveInput;

use crate::ast::AggregateItem;
use crate::ctxt::Ctxt;
use crate::{fallback, fingerprint, valid};

impl<'a> super::Derive<'a> for AggregateItem<'a> {
    fn parse(cx: &Ctxt, input: &'a DeriveInput) -> Option<Self> {
        Self::from_ast(cx, input)
    }
    fn check(&self, cx: &Ctxt) {
        valid::check_aggregate(cx, self);
    }
    fn expand(&self) -> TokenStream {
        expand(self)
    }
    fn fallback(input: &DeriveInput, item: Option<Self>) -> TokenStream {
        fallback::aggregate(input, item.and_then(|i| i.event).as_ref())
    }
}

fn expand(item: &AggregateItem<'_>) -> TokenStream {
    let input = item.input;
    let ident = &input.ident;
    let name = &item.name;
    let snapshot_version = Literal::u32_unsuffixed(item.snapshot_version.value);
    let fingerprint = syn::LitInt::new(
        &format!("{:#018x}", fingerprint::state(input)),
        Span::call_site(),
    );
    let event = item
        .event
        .as_ref()
        .expect("checked by valid::check_event_given");
    let (impl_generics, ty_generics, where_clause) = input.generics.split_for_impl();
    // A generic aggregate is an aggregate for the parameters that make it
    // one; the bounds say so instead of guessing bounds on each parameter.
    let mut predicates: Vec<TokenStream> = where_clause
        .map(|w| w.predicates.iter().map(|p| quote!(#p)).collect())
        .unwrap_or_default();
    if !input.generics.params.is_empty() {
        predicates.push(quote! {
            Self: ::core::default::Default
                + ::es_core::__private::serde::Serialize
                + ::es_core::__private::serde::de::DeserializeOwned
                + ::core::marker::Send
                + ::core::marker::Sync
                + 'static,
            #event: ::es_core::__private::ApplyEvents<Self>
        });
    }
    let span = syn::spanned::Spanned::span(event);
    // Spanned on `event = …`, so a missing `Apply<X>` points at it.
    let dispatch = quote_spanned! {span=>
        <#event as ::es_core::__private::ApplyEvents<Self>>::apply_to(event, self)
    };
    quote! {
        const _: () = {
            #[automatically_derived]
            impl #impl_generics ::es_core::Aggregate for #ident #ty_generics
            where #(#predicates,)*
            {
                const NAME: &'static str = #name;
                const SNAPSHOT_VERSION: u32 = #snapshot_version;
                const STATE_FINGERPRINT: u64 = #fingerprint;
                type Event = #event;
                fn apply_event(&mut self, event: &#event) {
                    #dispatch
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
        super::super::run::<AggregateItem<'_>>(input)
    }

    fn pretty(tokens: TokenStream) -> String {
        prettyplease::unparse(&syn::parse2(tokens).expect("the expansion parses as a file"))
    }

    #[test]
    fn aggregate() {
        let input = syn::parse_quote! {
            #[aggregate(name = "BankAccount", event = AccountEvent, snapshot_version = 2)]
            pub struct BankAccount { balance: i64 }
        };
        insta::assert_snapshot!(pretty(derive(&input)));
    }

    #[test]
    fn generic_aggregate() {
        let input = syn::parse_quote! {
            #[aggregate(event = CounterEvent)]
            pub struct Counter<T> where T: Clone { value: T }
        };
        insta::assert_snapshot!(pretty(derive(&input)));
    }

    #[test]
    fn missing_event_and_bad_name() {
        let input = syn::parse_quote! {
            #[aggregate(name = "bank-account")]
            pub struct BankAccount { balance: i64 }
        };
        insta::assert_snapshot!(pretty(derive(&input)));
    }
}
