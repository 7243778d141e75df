//! Partitions: engines of one consumer split by stream, and workers that
//! share the partitions and take them over.

use std::collections::{BTreeMap, HashMap};
use std::future::Future;
use std::time::Duration;

use es_core::consumer::{Engine, Partition, PartitionedRunner, partitions_status};
use es_core::projection::ProjectionError;
use es_core::{ErrorChain, RecordedEvent};

use super::{BATCH, ONLY_TRACKED, consumer, engine, log, ok, write};
use crate::engine::{EngineHarness, Journaling, NAME, OTHER, PATIENCE, TRACKED};

/// Streams the partition cases write to (enough that each of 3 or 4
/// partitions owns some).
const STREAMS: usize = 12;

/// Appends `rounds` rounds over [`STREAMS`] streams: each round one
/// [`TRACKED`] event per stream, and an [`OTHER`] on every third.
async fn spread<S: es_core::EventStore>(store: &S, rounds: usize) {
    for _ in 0..rounds {
        for s in 0..STREAMS {
            let types: &[&str] = if s % 3 == 0 {
                &[TRACKED, OTHER]
            } else {
                &[TRACKED]
            };
            write(store, &format!("Part-{s}"), types).await;
        }
    }
}

/// Checks the journal against the log: every [`TRACKED`] event exactly
/// once, and each stream's events in their order.
async fn assert_each_once_in_stream_order<H: EngineHarness>(h: &H, when: &str) {
    let log = log(&h.backend()).await;
    let stream_of: HashMap<u64, &RecordedEvent> = log
        .iter()
        .filter(|e| e.event_type == TRACKED)
        .map(|e| (e.global_position, e))
        .collect();
    let got = h.applied(NAME).await;
    let mut count: BTreeMap<u64, usize> = BTreeMap::new();
    for p in &got {
        *count.entry(*p).or_default() += 1;
    }
    let twice: Vec<u64> = count
        .iter()
        .filter(|(_, n)| **n > 1)
        .map(|(p, _)| *p)
        .collect();
    let missing: Vec<u64> = stream_of
        .keys()
        .copied()
        .filter(|p| !count.contains_key(p))
        .collect();
    let foreign: Vec<u64> = count
        .keys()
        .copied()
        .filter(|p| !stream_of.contains_key(p))
        .collect();
    assert!(
        twice.is_empty() && missing.is_empty() && foreign.is_empty(),
        "engine conformance: {when}: the partitions' journal is wrong: handled twice {twice:?}, \
         never handled {missing:?}, not to be handled {foreign:?}"
    );
    let mut last: HashMap<&str, u64> = HashMap::new();
    for p in &got {
        let e = stream_of[p];
        let before = last.insert(&e.stream_id, e.stream_version).unwrap_or(0);
        assert!(
            e.stream_version > before,
            "engine conformance: {when}: `{}` version {} was handled after version {before}",
            e.stream_id,
            e.stream_version
        );
    }
}

