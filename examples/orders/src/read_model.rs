//! The orders example's read models: `order_details` (one row per order:
//! status, customer, times, total, address, tracking number) and
//! `order_items` (the lines of each order).
//!
//! # One set of handlers, several backends
//!
//! Each projection's handlers are written once, generic over the context
//! the runner hands them (`impl<C: DetailsContext> On<OrderPlaced, C> for
//! OrderDetails`). A context says where the read model lives:
//!
//! - `()`: in the projection itself (a map), for [`es_core::projection::catch_up`],
//!   `ProjectionFixture` tests and demos;
//! - [`sqlx::PgConnection`]: PostgreSQL tables, written in the transaction
//!   the projection runner opened, which also advances the checkpoint;
//! - [`sqlx::SqliteConnection`]: the same tables in the SQLite file.
//!
//! The handlers only turn an event into a call on a small read-model trait
//! ([`OrderDetailsStore`], [`OrderItemsStore`]) implemented for the
//! in-memory map and for both connections. `#[derive(Projection)]` then
//! implements `Dispatch<Ctx>` for each of these contexts.

use std::collections::BTreeMap;
use std::future::Future;

use es_core::projection::{HandlerError, On};
use es_core::{Aggregate, Projection, Recorded, Timestamp};
use sqlx::{PgConnection, SqliteConnection};

use crate::domain::{
    Cents, Order, OrderCancelled, OrderCreated, OrderDelivered, OrderItemAdded, OrderItemRemoved,
    OrderPlaced, OrderShipped, OrderStatus,
};

/// The order id of an `Order-{id}` stream.
pub fn order_id(stream_id: &str) -> &str {
    stream_id
        .strip_prefix(Order::NAME)
        .and_then(|s| s.strip_prefix('-'))
        .unwrap_or(stream_id)
}

/// The name an order status is stored under.
pub fn status_name(status: OrderStatus) -> &'static str {
    match status {
        OrderStatus::New => "new",
        OrderStatus::Draft => "draft",
        OrderStatus::Placed => "placed",
        OrderStatus::Shipped => "shipped",
        OrderStatus::Delivered => "delivered",
        OrderStatus::Cancelled => "cancelled",
    }
}

// ------------------------------------------------------------ order_details

/// One row of `order_details`.
#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct OrderDetailsRow {
    /// The order.
    pub order_id: String,
    /// Who ordered.
    pub customer_id: String,
    /// `draft`, `placed`, `shipped`, `delivered` or `cancelled`.
    pub status: String,
    /// The total due, once placed, in cents.
    pub total: Option<Cents>,
    /// Where it goes, once placed.
    pub shipping_address: Option<String>,
    /// The carrier's tracking number, once shipped.
    pub tracking_number: Option<String>,
    /// Why it was cancelled.
    pub cancel_reason: Option<String>,
    /// When it was created.
    pub created_at: Timestamp,
    /// When it was placed.
    pub placed_at: Option<Timestamp>,
    /// When it shipped.
    pub shipped_at: Option<Timestamp>,
    /// When it arrived.
    pub delivered_at: Option<Timestamp>,
    /// When it was cancelled.
    pub cancelled_at: Option<Timestamp>,
}

/// The writes and reads of `order_details`, whatever holds it.
pub trait OrderDetailsStore: Send {
    /// Creates the tables if they do not exist.
    fn setup(&mut self) -> impl Future<Output = Result<(), HandlerError>> + Send;
    /// An order was created.
    fn created(
        &mut self,
        order_id: &str,
        customer_id: &str,
        at: Timestamp,
    ) -> impl Future<Output = Result<(), HandlerError>> + Send;
    /// An order was placed.
    fn placed(
        &mut self,
        order_id: &str,
        shipping_address: &str,
        total: Cents,
        at: Timestamp,
    ) -> impl Future<Output = Result<(), HandlerError>> + Send;
    /// An order shipped.
    fn shipped(
        &mut self,
        order_id: &str,
        tracking_number: &str,
        at: Timestamp,
    ) -> impl Future<Output = Result<(), HandlerError>> + Send;
    /// An order arrived.
    fn delivered(
        &mut self,
        order_id: &str,
        at: Timestamp,
    ) -> impl Future<Output = Result<(), HandlerError>> + Send;
    /// An order was cancelled.
    fn cancelled(
        &mut self,
        order_id: &str,
        reason: &str,
        at: Timestamp,
    ) -> impl Future<Output = Result<(), HandlerError>> + Send;
    /// One order's row.
    fn details(
        &mut self,
        order_id: &str,
    ) -> impl Future<Output = Result<Option<OrderDetailsRow>, HandlerError>> + Send;
}

