//! `#[derive(ProcessManager)]`: the name, the event-type filter (as a
//! projection's), `receive` (decode a listed event, find its instance's key,
//! and route it to the `React<E>` impl), and the routes of rejections and
//! deadlines to `OnRejected` and `OnDeadline`.
//!
//! `#[derive(ProcessCommand)]`: the target aggregate of each variant, its
//! execution through a `Repository` of that aggregate, and `From<Inner>`.

use proc_macro2::TokenStream;
use quote::{quote, quote_spanned};
use syn::DeriveInput;
use syn::spanned::Spanned;

use crate::ast::process::{CommandItem, ProcessItem};
use crate::ctxt::Ctxt;
use crate::valid::process::{check_command, check_process};

impl<'a> super::Derive<'a> for ProcessItem<'a> {
    fn parse(cx: &Ctxt, input: &'a DeriveInput) -> Option<Self> {
        Self::from_ast(cx, input)
    }
    fn check(&self, cx: &Ctxt) {
        check_process(cx, self);
    }
    fn expand(&self) -> TokenStream {
        expand_process(self)
    }
    fn fallback(input: &DeriveInput, item: Option<Self>) -> TokenStream {
        fallback_process(input, item.as_ref())
    }
}

impl<'a> super::Derive<'a> for CommandItem<'a> {
    fn parse(cx: &Ctxt, input: &'a DeriveInput) -> Option<Self> {
        Self::from_ast(cx, input)
    }
    fn check(&self, cx: &Ctxt) {
        check_command(cx, self);
    }
    fn expand(&self) -> TokenStream {
        expand_command(self)
    }
    fn fallback(input: &DeriveInput, _: Option<Self>) -> TokenStream {
        fallback_command(input)
    }
}

fn expand_process(item: &ProcessItem<'_>) -> TokenStream {
    let ident = &item.input.ident;
    let name = &item.name;
    let commands = item
        .commands
        .as_ref()
        .expect("checked: `commands` is given");
    let events = &item
        .events
        .as_ref()
        .expect("checked: `events` is given")
        .list;
    let listed = super::listed_event_types(
        &format!("process manager `{name}`"),
        &events.iter().map(|e| &e.ty).collect::<Vec<_>>(),
    );
    let arms = super::keyed_arms(
        events,
        item.key.as_ref(),
        None,
        quote!(::es_core::process::Received),
    );
    let (deadline_ty, on_deadline) = match &item.deadlines {
        Some(ty) => (
            quote!(#ty),
            quote_spanned! {ty.span()=>
                <Self as ::es_core::process::OnDeadline>::deadline(self, deadline, then)
            },
        ),
        None => (
            quote!(::es_core::process::NoDeadline),
            quote! {
                let _ = then;
                match *deadline {}
            },
        ),
    };
    quote! {
        const _: () = {
            #listed

            #[automatically_derived]
            impl ::es_core::process::ProcessManager for #ident {
                const NAME: &'static str = #name;
                const EVENT_TYPES: &'static [&'static str] = &__NAMES;
                type Command = #commands;
                type Deadline = #deadline_ty;

                fn receive(
                    event: &::es_core::RecordedEvent,
                ) -> ::core::result::Result<
                    ::core::option::Option<::es_core::process::Received<Self>>,
                    ::es_core::DecodeError,
                > {
                    let event_type = ::std::string::String::as_str(&event.event_type);
                    #(#arms)*
                    ::core::result::Result::Ok(::core::option::Option::None)
                }

                fn on_rejected(
                    &mut self,
                    rejected: &::es_core::process::Rejected<Self::Command>,
                    then: &mut ::es_core::process::Then<Self>,
                ) {
                    <Self as ::es_core::process::OnRejected>::rejected(self, rejected, then)
                }

                fn on_deadline(
                    &mut self,
                    deadline: &Self::Deadline,
                    then: &mut ::es_core::process::Then<Self>,
                ) {
                    #on_deadline
                }
            }
        };
    }
}

