//! The rules that span several attributes, one small `check_*` function per
//! rule. Expansion only runs on input that passed all of them.

use std::collections::BTreeMap;

use quote::ToTokens;

use crate::ast::{AggregateItem, EventDef, EventItem, EventKind, ProjectionItem, Variant};
use crate::ctxt::Ctxt;

pub(crate) mod decision;
pub(crate) mod document;
pub(crate) mod process;

/// Every rule of `#[derive(Event)]`.
pub(crate) fn check_event(cx: &Ctxt, item: &EventItem<'_>) {
    check_no_generics(cx, item);
    match &item.kind {
        EventKind::Struct(def) => check_def(cx, def),
        EventKind::Enum(variants) => {
            for v in variants {
                if let Variant::Inline { def, .. } = v {
                    check_def(cx, def);
                }
            }
            check_unique_inline_names(cx, variants);
            check_unique_wrapped_types(cx, variants);
        }
    }
}

fn check_def(cx: &Ctxt, def: &EventDef) {
    check_name(cx, def);
    check_version_not_zero(cx, def);
    check_upcast_steps(cx, def);
    check_one_path_per_version(cx, def);
    check_unique_aliases(cx, def);
}

/// Events are stored data with one type per name; a type parameter would
/// give one name several shapes.
fn check_no_generics(cx: &Ctxt, item: &EventItem<'_>) {
    let g = &item.input.generics;
    if !g.params.is_empty() {
        cx.error_spanned_by(
            g,
            "`#[derive(Event)]` does not support generic types: an event name must stand for one payload shape; use a concrete type",
        );
    }
}

/// A stored name is never empty.
fn check_name(cx: &Ctxt, def: &EventDef) {
    if def.name.is_empty() {
        cx.error_at(
            def.name_span,
            "the event name is empty: `name = \"AccountOpened\"`",
        );
    }
}

/// Versions start at 1, so `0` can mean "unknown" nowhere.
fn check_version_not_zero(cx: &Ctxt, def: &EventDef) {
    if def.version == 0 {
        cx.error_at(
            def.version_span,
            "`version = 0`: schema versions start at 1",
        );
    }
}

/// Each step names a version below the current one and exactly one path.
fn check_upcast_steps(cx: &Ctxt, def: &EventDef) {
    for u in &def.upcasts {
        match u.from {
            None => cx.error_at(u.span, "`upcast(…)` needs the version it starts from: `upcast(from = 1, with = path::to_fn)`"),
            Some(from) if from.value == 0 => {
                cx.error_at(from.span, "`from = 0`: schema versions start at 1")
            }
            Some(from) if def.version != 0 && from.value >= def.version => cx.error_at(
                from.span,
                format!(
                    "`upcast(from = {})` must be below the event's version {}: a step reads an older stored version; raise `version` first",
                    from.value, def.version
                ),
            ),
            Some(_) => {}
        }
        match (&u.with, &u.via) {
            (Some(_), Some(via)) => cx.error_spanned_by(
                via,
                "`with` and `via` on one step; keep one: `with = fn` is a JSON step to the next version, `via = Type` decodes this version as `Type`",
            ),
            (None, None) => cx.error_at(
                u.span,
                "`upcast(…)` needs a path: `with = path::to_fn` (a JSON step to the next version) or `via = OldType` (decode as `OldType`, then `Into`)",
            ),
            _ => {}
        }
    }
}

/// One stored version reads one way.
fn check_one_path_per_version(cx: &Ctxt, def: &EventDef) {
    let mut seen = BTreeMap::new();
    for from in def.upcasts.iter().filter_map(|u| u.from) {
        if seen.insert(from.value, from.span).is_some() {
            cx.error_at(
                from.span,
                format!("two upcast paths for version {}; keep one", from.value),
            );
        }
    }
}

