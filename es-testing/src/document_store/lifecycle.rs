//! Documents evolved by a [`DocumentProjection`](es_core::document::DocumentProjection)
//! on an engine: creation, update, deletion, keys from event fields,
//! batches, rebuilds and failed batches.

use es_core::consumer::ErrorPolicy;
use es_core::document::DocumentBackend;
use es_core::{ExpectedVersion, Metadata, NewEvent};
use serde_json::json;

use super::model::{CLOSED, Card, NOTED, OPENED, SCORED, TAGGED, Tally};
use super::{all, append, catch_up, engine, get, ok, rolls_back, same};

/// An event opening a card of `owner` with `points`.
fn opened(owner: &str, points: i64) -> (&'static str, serde_json::Value) {
    (OPENED, json!({ "owner": owner, "points": points }))
}

fn scored(points: i64) -> (&'static str, serde_json::Value) {
    (SCORED, json!({ "points": points }))
}

fn closed() -> (&'static str, serde_json::Value) {
    (CLOSED, json!({}))
}

/// A card as the cases expect it.
pub(super) fn card(owner: &str, history: &[i64], fresh: bool) -> Card {
    Card {
        owner: owner.to_owned(),
        points: history.iter().sum(),
        history: history.to_vec(),
        fresh,
        ..Card::default()
    }
}

/// An event creates a document (the handler sees it new), later events
/// update it, a deletion removes it, and a later event creates it anew.
pub async fn documents_are_created_updated_and_deleted<B: DocumentBackend>(b: B) {
    let mut cards = engine::<Card, _>(&b, 10);
    append(&b, "Card-c1", &[opened("ada", 5)]).await;
    same(
        "events handled by the first catch_up",
        catch_up(&mut cards).await,
        1,
    );
    same(
        "the created document",
        get::<Card, _>(&b, "c1").await,
        Some(card("ada", &[5], true)),
    );

    append(&b, "Card-c1", &[scored(3), scored(-1)]).await;
    append(&b, "Card-c1", &[(NOTED, json!({ "note": "hi" }))]).await;
    catch_up(&mut cards).await;
    let updated = Card {
        note: "hi".to_owned(),
        ..card("ada", &[5, 3, -1], true)
    };
    same(
        "the updated document",
        get::<Card, _>(&b, "c1").await,
        Some(updated),
    );

    append(&b, "Card-c1", &[closed()]).await;
    catch_up(&mut cards).await;
    same("the deleted document", get::<Card, _>(&b, "c1").await, None);
    same(
        "documents after the deletion",
        all::<Card, _>(&b).await,
        vec![],
    );

    // A later event of the key starts a new document.
    append(&b, "Card-c1", &[opened("bob", 7)]).await;
    catch_up(&mut cards).await;
    same(
        "the document created again after its deletion",
        get::<Card, _>(&b, "c1").await,
        Some(card("bob", &[7], true)),
    );
}

/// A key taken from an event field gathers the openings of several streams.
pub async fn one_document_gathers_many_streams<B: DocumentBackend>(b: B) {
    for (stream, owner) in [
        ("Card-a", "ada"),
        ("Card-b", "bob"),
        ("Card-c", "ada"),
        ("Card-d", "ada"),
    ] {
        append(&b, stream, &[opened(owner, 1)]).await;
    }
    let mut tallies = engine::<Tally, _>(&b, 2);
    catch_up(&mut tallies).await;
    let tally = |streams: &[&str]| Tally {
        cards: streams.len() as u32,
        streams: streams.iter().map(|s| (*s).to_owned()).collect(),
    };
    same(
        "the tallies of owners, keyed by the openings' `owner` field",
        all::<Tally, _>(&b).await,
        vec![
            ("ada".to_owned(), tally(&["Card-a", "Card-c", "Card-d"])),
            ("bob".to_owned(), tally(&["Card-b"])),
        ],
    );
    append(&b, "Card-e", &[opened("bob", 1)]).await;
    catch_up(&mut tallies).await;
    same(
        "bob's tally after a later opening in another stream",
        get::<Tally, _>(&b, "bob").await,
        Some(tally(&["Card-b", "Card-e"])),
    );
}

/// Many events of one key in one batch, a deletion and a re-creation among
/// them, end as applying them one by one.
pub async fn a_batch_touching_one_key_many_times_applies_in_order<B: DocumentBackend>(b: B) {
    append(&b, "Card-k", &[opened("ada", 1)]).await;
    let mut cards = engine::<Card, _>(&b, 100);
    catch_up(&mut cards).await;

    let mut events: Vec<(&str, serde_json::Value)> = (2..=20).map(scored).collect();
    events.push(closed());
    events.push(opened("bob", 100));
    events.extend((1..=5).map(|n| scored(-n)));
    events.push((TAGGED, json!({ "tag": "late" })));
    append(&b, "Card-k", &events).await;
    // Another key in the same batch.
    append(&b, "Card-j", &[opened("cy", 9), scored(1)]).await;
    same("events of the batch", catch_up(&mut cards).await, 29);
    same(
        "the document after one batch with a deletion and a re-creation",
        get::<Card, _>(&b, "k").await,
        Some(Card {
            tag: json!("late"),
            ..card("bob", &[100, -1, -2, -3, -4, -5], true)
        }),
    );
    same(
        "the other key of the batch",
        get::<Card, _>(&b, "j").await,
        Some(card("cy", &[9, 1], true)),
    );
}

