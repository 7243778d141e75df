//! Attribute parsing: `#[event(…)]`, `#[aggregate(…)]` and `#[projection(…)]`
//! into plain data.
//! Every malformed key is recorded in the [`Ctxt`] and skipped, so the rest
//! of the attribute is still read and all mistakes show in one compile.

use proc_macro2::{Span, TokenStream, TokenTree};
use quote::ToTokens;
use syn::meta::ParseNestedMeta;
use syn::parse::{Parse, ParseStream};
use syn::{Attribute, LitInt, LitStr, Token};

use crate::ctxt::Ctxt;

pub(crate) mod decision;
pub(crate) mod document;
pub(crate) mod process;
pub(crate) mod tag;

/// The keys, as written by users.
pub(crate) mod kw {
    pub(crate) const NAME: &str = "name";
    pub(crate) const VERSION: &str = "version";
    pub(crate) const ALIAS: &str = "alias";
    pub(crate) const UPCAST: &str = "upcast";
    pub(crate) const FROM: &str = "from";
    pub(crate) const WITH: &str = "with";
    pub(crate) const VIA: &str = "via";
    pub(crate) const EVENT: &str = "event";
    pub(crate) const SNAPSHOT_VERSION: &str = "snapshot_version";
    pub(crate) const EVENTS: &str = "events";

    pub(crate) const EVENT_KEYS: &[&str] = &[NAME, VERSION, ALIAS, UPCAST];
    pub(crate) const UPCAST_KEYS: &[&str] = &[FROM, WITH, VIA];
    pub(crate) const AGGREGATE_KEYS: &[&str] = &[NAME, EVENT, SNAPSHOT_VERSION];
    pub(crate) const PROJECTION_KEYS: &[&str] = &[NAME, EVENTS];
}

/// An integer value with the span of its literal.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Int {
    pub(crate) value: u32,
    pub(crate) span: Span,
}

/// `#[event(name = "…", version = N, alias = "…", upcast(…)…)]`.
#[derive(Default)]
pub(crate) struct EventAttr {
    /// The span of the first `#[event]` attribute, if there is one.
    pub(crate) present: Option<Span>,
    pub(crate) name: Option<LitStr>,
    pub(crate) version: Option<Int>,
    pub(crate) aliases: Vec<LitStr>,
    pub(crate) upcasts: Vec<UpcastAttr>,
}

/// `upcast(from = K, with = path)` or `upcast(from = K, via = Type)`.
pub(crate) struct UpcastAttr {
    /// The `upcast` keyword.
    pub(crate) span: Span,
    pub(crate) from: Option<Int>,
    pub(crate) with: Option<syn::Path>,
    pub(crate) via: Option<syn::Type>,
}

/// `#[aggregate(name = "…", event = Type, snapshot_version = N)]`.
#[derive(Default)]
pub(crate) struct AggregateAttr {
    pub(crate) name: Option<LitStr>,
    pub(crate) event: Option<syn::Type>,
    pub(crate) snapshot_version: Option<Int>,
}

/// `#[projection(name = "…", events(A, B, …))]`.
#[derive(Default)]
pub(crate) struct ProjectionAttr {
    pub(crate) name: Option<LitStr>,
    pub(crate) events: Option<EventsAttr>,
}

/// `events(A, B, …)`: the listed types, with the `events` keyword's span.
pub(crate) struct EventsAttr {
    pub(crate) span: Span,
    pub(crate) types: Vec<syn::Type>,
}

