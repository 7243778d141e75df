//! What the in-memory store keeps for document projections, and the writes
//! a transaction applies to it at commit.

use std::collections::{BTreeMap, HashMap};

use crate::document::backend::Write;

/// What the in-memory store keeps: per projection, the documents by key.
#[derive(Default)]
pub(crate) struct DocumentTables {
    pub(crate) by_projection: HashMap<String, BTreeMap<String, Vec<u8>>>,
}

/// A document write on a transaction, applied at commit.
pub(crate) enum DocumentOp {
    Write(String, Vec<Write>),
    Clear(String),
}

impl DocumentTables {
    pub(crate) fn apply(&mut self, op: DocumentOp) {
        match op {
            DocumentOp::Write(projection, writes) => {
                let docs = self.by_projection.entry(projection).or_default();
                for w in writes {
                    match w {
                        Write::Put { key, body } => {
                            docs.insert(key, body);
                        }
                        Write::Delete { key } => {
                            docs.remove(&key);
                        }
                    }
                }
            }
            DocumentOp::Clear(projection) => {
                self.by_projection.remove(&projection);
            }
        }
    }
}
