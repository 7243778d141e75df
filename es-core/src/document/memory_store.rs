//! The in-memory store as a [`DocumentBackend`]: documents per projection,
//! written by a [`MemoryTx`] at commit.

use std::collections::BTreeMap;

use super::backend::{DocumentBackend, DocumentQuery, StoredDocument, Write};
use crate::consumer::MemoryTx;
use crate::consumer::memory::Op;
use crate::memory::{InMemoryEventStore, lock_consumers as lock};
use crate::store::StoreError;

pub(crate) mod tables;

use tables::DocumentOp;

impl DocumentBackend for InMemoryEventStore {
    async fn setup_documents(
        &self,
        _: &mut MemoryTx,
        _: &str,
        _: &[&str],
    ) -> Result<(), StoreError> {
        Ok(())
    }

    async fn load_documents(
        &self,
        tx: &mut MemoryTx,
        projection: &str,
        keys: &[String],
    ) -> Result<Vec<StoredDocument>, StoreError> {
        // The committed documents, then this transaction's own writes.
        let mut found: BTreeMap<&str, Option<Vec<u8>>> = BTreeMap::new();
        {
            let c = lock(self.consumers());
            let docs = c.documents.by_projection.get(projection);
            for key in keys {
                found.insert(key, docs.and_then(|d| d.get(key)).cloned());
            }
        }
        for op in &tx.ops {
            match op {
                Op::Document(DocumentOp::Write(p, writes)) if p == projection => {
                    for w in writes {
                        match w {
                            Write::Put { key, body } => {
                                if let Some(slot) = found.get_mut(key.as_str()) {
                                    *slot = Some(body.clone());
                                }
                            }
                            Write::Delete { key } => {
                                if let Some(slot) = found.get_mut(key.as_str()) {
                                    *slot = None;
                                }
                            }
                        }
                    }
                }
                Op::Document(DocumentOp::Clear(p)) if p == projection => {
                    found.values_mut().for_each(|v| *v = None);
                }
                _ => {}
            }
        }
        Ok(found
            .into_iter()
            .filter_map(|(key, body)| {
                body.map(|body| StoredDocument {
                    key: key.to_owned(),
                    body,
                })
            })
            .collect())
    }

    async fn write_documents(
        &self,
        tx: &mut MemoryTx,
        projection: &str,
        writes: &[Write],
    ) -> Result<(), StoreError> {
        tx.ops.push(Op::Document(DocumentOp::Write(
            projection.to_owned(),
            writes.to_vec(),
        )));
        Ok(())
    }

    async fn clear_documents(&self, tx: &mut MemoryTx, projection: &str) -> Result<(), StoreError> {
        tx.ops
            .push(Op::Document(DocumentOp::Clear(projection.to_owned())));
        Ok(())
    }

    async fn query_documents(
        &self,
        projection: &str,
        query: &DocumentQuery,
    ) -> Result<Vec<StoredDocument>, StoreError> {
        let c = lock(self.consumers());
        let Some(docs) = c.documents.by_projection.get(projection) else {
            return Ok(Vec::new());
        };
        let mut out = Vec::new();
        let candidates: Box<dyn Iterator<Item = (&String, &Vec<u8>)>> = match &query.keys {
            Some(keys) => {
                let mut keys: Vec<&String> = keys.iter().collect();
                keys.sort();
                keys.dedup();
                Box::new(keys.into_iter().filter_map(|k| docs.get_key_value(k)))
            }
            None => Box::new(docs.iter()),
        };
        for (key, body) in candidates {
            if query.after.as_ref().is_some_and(|a| key <= a) {
                continue;
            }
            if !query.conditions.is_empty() {
                let Ok(value) = serde_json::from_slice::<serde_json::Value>(body) else {
                    continue;
                };
                if !query.conditions.iter().all(|c| c.matches(&value)) {
                    continue;
                }
            }
            out.push(StoredDocument {
                key: key.clone(),
                body: body.clone(),
            });
            if out.len() >= query.limit {
                break;
            }
        }
        Ok(out)
    }
}
