//! `#[decision(…)]` on a decision model into plain data.

use syn::Attribute;

use super::process::{ListedEvents, listed_events};
use super::{kw, parse_args, set_once, unknown_key};
use crate::ctxt::Ctxt;

/// `#[decision(events(…))]`.
#[derive(Default)]
pub(crate) struct DecisionAttr {
    pub(crate) events: Option<ListedEvents>,
}

/// Reads every `#[decision(…)]` on an item.
pub(crate) fn decision_attr(cx: &Ctxt, attrs: &[Attribute]) -> DecisionAttr {
    let mut out = DecisionAttr::default();
    for attr in attrs.iter().filter(|a| a.path().is_ident("decision")) {
        parse_args(cx, attr, "#[decision(…)]", |meta| {
            if meta.path.is_ident(kw::EVENTS) {
                set_once(cx, &mut out.events, listed_events(cx, &meta), &meta);
            } else {
                unknown_key(cx, &meta, "#[decision(…)]", &[kw::EVENTS]);
            }
            Ok(())
        });
    }
    out
}
