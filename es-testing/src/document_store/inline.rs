//! The cases of inline document projections: a store that runs [`Card`]
//! and [`Tally`] in each append's transaction
//! (`es_postgres::PgEventStore::with_inline_document`,
//! `es_sqlite::SqliteEventStore::with_inline_document`), migrated. They
//! take the configured store, since how a store runs a projection inline is
//! its own.

use es_core::document::{Document, DocumentBackend};
use es_core::{ErrorChain, ExpectedVersion, Metadata, NewEvent};

use super::lifecycle::card as card_of;
use super::model::{CLOSED, OPENED, SCORED};
use super::{Card, Tally, append, get, same};

/// Each append leaves the documents as an [`Engine`](es_core::consumer::Engine)
/// would, at once, with no runner: an opening creates the card and counts
/// in its owner's tally, a score updates it, a closing deletes it.
pub async fn inline_documents_are_current_after_each_append<B: DocumentBackend>(b: B) {
    let opened = |owner: &str, points: i64| {
        (
            OPENED,
            serde_json::json!({ "owner": owner, "points": points }),
        )
    };
    append(&b, "Card-c1", &[opened("ada", 3)]).await;
    same(
        "the card right after its opening",
        get::<Card, _>(&b, "c1").await,
        Some(card_of("ada", &[3], true)),
    );
    append(
        &b,
        "Card-c1",
        &[(SCORED, serde_json::json!({ "points": 4 }))],
    )
    .await;
    append(&b, "Card-c2", &[opened("ada", 1)]).await;
    same(
        "the card after a score",
        get::<Card, _>(&b, "c1").await,
        Some(card_of("ada", &[3, 4], true)),
    );
    same(
        "ada's tally after two openings",
        get::<Tally, _>(&b, "ada").await.map(|t| t.streams),
        Some(vec!["Card-c1".to_owned(), "Card-c2".to_owned()]),
    );
    append(&b, "Card-c1", &[(CLOSED, serde_json::json!({}))]).await;
    same(
        "the card after its closing",
        get::<Card, _>(&b, "c1").await,
        None,
    );
}

/// An appended event the projection cannot read (a payload of the wrong
/// shape) fails the append, which stores nothing: not the events, not the
/// documents.
pub async fn an_event_an_inline_document_cannot_read_fails_the_append<B: DocumentBackend>(b: B) {
    let good = NewEvent::from_raw(
        OPENED,
        1,
        br#"{"owner":"ada","points":1}"#.to_vec(),
        Metadata::new(),
    );
    let bad = NewEvent::from_raw(SCORED, 1, br#"{"points":"many"}"#.to_vec(), Metadata::new());
    let Err(e) = b
        .append("Card-c9", ExpectedVersion::NoStream, vec![good, bad])
        .await
    else {
        panic!(
            "document conformance: an append whose event the inline projection cannot decode succeeded, and should have failed"
        );
    };
    let message = ErrorChain(&e).to_string();
    assert!(
        message.contains(<Card as Document>::NAME),
        "document conformance: the failed append's error names no projection: {message}"
    );
    let stored = b
        .read_stream("Card-c9", 1, es_core::StreamEnd::Head, 10)
        .await
        .unwrap_or_else(|e| {
            panic!(
                "document conformance: read_stream failed: {}",
                ErrorChain(&e)
            )
        });
    same("events stored by the failed append", stored.len(), 0);
    same(
        "the card after the failed append",
        get::<Card, _>(&b, "c9").await,
        None,
    );
    same(
        "the tally after the failed append",
        get::<Tally, _>(&b, "ada").await,
        None,
    );
}

/// Appends to different streams that evolve one document (the owner's
/// [`Tally`]) at the same time, from several tasks: each applies in turn,
/// none is lost.
pub async fn concurrent_appends_to_one_inline_document_lose_no_update<B: DocumentBackend>(b: B) {
    const TASKS: usize = 8;
    const EACH: usize = 20;
    let mut tasks = Vec::new();
    for t in 0..TASKS {
        let b = b.clone();
        tasks.push(tokio::spawn(async move {
            for i in 0..EACH {
                let e = NewEvent::from_raw(
                    OPENED,
                    1,
                    br#"{"owner":"ada","points":1}"#.to_vec(),
                    Metadata::new(),
                );
                b.append(
                    &format!("Card-t{t}-{i}"),
                    ExpectedVersion::NoStream,
                    vec![e],
                )
                .await
                .unwrap_or_else(|e| {
                    panic!(
                        "document conformance: a concurrent append failed: {}",
                        ErrorChain(&e)
                    )
                });
            }
        }));
    }
    for t in tasks {
        t.await.expect("an appending task panicked");
    }
    let tally = get::<Tally, _>(&b, "ada").await.unwrap_or_default();
    same(
        "openings counted in the tally of one owner, appended from 8 tasks at once",
        tally.cards as usize,
        TASKS * EACH,
    );
    same("streams in the tally", tally.streams.len(), TASKS * EACH);
}