/// Where `order_details` handlers write in a context: `()` means the
/// projection's own map, a connection means that database.
pub trait DetailsContext: Send {
    /// The store to write to, given the projection's own map.
    fn details_store<'a>(
        &'a mut self,
        own: &'a mut BTreeMap<String, OrderDetailsRow>,
    ) -> impl OrderDetailsStore + 'a;
}

/// The `order_details` projection. Its own map is the read model when it
/// runs in memory (context `()`); in a database it keeps nothing itself.
#[derive(Debug, Default, Clone, Projection)]
#[projection(
    name = "order_details",
    events(
        OrderCreated,
        OrderPlaced,
        OrderShipped,
        OrderDelivered,
        OrderCancelled
    )
)]
pub struct OrderDetails {
    /// The rows by order id (in-memory runs only).
    pub orders: BTreeMap<String, OrderDetailsRow>,
}

impl OrderDetails {
    /// An order's row, in memory.
    pub fn get(&self, order_id: &str) -> Option<&OrderDetailsRow> {
        self.orders.get(order_id)
    }
}

impl<C: DetailsContext> On<OrderCreated, C> for OrderDetails {
    async fn on(&mut self, e: Recorded<OrderCreated>, ctx: &mut C) -> Result<(), HandlerError> {
        ctx.details_store(&mut self.orders)
            .created(order_id(&e.stream_id), &e.event.customer_id, e.recorded_at)
            .await
    }
}
impl<C: DetailsContext> On<OrderPlaced, C> for OrderDetails {
    async fn on(&mut self, e: Recorded<OrderPlaced>, ctx: &mut C) -> Result<(), HandlerError> {
        ctx.details_store(&mut self.orders)
            .placed(
                order_id(&e.stream_id),
                &e.event.shipping_address,
                e.event.total,
                e.recorded_at,
            )
            .await
    }
}
impl<C: DetailsContext> On<OrderShipped, C> for OrderDetails {
    async fn on(&mut self, e: Recorded<OrderShipped>, ctx: &mut C) -> Result<(), HandlerError> {
        ctx.details_store(&mut self.orders)
            .shipped(
                order_id(&e.stream_id),
                &e.event.tracking_number,
                e.recorded_at,
            )
            .await
    }
}
impl<C: DetailsContext> On<OrderDelivered, C> for OrderDetails {
    async fn on(&mut self, e: Recorded<OrderDelivered>, ctx: &mut C) -> Result<(), HandlerError> {
        ctx.details_store(&mut self.orders)
            .delivered(order_id(&e.stream_id), e.recorded_at)
            .await
    }
}
impl<C: DetailsContext> On<OrderCancelled, C> for OrderDetails {
    async fn on(&mut self, e: Recorded<OrderCancelled>, ctx: &mut C) -> Result<(), HandlerError> {
        ctx.details_store(&mut self.orders)
            .cancelled(order_id(&e.stream_id), &e.event.reason, e.recorded_at)
            .await
    }
}

fn missing(order_id: &str) -> HandlerError {
    format!("order `{order_id}` has no order_details row (its OrderCreated was not projected)")
        .into()
}