/// Reads every `#[event(…)]` on an item or variant.
pub(crate) fn event_attr(cx: &Ctxt, attrs: &[Attribute]) -> EventAttr {
    let mut out = EventAttr::default();
    for attr in attrs.iter().filter(|a| a.path().is_ident("event")) {
        out.present.get_or_insert_with(|| {
            attr.path()
                .get_ident()
                .map_or_else(Span::call_site, |i| i.span())
        });
        parse_args(cx, attr, "#[event(…)]", |meta| {
            if meta.path.is_ident(kw::NAME) {
                set_once(
                    cx,
                    &mut out.name,
                    lit_str(cx, &meta, kw::NAME, "\"AccountOpened\""),
                    &meta,
                );
            } else if meta.path.is_ident(kw::VERSION) {
                set_once(
                    cx,
                    &mut out.version,
                    int(cx, &meta, kw::VERSION, "2"),
                    &meta,
                );
            } else if meta.path.is_ident(kw::ALIAS) {
                out.aliases
                    .extend(lit_str(cx, &meta, kw::ALIAS, "\"OldName\""));
            } else if meta.path.is_ident(kw::UPCAST) {
                out.upcasts.extend(upcast(cx, &meta));
            } else {
                unknown_key(cx, &meta, "#[event(…)]", kw::EVENT_KEYS);
            }
            Ok(())
        });
    }
    out
}

fn upcast(cx: &Ctxt, meta: &ParseNestedMeta<'_>) -> Option<UpcastAttr> {
    let span = meta
        .path
        .get_ident()
        .map_or_else(Span::call_site, |i| i.span());
    if !meta.input.peek(syn::token::Paren) {
        cx.error_at(
            span,
            "`upcast` takes a list: `upcast(from = 1, with = path::to_fn)` or `upcast(from = 1, via = OldType)`",
        );
        skip_value(meta.input);
        return None;
    }
    let mut out = UpcastAttr {
        span,
        from: None,
        with: None,
        via: None,
    };
    let parsed = meta.parse_nested_meta(|inner| {
        if inner.path.is_ident(kw::FROM) {
            set_once(cx, &mut out.from, int(cx, &inner, kw::FROM, "1"), &inner);
        } else if inner.path.is_ident(kw::WITH) {
            let hint = "path::to_upcast_fn";
            set_once(cx, &mut out.with, typed(cx, &inner, kw::WITH, hint, "the path of a `fn(serde_json::Value) -> Result<serde_json::Value, UpcastError>`"), &inner);
        } else if inner.path.is_ident(kw::VIA) {
            set_once(cx, &mut out.via, typed(cx, &inner, kw::VIA, "OldType", "a type"), &inner);
        } else {
            unknown_key(cx, &inner, "upcast(…)", kw::UPCAST_KEYS);
        }
        Ok(())
    });
    if let Err(e) = parsed {
        cx.syn_error(e);
    }
    Some(out)
}

/// Reads every `#[aggregate(…)]` on an item.
pub(crate) fn aggregate_attr(cx: &Ctxt, attrs: &[Attribute]) -> AggregateAttr {
    let mut out = AggregateAttr::default();
    for attr in attrs.iter().filter(|a| a.path().is_ident("aggregate")) {
        parse_args(cx, attr, "#[aggregate(…)]", |meta| {
            if meta.path.is_ident(kw::NAME) {
                set_once(
                    cx,
                    &mut out.name,
                    lit_str(cx, &meta, kw::NAME, "\"BankAccount\""),
                    &meta,
                );
            } else if meta.path.is_ident(kw::EVENT) {
                set_once(
                    cx,
                    &mut out.event,
                    typed(cx, &meta, kw::EVENT, "AccountEvent", "a type"),
                    &meta,
                );
            } else if meta.path.is_ident(kw::SNAPSHOT_VERSION) {
                set_once(
                    cx,
                    &mut out.snapshot_version,
                    int(cx, &meta, kw::SNAPSHOT_VERSION, "2"),
                    &meta,
                );
            } else {
                unknown_key(cx, &meta, "#[aggregate(…)]", kw::AGGREGATE_KEYS);
            }
            Ok(())
        });
    }
    out
}

/// Reads every `#[projection(…)]` on an item.
pub(crate) fn projection_attr(cx: &Ctxt, attrs: &[Attribute]) -> ProjectionAttr {
    let mut out = ProjectionAttr::default();
    for attr in attrs.iter().filter(|a| a.path().is_ident("projection")) {
        parse_args(cx, attr, "#[projection(…)]", |meta| {
            if meta.path.is_ident(kw::NAME) {
                set_once(
                    cx,
                    &mut out.name,
                    lit_str(cx, &meta, kw::NAME, "\"order_details\""),
                    &meta,
                );
            } else if meta.path.is_ident(kw::EVENTS) {
                set_once(cx, &mut out.events, events(cx, &meta), &meta);
            } else {
                unknown_key(cx, &meta, "#[projection(…)]", kw::PROJECTION_KEYS);
            }
            Ok(())
        });
    }
    out
}

