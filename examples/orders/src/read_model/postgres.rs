//! The read models in PostgreSQL tables.

// The names the shared SQL macros (`super::sql`) refer to: they resolve
// where the macros expand.
use std::collections::BTreeMap;

use es_core::Timestamp;
use es_core::projection::HandlerError;
use sqlx::PgConnection;

use super::details::{DetailsContext, OrderDetails, OrderDetailsRow, OrderDetailsStore};
use super::items::{ItemsContext, OrderItemRow, OrderItems, OrderItemsStore};
use super::sql::{one_row, runner_hooks, sql_read_models};
use super::status_name;
use crate::domain::{Cents, OrderStatus};

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

sql_read_models!(PgConnection, POSTGRES_TABLES);

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
