//! A fresh PostgreSQL database per test (feature `postgres`).
//!
//! ```no_run
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() {
//! use es_testing::postgres::TestDatabase;
//! let db = TestDatabase::create().await;   // on the server named by DATABASE_URL
//! let pool = db.pool().clone();
//! sqlx::query("SELECT 1").execute(&pool).await.unwrap();
//! db.drop_db().await;                      // or just drop it
//! # }
//! ```
//!
//! The server is the one `DATABASE_URL` names, by default
//! [`DEFAULT_DATABASE_URL`]. Each [`TestDatabase`] creates a database with a
//! unique name on it and drops it (`WITH (FORCE)`, so open connections do
//! not keep it alive) when dropped or when [`TestDatabase::drop_db`] runs.

use std::str::FromStr;

use sqlx::postgres::{PgConnectOptions, PgConnection, PgPool, PgPoolOptions};
use sqlx::{ConnectOptions, Connection};

/// The server tests use when `DATABASE_URL` is not set.
pub const DEFAULT_DATABASE_URL: &str = "postgres://postgres@127.0.0.1:5432/postgres";

/// Every test database's name starts with this, so a leftover one is easy to spot.
pub const DATABASE_PREFIX: &str = "es_test_";

/// A database that exists for one test.
#[derive(Debug)]
pub struct TestDatabase {
    name: String,
    url: String,
    admin: PgConnectOptions,
    options: PgConnectOptions,
    pool: PgPool,
    dropped: bool,
}

fn server_url() -> String {
    std::env::var("DATABASE_URL")
        .ok()
        .filter(|u| !u.is_empty())
        .unwrap_or_else(|| DEFAULT_DATABASE_URL.to_owned())
}

fn no_server(url: &str, e: &dyn std::fmt::Display) -> ! {
    panic!(
        "cannot reach the PostgreSQL server at {url} ({e}).\n\
         The PostgreSQL tests need a running server. Start the local one with\n    \
         pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start\n\
         or set DATABASE_URL to a server where the user may create databases \
         (default {DEFAULT_DATABASE_URL})."
    )
}

/// `url` with its database path replaced by `name`.
fn url_with_database(url: &str, name: &str) -> String {
    let (base, query) = match url.split_once('?') {
        Some((b, q)) => (b, Some(q)),
        None => (url, None),
    };
    let authority_start = base.find("://").map_or(0, |i| i + 3);
    let path_start = base[authority_start..]
        .find('/')
        .map_or(base.len(), |i| authority_start + i);
    let mut out = format!("{}/{}", &base[..path_start], name);
    if let Some(q) = query {
        out.push('?');
        out.push_str(q);
    }
    out
}

impl TestDatabase {
    /// Creates a uniquely named database on the `DATABASE_URL` server and a
    /// small pool to it.
    ///
    /// # Panics
    ///
    /// When no server answers (the message says how to start one), or when
    /// the database cannot be created.
    pub async fn create() -> Self {
        Self::create_with("").await
    }

    /// As [`create`](Self::create), with `options` after `CREATE DATABASE
    /// name` (say, another default collation):
    ///
    /// ```no_run
    /// # async fn f() {
    /// use es_testing::postgres::TestDatabase;
    /// let db = TestDatabase::create_with("TEMPLATE template0 LOCALE_PROVIDER icu ICU_LOCALE 'en-US' LOCALE 'C.UTF-8'").await;
    /// db.drop_db().await;
    /// # }
    /// ```
    ///
    /// # Panics
    ///
    /// As [`create`](Self::create).
    pub async fn create_with(options: &str) -> Self {
        let url = server_url();
        let admin = PgConnectOptions::from_str(&url)
            .unwrap_or_else(|e| panic!("DATABASE_URL {url:?} is not a PostgreSQL URL: {e}"))
            .disable_statement_logging();
        let mut conn = match PgConnection::connect_with(&admin).await {
            Ok(c) => c,
            Err(e) => no_server(&url, &e),
        };
        let name = format!("{DATABASE_PREFIX}{}", uuid::Uuid::now_v7().simple());
        // A database name cannot be a bound parameter; this one is ours,
        // made of [a-z0-9_].
        sqlx::query(&format!("CREATE DATABASE \"{name}\" {options}"))
            .execute(&mut conn)
            .await
            .unwrap_or_else(|e| panic!("cannot create the test database {name}: {e}"));
        let _ = conn.close().await;
        let options = admin.clone().database(&name);
        let pool = PgPoolOptions::new()
            .max_connections(8)
            .connect_with(options.clone())
            .await
            .unwrap_or_else(|e| panic!("cannot connect to the test database {name}: {e}"));
        Self {
            url: url_with_database(&url, &name),
            name,
            admin,
            options,
            pool,
            dropped: false,
        }
    }

    /// The database's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// A URL for the database (the server URL with this database's name).
    pub fn url(&self) -> &str {
        &self.url
    }

    /// Connection options for the database.
    pub fn connect_options(&self) -> &PgConnectOptions {
        &self.options
    }

    /// A pool to the database (up to 8 connections).
    pub fn pool(&self) -> &PgPool {
        &self.pool
    }

    /// Opens a connection of its own to the database.
    pub async fn connect(&self) -> PgConnection {
        PgConnection::connect_with(&self.options)
            .await
            .unwrap_or_else(|e| panic!("cannot connect to the test database {}: {e}", self.name))
    }

    /// Closes the pool and drops the database (same as [`TestDatabase::drop_db`]).
    pub async fn drop_database(self) {
        self.drop_db().await;
    }

    /// Closes the pool and drops the database. Dropping a `TestDatabase`
    /// does the same on a thread of its own.
    pub async fn drop_db(mut self) {
        self.pool.close().await;
        drop_database(&self.admin, &self.name).await;
        self.dropped = true;
    }
}

async fn drop_database(admin: &PgConnectOptions, name: &str) {
    match PgConnection::connect_with(admin).await {
        Ok(mut conn) => {
            if let Err(e) = sqlx::query(&format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"))
                .execute(&mut conn)
                .await
            {
                // A test helper may report: the database is left behind.
                #[allow(clippy::print_stderr)]
                {
                    eprintln!("es-testing: cannot drop the test database {name}: {e}");
                }
            }
            let _ = conn.close().await;
        }
        Err(e) => {
            #[allow(clippy::print_stderr)]
            {
                eprintln!("es-testing: cannot connect to drop the test database {name}: {e}");
            }
        }
    }
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        if self.dropped {
            return;
        }
        self.dropped = true;
        // Drop cannot await, and may run inside a runtime: drop the database
        // from a thread with a runtime of its own, and wait for it.
        let admin = self.admin.clone();
        let name = self.name.clone();
        let pool = self.pool.clone();
        let joined = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build();
            match rt {
                Ok(rt) => rt.block_on(async move {
                    drop(pool);
                    drop_database(&admin, &name).await;
                }),
                Err(e) => {
                    #[allow(clippy::print_stderr)]
                    {
                        eprintln!("es-testing: no runtime to drop the test database {name}: {e}");
                    }
                }
            }
        })
        .join();
        if joined.is_err() {
            #[allow(clippy::print_stderr)]
            {
                eprintln!(
                    "es-testing: dropping the test database {} panicked",
                    self.name
                );
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::url_with_database;

    #[test]
    fn replaces_the_database_of_a_url() {
        assert_eq!(
            url_with_database("postgres://postgres@127.0.0.1:5432/postgres", "x"),
            "postgres://postgres@127.0.0.1:5432/x"
        );
        assert_eq!(
            url_with_database("postgres://u:p@h/db?sslmode=disable", "x"),
            "postgres://u:p@h/x?sslmode=disable"
        );
        assert_eq!(
            url_with_database("postgres://h:5432", "x"),
            "postgres://h:5432/x"
        );
    }
}
