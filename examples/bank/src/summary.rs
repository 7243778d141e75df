//! The `account_summary` read model: per account its owner, balance, open
//! or closed, transaction count and last transaction time; accounts by owner.
//!
//! # One set of handlers, several backends
//!
//! The handlers are written once, generic over the context the runner
//! hands them (`impl<C: SummaryContext> On<MoneyDeposited, C> for
//! AccountSummary`). They turn an event into a call on [`SummaryStore`], a
//! small read-model trait implemented for
//!
//! - the in-memory map the projection keeps itself (context `()`: for
//!   [`es_core::projection::catch_up`] and `ProjectionFixture` tests),
//! - [`sqlx::PgConnection`]: the `account_summary` table in PostgreSQL,
//!   written in the runner's open batch transaction (which also advances the
//!   checkpoint, so an event is never counted twice),
//! - [`sqlx::SqliteConnection`]: the same table in the SQLite file.
//!
//! `#[derive(Projection)]` then implements `Dispatch<Ctx>` for each context.
//!
//! The opening deposit counts as a transaction when it is above zero.

use std::collections::BTreeMap;
use std::future::Future;

use es_core::projection::{HandlerError, On};
use es_core::{Aggregate, Projection, Recorded, Timestamp};
use sqlx::{PgConnection, SqliteConnection};

use crate::domain::{AccountClosed, AccountOpened, BankAccount, MoneyDeposited, MoneyWithdrawn};

/// The account id of a `BankAccount-{id}` stream.
pub fn account_id(stream_id: &str) -> &str {
    stream_id
        .strip_prefix(BankAccount::NAME)
        .and_then(|s| s.strip_prefix('-'))
        .unwrap_or(stream_id)
}

/// One row of `account_summary`.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct AccountRow {
    /// The account.
    pub account_id: String,
    /// Who owns it.
    pub owner_id: String,
    /// In cents.
    pub balance: i64,
    /// Open (not closed).
    pub open: bool,
    /// Deposits and withdrawals, the opening deposit included.
    pub transactions: i64,
    /// When money last moved.
    pub last_transaction_at: Option<Timestamp>,
    /// When it was opened.
    pub opened_at: Timestamp,
}

/// The writes and reads of `account_summary`, whatever holds it.
pub trait SummaryStore: Send {
    /// Creates the table if it does not exist.
    fn setup(&mut self) -> impl Future<Output = Result<(), HandlerError>> + Send;
    /// An account was opened.
    fn opened(
        &mut self,
        account_id: &str,
        owner_id: &str,
        initial_deposit: i64,
        at: Timestamp,
    ) -> impl Future<Output = Result<(), HandlerError>> + Send;
    /// Money moved: `delta` cents in (positive) or out (negative).
    fn moved(
        &mut self,
        account_id: &str,
        delta: i64,
        at: Timestamp,
    ) -> impl Future<Output = Result<(), HandlerError>> + Send;
    /// An account was closed.
    fn closed(&mut self, account_id: &str)
    -> impl Future<Output = Result<(), HandlerError>> + Send;
    /// Every account, or one owner's, by account id.
    fn accounts(
        &mut self,
        owner_id: Option<&str>,
    ) -> impl Future<Output = Result<Vec<AccountRow>, HandlerError>> + Send;
}

/// Where `account_summary` handlers write in a context: `()` means the
/// projection's own map, a connection means that database.
pub trait SummaryContext: Send {
    /// The store to write to, given the projection's own map.
    fn summary_store<'a>(
        &'a mut self,
        own: &'a mut BTreeMap<String, AccountRow>,
    ) -> impl SummaryStore + 'a;
}

/// The `account_summary` projection. Its own map is the read model when it
/// runs in memory (context `()`); in a database it keeps nothing itself.
#[derive(Debug, Default, Clone, Projection)]
#[projection(
    name = "account_summary",
    events(AccountOpened, MoneyDeposited, MoneyWithdrawn, AccountClosed)
)]
pub struct AccountSummary {
    /// The rows by account id (in-memory runs only).
    pub accounts: BTreeMap<String, AccountRow>,
}

impl AccountSummary {
    /// An account's row, in memory.
    pub fn get(&self, account_id: &str) -> Option<&AccountRow> {
        self.accounts.get(account_id)
    }

    /// One owner's accounts, in memory.
    pub fn by_owner(&self, owner_id: &str) -> Vec<&AccountRow> {
        self.accounts
            .values()
            .filter(|a| a.owner_id == owner_id)
            .collect()
    }
}

