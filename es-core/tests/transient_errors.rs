//! A consumer's error marked [`Transient`] makes the engine roll the batch
//! back and retry it with its backoff, under every error policy, where the
//! same error unmarked stops the engine or becomes a dead letter.

use std::time::Duration;

use es_core::consumer::{Engine, ErrorPolicy, MemoryTx, Transient};
use es_core::projection::{HandlerError, ProjectionError};
use es_core::{EventStore, ExpectedVersion, InMemoryEventStore, Metadata, NewEvent, RecordedEvent};

/// Where the consumer fails, and how.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Fail {
    Handle,
    Flush,
}

/// Buffers positions in `handle`, "sends" them in `flush`; the first
/// `failures` attempts at the event at `at` fail (in `handle` or `flush`),
/// marked transient or not.
struct Sender {
    at: u64,
    fail: Fail,
    failures: u32,
    marked: bool,
    attempts: u32,
    buffer: Vec<u64>,
    sent: Vec<u64>,
}

impl Sender {
    fn new(fail: Fail, marked: bool) -> Self {
        Self {
            at: 2,
            fail,
            failures: 3,
            marked,
            attempts: 0,
            buffer: Vec::new(),
            sent: Vec::new(),
        }
    }

    fn error(&mut self) -> Option<HandlerError> {
        self.attempts += 1;
        if self.attempts > self.failures {
            return None;
        }
        let e = std::io::Error::other("the broker is unreachable");
        Some(if self.marked {
            Box::new(Transient::new(e))
        } else {
            Box::new(e)
        })
    }
}

impl es_core::consumer::Consumer<MemoryTx> for Sender {
    fn name(&self) -> &'static str {
        "sender"
    }

    fn event_types(&self) -> Option<&'static [&'static str]> {
        None
    }

    async fn handle(&mut self, e: &RecordedEvent, _: &mut MemoryTx) -> Result<(), ProjectionError> {
        if e.global_position == self.at
            && self.fail == Fail::Handle
            && let Some(err) = self.error()
        {
            return Err(ProjectionError::handler_of("sender", e, err));
        }
        self.buffer.push(e.global_position);
        Ok(())
    }

    async fn flush(&mut self, _: &mut MemoryTx) -> Result<(), HandlerError> {
        if self.buffer.contains(&self.at)
            && self.fail == Fail::Flush
            && let Some(err) = self.error()
        {
            return Err(err);
        }
        self.sent.append(&mut self.buffer);
        Ok(())
    }

    fn discard(&mut self) {
        self.buffer.clear();
    }
}

async fn store_of_three() -> InMemoryEventStore {
    let store = InMemoryEventStore::new();
    let ping = || NewEvent::from_raw("Pinged", 1, b"{}".to_vec(), Metadata::new());
    store
        .append(
            "Pinger-1",
            ExpectedVersion::Any,
            vec![ping(), ping(), ping()],
        )
        .await
        .unwrap();
    store
}

fn engine_of(
    store: &InMemoryEventStore,
    s: Sender,
    policy: ErrorPolicy,
) -> Engine<InMemoryEventStore, Sender> {
    Engine::new(store.clone(), s)
        .error_policy(policy)
        .retry_backoff(Duration::from_millis(1), Duration::from_millis(4))
}

#[tokio::test]
async fn a_transient_failure_is_retried_under_every_policy_until_it_succeeds() {
    for policy in [
        ErrorPolicy::Stop,
        ErrorPolicy::DeadLetter,
        ErrorPolicy::Retry,
    ] {
        for fail in [Fail::Handle, Fail::Flush] {
            let store = store_of_three().await;
            let mut engine = engine_of(&store, Sender::new(fail, true), policy);
            // (Its count leaves out an event committed in the step that
            // failed: the in-memory store commits each event on its own.)
            tokio::time::timeout(Duration::from_secs(5), engine.catch_up())
                .await
                .expect("retried until it succeeded")
                .expect("no error comes out");
            let s = engine.consumer();
            assert_eq!(s.attempts, 4, "three failures, then the success");
            assert_eq!(s.sent, vec![1, 2, 3], "each event once, in order");
            assert_eq!(store.load_checkpoint("sender"), Some(3));
            assert!(store.dead_letters("sender").is_empty(), "no dead letter");
        }
    }
}

#[tokio::test]
async fn the_same_failure_unmarked_stops_the_engine_or_becomes_a_dead_letter() {
    for fail in [Fail::Handle, Fail::Flush] {
        let store = store_of_three().await;
        let mut engine = engine_of(&store, Sender::new(fail, false), ErrorPolicy::Stop);
        let err = engine.catch_up().await.expect_err("stops");
        assert!(!Transient::marks(&err));
        assert!(
            es_core::ErrorChain(&err)
                .to_string()
                .contains("the broker is unreachable")
        );
        assert_eq!(engine.consumer().attempts, 1);
        assert_eq!(engine.consumer().sent, vec![1]);
        assert_eq!(
            store.load_checkpoint("sender"),
            Some(1),
            "stopped before it"
        );

        let store = store_of_three().await;
        let mut engine = engine_of(&store, Sender::new(fail, false), ErrorPolicy::DeadLetter);
        assert_eq!(engine.catch_up().await.unwrap(), 3);
        assert_eq!(engine.consumer().sent, vec![1, 3]);
        let dead = store.dead_letters("sender");
        assert_eq!(dead.len(), 1);
        assert_eq!(dead[0].global_position, 2);
    }
}
