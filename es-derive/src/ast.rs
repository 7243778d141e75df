//! The derives' input as a small intermediate form: what each event type is
//! called, its version and upcast steps, and how an enum's variants split into
//! wrapping and inline ones, and which types a projection reads. Built from
//! `syn` only, so it is unit-testable.

use proc_macro2::Span;
use syn::{Data, DeriveInput, Fields, Ident, LitStr, Type};

use crate::attr::tag::{self, TagField};
use crate::attr::{self, UpcastAttr};
use crate::ctxt::Ctxt;

pub(crate) mod decision;
pub(crate) mod document;
pub(crate) mod process;

/// One event type: a struct, or an inline-field variant of an enum.
pub(crate) struct EventDef {
    pub(crate) name: String,
    pub(crate) name_span: Span,
    pub(crate) version: u32,
    pub(crate) version_span: Span,
    pub(crate) aliases: Vec<LitStr>,
    pub(crate) upcasts: Vec<UpcastAttr>,
    /// The fields marked `#[tag]`.
    pub(crate) tags: Vec<TagField>,
}

impl EventDef {
    fn new(attr: attr::EventAttr, default_name: &Ident, tags: Vec<TagField>) -> Self {
        let (name, name_span) = match &attr.name {
            Some(lit) => (lit.value(), lit.span()),
            None => (default_name.to_string(), default_name.span()),
        };
        let (version, version_span) = match attr.version {
            Some(v) => (v.value, v.span),
            None => (1, default_name.span()),
        };
        Self {
            name,
            name_span,
            version,
            version_span,
            aliases: attr.aliases,
            upcasts: attr.upcasts,
            tags,
        }
    }
}

/// What `#[derive(Event)]` is applied to.
pub(crate) struct EventItem<'a> {
    pub(crate) input: &'a DeriveInput,
    pub(crate) kind: EventKind<'a>,
}

pub(crate) enum EventKind<'a> {
    Struct(EventDef),
    Enum(Vec<Variant<'a>>),
}

/// A variant of an event enum.
pub(crate) enum Variant<'a> {
    /// `Opened(AccountOpened)`: the inner type's events.
    Wrap { ident: &'a Ident, ty: &'a Type },
    /// `Renamed { to: String }`: an event of its own.
    Inline {
        ident: &'a Ident,
        fields: &'a Fields,
        def: EventDef,
    },
}

impl<'a> EventItem<'a> {
    /// Parses the input; `None` when its shape cannot be an event (the
    /// mistake is recorded).
    pub(crate) fn from_ast(cx: &Ctxt, input: &'a DeriveInput) -> Option<Self> {
        let attr = attr::event_attr(cx, &input.attrs);
        tag::refuse(
            cx,
            &input.attrs,
            "`#[tag]` goes on a field: the field whose value names what the event is about",
        );
        match &input.data {
            Data::Struct(data) => {
                if matches!(data.fields, Fields::Unit) {
                    cx.error_spanned_by(
                        &input.ident,
                        "`#[derive(Event)]` needs a struct with fields; write `struct Name {}` for an event without data",
                    );
                    return None;
                }
                let tags = tag::tag_fields(cx, &data.fields);
                Some(Self {
                    input,
                    kind: EventKind::Struct(EventDef::new(attr, &input.ident, tags)),
                })
            }
            Data::Enum(data) => {
                if let Some(span) = attr.present {
                    cx.error_at(
                        span,
                        "`#[event(…)]` does not go on an enum: put it on an inline-field variant, or on the type a variant wraps",
                    );
                }
                if data.variants.is_empty() {
                    cx.error_spanned_by(
                        &input.ident,
                        "`#[derive(Event)]` needs an enum with at least one variant",
                    );
                    return None;
                }
                let variants = data
                    .variants
                    .iter()
                    .map(|v| Variant::from_ast(cx, v))
                    .collect();
                Some(Self {
                    input,
                    kind: EventKind::Enum(variants),
                })
            }
            Data::Union(u) => {
                cx.error_spanned_by(
                    u.union_token,
                    "`#[derive(Event)]` supports structs and enums, not unions",
                );
                None
            }
        }
    }
}