fn events(cx: &Ctxt, meta: &ParseNestedMeta<'_>) -> Option<EventsAttr> {
    let span = meta
        .path
        .get_ident()
        .map_or_else(Span::call_site, |i| i.span());
    if !meta.input.peek(syn::token::Paren) {
        cx.error_at(
            span,
            "`events` takes a list of event types: `events(OrderPlaced, OrderShipped)`",
        );
        skip_value(meta.input);
        return None;
    }
    let types = parenthesized(meta.input)
        .and_then(|content| content.parse_terminated(syn::Type::parse, Token![,]));
    match types {
        Ok(types) => Some(EventsAttr {
            span,
            types: types.into_iter().collect(),
        }),
        Err(e) => {
            cx.error_at(
                e.span(),
                "`events(…)` expects event types separated by commas: `events(OrderPlaced, OrderShipped)`",
            );
            None
        }
    }
}

fn parenthesized<'a>(input: ParseStream<'a>) -> syn::Result<syn::parse::ParseBuffer<'a>> {
    let content;
    syn::parenthesized!(content in input);
    Ok(content)
}

fn parse_args(
    cx: &Ctxt,
    attr: &Attribute,
    shape: &str,
    logic: impl FnMut(ParseNestedMeta<'_>) -> syn::Result<()>,
) {
    if !matches!(attr.meta, syn::Meta::List(_)) {
        cx.error_spanned_by(attr, format!("expected a list of keys: `{shape}`"));
        return;
    }
    if let Err(e) = attr.parse_nested_meta(logic) {
        cx.syn_error(e);
    }
}

fn set_once<T>(cx: &Ctxt, slot: &mut Option<T>, value: Option<T>, meta: &ParseNestedMeta<'_>) {
    let Some(value) = value else { return };
    if slot.is_some() {
        let key = meta.path.to_token_stream().to_string();
        cx.error_spanned_by(&meta.path, format!("duplicate key `{key}`; give it once"));
    } else {
        *slot = Some(value);
    }
}

/// The tokens of `= value` up to the next top-level comma, or `None` (with
/// the mistake recorded) when the key has no value.
fn value_tokens(
    cx: &Ctxt,
    meta: &ParseNestedMeta<'_>,
    key: &str,
    hint: &str,
) -> Option<TokenStream> {
    if !meta.input.peek(Token![=]) {
        cx.error_spanned_by(
            &meta.path,
            format!("`{key}` needs a value: `{key} = {hint}`"),
        );
        skip_value(meta.input);
        return None;
    }
    let _eq: Token![=] = meta.input.parse().ok()?;
    let tokens = take_until_comma(meta.input);
    if tokens.is_empty() {
        cx.error_spanned_by(
            &meta.path,
            format!("`{key}` needs a value after `=`: `{key} = {hint}`"),
        );
        return None;
    }
    Some(tokens)
}

fn lit_str(cx: &Ctxt, meta: &ParseNestedMeta<'_>, key: &str, hint: &str) -> Option<LitStr> {
    typed(cx, meta, key, hint, "a string literal")
}

fn typed<T: Parse>(
    cx: &Ctxt,
    meta: &ParseNestedMeta<'_>,
    key: &str,
    hint: &str,
    what: &str,
) -> Option<T> {
    let tokens = value_tokens(cx, meta, key, hint)?;
    match syn::parse2::<T>(tokens.clone()) {
        Ok(v) => Some(v),
        Err(_) => {
            cx.error_spanned_by(tokens, format!("`{key}` expects {what}: `{key} = {hint}`"));
            None
        }
    }
}

fn int(cx: &Ctxt, meta: &ParseNestedMeta<'_>, key: &str, hint: &str) -> Option<Int> {
    let lit: LitInt = typed(cx, meta, key, hint, "a positive integer")?;
    match lit.base10_parse::<u32>() {
        Ok(value) => Some(Int {
            value,
            span: lit.span(),
        }),
        Err(_) => {
            cx.error_spanned_by(
                &lit,
                format!("`{key}` expects an integer that fits in a u32: `{key} = {hint}`"),
            );
            None
        }
    }
}

fn unknown_key(cx: &Ctxt, meta: &ParseNestedMeta<'_>, shape: &str, known: &[&str]) {
    let key = meta.path.to_token_stream().to_string().replace(' ', "");
    let expected = known
        .iter()
        .map(|k| format!("`{k}`"))
        .collect::<Vec<_>>()
        .join(", ");
    let message = match suggest(&key, known) {
        Some(s) => format!(
            "unknown key `{key}` in `{shape}`; did you mean `{s}`? (expected one of {expected})"
        ),
        None => format!("unknown key `{key}` in `{shape}`; expected one of {expected}"),
    };
    cx.error_spanned_by(&meta.path, message);
    skip_value(meta.input);
}

/// The known key closest to a misspelt one, if it is close enough.
pub(crate) fn suggest<'k>(key: &str, known: &[&'k str]) -> Option<&'k str> {
    known
        .iter()
        .map(|k| (edit_distance(key, k), *k))
        .filter(|(d, k)| *d <= 2.max(k.len() / 3) && *d < k.len())
        .min_by_key(|(d, _)| *d)
        .map(|(_, k)| k)
}

fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut prev = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let cur = row[j + 1];
            row[j + 1] = (prev + usize::from(ca != *cb)).min(row[j] + 1).min(cur + 1);
            prev = cur;
        }
    }
    row[b.len()]
}

/// Skips a malformed key's `= value` or `(…)`, up to the next comma.
fn skip_value(input: ParseStream<'_>) {
    let _ = take_until_comma(input);
}

fn take_until_comma(input: ParseStream<'_>) -> TokenStream {
    // Commas inside `Type<A, B>` belong to the value.
    let mut depth = 0usize;
    let mut out = TokenStream::new();
    while !(input.is_empty() || depth == 0 && input.peek(Token![,])) {
        let Ok(tt) = input.parse::<TokenTree>() else {
            break;
        };
        if let TokenTree::Punct(p) = &tt {
            match p.as_char() {
                '<' => depth += 1,
                '>' => depth = depth.saturating_sub(1),
                _ => {}
            }
        }
        out.extend([tt]);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn suggests_close_keys_only() {
        assert_eq!(suggest("verion", kw::EVENT_KEYS), Some("version"));
        assert_eq!(suggest("aliases", kw::EVENT_KEYS), Some("alias"));
        assert_eq!(suggest("snapshot", kw::AGGREGATE_KEYS), None);
        assert_eq!(suggest("colour", kw::EVENT_KEYS), None);
        assert_eq!(suggest("event", kw::PROJECTION_KEYS), Some("events"));
        assert_eq!(suggest("nmae", kw::PROJECTION_KEYS), Some("name"));
    }

    #[test]
    fn reads_every_key_and_collects_every_mistake() {
        let attrs: Vec<Attribute> = vec![syn::parse_quote!(
            #[event(name = "A", verion = 2, version = "x", alias = "B", upcast(from = 1, with = f::g))]
        )];
        let cx = Ctxt::new();
        let a = event_attr(&cx, &attrs);
        assert_eq!(a.name.unwrap().value(), "A");
        assert!(a.version.is_none());
        assert_eq!(a.aliases.len(), 1);
        assert_eq!(a.upcasts[0].from.unwrap().value, 1);
        let err = cx.check().unwrap_err();
        assert_eq!(err.into_iter().count(), 2);
    }

    #[test]
    fn reads_projection_keys() {
        let attrs: Vec<Attribute> = vec![syn::parse_quote!(
            #[projection(name = "p", events(A, b::B, C<D, E>,), colour = 1)]
        )];
        let cx = Ctxt::new();
        let a = projection_attr(&cx, &attrs);
        assert_eq!(a.name.unwrap().value(), "p");
        assert_eq!(a.events.unwrap().types.len(), 3);
        assert_eq!(cx.check().unwrap_err().into_iter().count(), 1);
    }
}
