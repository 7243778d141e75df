//! The derives' input as a small intermediate form: what each event type is
//! called, its version and upcast steps, and how an enum's variants split into
//! wrapping and inline ones. Built from `syn` only, so it is unit-testable.

use proc_macro2::Span;
use syn::{Data, DeriveInput, Fields, Ident, LitStr, Type};

use crate::attr::{self, UpcastAttr};
use crate::ctxt::Ctxt;

/// One event type: a struct, or an inline-field variant of an enum.
pub(crate) struct EventDef {
    pub(crate) name: String,
    pub(crate) name_span: Span,
    pub(crate) version: u32,
    pub(crate) version_span: Span,
    pub(crate) aliases: Vec<LitStr>,
    pub(crate) upcasts: Vec<UpcastAttr>,
}

impl EventDef {
    fn new(attr: attr::EventAttr, default_name: &Ident) -> Self {
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
        match &input.data {
            Data::Struct(data) => {
                if matches!(data.fields, Fields::Unit) {
                    cx.error_spanned_by(
                        &input.ident,
                        "`#[derive(Event)]` needs a struct with fields; write `struct Name {}` for an event without data",
                    );
                    return None;
                }
                Some(Self {
                    input,
                    kind: EventKind::Struct(EventDef::new(attr, &input.ident)),
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
        match &v.fields {
            Fields::Unnamed(f) if f.unnamed.len() == 1 => {
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
                def: EventDef::new(attr, &v.ident),
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
