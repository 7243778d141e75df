//! Runtime support for the derives. Not public API: the names here may change
//! in any release.

pub use serde;
pub use serde_json;

pub use crate::event::json::{
    check_known, check_version, decode_json, decode_value, encode_checked, encode_json,
    parse_value, unknown_event_type,
};
pub use crate::projection::dispatch_to;
#[cfg(feature = "schema")]
pub use crate::schema::private::{
    NoJsonSchema, SchemaProbe, ViaJsonSchema, enum_schemas, struct_schemas,
};
pub use crate::upcast::{UpcastFn, run_steps};

use crate::event::{DecodeError, EncodeError, Event, EventTypeInfo};

/// Compile-time string equality, for the derives' duplicate-name checks.
pub const fn str_eq(a: &str, b: &str) -> bool {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    if a.len() != b.len() {
        return false;
    }
    let mut i = 0;
    while i < a.len() {
        if a[i] != b[i] {
            return false;
        }
        i += 1;
    }
    true
}

/// The total number of event types in several lists, for [`concat_event_types`].
pub const fn count_event_types(parts: &[&[EventTypeInfo]]) -> usize {
    let mut n = 0;
    let mut i = 0;
    while i < parts.len() {
        n += parts[i].len();
        i += 1;
    }
    n
}

/// Concatenates event type lists at compile time (an enum's registry from its
/// variants'). `N` must be `count_event_types(parts)`.
pub const fn concat_event_types<const N: usize>(parts: &[&[EventTypeInfo]]) -> [EventTypeInfo; N] {
    let mut out = [EventTypeInfo::new("", 0, &[]); N];
    let mut k = 0;
    let mut i = 0;
    while i < parts.len() {
        let mut j = 0;
        while j < parts[i].len() {
            out[k] = parts[i][j];
            k += 1;
            j += 1;
        }
        i += 1;
    }
    assert!(k == N, "concat_event_types: N does not match the parts");
    out
}

/// The first name or alias declared twice in a list of event types (across
/// entries, or an entry whose alias repeats its own name or another alias),
/// if any.
pub const fn duplicate_name(types: &[EventTypeInfo]) -> Option<&'static str> {
    let mut i = 0;
    while i < types.len() {
        // Names of entry i against themselves: the name and each alias.
        let mut a = 0;
        while a <= types[i].aliases.len() {
            let x = name_at(&types[i], a);
            let mut b = a + 1;
            while b <= types[i].aliases.len() {
                if str_eq(x, name_at(&types[i], b)) {
                    return Some(x);
                }
                b += 1;
            }
            // Against every later entry.
            let mut j = i + 1;
            while j < types.len() {
                let mut c = 0;
                while c <= types[j].aliases.len() {
                    if str_eq(x, name_at(&types[j], c)) {
                        return Some(x);
                    }
                    c += 1;
                }
                j += 1;
            }
            a += 1;
        }
        i += 1;
    }
    None
}

/// Name 0 is the type's name, name `k` its alias `k - 1`.
const fn name_at(info: &EventTypeInfo, k: usize) -> &'static str {
    if k == 0 {
        info.name
    } else {
        info.aliases[k - 1]
    }
}

/// Applies an event value to an aggregate by dispatching to its
/// [`Apply`](crate::Apply) impls. `#[derive(Event)]` implements it for every
/// aggregate that applies each of the type's events; `#[derive(Aggregate)]`
/// requires it, so a missing `Apply<X>` is reported as such.
#[diagnostic::on_unimplemented(
    message = "`{Self}` has no generated apply dispatch for `{A}`",
    label = "`{Self}` does not derive `Event`",
    note = "derive `es_core::Event` on `{Self}`, or implement `es_core::Aggregate` for `{A}` by hand"
)]
pub trait ApplyEvents<A: ?Sized> {
    /// Applies `self` to `aggregate`.
    fn apply_to(&self, aggregate: &mut A);
}

/// The event type of an aggregate whose derive failed, so one mistake does not
/// cascade into errors about the missing `Event` type.
#[derive(Debug)]
pub enum NoEvent {}

impl Event for NoEvent {
    const EVENT_TYPES: &'static [EventTypeInfo] = &[];
    fn event_type(&self) -> &'static str {
        match *self {}
    }
    fn schema_version(&self) -> u32 {
        match *self {}
    }
    fn encode(&self) -> Result<Vec<u8>, EncodeError> {
        match *self {}
    }
    fn decode(event_type: &str, _: u32, _: &[u8]) -> Result<Self, DecodeError> {
        Err(unknown_event_type::<Self>(event_type))
    }
}