/// An alias is a former name: not the current one, and given once.
fn check_unique_aliases(cx: &Ctxt, def: &EventDef) {
    let mut seen = vec![def.name.clone()];
    for a in &def.aliases {
        let v = a.value();
        if seen.contains(&v) {
            cx.error_spanned_by(a, format!("`{v}` is already a name or alias of this event"));
        } else if v.is_empty() {
            cx.error_spanned_by(a, "an alias cannot be empty");
        } else {
            seen.push(v);
        }
    }
}

/// Two inline variants with one stored name (or alias) could not be told
/// apart on read. Wrapping variants take names from other types, so their
/// clashes are caught at compile time by a const assertion in the expansion.
fn check_unique_inline_names(cx: &Ctxt, variants: &[Variant<'_>]) {
    let mut seen: BTreeMap<String, String> = BTreeMap::new();
    for v in variants {
        let Variant::Inline { ident, def, .. } = v else {
            continue;
        };
        let names = std::iter::once((def.name.clone(), def.name_span))
            .chain(def.aliases.iter().map(|a| (a.value(), a.span())));
        for (name, span) in names {
            if let Some(other) = seen.get(&name) {
                if *other != ident.to_string() {
                    cx.error_at(
                        span,
                        format!("variants `{other}` and `{ident}` both decode the event type `{name}`; give one of them another `#[event(name = \"…\")]`"),
                    );
                }
            } else {
                seen.insert(name, ident.to_string());
            }
        }
    }
}

/// One `From<Inner>` per wrapped type.
fn check_unique_wrapped_types(cx: &Ctxt, variants: &[Variant<'_>]) {
    let mut seen: BTreeMap<String, String> = BTreeMap::new();
    for v in variants {
        let Variant::Wrap { ident, ty } = v else {
            continue;
        };
        let key = ty.to_token_stream().to_string();
        if let Some(other) = seen.insert(key.clone(), ident.to_string()) {
            cx.error_spanned_by(
                ty,
                format!("variants `{other}` and `{ident}` both wrap `{key}`; an event type belongs to one variant"),
            );
        }
    }
}

/// Every rule of `#[derive(Aggregate)]`.
pub(crate) fn check_aggregate(cx: &Ctxt, item: &AggregateItem<'_>) {
    check_event_given(cx, item);
    check_aggregate_name(cx, item);
    check_snapshot_version_not_zero(cx, item);
}

/// The derive cannot guess the event type.
fn check_event_given(cx: &Ctxt, item: &AggregateItem<'_>) {
    if item.event.is_none() {
        cx.error_spanned_by(
            &item.input.ident,
            "missing `event = …`: name the aggregate's event type, e.g. `#[aggregate(event = AccountEvent)]`",
        );
    }
}

/// Streams are `{NAME}-{id}` and the part before the first `-` is the
/// aggregate type, so the name cannot hold a `-`.
fn check_aggregate_name(cx: &Ctxt, item: &AggregateItem<'_>) {
    if item.name.is_empty() {
        cx.error_at(
            item.name_span,
            "the aggregate name is empty: `name = \"BankAccount\"`",
        );
    } else if item.name.contains('-') {
        cx.error_at(
            item.name_span,
            format!(
                "the aggregate name `{}` contains `-`; streams are named `{{name}}-{{id}}`, so use e.g. `{}`",
                item.name,
                item.name.replace('-', "_")
            ),
        );
    }
}

/// Snapshot versions start at 1, like schema versions.
fn check_snapshot_version_not_zero(cx: &Ctxt, item: &AggregateItem<'_>) {
    if item.snapshot_version.value == 0 {
        cx.error_at(
            item.snapshot_version.span,
            "`snapshot_version = 0`: snapshot versions start at 1",
        );
    }
}

/// Every rule of `#[derive(Projection)]`.
pub(crate) fn check_projection(cx: &Ctxt, item: &ProjectionItem<'_>) {
    check_projection_name(cx, item);
    check_events_listed(cx, item);
    check_unique_listed_types(cx, item);
    check_listed_types_concrete(cx, item);
}

/// The name keys the projection's checkpoint, lease and logs, so it is kept
/// to characters every store and log line takes as they are.
fn check_projection_name(cx: &Ctxt, item: &ProjectionItem<'_>) {
    check_consumer_name(
        cx,
        "projection",
        &item.name,
        item.name_span,
        &['_', '-', '.'],
    );
}

/// A consumer's name (`what`: "projection", "process manager") may hold
/// ASCII letters, digits and the `allowed` punctuation.
pub(crate) fn check_consumer_name(
    cx: &Ctxt,
    what: &str,
    name: &str,
    span: proc_macro2::Span,
    allowed: &[char],
) {
    let suggestion: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || allowed.contains(&c) {
                c
            } else {
                '_'
            }
        })
        .collect();
    let quoted: Vec<String> = allowed.iter().map(|c| format!("`{c}`")).collect();
    let listed = match quoted.split_last() {
        Some((last, [])) => last.clone(),
        Some((last, rest)) => format!("{} and {last}", rest.join(", ")),
        None => String::new(),
    };
    if name.is_empty() {
        cx.error_at(
            span,
            format!("the {what} name is empty: `name = \"order_details\"`"),
        );
    } else if !name
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || allowed.contains(&c))
    {
        cx.error_at(
            span,
            format!(
                "the {what} name `{name}` may only hold ASCII letters, digits, {listed} (it keys the checkpoint); use e.g. `{suggestion}`"
            ),
        );
    }
}