/// A rebuild empties the documents and replays into equal ones.
pub async fn rebuild_ends_equal_to_the_first_run<B: DocumentBackend>(b: B) {
    for i in 0..12 {
        let stream = format!("Card-r{i:02}");
        append(
            &b,
            &stream,
            &[opened(["ada", "bob", "cy"][i % 3], i as i64)],
        )
        .await;
        append(&b, &stream, &[scored(10), scored(i as i64)]).await;
        if i % 4 == 1 {
            append(&b, &stream, &[closed()]).await;
        }
    }
    let mut cards = engine::<Card, _>(&b, 5);
    catch_up(&mut cards).await;
    let first = all::<Card, _>(&b).await;
    same("documents of the first run", first.len(), 9);

    let replayed = ok("rebuild()", cards.rebuild(|_, _| {}).await);
    same("events replayed by the rebuild", replayed, 39);
    same(
        "documents after the rebuild",
        all::<Card, _>(&b).await,
        first,
    );
}

/// A batch stopped by an event that does not decode leaves the documents
/// and the checkpoint as the batch before left them.
pub async fn a_failed_batch_leaves_documents_and_checkpoint<B: DocumentBackend>(b: B) {
    if !rolls_back::<B>() {
        return;
    }
    append(&b, "Card-f1", &[opened("ada", 1)]).await;
    append(&b, "Card-f2", &[opened("bob", 2)]).await;
    let mut cards = engine::<Card, _>(&b, 50).error_policy(ErrorPolicy::Stop);
    catch_up(&mut cards).await;
    let before = all::<Card, _>(&b).await;
    let checkpoint = ok("status()", cards.status().await).position;

    // Writes to an existing document, a new one and a deletion, then an
    // event whose payload does not decode: all in one batch.
    append(&b, "Card-f1", &[scored(5)]).await;
    append(&b, "Card-f3", &[opened("cy", 3)]).await;
    append(&b, "Card-f2", &[closed()]).await;
    let bad = NewEvent::from_raw(SCORED, 1, br#"{"points":"many"}"#.to_vec(), Metadata::new());
    ok(
        "append of an undecodable event",
        b.append("Card-f1", ExpectedVersion::Any, vec![bad]).await,
    );
    let failed = cards.catch_up().await;
    assert!(
        failed.is_err(),
        "document conformance: a batch with an undecodable event under ErrorPolicy::Stop returned {failed:?}, and should have failed"
    );
    same(
        "documents after the failed batch",
        all::<Card, _>(&b).await,
        before,
    );
    same(
        "the checkpoint after the failed batch",
        ok("status()", cards.status().await).position,
        checkpoint,
    );
}

/// Batches stopped halfway, again and again: a catch-up cancelled after
/// 0.1 ms, then a little later each try (5% more), until one finishes, all
/// on one engine (the way a task running it is cancelled and started
/// again). Every event is then applied exactly once, as in one
/// uninterrupted run: nothing of a stopped batch is left behind in the
/// store or in the projection's buffer.
pub async fn batches_stopped_halfway_apply_every_event_once<B: DocumentBackend>(b: B) {
    use std::time::Duration;

    let mut expected = Vec::new();
    for i in 0..6_i64 {
        let owner = ["ada", "bob"][i as usize % 2];
        let stream = format!("Card-h{i}");
        append(&b, &stream, &[opened(owner, i)]).await;
        append(&b, &stream, &[scored(10 + i), scored(20 + i)]).await;
        expected.push((format!("h{i}"), card(owner, &[i, 10 + i, 20 + i], true)));
    }
    let mut cards = engine::<Card, _>(&b, 4);
    let mut budget = Duration::from_micros(100);
    let mut stopped = 0;
    loop {
        match tokio::time::timeout(budget, cards.catch_up()).await {
            Ok(done) => {
                ok(
                    format_args!("catch_up() after {stopped} stopped tries"),
                    done,
                );
                break;
            }
            Err(_) => stopped += 1,
        }
        assert!(
            budget < Duration::from_secs(10),
            "document conformance: no catch-up of 18 events finished within 10 s"
        );
        budget = budget.mul_f64(1.05);
    }
    same(
        "documents after batches stopped halfway, then a full catch-up",
        all::<Card, _>(&b).await,
        expected,
    );
}