impl OrderDetailsStore for BTreeMap<String, OrderDetailsRow> {
    async fn setup(&mut self) -> Result<(), HandlerError> {
        Ok(())
    }
    async fn created(
        &mut self,
        order_id: &str,
        customer_id: &str,
        at: Timestamp,
    ) -> Result<(), HandlerError> {
        self.insert(
            order_id.to_owned(),
            OrderDetailsRow {
                order_id: order_id.to_owned(),
                customer_id: customer_id.to_owned(),
                status: status_name(OrderStatus::Draft).to_owned(),
                total: None,
                shipping_address: None,
                tracking_number: None,
                cancel_reason: None,
                created_at: at,
                placed_at: None,
                shipped_at: None,
                delivered_at: None,
                cancelled_at: None,
            },
        );
        Ok(())
    }
    async fn placed(
        &mut self,
        order_id: &str,
        shipping_address: &str,
        total: Cents,
        at: Timestamp,
    ) -> Result<(), HandlerError> {
        let row = self.get_mut(order_id).ok_or_else(|| missing(order_id))?;
        row.status = status_name(OrderStatus::Placed).to_owned();
        row.shipping_address = Some(shipping_address.to_owned());
        row.total = Some(total);
        row.placed_at = Some(at);
        Ok(())
    }
    async fn shipped(
        &mut self,
        order_id: &str,
        tracking_number: &str,
        at: Timestamp,
    ) -> Result<(), HandlerError> {
        let row = self.get_mut(order_id).ok_or_else(|| missing(order_id))?;
        row.status = status_name(OrderStatus::Shipped).to_owned();
        row.tracking_number = Some(tracking_number.to_owned());
        row.shipped_at = Some(at);
        Ok(())
    }
    async fn delivered(&mut self, order_id: &str, at: Timestamp) -> Result<(), HandlerError> {
        let row = self.get_mut(order_id).ok_or_else(|| missing(order_id))?;
        row.status = status_name(OrderStatus::Delivered).to_owned();
        row.delivered_at = Some(at);
        Ok(())
    }
    async fn cancelled(
        &mut self,
        order_id: &str,
        reason: &str,
        at: Timestamp,
    ) -> Result<(), HandlerError> {
        let row = self.get_mut(order_id).ok_or_else(|| missing(order_id))?;
        row.status = status_name(OrderStatus::Cancelled).to_owned();
        row.cancel_reason = Some(reason.to_owned());
        row.cancelled_at = Some(at);
        Ok(())
    }
    async fn details(&mut self, order_id: &str) -> Result<Option<OrderDetailsRow>, HandlerError> {
        Ok(self.get(order_id).cloned())
    }
}

impl<T: OrderDetailsStore + ?Sized> OrderDetailsStore for &mut T {
    fn setup(&mut self) -> impl Future<Output = Result<(), HandlerError>> + Send {
        (**self).setup()
    }
    fn created(
        &mut self,
        order_id: &str,
        customer_id: &str,
        at: Timestamp,
    ) -> impl Future<Output = Result<(), HandlerError>> + Send {
        (**self).created(order_id, customer_id, at)
    }
    fn placed(
        &mut self,
        order_id: &str,
        shipping_address: &str,
        total: Cents,
        at: Timestamp,
    ) -> impl Future<Output = Result<(), HandlerError>> + Send {
        (**self).placed(order_id, shipping_address, total, at)
    }
    fn shipped(
        &mut self,
        order_id: &str,
        tracking_number: &str,
        at: Timestamp,
    ) -> impl Future<Output = Result<(), HandlerError>> + Send {
        (**self).shipped(order_id, tracking_number, at)
    }
    fn delivered(
        &mut self,
        order_id: &str,
        at: Timestamp,
    ) -> impl Future<Output = Result<(), HandlerError>> + Send {
        (**self).delivered(order_id, at)
    }
    fn cancelled(
        &mut self,
        order_id: &str,
        reason: &str,
        at: Timestamp,
    ) -> impl Future<Output = Result<(), HandlerError>> + Send {
        (**self).cancelled(order_id, reason, at)
    }
    fn details(
        &mut self,
        order_id: &str,
    ) -> impl Future<Output = Result<Option<OrderDetailsRow>, HandlerError>> + Send {
        (**self).details(order_id)
    }
}

impl DetailsContext for () {
    fn details_store<'a>(
        &'a mut self,
        own: &'a mut BTreeMap<String, OrderDetailsRow>,
    ) -> impl OrderDetailsStore + 'a {
        own
    }
}

// -------------------------------------------------------------- order_items

/// One row of `order_items`: a line of an order.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct OrderItemRow {
    /// The order.
    pub order_id: String,
    /// The product.
    pub sku: String,
    /// How many.
    pub quantity: i64,
    /// The price of one, in cents.
    pub unit_price: Cents,
    /// The stream version that first added the line (lines sort by it).
    pub line_no: i64,
}

/// The writes and reads of `order_items`, whatever holds it.
pub trait OrderItemsStore: Send {
    /// Creates the tables if they do not exist.
    fn setup(&mut self) -> impl Future<Output = Result<(), HandlerError>> + Send;
    /// Items were added: a new line, or more of an existing one.
    fn added(
        &mut self,
        order_id: &str,
        sku: &str,
        quantity: i64,
        unit_price: Cents,
        line_no: i64,
    ) -> impl Future<Output = Result<(), HandlerError>> + Send;
    /// A line was removed.
    fn removed(
        &mut self,
        order_id: &str,
        sku: &str,
    ) -> impl Future<Output = Result<(), HandlerError>> + Send;
    /// An order's lines, in the order they were first added.
    fn items(
        &mut self,
        order_id: &str,
    ) -> impl Future<Output = Result<Vec<OrderItemRow>, HandlerError>> + Send;
}

