//! TLS to the server: `sslmode=require` encrypts the store's connections;
//! a certificate the client cannot verify is a TLS error, not a bad URL.
//!
//! The server `DATABASE_URL` names must have `ssl = on` (Debian's and most
//! packaged PostgreSQL servers do, with a self-signed "snakeoil"
//! certificate); these tests fail, saying so, when it does not.

use es_core::{EventStore, ExpectedVersion, Metadata, NewEvent, StoreError, StreamEnd};
use es_postgres::PgEventStore;
use es_testing::postgres::TestDatabase;

/// `url` with one more query parameter.
fn with_param(url: &str, param: &str) -> String {
    let sep = if url.contains('?') { '&' } else { '?' };
    format!("{url}{sep}{param}")
}

/// Fails the test, naming the reason, when the server has TLS turned off.
async fn require_server_tls(db: &TestDatabase) {
    let ssl: String = sqlx::query_scalar("SHOW ssl")
        .fetch_one(db.pool())
        .await
        .expect("SHOW ssl");
    assert_eq!(
        ssl, "on",
        "the PostgreSQL server at DATABASE_URL has `ssl = off`, so the TLS tests cannot run: \
         turn it on (postgresql.conf: ssl = on, ssl_cert_file, ssl_key_file; Debian's \
         default uses the snakeoil certificate) and reload the server"
    );
}

#[tokio::test]
async fn a_store_with_sslmode_require_talks_tls() {
    let db = TestDatabase::create().await;
    require_server_tls(&db).await;
    let store = PgEventStore::connect(&with_param(db.url(), "sslmode=require"))
        .await
        .unwrap_or_else(|e| panic!("connect with sslmode=require: {e}"));
    store.migrate().await.expect("migrate over TLS");
    store
        .append(
            "Tls-1",
            ExpectedVersion::NoStream,
            vec![NewEvent::from_raw(
                "Pinged",
                1,
                br#"{"n":1}"#.to_vec(),
                Metadata::new(),
            )],
        )
        .await
        .expect("append over TLS");
    let read = store
        .read_stream("Tls-1", 1, StreamEnd::Head, 10)
        .await
        .expect("read over TLS");
    assert_eq!(read.len(), 1);
    let payload: serde_json::Value = serde_json::from_slice(&read[0].payload).unwrap();
    assert_eq!(payload, serde_json::json!({"n": 1}));

    let mut conn = store.pool().acquire().await.expect("a pooled connection");
    let ssl: Option<bool> =
        sqlx::query_scalar("SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()")
            .fetch_optional(&mut *conn)
            .await
            .expect("pg_stat_ssl");
    assert_eq!(ssl, Some(true), "the store's connection is encrypted");
    drop(conn);
    store.pool().close().await;
    db.drop_db().await;
}

#[tokio::test]
async fn an_unverifiable_certificate_is_a_tls_error() {
    let db = TestDatabase::create().await;
    require_server_tls(&db).await;
    // The server's certificate is self-signed: verify-full must refuse it.
    let e = PgEventStore::connect(&with_param(db.url(), "sslmode=verify-full"))
        .await
        .map(|_| ())
        .expect_err("a self-signed certificate must not verify");
    let StoreError::Backend { source, .. } = &e else {
        panic!("expected a backend error, got {e:?}");
    };
    let sqlx = source
        .downcast_ref::<sqlx::Error>()
        .unwrap_or_else(|| panic!("expected a sqlx error, got {e}"));
    // sqlx reports the refused certificate as I/O; the store says TLS.
    assert!(matches!(sqlx, sqlx::Error::Tls(_)), "{sqlx:?}");
    assert!(es_postgres::is_tls_error(sqlx));
    // The whole chain, as a log line or the `es` tool shows it.
    let text = es_core::ErrorChain(&e).to_string();
    assert!(text.contains("TLS"), "{text}");
    assert!(!text.contains("URL"), "{text}");
    db.drop_db().await;
}
