//! What answers a buyer before a human: the time plan, sensitive words, the FAQ and
//! knowledge-base trees, service flows with their published versions, and each
//! conversation's place in its flow. Also each tenant's order provider.

macro_rules! impl_bot_store {
    ($S:ty, $DB:ty, $BEGIN:expr) => {
        impl $S {
            async fn knowledge_in(
                tx: &mut sqlx::Transaction<'_, $DB>,
                tenant: i64,
                kind: $crate::KnowledgeKind,
                id: Option<i64>,
            ) -> $crate::Result<Vec<$crate::KnowledgeEntry>> {
                let rows: Vec<$crate::sql::rows::KnowledgeRow> = sqlx::query_as(
                    "select id, kind, parent_id, title, answer_kind, answer, keywords, enabled, is_new, \
                     valid_from, valid_to, uses, position, created_at, updated_at from knowledge \
                     where tenant_id = $1 and kind = $2 and ($3 is null or id = $3) \
                     order by parent_id is not null, parent_id, position, id",
                )
                .bind(tenant)
                .bind(kind.as_str())
                .bind(id)
                .fetch_all(&mut **tx)
                .await?;
                let groups: Vec<(i64, i64)> = sqlx::query_as(
                    "select g.knowledge_id, g.skill_group_id from knowledge_groups g \
                     join knowledge k on k.id = g.knowledge_id \
                     where g.tenant_id = $1 and k.kind = $2 and ($3 is null or k.id = $3) \
                     order by g.skill_group_id",
                )
                .bind(tenant)
                .bind(kind.as_str())
                .bind(id)
                .fetch_all(&mut **tx)
                .await?;
                Ok(rows
                    .into_iter()
                    .map(|r| {
                        let mut e: $crate::KnowledgeEntry = r.into();
                        e.skill_group_ids = groups
                            .iter()
                            .filter(|(k, _)| *k == e.id)
                            .map(|(_, g)| kefu_domain::SkillGroupId(*g))
                            .collect();
                        e
                    })
                    .collect())
            }

            /// Checks the parent (same tenant and tree, not the entry itself or below it)
            /// and the groups, then writes the entry's groups.
            async fn place_knowledge(
                tx: &mut sqlx::Transaction<'_, $DB>,
                tenant: i64,
                kind: $crate::KnowledgeKind,
                id: Option<i64>,
                entry: &$crate::NewKnowledge,
            ) -> $crate::Result<()> {
                let mut parent = entry.parent_id;
                while let Some(p) = parent {
                    if Some(p) == id {
                        return Err($crate::StoreError::Conflict(format!(
                            "a {} cannot move under itself or one of its children",
                            kind.noun()
                        )));
                    }
                    let up: Option<Option<i64>> = sqlx::query_scalar(
                        "select parent_id from knowledge where tenant_id = $1 and kind = $2 and id = $3",
                    )
                    .bind(tenant)
                    .bind(kind.as_str())
                    .bind(p)
                    .fetch_optional(&mut **tx)
                    .await?;
                    match up {
                        None => {
                            return Err($crate::StoreError::Conflict(format!(
                                "parent {p} is not a {} of this tenant; pick an existing entry or none",
                                kind.noun()
                            )));
                        }
                        Some(up) => parent = up,
                    }
                }
                for g in &entry.skill_group_ids {
                    let found: Option<i64> = sqlx::query_scalar(
                        "select id from skill_groups where tenant_id = $1 and id = $2",
                    )
                    .bind(tenant)
                    .bind(g.0)
                    .fetch_optional(&mut **tx)
                    .await?;
                    if found.is_none() {
                        return Err($crate::StoreError::Conflict(format!(
                            "skill group {g} does not exist; pick one of the tenant's skill groups"
                        )));
                    }
                }
                if let Some(id) = id {
                    sqlx::query("delete from knowledge_groups where tenant_id = $1 and knowledge_id = $2")
                        .bind(tenant)
                        .bind(id)
                        .execute(&mut **tx)
                        .await?;
                }
                Ok(())
            }

            async fn write_knowledge_groups(
                tx: &mut sqlx::Transaction<'_, $DB>,
                tenant: i64,
                id: i64,
                groups: &[kefu_domain::SkillGroupId],
            ) -> $crate::Result<()> {
                for g in groups {
                    sqlx::query(
                        "insert into knowledge_groups (tenant_id, knowledge_id, skill_group_id) values ($1, $2, $3) \
                         on conflict do nothing",
                    )
                    .bind(tenant)
                    .bind(id)
                    .bind(g.0)
                    .execute(&mut **tx)
                    .await?;
                }
                Ok(())
            }

            async fn next_position(
                tx: &mut sqlx::Transaction<'_, $DB>,
                tenant: i64,
                kind: $crate::KnowledgeKind,
                parent: Option<i64>,
            ) -> $crate::Result<i64> {
                let max: Option<i64> = sqlx::query_scalar(
                    "select max(position) from knowledge where tenant_id = $1 and kind = $2 \
                     and (parent_id = $3 or ($3 is null and parent_id is null))",
                )
                .bind(tenant)
                .bind(kind.as_str())
                .bind(parent)
                .fetch_one(&mut **tx)
                .await?;
                Ok(max.map_or(0, |m| m + 1))
            }

            fn flow_from(r: $crate::sql::rows::FlowRow) -> $crate::FlowRecord {
                r.into()
            }
        }

        #[async_trait::async_trait]
        impl $crate::BotStore for $S {
            async fn schedule(
                &self,
                tenant: kefu_domain::TenantId,
            ) -> $crate::Result<kefu_domain::schedule::Schedule> {
                let doc: Option<String> =
                    sqlx::query_scalar("select schedule from schedules where tenant_id = $1")
                        .bind(tenant.0)
                        .fetch_optional(&self.pool)
                        .await?;
                Ok(match doc {
                    Some(doc) => serde_json::from_str(&doc).unwrap_or_else(|e| {
                        tracing::error!(%tenant, error = %e, "the stored time plan does not parse; treating the tenant as always open");
                        Default::default()
                    }),
                    None => Default::default(),
                })
            }

            async fn save_schedule(
                &self,
                tenant: kefu_domain::TenantId,
                schedule: &kefu_domain::schedule::Schedule,
                now: i64,
            ) -> $crate::Result<()> {
                let doc = serde_json::to_string(schedule).expect("a schedule serialises");
                sqlx::query(
                    "insert into schedules (tenant_id, schedule, updated_at) values ($1, $2, $3) \
                     on conflict (tenant_id) do update set schedule = excluded.schedule, updated_at = excluded.updated_at",
                )
                .bind(tenant.0)
                .bind(doc)
                .bind(now)
                .execute(&self.writer)
                .await?;
                Ok(())
            }

            async fn sensitive_words(
                &self,
                tenant: kefu_domain::TenantId,
            ) -> $crate::Result<Vec<kefu_domain::moderation::Word>> {
                let rows: Vec<(String, String)> = sqlx::query_as(
                    "select word, action from sensitive_words where tenant_id = $1 order by word",
                )
                .bind(tenant.0)
                .fetch_all(&self.pool)
                .await?;
                Ok(rows
                    .into_iter()
                    .filter_map(|(word, action)| {
                        kefu_domain::moderation::WordAction::parse(&action)
                            .map(|action| kefu_domain::moderation::Word { word, action })
                    })
                    .collect())
            }

            async fn replace_sensitive_words(
                &self,
                tenant: kefu_domain::TenantId,
                words: &[kefu_domain::moderation::Word],
                now: i64,
            ) -> $crate::Result<()> {
                let mut tx = self.writer.begin_with($BEGIN).await?;
                sqlx::query("delete from sensitive_words where tenant_id = $1")
                    .bind(tenant.0)
                    .execute(&mut *tx)
                    .await?;
                for w in words {
                    sqlx::query(
                        "insert into sensitive_words (tenant_id, word, action, created_at) values ($1, $2, $3, $4) \
                         on conflict (tenant_id, word) do update set action = excluded.action",
                    )
                    .bind(tenant.0)
                    .bind(&w.word)
                    .bind(w.action.as_str())
                    .bind(now)
                    .execute(&mut *tx)
                    .await?;
                }
                tx.commit().await?;
                Ok(())
            }

            async fn knowledge(
                &self,
                tenant: kefu_domain::TenantId,
                kind: $crate::KnowledgeKind,
            ) -> $crate::Result<Vec<$crate::KnowledgeEntry>> {
                let mut tx = self.pool.begin().await?;
                let out = Self::knowledge_in(&mut tx, tenant.0, kind, None).await?;
                tx.commit().await?;
                Ok(out)
            }

            async fn get_knowledge(
                &self,
                tenant: kefu_domain::TenantId,
                kind: $crate::KnowledgeKind,
                id: i64,
            ) -> $crate::Result<Option<$crate::KnowledgeEntry>> {
                let mut tx = self.pool.begin().await?;
                let out = Self::knowledge_in(&mut tx, tenant.0, kind, Some(id)).await?;
                tx.commit().await?;
                Ok(out.into_iter().next())
            }

            async fn create_knowledge(
                &self,
                tenant: kefu_domain::TenantId,
                kind: $crate::KnowledgeKind,
                entry: &$crate::NewKnowledge,
                now: i64,
            ) -> $crate::Result<$crate::KnowledgeEntry> {
                let mut tx = self.writer.begin_with($BEGIN).await?;
                Self::place_knowledge(&mut tx, tenant.0, kind, None, entry).await?;
                let position = match entry.position {
                    Some(p) => p,
                    None => Self::next_position(&mut tx, tenant.0, kind, entry.parent_id).await?,
                };
                let id: i64 = sqlx::query_scalar(
                    "insert into knowledge (tenant_id, kind, parent_id, title, answer_kind, answer, keywords, \
                     enabled, is_new, valid_from, valid_to, position, created_at, updated_at) \
                     values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $13) returning id",
                )
                .bind(tenant.0)
                .bind(kind.as_str())
                .bind(entry.parent_id)
                .bind(&entry.title)
                .bind(&entry.answer_kind)
                .bind(&entry.answer)
                .bind(entry.keywords.join("\n"))
                .bind(entry.enabled)
                .bind(entry.is_new)
                .bind(entry.valid_from)
                .bind(entry.valid_to)
                .bind(position)
                .bind(now)
                .fetch_one(&mut *tx)
                .await?;
                Self::write_knowledge_groups(&mut tx, tenant.0, id, &entry.skill_group_ids).await?;
                let out = Self::knowledge_in(&mut tx, tenant.0, kind, Some(id)).await?;
                tx.commit().await?;
                out.into_iter().next().ok_or($crate::StoreError::NotFound)
            }

            async fn update_knowledge(
                &self,
                tenant: kefu_domain::TenantId,
                kind: $crate::KnowledgeKind,
                id: i64,
                entry: &$crate::NewKnowledge,
                now: i64,
            ) -> $crate::Result<$crate::KnowledgeEntry> {
                let mut tx = self.writer.begin_with($BEGIN).await?;
                let Some(current) = Self::knowledge_in(&mut tx, tenant.0, kind, Some(id))
                    .await?
                    .into_iter()
                    .next()
                else {
                    return Err($crate::StoreError::NotFound);
                };
                Self::place_knowledge(&mut tx, tenant.0, kind, Some(id), entry).await?;
                let position = match entry.position {
                    Some(p) => p,
                    None if current.parent_id == entry.parent_id => current.position,
                    None => Self::next_position(&mut tx, tenant.0, kind, entry.parent_id).await?,
                };
                sqlx::query(
                    "update knowledge set parent_id = $3, title = $4, answer_kind = $5, answer = $6, keywords = $7, \
                     enabled = $8, is_new = $9, valid_from = $10, valid_to = $11, position = $12, updated_at = $13 \
                     where tenant_id = $1 and id = $2",
                )
                .bind(tenant.0)
                .bind(id)
                .bind(entry.parent_id)
                .bind(&entry.title)
                .bind(&entry.answer_kind)
                .bind(&entry.answer)
                .bind(entry.keywords.join("\n"))
                .bind(entry.enabled)
                .bind(entry.is_new)
                .bind(entry.valid_from)
                .bind(entry.valid_to)
                .bind(position)
                .bind(now)
                .execute(&mut *tx)
                .await?;
                Self::write_knowledge_groups(&mut tx, tenant.0, id, &entry.skill_group_ids).await?;
                let out = Self::knowledge_in(&mut tx, tenant.0, kind, Some(id)).await?;
                tx.commit().await?;
                out.into_iter().next().ok_or($crate::StoreError::NotFound)
            }

            async fn delete_knowledge(
                &self,
                tenant: kefu_domain::TenantId,
                kind: $crate::KnowledgeKind,
                id: i64,
            ) -> $crate::Result<()> {
                let mut tx = self.writer.begin_with($BEGIN).await?;
                let children: i64 = sqlx::query_scalar(
                    "select count(*) from knowledge where tenant_id = $1 and kind = $2 and parent_id = $3",
                )
                .bind(tenant.0)
                .bind(kind.as_str())
                .bind(id)
                .fetch_one(&mut *tx)
                .await?;
                if children > 0 {
                    return Err($crate::StoreError::InUse(format!(
                        "this {} has {children} entries under it; delete or move them first",
                        kind.noun()
                    )));
                }
                let n = sqlx::query("delete from knowledge where tenant_id = $1 and kind = $2 and id = $3")
                    .bind(tenant.0)
                    .bind(kind.as_str())
                    .bind(id)
                    .execute(&mut *tx)
                    .await?
                    .rows_affected();
                if n == 0 {
                    return Err($crate::StoreError::NotFound);
                }
                tx.commit().await?;
                Ok(())
            }

            async fn knowledge_used(
                &self,
                tenant: kefu_domain::TenantId,
                kind: $crate::KnowledgeKind,
                id: i64,
            ) -> $crate::Result<bool> {
                let n = sqlx::query(
                    "update knowledge set uses = uses + 1 where tenant_id = $1 and kind = $2 and id = $3",
                )
                .bind(tenant.0)
                .bind(kind.as_str())
                .bind(id)
                .execute(&self.writer)
                .await?
                .rows_affected();
                Ok(n > 0)
            }

            async fn flows(&self, tenant: kefu_domain::TenantId) -> $crate::Result<Vec<$crate::FlowRecord>> {
                let rows: Vec<$crate::sql::rows::FlowRow> = sqlx::query_as(concat!(
                    $crate::sql::rows::FLOW_SELECT!(),
                    " where f.tenant_id = $1 order by f.id"
                ))
                .bind(tenant.0)
                .fetch_all(&self.pool)
                .await?;
                Ok(rows.into_iter().map(Self::flow_from).collect())
            }

            async fn get_flow(
                &self,
                tenant: kefu_domain::TenantId,
                id: i64,
            ) -> $crate::Result<Option<$crate::FlowRecord>> {
                let row: Option<$crate::sql::rows::FlowRow> = sqlx::query_as(concat!(
                    $crate::sql::rows::FLOW_SELECT!(),
                    " where f.tenant_id = $1 and f.id = $2"
                ))
                .bind(tenant.0)
                .bind(id)
                .fetch_optional(&self.pool)
                .await?;
                Ok(row.map(Self::flow_from))
            }

            async fn save_flow(
                &self,
                tenant: kefu_domain::TenantId,
                id: Option<i64>,
                name: &str,
                service_account: Option<&str>,
                draft: &str,
                now: i64,
            ) -> $crate::Result<$crate::FlowRecord> {
                let mut tx = self.writer.begin_with($BEGIN).await?;
                if let Some(account) = service_account {
                    let taken: Option<(i64, String)> = sqlx::query_as(
                        "select id, name from flows where tenant_id = $1 and service_account = $2 and ($3 is null or id <> $3)",
                    )
                    .bind(tenant.0)
                    .bind(account)
                    .bind(id)
                    .fetch_optional(&mut *tx)
                    .await?;
                    if let Some((other, other_name)) = taken {
                        return Err($crate::StoreError::Conflict(format!(
                            "`{account}` already runs flow {other} ({other_name}); unbind it there first, \
                             since an account runs one flow"
                        )));
                    }
                }
                let id = match id {
                    Some(id) => {
                        let n = sqlx::query(
                            "update flows set name = $3, service_account = $4, draft = $5, updated_at = $6 \
                             where tenant_id = $1 and id = $2",
                        )
                        .bind(tenant.0)
                        .bind(id)
                        .bind(name)
                        .bind(service_account)
                        .bind(draft)
                        .bind(now)
                        .execute(&mut *tx)
                        .await?
                        .rows_affected();
                        if n == 0 {
                            return Err($crate::StoreError::NotFound);
                        }
                        id
                    }
                    None => {
                        sqlx::query_scalar(
                            "insert into flows (tenant_id, name, service_account, draft, created_at, updated_at) \
                             values ($1, $2, $3, $4, $5, $5) returning id",
                        )
                        .bind(tenant.0)
                        .bind(name)
                        .bind(service_account)
                        .bind(draft)
                        .bind(now)
                        .fetch_one(&mut *tx)
                        .await?
                    }
                };
                let row: $crate::sql::rows::FlowRow = sqlx::query_as(concat!(
                    $crate::sql::rows::FLOW_SELECT!(),
                    " where f.tenant_id = $1 and f.id = $2"
                ))
                .bind(tenant.0)
                .bind(id)
                .fetch_one(&mut *tx)
                .await?;
                tx.commit().await?;
                Ok(Self::flow_from(row))
            }

            async fn delete_flow(&self, tenant: kefu_domain::TenantId, id: i64) -> $crate::Result<()> {
                let mut tx = self.writer.begin_with($BEGIN).await?;
                let running: i64 = sqlx::query_scalar(
                    "select count(*) from conversations c join flow_versions v on v.id = c.flow_version \
                     where c.tenant_id = $1 and v.flow_id = $2 and c.state <> 'ended'",
                )
                .bind(tenant.0)
                .bind(id)
                .fetch_one(&mut *tx)
                .await?;
                if running > 0 {
                    return Err($crate::StoreError::InUse(format!(
                        "{running} open conversations run this flow; unbind it from its account so no new ones start, \
                         and delete it once they have ended"
                    )));
                }
                let n = sqlx::query("delete from flows where tenant_id = $1 and id = $2")
                    .bind(tenant.0)
                    .bind(id)
                    .execute(&mut *tx)
                    .await?
                    .rows_affected();
                if n == 0 {
                    return Err($crate::StoreError::NotFound);
                }
                tx.commit().await?;
                Ok(())
            }

            async fn publish_flow(
                &self,
                tenant: kefu_domain::TenantId,
                id: i64,
                doc: &str,
                by: &str,
                now: i64,
            ) -> $crate::Result<$crate::FlowVersion> {
                let mut tx = self.writer.begin_with($BEGIN).await?;
                let found: Option<i64> =
                    sqlx::query_scalar("select id from flows where tenant_id = $1 and id = $2")
                        .bind(tenant.0)
                        .bind(id)
                        .fetch_optional(&mut *tx)
                        .await?;
                if found.is_none() {
                    return Err($crate::StoreError::NotFound);
                }
                let last: Option<i64> =
                    sqlx::query_scalar("select max(version) from flow_versions where flow_id = $1")
                        .bind(id)
                        .fetch_one(&mut *tx)
                        .await?;
                let version = last.unwrap_or(0) + 1;
                let vid: i64 = sqlx::query_scalar(
                    "insert into flow_versions (tenant_id, flow_id, version, doc, published_at, published_by) \
                     values ($1, $2, $3, $4, $5, $6) returning id",
                )
                .bind(tenant.0)
                .bind(id)
                .bind(version)
                .bind(doc)
                .bind(now)
                .bind(by)
                .fetch_one(&mut *tx)
                .await?;
                sqlx::query("update flows set published_version = $3, updated_at = $4 where tenant_id = $1 and id = $2")
                    .bind(tenant.0)
                    .bind(id)
                    .bind(vid)
                    .bind(now)
                    .execute(&mut *tx)
                    .await?;
                tx.commit().await?;
                Ok($crate::FlowVersion {
                    id: vid,
                    flow_id: id,
                    version,
                    doc: doc.to_string(),
                    published_at: now,
                    published_by: by.to_string(),
                })
            }

            async fn flow_versions(
                &self,
                tenant: kefu_domain::TenantId,
                flow: i64,
            ) -> $crate::Result<Vec<$crate::FlowVersion>> {
                let rows: Vec<(i64, i64, i64, String, i64, String)> = sqlx::query_as(
                    "select id, flow_id, version, doc, published_at, published_by from flow_versions \
                     where tenant_id = $1 and flow_id = $2 order by version desc",
                )
                .bind(tenant.0)
                .bind(flow)
                .fetch_all(&self.pool)
                .await?;
                Ok(rows.into_iter().map(Into::into).collect())
            }

            async fn flow_version(
                &self,
                tenant: kefu_domain::TenantId,
                version: i64,
            ) -> $crate::Result<Option<$crate::FlowVersion>> {
                let row: Option<(i64, i64, i64, String, i64, String)> = sqlx::query_as(
                    "select id, flow_id, version, doc, published_at, published_by from flow_versions \
                     where tenant_id = $1 and id = $2",
                )
                .bind(tenant.0)
                .bind(version)
                .fetch_optional(&self.pool)
                .await?;
                Ok(row.map(Into::into))
            }

            async fn published_flow_for(
                &self,
                tenant: kefu_domain::TenantId,
                service_account: &str,
            ) -> $crate::Result<Option<$crate::FlowVersion>> {
                let row: Option<(i64, i64, i64, String, i64, String)> = sqlx::query_as(
                    "select v.id, v.flow_id, v.version, v.doc, v.published_at, v.published_by \
                     from flows f join flow_versions v on v.id = f.published_version \
                     where f.tenant_id = $1 and f.service_account = $2",
                )
                .bind(tenant.0)
                .bind(service_account)
                .fetch_optional(&self.pool)
                .await?;
                Ok(row.map(Into::into))
            }

            async fn set_flow_position(
                &self,
                tenant: kefu_domain::TenantId,
                conversation: i64,
                position: Option<&$crate::FlowPosition>,
                reply_deadline: Option<i64>,
            ) -> $crate::Result<bool> {
                // Committed with whatever other flow positions are being written (group commit).
                let to = $crate::FlowMove {
                    conversation,
                    position: position.cloned(),
                    reply_deadline,
                };
                self.flow_writes
                    .submit(self, $crate::group_commit::FlowWrite { tenant, to })
                    .await
            }

            async fn append_then_move(
                &self,
                tenant: kefu_domain::TenantId,
                message: $crate::NewMessage,
                dedup_since: i64,
                then: $crate::FlowMove,
            ) -> $crate::Result<$crate::Appended> {
                let pending = $crate::group_commit::Pending {
                    tenant,
                    message,
                    dedup_since,
                    then: Some(then),
                };
                self.appends.submit(self, pending).await
            }

            async fn set_flow_node(
                &self,
                tenant: kefu_domain::TenantId,
                conversation: i64,
                node: &str,
            ) -> $crate::Result<()> {
                sqlx::query(
                    "update conversations set flow_node = $3 where tenant_id = $1 and id = $2 and flow_version is not null",
                )
                .bind(tenant.0)
                .bind(conversation)
                .bind(node)
                .execute(&self.writer)
                .await?;
                Ok(())
            }
        }

        #[async_trait::async_trait]
        impl $crate::OrderProviderStore for $S {
            async fn order_provider(
                &self,
                tenant: kefu_domain::TenantId,
            ) -> $crate::Result<Option<(String, String)>> {
                Ok(sqlx::query_as("select url, secret from order_providers where tenant_id = $1")
                    .bind(tenant.0)
                    .fetch_optional(&self.pool)
                    .await?)
            }

            async fn save_order_provider(
                &self,
                tenant: kefu_domain::TenantId,
                provider: Option<(&str, &str)>,
                now: i64,
            ) -> $crate::Result<()> {
                match provider {
                    Some((url, secret)) => {
                        sqlx::query(
                            "insert into order_providers (tenant_id, url, secret, updated_at) values ($1, $2, $3, $4) \
                             on conflict (tenant_id) do update set url = excluded.url, secret = excluded.secret, \
                             updated_at = excluded.updated_at",
                        )
                        .bind(tenant.0)
                        .bind(url)
                        .bind(secret)
                        .bind(now)
                        .execute(&self.writer)
                        .await?;
                    }
                    None => {
                        sqlx::query("delete from order_providers where tenant_id = $1")
                            .bind(tenant.0)
                            .execute(&self.writer)
                            .await?;
                    }
                }
                Ok(())
            }
        }
    };
}

pub(crate) use impl_bot_store;
