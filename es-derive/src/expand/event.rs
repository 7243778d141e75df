//! `#[derive(Event)]`: names, versions, encoding, decoding with upcasting,
//! the registry, `From<Inner>` and the apply dispatch.

use proc_macro2::{Literal, Span, TokenStream};
use quote::{format_ident, quote, quote_spanned};
use syn::{DeriveInput, Fields, Ident, Type};

use crate::ast::{EventDef, EventItem, EventKind, Variant};
use crate::attr::tag::TagField;
use crate::ctxt::Ctxt;
use crate::{fallback, valid};

impl<'a> super::Derive<'a> for EventItem<'a> {
    fn parse(cx: &Ctxt, input: &'a DeriveInput) -> Option<Self> {
        Self::from_ast(cx, input)
    }
    fn check(&self, cx: &Ctxt) {
        valid::check_event(cx, self);
    }
    fn expand(&self) -> TokenStream {
        expand(self)
    }
    fn fallback(input: &DeriveInput, _: Option<Self>) -> TokenStream {
        fallback::event(input)
    }
}

fn expand(item: &EventItem<'_>) -> TokenStream {
    match &item.kind {
        EventKind::Struct(def) => expand_struct(&item.input.ident, def),
        EventKind::Enum(variants) => expand_enum(&item.input.ident, variants),
    }
}

