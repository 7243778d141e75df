//! The read models in the SQLite file.

// The names the shared SQL macros (`super::sql`) refer to: they resolve
// where the macros expand.
use std::collections::BTreeMap;

use es_core::Timestamp;
use es_core::projection::HandlerError;
use sqlx::SqliteConnection;

use super::details::{DetailsContext, OrderDetails, OrderDetailsRow, OrderDetailsStore};
use super::items::{ItemsContext, OrderItemRow, OrderItems, OrderItemsStore};
use super::sql::{one_row, runner_hooks, sql_read_models};
use super::status_name;
use crate::domain::{Cents, OrderStatus};

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

sql_read_models!(SqliteConnection, SQLITE_TABLES);

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