/// Polls `check` until it holds or [`PATIENCE`] passes.
async fn eventually<F, Fut>(what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    let deadline = tokio::time::Instant::now() + PATIENCE;
    while !check().await {
        assert!(
            tokio::time::Instant::now() < deadline,
            "engine conformance: {what} did not happen within {PATIENCE:?}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// One engine per partition of 3, each caught up in turn: each handles
/// only the events of the streams it owns, in global order; together every
/// [`TRACKED`] event once; each partition's status is caught up, its
/// checkpoint at its own last event. An engine of another count, and an
/// unpartitioned one, are refused with
/// [`ProjectionError::PartitionsChanged`] and handle nothing.
pub async fn partitions_split_the_log_by_stream<H: EngineHarness>(h: &H) {
    let store = h.backend();
    spread(&store, 3).await;
    for p in Partition::all(3) {
        let before = h.applied(NAME).await.len();
        let mut e = engine(h, consumer(h, NAME, Some(ONLY_TRACKED))).in_partition(p);
        let n = ok(e.catch_up().await, "a partition's catch_up");
        e.release().await;
        let log = log(&store).await;
        let mine: Vec<u64> = log
            .iter()
            .filter(|e| e.event_type == TRACKED && p.owns(&e.stream_id))
            .map(|e| e.global_position)
            .collect();
        let got = h.applied(NAME).await;
        assert_eq!(
            &got[before..],
            &mine[..],
            "engine conformance: partition {p} must handle exactly its streams' events, in order"
        );
        assert_eq!(n as usize, mine.len());
        let status = e.status().await.unwrap_or_else(|e| {
            panic!(
                "engine conformance: status of partition {p}: {}",
                ErrorChain(&e)
            )
        });
        assert_eq!(
            (status.position, status.lag),
            (mine.last().copied().unwrap_or(0), 0),
            "engine conformance: partition {p}'s checkpoint must be its last event, lag 0: {status:?}"
        );
    }
    assert_each_once_in_stream_order(h, "after 3 partitions caught up").await;

    spread(&store, 1).await;
    let status = partitions_status(&store, NAME, Some(ONLY_TRACKED), 3)
        .await
        .unwrap_or_else(|e| panic!("engine conformance: partitions_status: {}", ErrorChain(&e)));
    let lag: u64 = status.iter().map(|(_, s)| s.lag).sum();
    assert_eq!(
        lag, STREAMS as u64,
        "engine conformance: after one more round, the partitions' lags must add up to it: {status:?}"
    );

    let handled = h.applied(NAME).await.len();
    let mut four = engine(h, consumer(h, NAME, Some(ONLY_TRACKED)))
        .in_partition(Partition::new(0, 4).unwrap_or_else(|| unreachable!()));
    match four.catch_up().await {
        Err(ProjectionError::PartitionsChanged {
            stored: Some(3),
            requested: Some(4),
            ..
        }) => {}
        other => panic!(
            "engine conformance: 4 partitions over checkpoints of 3 must be refused, got {:?}",
            other.map_err(|e| ErrorChain(&e).to_string())
        ),
    }
    let mut whole = engine(h, consumer(h, NAME, Some(ONLY_TRACKED)));
    match whole.catch_up().await {
        Err(ProjectionError::PartitionsChanged {
            stored: Some(3),
            requested: None,
            ..
        }) => {}
        other => panic!(
            "engine conformance: an unpartitioned engine over 3 partitions must be refused, got {:?}",
            other.map_err(|e| ErrorChain(&e).to_string())
        ),
    }
    assert_eq!(
        h.applied(NAME).await.len(),
        handled,
        "engine conformance: a refused engine must handle nothing"
    );
}

/// Two workers ([`PartitionedRunner`]) over 4 partitions: A alone takes
/// all 4 and catches up; B joins and they settle at 2 each, both handling
/// new events; A shuts down and B takes all 4 over and handles what
/// follows. The journal has every [`TRACKED`] event once, each stream's in
/// order.
pub async fn partitioned_workers_share_and_take_over<H>(h: &H)
where
    H: EngineHarness,
    H::Journal: Clone + Sync,
{
    let store = h.backend();
    spread(&store, 2).await;
    let worker = || {
        let journal = h.journal(NAME);
        let rolls_back = <H::Backend as es_core::consumer::Backend>::ROLLS_BACK;
        PartitionedRunner::new(h.backend(), 4, move |_| {
            Journaling::new(NAME, Some(ONLY_TRACKED), journal.clone())
                .write_before_fault(rolls_back)
        })
        .engine(|e: Engine<_, _>| {
            e.batch_size(BATCH)
                .lease_retry(Duration::from_millis(20))
                .poll_interval(Duration::from_millis(20))
        })
        .claim_interval(Duration::from_millis(30))
    };
    let caught_up = || async {
        let log = log(&h.backend()).await;
        let tracked = log.iter().filter(|e| e.event_type == TRACKED).count();
        h.applied(NAME).await.len() >= tracked
    };

    let mut a = worker();
    let held_a = a.holding();
    let (stop_a, a_stopped) = tokio::sync::oneshot::channel::<()>();
    let a_task = tokio::spawn(async move { a.run(async { a_stopped.await.unwrap_or(()) }).await });
    eventually("worker A alone holding all 4 partitions", || async {
        held_a.partitions().len() == 4
    })
    .await;
    eventually("worker A catching up", caught_up).await;

    let mut b = worker();
    let held_b = b.holding();
    let (stop_b, b_stopped) = tokio::sync::oneshot::channel::<()>();
    let b_task = tokio::spawn(async move { b.run(async { b_stopped.await.unwrap_or(()) }).await });
    eventually("workers A and B holding 2 partitions each", || async {
        held_a.partitions().len() == 2 && held_b.partitions().len() == 2
    })
    .await;
    let (a_has, b_has) = (held_a.partitions(), held_b.partitions());
    assert!(
        a_has.iter().all(|p| !b_has.contains(p)),
        "engine conformance: A {a_has:?} and B {b_has:?} hold a partition twice"
    );
    spread(&store, 2).await;
    eventually("A and B handling 2 more rounds", caught_up).await;

    drop(stop_a);
    let r = tokio::time::timeout(PATIENCE, a_task)
        .await
        .unwrap_or_else(|_| panic!("engine conformance: worker A did not stop within {PATIENCE:?}"))
        .expect("engine conformance: worker A panicked");
    ok(r, "worker A's run");
    assert!(held_a.partitions().is_empty());
    eventually("worker B taking A's partitions over", || async {
        held_b.partitions().len() == 4
    })
    .await;
    spread(&store, 1).await;
    eventually("worker B handling the last round", caught_up).await;
    drop(stop_b);
    let r = tokio::time::timeout(PATIENCE, b_task)
        .await
        .unwrap_or_else(|_| panic!("engine conformance: worker B did not stop within {PATIENCE:?}"))
        .expect("engine conformance: worker B panicked");
    ok(r, "worker B's run");
    assert_each_once_in_stream_order(h, "after two workers shared 4 partitions").await;
}