/// Where `order_items` handlers write in a context (see [`DetailsContext`]).
pub trait ItemsContext: Send {
    /// The store to write to, given the projection's own lines.
    fn items_store<'a>(&'a mut self, own: &'a mut Vec<OrderItemRow>) -> impl OrderItemsStore + 'a;
}

/// The `order_items` projection. Its own lines are the read model when it
/// runs in memory (context `()`).
#[derive(Debug, Default, Clone, Projection)]
#[projection(name = "order_items", events(OrderItemAdded, OrderItemRemoved))]
pub struct OrderItems {
    /// Every order's lines (in-memory runs only).
    pub lines: Vec<OrderItemRow>,
}

impl OrderItems {
    /// An order's lines, in memory.
    pub fn of(&self, order_id: &str) -> Vec<&OrderItemRow> {
        self.lines
            .iter()
            .filter(|l| l.order_id == order_id)
            .collect()
    }
}

impl<C: ItemsContext> On<OrderItemAdded, C> for OrderItems {
    async fn on(&mut self, e: Recorded<OrderItemAdded>, ctx: &mut C) -> Result<(), HandlerError> {
        let line_no = i64::try_from(e.stream_version)?;
        ctx.items_store(&mut self.lines)
            .added(
                order_id(&e.stream_id),
                &e.event.sku,
                i64::from(e.event.quantity),
                e.event.unit_price,
                line_no,
            )
            .await
    }
}
impl<C: ItemsContext> On<OrderItemRemoved, C> for OrderItems {
    async fn on(&mut self, e: Recorded<OrderItemRemoved>, ctx: &mut C) -> Result<(), HandlerError> {
        ctx.items_store(&mut self.lines)
            .removed(order_id(&e.stream_id), &e.event.sku)
            .await
    }
}

impl OrderItemsStore for Vec<OrderItemRow> {
    async fn setup(&mut self) -> Result<(), HandlerError> {
        Ok(())
    }
    async fn added(
        &mut self,
        order_id: &str,
        sku: &str,
        quantity: i64,
        unit_price: Cents,
        line_no: i64,
    ) -> Result<(), HandlerError> {
        match self
            .iter_mut()
            .find(|l| l.order_id == order_id && l.sku == sku)
        {
            Some(line) => line.quantity += quantity,
            None => self.push(OrderItemRow {
                order_id: order_id.to_owned(),
                sku: sku.to_owned(),
                quantity,
                unit_price,
                line_no,
            }),
        }
        Ok(())
    }
    async fn removed(&mut self, order_id: &str, sku: &str) -> Result<(), HandlerError> {
        self.retain(|l| !(l.order_id == order_id && l.sku == sku));
        Ok(())
    }
    async fn items(&mut self, order_id: &str) -> Result<Vec<OrderItemRow>, HandlerError> {
        let mut lines: Vec<_> = self
            .iter()
            .filter(|l| l.order_id == order_id)
            .cloned()
            .collect();
        lines.sort_by_key(|l| l.line_no);
        Ok(lines)
    }
}

impl<T: OrderItemsStore + ?Sized> OrderItemsStore for &mut T {
    fn setup(&mut self) -> impl Future<Output = Result<(), HandlerError>> + Send {
        (**self).setup()
    }
    fn added(
        &mut self,
        order_id: &str,
        sku: &str,
        quantity: i64,
        unit_price: Cents,
        line_no: i64,
    ) -> impl Future<Output = Result<(), HandlerError>> + Send {
        (**self).added(order_id, sku, quantity, unit_price, line_no)
    }
    fn removed(
        &mut self,
        order_id: &str,
        sku: &str,
    ) -> impl Future<Output = Result<(), HandlerError>> + Send {
        (**self).removed(order_id, sku)
    }
    fn items(
        &mut self,
        order_id: &str,
    ) -> impl Future<Output = Result<Vec<OrderItemRow>, HandlerError>> + Send {
        (**self).items(order_id)
    }
}

impl ItemsContext for () {
    fn items_store<'a>(&'a mut self, own: &'a mut Vec<OrderItemRow>) -> impl OrderItemsStore + 'a {
        own
    }
}

// ------------------------------------------------------- the SQL backends

