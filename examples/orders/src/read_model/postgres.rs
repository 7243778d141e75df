//! The `order_items` read model in a PostgreSQL table.

// The names the shared SQL macros (`super::sql`) refer to: they resolve
// where the macros expand.
use es_core::projection::HandlerError;
use sqlx::PgConnection;

use super::items::{ItemsContext, OrderItemRow, OrderItems, OrderItemsStore};
use super::sql::{runner_hooks, sql_read_models};
use crate::domain::Cents;

/// `order_items` in PostgreSQL.
const POSTGRES_TABLES: &[&str] = &["CREATE TABLE IF NOT EXISTS order_items (
        order_id TEXT NOT NULL,
        sku TEXT NOT NULL,
        quantity BIGINT NOT NULL,
        unit_price BIGINT NOT NULL,
        line_no BIGINT NOT NULL,
        PRIMARY KEY (order_id, sku))"];

sql_read_models!(PgConnection, POSTGRES_TABLES);

runner_hooks!(
    OrderItems,
    es_postgres::PgProjection,
    PgConnection,
    "TRUNCATE order_items"
);
