//! `#[process(…)]` (on a process manager) and `#[command(…)]` (on a variant
//! of its command enum) into plain data.

use proc_macro2::{Delimiter, Span, TokenStream, TokenTree};
use syn::meta::ParseNestedMeta;
use syn::{Attribute, Ident, LitStr, Token};

use super::{kw, lit_str, parenthesized, parse_args, set_once, skip_value, typed, unknown_key};
use crate::ctxt::Ctxt;

/// The keys of `#[process(…)]`, `events(Type(…))` and `#[command(…)]`.
pub(crate) mod keys {
    pub(crate) const COMMANDS: &str = "commands";
    pub(crate) const DEADLINES: &str = "deadlines";
    pub(crate) const KEY: &str = "key";
    pub(crate) const KEY_WITH: &str = "key_with";
    pub(crate) const TO: &str = "to";

    pub(crate) const PROCESS_KEYS: &[&str] =
        &[super::kw::NAME, COMMANDS, DEADLINES, KEY, super::kw::EVENTS];
    pub(crate) const LISTED_KEYS: &[&str] = &[KEY, KEY_WITH];
    pub(crate) const COMMAND_KEYS: &[&str] = &[TO];
}

/// `#[process(name = "…", commands = T, deadlines = T, key = field, events(…))]`.
#[derive(Default)]
pub(crate) struct ProcessAttr {
    pub(crate) name: Option<LitStr>,
    pub(crate) commands: Option<syn::Type>,
    pub(crate) deadlines: Option<syn::Type>,
    pub(crate) key: Option<Ident>,
    pub(crate) events: Option<ListedEvents>,
}

/// `events(A, B(key = field), C(key_with = path))`.
pub(crate) struct ListedEvents {
    pub(crate) span: Span,
    pub(crate) list: Vec<ListedEvent>,
}

/// One listed event type and how it finds its instance.
pub(crate) struct ListedEvent {
    pub(crate) ty: syn::Type,
    pub(crate) key: Option<Ident>,
    pub(crate) key_with: Option<syn::Path>,
}

/// Reads every `#[process(…)]` on an item.
pub(crate) fn process_attr(cx: &Ctxt, attrs: &[Attribute]) -> ProcessAttr {
    let mut out = ProcessAttr::default();
    for attr in attrs.iter().filter(|a| a.path().is_ident("process")) {
        parse_args(cx, attr, "#[process(…)]", |meta| {
            if meta.path.is_ident(kw::NAME) {
                let name = lit_str(cx, &meta, kw::NAME, "\"checkout\"");
                set_once(cx, &mut out.name, name, &meta);
            } else if meta.path.is_ident(keys::COMMANDS) {
                let hint = "CheckoutCommand";
                let ty = typed(
                    cx,
                    &meta,
                    keys::COMMANDS,
                    hint,
                    "the type of the commands it sends",
                );
                set_once(cx, &mut out.commands, ty, &meta);
            } else if meta.path.is_ident(keys::DEADLINES) {
                let hint = "CheckoutDeadline";
                let ty = typed(
                    cx,
                    &meta,
                    keys::DEADLINES,
                    hint,
                    "the type of its deadlines",
                );
                set_once(cx, &mut out.deadlines, ty, &meta);
            } else if meta.path.is_ident(keys::KEY) {
                let key = typed(
                    cx,
                    &meta,
                    keys::KEY,
                    "order_id",
                    "a field name of the listed events",
                );
                set_once(cx, &mut out.key, key, &meta);
            } else if meta.path.is_ident(kw::EVENTS) {
                set_once(cx, &mut out.events, listed_events(cx, &meta), &meta);
            } else {
                unknown_key(cx, &meta, "#[process(…)]", keys::PROCESS_KEYS);
            }
            Ok(())
        });
    }
    out
}

pub(crate) fn listed_events(cx: &Ctxt, meta: &ParseNestedMeta<'_>) -> Option<ListedEvents> {
    let span = meta
        .path
        .get_ident()
        .map_or_else(Span::call_site, |i| i.span());
    if !meta.input.peek(syn::token::Paren) {
        cx.error_at(
            span,
            "`events` takes a list of event types: `events(OrderPlaced, StockReserved(key = order_id))`",
        );
        skip_value(meta.input);
        return None;
    }
    let content = match parenthesized(meta.input) {
        Ok(c) => c,
        Err(e) => {
            cx.syn_error(e);
            return None;
        }
    };
    let mut list = Vec::new();
    while !content.is_empty() {
        let tokens = super::take_until_comma(&content);
        if !content.is_empty() {
            let _: Result<Token![,], _> = content.parse();
        }
        if let Some(listed) = listed_event(cx, tokens) {
            list.push(listed);
        }
    }
    Some(ListedEvents { span, list })
}

