//! [`EventTypeInfo`]: the name, version and aliases of one event type.

/// One event type that a Rust type can decode: its stored name, the schema
/// version it writes, and the former names it still reads.
///
/// ```
/// use es_core::EventTypeInfo;
/// const OPENED: EventTypeInfo = EventTypeInfo::new("AccountOpened", 1, &["Opened"]);
/// assert!(OPENED.matches("Opened"));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct EventTypeInfo {
    /// The name events of this type are stored under.
    pub name: &'static str,
    /// The schema version this code writes; older versions are upcast on read.
    pub version: u32,
    /// Former names that still decode as this type.
    pub aliases: &'static [&'static str],
}

impl EventTypeInfo {
    /// Describes an event type.
    pub const fn new(name: &'static str, version: u32, aliases: &'static [&'static str]) -> Self {
        Self {
            name,
            version,
            aliases,
        }
    }

    /// Whether a stored type name is this type's name or one of its aliases.
    pub fn matches(&self, stored_name: &str) -> bool {
        self.name == stored_name || self.aliases.contains(&stored_name)
    }
}
