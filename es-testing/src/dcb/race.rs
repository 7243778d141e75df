//! Writers appending under conditions at once.

use std::sync::Arc;

use es_core::dcb::{AppendCondition, DcbStore, Query, QueryItem};
use es_core::{ErrorChain, StoreError};
use tokio::sync::Barrier;

use super::cases::{ok, same, tag, tagged};

/// Runs `racers` writers at once, each reading `query(i)` and appending
/// under it; returns how many committed and how many were refused.
async fn race<S: DcbStore>(
    s: &S,
    round: usize,
    racers: usize,
    query: impl Fn(usize) -> (Query, Vec<String>),
) -> (usize, usize) {
    let barrier = Arc::new(Barrier::new(racers));
    let mut tasks = Vec::new();
    for i in 0..racers {
        let (q, tags) = query(i);
        let s = s.clone();
        let barrier = Arc::clone(&barrier);
        tasks.push(tokio::spawn(async move {
            let read = ok("read_query", s.read_query(&q, 0, 10_000).await);
            let condition = AppendCondition::new(q, read.scanned_to);
            let tags: Vec<&str> = tags.iter().map(String::as_str).collect();
            let event = tagged("SeatTaken", &tags);
            // Every racer has read before any appends.
            barrier.wait().await;
            match s
                .append_tagged(&format!("Seat-r{round}-{i}"), vec![event], Some(&condition))
                .await
            {
                Ok(_) => true,
                Err(StoreError::ConditionFailed { .. }) => false,
                Err(e) => panic!(
                    "dcb conformance: a racer's append failed: {}",
                    ErrorChain(&e)
                ),
            }
        }));
    }
    let mut won = 0;
    for t in tasks {
        if t.await.expect("a racer panicked") {
            won += 1;
        }
    }
    (won, racers - won)
}

/// 16 writers read the same query (one seat per round: a tag of the round)
/// and append under it at once, 100 rounds: exactly one commits each round,
/// and the log holds exactly one event per round.
pub async fn racers_on_one_tag_set_commit_exactly_one<S: DcbStore>(s: S) {
    const ROUNDS: usize = 100;
    for round in 0..ROUNDS {
        let seat = format!("seat:{round}");
        let (won, _) = race(&s, round, 16, |_| {
            let q = Query::item(QueryItem::new().types(["SeatTaken"]).tags([tag(&seat)]));
            (q, vec![seat.clone(), "hall:main".to_owned()])
        })
        .await;
        same(
            format_args!("writers committed in round {round} of 16 racing for one seat"),
            won,
            1,
        );
    }
    let all = Query::item(QueryItem::new().tags([tag("hall:main")]));
    let page = ok("read_query", s.read_query(&all, 0, 10_000).await);
    same("seats taken in the log", page.events.len(), ROUNDS);
}

/// 16 writers with a tag each (their own seat), at once, 20 rounds: all
/// commit.
pub async fn racers_on_unrelated_tags_never_conflict<S: DcbStore>(s: S) {
    for round in 0..20 {
        let (won, refused) = race(&s, round, 16, |i| {
            let seat = format!("seat:{round}-{i}");
            let q = Query::item(QueryItem::new().types(["SeatTaken"]).tags([tag(&seat)]));
            (q, vec![seat])
        })
        .await;
        same(
            format_args!("writers refused in round {round} (each with a seat of its own)"),
            refused,
            0,
        );
        same("writers committed", won, 16);
    }
}

/// 8 writers, each with a tag of its own, read a query by type alone and
/// append an event of that type under it at once, 20 rounds: exactly one
/// commits each round (nothing but the type brings them together).
pub async fn racers_on_one_type_commit_exactly_one<S: DcbStore>(s: S) {
    for round in 0..20 {
        let (won, _) = race(&s, round, 8, |i| {
            let q = Query::item(QueryItem::new().types(["SeatTaken"]));
            (q, vec![format!("seat:{round}-{i}")])
        })
        .await;
        same(
            format_args!("writers committed in round {round} of 8 racing on one type"),
            won,
            1,
        );
    }
}
