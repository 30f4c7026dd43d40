//! The callback outbox.

macro_rules! impl_callback_store {
    ($S:ty, $DB:ty) => {
        impl $S {
            pub(crate) async fn insert_callback(
                tx: &mut sqlx::Transaction<'_, $DB>,
                tenant: i64,
                callback: &$crate::NewCallback,
                now: i64,
            ) -> $crate::Result<()> {
                sqlx::query(
                    "insert into callback_outbox (tenant_id, command, body, status, attempts, next_attempt_at, \
                     last_error, created_at, updated_at) values ($1, $2, $3, 'pending', 0, $4, '', $4, $4)",
                )
                .bind(tenant)
                .bind(&callback.command)
                .bind(&callback.body)
                .bind(now)
                .execute(&mut **tx)
                .await?;
                Ok(())
            }
        }

        #[async_trait::async_trait]
        impl $crate::CallbackStore for $S {
            async fn queue_callback(
                &self,
                tenant: kefu_domain::TenantId,
                callback: $crate::NewCallback,
                now: i64,
            ) -> $crate::Result<()> {
                let mut tx = self.writer.begin().await?;
                Self::insert_callback(&mut tx, tenant.0, &callback, now).await?;
                tx.commit().await?;
                Ok(())
            }

            async fn due_callbacks(&self, now: i64, limit: i64) -> $crate::Result<Vec<$crate::OutboxEntry>> {
                let rows: Vec<$crate::sql::rows::OutboxRow> = sqlx::query_as(concat!(
                    "select ",
                    $crate::sql::rows::outbox_columns!(),
                    " from callback_outbox where status = 'pending' and next_attempt_at <= $1 order by next_attempt_at, id limit $2"
                ))
                .bind(now)
                .bind(limit)
                .fetch_all(&self.pool)
                .await?;
                Ok(rows.into_iter().map(Into::into).collect())
            }

            async fn claim_callback(&self, id: i64, seen: i64, lease_until: i64) -> $crate::Result<bool> {
                let n = sqlx::query(
                    "update callback_outbox set next_attempt_at = $3 \
                     where id = $1 and status = 'pending' and next_attempt_at = $2",
                )
                .bind(id)
                .bind(seen)
                .bind(lease_until)
                .execute(&self.writer)
                .await?
                .rows_affected();
                Ok(n == 1)
            }

            async fn finish_callback(&self, id: i64, outcome: $crate::CallbackOutcome, now: i64) -> $crate::Result<()> {
                let (status, next, error) = match outcome {
                    $crate::CallbackOutcome::Delivered => ("done", now, String::new()),
                    $crate::CallbackOutcome::Retry { at, error } => ("pending", at, error),
                    $crate::CallbackOutcome::Failed { error } => ("failed", now, error),
                };
                sqlx::query(
                    "update callback_outbox set status = $2, attempts = attempts + 1, next_attempt_at = $3, \
                     last_error = $4, updated_at = $5 where id = $1",
                )
                .bind(id)
                .bind(status)
                .bind(next)
                .bind(error)
                .bind(now)
                .execute(&self.writer)
                .await?;
                Ok(())
            }

            async fn list_callbacks(
                &self,
                tenant: kefu_domain::TenantId,
                status: Option<&str>,
                limit: i64,
            ) -> $crate::Result<Vec<$crate::OutboxEntry>> {
                let rows: Vec<$crate::sql::rows::OutboxRow> = sqlx::query_as(concat!(
                    "select ",
                    $crate::sql::rows::outbox_columns!(),
                    " from callback_outbox where tenant_id = $1 and ($2 = '' or status = $2) order by id desc limit $3"
                ))
                .bind(tenant.0)
                .bind(status.unwrap_or(""))
                .bind(limit)
                .fetch_all(&self.pool)
                .await?;
                Ok(rows.into_iter().map(Into::into).collect())
            }
        }
    };
}
pub(crate) use impl_callback_store;
