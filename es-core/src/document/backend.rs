//! What a store keeps for document projections: [`DocumentBackend`].

use std::collections::HashMap;
use std::future::Future;

use crate::consumer::Backend;
use crate::store::StoreError;

use super::condition::Condition;

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

impl Write {
    /// What `writes`, applied in order, leave: the last write of each key,
    /// split into the documents to put and the keys to delete (no key in
    /// both), for a store that writes a batch with one statement per kind.
    ///
    /// ```
    /// use es_core::document::Write;
    /// let writes = [
    ///     Write::Put { key: "a".into(), body: b"{}".to_vec() },
    ///     Write::Delete { key: "a".into() },
    ///     Write::Put { key: "b".into(), body: b"1".to_vec() },
    /// ];
    /// let net = Write::net(&writes);
    /// assert_eq!(net.puts, [("b", &b"1"[..])]);
    /// assert_eq!(net.deletes, ["a"]);
    /// ```
    pub fn net(writes: &[Write]) -> NetWrites<'_> {
        let mut last: Vec<(&str, Option<&[u8]>)> = Vec::with_capacity(writes.len());
        let mut at: HashMap<&str, usize> = HashMap::with_capacity(writes.len());
        for w in writes {
            let (key, body) = match w {
                Write::Put { key, body } => (key.as_str(), Some(body.as_slice())),
                Write::Delete { key } => (key.as_str(), None),
            };
            match at.get(key) {
                Some(&i) => last[i].1 = body,
                None => {
                    at.insert(key, last.len());
                    last.push((key, body));
                }
            }
        }
        let mut net = NetWrites::default();
        for (key, body) in last {
            match body {
                Some(body) => net.puts.push((key, body)),
                None => net.deletes.push(key),
            }
        }
        net
    }
}

/// The net effect of a batch's writes ([`Write::net`]), each key once, in
/// the order of its first write.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct NetWrites<'a> {
    /// The documents to insert or replace: key and body.
    pub puts: Vec<(&'a str, &'a [u8])>,
    /// The keys to delete.
    pub deletes: Vec<&'a str>,
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

    /// Holds the documents of `keys` (existing or not) until the
    /// transaction ends, against other transactions that lock them: what a
    /// projection whose batches may run at once needs before it loads them
    /// (an inline document projection runs in each append's transaction,
    /// and appends to different streams may touch one document). A store
    /// whose write transactions never overlap (SQLite's `BEGIN IMMEDIATE`,
    /// the in-memory store's lock) keeps the default, which does nothing.
    fn lock_documents(
        &self,
        tx: &mut Self::Tx,
        projection: &str,
        keys: &[String],
    ) -> impl Future<Output = Result<(), StoreError>> + Send {
        let _ = (tx, projection, keys);
        std::future::ready(Ok(()))
    }

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
