//! What `#[derive(DecisionModel)]` is applied to.

use syn::{Data, DeriveInput};

use crate::attr::decision::decision_attr;
use crate::attr::process::ListedEvents;
use crate::attr::tag::{TagField, tag_fields};
use crate::ctxt::Ctxt;

/// A struct: the model's state, and the `#[tag]` fields that bind its query.
pub(crate) struct DecisionItem<'a> {
    pub(crate) input: &'a DeriveInput,
    /// `None` when `events(…)` is missing.
    pub(crate) events: Option<ListedEvents>,
    pub(crate) tags: Vec<TagField>,
}

impl<'a> DecisionItem<'a> {
    pub(crate) fn from_ast(cx: &Ctxt, input: &'a DeriveInput) -> Option<Self> {
        let attr = decision_attr(cx, &input.attrs);
        let Data::Struct(data) = &input.data else {
            cx.error_spanned_by(
                &input.ident,
                "`#[derive(DecisionModel)]` goes on a struct: the state a decision reads, with `#[tag]` on the fields that bind its query",
            );
            return None;
        };
        Some(Self {
            input,
            events: attr.events,
            tags: tag_fields(cx, &data.fields),
        })
    }
}
