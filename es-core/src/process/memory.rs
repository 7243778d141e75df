//! The in-memory store as a [`ProcessBackend`]: its tables, and the writes
//! a [`MemoryTx`] applies at commit.

use std::collections::{BTreeMap, HashMap};

use uuid::Uuid;

use super::backend::{
    PendingCommand, ProcessBackend, ProcessCounts, ScheduledDeadline, StoredInstance,
};
use crate::consumer::MemoryTx;
use crate::consumer::memory::Op;
use crate::envelope::Timestamp;
use crate::memory::{InMemoryEventStore, lock_consumers as lock};
use crate::store::StoreError;

type Key = (String, String);

/// What the in-memory store keeps for process managers.
#[derive(Default)]
pub(crate) struct ProcessTables {
    instances: HashMap<Key, StoredInstance>,
    /// By sequence number: (process, command).
    outbox: BTreeMap<u64, (String, PendingCommand)>,
    next_seq: u64,
    /// By (process, key), then the deadline's JSON: (deadline, fired).
    deadlines: HashMap<Key, HashMap<String, (ScheduledDeadline, bool)>>,
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

    fn has_deadline(&self, process: &str, key: &str, id: Uuid) -> bool {
        self.deadlines
            .get(&(process.to_owned(), key.to_owned()))
            .is_some_and(|of_key| of_key.values().any(|(d, _)| d.id == id))
    }
}

fn push(tx: &mut MemoryTx, op: ProcessOp) {
    tx.ops.push(Op::Process(op));
}

/// The process ops of `tx`, in order.
fn pending(tx: &MemoryTx) -> impl DoubleEndedIterator<Item = &ProcessOp> {
    tx.ops.iter().filter_map(|op| match op {
        Op::Process(p) => Some(p),
        _ => None,
    })
}

impl ProcessBackend for InMemoryEventStore {
    async fn load_instance(
        &self,
        tx: &mut MemoryTx,
        process: &str,
        key: &str,
    ) -> Result<Option<StoredInstance>, StoreError> {
        for op in pending(tx).rev() {
            if let ProcessOp::Save(p, k, instance) = op
                && p == process
                && k == key
            {
                return Ok(Some(instance.clone()));
            }
        }
        Ok(lock(self.consumers())
            .processes
            .instances
            .get(&(process.to_owned(), key.to_owned()))
            .cloned())
    }

    async fn save_instance(
        &self,
        tx: &mut MemoryTx,
        process: &str,
        key: &str,
        instance: &StoredInstance,
    ) -> Result<(), StoreError> {
        push(
            tx,
            ProcessOp::Save(process.to_owned(), key.to_owned(), instance.clone()),
        );
        Ok(())
    }

    async fn enqueue(
        &self,
        tx: &mut MemoryTx,
        process: &str,
        commands: &[PendingCommand],
    ) -> Result<(), StoreError> {
        push(
            tx,
            ProcessOp::Enqueue(process.to_owned(), commands.to_vec()),
        );
        Ok(())
    }

    async fn schedule(
        &self,
        tx: &mut MemoryTx,
        process: &str,
        deadline: &ScheduledDeadline,
    ) -> Result<(), StoreError> {
        push(
            tx,
            ProcessOp::Schedule(process.to_owned(), deadline.clone()),
        );
        Ok(())
    }

    async fn cancel(
        &self,
        tx: &mut MemoryTx,
        process: &str,
        key: &str,
        deadline: Option<&str>,
    ) -> Result<(), StoreError> {
        push(
            tx,
            ProcessOp::Cancel(
                process.to_owned(),
                key.to_owned(),
                deadline.map(str::to_owned),
            ),
        );
        Ok(())
    }

    async fn take_deadline(
        &self,
        tx: &mut MemoryTx,
        process: &str,
        key: &str,
        id: Uuid,
    ) -> Result<bool, StoreError> {
        // The committed deadlines of the instance, then this transaction's
        // changes to them, in order.
        let k = (process.to_owned(), key.to_owned());
        let mut tables = ProcessTables::default();
        if let Some(of_key) = lock(self.consumers()).processes.deadlines.get(&k) {
            tables.deadlines.insert(k.clone(), of_key.clone());
        }
        for op in pending(tx) {
            let mine = match op {
                ProcessOp::Schedule(p, d) => *p == k.0 && d.key == k.1,
                ProcessOp::Cancel(p, key, _) | ProcessOp::Take(p, key, _) => {
                    *p == k.0 && *key == k.1
                }
                _ => false,
            };
            if mine {
                tables.apply(op.clone());
            }
        }
        let present = tables.has_deadline(process, key, id);
        if present {
            push(tx, ProcessOp::Take(process.to_owned(), key.to_owned(), id));
        }
        Ok(present)
    }

    async fn pending_commands(
        &self,
        process: &str,
        limit: usize,
    ) -> Result<Vec<PendingCommand>, StoreError> {
        Ok(lock(self.consumers())
            .processes
            .outbox
            .values()
            .filter(|(p, _)| p == process)
            .take(limit)
            .map(|(_, c)| c.clone())
            .collect())
    }

    async fn commands_done(&self, process: &str, seqs: &[u64]) -> Result<(), StoreError> {
        let mut c = lock(self.consumers());
        for seq in seqs {
            if c.processes
                .outbox
                .get(seq)
                .is_some_and(|(p, _)| p == process)
            {
                c.processes.outbox.remove(seq);
            }
        }
        Ok(())
    }

    async fn due_deadlines(
        &self,
        process: &str,
        now: Timestamp,
        limit: usize,
    ) -> Result<Vec<ScheduledDeadline>, StoreError> {
        let c = lock(self.consumers());
        let mut due: Vec<ScheduledDeadline> = c
            .processes
            .deadlines
            .iter()
            .filter(|((p, _), _)| p == process)
            .flat_map(|(_, of_key)| of_key.values())
            .filter(|(d, fired)| !fired && d.due_at <= now)
            .map(|(d, _)| d.clone())
            .collect();
        due.sort_by(|a, b| (a.due_at, &a.key).cmp(&(b.due_at, &b.key)));
        due.truncate(limit);
        Ok(due)
    }

    async fn deadline_fired(&self, process: &str, id: Uuid) -> Result<(), StoreError> {
        let mut c = lock(self.consumers());
        for ((p, _), of_key) in &mut c.processes.deadlines {
            if p == process {
                for (d, fired) in of_key.values_mut() {
                    if d.id == id {
                        *fired = true;
                    }
                }
            }
        }
        Ok(())
    }

    async fn process_counts(&self, process: &str) -> Result<ProcessCounts, StoreError> {
        let c = lock(self.consumers());
        let t = &c.processes;
        let mut counts = ProcessCounts::default();
        for ((p, _), i) in &t.instances {
            if p == process {
                if i.finished {
                    counts.finished += 1;
                } else {
                    counts.active += 1;
                }
            }
        }
        counts.pending_commands = t.outbox.values().filter(|(p, _)| p == process).count() as u64;
        counts.deadlines = t
            .deadlines
            .iter()
            .filter(|((p, _), _)| p == process)
            .map(|(_, of_key)| of_key.len() as u64)
            .sum();
        Ok(counts)
    }
}
