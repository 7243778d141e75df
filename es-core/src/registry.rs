//! [`EventRegistry`]: what an event type decodes, by name.

use crate::event::{Event, EventTypeInfo};

/// The event types (names, versions, aliases) a Rust event type decodes.
///
/// ```
/// # use es_core::{EventRegistry, EventTypeInfo};
/// static TYPES: [EventTypeInfo; 2] = [
///     EventTypeInfo::new("AccountOpened", 1, &[]),
///     EventTypeInfo::new("MoneyDeposited", 2, &["Deposited"]),
/// ];
/// let registry = EventRegistry::new(&TYPES);
/// assert_eq!(registry.resolve("Deposited").unwrap().name, "MoneyDeposited");
/// assert_eq!(registry.names(), ["AccountOpened", "MoneyDeposited", "Deposited"]);
/// ```
#[derive(Debug, Clone, Copy)]
pub struct EventRegistry {
    types: &'static [EventTypeInfo],
}

impl EventRegistry {
    /// A registry over a list of event types.
    pub const fn new(types: &'static [EventTypeInfo]) -> Self {
        Self { types }
    }

    /// The registry of an [`Event`] type.
    pub const fn of<E: Event>() -> Self {
        Self::new(E::EVENT_TYPES)
    }

    /// Every event type, in declaration order.
    pub fn types(&self) -> &'static [EventTypeInfo] {
        self.types
    }

    /// The event type stored under a name or alias.
    pub fn resolve(&self, stored_name: &str) -> Option<&'static EventTypeInfo> {
        self.types.iter().find(|t| t.matches(stored_name))
    }

    /// Every name and alias, in declaration order.
    pub fn names(&self) -> Vec<&'static str> {
        let mut names = Vec::new();
        for t in self.types {
            names.push(t.name);
            names.extend_from_slice(t.aliases);
        }
        names
    }
}
