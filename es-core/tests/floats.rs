//! The in-memory store keeps a payload's bytes, so every finite f64 reads
//! back bit for bit, `-0.0` included (PostgreSQL's `jsonb` turns `-0.0` into
//! `0.0`: see es-postgres/tests/floats.rs).

use es_core::{EventStore, ExpectedVersion, InMemoryEventStore, Metadata, NewEvent, StreamEnd};

#[tokio::test]
async fn every_finite_f64_reads_back_bit_for_bit_negative_zero_included() {
    let mut values = vec![-0.0, 0.0, 0.1 + 0.2, 5e-324, f64::MAX, f64::MIN_POSITIVE];
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    while values.len() < 2_000 {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        let v = f64::from_bits(x);
        if v.is_finite() {
            values.push(v);
        }
    }
    let store = InMemoryEventStore::new();
    let payload = serde_json::to_vec(&values).unwrap();
    store
        .append(
            "Floats-1",
            ExpectedVersion::NoStream,
            vec![NewEvent::from_raw("Sampled", 1, payload, Metadata::new())],
        )
        .await
        .unwrap();
    let read = store
        .read_stream("Floats-1", 1, StreamEnd::Head, 1)
        .await
        .unwrap();
    let back: Vec<f64> = serde_json::from_slice(&read[0].payload).unwrap();
    let bits = |v: &[f64]| v.iter().map(|f| f.to_bits()).collect::<Vec<_>>();
    assert_eq!(bits(&back), bits(&values));
    assert!(back[0].is_sign_negative() && back[0] == 0.0);
}
