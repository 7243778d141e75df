//! Partitioned consumers in memory: the hash is pinned (it must never
//! change: stored checkpoints depend on it), the partitions split the log
//! by stream, and a changed count is refused.

use es_core::consumer::{Engine, MemoryProjection, Partition, partition_hash, partitions_status};
use es_core::projection::{Dispatch, Projection, ProjectionError};
use es_core::{EventStore, ExpectedVersion, InMemoryEventStore, Metadata, NewEvent, RecordedEvent};

/// These values are part of every deployment's stored state: a partitioned
/// consumer's checkpoints say how far each partition got, and a partition
/// is the set of streams this hash sends to it. Changing the hash would
/// silently hand streams to partitions that never saw their earlier
/// events. The same values come out of PostgreSQL's
/// `('x' || substr(md5(s), 1, 8))::bit(32)::bigint`.
#[test]
fn the_partition_hash_never_changes() {
    let pinned = [
        ("Order-1", 1_028_119_798u32),
        ("Account-42", 3_491_931_447),
        ("", 3_558_706_393),
        ("Ünïcode-ß", 3_740_200_816),
        ("BankAccount-acc-1", 1_933_634_791),
    ];
    for (stream, hash) in pinned {
        assert_eq!(
            partition_hash(stream),
            hash,
            "the hash of {stream:?} changed"
        );
    }
    assert_eq!(Partition::of("Order-1", 4).index(), 2);
    assert_eq!(Partition::of("Account-42", 4).index(), 3);
    assert_eq!(
        Partition::of("BankAccount-acc-1", 3).index(),
        1_933_634_791 % 3
    );
}

#[test]
fn every_stream_has_exactly_one_partition_and_they_spread() {
    for count in [1u32, 2, 3, 4, 7, 16] {
        let mut sizes = vec![0u32; count as usize];
        for i in 0..4000 {
            let stream = format!("Order-{i}");
            let owners: Vec<_> = Partition::all(count).filter(|p| p.owns(&stream)).collect();
            assert_eq!(
                owners,
                [Partition::of(&stream, count)],
                "{stream} of {count}"
            );
            sizes[owners[0].index() as usize] += 1;
        }
        let even = 4000 / count;
        for (p, n) in sizes.iter().enumerate() {
            assert!(
                n.abs_diff(even) <= even / 5 + 10,
                "partition {p} of {count} holds {n} of 4000 streams (even: {even})"
            );
        }
    }
}

struct Seen(std::sync::Arc<std::sync::Mutex<Vec<(String, u64, u64)>>>);

impl Projection for Seen {
    const NAME: &'static str = "seen";
    const EVENT_TYPES: &'static [&'static str] = &["Ticked"];
}

impl Dispatch for Seen {
    async fn dispatch(&mut self, e: &RecordedEvent, _: &mut ()) -> Result<(), ProjectionError> {
        self.0
            .lock()
            .unwrap()
            .push((e.stream_id.clone(), e.stream_version, e.global_position));
        Ok(())
    }
}

async fn seed(store: &InMemoryEventStore, streams: usize, per: usize) {
    for v in 0..per {
        for s in 0..streams {
            let e = NewEvent::from_raw("Ticked", 1, b"{}".to_vec(), Metadata::new());
            let other = NewEvent::from_raw("Other", 1, b"{}".to_vec(), Metadata::new());
            let events = if v % 3 == 0 { vec![e, other] } else { vec![e] };
            store
                .append(&format!("Clock-{s}"), ExpectedVersion::Any, events)
                .await
                .unwrap();
        }
    }
}

#[tokio::test]
async fn partitions_handle_each_event_once_in_stream_order() {
    let store = InMemoryEventStore::new();
    seed(&store, 13, 9).await;
    let mut total = 0;
    for p in Partition::all(3) {
        let seen = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let mut engine = Engine::new(store.clone(), MemoryProjection::new(Seen(seen.clone())))
            .in_partition(p)
            .batch_size(4);
        let n = engine.catch_up().await.unwrap();
        let seen = seen.lock().unwrap().clone();
        assert_eq!(n as usize, seen.len());
        total += seen.len();
        assert!(
            seen.iter().all(|(s, _, _)| p.owns(s)),
            "partition {p} got another's stream"
        );
        // Global order inside the partition, hence each stream's order.
        assert!(
            seen.windows(2).all(|w| w[0].2 < w[1].2),
            "partition {p} out of order"
        );
        let status = engine.status().await.unwrap();
        assert_eq!(status.lag, 0);
        assert_eq!(status.position, seen.last().map_or(0, |x| x.2));
        assert_eq!(engine.key(), format!("seen#{}/3", p.index()));
    }
    assert_eq!(
        total,
        13 * 9,
        "every Ticked event once across the partitions"
    );
    let status = partitions_status(&store, "seen", Some(&["Ticked"]), 3)
        .await
        .unwrap();
    assert!(status.iter().all(|(_, s)| s.caught_up()), "{status:?}");
}

