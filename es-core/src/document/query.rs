//! [`Documents`]: reading a document projection.

use std::marker::PhantomData;

use serde::Serialize;

use super::backend::{DocumentBackend, DocumentQuery, StoredDocument};
use super::condition::{Condition, Op};
use super::model::Document;
use crate::store::StoreError;

/// Conditions on indexed fields, and a page.
///
/// ```
/// use es_core::document::Filter;
/// let f = Filter::new().eq("owner_id", "alice").ge("balance", 100).limit(20);
/// assert_eq!(f.conditions().len(), 2);
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct Filter {
    conditions: Vec<Condition>,
    after: Option<String>,
    limit: usize,
}

impl Default for Filter {
    fn default() -> Self {
        Self::new()
    }
}

impl Filter {
    /// No condition; pages of 100.
    pub fn new() -> Self {
        Self {
            conditions: Vec::new(),
            after: None,
            limit: 100,
        }
    }

    fn with(mut self, field: &str, op: Op, value: impl Serialize) -> Self {
        self.conditions.push(Condition {
            field: field.to_owned(),
            op,
            value: serde_json::to_value(value).unwrap_or(serde_json::Value::Null),
        });
        self
    }

    /// `field == value`.
    pub fn eq(self, field: &str, value: impl Serialize) -> Self {
        self.with(field, Op::Eq, value)
    }
    /// `field < value`.
    pub fn lt(self, field: &str, value: impl Serialize) -> Self {
        self.with(field, Op::Lt, value)
    }
    /// `field <= value`.
    pub fn le(self, field: &str, value: impl Serialize) -> Self {
        self.with(field, Op::Le, value)
    }
    /// `field > value`.
    pub fn gt(self, field: &str, value: impl Serialize) -> Self {
        self.with(field, Op::Gt, value)
    }
    /// `field >= value`.
    pub fn ge(self, field: &str, value: impl Serialize) -> Self {
        self.with(field, Op::Ge, value)
    }
    /// Only keys after `key` (the last key of the previous page).
    pub fn after(mut self, key: impl Into<String>) -> Self {
        self.after = Some(key.into());
        self
    }
    /// At most `n` documents (at least 1).
    pub fn limit(mut self, n: usize) -> Self {
        self.limit = n.max(1);
        self
    }
    /// The conditions.
    pub fn conditions(&self) -> &[Condition] {
        &self.conditions
    }
}

/// Why a document read failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DocumentError {
    /// A filter on a field the document does not index.
    #[error("document `{document}` does not index `{field}`; it indexes: {}", indexes.join(", "))]
    NotIndexed {
        /// The document projection.
        document: &'static str,
        /// The field.
        field: String,
        /// The fields it indexes.
        indexes: &'static [&'static str],
    },
    /// A stored document does not decode as this build's type.
    #[error(
        "document `{key}` of `{document}` does not decode (rebuild the projection after changing its shape)"
    )]
    Decode {
        /// The document projection.
        document: &'static str,
        /// The key.
        key: String,
        /// Why.
        #[source]
        source: serde_json::Error,
    },
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Reads the committed documents of `D` (what the engine has handled: wait
/// for a write with [`Progress::wait_for`](crate::consumer::Progress::wait_for)
/// to read it).
pub struct Documents<D, B> {
    backend: B,
    _document: PhantomData<fn() -> D>,
}

impl<D, B: Clone> Clone for Documents<D, B> {
    fn clone(&self) -> Self {
        Self {
            backend: self.backend.clone(),
            _document: PhantomData,
        }
    }
}

impl<D: Document, B: std::fmt::Debug> std::fmt::Debug for Documents<D, B> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Documents")
            .field("document", &D::NAME)
            .finish()
    }
}

impl<D: Document, B: DocumentBackend> Documents<D, B> {
    /// The documents of `D` in `backend`.
    pub fn new(backend: B) -> Self {
        Self {
            backend,
            _document: PhantomData,
        }
    }

    fn decode(rows: Vec<StoredDocument>) -> Result<Vec<(String, D)>, DocumentError> {
        rows.into_iter()
            .map(|s| match serde_json::from_slice(&s.body) {
                Ok(d) => Ok((s.key, d)),
                Err(source) => Err(DocumentError::Decode {
                    document: D::NAME,
                    key: s.key,
                    source,
                }),
            })
            .collect()
    }

    /// The document `key`, if there is one.
    pub async fn get(&self, key: &str) -> Result<Option<D>, DocumentError> {
        Ok(self.get_many(&[key]).await?.pop().map(|(_, d)| d))
    }

    /// The documents of `keys` that exist, in key order.
    pub async fn get_many(&self, keys: &[&str]) -> Result<Vec<(String, D)>, DocumentError> {
        let query = DocumentQuery {
            keys: Some(keys.iter().map(|k| (*k).to_owned()).collect()),
            conditions: Vec::new(),
            after: None,
            limit: keys.len().max(1),
        };
        Self::decode(self.backend.query_documents(D::NAME, &query).await?)
    }

    /// A page of the documents that match `filter`, in key order; pass the
    /// last key to [`Filter::after`] for the next page.
    pub async fn filter(&self, filter: &Filter) -> Result<Vec<(String, D)>, DocumentError> {
        for c in &filter.conditions {
            if !D::INDEXES.contains(&c.field.as_str()) {
                return Err(DocumentError::NotIndexed {
                    document: D::NAME,
                    field: c.field.clone(),
                    indexes: D::INDEXES,
                });
            }
        }
        let query = DocumentQuery {
            keys: None,
            conditions: filter.conditions.clone(),
            after: filter.after.clone(),
            limit: filter.limit,
        };
        Self::decode(self.backend.query_documents(D::NAME, &query).await?)
    }

    /// A page of all documents, in key order, after `after`.
    pub async fn page(
        &self,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Vec<(String, D)>, DocumentError> {
        let mut filter = Filter::new().limit(limit);
        if let Some(a) = after {
            filter = filter.after(a);
        }
        self.filter(&filter).await
    }
}
