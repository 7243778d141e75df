//! What `#[derive(ProcessManager)]` and `#[derive(ProcessCommand)]` are
//! applied to.

use proc_macro2::Span;
use syn::{Data, DeriveInput, Fields, Ident, Type};

use super::snake_case;
use crate::attr::process::{ListedEvents, command_attr, process_attr};
use crate::ctxt::Ctxt;

/// What `#[derive(ProcessManager)]` is applied to.
pub(crate) struct ProcessItem<'a> {
    pub(crate) input: &'a DeriveInput,
    pub(crate) name: String,
    pub(crate) name_span: Span,
    pub(crate) commands: Option<Type>,
    pub(crate) deadlines: Option<Type>,
    pub(crate) key: Option<Ident>,
    /// `None` when `events(…)` is missing.
    pub(crate) events: Option<ListedEvents>,
}

impl<'a> ProcessItem<'a> {
    pub(crate) fn from_ast(cx: &Ctxt, input: &'a DeriveInput) -> Option<Self> {
        let attr = process_attr(cx, &input.attrs);
        if let Data::Union(u) = &input.data {
            cx.error_spanned_by(
                u.union_token,
                "`#[derive(ProcessManager)]` supports structs and enums, not unions",
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
            commands: attr.commands,
            deadlines: attr.deadlines,
            key: attr.key,
            events: attr.events,
        })
    }
}

/// What `#[derive(ProcessCommand)]` is applied to: an enum whose variants
/// each wrap one command type bound for one aggregate type.
pub(crate) struct CommandItem<'a> {
    pub(crate) input: &'a DeriveInput,
    pub(crate) variants: Vec<CommandVariant<'a>>,
}

/// `#[command(to = Stock)] Reserve(ReserveStock)`.
pub(crate) struct CommandVariant<'a> {
    pub(crate) ident: &'a Ident,
    /// `None` (recorded) when the variant does not wrap exactly one type.
    pub(crate) ty: Option<&'a Type>,
    /// `None` when `to = …` is missing.
    pub(crate) to: Option<Type>,
}

impl<'a> CommandItem<'a> {
    pub(crate) fn from_ast(cx: &Ctxt, input: &'a DeriveInput) -> Option<Self> {
        let Data::Enum(data) = &input.data else {
            cx.error_spanned_by(
                &input.ident,
                "`#[derive(ProcessCommand)]` goes on an enum of the commands a process manager sends, one variant per command type: `enum CheckoutCommand { #[command(to = Stock)] Reserve(ReserveStock) }`",
            );
            return None;
        };
        let variants = data
            .variants
            .iter()
            .map(|v| {
                let attr = command_attr(cx, &v.attrs);
                let ty = match &v.fields {
                    Fields::Unnamed(f) if f.unnamed.len() == 1 => Some(&f.unnamed[0].ty),
                    _ => {
                        cx.error_spanned_by(
                            v,
                            format!(
                                "variant `{}` must wrap one command type, e.g. `{}(ReserveStock)`: the command an aggregate handles",
                                v.ident, v.ident
                            ),
                        );
                        None
                    }
                };
                CommandVariant {
                    ident: &v.ident,
                    ty,
                    to: attr.to,
                }
            })
            .collect();
        Some(Self { input, variants })
    }
}
