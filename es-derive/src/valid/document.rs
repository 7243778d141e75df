//! The rules of `#[derive(Document)]`.

use quote::ToTokens;

use super::{check_consumer_name, check_unique_types};
use crate::ast::document::DocumentItem;
use crate::ctxt::Ctxt;

/// Every rule of `#[derive(Document)]`.
pub(crate) fn check_document(cx: &Ctxt, item: &DocumentItem<'_>) {
    check_consumer_name(cx, "document", &item.name, item.name_span, &['_', '-', '.']);
    if !item.input.generics.params.is_empty() {
        cx.error_spanned_by(
            &item.input.generics,
            "a document cannot be generic: its name, events and stored shape are one for all instances",
        );
    }
    match &item.events {
        None => cx.error_spanned_by(
            &item.input.ident,
            "missing `events(…)`: list the event types this document reads, e.g. `#[document(events(AccountOpened, MoneyDeposited))]`",
        ),
        Some(events) if events.list.is_empty() => cx.error_at(
            events.span,
            "`events()` is empty: list at least one event type, e.g. `events(AccountOpened)`",
        ),
        Some(events) => {
            let types: Vec<syn::Type> = events.list.iter().map(|e| e.ty.clone()).collect();
            check_unique_types(cx, &types);
            for listed in &events.list {
                if let (Some(key), Some(_)) = (&listed.key, &listed.key_with) {
                    let ty = listed.ty.to_token_stream().to_string().replace(' ', "");
                    cx.error_spanned_by(
                        key,
                        format!("`{ty}` has both `key` and `key_with`; give one: the field that names the document, or a function"),
                    );
                }
            }
        }
    }
    check_index(cx, item);
}

/// An indexed field is a field of the document, under its own name in
/// the JSON (a filter names it).
fn check_index(cx: &Ctxt, item: &DocumentItem<'_>) {
    let renames_all = item.input.attrs.iter().any(|a| {
        a.path().is_ident("serde") && a.to_token_stream().to_string().contains("rename_all")
    });
    let mut seen: Vec<String> = Vec::new();
    for ix in &item.index {
        let name = ix.to_string();
        if seen.contains(&name) {
            cx.error_spanned_by(ix, format!("`{name}` is indexed twice; list it once"));
            continue;
        }
        seen.push(name.clone());
        let Some(field) = item
            .fields
            .iter()
            .find(|f| f.ident.as_ref().is_some_and(|i| *i == name))
        else {
            let known: Vec<String> = item
                .fields
                .iter()
                .filter_map(|f| f.ident.as_ref().map(ToString::to_string))
                .collect();
            cx.error_spanned_by(
                ix,
                format!(
                    "`{name}` is not a field of the document; its fields: {}",
                    known.join(", ")
                ),
            );
            continue;
        };
        let renamed = field.attrs.iter().any(|a| {
            a.path().is_ident("serde") && {
                let t = a.to_token_stream().to_string();
                t.contains("rename") || t.contains("flatten") || t.contains("skip")
            }
        });
        if renamed || renames_all {
            cx.error_spanned_by(
                ix,
                format!("`{name}` is indexed, so it must keep its name in the stored JSON: drop `#[serde(rename…)]`, `flatten` or `skip` from it (and `rename_all` from the struct)"),
            );
        }
    }
}
