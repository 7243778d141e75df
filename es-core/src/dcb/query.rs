//! [`Tag`], [`QueryItem`] and [`Query`]: what a decision reads.

use std::fmt;

/// The most bytes a tag may have.
pub const MAX_TAG_BYTES: usize = 256;

/// A tag of an event: a short string naming something the event is about,
/// by convention `kind:id` (`course:c1`, `student:s7`). Not empty, at most
/// [`MAX_TAG_BYTES`] bytes, no control characters.
///
/// ```
/// use es_core::dcb::Tag;
/// assert_eq!(Tag::new("course:c1").unwrap().as_str(), "course:c1");
/// assert_eq!(Tag::of("student", "s7").unwrap().as_str(), "student:s7");
/// assert!(Tag::new("").is_err());
/// ```
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize)]
#[serde(transparent)]
pub struct Tag(String);

/// Why a string cannot be a [`Tag`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{tag}` cannot be a tag: {reason}")]
pub struct InvalidTag {
    /// The string (cut to 64 characters).
    pub tag: String,
    /// Why.
    pub reason: &'static str,
}

impl Tag {
    /// A tag, checked.
    pub fn new(tag: impl Into<String>) -> Result<Self, InvalidTag> {
        let tag = tag.into();
        let reason = if tag.is_empty() {
            Some("it is empty")
        } else if tag.len() > MAX_TAG_BYTES {
            Some("it is longer than 256 bytes")
        } else if tag.chars().any(char::is_control) {
            Some("it holds a control character")
        } else {
            None
        };
        match reason {
            Some(reason) => Err(InvalidTag {
                tag: tag.chars().take(64).collect(),
                reason,
            }),
            None => Ok(Self(tag)),
        }
    }

    /// The tag `kind:id`; an empty `id` is refused (a tag that names
    /// nothing).
    ///
    /// ```
    /// use es_core::dcb::Tag;
    /// assert_eq!(Tag::of("course", "c1").unwrap().as_str(), "course:c1");
    /// assert_eq!(Tag::of("course", "").unwrap_err().reason, "its value is empty");
    /// ```
    pub fn of(kind: &str, id: impl fmt::Display) -> Result<Self, InvalidTag> {
        let tag = format!("{kind}:{id}");
        if tag.len() == kind.len() + 1 {
            return Err(InvalidTag {
                tag,
                reason: "its value is empty",
            });
        }
        Self::new(tag)
    }

    /// The tag as a string.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Tag {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl<'de> serde::Deserialize<'de> for Tag {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Tag::new(String::deserialize(d)?).map_err(serde::de::Error::custom)
    }
}

/// One part of a [`Query`]: events of any of `types` (every type when
/// empty) that carry every one of `tags` (any tags when empty).
///
/// ```
/// use es_core::dcb::{QueryItem, Tag};
/// let item = QueryItem::new().types(["StudentSubscribed"]).tags([Tag::new("course:c1").unwrap()]);
/// assert!(item.matches("StudentSubscribed", &[Tag::new("course:c1").unwrap(), Tag::new("student:s1").unwrap()]));
/// assert!(!item.matches("StudentSubscribed", &[Tag::new("course:c2").unwrap()]));
/// assert!(!item.matches("CourseCreated", &[Tag::new("course:c1").unwrap()]));
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct QueryItem {
    types: Vec<String>,
    tags: Vec<Tag>,
}

impl QueryItem {
    /// An item matching every event.
    pub fn new() -> Self {
        Self::default()
    }

    /// Only events of these types (added to those given before).
    #[must_use]
    pub fn types<T: Into<String>>(mut self, types: impl IntoIterator<Item = T>) -> Self {
        for t in types {
            let t = t.into();
            if !self.types.contains(&t) {
                self.types.push(t);
            }
        }
        self
    }

    /// Only events carrying all these tags (added to those given before).
    #[must_use]
    pub fn tags(mut self, tags: impl IntoIterator<Item = Tag>) -> Self {
        for t in tags {
            if !self.tags.contains(&t) {
                self.tags.push(t);
            }
        }
        self
    }