/// `Type` or `Type(key = field)` / `Type(key_with = path)`: a trailing
/// parenthesized group holds the options (an event type never ends in one).
fn listed_event(cx: &Ctxt, tokens: TokenStream) -> Option<ListedEvent> {
    let mut trees: Vec<TokenTree> = tokens.into_iter().collect();
    let options = match trees.last() {
        Some(TokenTree::Group(g)) if g.delimiter() == Delimiter::Parenthesis => {
            let g = g.clone();
            trees.pop();
            Some(g)
        }
        _ => None,
    };
    let ty_tokens: TokenStream = trees.into_iter().collect();
    let ty = match syn::parse2::<syn::Type>(ty_tokens.clone()) {
        Ok(ty) => ty,
        Err(_) => {
            cx.error_spanned_by(
                ty_tokens,
                "`events(…)` expects event types, each optionally with its key: `events(OrderPlaced, StockReserved(key = order_id))`",
            );
            return None;
        }
    };
    let mut out = ListedEvent {
        ty,
        key: None,
        key_with: None,
    };
    if let Some(group) = options {
        let parser = syn::meta::parser(|meta| {
            if meta.path.is_ident(keys::KEY) {
                let key = typed(
                    cx,
                    &meta,
                    keys::KEY,
                    "order_id",
                    "a field name of this event",
                );
                set_once(cx, &mut out.key, key, &meta);
            } else if meta.path.is_ident(keys::KEY_WITH) {
                let hint = "path::to_fn";
                let what = "the path of a `fn(&Recorded<Event>) -> String`";
                let f = typed(cx, &meta, keys::KEY_WITH, hint, what);
                set_once(cx, &mut out.key_with, f, &meta);
            } else {
                unknown_key(cx, &meta, "events(Type(…))", keys::LISTED_KEYS);
            }
            Ok(())
        });
        if let Err(e) = syn::parse::Parser::parse2(parser, group.stream()) {
            cx.syn_error(e);
        }
    }
    Some(out)
}

/// `#[command(to = Aggregate)]` on a variant of a process manager's
/// command enum.
#[derive(Default)]
pub(crate) struct CommandAttr {
    pub(crate) to: Option<syn::Type>,
}

/// Reads every `#[command(…)]` on a variant.
pub(crate) fn command_attr(cx: &Ctxt, attrs: &[Attribute]) -> CommandAttr {
    let mut out = CommandAttr::default();
    for attr in attrs.iter().filter(|a| a.path().is_ident("command")) {
        parse_args(cx, attr, "#[command(…)]", |meta| {
            if meta.path.is_ident(keys::TO) {
                let ty = typed(
                    cx,
                    &meta,
                    keys::TO,
                    "Stock",
                    "the aggregate type it goes to",
                );
                set_once(cx, &mut out.to, ty, &meta);
            } else {
                unknown_key(cx, &meta, "#[command(…)]", keys::COMMAND_KEYS);
            }
            Ok(())
        });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_process_keys_and_per_event_keys() {
        let attrs: Vec<Attribute> = vec![syn::parse_quote!(
            #[process(name = "checkout", commands = C, deadlines = D, key = order_id,
                      events(A, b::B(key = id), C<X, Y>(key_with = f::g), E(colour = 1)))]
        )];
        let cx = Ctxt::new();
        let a = process_attr(&cx, &attrs);
        assert_eq!(a.name.unwrap().value(), "checkout");
        assert!(a.commands.is_some() && a.deadlines.is_some());
        assert_eq!(a.key.unwrap(), "order_id");
        let events = a.events.unwrap().list;
        assert_eq!(events.len(), 4);
        assert!(events[0].key.is_none() && events[0].key_with.is_none());
        assert_eq!(events[1].key.as_ref().unwrap(), "id");
        assert!(events[2].key_with.is_some());
        // `colour` is unknown.
        assert_eq!(cx.check().unwrap_err().into_iter().count(), 1);
    }

    #[test]
    fn reads_command_keys() {
        let attrs: Vec<Attribute> =
            vec![syn::parse_quote!(#[command(to = inventory::Stock, from = 1)])];
        let cx = Ctxt::new();
        assert!(command_attr(&cx, &attrs).to.is_some());
        assert_eq!(cx.check().unwrap_err().into_iter().count(), 1);
    }
}
