//! A damaged database file, or a directory that cannot hold one: `check_integrity` (and `open_checked`) find it
//! at start-up; a read that meets the damage reports it; either way the
//! store refuses appends from then on instead of writing into a damaged
//! file.

mod common;

use std::io::{Seek, SeekFrom, Write};

use common::{TempDb, events};
use es_core::{EventStore, ExpectedVersion, StoreError};
use es_sqlite::SqliteEventStore;

/// A file of 3,000 events with 64 KiB of garbage written into its middle.
async fn damaged_file(tag: &str) -> TempDb {
    let db = TempDb::new(tag);
    let store = SqliteEventStore::open(db.path()).await.unwrap();
    for i in 0..30 {
        store
            .append(
                &format!("Filler-{i}"),
                ExpectedVersion::NoStream,
                events("Filled", 100),
            )
            .await
            .unwrap();
    }
    store
        .check_integrity()
        .await
        .expect("the file is sound before");
    // Into the main file, so the damage is not hidden behind the WAL.
    sqlx::query("PRAGMA wal_checkpoint(TRUNCATE)")
        .execute(store.pool())
        .await
        .unwrap();
    store.close().await;
    drop(store);
    let len = std::fs::metadata(db.path()).unwrap().len();
    assert!(
        len > 256 << 10,
        "the events are in the main file ({len} bytes)"
    );
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .open(db.path())
        .unwrap();
    file.seek(SeekFrom::Start(len / 2)).unwrap();
    file.write_all(&vec![0xA5; 64 * 1024]).unwrap();
    file.sync_all().unwrap();
    db
}

fn assert_refused(err: &StoreError) {
    let text = err.to_string();
    assert!(
        matches!(err, StoreError::Corrupt { .. }) && text.contains("appends are refused"),
        "{text}"
    );
}

#[tokio::test]
async fn the_check_at_open_finds_the_damage_and_appends_are_refused() {
    let db = damaged_file("corrupt-check").await;
    let err = SqliteEventStore::open_checked(db.path()).await.unwrap_err();
    assert!(matches!(err, StoreError::Corrupt { .. }), "{err}");
    assert!(err.to_string().contains("corrupt"), "{err}");

    let store = SqliteEventStore::open(db.path()).await.unwrap();
    assert!(store.check_integrity().await.is_err());
    assert!(store.has_seen_corruption());
    let err = store
        .append("New-1", ExpectedVersion::NoStream, events("Late", 1))
        .await
        .unwrap_err();
    assert_refused(&err);
    store.close().await;
}

#[tokio::test]
async fn a_read_that_meets_the_damage_stops_appends() {
    let db = damaged_file("corrupt-read").await;
    let store = SqliteEventStore::open(db.path()).await.unwrap();
    assert!(!store.has_seen_corruption());
    // Page through the whole log: some page meets the damage.
    let mut after = 0;
    let err = loop {
        match store.read_all(after, 100, None).await {
            Ok(page) if page.is_empty() => panic!("read the whole damaged log without an error"),
            Ok(page) => after = page.scanned_to,
            Err(e) => break e,
        }
    };
    assert!(store.has_seen_corruption(), "{err}");
    let err = store
        .append("New-1", ExpectedVersion::NoStream, events("Late", 1))
        .await
        .unwrap_err();
    assert_refused(&err);
    store.close().await;
}

#[tokio::test]
async fn a_directory_that_cannot_hold_the_log_is_named() {
    let path = std::env::temp_dir()
        .join("es-sqlite-no-such-dir")
        .join("app.db");
    let err = SqliteEventStore::open(&path).await.unwrap_err();
    let text = err.to_string();
    assert!(
        text.contains("must exist and be writable") && text.contains("app.db-wal"),
        "{text}"
    );
}