fn expand_struct(ident: &Ident, def: &EventDef) -> TokenStream {
    let name = &def.name;
    let version = Literal::u32_unsuffixed(def.version);
    let info = type_info(def);
    let decode = decode_versions(def, &quote!(Self), &quote!(::core::convert::identity));
    let tags = if def.tags.is_empty() {
        quote!()
    } else {
        let values = def.tags.iter().map(|t| {
            let member = &t.member;
            tag_of(t, &quote!(&self.#member))
        });
        quote! {
            fn tags(&self) -> ::core::result::Result<::std::vec::Vec<::es_core::dcb::Tag>, ::es_core::dcb::InvalidTag> {
                ::core::result::Result::Ok(::std::vec![#(#values),*])
            }
        }
    };
    quote! {
        const _: () = {
            #[automatically_derived]
            impl ::es_core::Event for #ident {
                const EVENT_TYPES: &'static [::es_core::EventTypeInfo] = &[#info];
                fn event_type(&self) -> &'static str {
                    #name
                }
                fn schema_version(&self) -> u32 {
                    #version
                }
                fn encode(&self) -> ::core::result::Result<::std::vec::Vec<u8>, ::es_core::EncodeError> {
                    ::es_core::__private::encode_checked::<Self, Self>(#name, #version, self)
                }
                fn decode(
                    event_type: &str,
                    schema_version: u32,
                    payload: &[u8],
                ) -> ::core::result::Result<Self, ::es_core::DecodeError> {
                    ::es_core::__private::check_known::<Self>(event_type, schema_version)?;
                    #decode
                }
                #tags
                ::es_core::__event_schemas!(struct);
            }

            #[automatically_derived]
            impl<__A: ::es_core::Apply<#ident> + ?Sized> ::es_core::__private::ApplyEvents<__A> for #ident {
                fn apply_to(&self, aggregate: &mut __A) {
                    <__A as ::es_core::Apply<#ident>>::apply(aggregate, self)
                }
            }
        };
    }
}

/// `Tag::of(kind, value)?`, spanned on the field's type (where a value
/// without `Display` is reported).
fn tag_of(t: &TagField, value: &TokenStream) -> TokenStream {
    let kind = &t.kind;
    quote_spanned!(t.ty_span=> ::es_core::dcb::Tag::of(#kind, #value)?)
}

fn type_info(def: &EventDef) -> TokenStream {
    let name = &def.name;
    let version = Literal::u32_unsuffixed(def.version);
    let aliases = &def.aliases;
    quote!(::es_core::EventTypeInfo::new(#name, #version, &[#(#aliases),*]))
}

/// How a stored version reaches the current type.
enum Step<'a> {
    With(&'a syn::Path),
    Via(&'a Type),
}

fn step_at(def: &EventDef, version: u32) -> Option<Step<'_>> {
    def.upcasts
        .iter()
        .find(|u| u.from.is_some_and(|f| f.value == version))
        .and_then(|u| match (&u.with, &u.via) {
            (Some(p), None) => Some(Step::With(p)),
            (None, Some(t)) => Some(Step::Via(t)),
            _ => None,
        })
}

/// A `match schema_version { … }` that decodes `payload` into `Result<Self,
/// DecodeError>`. `current` is the type the current version decodes as, and
/// `finish` turns it into `Self`. Versions without a declared step, and the
/// current one, decode straight from the bytes.
fn decode_versions(def: &EventDef, current: &TokenStream, finish: &TokenStream) -> TokenStream {
    let name = &def.name;
    let mut arms = Vec::new();
    for k in 1..def.version {
        let lit = Literal::u32_unsuffixed(k);
        let body = match step_at(def, k) {
            None => continue,
            Some(Step::Via(ty)) => via(
                name,
                k,
                ty,
                &quote!(::es_core::__private::decode_json),
                &quote!(payload),
            ),
            Some(Step::With(_)) => {
                let mut fns = Vec::new();
                let mut end = k;
                while let Some(Step::With(path)) = step_at(def, end) {
                    fns.push(quote_spanned!(path_span(path)=> #path));
                    end += 1;
                }
                let end_lit = Literal::u32_unsuffixed(end);
                let tail = match step_at(def, end) {
                    Some(Step::Via(ty)) if end < def.version => via(
                        name,
                        end,
                        ty,
                        &quote!(::es_core::__private::decode_value),
                        &quote!(value),
                    ),
                    _ => quote! {
                        ::core::result::Result::map(
                            ::es_core::__private::decode_value::<#current>(#name, #end_lit, value),
                            #finish,
                        )
                    },
                };
                quote! {{
                    let value = ::es_core::__private::parse_value(#name, #lit, payload)?;
                    let steps: &[::es_core::__private::UpcastFn] = &[#(#fns),*];
                    let value = ::es_core::__private::run_steps(#name, #lit, value, steps)?;
                    #tail
                }}
            }
        };
        arms.push(quote!(#lit => #body,));
    }
    let direct = quote! {
        ::core::result::Result::map(
            ::es_core::__private::decode_json::<#current>(#name, schema_version, payload),
            #finish,
        )
    };
    if arms.is_empty() {
        return direct;
    }
    quote! {
        match schema_version {
            #(#arms)*
            _ => #direct,
        }
    }
}

fn via(
    name: &str,
    version: u32,
    ty: &Type,
    decode: &TokenStream,
    input: &TokenStream,
) -> TokenStream {
    let lit = Literal::u32_unsuffixed(version);
    let span = syn::spanned::Spanned::span(ty);
    let into = quote_spanned!(span=> ::core::convert::Into::into);
    quote! {
        ::core::result::Result::map(#decode::<#ty>(#name, #lit, #input), #into)
    }
}

fn path_span(path: &syn::Path) -> Span {
    syn::spanned::Spanned::span(path)
}

/// The hidden payload structs of an inline variant: one borrowing (to
/// encode), one owning (to decode). Field `#[serde(…)]` attributes carry over.
struct Inline<'a> {
    variant: &'a Ident,
    fields: &'a Fields,
    enc: Ident,
    dec: Ident,
}

impl Inline<'_> {
    fn structs(&self) -> TokenStream {
        let (enc, dec) = (&self.enc, &self.dec);
        let serde = quote! {
            #[serde(crate = "::es_core::__private::serde")]
        };
        let keep = |f: &syn::Field| -> Vec<syn::Attribute> {
            f.attrs
                .iter()
                .filter(|a| a.path().is_ident("serde"))
                .cloned()
                .collect()
        };
        match self.fields {
            Fields::Named(named) => {
                let attrs: Vec<_> = named.named.iter().map(keep).collect();
                let names: Vec<_> = named.named.iter().map(|f| &f.ident).collect();
                let tys: Vec<_> = named.named.iter().map(|f| &f.ty).collect();
                let (lt, lt_ref) = if names.is_empty() {
                    (quote!(), quote!())
                } else {
                    (quote!(<'__a>), quote!(&'__a))
                };
                quote! {
                    #[derive(::es_core::__private::serde::Serialize)]
                    #serde
                    struct #enc #lt { #( #(#attrs)* #names: #lt_ref #tys, )* }
                    #[derive(::es_core::__private::serde::Deserialize)]
                    #serde
                    struct #dec { #( #(#attrs)* #names: #tys, )* }
                }
            }
            Fields::Unnamed(unnamed) => {
                let attrs: Vec<_> = unnamed.unnamed.iter().map(keep).collect();
                let tys: Vec<_> = unnamed.unnamed.iter().map(|f| &f.ty).collect();
                quote! {
                    #[derive(::es_core::__private::serde::Serialize)]
                    #serde
                    struct #enc<'__a>( #( #(#attrs)* &'__a #tys, )* );
                    #[derive(::es_core::__private::serde::Deserialize)]
                    #serde
                    struct #dec( #( #(#attrs)* #tys, )* );
                }
            }
            Fields::Unit => quote! {
                #[derive(::es_core::__private::serde::Serialize)]
                #serde
                struct #enc {}
                #[derive(::es_core::__private::serde::Deserialize)]
                #serde
                struct #dec {}
            },
        }
    }

    /// `(pattern, payload value)` for `encode`.
    fn encode_parts(&self) -> (TokenStream, TokenStream) {
        let (variant, enc) = (self.variant, &self.enc);
        match self.fields {
            Fields::Named(named) => {
                let names: Vec<_> = named.named.iter().map(|f| &f.ident).collect();
                (
                    quote!(Self::#variant { #(#names),* }),
                    quote!(#enc { #(#names),* }),
                )
            }
            Fields::Unnamed(unnamed) => {
                let vars: Vec<_> = (0..unnamed.unnamed.len())
                    .map(|i| format_ident!("__f{}", i))
                    .collect();
                (quote!(Self::#variant(#(#vars),*)), quote!(#enc(#(#vars),*)))
            }
            Fields::Unit => (quote!(Self::#variant), quote!(#enc {})),
        }
    }

    /// A closure from the decoded hidden struct to the variant.
    fn finish(&self) -> TokenStream {
        let (variant, dec) = (self.variant, &self.dec);
        match self.fields {
            Fields::Named(named) => {
                let names: Vec<_> = named.named.iter().map(|f| &f.ident).collect();
                quote!(|d: #dec| Self::#variant { #(#names: d.#names),* })
            }
            Fields::Unnamed(unnamed) => {
                let idx = (0..unnamed.unnamed.len()).map(syn::Index::from);
                quote!(|d: #dec| Self::#variant(#(d.#idx),*))
            }
            Fields::Unit => quote!(|_: #dec| Self::#variant),
        }
    }

    /// The `tags` arm: the variant's `#[tag]` fields bound by name (or
    /// position), the others left out.
    fn tag_arm(&self, tags: &[TagField]) -> TokenStream {
        let variant = self.variant;
        let bound: Vec<Ident> = (0..tags.len())
            .map(|i| format_ident!("__tag{}", i))
            .collect();
        let values = tags.iter().zip(&bound).map(|(t, b)| tag_of(t, &quote!(#b)));
        let pattern = match self.fields {
            Fields::Named(_) => {
                let names = tags.iter().map(|t| &t.member);
                quote!(Self::#variant { #(#names: #bound,)* .. })
            }
            Fields::Unnamed(unnamed) => {
                let slots = (0..unnamed.unnamed.len()).map(|i| {
                    match tags.iter().position(
                        |t| matches!(&t.member, syn::Member::Unnamed(n) if n.index as usize == i),
                    ) {
                        Some(k) => {
                            let b = &bound[k];
                            quote!(#b)
                        }
                        None => quote!(_),
                    }
                });
                quote!(Self::#variant(#(#slots),*))
            }
            Fields::Unit => quote!(Self::#variant),
        };
        quote!(#pattern => ::core::result::Result::Ok(::std::vec![#(#values),*]),)
    }

    fn pattern(&self) -> TokenStream {
        let variant = self.variant;
        match self.fields {
            Fields::Named(_) => quote!(Self::#variant { .. }),
            Fields::Unnamed(_) => quote!(Self::#variant(..)),
            Fields::Unit => quote!(Self::#variant),
        }
    }
}

fn expand_enum(ident: &Ident, variants: &[Variant<'_>]) -> TokenStream {
    let mut structs = Vec::new();
    let mut parts = Vec::new();
    let mut type_arms = Vec::new();
    let mut version_arms = Vec::new();
    let mut encode_arms = Vec::new();
    let mut decode_steps = Vec::new();
    let mut from_impls = Vec::new();
    let mut apply_bounds: Vec<TokenStream> = Vec::new();
    let mut apply_arms = Vec::new();
    let mut tag_arms = Vec::new();
    let mut has_inline = false;
    // The wrapped types, whose schemas the enum's `event_schemas` lists.
    let mut wrapped: Vec<&Type> = Vec::new();

    for v in variants {
        match v {
            Variant::Wrap { ident: var, ty } => {
                wrapped.push(ty);
                let event = quote!(<#ty as ::es_core::Event>);
                parts.push(quote!(#event::EVENT_TYPES));
                type_arms.push(quote!(Self::#var(e) => ::es_core::Event::event_type(e),));
                tag_arms.push(quote!(Self::#var(e) => ::es_core::Event::tags(e),));
                version_arms.push(quote!(Self::#var(e) => ::es_core::Event::schema_version(e),));
                encode_arms.push(quote!(Self::#var(e) => ::es_core::Event::encode(e),));
                decode_steps.push(quote! {
                    if #event::EVENT_TYPES.iter().any(|t| t.matches(event_type)) {
                        return ::core::result::Result::map(
                            #event::decode(event_type, schema_version, payload),
                            Self::#var,
                        );
                    }
                });
                from_impls.push(quote! {
                    #[automatically_derived]
                    impl ::core::convert::From<#ty> for #ident {
                        fn from(event: #ty) -> Self {
                            Self::#var(event)
                        }
                    }
                });
                let span = syn::spanned::Spanned::span(ty);
                apply_bounds.push(quote_spanned!(span=> ::es_core::Apply<#ty>));
                apply_arms.push(
                    quote!(Self::#var(e) => <__A as ::es_core::Apply<#ty>>::apply(aggregate, e),),
                );
            }
            Variant::Inline {
                ident: var,
                fields,
                def,
            } => {
                has_inline = true;
                let inline = Inline {
                    variant: var,
                    fields,
                    enc: format_ident!("__Encode{}", var),
                    dec: format_ident!("__Decode{}", var),
                };
                structs.push(inline.structs());
                let info = type_info(def);
                parts.push(quote!(&[#info]));
                let name = &def.name;
                let version = Literal::u32_unsuffixed(def.version);
                let pat = inline.pattern();
                tag_arms.push(inline.tag_arm(&def.tags));
                type_arms.push(quote!(#pat => #name,));
                version_arms.push(quote!(#pat => #version,));
                let (bind, payload) = inline.encode_parts();
                let dec = &inline.dec;
                encode_arms.push(quote!(
                    #bind => ::es_core::__private::encode_checked::<#dec, _>(#name, #version, &#payload),
                ));
                let decode = decode_versions(def, &quote!(#dec), &inline.finish());
                let aliases = &def.aliases;
                decode_steps.push(quote! {
                    if ::es_core::__private::matches_name(event_type, #name, &[#(#aliases),*]) {
                        ::es_core::__private::check_version(&#info, event_type, schema_version)?;
                        return #decode;
                    }
                });
                apply_arms.push(
                    quote!(#pat => <__A as ::es_core::Apply<#ident>>::apply(aggregate, self),),
                );
            }
        }
    }
    if has_inline {
        apply_bounds.push(quote!(::es_core::Apply<#ident>));
    }
    let duplicate = format!("two variants of `{ident}` decode the event type `");
    let duplicate_end = "`; each stored name (or alias) must belong to one variant";

    quote! {
        const _: () = {
            #(#structs)*

            const __PARTS: &[&[::es_core::EventTypeInfo]] = &[#(#parts),*];
            const __TYPES: [::es_core::EventTypeInfo; ::es_core::__private::count_event_types(__PARTS)] =
                ::es_core::__private::concat_event_types(__PARTS);
            const _: () = if let ::core::option::Option::Some(name) = ::es_core::__private::duplicate_name(&__TYPES) {
                let message = ::es_core::__private::ConstMessage::new(&[#duplicate, name, #duplicate_end]);
                ::core::panic!("{}", message.as_str())
            };

            #[automatically_derived]
            impl ::es_core::Event for #ident {
                const EVENT_TYPES: &'static [::es_core::EventTypeInfo] = &__TYPES;
                fn event_type(&self) -> &'static str {
                    match self { #(#type_arms)* }
                }
                fn schema_version(&self) -> u32 {
                    match self { #(#version_arms)* }
                }
                fn encode(&self) -> ::core::result::Result<::std::vec::Vec<u8>, ::es_core::EncodeError> {
                    match self { #(#encode_arms)* }
                }
                fn decode(
                    event_type: &str,
                    schema_version: u32,
                    payload: &[u8],
                ) -> ::core::result::Result<Self, ::es_core::DecodeError> {
                    #(#decode_steps)*
                    ::core::result::Result::Err(::es_core::__private::unknown_event_type::<Self>(event_type))
                }
                fn tags(&self) -> ::core::result::Result<::std::vec::Vec<::es_core::dcb::Tag>, ::es_core::dcb::InvalidTag> {
                    match self { #(#tag_arms)* }
                }
                ::es_core::__event_schemas!(enum [#(#wrapped),*]);
            }

            #(#from_impls)*

            #[automatically_derived]
            impl<__A: ?::core::marker::Sized> ::es_core::__private::ApplyEvents<__A> for #ident
            where
                __A: #(#apply_bounds)+*
            {
                fn apply_to(&self, aggregate: &mut __A) {
                    match self { #(#apply_arms)* }
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
        super::super::run::<EventItem<'_>>(input)
    }

    fn pretty(tokens: TokenStream) -> String {
        prettyplease::unparse(&syn::parse2(tokens).expect("the expansion parses as a file"))
    }

    #[test]
    fn struct_with_defaults() {
        let input = syn::parse_quote! {
            pub struct AccountOpened { pub owner_id: String, pub initial_deposit: i64 }
        };
        insta::assert_snapshot!(pretty(derive(&input)));
    }

    #[test]
    fn struct_with_each_upcast_form() {
        let input = syn::parse_quote! {
            #[event(name = "MoneyDeposited", version = 4, alias = "Deposited",
                    upcast(from = 1, with = v1_to_v2),
                    upcast(from = 2, with = v2_to_v3),
                    upcast(from = 3, via = MoneyDepositedV3))]
            pub struct MoneyDeposited { pub amount: i64, pub description: String, pub category: String }
        };
        insta::assert_snapshot!(pretty(derive(&input)));
    }

    #[test]
    fn with_chain_ending_in_via() {
        let input = syn::parse_quote! {
            #[event(version = 3, upcast(from = 1, with = v1_to_v2), upcast(from = 2, via = V2))]
            pub struct Renamed { pub to: String }
        };
        insta::assert_snapshot!(pretty(derive(&input)));
    }

    #[test]
    fn enum_with_both_variant_kinds() {
        let input = syn::parse_quote! {
            pub enum AccountEvent {
                Opened(AccountOpened),
                Deposited(MoneyDeposited),
                #[event(name = "AccountFrozen", version = 2, upcast(from = 1, with = frozen_v1))]
                Frozen { reason: String, #[serde(default)] until: Option<u64> },
                Pinged(u64, u64),
                Closed,
            }
        };
        insta::assert_snapshot!(pretty(derive(&input)));
    }

    #[test]
    fn tags_from_fields() {
        let input = syn::parse_quote! {
            pub struct StudentSubscribed {
                #[tag] pub course_id: String,
                #[tag("student")] pub who: String,
                pub at: u64,
            }
        };
        insta::assert_snapshot!(pretty(derive(&input)));
    }

    #[test]
    fn enum_with_tagged_variants() {
        let input = syn::parse_quote! {
            pub enum CourseEvent {
                Defined(CourseDefined),
                Renamed { #[tag] course_id: String, name: String },
                Moved(u32, #[tag("room")] String),
            }
        };
        insta::assert_snapshot!(pretty(derive(&input)));
    }

    #[test]
    fn mistakes_give_errors_and_a_stub() {
        let input = syn::parse_quote! {
            #[event(verion = 2, version = 0, upcast(from = 3, with = f, via = T))]
            pub struct Broken { pub x: i64 }
        };
        insta::assert_snapshot!(pretty_errors(derive(&input)));
    }

    /// Errors become `compile_error!` items, which `syn::File` parses.
    fn pretty_errors(tokens: TokenStream) -> String {
        pretty(tokens)
    }
}
