//! A process manager run on the store end to end: the backend under the
//! runner it exists for.

use std::time::Duration;

use es_core::process::{
    CommandFailure, ProcessBackend, ProcessCommand, ProcessCounts, ProcessManager, ProcessRunner,
    React, Received, Rejected, Settled, StoredInstance, Then, outcome,
};
use es_core::{
    Aggregate, Apply, DecodeError, Event, EventStore, ExpectedVersion, Handle, Metadata, NewEvent,
    Recorded, RecordedEvent, Repository, SnapshotStore, StreamEnd,
};
use serde::{Deserialize, Serialize};

use super::{begin, counts, load};

/// An order for instance `key`: ping its target `n` times (0: a ping the
/// target rejects).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Event)]
#[event(name = "ConformanceOrdered")]
struct Ordered {
    key: String,
    n: u64,
}

/// The target was pinged.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Event)]
#[event(name = "ConformancePinged")]
struct Pinged {
    key: String,
    n: u64,
}

#[derive(Debug, Clone, PartialEq, Event)]
enum TargetEvent {
    Pinged(Pinged),
}

/// The aggregate the process sends its command to.
#[derive(Debug, Default, Serialize, Deserialize, Aggregate)]
#[aggregate(name = "ConformanceTarget", event = TargetEvent)]
struct Target {
    pings: u64,
}

impl Apply<Pinged> for Target {
    fn apply(&mut self, e: &Pinged) {
        self.pings += e.n;
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Ping {
    key: String,
    n: u64,
}

#[derive(Debug)]
struct Zero;

impl std::fmt::Display for Zero {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("a ping of zero")
    }
}

impl std::error::Error for Zero {}

impl Handle<Ping> for Target {
    type Error = Zero;
    fn handle(&self, c: Ping) -> Result<Vec<TargetEvent>, Zero> {
        if c.n == 0 {
            return Err(Zero);
        }
        Ok(vec![Pinged { key: c.key, n: c.n }.into()])
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct PingCommand(Ping);

impl ProcessCommand for PingCommand {
    fn aggregate(&self) -> &'static str {
        Target::NAME
    }

    async fn execute<S: EventStore + SnapshotStore>(
        self,
        store: &S,
        id: &str,
        metadata: Metadata,
    ) -> Result<(), CommandFailure> {
        let targets = Repository::<Target, S>::new(store.clone());
        outcome(targets.execute_with(id, self.0, metadata).await)
    }
}

/// The deadline: wait for the ping.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
enum Timeout {
    After,
}

/// Per order: send one ping, and (unless it is a rejected one) a deadline
/// due at once; finished by the deadline or a rejection.
#[derive(Debug, Default, Serialize, Deserialize)]
struct Pinger {
    pinged: bool,
    timed_out: bool,
    rejected: Option<String>,
}

impl ProcessManager for Pinger {
    const NAME: &'static str = "conformance_pinger";
    const EVENT_TYPES: &'static [&'static str] = &["ConformanceOrdered", "ConformancePinged"];
    type Command = PingCommand;
    type Deadline = Timeout;

    fn receive(e: &RecordedEvent) -> Result<Option<Received<Self>>, DecodeError> {
        Ok(match e.event_type.as_str() {
            "ConformanceOrdered" => {
                let ordered = Recorded::<Ordered>::decode(e)?;
                Some(Received::new(ordered.event.key.clone(), ordered))
            }
            "ConformancePinged" => {
                let pinged = Recorded::<Pinged>::decode(e)?;
                Some(Received::new(pinged.event.key.clone(), pinged))
            }
            _ => None,
        })
    }

    fn on_rejected(&mut self, rejected: &Rejected<PingCommand>, then: &mut Then<Self>) {
        self.rejected = Some(rejected.reason.clone());
        then.complete();
    }