#[tokio::test]
async fn a_changed_partition_count_is_refused() {
    let store = InMemoryEventStore::new();
    seed(&store, 5, 2).await;
    let seen = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let engine = |p: Option<Partition>| {
        let e = Engine::new(store.clone(), MemoryProjection::new(Seen(seen.clone())));
        match p {
            Some(p) => e.in_partition(p),
            None => e,
        }
    };
    engine(Partition::new(0, 2)).catch_up().await.unwrap();
    let handled = seen.lock().unwrap().len();

    let err = engine(Partition::new(1, 3)).catch_up().await.unwrap_err();
    assert!(
        matches!(
            err,
            ProjectionError::PartitionsChanged {
                stored: Some(2),
                requested: Some(3),
                ..
            }
        ),
        "{err:?}"
    );
    let text = err.to_string();
    assert!(
        text.contains("2 partitions") && text.contains("3 partitions") && text.contains("rebuild"),
        "{text}"
    );
    let err = engine(None).catch_up().await.unwrap_err();
    assert!(
        matches!(
            err,
            ProjectionError::PartitionsChanged {
                stored: Some(2),
                requested: None,
                ..
            }
        ),
        "{err:?}"
    );
    assert_eq!(
        seen.lock().unwrap().len(),
        handled,
        "a refused engine handled nothing"
    );

    // The reverse: a consumer that ran unpartitioned cannot be split.
    let other = InMemoryEventStore::new();
    seed(&other, 5, 2).await;
    let seen = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    Engine::new(other.clone(), MemoryProjection::new(Seen(seen.clone())))
        .catch_up()
        .await
        .unwrap();
    let err = Engine::new(other.clone(), MemoryProjection::new(Seen(seen.clone())))
        .in_partition(Partition::new(0, 2).unwrap())
        .catch_up()
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            ProjectionError::PartitionsChanged {
                stored: None,
                requested: Some(2),
                ..
            }
        ),
        "{err:?}"
    );
    // And a partition cannot be rebuilt on its own.
    let err = engine(Partition::new(0, 2))
        .rebuild(|_, _| {})
        .await
        .unwrap_err();
    assert!(err.to_string().contains("store failure"), "{err}");
}

/// Refuses the events of every fifth version.
struct Picky;

impl Projection for Picky {
    const NAME: &'static str = "picky";
    const EVENT_TYPES: &'static [&'static str] = &["Ticked"];
}

impl Dispatch for Picky {
    async fn dispatch(&mut self, e: &RecordedEvent, _: &mut ()) -> Result<(), ProjectionError> {
        if e.stream_version.is_multiple_of(5) {
            return Err(ProjectionError::handler::<Picky>(
                e,
                "a fifth version".into(),
            ));
        }
        Ok(())
    }
}

/// Each partition keeps its dead letters under its own key;
/// `partitions_dead_letters` lists them all, in global order, each naming
/// the partition of its stream.
#[tokio::test]
async fn dead_letters_are_listed_across_the_partitions() {
    let store = InMemoryEventStore::new();
    seed(&store, 7, 6).await;
    for p in Partition::all(3) {
        Engine::new(store.clone(), MemoryProjection::new(Picky))
            .in_partition(p)
            .error_policy(es_core::consumer::ErrorPolicy::DeadLetter)
            .catch_up()
            .await
            .unwrap();
    }
    let letters = es_core::consumer::partitions_dead_letters(&store, "picky", 3)
        .await
        .unwrap();
    let all = store.read_all(0, 10_000, Some(&["Ticked"])).await.unwrap();
    let refused: Vec<u64> = all
        .events
        .iter()
        .filter(|e| e.stream_version.is_multiple_of(5))
        .map(|e| e.global_position)
        .collect();
    assert!(!refused.is_empty());
    assert_eq!(
        letters
            .iter()
            .map(|d| d.global_position)
            .collect::<Vec<_>>(),
        refused,
        "every refused event once, in global order"
    );
    for d in &letters {
        assert_eq!(d.projection, Partition::of(&d.stream_id, 3).key("picky"));
    }
    assert!(
        letters
            .iter()
            .map(|d| &d.projection)
            .collect::<std::collections::BTreeSet<_>>()
            .len()
            > 1,
        "the refused events fall in more than one partition"
    );
}
