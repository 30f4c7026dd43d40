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
                    "insert into skill_groups (tenant_id, name, created_at) values ($1, $2, $3) \
                     returning id, tenant_id, name, created_at",
                )
                .bind(tenant.0)
                .bind(name)
                .bind(now)
                .fetch_one(&self.pool)
                .await
                .map_err($crate::StoreError::unique("a skill group with this name"))?;
                Ok(row.into())
            }

            async fn list_skill_groups(
                &self,
                tenant: kefu_domain::TenantId,
            ) -> $crate::Result<Vec<$crate::SkillGroup>> {
                let rows: Vec<$crate::sql::rows::SkillGroupRow> = sqlx::query_as(
                    "select id, tenant_id, name, created_at from skill_groups where tenant_id = $1 order by id",
                )
                .bind(tenant.0)
                .fetch_all(&self.pool)
                .await?;
                Ok(rows.into_iter().map(Into::into).collect())
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
                .execute(&self.pool)
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
                let mut tx = self.pool.begin().await?;
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
