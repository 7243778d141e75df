//! What a store keeps for document projections: [`DocumentBackend`].

use std::future::Future;

use crate::consumer::Backend;
use crate::store::StoreError;

use super::query::Condition;

/// A stored document: its key and its JSON.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredDocument {
    /// The key.
    pub key: String,
    /// The document as JSON.
    pub body: Vec<u8>,
}

/// A change to one document, written with the batch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Write {
    /// Inserts or replaces the document `key`.
    Put {
        /// The key.
        key: String,
        /// The document as JSON.
        body: Vec<u8>,
    },
    /// Deletes the document `key` (if it is there).
    Delete {
        /// The key.
        key: String,
    },
}

/// A read of documents: by keys, or all of them, narrowed by conditions on
/// indexed fields, in key order, from after a key, at most `limit`.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct DocumentQuery {
    /// Only these keys (`None`: any).
    pub keys: Option<Vec<String>>,
    /// Every condition holds (on top-level fields the projection indexes).
    pub conditions: Vec<Condition>,
    /// Only keys after this one (paging).
    pub after: Option<String>,
    /// At most this many.
    pub limit: usize,
}

/// A store that keeps document projections: a consumer [`Backend`] whose
/// batch transaction also reads and writes the documents, so a batch's
/// documents and its checkpoint commit together.
pub trait DocumentBackend: Backend {
    /// Creates what `projection`'s documents need (a table, its indexes on
    /// `indexes`), once per activation, in the checkpoint's transaction.
    fn setup_documents(
        &self,
        tx: &mut Self::Tx,
        projection: &str,
        indexes: &[&str],
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// The documents of `keys` that exist, in the transaction.
    fn load_documents(
        &self,
        tx: &mut Self::Tx,
        projection: &str,
        keys: &[String],
    ) -> impl Future<Output = Result<Vec<StoredDocument>, StoreError>> + Send;

    /// Writes a batch's changes, in order.
    fn write_documents(
        &self,
        tx: &mut Self::Tx,
        projection: &str,
        writes: &[Write],
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// Deletes every document of `projection` (a rebuild starts empty).
    fn clear_documents(
        &self,
        tx: &mut Self::Tx,
        projection: &str,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// Reads committed documents.
    fn query_documents(
        &self,
        projection: &str,
        query: &DocumentQuery,
    ) -> impl Future<Output = Result<Vec<StoredDocument>, StoreError>> + Send;
}