    /// Its event types (empty: every type).
    pub fn event_types(&self) -> &[String] {
        &self.types
    }

    /// Its tags (empty: any).
    pub fn tag_list(&self) -> &[Tag] {
        &self.tags
    }

    /// Whether an event of `event_type` carrying `tags` matches.
    pub fn matches(&self, event_type: &str, tags: &[Tag]) -> bool {
        (self.types.is_empty() || self.types.iter().any(|t| t == event_type))
            && self.tags.iter().all(|t| tags.contains(t))
    }

    /// Whether it matches every event.
    pub fn is_all(&self) -> bool {
        self.types.is_empty() && self.tags.is_empty()
    }
}

/// What a decision reads: the events matching any of its items.
///
/// ```
/// use es_core::dcb::{Query, QueryItem, Tag};
/// let c1 = Tag::new("course:c1").unwrap();
/// let query = Query::items([
///     QueryItem::new().types(["CourseCreated", "CourseCapacityChanged"]).tags([c1.clone()]),
///     QueryItem::new().types(["StudentSubscribed"]).tags([c1.clone()]),
/// ]);
/// assert!(query.matches("CourseCreated", &[c1.clone()]));
/// assert!(!query.matches("CourseRenamed", &[c1]));
/// assert!(Query::all().matches("Anything", &[]));
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Query {
    items: Vec<QueryItem>,
}

impl Query {
    /// The query matching every event.
    pub fn all() -> Self {
        Self {
            items: vec![QueryItem::new()],
        }
    }

    /// The query of one item.
    pub fn item(item: QueryItem) -> Self {
        Self { items: vec![item] }
    }

    /// The query of these items (none: it matches nothing).
    pub fn items(items: impl IntoIterator<Item = QueryItem>) -> Self {
        Self {
            items: items.into_iter().collect(),
        }
    }

    /// This query and the items of `other`: the events either matches
    /// (how two decision models read as one decision).
    #[must_use]
    pub fn or(mut self, other: Query) -> Self {
        for item in other.items {
            if !self.items.contains(&item) {
                self.items.push(item);
            }
        }
        self
    }

    /// Its items.
    pub fn item_list(&self) -> &[QueryItem] {
        &self.items
    }

    /// Whether an event of `event_type` carrying `tags` matches.
    pub fn matches(&self, event_type: &str, tags: &[Tag]) -> bool {
        self.items.iter().any(|i| i.matches(event_type, tags))
    }

    /// Whether it matches every event.
    pub fn is_all(&self) -> bool {
        self.items.iter().any(QueryItem::is_all)
    }

    /// Whether it matches no event.
    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    /// The keys a writer under this condition locks (exclusively), so that
    /// any writer appending an event this query matches (which locks the
    /// keys of [`Query::event_keys`], shared) waits for it or is seen by
    /// it: per item its tags, or its types when it has no tags, or `*`.
    /// Sorted, without duplicates.
    pub fn lock_keys(&self) -> Vec<String> {
        let mut keys = Vec::new();
        for item in &self.items {
            if let Some(tag) = item.tags.first() {
                // An event matching the item carries all its tags: one of
                // them is enough to meet every such writer.
                keys.push(format!("t:{tag}"));
            } else if !item.types.is_empty() {
                keys.extend(item.types.iter().map(|t| format!("y:{t}")));
            } else {
                keys.push("*".to_owned());
            }
        }
        keys.sort();
        keys.dedup();
        keys
    }

    /// The keys a writer of an event of `event_type` carrying `tags` locks
    /// (shared): its tags, its type, and `*`.
    pub fn event_keys(event_type: &str, tags: &[Tag]) -> Vec<String> {
        let mut keys: Vec<String> = tags.iter().map(|t| format!("t:{t}")).collect();
        keys.push(format!("y:{event_type}"));
        keys.push("*".to_owned());
        keys
    }
}
