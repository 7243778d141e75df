//! The in-memory store as a [`ProcessBackend`]: its tables, and the writes
//! a [`MemoryTx`] applies at commit.

use uuid::Uuid;

use super::backend::{
    PendingCommand, ProcessBackend, ProcessCounts, ScheduledDeadline, StoredInstance,
};
use crate::consumer::MemoryTx;
use crate::consumer::memory::Op;
use crate::envelope::Timestamp;
use crate::memory::{InMemoryEventStore, lock_consumers as lock};
use crate::store::StoreError;

pub(crate) mod tables;

use tables::{ProcessOp, ProcessTables};

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
