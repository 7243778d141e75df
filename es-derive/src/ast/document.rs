//! What `#[derive(Document)]` is applied to.

use proc_macro2::Span;
use syn::{Data, DeriveInput, Fields, Ident};

use super::snake_case;
use crate::attr::document::document_attr;
use crate::attr::process::ListedEvents;
use crate::ctxt::Ctxt;

/// A struct with named fields, the document.
pub(crate) struct DocumentItem<'a> {
    pub(crate) input: &'a DeriveInput,
    pub(crate) name: String,
    pub(crate) name_span: Span,
    pub(crate) key: Option<Ident>,
    /// `None` when `events(…)` is missing.
    pub(crate) events: Option<ListedEvents>,
    pub(crate) index: Vec<Ident>,
    /// The struct's named fields.
    pub(crate) fields: Vec<&'a syn::Field>,
}

impl<'a> DocumentItem<'a> {
    pub(crate) fn from_ast(cx: &Ctxt, input: &'a DeriveInput) -> Option<Self> {
        let attr = document_attr(cx, &input.attrs);
        let fields = match &input.data {
            Data::Struct(s) => match &s.fields {
                Fields::Named(named) => named.named.iter().collect(),
                _ => {
                    cx.error_spanned_by(
                        &input.ident,
                        "`#[derive(Document)]` needs a struct with named fields: the document, stored as a JSON object",
                    );
                    return None;
                }
            },
            _ => {
                cx.error_spanned_by(
                    &input.ident,
                    "`#[derive(Document)]` goes on a struct with named fields: the document, stored as a JSON object",
                );
                return None;
            }
        };
        let (name, name_span) = match &attr.name {
            Some(lit) => (lit.value(), lit.span()),
            None => (snake_case(&input.ident), input.ident.span()),
        };
        Some(Self {
            input,
            name,
            name_span,
            key: attr.key,
            events: attr.events,
            index: attr.index.unwrap_or_default(),
            fields,
        })
    }
}