    fn on_deadline(&mut self, _: &Timeout, then: &mut Then<Self>) {
        self.timed_out = true;
        then.complete();
    }
}

impl React<Ordered> for Pinger {
    fn react(&mut self, e: &Recorded<Ordered>, then: &mut Then<Self>) {
        let Ordered { key, n } = e.event.clone();
        then.send(key.clone(), PingCommand(Ping { key, n }));
        if n > 0 {
            then.schedule(Timeout::After, Duration::ZERO);
        }
    }
}

impl React<Pinged> for Pinger {
    fn react(&mut self, _: &Recorded<Pinged>, _: &mut Then<Self>) {
        self.pinged = true;
    }
}

/// The instance `key` of [`Pinger`], decoded.
async fn pinger<B: ProcessBackend>(store: &B, key: &str) -> (Pinger, bool) {
    let mut tx = begin(store).await;
    let found = load(store, &mut tx, Pinger::NAME, key).await;
    drop(tx);
    match found {
        Some(StoredInstance {
            state: Some(state),
            finished,
        }) => {
            let p = serde_json::from_slice(&state).unwrap_or_else(|e| {
                panic!("process store conformance: the stored state of instance `{key}` does not decode: {e}")
            });
            (p, finished)
        }
        other => panic!(
            "process store conformance: instance `{key}` of the runner's process loaded as {other:?}; it should have a kept state"
        ),
    }
}

/// A [`ProcessRunner`] on the store settles two instances: one whose
/// command goes through and whose deadline fires after it (finished by the
/// deadline, having heard the command's event), one whose command is
/// rejected (finished by the rejection). Nothing is left pending, and a
/// second `catch_up` has nothing to do.
pub async fn runner_settles_commands_deadlines_and_rejections<B>(store: B)
where
    B: ProcessBackend + SnapshotStore,
{
    for (key, n) in [("ok", 2), ("zero", 0)] {
        let e = Ordered {
            key: key.to_owned(),
            n,
        };
        let e = NewEvent::new(&e, Metadata::new()).expect("the order encodes");
        let r = store
            .append(
                &format!("ConformanceShop-{key}"),
                ExpectedVersion::NoStream,
                vec![e],
            )
            .await;
        super::ok("appending an order", r);
    }
    let mut runner = ProcessRunner::<Pinger, B>::new(store.clone()).keep_completed(true);
    let settled = runner.catch_up().await.unwrap_or_else(|e| {
        panic!(
            "process store conformance: the runner's catch_up failed: {}",
            es_core::ErrorChain(&e)
        )
    });
    assert_eq!(
        (settled.commands, settled.deadlines),
        (2, 1),
        "process store conformance: the runner settled {settled:?}; it should have sent 2 commands (one rejected) and fired 1 deadline"
    );

    let (ok, finished) = pinger(&store, "ok").await;
    assert!(
        finished && ok.pinged && ok.timed_out && ok.rejected.is_none(),
        "process store conformance: instance `ok` is {ok:?} (finished: {finished}); it should have heard its ping, then its deadline, and be finished"
    );
    let (zero, finished) = pinger(&store, "zero").await;
    assert!(
        finished
            && zero
                .rejected
                .as_deref()
                .is_some_and(|r| r.contains("a ping of zero")),
        "process store conformance: instance `zero` is {zero:?} (finished: {finished}); it should have heard its command's rejection and be finished"
    );
    let c = counts(&store, Pinger::NAME).await;
    let expected = ProcessCounts {
        active: 0,
        finished: 2,
        pending_commands: 0,
        deadlines: 0,
    };
    assert_eq!(
        c, expected,
        "process store conformance: after the runner settled, process_counts is {c:?}; it should be {expected:?}"
    );
    let target = store
        .read_stream("ConformanceTarget-ok", 1, StreamEnd::Head, 10)
        .await;
    let target = super::ok("reading the target's stream", target);
    assert_eq!(
        target.len(),
        1,
        "process store conformance: the target got {} events; the command should have been executed once",
        target.len()
    );

    let again = runner.catch_up().await.unwrap_or_else(|e| {
        panic!(
            "process store conformance: a second catch_up failed: {}",
            es_core::ErrorChain(&e)
        )
    });
    assert_eq!(
        again,
        Settled::default(),
        "process store conformance: a second catch_up did {again:?}; there was nothing left to do"
    );
}
