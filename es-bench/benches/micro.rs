//! Criterion micro-benchmarks of the in-memory paths: encode, decode at the
//! current version, decode through a three-step upcast chain, apply
//! dispatch, an `AggregateFixture` run, and decode + apply of a page of
//! recorded events (reported as events/s through criterion's throughput).
//!
//! ```text
//! cargo bench -p es-bench --bench micro
//! ```
#![allow(
    missing_docs,
    reason = "criterion's macros generate undocumented items"
)]

use std::hint::black_box;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use es_bench::{Counter, CounterEvent, Credit, Credited, Debited, Tagged};
use es_core::{Aggregate, Event, Metadata, NewEvent, RecordedEvent};
use es_testing::AggregateFixture;

fn small(i: usize) -> CounterEvent {
    if i % 10 == 9 {
        CounterEvent::Debited(Debited { amount: 1 })
    } else {
        CounterEvent::Credited(Credited { amount: 2 })
    }
}

fn codec(c: &mut Criterion) {
    let event = CounterEvent::Credited(Credited { amount: 2 });
    let bytes = event.encode().expect("encodes");
    c.bench_function("encode small event", |b| {
        b.iter(|| black_box(&event).encode().expect("encodes"))
    });
    c.bench_function("decode small event (current version)", |b| {
        b.iter(|| CounterEvent::decode("Credited", 1, black_box(&bytes)).expect("decodes"))
    });

    let current = Tagged {
        count: 7,
        label: "x".into(),
        flag: true,
    }
    .encode()
    .expect("encodes");
    let v1 = br#"{"n":7}"#.to_vec();
    let mut group = c.benchmark_group("upcast");
    group.bench_function("Tagged decode at v4 (plain)", |b| {
        b.iter(|| Tagged::decode("Tagged", 4, black_box(&current)).expect("decodes"))
    });
    group.bench_function("Tagged decode from v1 (3 JSON steps)", |b| {
        b.iter(|| Tagged::decode("Tagged", 1, black_box(&v1)).expect("decodes"))
    });
    group.finish();

    // What every store runs on a batch before writing it: the size limit
    // and the read-back check of each payload (es_core::check_append).
    let batch: Vec<NewEvent> = (0..100)
        .map(|i| NewEvent::new(&small(i), Metadata::new()).expect("encodes"))
        .collect();
    let mut group = c.benchmark_group("append_check");
    group.throughput(Throughput::Elements(batch.len() as u64));
    group.bench_function("check_append 100 small events", |b| {
        b.iter(|| es_core::check_append("Counter-1", black_box(&batch), 8 << 20).expect("accepted"))
    });
    group.finish();
}

fn apply(c: &mut Criterion) {
    let events: Vec<CounterEvent> = (0..1000).map(small).collect();
    let mut group = c.benchmark_group("apply");
    group.throughput(Throughput::Elements(events.len() as u64));
    group.bench_function("apply dispatch x1000", |b| {
        b.iter(|| {
            let mut state = Counter::default();
            for e in black_box(&events) {
                state.apply_event(e);
            }
            state
        })
    });
    group.finish();

    // What a repository does per stored event: decode the recorded payload,
    // apply it. Criterion prints the throughput in elements (events) per second.
    let recorded: Vec<RecordedEvent> = (0..10_000)
        .map(|i| {
            let e = small(i);
            RecordedEvent {
                event_id: uuid::Uuid::now_v7(),
                stream_id: "Counter-1".into(),
                stream_version: i as u64 + 1,
                global_position: i as u64 + 1,
                event_type: e.event_type().into(),
                schema_version: 1,
                payload: e.encode().expect("encodes"),
                metadata: Metadata::new(),
                recorded_at: chrono::Utc::now(),
            }
        })
        .collect();
    let mut group = c.benchmark_group("decode_apply");
    group.throughput(Throughput::Elements(recorded.len() as u64));
    group.bench_function(
        "decode + apply 10,000 recorded small events (one core)",
        |b| {
            b.iter(|| {
                let mut state = Counter::default();
                for rec in black_box(&recorded) {
                    let e = rec.decode::<CounterEvent>().expect("decodes");
                    state.apply_event(&e);
                }
                state
            })
        },
    );
    group.finish();
}

fn fixture(c: &mut Criterion) {
    let history: Vec<CounterEvent> = (0..10).map(small).collect();
    c.bench_function(
        "AggregateFixture given 10 / when / then_expect_events",
        |b| {
            b.iter(|| {
                AggregateFixture::<Counter>::new()
                    .given(history.clone())
                    .when(Credit { amount: 3 })
                    .then_expect_events([CounterEvent::Credited(Credited { amount: 3 })]);
            })
        },
    );
}

criterion_group!(benches, codec, apply, fixture);
criterion_main!(benches);