impl<'a> Variant<'a> {
    fn from_ast(cx: &Ctxt, v: &'a syn::Variant) -> Self {
        let attr = attr::event_attr(cx, &v.attrs);
        tag::refuse(
            cx,
            &v.attrs,
            "`#[tag]` goes on a field of the variant, not on the variant",
        );
        match &v.fields {
            Fields::Unnamed(f) if f.unnamed.len() == 1 => {
                tag::refuse(
                    cx,
                    &f.unnamed[0].attrs,
                    "this variant wraps another event type: put `#[tag]` on that type's fields",
                );
                if let Some(span) = attr.present {
                    cx.error_at(
                        span,
                        format!(
                            "`{}` wraps another event type: put `#[event(…)]` on that type instead",
                            v.ident
                        ),
                    );
                }
                Variant::Wrap {
                    ident: &v.ident,
                    ty: &f.unnamed[0].ty,
                }
            }
            fields => Variant::Inline {
                ident: &v.ident,
                fields,
                def: EventDef::new(attr, &v.ident, tag::tag_fields(cx, fields)),
            },
        }
    }
}

/// What `#[derive(Aggregate)]` is applied to.
pub(crate) struct AggregateItem<'a> {
    pub(crate) input: &'a DeriveInput,
    pub(crate) name: String,
    pub(crate) name_span: Span,
    pub(crate) event: Option<Type>,
    pub(crate) snapshot_version: attr::Int,
}

impl<'a> AggregateItem<'a> {
    pub(crate) fn from_ast(cx: &Ctxt, input: &'a DeriveInput) -> Option<Self> {
        let attr = attr::aggregate_attr(cx, &input.attrs);
        if let Data::Union(u) = &input.data {
            cx.error_spanned_by(
                u.union_token,
                "`#[derive(Aggregate)]` supports structs and enums, not unions",
            );
            return None;
        }
        let (name, name_span) = match &attr.name {
            Some(lit) => (lit.value(), lit.span()),
            None => (input.ident.to_string(), input.ident.span()),
        };
        Some(Self {
            input,
            name,
            name_span,
            event: attr.event,
            snapshot_version: attr.snapshot_version.unwrap_or(attr::Int {
                value: 1,
                span: input.ident.span(),
            }),
        })
    }
}

/// What `#[derive(Projection)]` is applied to.
pub(crate) struct ProjectionItem<'a> {
    pub(crate) input: &'a DeriveInput,
    pub(crate) name: String,
    pub(crate) name_span: Span,
    /// `None` when `events(…)` is missing.
    pub(crate) events: Option<attr::EventsAttr>,
}

impl<'a> ProjectionItem<'a> {
    pub(crate) fn from_ast(cx: &Ctxt, input: &'a DeriveInput) -> Option<Self> {
        let attr = attr::projection_attr(cx, &input.attrs);
        if let Data::Union(u) = &input.data {
            cx.error_spanned_by(
                u.union_token,
                "`#[derive(Projection)]` supports structs and enums, not unions",
            );
            return None;
        }
        let (name, name_span) = match &attr.name {
            Some(lit) => (lit.value(), lit.span()),
            None => (snake_case(&input.ident), input.ident.span()),
        };
        Some(Self {
            input,
            name,
            name_span,
            events: attr.events,
        })
    }
}

/// `OrderDetails` -> `order_details`, `HTTPStats` -> `http_stats`: a
/// projection's default name.
pub(crate) fn snake_case(ident: &Ident) -> String {
    let s = ident.to_string();
    let s = s.strip_prefix("r#").unwrap_or(&s);
    let chars: Vec<char> = s.chars().collect();
    let mut out = String::with_capacity(s.len() + 4);
    for (i, &c) in chars.iter().enumerate() {
        if c.is_uppercase() {
            let prev = i.checked_sub(1).map(|p| chars[p]);
            let next = chars.get(i + 1);
            let boundary = prev.is_some_and(|p| p.is_lowercase() || p.is_ascii_digit())
                || prev.is_some_and(char::is_uppercase) && next.is_some_and(|n| n.is_lowercase());
            if boundary && !out.ends_with('_') {
                out.push('_');
            }
            out.extend(c.to_lowercase());
        } else {
            out.push(c);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn snake_cases_type_names() {
        let cases = [
            ("OrderDetails", "order_details"),
            ("HTTPStats", "http_stats"),
            ("AccountV2Summary", "account_v2_summary"),
            ("Totals", "totals"),
            ("Already_Snake", "already_snake"),
        ];
        for (ident, want) in cases {
            let ident = Ident::new(ident, Span::call_site());
            assert_eq!(snake_case(&ident), want);
        }
    }
}