/// `order_details` and `order_items` in PostgreSQL.
const POSTGRES_TABLES: &[&str] = &[
    "CREATE TABLE IF NOT EXISTS order_details (
        order_id TEXT PRIMARY KEY,
        customer_id TEXT NOT NULL,
        status TEXT NOT NULL,
        total BIGINT,
        shipping_address TEXT,
        tracking_number TEXT,
        cancel_reason TEXT,
        created_at TIMESTAMPTZ NOT NULL,
        placed_at TIMESTAMPTZ,
        shipped_at TIMESTAMPTZ,
        delivered_at TIMESTAMPTZ,
        cancelled_at TIMESTAMPTZ)",
    "CREATE TABLE IF NOT EXISTS order_items (
        order_id TEXT NOT NULL,
        sku TEXT NOT NULL,
        quantity BIGINT NOT NULL,
        unit_price BIGINT NOT NULL,
        line_no BIGINT NOT NULL,
        PRIMARY KEY (order_id, sku))",
];

/// The same tables in SQLite (times as RFC 3339 text).
const SQLITE_TABLES: &[&str] = &[
    "CREATE TABLE IF NOT EXISTS order_details (
        order_id TEXT PRIMARY KEY,
        customer_id TEXT NOT NULL,
        status TEXT NOT NULL,
        total INTEGER,
        shipping_address TEXT,
        tracking_number TEXT,
        cancel_reason TEXT,
        created_at TEXT NOT NULL,
        placed_at TEXT,
        shipped_at TEXT,
        delivered_at TEXT,
        cancelled_at TEXT)",
    "CREATE TABLE IF NOT EXISTS order_items (
        order_id TEXT NOT NULL,
        sku TEXT NOT NULL,
        quantity INTEGER NOT NULL,
        unit_price INTEGER NOT NULL,
        line_no INTEGER NOT NULL,
        PRIMARY KEY (order_id, sku))",
];

/// Fails when an UPDATE touched no row.
fn one_row(affected: u64, order_id: &str) -> Result<(), HandlerError> {
    if affected == 0 {
        Err(missing(order_id))
    } else {
        Ok(())
    }
}

