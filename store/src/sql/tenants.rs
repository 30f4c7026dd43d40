//! Tenants and plans.

macro_rules! impl_tenant_store {
    ($S:ty) => {
        #[async_trait::async_trait]
        impl $crate::TenantStore for $S {
            async fn create_tenant(
                &self,
                tenant: $crate::NewTenant,
                owner: $crate::NewAccount,
                now: i64,
            ) -> $crate::Result<($crate::Tenant, $crate::Account)> {
                let mut tx = self.writer.begin().await?;
                let tenant_id: i64 = sqlx::query_scalar(
                    "insert into tenants (code, name, max_accounts, max_online, disabled, created_at, updated_at) \
                     values ($1, $2, $3, $4, false, $5, $5) returning id",
                )
                .bind(&tenant.code)
                .bind(&tenant.name)
                .bind(tenant.max_accounts)
                .bind(tenant.max_online)
                .bind(now)
                .fetch_one(&mut *tx)
                .await
                .map_err($crate::StoreError::unique("a tenant with this code"))?;
                let account_id =
                    Self::insert_account(&mut tx, Some(tenant_id), &owner, true, now).await?;
                sqlx::query(
                    "insert into im_apps (tenant_id, sdk_app_id, secret_key, created_at, updated_at) \
                     values ($1, $2, $3, $4, $4)",
                )
                .bind(tenant_id)
                .bind($crate::SDK_APP_ID_BASE + tenant_id)
                .bind(&tenant.im_secret)
                .bind(now)
                .execute(&mut *tx)
                .await?;
                sqlx::query("insert into im_app_admins (tenant_id, identifier) values ($1, 'administrator')")
                    .bind(tenant_id)
                    .execute(&mut *tx)
                    .await?;
                sqlx::query(
                    "insert into im_service_accounts (tenant_id, identifier) values ($1, '@customer_service_account')",
                )
                .bind(tenant_id)
                .execute(&mut *tx)
                .await?;
                tx.commit().await?;
                let tenant = self
                    .get_tenant(kefu_domain::TenantId(tenant_id))
                    .await?
                    .ok_or($crate::StoreError::NotFound)?;
                let owner = $crate::AccountStore::get_account(
                    self,
                    tenant.id,
                    kefu_domain::AccountId(account_id),
                )
                .await?
                .ok_or($crate::StoreError::NotFound)?;
                Ok((tenant, owner))
            }

            async fn list_tenants(&self) -> $crate::Result<Vec<$crate::Tenant>> {
                let rows: Vec<$crate::sql::rows::TenantRow> = sqlx::query_as(concat!(
                    "select ",
                    $crate::sql::rows::tenant_columns!(),
                    " from tenants order by id"
                ))
                .fetch_all(&self.pool)
                .await?;
                Ok(rows.into_iter().map(Into::into).collect())
            }

            async fn get_tenant(
                &self,
                id: kefu_domain::TenantId,
            ) -> $crate::Result<Option<$crate::Tenant>> {
                let row: Option<$crate::sql::rows::TenantRow> = sqlx::query_as(concat!(
                    "select ",
                    $crate::sql::rows::tenant_columns!(),
                    " from tenants where id = $1"
                ))
                .bind(id.0)
                .fetch_optional(&self.pool)
                .await?;
                Ok(row.map(Into::into))
            }

            async fn find_tenant_by_code(&self, code: &str) -> $crate::Result<Option<$crate::Tenant>> {
                let row: Option<$crate::sql::rows::TenantRow> = sqlx::query_as(concat!(
                    "select ",
                    $crate::sql::rows::tenant_columns!(),
                    " from tenants where code = $1"
                ))
                .bind(code)
                .fetch_optional(&self.pool)
                .await?;
                Ok(row.map(Into::into))
            }

            async fn update_tenant(
                &self,
                id: kefu_domain::TenantId,
                patch: $crate::TenantPatch,
                now: i64,
            ) -> $crate::Result<$crate::Tenant> {
                let mut tx = self.writer.begin().await?;
                let updated = sqlx::query(
                    "update tenants set name = coalesce($2, name), \
                     max_accounts = coalesce($3, max_accounts), max_online = coalesce($4, max_online), \
                     disabled = coalesce($5, disabled), updated_at = $6 where id = $1",
                )
                .bind(id.0)
                .bind(patch.name)
                .bind(patch.max_accounts)
                .bind(patch.max_online)
                .bind(patch.disabled)
                .bind(now)
                .execute(&mut *tx)
                .await?
                .rows_affected();
                if updated == 0 {
                    return Err($crate::StoreError::NotFound);
                }
                if patch.disabled == Some(true) {
                    // A disabled tenant's people are logged out at once.
                    sqlx::query(
                        "update login_sessions set revoked_at = $2, revoked_reason = 'tenant_disabled' \
                         where tenant_id = $1 and revoked_at is null",
                    )
                    .bind(id.0)
                    .bind(now)
                    .execute(&mut *tx)
                    .await?;
                }
                tx.commit().await?;
                self.get_tenant(id).await?.ok_or($crate::StoreError::NotFound)
            }

            async fn seat_usage(&self, tenant: kefu_domain::TenantId) -> $crate::Result<$crate::SeatUsage> {
                let plan: Option<(i64, i64)> =
                    sqlx::query_as("select max_accounts, max_online from tenants where id = $1")
                        .bind(tenant.0)
                        .fetch_optional(&self.pool)
                        .await?;
                let (max_accounts, max_online) = plan.ok_or($crate::StoreError::NotFound)?;
                let accounts: i64 = sqlx::query_scalar(
                    "select count(*) from accounts where tenant_id = $1 and not is_owner",
                )
                .bind(tenant.0)
                .fetch_one(&self.pool)
                .await?;
                Ok($crate::SeatUsage { accounts, max_accounts, max_online })
            }
        }
    };
}
pub(crate) use impl_tenant_store;
