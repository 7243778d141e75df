//! The rules of `#[derive(ProcessManager)]` and `#[derive(ProcessCommand)]`.

use quote::ToTokens;

use super::{check_consumer_name, check_unique_types};
use crate::ast::process::{CommandItem, ProcessItem};
use crate::ctxt::Ctxt;

/// Every rule of `#[derive(ProcessManager)]`.
pub(crate) fn check_process(cx: &Ctxt, item: &ProcessItem<'_>) {
    // `-` would make its own streams (`{name}-{key}`) ambiguous.
    check_consumer_name(
        cx,
        "process manager",
        &item.name,
        item.name_span,
        &['_', '.'],
    );
    check_not_generic(cx, item.input, "a process manager");
    if item.commands.is_none() {
        cx.error_spanned_by(
            &item.input.ident,
            "missing `commands = …`: the enum of the commands this process manager sends (`#[derive(ProcessCommand)]`), e.g. `#[process(commands = CheckoutCommand, …)]`",
        );
    }
    let Some(events) = &item.events else {
        cx.error_spanned_by(
            &item.input.ident,
            "missing `events(…)`: list the event types this process manager reacts to, e.g. `#[process(key = order_id, events(OrderPlaced, StockReserved))]`",
        );
        return;
    };
    if events.list.is_empty() {
        cx.error_at(
            events.span,
            "`events()` is empty: list at least one event type, e.g. `events(OrderPlaced)`",
        );
    }
    let types: Vec<syn::Type> = events.list.iter().map(|e| e.ty.clone()).collect();
    check_unique_types(cx, &types);
    let mut seen: Vec<String> = Vec::new();
    for listed in &events.list {
        let ty = listed.ty.to_token_stream().to_string().replace(' ', "");
        if seen.contains(&ty) {
            continue; // reported as listed twice
        }
        seen.push(ty.clone());
        match (&listed.key, &listed.key_with) {
            (Some(key), Some(_)) => cx.error_spanned_by(
                key,
                format!("`{ty}` has both `key` and `key_with`; give one: the field that names the instance, or a function"),
            ),
            (None, None) if item.key.is_none() => cx.error_spanned_by(
                &listed.ty,
                format!(
                    "`{ty}` does not say which instance it belongs to: give the process a default `key = field` (`#[process(key = order_id, …)]`), or this event its own: `{ty}(key = order_id)` or `{ty}(key_with = path::to_fn)`"
                ),
            ),
            _ => {}
        }
    }
}

/// Every rule of `#[derive(ProcessCommand)]`.
pub(crate) fn check_command(cx: &Ctxt, item: &CommandItem<'_>) {
    check_not_generic(cx, item.input, "a process manager's command enum");
    if item.variants.is_empty() {
        cx.error_spanned_by(
            &item.input.ident,
            "the command enum has no variants: add one per command type, e.g. `#[command(to = Stock)] Reserve(ReserveStock)`",
        );
    }
    let types: Vec<syn::Type> = item.variants.iter().filter_map(|v| v.ty.cloned()).collect();
    let mut seen: Vec<String> = Vec::new();
    for ty in &types {
        let key = ty.to_token_stream().to_string();
        if seen.contains(&key) {
            cx.error_spanned_by(
                ty,
                format!("`{}` is wrapped by two variants; each command type goes in one (it gets `From<{}>`)", key.replace(' ', ""), key.replace(' ', "")),
            );
        } else {
            seen.push(key);
        }
    }
    for v in &item.variants {
        if v.to.is_none() {
            cx.error_spanned_by(
                v.ident,
                format!(
                    "variant `{}` does not say which aggregate its command goes to: `#[command(to = Stock)]`",
                    v.ident
                ),
            );
        }
    }
}

fn check_not_generic(cx: &Ctxt, input: &syn::DeriveInput, what: &str) {
    if !input.generics.params.is_empty() {
        cx.error_spanned_by(
            &input.generics,
            format!("{what} cannot be generic: its name, events and stored shape are one for all instances"),
        );
    }
}
