//! `#[document(…)]` on a document projection into plain data.

use syn::parse::Parse;
use syn::{Attribute, Ident, LitStr, Token};

use super::process::{ListedEvents, listed_events};
use super::{kw, lit_str, parenthesized, parse_args, set_once, typed, unknown_key};
use crate::ctxt::Ctxt;

/// The keys of `#[document(…)]`.
pub(crate) mod keys {
    pub(crate) const KEY: &str = "key";
    pub(crate) const INDEX: &str = "index";
    pub(crate) const DOCUMENT_KEYS: &[&str] = &[super::kw::NAME, KEY, super::kw::EVENTS, INDEX];
}

/// `#[document(name = "…", key = field, events(…), index(a, b))]`.
#[derive(Default)]
pub(crate) struct DocumentAttr {
    pub(crate) name: Option<LitStr>,
    pub(crate) key: Option<Ident>,
    pub(crate) events: Option<ListedEvents>,
    /// `None` when `index(…)` is not given.
    pub(crate) index: Option<Vec<Ident>>,
}

/// Reads every `#[document(…)]` on an item.
pub(crate) fn document_attr(cx: &Ctxt, attrs: &[Attribute]) -> DocumentAttr {
    let mut out = DocumentAttr::default();
    for attr in attrs.iter().filter(|a| a.path().is_ident("document")) {
        parse_args(cx, attr, "#[document(…)]", |meta| {
            if meta.path.is_ident(kw::NAME) {
                let name = lit_str(cx, &meta, kw::NAME, "\"account_summary\"");
                set_once(cx, &mut out.name, name, &meta);
            } else if meta.path.is_ident(keys::KEY) {
                let what = "a field name of the listed events";
                let key = typed(cx, &meta, keys::KEY, "owner_id", what);
                set_once(cx, &mut out.key, key, &meta);
            } else if meta.path.is_ident(kw::EVENTS) {
                set_once(cx, &mut out.events, listed_events(cx, &meta), &meta);
            } else if meta.path.is_ident(keys::INDEX) {
                let fields = parenthesized(meta.input)
                    .and_then(|c| c.parse_terminated(Ident::parse, Token![,]));
                match fields {
                    Ok(fields) => {
                        let fields = Some(fields.into_iter().collect());
                        set_once(cx, &mut out.index, fields, &meta);
                    }
                    Err(_) => cx.error_spanned_by(
                        &meta.path,
                        "`index` takes the document's fields to index: `index(owner_id, balance)`",
                    ),
                }
            } else {
                unknown_key(cx, &meta, "#[document(…)]", keys::DOCUMENT_KEYS);
            }
            Ok(())
        });
    }
    out
}
