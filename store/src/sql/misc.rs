//! Skill groups, the audit log and the policy table.

macro_rules! impl_misc_stores {
    ($S:ty) => {
        #[async_trait::async_trait]
        impl $crate::SkillGroupStore for $S {
            async fn create_skill_group(
                &self,
                tenant: kefu_domain::TenantId,
                name: &str,
                now: i64,
            ) -> $crate::Result<$crate::SkillGroup> {
                let row: $crate::sql::rows::SkillGroupRow = sqlx::query_as(
                    concat!(
                        "insert into skill_groups (tenant_id, name, created_at) values ($1, $2, $3) returning ",
                        $crate::sql::rows::SKILL_GROUP_COLUMNS!()
                    ),
                )
                .bind(tenant.0)
                .bind(name)
                .bind(now)
                .fetch_one(&self.writer)
                .await
                .map_err($crate::StoreError::unique("a skill group with this name"))?;
                Ok(row.into())
            }

            async fn list_skill_groups(
                &self,
                tenant: kefu_domain::TenantId,
            ) -> $crate::Result<Vec<$crate::SkillGroup>> {
                let rows: Vec<$crate::sql::rows::SkillGroupRow> = sqlx::query_as(
                    concat!(
                        "select ",
                        $crate::sql::rows::SKILL_GROUP_COLUMNS!(),
                        " from skill_groups where tenant_id = $1 order by id"
                    ),
                )
                .bind(tenant.0)
                .fetch_all(&self.pool)
                .await?;
                Ok(rows.into_iter().map(Into::into).collect())
            }

            async fn get_skill_group(
                &self,
                tenant: kefu_domain::TenantId,
                id: kefu_domain::SkillGroupId,
            ) -> $crate::Result<Option<$crate::SkillGroup>> {
                let row: Option<$crate::sql::rows::SkillGroupRow> = sqlx::query_as(concat!(
                    "select ",
                    $crate::sql::rows::SKILL_GROUP_COLUMNS!(),
                    " from skill_groups where tenant_id = $1 and id = $2"
                ))
                .bind(tenant.0)
                .bind(id.0)
                .fetch_optional(&self.pool)
                .await?;
                Ok(row.map(Into::into))
            }

            async fn update_skill_group(
                &self,
                tenant: kefu_domain::TenantId,
                id: kefu_domain::SkillGroupId,
                p: &$crate::SkillGroupPatch,
                now: i64,
            ) -> $crate::Result<$crate::SkillGroup> {
                let row: Option<$crate::sql::rows::SkillGroupRow> = sqlx::query_as(concat!(
                    "update skill_groups set name = coalesce($3, name), identifier = coalesce($4, identifier), \
                     phone = coalesce($5, phone), client_name = coalesce($6, client_name), \
                     visible_to_buyers = coalesce($7, visible_to_buyers), agent_cap = coalesce($8, agent_cap), \
                     strategy = coalesce($9, strategy), updated_at = $10 \
                     where tenant_id = $1 and id = $2 returning ",
                    $crate::sql::rows::SKILL_GROUP_COLUMNS!()
                ))
                .bind(tenant.0)
                .bind(id.0)
                .bind(p.name.as_deref())
                .bind(p.identifier.as_deref())
                .bind(p.phone.as_deref())
                .bind(p.client_name.as_deref())
                .bind(p.visible_to_buyers)
                .bind(p.agent_cap)
                .bind(p.strategy.map(|s| s.as_str()))
                .bind(now)
                .fetch_optional(&self.writer)
                .await
                .map_err($crate::StoreError::unique("a skill group with this name"))?;
                row.map(Into::into).ok_or($crate::StoreError::NotFound)
            }

            async fn group_members(
                &self,
                tenant: kefu_domain::TenantId,
                id: kefu_domain::SkillGroupId,
            ) -> $crate::Result<Vec<(kefu_domain::AccountId, Option<i64>)>> {
                let rows: Vec<(i64, Option<i64>)> = sqlx::query_as(
                    "select account_id, cap from skill_group_members where tenant_id = $1 and skill_group_id = $2 \
                     order by account_id",
                )
                .bind(tenant.0)
                .bind(id.0)
                .fetch_all(&self.pool)
                .await?;
                Ok(rows.into_iter().map(|(a, c)| (kefu_domain::AccountId(a), c)).collect())
            }

            async fn delete_skill_group(
                &self,
                tenant: kefu_domain::TenantId,
                id: kefu_domain::SkillGroupId,
            ) -> $crate::Result<()> {
                let mut tx = self.writer.begin().await?;
                // Lock the row first (a write), so nothing joins the group while it is checked.
                let found = sqlx::query("update skill_groups set updated_at = updated_at where tenant_id = $1 and id = $2")
                    .bind(tenant.0)
                    .bind(id.0)
                    .execute(&mut *tx)
                    .await?
                    .rows_affected();
                if found == 0 {
                    return Err($crate::StoreError::NotFound);
                }
                let (members, open, accounts): (i64, i64, i64) = sqlx::query_as(
                    "select \
                       (select count(*) from skill_group_members where tenant_id = $1 and skill_group_id = $2), \
                       (select count(*) from conversations where tenant_id = $1 and skill_group_id = $2 and state <> 'ended'), \
                       (select count(*) from im_service_accounts where tenant_id = $1 and skill_group_id = $2)",
                )
                .bind(tenant.0)
                .bind(id.0)
                .fetch_one(&mut *tx)
                .await?;
                let mut uses = Vec::new();
                if members > 0 {
                    uses.push(format!("{members} members (remove them from the group)"));
                }
                if open > 0 {
                    uses.push(format!("{open} open conversations (let them end or transfer them)"));
                }
                if accounts > 0 {
                    uses.push(format!(
                        "{accounts} customer-service accounts (bind them to another group)"
                    ));
                }
                if !uses.is_empty() {
                    return Err($crate::StoreError::InUse(format!(
                        "the group cannot be deleted while it is used by {}",
                        uses.join(", ")
                    )));
                }
                sqlx::query("delete from skill_groups where tenant_id = $1 and id = $2")
                    .bind(tenant.0)
                    .bind(id.0)
                    .execute(&mut *tx)
                    .await?;
                tx.commit().await?;
                Ok(())
            }
        }

        #[async_trait::async_trait]
        impl $crate::AuditStore for $S {
            async fn record_audit(&self, e: $crate::NewAuditEntry) -> $crate::Result<()> {
                sqlx::query(
                    "insert into audit_log (tenant_id, actor_id, actor, action, target, detail, ip, created_at) \
                     values ($1, $2, $3, $4, $5, $6, $7, $8)",
                )
                .bind(e.tenant_id.map(|t| t.0))
                .bind(e.actor_id.map(|a| a.0))
                .bind(&e.actor)
                .bind(&e.action)
                .bind(&e.target)
                .bind(&e.detail)
                .bind(&e.ip)
                .bind(e.created_at)
                .execute(&self.writer)
                .await?;
                Ok(())
            }

            async fn list_audit(
                &self,
                tenant: Option<kefu_domain::TenantId>,
                before: Option<i64>,
                limit: i64,
            ) -> $crate::Result<Vec<$crate::AuditEntry>> {
                let rows: Vec<$crate::sql::rows::AuditRow> = sqlx::query_as(
                    "select id, tenant_id, actor_id, actor, action, target, detail, ip, created_at \
                     from audit_log where (tenant_id = $1 or (tenant_id is null and $1 = 0)) and id < $2 \
                     order by id desc limit $3",
                )
                .bind(tenant.map(|t| t.0).unwrap_or(0))
                .bind(before.unwrap_or(i64::MAX))
                .bind(limit)
                .fetch_all(&self.pool)
                .await?;
                Ok(rows.into_iter().map(Into::into).collect())
            }
        }

        #[async_trait::async_trait]
        impl $crate::PolicyStore for $S {
            async fn load_policy_rules(&self) -> $crate::Result<Vec<$crate::PolicyRule>> {
                let rows: Vec<$crate::sql::rows::PolicyRow> = sqlx::query_as(
                    "select ptype, v0, v1, v2, v3, v4, v5 from casbin_rule order by id",
                )
                .fetch_all(&self.pool)
                .await?;
                Ok(rows.into_iter().map(Into::into).collect())
            }

            async fn replace_policy_rules(
                &self,
                ptype: &str,
                rules: &[$crate::PolicyRule],
            ) -> $crate::Result<()> {
                let mut tx = self.writer.begin().await?;
                sqlx::query("delete from casbin_rule where ptype = $1")
                    .bind(ptype)
                    .execute(&mut *tx)
                    .await?;
                for rule in rules {
                    let v = |i: usize| rule.values.get(i).cloned().unwrap_or_default();
                    sqlx::query(
                        "insert into casbin_rule (ptype, v0, v1, v2, v3, v4, v5) values ($1, $2, $3, $4, $5, $6, $7)",
                    )
                    .bind(ptype)
                    .bind(v(0))
                    .bind(v(1))
                    .bind(v(2))
                    .bind(v(3))
                    .bind(v(4))
                    .bind(v(5))
                    .execute(&mut *tx)
                    .await?;
                }
                tx.commit().await?;
                Ok(())
            }
        }
    };
}
pub(crate) use impl_misc_stores;
