//! What the in-memory store keeps for process managers, and the writes a
//! transaction applies to it at commit.

use std::collections::{BTreeMap, HashMap};

use uuid::Uuid;

use crate::process::backend::{PendingCommand, ScheduledDeadline, StoredInstance};

type Key = (String, String);

/// What the in-memory store keeps for process managers.
#[derive(Default)]
pub(crate) struct ProcessTables {
    pub(crate) instances: HashMap<Key, StoredInstance>,
    /// By sequence number: (process, command).
    pub(crate) outbox: BTreeMap<u64, (String, PendingCommand)>,
    pub(crate) next_seq: u64,
    /// By (process, key), then the deadline's JSON: (deadline, fired).
    pub(crate) deadlines: HashMap<Key, HashMap<String, (ScheduledDeadline, bool)>>,
}

/// A process write on a transaction, applied at commit.
#[derive(Clone)]
pub(crate) enum ProcessOp {
    Save(String, String, StoredInstance),
    Enqueue(String, Vec<PendingCommand>),
    Schedule(String, ScheduledDeadline),
    Cancel(String, String, Option<String>),
    Take(String, String, Uuid),
}

impl ProcessTables {
    pub(crate) fn apply(&mut self, op: ProcessOp) {
        match op {
            ProcessOp::Save(process, key, instance) => {
                self.instances.insert((process, key), instance);
            }
            ProcessOp::Enqueue(process, commands) => {
                for mut c in commands {
                    self.next_seq += 1;
                    c.seq = self.next_seq;
                    self.outbox.insert(c.seq, (process.clone(), c));
                }
            }
            ProcessOp::Schedule(process, d) => {
                self.deadlines
                    .entry((process, d.key.clone()))
                    .or_default()
                    .insert(d.deadline.clone(), (d, false));
            }
            ProcessOp::Cancel(process, key, deadline) => {
                let k = (process, key);
                match deadline {
                    None => {
                        self.deadlines.remove(&k);
                    }
                    Some(d) => {
                        if let Some(of_key) = self.deadlines.get_mut(&k) {
                            of_key.remove(&d);
                        }
                    }
                }
            }
            ProcessOp::Take(process, key, id) => {
                if let Some(of_key) = self.deadlines.get_mut(&(process, key)) {
                    of_key.retain(|_, (d, _)| d.id != id);
                }
            }
        }
    }

    pub(crate) fn has_deadline(&self, process: &str, key: &str, id: Uuid) -> bool {
        self.deadlines
            .get(&(process.to_owned(), key.to_owned()))
            .is_some_and(|of_key| of_key.values().any(|(d, _)| d.id == id))
    }
}
