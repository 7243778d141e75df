//! The SQL read model (`order_items`), shared by PostgreSQL and SQLite: the statements
//! (the same on both databases) and the projection runners' hooks, as
//! macros the backends instantiate for their connection type.

/// The SQL implementations; the statements are the same on both databases
/// (`$n` parameters), only the table definitions differ.
macro_rules! sql_read_models {
    ($conn:ty, $tables:expr) => {
        impl OrderItemsStore for $conn {
            async fn setup(&mut self) -> Result<(), HandlerError> {
                for ddl in $tables {
                    sqlx::query(ddl).execute(&mut *self).await?;
                }
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
                OrderItemsStore::setup(conn).await
            }
            async fn reset(&mut self, conn: &mut $conn) -> Result<(), HandlerError> {
                sqlx::query($reset).execute(conn).await?;
                Ok(())
            }
        }
    };
}

pub(super) use runner_hooks;