impl<A: ?Sized> ApplyEvents<A> for NoEvent {
    fn apply_to(&self, _: &mut A) {
        match *self {}
    }
}

/// Whether a stored name is `name` or one of `aliases` (an inline variant's
/// event type, in the enum derive's decoding).
pub fn matches_name(stored: &str, name: &str, aliases: &[&str]) -> bool {
    stored == name || aliases.contains(&stored)
}

/// A message assembled at compile time, for a const panic (whose format
/// arguments can only be one `&str`).
pub struct ConstMessage {
    buf: [u8; 512],
    len: usize,
}

impl ConstMessage {
    /// Concatenates the parts, cut at 512 bytes.
    pub const fn new(parts: &[&str]) -> Self {
        let mut buf = [0u8; 512];
        let mut len = 0;
        let mut i = 0;
        while i < parts.len() {
            let bytes = parts[i].as_bytes();
            let mut j = 0;
            while j < bytes.len() && len < buf.len() {
                buf[len] = bytes[j];
                len += 1;
                j += 1;
            }
            i += 1;
        }
        Self { buf, len }
    }

    /// The message (empty if the cut split a character).
    pub const fn as_str(&self) -> &str {
        match std::str::from_utf8(self.buf.split_at(self.len).0) {
            Ok(s) => s,
            Err(_) => "",
        }
    }
}

/// Whether a stored type name is one of `types` (by name or alias): the test
/// of each arm of a derived [`Dispatch`](crate::projection::Dispatch).
pub fn type_matches(types: &[EventTypeInfo], stored_name: &str) -> bool {
    types.iter().any(|t| t.matches(stored_name))
}

/// How many names (and aliases) several event registries hold; with
/// [`concat_type_names`] the derive builds `EVENT_TYPES` at compile time.
pub const fn count_type_names(parts: &[&[EventTypeInfo]]) -> usize {
    let mut n = 0;
    let mut i = 0;
    while i < parts.len() {
        let mut j = 0;
        while j < parts[i].len() {
            n += 1 + parts[i][j].aliases.len();
            j += 1;
        }
        i += 1;
    }
    n
}

/// Every name and alias of several event registries, in order. `N` must be
/// `count_type_names(parts)`.
pub const fn concat_type_names<const N: usize>(parts: &[&[EventTypeInfo]]) -> [&'static str; N] {
    let mut out = [""; N];
    let mut k = 0;
    let mut i = 0;
    while i < parts.len() {
        let mut j = 0;
        while j < parts[i].len() {
            out[k] = parts[i][j].name;
            k += 1;
            let mut a = 0;
            while a < parts[i][j].aliases.len() {
                out[k] = parts[i][j].aliases[a];
                k += 1;
                a += 1;
            }
            j += 1;
        }
        i += 1;
    }
    assert!(k == N, "concat_type_names: N does not match the parts");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn duplicate_name_considers_aliases() {
        let t = |n, a| EventTypeInfo::new(n, 1, a);
        assert_eq!(duplicate_name(&[t("A", &[]), t("B", &[])]), None);
        assert_eq!(duplicate_name(&[t("A", &[]), t("A", &[])]), Some("A"));
        assert_eq!(
            duplicate_name(&[t("A", &["Old"]), t("B", &["Old"])]),
            Some("Old")
        );
        assert_eq!(duplicate_name(&[t("A", &["B"]), t("B", &[])]), Some("B"));
        assert_eq!(duplicate_name(&[t("A", &["A"])]), Some("A"));
        assert_eq!(duplicate_name(&[t("A", &["X", "X"])]), Some("X"));
    }
}

/// The command type of a process manager whose derive failed (its errors
/// are already reported): it sends nothing.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub enum NoCommand {}

impl crate::process::ProcessCommand for NoCommand {
    fn aggregate(&self) -> &'static str {
        match *self {}
    }
    async fn execute<S: crate::EventStore + crate::SnapshotStore>(
        self,
        _: &S,
        _: &str,
        _: crate::Metadata,
    ) -> Result<(), crate::process::CommandFailure> {
        match self {}
    }
}