/// The SQL implementations; the statements are the same on both databases
/// (`$n` parameters), only the table definitions differ.
macro_rules! sql_read_models {
    ($conn:ty, $tables:expr) => {
        impl OrderDetailsStore for $conn {
            async fn setup(&mut self) -> Result<(), HandlerError> {
                for ddl in $tables {
                    sqlx::query(ddl).execute(&mut *self).await?;
                }
                Ok(())
            }
            async fn created(
                &mut self,
                order_id: &str,
                customer_id: &str,
                at: Timestamp,
            ) -> Result<(), HandlerError> {
                sqlx::query(
                    "INSERT INTO order_details (order_id, customer_id, status, created_at) \
                     VALUES ($1, $2, $3, $4)",
                )
                .bind(order_id)
                .bind(customer_id)
                .bind(status_name(OrderStatus::Draft))
                .bind(at)
                .execute(&mut *self)
                .await?;
                Ok(())
            }
            async fn placed(
                &mut self,
                order_id: &str,
                shipping_address: &str,
                total: Cents,
                at: Timestamp,
            ) -> Result<(), HandlerError> {
                let done = sqlx::query(
                    "UPDATE order_details SET status = $2, shipping_address = $3, total = $4, \
                     placed_at = $5 WHERE order_id = $1",
                )
                .bind(order_id)
                .bind(status_name(OrderStatus::Placed))
                .bind(shipping_address)
                .bind(total)
                .bind(at)
                .execute(&mut *self)
                .await?;
                one_row(done.rows_affected(), order_id)
            }
            async fn shipped(
                &mut self,
                order_id: &str,
                tracking_number: &str,
                at: Timestamp,
            ) -> Result<(), HandlerError> {
                let done = sqlx::query(
                    "UPDATE order_details SET status = $2, tracking_number = $3, shipped_at = $4 \
                     WHERE order_id = $1",
                )
                .bind(order_id)
                .bind(status_name(OrderStatus::Shipped))
                .bind(tracking_number)
                .bind(at)
                .execute(&mut *self)
                .await?;
                one_row(done.rows_affected(), order_id)
            }
            async fn delivered(
                &mut self,
                order_id: &str,
                at: Timestamp,
            ) -> Result<(), HandlerError> {
                let done = sqlx::query(
                    "UPDATE order_details SET status = $2, delivered_at = $3 WHERE order_id = $1",
                )
                .bind(order_id)
                .bind(status_name(OrderStatus::Delivered))
                .bind(at)
                .execute(&mut *self)
                .await?;
                one_row(done.rows_affected(), order_id)
            }
            async fn cancelled(
                &mut self,
                order_id: &str,
                reason: &str,
                at: Timestamp,
            ) -> Result<(), HandlerError> {
                let done = sqlx::query(
                    "UPDATE order_details SET status = $2, cancel_reason = $3, cancelled_at = $4 \
                     WHERE order_id = $1",
                )
                .bind(order_id)
                .bind(status_name(OrderStatus::Cancelled))
                .bind(reason)
                .bind(at)
                .execute(&mut *self)
                .await?;
                one_row(done.rows_affected(), order_id)
            }
            async fn details(
                &mut self,
                order_id: &str,
            ) -> Result<Option<OrderDetailsRow>, HandlerError> {
                Ok(
                    sqlx::query_as("SELECT * FROM order_details WHERE order_id = $1")
                        .bind(order_id)
                        .fetch_optional(&mut *self)
                        .await?,
                )
            }
        }

        impl DetailsContext for $conn {
            fn details_store<'a>(
                &'a mut self,
                _own: &'a mut BTreeMap<String, OrderDetailsRow>,
            ) -> impl OrderDetailsStore + 'a {
                self
            }
        }

        impl OrderItemsStore for $conn {
            async fn setup(&mut self) -> Result<(), HandlerError> {
                OrderDetailsStore::setup(self).await
            }
            async fn added(
                &mut self,
                order_id: &str,
                sku: &str,
                quantity: i64,
                unit_price: Cents,
                line_no: i64,
            ) -> Result<(), HandlerError> {
                sqlx::query(
                    "INSERT INTO order_items (order_id, sku, quantity, unit_price, line_no) \
                     VALUES ($1, $2, $3, $4, $5) \
                     ON CONFLICT (order_id, sku) \
                     DO UPDATE SET quantity = order_items.quantity + excluded.quantity",
                )
                .bind(order_id)
                .bind(sku)
                .bind(quantity)
                .bind(unit_price)
                .bind(line_no)
                .execute(&mut *self)
                .await?;
                Ok(())
            }
            async fn removed(&mut self, order_id: &str, sku: &str) -> Result<(), HandlerError> {
                sqlx::query("DELETE FROM order_items WHERE order_id = $1 AND sku = $2")
                    .bind(order_id)
                    .bind(sku)
                    .execute(&mut *self)
                    .await?;
                Ok(())
            }
            async fn items(&mut self, order_id: &str) -> Result<Vec<OrderItemRow>, HandlerError> {
                Ok(sqlx::query_as(
                    "SELECT order_id, sku, quantity, unit_price, line_no FROM order_items \
                     WHERE order_id = $1 ORDER BY line_no",
                )
                .bind(order_id)
                .fetch_all(&mut *self)
                .await?)
            }
        }

        impl ItemsContext for $conn {
            fn items_store<'a>(
                &'a mut self,
                _own: &'a mut Vec<OrderItemRow>,
            ) -> impl OrderItemsStore + 'a {
                self
            }
        }
    };
}

sql_read_models!(PgConnection, POSTGRES_TABLES);
sql_read_models!(SqliteConnection, SQLITE_TABLES);

// ------------------------------------------------------------------ runners

/// Run by the stores' projection runners (`es_postgres::ProjectionRunner`,
/// `es_sqlite::ProjectionRunner`): `setup` creates the read-model tables
/// before the first batch, `reset` empties the projection's table before a
/// rebuild.
macro_rules! runner_hooks {
    ($projection:ty, $trait:path, $conn:ty, $reset:literal) => {
        impl $trait for $projection {
            async fn setup(&mut self, conn: &mut $conn) -> Result<(), HandlerError> {
                OrderDetailsStore::setup(conn).await
            }
            async fn reset(&mut self, conn: &mut $conn) -> Result<(), HandlerError> {
                sqlx::query($reset).execute(conn).await?;
                Ok(())
            }
        }
    };
}

runner_hooks!(
    OrderDetails,
    es_postgres::PgProjection,
    PgConnection,
    "TRUNCATE order_details"
);
runner_hooks!(
    OrderItems,
    es_postgres::PgProjection,
    PgConnection,
    "TRUNCATE order_items"
);
runner_hooks!(
    OrderDetails,
    es_sqlite::SqliteProjection,
    SqliteConnection,
    "DELETE FROM order_details"
);
runner_hooks!(
    OrderItems,
    es_sqlite::SqliteProjection,
    SqliteConnection,
    "DELETE FROM order_items"
);