impl<C: SummaryContext> On<AccountOpened, C> for AccountSummary {
    async fn on(&mut self, e: Recorded<AccountOpened>, ctx: &mut C) -> Result<(), HandlerError> {
        ctx.summary_store(&mut self.accounts)
            .opened(
                account_id(&e.stream_id),
                &e.event.owner_id,
                e.event.initial_deposit,
                e.recorded_at,
            )
            .await
    }
}
impl<C: SummaryContext> On<MoneyDeposited, C> for AccountSummary {
    async fn on(&mut self, e: Recorded<MoneyDeposited>, ctx: &mut C) -> Result<(), HandlerError> {
        ctx.summary_store(&mut self.accounts)
            .moved(account_id(&e.stream_id), e.event.amount, e.recorded_at)
            .await
    }
}
impl<C: SummaryContext> On<MoneyWithdrawn, C> for AccountSummary {
    async fn on(&mut self, e: Recorded<MoneyWithdrawn>, ctx: &mut C) -> Result<(), HandlerError> {
        ctx.summary_store(&mut self.accounts)
            .moved(account_id(&e.stream_id), -e.event.amount, e.recorded_at)
            .await
    }
}
impl<C: SummaryContext> On<AccountClosed, C> for AccountSummary {
    async fn on(&mut self, e: Recorded<AccountClosed>, ctx: &mut C) -> Result<(), HandlerError> {
        ctx.summary_store(&mut self.accounts)
            .closed(account_id(&e.stream_id))
            .await
    }
}

fn missing(account_id: &str) -> HandlerError {
    format!("account `{account_id}` has no summary row (its AccountOpened was not projected)")
        .into()
}

impl SummaryStore for BTreeMap<String, AccountRow> {
    async fn setup(&mut self) -> Result<(), HandlerError> {
        Ok(())
    }
    async fn opened(
        &mut self,
        account_id: &str,
        owner_id: &str,
        initial_deposit: i64,
        at: Timestamp,
    ) -> Result<(), HandlerError> {
        let moved = initial_deposit > 0;
        self.insert(
            account_id.to_owned(),
            AccountRow {
                account_id: account_id.to_owned(),
                owner_id: owner_id.to_owned(),
                balance: initial_deposit,
                open: true,
                transactions: i64::from(moved),
                last_transaction_at: moved.then_some(at),
                opened_at: at,
            },
        );
        Ok(())
    }
    async fn moved(
        &mut self,
        account_id: &str,
        delta: i64,
        at: Timestamp,
    ) -> Result<(), HandlerError> {
        let row = self
            .get_mut(account_id)
            .ok_or_else(|| missing(account_id))?;
        row.balance += delta;
        row.transactions += 1;
        row.last_transaction_at = Some(at);
        Ok(())
    }
    async fn closed(&mut self, account_id: &str) -> Result<(), HandlerError> {
        let row = self
            .get_mut(account_id)
            .ok_or_else(|| missing(account_id))?;
        row.open = false;
        Ok(())
    }
    async fn accounts(&mut self, owner_id: Option<&str>) -> Result<Vec<AccountRow>, HandlerError> {
        Ok(self
            .values()
            .filter(|a| owner_id.is_none_or(|o| a.owner_id == o))
            .cloned()
            .collect())
    }
}

impl<T: SummaryStore + ?Sized> SummaryStore for &mut T {
    fn setup(&mut self) -> impl Future<Output = Result<(), HandlerError>> + Send {
        (**self).setup()
    }
    fn opened(
        &mut self,
        account_id: &str,
        owner_id: &str,
        initial_deposit: i64,
        at: Timestamp,
    ) -> impl Future<Output = Result<(), HandlerError>> + Send {
        (**self).opened(account_id, owner_id, initial_deposit, at)
    }
    fn moved(
        &mut self,
        account_id: &str,
        delta: i64,
        at: Timestamp,
    ) -> impl Future<Output = Result<(), HandlerError>> + Send {
        (**self).moved(account_id, delta, at)
    }
    fn closed(
        &mut self,
        account_id: &str,
    ) -> impl Future<Output = Result<(), HandlerError>> + Send {
        (**self).closed(account_id)
    }
    fn accounts(
        &mut self,
        owner_id: Option<&str>,
    ) -> impl Future<Output = Result<Vec<AccountRow>, HandlerError>> + Send {
        (**self).accounts(owner_id)
    }
}

impl SummaryContext for () {
    fn summary_store<'a>(
        &'a mut self,
        own: &'a mut BTreeMap<String, AccountRow>,
    ) -> impl SummaryStore + 'a {
        own
    }
}

/// `account_summary` in PostgreSQL.
const POSTGRES_TABLES: &[&str] = &[
    "CREATE TABLE IF NOT EXISTS account_summary (
        account_id TEXT PRIMARY KEY,
        owner_id TEXT NOT NULL,
        balance BIGINT NOT NULL,
        open BOOLEAN NOT NULL,
        transactions BIGINT NOT NULL,
        last_transaction_at TIMESTAMPTZ,
        opened_at TIMESTAMPTZ NOT NULL)",
    "CREATE INDEX IF NOT EXISTS account_summary_owner ON account_summary (owner_id)",
];

