//! The SQL read models, shared by PostgreSQL and SQLite: the statements
//! (the same on both databases) and the projection runners' hooks, as
//! macros the backends instantiate for their connection type.

use es_core::projection::HandlerError;

use super::details::missing;

/// Fails when an UPDATE touched no row.
pub(super) fn one_row(affected: u64, order_id: &str) -> Result<(), HandlerError> {
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

pub(super) use sql_read_models;

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

pub(super) use runner_hooks;
