//! Consultation categories and message tags: the same tree shape in two tables, and the tags
//! on messages. The table name comes from [`crate::Tree`], never from input.

macro_rules! impl_tree_store {
    ($S:ty, $DB:ty, $BEGIN:expr) => {
        impl $S {
            async fn node_in(
                tx: &mut sqlx::Transaction<'_, $DB>,
                tenant: i64,
                tree: $crate::Tree,
                id: i64,
            ) -> $crate::Result<Option<$crate::TreeNode>> {
                let sql = format!(
                    "select id, parent_id, name, position, created_at from {} where tenant_id = $1 and id = $2",
                    tree.table()
                );
                let row: Option<(i64, Option<i64>, String, i64, i64)> = sqlx::query_as(&sql)
                    .bind(tenant)
                    .bind(id)
                    .fetch_optional(&mut **tx)
                    .await?;
                let Some((id, parent_id, name, position, created_at)) = row else {
                    return Ok(None);
                };
                let skill_group_ids = match tree {
                    $crate::Tree::Categories => {
                        let ids: Vec<i64> = sqlx::query_scalar(
                            "select skill_group_id from category_groups where tenant_id = $1 and category_id = $2 \
                             order by skill_group_id",
                        )
                        .bind(tenant)
                        .bind(id)
                        .fetch_all(&mut **tx)
                        .await?;
                        ids.into_iter().map(kefu_domain::SkillGroupId).collect()
                    }
                    $crate::Tree::Tags => Vec::new(),
                };
                Ok(Some($crate::TreeNode {
                    id,
                    parent_id,
                    name,
                    position,
                    skill_group_ids,
                    created_at,
                }))
            }

            /// Checks the parent (same tenant and tree, not the node itself or below it) and
            /// the groups, then writes the category's groups.
            async fn place_node(
                tx: &mut sqlx::Transaction<'_, $DB>,
                tenant: i64,
                tree: $crate::Tree,
                id: Option<i64>,
                node: &$crate::NewTreeNode,
            ) -> $crate::Result<()> {
                let mut parent = node.parent_id;
                while let Some(p) = parent {
                    if Some(p) == id {
                        return Err($crate::StoreError::Conflict(format!(
                            "a {} cannot move under itself or one of its children",
                            tree.noun()
                        )));
                    }
                    let sql = format!(
                        "select parent_id from {} where tenant_id = $1 and id = $2",
                        tree.table()
                    );
                    let up: Option<Option<i64>> = sqlx::query_scalar(&sql)
                        .bind(tenant)
                        .bind(p)
                        .fetch_optional(&mut **tx)
                        .await?;
                    match up {
                        None => {
                            return Err($crate::StoreError::Conflict(format!(
                                "parent {} {p} does not exist; pick an existing {} or none",
                                tree.noun(),
                                tree.noun()
                            )));
                        }
                        Some(next) => parent = next,
                    }
                }
                if let (Some(id), $crate::Tree::Categories) = (id, tree) {
                    sqlx::query("delete from category_groups where tenant_id = $1 and category_id = $2")
                        .bind(tenant)
                        .bind(id)
                        .execute(&mut **tx)
                        .await?;
                    for g in &node.skill_group_ids {
                        Self::group_exists(tx, tenant, *g).await?;
                        sqlx::query(
                            "insert into category_groups (tenant_id, category_id, skill_group_id) values ($1, $2, $3) \
                             on conflict do nothing",
                        )
                        .bind(tenant)
                        .bind(id)
                        .bind(g.0)
                        .execute(&mut **tx)
                        .await?;
                    }
                }
                Ok(())
            }
        }

        #[async_trait::async_trait]
        impl $crate::TreeStore for $S {
            async fn tree(
                &self,
                tenant: kefu_domain::TenantId,
                tree: $crate::Tree,
            ) -> $crate::Result<Vec<$crate::TreeNode>> {
                let sql = format!(
                    "select id, parent_id, name, position, created_at from {} where tenant_id = $1 \
                     order by position, id",
                    tree.table()
                );
                let rows: Vec<(i64, Option<i64>, String, i64, i64)> =
                    sqlx::query_as(&sql).bind(tenant.0).fetch_all(&self.pool).await?;
                let groups: Vec<(i64, i64)> = match tree {
                    $crate::Tree::Categories => sqlx::query_as(
                        "select category_id, skill_group_id from category_groups where tenant_id = $1 \
                         order by skill_group_id",
                    )
                    .bind(tenant.0)
                    .fetch_all(&self.pool)
                    .await?,
                    $crate::Tree::Tags => Vec::new(),
                };
                Ok(rows
                    .into_iter()
                    .map(|(id, parent_id, name, position, created_at)| $crate::TreeNode {
                        id,
                        parent_id,
                        name,
                        position,
                        skill_group_ids: groups
                            .iter()
                            .filter(|(c, _)| *c == id)
                            .map(|(_, g)| kefu_domain::SkillGroupId(*g))
                            .collect(),
                        created_at,
                    })
                    .collect())
            }

            async fn create_node(
                &self,
                tenant: kefu_domain::TenantId,
                tree: $crate::Tree,
                node: &$crate::NewTreeNode,
                now: i64,
            ) -> $crate::Result<$crate::TreeNode> {
                let mut tx = self.writer.begin_with($BEGIN).await?;
                Self::place_node(&mut tx, tenant.0, tree, None, node).await?;
                let sql = format!(
                    "insert into {} (tenant_id, parent_id, name, position, created_at) values ($1, $2, $3, $4, $5) \
                     returning id",
                    tree.table()
                );
                let id: i64 = sqlx::query_scalar(&sql)
                    .bind(tenant.0)
                    .bind(node.parent_id)
                    .bind(node.name.trim())
                    .bind(node.position)
                    .bind(now)
                    .fetch_one(&mut *tx)
                    .await?;
                Self::place_node(&mut tx, tenant.0, tree, Some(id), node).await?;
                let created = Self::node_in(&mut tx, tenant.0, tree, id)
                    .await?
                    .ok_or($crate::StoreError::NotFound)?;
                tx.commit().await?;
                Ok(created)
            }

            async fn update_node(
                &self,
                tenant: kefu_domain::TenantId,
                tree: $crate::Tree,
                id: i64,
                node: &$crate::NewTreeNode,
            ) -> $crate::Result<$crate::TreeNode> {
                let mut tx = self.writer.begin_with($BEGIN).await?;
                if Self::node_in(&mut tx, tenant.0, tree, id).await?.is_none() {
                    return Err($crate::StoreError::NotFound);
                }
                Self::place_node(&mut tx, tenant.0, tree, Some(id), node).await?;
                let sql = format!(
                    "update {} set parent_id = $3, name = $4, position = $5 where tenant_id = $1 and id = $2",
                    tree.table()
                );
                sqlx::query(&sql)
                    .bind(tenant.0)
                    .bind(id)
                    .bind(node.parent_id)
                    .bind(node.name.trim())
                    .bind(node.position)
                    .execute(&mut *tx)
                    .await?;
                let updated = Self::node_in(&mut tx, tenant.0, tree, id)
                    .await?
                    .ok_or($crate::StoreError::NotFound)?;
                tx.commit().await?;
                Ok(updated)
            }

            async fn delete_node(
                &self,
                tenant: kefu_domain::TenantId,
                tree: $crate::Tree,
                id: i64,
            ) -> $crate::Result<()> {
                let mut tx = self.writer.begin_with($BEGIN).await?;
                if Self::node_in(&mut tx, tenant.0, tree, id).await?.is_none() {
                    return Err($crate::StoreError::NotFound);
                }
                let sql = format!(
                    "select count(*) from {} where tenant_id = $1 and parent_id = $2",
                    tree.table()
                );
                let children: i64 = sqlx::query_scalar(&sql)
                    .bind(tenant.0)
                    .bind(id)
                    .fetch_one(&mut *tx)
                    .await?;
                if children > 0 {
                    return Err($crate::StoreError::InUse(format!(
                        "this {} has {children} children; delete or move them first",
                        tree.noun()
                    )));
                }
                if tree == $crate::Tree::Tags {
                    let used: i64 = sqlx::query_scalar(
                        "select count(*) from message_tags where tenant_id = $1 and tag_id = $2",
                    )
                    .bind(tenant.0)
                    .bind(id)
                    .fetch_one(&mut *tx)
                    .await?;
                    if used > 0 {
                        return Err($crate::StoreError::InUse(format!(
                            "{used} messages carry this tag; remove it from them first, or rename the tag"
                        )));
                    }
                }
                let sql = format!("delete from {} where tenant_id = $1 and id = $2", tree.table());
                sqlx::query(&sql).bind(tenant.0).bind(id).execute(&mut *tx).await?;
                tx.commit().await?;
                Ok(())
            }

            async fn tag_message(
                &self,
                tenant: kefu_domain::TenantId,
                tag: &$crate::NewMessageTag,
                now: i64,
            ) -> $crate::Result<$crate::MessageTag> {
                let mut tx = self.writer.begin_with($BEGIN).await?;
                if Self::node_in(&mut tx, tenant.0, $crate::Tree::Tags, tag.tag_id).await?.is_none() {
                    return Err($crate::StoreError::Conflict(format!(
                        "tag {} does not exist; pick one from the tag tree",
                        tag.tag_id
                    )));
                }
                let c = Self::conversation_in(&mut tx, tenant.0, tag.conversation_id)
                    .await?
                    .ok_or($crate::StoreError::NotFound)?;
                let (a, b) = $crate::sql::messages::pair(&c.buyer, &c.service_account);
                let chat: Option<i64> = sqlx::query_scalar(
                    "select m.chat_id from chats ch join messages m on m.chat_id = ch.id \
                     where ch.tenant_id = $1 and ch.user_a = $2 and ch.user_b = $3 and m.seq = $4",
                )
                .bind(tenant.0)
                .bind(a)
                .bind(b)
                .bind(tag.seq)
                .fetch_optional(&mut *tx)
                .await?;
                let Some(chat) = chat else {
                    return Err($crate::StoreError::Conflict(format!(
                        "message {} is not in this conversation's chat",
                        tag.seq
                    )));
                };
                let id: i64 = sqlx::query_scalar(
                    "insert into message_tags (tenant_id, tag_id, conversation_id, chat_id, seq, buyer, agent_id, note, created_at) \
                     values ($1, $2, $3, $4, $5, $6, $7, $8, $9) returning id",
                )
                .bind(tenant.0)
                .bind(tag.tag_id)
                .bind(tag.conversation_id)
                .bind(chat)
                .bind(tag.seq)
                .bind(&c.buyer)
                .bind(tag.agent_id.0)
                .bind(tag.note.trim())
                .bind(now)
                .fetch_one(&mut *tx)
                .await
                .map_err($crate::StoreError::unique("this tag on this message"))?;
                let row: $crate::sql::rows::MessageTagRow = sqlx::query_as(concat!(
                    $crate::sql::rows::MESSAGE_TAG_SELECT!(),
                    " where mt.tenant_id = $1 and mt.id = $2"
                ))
                .bind(tenant.0)
                .bind(id)
                .fetch_one(&mut *tx)
                .await?;
                tx.commit().await?;
                Ok(row.into())
            }

            async fn untag_message(
                &self,
                tenant: kefu_domain::TenantId,
                id: i64,
            ) -> $crate::Result<()> {
                let n = sqlx::query("delete from message_tags where tenant_id = $1 and id = $2")
                    .bind(tenant.0)
                    .bind(id)
                    .execute(&self.writer)
                    .await?
                    .rows_affected();
                if n == 0 {
                    return Err($crate::StoreError::NotFound);
                }
                Ok(())
            }

            async fn message_tags(
                &self,
                tenant: kefu_domain::TenantId,
                filter: &$crate::MessageTagFilter,
            ) -> $crate::Result<Vec<$crate::MessageTag>> {
                // The note is matched as a substring: LIKE with the caller's % and _ escaped.
                let note = filter
                    .note
                    .as_deref()
                    .map(str::trim)
                    .filter(|n| !n.is_empty())
                    .map($crate::sql::messages::like_pattern);
                let rows: Vec<$crate::sql::rows::MessageTagRow> = sqlx::query_as(concat!(
                    $crate::sql::rows::MESSAGE_TAG_SELECT!(),
                    " where mt.tenant_id = $1 \
                     and ($2 is null or mt.agent_id = $2) \
                     and ($3 is null or mt.buyer = $3) \
                     and ($4 is null or mt.tag_id = $4) \
                     and ($5 is null or mt.note like $5 escape '\\') \
                     and ($6 is null or mt.created_at >= $6) \
                     and ($7 is null or mt.created_at < $7) \
                     order by mt.created_at desc, mt.id desc limit $8"
                ))
                .bind(tenant.0)
                .bind(filter.agent.map(|a| a.0))
                .bind(filter.buyer.as_deref())
                .bind(filter.tag)
                .bind(note)
                .bind(filter.from)
                .bind(filter.to)
                .bind(if filter.limit > 0 { filter.limit.min(500) } else { 100 })
                .fetch_all(&self.pool)
                .await?;
                Ok(rows.into_iter().map(Into::into).collect())
            }
        }
    };
}

pub(crate) use impl_tree_store;
