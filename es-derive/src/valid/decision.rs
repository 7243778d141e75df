//! The rules of `#[derive(DecisionModel)]`.

use quote::ToTokens;

use super::check_unique_types;
use crate::ast::decision::DecisionItem;
use crate::ctxt::Ctxt;

/// Every rule of `#[derive(DecisionModel)]`.
pub(crate) fn check_decision(cx: &Ctxt, item: &DecisionItem<'_>) {
    if !item.input.generics.params.is_empty() {
        cx.error_spanned_by(
            &item.input.generics,
            "a decision model cannot be generic: its events and tags are one for all instances",
        );
    }
    match &item.events {
        None => cx.error_spanned_by(
            &item.input.ident,
            "missing `events(…)`: list the event types this model reads, e.g. `#[decision(events(CourseDefined, StudentSubscribed))]`",
        ),
        Some(events) if events.list.is_empty() => cx.error_at(
            events.span,
            "`events()` is empty: list at least one event type, e.g. `events(CourseDefined)`",
        ),
        Some(events) => {
            let types: Vec<syn::Type> = events.list.iter().map(|e| e.ty.clone()).collect();
            check_unique_types(cx, &types);
            for listed in &events.list {
                let ty = listed.ty.to_token_stream().to_string().replace(' ', "");
                let message = format!(
                    "a decision model reads `{ty}` by its query's tags: `key` and `key_with` do not apply; mark the model's fields `#[tag]` instead"
                );
                if let Some(key) = &listed.key {
                    cx.error_spanned_by(key, &message);
                }
                if let Some(path) = &listed.key_with {
                    cx.error_spanned_by(path, &message);
                }
            }
        }
    }
}
