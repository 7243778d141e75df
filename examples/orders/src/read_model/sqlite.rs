//! The `order_items` read model in the SQLite file.

// The names the shared SQL macros (`super::sql`) refer to: they resolve
// where the macros expand.
use es_core::projection::HandlerError;
use sqlx::SqliteConnection;

use super::items::{ItemsContext, OrderItemRow, OrderItems, OrderItemsStore};
use super::sql::{runner_hooks, sql_read_models};
use crate::domain::Cents;

/// The same table in SQLite (times as RFC 3339 text).
const SQLITE_TABLES: &[&str] = &["CREATE TABLE IF NOT EXISTS order_items (
        order_id TEXT NOT NULL,
        sku TEXT NOT NULL,
        quantity INTEGER NOT NULL,
        unit_price INTEGER NOT NULL,
        line_no INTEGER NOT NULL,
        PRIMARY KEY (order_id, sku))"];

sql_read_models!(SqliteConnection, SQLITE_TABLES);

runner_hooks!(
    OrderItems,
    es_sqlite::SqliteProjection,
    SqliteConnection,
    "DELETE FROM order_items"
);