/// The derive cannot guess which events a projection reads, and a projection
/// of no events would never run.
fn check_events_listed(cx: &Ctxt, item: &ProjectionItem<'_>) {
    match &item.events {
        None => cx.error_spanned_by(
            &item.input.ident,
            "missing `events(…)`: list the event types this projection handles, e.g. `#[projection(events(OrderPlaced, OrderShipped))]`",
        ),
        Some(events) if events.types.is_empty() => cx.error_at(
            events.span,
            "`events()` is empty: list at least one event type, e.g. `events(OrderPlaced)`",
        ),
        Some(_) => {}
    }
}

/// One handler per type: a type listed twice would be dispatched once and
/// read twice. (Two types sharing a stored name are caught by a const
/// assertion in the expansion, as names are only known at compile time.)
pub(crate) fn check_unique_types(cx: &Ctxt, types: &[syn::Type]) {
    let mut seen = Vec::new();
    for ty in types {
        let key = ty.to_token_stream().to_string();
        if seen.contains(&key) {
            cx.error_spanned_by(
                ty,
                format!("`{key}` is listed twice in `events(…)`; list each type once"),
            );
        } else {
            seen.push(key);
        }
    }
}

fn check_unique_listed_types(cx: &Ctxt, item: &ProjectionItem<'_>) {
    if let Some(events) = &item.events {
        check_unique_types(cx, &events.types);
    }
}

/// `EVENT_TYPES` is one constant for every instance of a generic projection,
/// so the listed types cannot depend on its parameters.
fn check_listed_types_concrete(cx: &Ctxt, item: &ProjectionItem<'_>) {
    let Some(events) = &item.events else { return };
    let params: Vec<String> = item
        .input
        .generics
        .params
        .iter()
        .filter_map(|p| match p {
            syn::GenericParam::Type(t) => Some(t.ident.to_string()),
            syn::GenericParam::Const(c) => Some(c.ident.to_string()),
            syn::GenericParam::Lifetime(_) => None,
        })
        .collect();
    for ty in &events.types {
        if let Some(p) = mentions(ty.to_token_stream(), &params) {
            cx.error_spanned_by(
                ty,
                format!("`events(…)` of a generic projection must list concrete types, but this one uses the parameter `{p}`: the event-type filter is one constant for all instances"),
            );
        }
    }
}

fn mentions(tokens: proc_macro2::TokenStream, params: &[String]) -> Option<String> {
    tokens.into_iter().find_map(|tt| match tt {
        proc_macro2::TokenTree::Ident(i) => params.iter().find(|p| i == p).cloned(),
        proc_macro2::TokenTree::Group(g) => mentions(g.stream(), params),
        _ => None,
    })
}
