//! Wake-ups after commits.

use super::*;

/// `watch_commits` wakes a waiting reader after an append, announcing a
/// position at least the appended one, and again after a later append.
pub async fn watch_commits_wakes_after_append<S: EventStore + SnapshotStore>(store: S) {
    let mut watch = store.watch_commits().await.unwrap_or_else(|e| {
        panic!(
            "store conformance: watch_commits failed: {e}",
            e = es_core::ErrorChain(&e)
        )
    });
    for round in 1..=2u64 {
        let writer = store.clone();
        let task = tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(50)).await;
            writer
                .append(
                    "Watched-1",
                    ExpectedVersion::Exact(round - 1),
                    numbered("E", round..=round),
                )
                .await
                .map(|r| r.last_position)
        });
        let woke = tokio::time::timeout(Duration::from_secs(10), watch.changed()).await;
        let appended = task
            .await
            .expect("the writer task")
            .unwrap_or_else(|e| {
                panic!(
                    "store conformance: append failed: {e}",
                    e = es_core::ErrorChain(&e)
                )
            })
            .expect("one event appended");
        match woke {
            Err(_) => panic!(
                "store conformance: watch_commits did not wake within 10 s of append {round}"
            ),
            Ok(None) => panic!(
                "store conformance: watch_commits stopped announcing while the store is alive"
            ),
            Ok(Some(position)) => {
                // The announcement may come before or after we read the result;
                // wait until it covers the append.
                let mut position = position;
                while position < appended {
                    position = tokio::time::timeout(Duration::from_secs(10), watch.changed())
                        .await
                        .unwrap_or_else(|_| panic!("store conformance: watch_commits announced {position}, never the appended position {appended}"))
                        .expect("store conformance: watch_commits stopped announcing");
                }
            }
        }
    }
}
