//! IM apps and IM accounts.

macro_rules! impl_im_store {
    ($S:ty) => {
        impl $S {
            async fn load_im_app(&self, row: Option<(i64, i64, String, i64, String, String)>) -> $crate::Result<Option<$crate::ImApp>> {
                let Some((tenant_id, sdk_app_id, secret_key, updated_at, callback_url, callback_token)) = row else {
                    return Ok(None);
                };
                let admin_identifiers: Vec<String> = sqlx::query_scalar(
                    "select identifier from im_app_admins where tenant_id = $1 order by identifier",
                )
                .bind(tenant_id)
                .fetch_all(&self.pool)
                .await?;
                let accounts: Vec<(String, Option<i64>)> = sqlx::query_as(
                    "select identifier, skill_group_id from im_service_accounts where tenant_id = $1 order by identifier",
                )
                .bind(tenant_id)
                .fetch_all(&self.pool)
                .await?;
                Ok(Some($crate::ImApp {
                    tenant_id: kefu_domain::TenantId(tenant_id),
                    sdk_app_id,
                    secret_key,
                    admin_identifiers,
                    service_accounts: accounts
                        .into_iter()
                        .map(|(identifier, group)| $crate::ServiceAccount {
                            identifier,
                            skill_group_id: group.map(kefu_domain::SkillGroupId),
                        })
                        .collect(),
                    callback_url,
                    callback_token,
                    updated_at,
                }))
            }
        }

        #[async_trait::async_trait]
        impl $crate::ImStore for $S {
            async fn get_im_app(&self, tenant: kefu_domain::TenantId) -> $crate::Result<Option<$crate::ImApp>> {
                let row = sqlx::query_as(
                    "select tenant_id, sdk_app_id, secret_key, updated_at, callback_url, callback_token from im_apps where tenant_id = $1",
                )
                .bind(tenant.0)
                .fetch_optional(&self.pool)
                .await?;
                self.load_im_app(row).await
            }

            async fn find_im_app(&self, sdk_app_id: i64) -> $crate::Result<Option<$crate::ImApp>> {
                let row = sqlx::query_as(
                    "select tenant_id, sdk_app_id, secret_key, updated_at, callback_url, callback_token from im_apps where sdk_app_id = $1",
                )
                .bind(sdk_app_id)
                .fetch_optional(&self.pool)
                .await?;
                self.load_im_app(row).await
            }

            async fn rotate_im_secret(&self, tenant: kefu_domain::TenantId, secret: &str, now: i64) -> $crate::Result<()> {
                let n = sqlx::query("update im_apps set secret_key = $2, updated_at = $3 where tenant_id = $1")
                    .bind(tenant.0)
                    .bind(secret)
                    .bind(now)
                    .execute(&self.writer)
                    .await?
                    .rows_affected();
                if n == 0 {
                    return Err($crate::StoreError::NotFound);
                }
                Ok(())
            }

            async fn update_im_app(
                &self,
                tenant: kefu_domain::TenantId,
                admins: Option<Vec<String>>,
                service_accounts: Option<Vec<$crate::ServiceAccount>>,
                now: i64,
            ) -> $crate::Result<$crate::ImApp> {
                let mut tx = self.writer.begin().await?;
                let n = sqlx::query("update im_apps set updated_at = $2 where tenant_id = $1")
                    .bind(tenant.0)
                    .bind(now)
                    .execute(&mut *tx)
                    .await?
                    .rows_affected();
                if n == 0 {
                    return Err($crate::StoreError::NotFound);
                }
                if let Some(admins) = admins {
                    sqlx::query("delete from im_app_admins where tenant_id = $1")
                        .bind(tenant.0)
                        .execute(&mut *tx)
                        .await?;
                    for identifier in admins {
                        sqlx::query("insert into im_app_admins (tenant_id, identifier) values ($1, $2) on conflict do nothing")
                            .bind(tenant.0)
                            .bind(identifier)
                            .execute(&mut *tx)
                            .await?;
                    }
                }
                if let Some(accounts) = service_accounts {
                    sqlx::query("delete from im_service_accounts where tenant_id = $1")
                        .bind(tenant.0)
                        .execute(&mut *tx)
                        .await?;
                    for account in accounts {
                        if let Some(group) = account.skill_group_id {
                            let exists: i64 = sqlx::query_scalar(
                                "select count(*) from skill_groups where tenant_id = $1 and id = $2",
                            )
                            .bind(tenant.0)
                            .bind(group.0)
                            .fetch_one(&mut *tx)
                            .await?;
                            if exists == 0 {
                                return Err($crate::StoreError::UnknownSkillGroup(group));
                            }
                        }
                        sqlx::query(
                            "insert into im_service_accounts (tenant_id, identifier, skill_group_id) values ($1, $2, $3) \
                             on conflict (tenant_id, identifier) do update set skill_group_id = excluded.skill_group_id",
                        )
                        .bind(tenant.0)
                        .bind(account.identifier)
                        .bind(account.skill_group_id.map(|g| g.0))
                        .execute(&mut *tx)
                        .await?;
                    }
                }
                tx.commit().await?;
                self.get_im_app(tenant).await?.ok_or($crate::StoreError::NotFound)
            }

            async fn set_im_callback(
                &self,
                tenant: kefu_domain::TenantId,
                url: &str,
                token: &str,
                now: i64,
            ) -> $crate::Result<()> {
                let n = sqlx::query(
                    "update im_apps set callback_url = $2, callback_token = $3, updated_at = $4 where tenant_id = $1",
                )
                .bind(tenant.0)
                .bind(url)
                .bind(token)
                .bind(now)
                .execute(&self.writer)
                .await?
                .rows_affected();
                if n == 0 {
                    return Err($crate::StoreError::NotFound);
                }
                Ok(())
            }

            async fn import_im_account(&self, tenant: kefu_domain::TenantId, a: &$crate::ImAccount) -> $crate::Result<()> {
                sqlx::query(
                    "insert into im_accounts (tenant_id, user_id, nick, face_url, kind, created_at) \
                     values ($1, $2, $3, $4, $5, $6) on conflict (tenant_id, user_id) do update set \
                     nick = excluded.nick, face_url = excluded.face_url, kind = excluded.kind",
                )
                .bind(tenant.0)
                .bind(&a.user_id)
                .bind(&a.nick)
                .bind(&a.face_url)
                .bind(a.kind)
                .bind(a.created_at)
                .execute(&self.writer)
                .await?;
                Ok(())
            }

            async fn get_im_account(
                &self,
                tenant: kefu_domain::TenantId,
                user_id: &str,
            ) -> $crate::Result<Option<$crate::ImAccount>> {
                let row: Option<(String, String, String, i64, i64, Option<i64>)> = sqlx::query_as(
                    "select user_id, nick, face_url, kind, created_at, kicked_at from im_accounts \
                     where tenant_id = $1 and user_id = $2",
                )
                .bind(tenant.0)
                .bind(user_id)
                .fetch_optional(&self.pool)
                .await?;
                Ok(row.map(|(user_id, nick, face_url, kind, created_at, kicked_at)| $crate::ImAccount {
                    user_id,
                    nick,
                    face_url,
                    kind,
                    created_at,
                    kicked_at,
                }))
            }

            async fn record_im_login(
                &self,
                tenant: kefu_domain::TenantId,
                user_id: &str,
                device: &str,
                now: i64,
            ) -> $crate::Result<()> {
                let mut end = device.len().min(512);
                while !device.is_char_boundary(end) {
                    end -= 1;
                }
                sqlx::query(
                    "update im_accounts set device = $3, last_login_at = $4 \
                     where tenant_id = $1 and user_id = $2",
                )
                .bind(tenant.0)
                .bind(user_id)
                .bind(&device[..end])
                .bind(now)
                .execute(&self.writer)
                .await?;
                Ok(())
            }

            async fn last_im_login(
                &self,
                tenant: kefu_domain::TenantId,
                user_id: &str,
            ) -> $crate::Result<Option<(String, i64)>> {
                let row: Option<(String, Option<i64>)> = sqlx::query_as(
                    "select device, last_login_at from im_accounts where tenant_id = $1 and user_id = $2",
                )
                .bind(tenant.0)
                .bind(user_id)
                .fetch_optional(&self.pool)
                .await?;
                Ok(row.and_then(|(device, at)| at.map(|at| (device, at))))
            }

            async fn delete_im_account(&self, tenant: kefu_domain::TenantId, user_id: &str) -> $crate::Result<bool> {
                let n = sqlx::query("delete from im_accounts where tenant_id = $1 and user_id = $2")
                    .bind(tenant.0)
                    .bind(user_id)
                    .execute(&self.writer)
                    .await?
                    .rows_affected();
                Ok(n > 0)
            }

            async fn kick_im_account(&self, tenant: kefu_domain::TenantId, user_id: &str, now: i64) -> $crate::Result<bool> {
                let n = sqlx::query("update im_accounts set kicked_at = $3 where tenant_id = $1 and user_id = $2")
                    .bind(tenant.0)
                    .bind(user_id)
                    .bind(now)
                    .execute(&self.writer)
                    .await?
                    .rows_affected();
                Ok(n > 0)
            }
        }
    };
}
pub(crate) use impl_im_store;
