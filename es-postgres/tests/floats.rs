//! What an f64 in a payload reads back as on PostgreSQL, whose `jsonb`
//! stores numbers as `numeric`: every finite value bit for bit, except that
//! `-0.0` comes back as `0.0` (`numeric` has no negative zero). The payload
//! column stays `jsonb`; README's "Floats" note says so to users.

mod common;

use common::store;
use es_core::{
    EventStore, ExpectedVersion, Metadata, NewEvent, Snapshot, SnapshotStore, StreamEnd,
};

/// Edge cases, then a few thousand finite values spread over every exponent
/// (a fixed xorshift sequence of bit patterns, so a failure replays).
fn samples() -> Vec<f64> {
    let mut values = vec![
        0.0,
        -0.0,
        1.0,
        -1.0,
        0.1,
        0.1 + 0.2,
        1.0 / 3.0,
        std::f64::consts::PI,
        f64::MAX,
        f64::MIN,
        f64::MIN_POSITIVE,
        f64::EPSILON,
        5e-324,                     // the smallest subnormal
        -5e-324,                    // and its negative
        2.225_073_858_507_201e-308, // the largest subnormal
        9_007_199_254_740_993.0,    // 2^53 + 1 (rounds to 2^53)
        1e300,
        123_456_789.123_456_79,
    ];
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    while values.len() < 4_000 {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        let v = f64::from_bits(x);
        if v.is_finite() {
            values.push(v);
        }
    }
    values
}

/// The values whose bits differ after the round trip, with their index.
fn changed(sent: &[f64], back: &[f64]) -> Vec<(usize, f64, f64)> {
    assert_eq!(sent.len(), back.len());
    sent.iter()
        .zip(back)
        .enumerate()
        .filter(|(_, (a, b))| a.to_bits() != b.to_bits())
        .map(|(i, (a, b))| (i, *a, *b))
        .collect()
}

/// Only `-0.0` (index 1 of the samples) changes, and it becomes `+0.0`.
fn assert_exact_but_the_sign_of_zero(sent: &[f64], back: &[f64], what: &str) {
    let changed = changed(sent, back);
    assert_eq!(
        changed.len(),
        1,
        "{what}: only -0.0 may change; changed: {changed:?}"
    );
    let (i, was, now) = changed[0];
    assert_eq!(i, 1, "{what}");
    assert_eq!(
        (was.to_bits(), now.to_bits()),
        ((-0.0f64).to_bits(), 0.0f64.to_bits()),
        "{what}"
    );
}

#[tokio::test]
async fn finite_f64s_read_back_bit_for_bit_except_the_sign_of_zero() {
    let (db, store) = store().await;
    let values = samples();
    let payload = serde_json::to_vec(&values).unwrap();
    store
        .append(
            "Floats-1",
            ExpectedVersion::NoStream,
            vec![NewEvent::from_raw(
                "Sampled",
                1,
                payload.clone(),
                Metadata::new(),
            )],
        )
        .await
        .unwrap();
    let read = store
        .read_stream("Floats-1", 1, StreamEnd::Head, 10)
        .await
        .unwrap();
    let back: Vec<f64> = serde_json::from_slice(&read[0].payload).unwrap();
    assert_exact_but_the_sign_of_zero(&values, &back, "event payload");
    let all = store.read_all(0, 10, None).await.unwrap().events;
    let back: Vec<f64> = serde_json::from_slice(&all[0].payload).unwrap();
    assert_exact_but_the_sign_of_zero(&values, &back, "read_all payload");

    store
        .save_snapshot(Snapshot {
            stream_id: "Floats-1".into(),
            version: 1,
            snapshot_version: 1,
            payload,
            taken_at: chrono::Utc::now(),
        })
        .await
        .unwrap();
    let snap = store.load_snapshot("Floats-1").await.unwrap().unwrap();
    let back: Vec<f64> = serde_json::from_slice(&snap.payload).unwrap();
    assert_exact_but_the_sign_of_zero(&values, &back, "snapshot payload");
    db.drop_db().await;
}