/// The same table in SQLite (times as RFC 3339 text).
const SQLITE_TABLES: &[&str] = &[
    "CREATE TABLE IF NOT EXISTS account_summary (
        account_id TEXT PRIMARY KEY,
        owner_id TEXT NOT NULL,
        balance INTEGER NOT NULL,
        open BOOLEAN NOT NULL,
        transactions INTEGER NOT NULL,
        last_transaction_at TEXT,
        opened_at TEXT NOT NULL)",
    "CREATE INDEX IF NOT EXISTS account_summary_owner ON account_summary (owner_id)",
];

/// The SQL implementations: the statements are the same on both databases
/// (`$n` parameters); only the table definitions differ.
macro_rules! sql_summary {
    ($conn:ty, $tables:expr) => {
        impl SummaryStore for $conn {
            async fn setup(&mut self) -> Result<(), HandlerError> {
                for ddl in $tables {
                    sqlx::query(ddl).execute(&mut *self).await?;
                }
                Ok(())
            }
            async fn opened(
                &mut self,
                account_id: &str,
                owner_id: &str,
                initial_deposit: i64,
                at: Timestamp,
            ) -> Result<(), HandlerError> {
                let moved = initial_deposit > 0;
                sqlx::query(
                    "INSERT INTO account_summary (account_id, owner_id, balance, open, \
                     transactions, last_transaction_at, opened_at) \
                     VALUES ($1, $2, $3, TRUE, $4, $5, $6)",
                )
                .bind(account_id)
                .bind(owner_id)
                .bind(initial_deposit)
                .bind(i64::from(moved))
                .bind(moved.then_some(at))
                .bind(at)
                .execute(&mut *self)
                .await?;
                Ok(())
            }
            async fn moved(
                &mut self,
                account_id: &str,
                delta: i64,
                at: Timestamp,
            ) -> Result<(), HandlerError> {
                let done = sqlx::query(
                    "UPDATE account_summary SET balance = balance + $2, \
                     transactions = transactions + 1, last_transaction_at = $3 \
                     WHERE account_id = $1",
                )
                .bind(account_id)
                .bind(delta)
                .bind(at)
                .execute(&mut *self)
                .await?;
                if done.rows_affected() == 0 {
                    return Err(missing(account_id));
                }
                Ok(())
            }
            async fn closed(&mut self, account_id: &str) -> Result<(), HandlerError> {
                let done =
                    sqlx::query("UPDATE account_summary SET open = FALSE WHERE account_id = $1")
                        .bind(account_id)
                        .execute(&mut *self)
                        .await?;
                if done.rows_affected() == 0 {
                    return Err(missing(account_id));
                }
                Ok(())
            }
            async fn accounts(
                &mut self,
                owner_id: Option<&str>,
            ) -> Result<Vec<AccountRow>, HandlerError> {
                Ok(sqlx::query_as(
                    "SELECT account_id, owner_id, balance, open, transactions, \
                     last_transaction_at, opened_at FROM account_summary \
                     WHERE $1 IS NULL OR owner_id = $1 ORDER BY account_id",
                )
                .bind(owner_id)
                .fetch_all(&mut *self)
                .await?)
            }
        }

        impl SummaryContext for $conn {
            fn summary_store<'a>(
                &'a mut self,
                _own: &'a mut BTreeMap<String, AccountRow>,
            ) -> impl SummaryStore + 'a {
                self
            }
        }
    };
}

sql_summary!(PgConnection, POSTGRES_TABLES);
sql_summary!(SqliteConnection, SQLITE_TABLES);

/// Run by `es_postgres::ProjectionRunner`: the runner creates the table
/// before its first batch and empties it before a rebuild.
impl es_postgres::PgProjection for AccountSummary {
    async fn setup(&mut self, conn: &mut PgConnection) -> Result<(), HandlerError> {
        SummaryStore::setup(conn).await
    }
    async fn reset(&mut self, conn: &mut PgConnection) -> Result<(), HandlerError> {
        sqlx::query("TRUNCATE account_summary")
            .execute(conn)
            .await?;
        Ok(())
    }
}

/// Run by `es_sqlite::ProjectionRunner`, like the PostgreSQL one.
impl es_sqlite::SqliteProjection for AccountSummary {
    async fn setup(&mut self, conn: &mut SqliteConnection) -> Result<(), HandlerError> {
        SummaryStore::setup(conn).await
    }
    async fn reset(&mut self, conn: &mut SqliteConnection) -> Result<(), HandlerError> {
        sqlx::query("DELETE FROM account_summary")
            .execute(conn)
            .await?;
        Ok(())
    }
}
