//! Stub impls emitted beside the errors of an invalid item, so the rest of
//! the user's code still type-checks and one typo does not cascade into
//! errors about missing `Event`, `Aggregate` or `Projection` impls.

use proc_macro2::TokenStream;
use quote::quote;
use syn::{Data, DeriveInput, Fields, Type};

/// `Event`, `ApplyEvents` and (for enums) `From<Inner>` impls that compile
/// whatever the attributes said.
pub(crate) fn event(input: &DeriveInput) -> TokenStream {
    if matches!(input.data, Data::Union(_)) {
        return TokenStream::new();
    }
    let ident = &input.ident;
    // A generic stub needs the trait's own bounds to be well-formed.
    let mut generics = input.generics.clone();
    if !generics.params.is_empty() {
        generics
            .make_where_clause()
            .predicates
            .push(syn::parse_quote!(
                Self: ::core::marker::Send + ::core::marker::Sync + 'static
            ));
    }
    let (impl_generics, ty_generics, where_clause) = generics.split_for_impl();
    let mut from_impls = Vec::new();
    if let Data::Enum(data) = &input.data {
        for v in &data.variants {
            if let Fields::Unnamed(f) = &v.fields
                && f.unnamed.len() == 1
            {
                let ty = &f.unnamed[0].ty;
                from_impls.push(quote! {
                    impl #impl_generics ::core::convert::From<#ty> for #ident #ty_generics #where_clause {
                        fn from(_: #ty) -> Self {
                            ::core::unimplemented!()
                        }
                    }
                });
            }
        }
    }
    let mut apply_generics = generics.clone();
    apply_generics
        .params
        .push(syn::parse_quote!(__A: ?::core::marker::Sized));
    let (apply_impl_generics, _, _) = apply_generics.split_for_impl();
    quote! {
        const _: () = {
            impl #impl_generics ::es_core::Event for #ident #ty_generics #where_clause {
                const EVENT_TYPES: &'static [::es_core::EventTypeInfo] = &[];
                fn event_type(&self) -> &'static str {
                    ::core::unimplemented!()
                }
                fn schema_version(&self) -> u32 {
                    ::core::unimplemented!()
                }
                fn encode(&self) -> ::core::result::Result<::std::vec::Vec<u8>, ::es_core::EncodeError> {
                    ::core::unimplemented!()
                }
                fn decode(_: &str, _: u32, _: &[u8]) -> ::core::result::Result<Self, ::es_core::DecodeError> {
                    ::core::unimplemented!()
                }
            }
            impl #apply_impl_generics ::es_core::__private::ApplyEvents<__A> for #ident #ty_generics #where_clause {
                fn apply_to(&self, _: &mut __A) {}
            }
            #(#from_impls)*
        };
    }
}

/// An `Aggregate` impl with the declared event type (or none).
pub(crate) fn aggregate(input: &DeriveInput, event: Option<&Type>) -> TokenStream {
    if matches!(input.data, Data::Union(_)) {
        return TokenStream::new();
    }
    let ident = &input.ident;
    let mut generics = input.generics.clone();
    if !generics.params.is_empty() {
        generics
            .make_where_clause()
            .predicates
            .push(syn::parse_quote!(
                Self: ::core::default::Default
                    + ::es_core::__private::serde::Serialize
                    + ::es_core::__private::serde::de::DeserializeOwned
                    + ::core::marker::Send
                    + ::core::marker::Sync
                    + 'static
            ));
    }
    let (impl_generics, ty_generics, where_clause) = generics.split_for_impl();
    let event = event.map_or_else(|| quote!(::es_core::__private::NoEvent), |t| quote!(#t));
    quote! {
        const _: () = {
            impl #impl_generics ::es_core::Aggregate for #ident #ty_generics #where_clause {
                const NAME: &'static str = "";
                const SNAPSHOT_VERSION: u32 = 1;
                type Event = #event;
                fn apply_event(&mut self, _: &Self::Event) {}
            }
        };
    }
}

/// `Projection` and `Dispatch<Ctx>` impls (for every context) that compile
/// whatever the attributes said, so calls to `catch_up` or a runner raise
/// nothing more.
pub(crate) fn projection(input: &DeriveInput) -> TokenStream {
    if matches!(input.data, Data::Union(_)) {
        return TokenStream::new();
    }
    let ident = &input.ident;
    let mut generics = input.generics.clone();
    if !generics.params.is_empty() {
        generics
            .make_where_clause()
            .predicates
            .push(syn::parse_quote!(Self: ::core::marker::Send + 'static));
    }
    let (impl_generics, ty_generics, where_clause) = generics.split_for_impl();
    let mut dispatch_generics = generics.clone();
    dispatch_generics
        .params
        .push(syn::parse_quote!(__Ctx: ?::core::marker::Sized + ::core::marker::Send));
    let (dispatch_impl_generics, _, _) = dispatch_generics.split_for_impl();
    quote! {
        const _: () = {
            impl #impl_generics ::es_core::Projection for #ident #ty_generics #where_clause {
                const NAME: &'static str = "";
                const EVENT_TYPES: &'static [&'static str] = &[];
            }
            impl #dispatch_impl_generics ::es_core::Dispatch<__Ctx> for #ident #ty_generics #where_clause {
                async fn dispatch(
                    &mut self,
                    _: &::es_core::RecordedEvent,
                    _: &mut __Ctx,
                ) -> ::core::result::Result<(), ::es_core::projection::ProjectionError> {
                    ::core::unimplemented!()
                }
            }
        };
    }
}
