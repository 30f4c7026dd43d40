//! Accounts (seats), operators and skill-group membership.

macro_rules! impl_account_store {
    ($S:ty, $DB:ty) => {
        impl $S {
            /// Inserts an account, its skill-group memberships and its role assignment.
            async fn insert_account(
                tx: &mut sqlx::Transaction<'_, $DB>,
                tenant: Option<i64>,
                account: &$crate::NewAccount,
                is_owner: bool,
                now: i64,
            ) -> $crate::Result<i64> {
                let id: i64 = sqlx::query_scalar(
                    "insert into accounts (tenant_id, username, display_name, real_name, phone, email, role, \
                     password_hash, must_change_password, is_owner, disabled, created_at, updated_at) \
                     values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, false, $11, $11) returning id",
                )
                .bind(tenant)
                .bind(&account.username)
                .bind(&account.display_name)
                .bind(&account.real_name)
                .bind(&account.phone)
                .bind(&account.email)
                .bind(account.role.as_str())
                .bind(&account.password_hash)
                .bind(account.must_change_password)
                .bind(is_owner)
                .bind(now)
                .fetch_one(&mut **tx)
                .await
                .map_err($crate::StoreError::unique("an account with this username"))?;
                if let Some(tenant) = tenant {
                    Self::set_memberships(tx, tenant, id, &account.skill_group_ids).await?;
                }
                sqlx::query("insert into casbin_rule (ptype, v0, v1, v2) values ('g', $1, $2, $3)")
                    .bind(kefu_domain::authz::subject(kefu_domain::AccountId(id)))
                    .bind(account.role.as_str())
                    .bind(kefu_domain::authz::domain(tenant.map(kefu_domain::TenantId)))
                    .execute(&mut **tx)
                    .await?;
                Ok(id)
            }

            /// Replaces an account's skill groups, checking that each belongs to the tenant.
            async fn set_memberships(
                tx: &mut sqlx::Transaction<'_, $DB>,
                tenant: i64,
                account: i64,
                groups: &[kefu_domain::SkillGroupId],
            ) -> $crate::Result<()> {
                sqlx::query("delete from skill_group_members where tenant_id = $1 and account_id = $2")
                    .bind(tenant)
                    .bind(account)
                    .execute(&mut **tx)
                    .await?;
                for group in groups {
                    let exists: i64 = sqlx::query_scalar(
                        "select count(*) from skill_groups where tenant_id = $1 and id = $2",
                    )
                    .bind(tenant)
                    .bind(group.0)
                    .fetch_one(&mut **tx)
                    .await?;
                    if exists == 0 {
                        return Err($crate::StoreError::UnknownSkillGroup(*group));
                    }
                    sqlx::query(
                        "insert into skill_group_members (tenant_id, skill_group_id, account_id) \
                         values ($1, $2, $3) on conflict do nothing",
                    )
                    .bind(tenant)
                    .bind(group.0)
                    .bind(account)
                    .execute(&mut **tx)
                    .await?;
                }
                Ok(())
            }

            async fn groups_of(&self, account: i64) -> $crate::Result<Vec<kefu_domain::SkillGroupId>> {
                let ids: Vec<i64> = sqlx::query_scalar(
                    "select skill_group_id from skill_group_members where account_id = $1 order by skill_group_id",
                )
                .bind(account)
                .fetch_all(&self.pool)
                .await?;
                Ok(ids.into_iter().map(kefu_domain::SkillGroupId).collect())
            }

            async fn with_groups(
                &self,
                row: Option<$crate::sql::rows::AccountRow>,
            ) -> $crate::Result<Option<$crate::Account>> {
                match row {
                    Some(row) => {
                        let groups = self.groups_of(row.id).await?;
                        Ok(Some(row.into_account(groups)))
                    }
                    None => Ok(None),
                }
            }
        }

        #[async_trait::async_trait]
        impl $crate::AccountStore for $S {
            async fn create_account(
                &self,
                tenant: kefu_domain::TenantId,
                account: $crate::NewAccount,
                now: i64,
            ) -> $crate::Result<$crate::Account> {
                let mut tx = self.writer.begin().await?;
                // Writing the tenant row first takes its lock (a row lock on PostgreSQL, the
                // write lock on SQLite), so concurrent creates count seats one at a time.
                let max: Option<i64> = sqlx::query_scalar(
                    "update tenants set updated_at = updated_at where id = $1 returning max_accounts",
                )
                .bind(tenant.0)
                .fetch_optional(&mut *tx)
                .await?;
                let max = max.ok_or($crate::StoreError::NotFound)?;
                let used: i64 = sqlx::query_scalar(
                    "select count(*) from accounts where tenant_id = $1 and not is_owner",
                )
                .bind(tenant.0)
                .fetch_one(&mut *tx)
                .await?;
                if used >= max {
                    return Err($crate::StoreError::SeatLimitReached { max });
                }
                let id = Self::insert_account(&mut tx, Some(tenant.0), &account, false, now).await?;
                tx.commit().await?;
                self.get_account(tenant, kefu_domain::AccountId(id))
                    .await?
                    .ok_or($crate::StoreError::NotFound)
            }

            async fn create_operator(
                &self,
                account: $crate::NewAccount,
                now: i64,
            ) -> $crate::Result<$crate::Account> {
                let mut tx = self.writer.begin().await?;
                let id = Self::insert_account(&mut tx, None, &account, false, now).await?;
                tx.commit().await?;
                self.get_operator(kefu_domain::AccountId(id))
                    .await?
                    .ok_or($crate::StoreError::NotFound)
            }

            async fn count_operators(&self) -> $crate::Result<i64> {
                Ok(sqlx::query_scalar("select count(*) from accounts where tenant_id is null")
                    .fetch_one(&self.pool)
                    .await?)
            }

            async fn get_account(
                &self,
                tenant: kefu_domain::TenantId,
                id: kefu_domain::AccountId,
            ) -> $crate::Result<Option<$crate::Account>> {
                let row = sqlx::query_as(concat!(
                    "select ",
                    $crate::sql::rows::account_columns!(),
                    " from accounts where tenant_id = $1 and id = $2"
                ))
                .bind(tenant.0)
                .bind(id.0)
                .fetch_optional(&self.pool)
                .await?;
                self.with_groups(row).await
            }

            async fn get_operator(
                &self,
                id: kefu_domain::AccountId,
            ) -> $crate::Result<Option<$crate::Account>> {
                let row = sqlx::query_as(concat!(
                    "select ",
                    $crate::sql::rows::account_columns!(),
                    " from accounts where tenant_id is null and id = $1"
                ))
                .bind(id.0)
                .fetch_optional(&self.pool)
                .await?;
                self.with_groups(row).await
            }

            async fn find_login(
                &self,
                tenant: Option<kefu_domain::TenantId>,
                username: &str,
            ) -> $crate::Result<Option<$crate::Account>> {
                let row = match tenant {
                    Some(t) => {
                        sqlx::query_as(concat!(
                            "select ",
                            $crate::sql::rows::account_columns!(),
                            " from accounts where tenant_id = $1 and username = $2"
                        ))
                        .bind(t.0)
                        .bind(username)
                        .fetch_optional(&self.pool)
                        .await?
                    }
                    None => {
                        sqlx::query_as(concat!(
                            "select ",
                            $crate::sql::rows::account_columns!(),
                            " from accounts where tenant_id is null and username = $1"
                        ))
                        .bind(username)
                        .fetch_optional(&self.pool)
                        .await?
                    }
                };
                self.with_groups(row).await
            }

            async fn list_accounts(
                &self,
                tenant: kefu_domain::TenantId,
                filter: &$crate::AccountFilter,
            ) -> $crate::Result<Vec<$crate::Account>> {
                // Filters are bound as nullable parameters so the statement text never changes.
                let pattern = filter.text.as_ref().map(|t| format!("%{}%", t.to_lowercase()));
                let rows: Vec<$crate::sql::rows::AccountRow> = sqlx::query_as(concat!(
                    "select ",
                    $crate::sql::rows::account_columns!(),
                    " from accounts a where tenant_id = $1 \
                     and ($2 = '' or lower(username) like $2 or lower(display_name) like $2 \
                          or lower(real_name) like $2 or phone like $2) \
                     and ($3 = '' or role = $3) \
                     and ($4 = 0 or exists (select 1 from skill_group_members m \
                          where m.account_id = a.id and m.skill_group_id = $4)) \
                     and ($5 = -1 or (case when disabled then 1 else 0 end) = $5) \
                     order by id"
                ))
                .bind(tenant.0)
                .bind(pattern.unwrap_or_default())
                .bind(filter.role.map(|r| r.as_str()).unwrap_or(""))
                .bind(filter.skill_group.map(|g| g.0).unwrap_or(0))
                .bind(filter.disabled.map(i64::from).unwrap_or(-1))
                .fetch_all(&self.pool)
                .await?;
                let members: Vec<(i64, i64)> = sqlx::query_as(
                    "select account_id, skill_group_id from skill_group_members where tenant_id = $1 \
                     order by skill_group_id",
                )
                .bind(tenant.0)
                .fetch_all(&self.pool)
                .await?;
                Ok(rows
                    .into_iter()
                    .map(|row| {
                        let groups = members
                            .iter()
                            .filter(|(a, _)| *a == row.id)
                            .map(|(_, g)| kefu_domain::SkillGroupId(*g))
                            .collect();
                        row.into_account(groups)
                    })
                    .collect())
            }

            async fn update_account(
                &self,
                tenant: kefu_domain::TenantId,
                id: kefu_domain::AccountId,
                patch: $crate::AccountPatch,
                now: i64,
            ) -> $crate::Result<$crate::Account> {
                let mut tx = self.writer.begin().await?;
                let updated = sqlx::query(
                    "update accounts set display_name = coalesce($3, display_name), \
                     real_name = coalesce($4, real_name), phone = coalesce($5, phone), \
                     email = coalesce($6, email), role = coalesce($7, role), \
                     disabled = coalesce($8, disabled), updated_at = $9 \
                     where tenant_id = $1 and id = $2",
                )
                .bind(tenant.0)
                .bind(id.0)
                .bind(patch.display_name)
                .bind(patch.real_name)
                .bind(patch.phone)
                .bind(patch.email)
                .bind(patch.role.map(|r| r.as_str()))
                .bind(patch.disabled)
                .bind(now)
                .execute(&mut *tx)
                .await?
                .rows_affected();
                if updated == 0 {
                    return Err($crate::StoreError::NotFound);
                }
                if let Some(role) = patch.role {
                    sqlx::query("update casbin_rule set v1 = $2 where ptype = 'g' and v0 = $1")
                        .bind(kefu_domain::authz::subject(id))
                        .bind(role.as_str())
                        .execute(&mut *tx)
                        .await?;
                }
                if let Some(groups) = &patch.skill_group_ids {
                    Self::set_memberships(&mut tx, tenant.0, id.0, groups).await?;
                }
                if patch.disabled == Some(true) {
                    sqlx::query(
                        "update login_sessions set revoked_at = $2, revoked_reason = 'disabled' \
                         where account_id = $1 and revoked_at is null",
                    )
                    .bind(id.0)
                    .bind(now)
                    .execute(&mut *tx)
                    .await?;
                }
                tx.commit().await?;
                self.get_account(tenant, id).await?.ok_or($crate::StoreError::NotFound)
            }

            async fn set_password(
                &self,
                tenant: Option<kefu_domain::TenantId>,
                id: kefu_domain::AccountId,
                hash: &str,
                must_change: bool,
                now: i64,
            ) -> $crate::Result<()> {
                let updated = sqlx::query(
                    "update accounts set password_hash = $3, must_change_password = $4, updated_at = $5 \
                     where id = $2 and (tenant_id = $1 or (tenant_id is null and $1 = 0))",
                )
                .bind(tenant.map(|t| t.0).unwrap_or(0))
                .bind(id.0)
                .bind(hash)
                .bind(must_change)
                .bind(now)
                .execute(&self.writer)
                .await?
                .rows_affected();
                if updated == 0 {
                    return Err($crate::StoreError::NotFound);
                }
                Ok(())
            }

            async fn delete_account(
                &self,
                tenant: kefu_domain::TenantId,
                id: kefu_domain::AccountId,
            ) -> $crate::Result<()> {
                let mut tx = self.writer.begin().await?;
                let deleted = sqlx::query("delete from accounts where tenant_id = $1 and id = $2")
                    .bind(tenant.0)
                    .bind(id.0)
                    .execute(&mut *tx)
                    .await?
                    .rows_affected();
                if deleted == 0 {
                    return Err($crate::StoreError::NotFound);
                }
                sqlx::query("delete from casbin_rule where ptype = 'g' and v0 = $1")
                    .bind(kefu_domain::authz::subject(id))
                    .execute(&mut *tx)
                    .await?;
                tx.commit().await?;
                Ok(())
            }
        }
    };
}
pub(crate) use impl_account_store;