fn expand_command(item: &CommandItem<'_>) -> TokenStream {
    let ident = &item.input.ident;
    let variants: Vec<_> = item
        .variants
        .iter()
        .map(|v| {
            let ty = v.ty.expect("checked: each variant wraps one type");
            let to = v.to.as_ref().expect("checked: each variant has `to`");
            (v.ident, ty, to)
        })
        .collect();
    let targets = variants.iter().map(
        |(v, _, to)| quote_spanned!(to.span()=> Self::#v(_) => <#to as ::es_core::Aggregate>::NAME),
    );
    let executions = variants.iter().map(|(v, ty, to)| {
        let repository = quote_spanned! {to.span()=>
            ::es_core::Repository::<#to, __S>::new(::core::clone::Clone::clone(store))
                .retry_on_conflict(::es_core::process::COMMAND_RETRIES)
                .execute_with::<#ty>(id, command, metadata)
        };
        quote! {
            Self::#v(command) => ::es_core::process::outcome(#repository.await)
        }
    });
    let froms = variants.iter().map(|(v, ty, _)| {
        quote! {
            #[automatically_derived]
            impl ::core::convert::From<#ty> for #ident {
                fn from(command: #ty) -> Self {
                    Self::#v(command)
                }
            }
        }
    });
    quote! {
        const _: () = {
            #[automatically_derived]
            impl ::es_core::process::ProcessCommand for #ident {
                fn aggregate(&self) -> &'static str {
                    match self {
                        #(#targets,)*
                    }
                }

                async fn execute<__S: ::es_core::EventStore + ::es_core::SnapshotStore>(
                    self,
                    store: &__S,
                    id: &str,
                    metadata: ::es_core::Metadata,
                ) -> ::core::result::Result<(), ::es_core::process::CommandFailure> {
                    match self {
                        #(#executions,)*
                    }
                }
            }

            #(#froms)*
        };
    }
}

/// A `ProcessManager` impl that compiles whatever the attributes said, so
/// its `React` impls and runners raise nothing more.
fn fallback_process(input: &DeriveInput, item: Option<&ProcessItem<'_>>) -> TokenStream {
    if matches!(input.data, syn::Data::Union(_)) || !input.generics.params.is_empty() {
        return TokenStream::new();
    }
    let ident = &input.ident;
    let commands = item
        .and_then(|i| i.commands.as_ref())
        .map_or_else(|| quote!(::es_core::__private::NoCommand), |c| quote!(#c));
    let deadlines = item
        .and_then(|i| i.deadlines.as_ref())
        .map_or_else(|| quote!(::es_core::process::NoDeadline), |d| quote!(#d));
    quote! {
        const _: () = {
            impl ::es_core::process::ProcessManager for #ident {
                const NAME: &'static str = "";
                const EVENT_TYPES: &'static [&'static str] = &[];
                type Command = #commands;
                type Deadline = #deadlines;
                fn receive(
                    _: &::es_core::RecordedEvent,
                ) -> ::core::result::Result<
                    ::core::option::Option<::es_core::process::Received<Self>>,
                    ::es_core::DecodeError,
                > {
                    ::core::unimplemented!()
                }
                fn on_rejected(&mut self, _: &::es_core::process::Rejected<Self::Command>, _: &mut ::es_core::process::Then<Self>) {
                    ::core::unimplemented!()
                }
                fn on_deadline(&mut self, _: &Self::Deadline, _: &mut ::es_core::process::Then<Self>) {
                    ::core::unimplemented!()
                }
            }
        };
    }
}

/// A `ProcessCommand` impl that compiles, for an enum.
fn fallback_command(input: &DeriveInput) -> TokenStream {
    if !matches!(input.data, syn::Data::Enum(_)) || !input.generics.params.is_empty() {
        return TokenStream::new();
    }
    let ident = &input.ident;
    quote! {
        const _: () = {
            impl ::es_core::process::ProcessCommand for #ident {
                fn aggregate(&self) -> &'static str {
                    ::core::unimplemented!()
                }
                async fn execute<__S: ::es_core::EventStore + ::es_core::SnapshotStore>(
                    self,
                    _: &__S,
                    _: &str,
                    _: ::es_core::Metadata,
                ) -> ::core::result::Result<(), ::es_core::process::CommandFailure> {
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
    fn process_manager() {
        let input = syn::parse_quote! {
            #[process(name = "checkout", commands = CheckoutCommand, deadlines = CheckoutDeadline,
                      key = order_id,
                      events(OrderPlaced, StockReserved(key = order), payments::Captured(key_with = payment_order)))]
            pub struct Checkout { step: Step }
        };
        insta::assert_snapshot!(pretty(super::super::run::<ProcessItem<'_>>(&input)));
    }

    #[test]
    fn process_manager_without_deadlines() {
        let input = syn::parse_quote! {
            #[process(commands = ShipCommand, key = order_id, events(OrderPaid))]
            struct Shipping;
        };
        insta::assert_snapshot!(pretty(super::super::run::<ProcessItem<'_>>(&input)));
    }

    #[test]
    fn process_command() {
        let input = syn::parse_quote! {
            pub enum CheckoutCommand {
                #[command(to = Stock)]
                Reserve(ReserveStock),
                #[command(to = orders::Order)]
                Cancel(CancelOrder),
            }
        };
        insta::assert_snapshot!(pretty(super::super::run::<CommandItem<'_>>(&input)));
    }

    #[test]
    fn mistakes_give_errors_and_a_stub() {
        let input = syn::parse_quote! {
            #[process(name = "check-out", events(A, A, B(key = id, key_with = f)))]
            pub struct Checkout;
        };
        insta::assert_snapshot!(pretty(super::super::run::<ProcessItem<'_>>(&input)));
    }
}
