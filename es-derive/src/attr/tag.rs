//! `#[tag]` on the fields of an event: the tags of consistency boundaries
//! by query (`es_core::dcb`), `kind:value` from the field's value.

use proc_macro2::Span;
use syn::spanned::Spanned;
use syn::{Attribute, Fields, LitStr, Member, Meta};

use crate::ctxt::Ctxt;

/// A field that gives a tag.
pub(crate) struct TagField {
    /// The field (a name, or an index in a tuple).
    pub(crate) member: Member,
    /// The tag's kind: `course` in `course:c1`.
    pub(crate) kind: String,
    /// The field's type, where a missing `Display` is reported.
    pub(crate) ty_span: Span,
}

const FORM: &str =
    "write `#[tag]` (the kind is the field's name without `_id`) or `#[tag(\"course\")]`";

/// The tag fields of `fields`, with every mistake recorded.
pub(crate) fn tag_fields(cx: &Ctxt, fields: &Fields) -> Vec<TagField> {
    let mut out = Vec::new();
    for (i, field) in fields.iter().enumerate() {
        let attrs: Vec<&Attribute> = field
            .attrs
            .iter()
            .filter(|a| a.path().is_ident("tag"))
            .collect();
        let Some(attr) = attrs.first() else {
            continue;
        };
        if let Some(extra) = attrs.get(1) {
            cx.error_spanned_by(extra, "one `#[tag]` per field: a field gives one tag");
            continue;
        }
        let given = match &attr.meta {
            Meta::Path(_) => None,
            Meta::List(list) => match list.parse_args::<LitStr>() {
                Ok(lit) => Some(lit),
                Err(_) => {
                    cx.error_spanned_by(attr, FORM);
                    continue;
                }
            },
            Meta::NameValue(_) => {
                cx.error_spanned_by(attr, FORM);
                continue;
            }
        };
        let (kind, span) = match (&given, &field.ident) {
            (Some(lit), _) => (lit.value(), lit.span()),
            (None, Some(ident)) => {
                let name = ident.to_string();
                let name = name.strip_prefix("r#").unwrap_or(&name).to_owned();
                match name.strip_suffix("_id") {
                    Some(kind) if !kind.is_empty() => (kind.to_owned(), ident.span()),
                    _ if name == "id" => {
                        cx.error_spanned_by(
                            attr,
                            "a field named `id` does not say what it identifies: name the kind, e.g. `#[tag(\"course\")]`",
                        );
                        continue;
                    }
                    _ => (name, ident.span()),
                }
            }
            (None, None) => {
                cx.error_spanned_by(
                    attr,
                    "a field without a name needs its kind: `#[tag(\"course\")]`",
                );
                continue;
            }
        };
        if kind.is_empty()
            || kind.contains(':')
            || kind.chars().any(|c| c.is_whitespace() || c.is_control())
        {
            cx.error_at(
                span,
                format!("`{kind}` cannot be a tag's kind: it must be a word without `:` or spaces, like `course`"),
            );
            continue;
        }
        out.push(TagField {
            member: match &field.ident {
                Some(ident) => Member::Named(ident.clone()),
                None => Member::Unnamed(syn::Index::from(i)),
            },
            kind,
            ty_span: field.ty.span(),
        });
    }
    out
}

/// Records a `#[tag]` where none may go (on a type, on a variant, on the
/// field of a variant that wraps another event type).
pub(crate) fn refuse(cx: &Ctxt, attrs: &[Attribute], message: &str) {
    for a in attrs.iter().filter(|a| a.path().is_ident("tag")) {
        cx.error_spanned_by(a, message);
    }
}
