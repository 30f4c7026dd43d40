//! Service settings, the engine's timers (reception timeout, console grace, re-queueing) and
//! ratings. A timer is a deadline column; the sweep that acts on it re-checks the deadline in
//! the same statement that acts, so concurrent sweeps on several nodes act once.

macro_rules! impl_service_store {
    ($S:ty, $DB:ty, $BEGIN:expr) => {
        impl $S {
            /// Assigned conversations whose deadline `column` (a column name of ours, never
            /// input) has passed, oldest first, in every tenant.
            async fn assigned_due(
                &self,
                column: &'static str,
                now: i64,
                limit: i64,
            ) -> $crate::Result<Vec<$crate::Conversation>> {
                let sql = format!(
                    concat!(
                        "select ",
                        $crate::sql::rows::CONVERSATION_COLUMNS!(),
                        " from conversations where state = 'assigned' and {c} <= $1 order by {c} limit $2"
                    ),
                    c = column
                );
                let rows: Vec<$crate::sql::rows::ConversationRow> = sqlx::query_as(&sql)
                    .bind(now)
                    .bind(limit)
                    .fetch_all(&self.pool)
                    .await?;
                Ok(rows.into_iter().map(Into::into).collect())
            }
        }

        #[async_trait::async_trait]
        impl $crate::ServiceStore for $S {
            async fn service_settings(
                &self,
                tenant: kefu_domain::TenantId,
            ) -> $crate::Result<kefu_domain::settings::ServiceSettings> {
                let doc: Option<String> =
                    sqlx::query_scalar("select settings from service_settings where tenant_id = $1")
                        .bind(tenant.0)
                        .fetch_optional(&self.pool)
                        .await?;
                Ok(match doc {
                    // Written by save_service_settings from a validated value; a document
                    // that no longer parses falls back to the defaults rather than stopping
                    // the engine, and says so.
                    Some(doc) => serde_json::from_str(&doc).unwrap_or_else(|e| {
                        tracing::error!(%tenant, error = %e, "stored service settings do not parse; using the defaults");
                        Default::default()
                    }),
                    None => Default::default(),
                })
            }

            async fn save_service_settings(
                &self,
                tenant: kefu_domain::TenantId,
                settings: &kefu_domain::settings::ServiceSettings,
                now: i64,
            ) -> $crate::Result<()> {
                let doc = serde_json::to_string(settings).expect("settings serialise");
                sqlx::query(
                    "insert into service_settings (tenant_id, settings, updated_at) values ($1, $2, $3) \
                     on conflict (tenant_id) do update set settings = excluded.settings, updated_at = excluded.updated_at",
                )
                .bind(tenant.0)
                .bind(doc)
                .bind(now)
                .execute(&self.writer)
                .await?;
                Ok(())
            }

            async fn open_conversation_of(
                &self,
                tenant: kefu_domain::TenantId,
                buyer: &str,
                service_account: &str,
            ) -> $crate::Result<Option<$crate::Conversation>> {
                let row: Option<$crate::sql::rows::ConversationRow> = sqlx::query_as(concat!(
                    "select ",
                    $crate::sql::rows::CONVERSATION_COLUMNS!(),
                    " from conversations where tenant_id = $1 and buyer = $2 and service_account = $3 \
                     and state <> 'ended'"
                ))
                .bind(tenant.0)
                .bind(buyer)
                .bind(service_account)
                .fetch_optional(&self.pool)
                .await?;
                Ok(row.map(Into::into))
            }

            async fn unread_count(
                &self,
                tenant: kefu_domain::TenantId,
                c: &$crate::Conversation,
            ) -> $crate::Result<i64> {
                let (a, b) = $crate::sql::messages::pair(&c.buyer, &c.service_account);
                let service_is_a = a == c.service_account;
                let n: i64 = sqlx::query_scalar(
                    "select count(*) from messages m join chats ch on ch.id = m.chat_id \
                     where ch.tenant_id = $1 and ch.user_a = $2 and ch.user_b = $3 \
                     and m.from_account = $4 and m.created_at >= $5 \
                     and m.seq > case when $6 then ch.a_read_seq else ch.b_read_seq end",
                )
                .bind(tenant.0)
                .bind(a)
                .bind(b)
                .bind(&c.buyer)
                .bind(c.created_at)
                .bind(service_is_a)
                .fetch_one(&self.pool)
                .await?;
                Ok(n)
            }

            async fn buyer_replied(
                &self,
                tenant: kefu_domain::TenantId,
                conversation: i64,
            ) -> $crate::Result<()> {
                sqlx::query(
                    "update conversations set reply_deadline = null \
                     where tenant_id = $1 and id = $2 and reply_deadline is not null",
                )
                .bind(tenant.0)
                .bind(conversation)
                .execute(&self.writer)
                .await?;
                Ok(())
            }

            async fn set_pending_choice(
                &self,
                tenant: kefu_domain::TenantId,
                conversation: i64,
                choice: Option<&str>,
            ) -> $crate::Result<()> {
                sqlx::query(
                    "update conversations set pending_choice = $3 \
                     where tenant_id = $1 and id = $2 and state <> 'ended'",
                )
                .bind(tenant.0)
                .bind(conversation)
                .bind(choice)
                .execute(&self.writer)
                .await?;
                Ok(())
            }

            async fn due_timeouts(
                &self,
                now: i64,
                limit: i64,
            ) -> $crate::Result<Vec<$crate::Conversation>> {
                // An agent waiting for the buyer (reception timeout), or the service flow
                // waiting at a branch or the bot (the flow end's timeout).
                let rows: Vec<$crate::sql::rows::ConversationRow> = sqlx::query_as(concat!(
                    "select ",
                    $crate::sql::rows::CONVERSATION_COLUMNS!(),
                    " from conversations where state in ('assigned', 'flow') and reply_deadline <= $1 \
                     order by reply_deadline limit $2"
                ))
                .bind(now)
                .bind(limit)
                .fetch_all(&self.pool)
                .await?;
                Ok(rows.into_iter().map(Into::into).collect())
            }

            async fn console_seen(
                &self,
                tenant: kefu_domain::TenantId,
                agent: kefu_domain::AccountId,
                now: i64,
            ) -> $crate::Result<bool> {
                let mut tx = self.writer.begin_with($BEGIN).await?;
                let lost: Option<Option<i64>> = sqlx::query_scalar(
                    "select console_lost_at from agent_states where tenant_id = $1 and account_id = $2",
                )
                .bind(tenant.0)
                .bind(agent.0)
                .fetch_optional(&mut *tx)
                .await?;
                let Some(lost) = lost else {
                    // Never had a status: nothing to keep alive until they go online.
                    return Ok(false);
                };
                sqlx::query(
                    "update agent_states set console_seen_at = $3, console_lost_at = null \
                     where tenant_id = $1 and account_id = $2",
                )
                .bind(tenant.0)
                .bind(agent.0)
                .bind(now)
                .execute(&mut *tx)
                .await?;
                if lost.is_some() {
                    sqlx::query(
                        "update conversations set requeue_at = null \
                         where tenant_id = $1 and agent_id = $2 and state = 'assigned' and requeue_at is not null",
                    )
                    .bind(tenant.0)
                    .bind(agent.0)
                    .execute(&mut *tx)
                    .await?;
                }
                tx.commit().await?;
                Ok(lost.is_some())
            }

            async fn lapsed_consoles(
                &self,
                seen_before: i64,
                limit: i64,
            ) -> $crate::Result<Vec<$crate::LapsedConsole>> {
                let rows: Vec<(i64, i64)> = sqlx::query_as(
                    "select tenant_id, account_id from agent_states \
                     where console_lost_at is null and console_seen_at < $1 \
                     and (status = 'online' or active > 0) \
                     order by console_seen_at limit $2",
                )
                .bind(seen_before)
                .bind(limit)
                .fetch_all(&self.pool)
                .await?;
                Ok(rows
                    .into_iter()
                    .map(|(t, a)| $crate::LapsedConsole {
                        tenant_id: kefu_domain::TenantId(t),
                        agent_id: kefu_domain::AccountId(a),
                    })
                    .collect())
            }

            async fn console_lost(
                &self,
                tenant: kefu_domain::TenantId,
                agent: kefu_domain::AccountId,
                seen_before: i64,
                requeue_at: Option<i64>,
                now: i64,
            ) -> $crate::Result<Option<Vec<$crate::Conversation>>> {
                let mut tx = self.writer.begin_with($BEGIN).await?;
                let status: Option<String> = sqlx::query_scalar(
                    "update agent_states set console_lost_at = $4 \
                     where tenant_id = $1 and account_id = $2 and console_lost_at is null \
                     and console_seen_at < $3 returning status",
                )
                .bind(tenant.0)
                .bind(agent.0)
                .bind(seen_before)
                .bind(now)
                .fetch_optional(&mut *tx)
                .await?;
                let Some(status) = status else {
                    return Ok(None);
                };
                if status != "suspended" {
                    sqlx::query(
                        "update agent_states set status = 'suspended', status_since = $3 \
                         where tenant_id = $1 and account_id = $2",
                    )
                    .bind(tenant.0)
                    .bind(agent.0)
                    .bind(now)
                    .execute(&mut *tx)
                    .await?;
                    sqlx::query(
                        "insert into agent_status_log (tenant_id, account_id, status, at) values ($1, $2, 'suspended', $3)",
                    )
                    .bind(tenant.0)
                    .bind(agent.0)
                    .bind(now)
                    .execute(&mut *tx)
                    .await?;
                }
                sqlx::query(
                    "update conversations set recover = true, requeue_at = $3, updated_at = $4 \
                     where tenant_id = $1 and agent_id = $2 and state = 'assigned'",
                )
                .bind(tenant.0)
                .bind(agent.0)
                .bind(requeue_at)
                .bind(now)
                .execute(&mut *tx)
                .await?;
                let rows: Vec<$crate::sql::rows::ConversationRow> = sqlx::query_as(concat!(
                    "select ",
                    $crate::sql::rows::CONVERSATION_COLUMNS!(),
                    " from conversations where tenant_id = $1 and agent_id = $2 and state = 'assigned' order by id"
                ))
                .bind(tenant.0)
                .bind(agent.0)
                .fetch_all(&mut *tx)
                .await?;
                for r in &rows {
                    let m = $crate::routing::Milestone {
                        conversation: r.id,
                        session: r.session_id,
                        kind: "agent_lost",
                        actor: "system",
                        detail: &format!("{{\"agent_id\":{}}}", agent.0),
                    };
                    Self::event(&mut tx, tenant.0, m, now).await?;
                }
                tx.commit().await?;
                Ok(Some(rows.into_iter().map(Into::into).collect()))
            }

            async fn due_requeues(
                &self,
                now: i64,
                limit: i64,
            ) -> $crate::Result<Vec<$crate::Conversation>> {
                self.assigned_due("requeue_at", now, limit).await
            }

            async fn requeue(
                &self,
                tenant: kefu_domain::TenantId,
                conversation: i64,
                now: i64,
            ) -> $crate::Result<Option<$crate::Conversation>> {
                let mut tx = self.writer.begin_with($BEGIN).await?;
                let Some(c) = Self::conversation_in(&mut tx, tenant.0, conversation).await? else {
                    return Ok(None);
                };
                let due = c.state == $crate::ConversationState::Assigned
                    && c.requeue_at.is_some_and(|at| at <= now);
                let Some(group) = c.skill_group_id.filter(|_| due) else {
                    return Ok(None);
                };
                let closing = $crate::routing::SessionEnd {
                    agent: c.agent_id.map(|a| a.0),
                    session: c.session_id,
                    reason: "requeued",
                    categories: "",
                    note: "",
                };
                Self::end_session(&mut tx, tenant.0, closing, now).await?;
                let queued_at = c.queued_at.unwrap_or(now);
                let from = ["assigned", "assigned"];
                Self::join_queue_at(&mut tx, tenant.0, conversation, group, from, "system", queued_at, now)
                    .await?;
                let c = Self::conversation_in(&mut tx, tenant.0, conversation).await?;
                tx.commit().await?;
                Ok(c)
            }

            async fn sessions_of(
                &self,
                tenant: kefu_domain::TenantId,
                conversation: i64,
            ) -> $crate::Result<Vec<$crate::ServiceSession>> {
                let rows: Vec<$crate::sql::rows::ServiceSessionRow> = sqlx::query_as(concat!(
                    "select ",
                    $crate::sql::rows::SERVICE_SESSION_COLUMNS!(),
                    " from conversation_sessions where tenant_id = $1 and conversation_id = $2 order by id"
                ))
                .bind(tenant.0)
                .bind(conversation)
                .fetch_all(&self.pool)
                .await?;
                Ok(rows.into_iter().map(Into::into).collect())
            }

            async fn latest_session_of(
                &self,
                tenant: kefu_domain::TenantId,
                buyer: &str,
                service_account: &str,
            ) -> $crate::Result<Option<$crate::ServiceSession>> {
                let row: Option<$crate::sql::rows::ServiceSessionRow> = sqlx::query_as(concat!(
                    "select ",
                    $crate::sql::rows::SERVICE_SESSION_COLUMNS!(),
                    " from conversation_sessions where tenant_id = $1 and conversation_id in \
                     (select id from conversations where tenant_id = $1 and buyer = $2 and service_account = $3) \
                     order by id desc limit 1"
                ))
                .bind(tenant.0)
                .bind(buyer)
                .bind(service_account)
                .fetch_optional(&self.pool)
                .await?;
                Ok(row.map(Into::into))
            }

            async fn rating_requested(
                &self,
                tenant: kefu_domain::TenantId,
                session: i64,
                expires_at: i64,
            ) -> $crate::Result<()> {
                sqlx::query(
                    "update conversation_sessions set rating_expires_at = $3 \
                     where tenant_id = $1 and id = $2 and rating is null",
                )
                .bind(tenant.0)
                .bind(session)
                .bind(expires_at)
                .execute(&self.writer)
                .await?;
                Ok(())
            }

            async fn rate_session(
                &self,
                tenant: kefu_domain::TenantId,
                buyer: &str,
                session: i64,
                score: i64,
                label: &str,
                now: i64,
            ) -> $crate::Result<$crate::RateOutcome> {
                let mut tx = self.writer.begin_with($BEGIN).await?;
                let row: Option<$crate::sql::rows::ServiceSessionRow> = sqlx::query_as(concat!(
                    "select ",
                    $crate::sql::rows::SERVICE_SESSION_COLUMNS!(),
                    " from conversation_sessions where tenant_id = $1 and id = $2 and conversation_id in \
                     (select id from conversations where tenant_id = $1 and buyer = $3)"
                ))
                .bind(tenant.0)
                .bind(session)
                .bind(buyer)
                .fetch_optional(&mut *tx)
                .await?;
                let Some(row) = row else {
                    return Ok($crate::RateOutcome::Unknown);
                };
                if row.rating.is_some() {
                    return Ok($crate::RateOutcome::AlreadyRated);
                }
                if !row.rating_expires_at.is_some_and(|at| now <= at) {
                    return Ok($crate::RateOutcome::Expired);
                }
                // Conditional on no rating yet: of two submissions at once, one counts.
                let n = sqlx::query(
                    "update conversation_sessions set rating = $3, rating_label = $4, rated_at = $5 \
                     where tenant_id = $1 and id = $2 and rating is null",
                )
                .bind(tenant.0)
                .bind(session)
                .bind(score)
                .bind(label)
                .bind(now)
                .execute(&mut *tx)
                .await?
                .rows_affected();
                if n == 0 {
                    return Ok($crate::RateOutcome::AlreadyRated);
                }
                let detail = serde_json::json!({
                    "score": score,
                    "label": label,
                    "agent_id": row.agent_id,
                })
                .to_string();
                let actor = format!("buyer:{buyer}");
                let m = $crate::routing::Milestone {
                    conversation: row.conversation_id,
                    session: Some(session),
                    kind: "rated",
                    actor: &actor,
                    detail: &detail,
                };
                Self::event(&mut tx, tenant.0, m, now).await?;
                let rated: $crate::sql::rows::ServiceSessionRow = sqlx::query_as(concat!(
                    "select ",
                    $crate::sql::rows::SERVICE_SESSION_COLUMNS!(),
                    " from conversation_sessions where tenant_id = $1 and id = $2"
                ))
                .bind(tenant.0)
                .bind(session)
                .fetch_one(&mut *tx)
                .await?;
                tx.commit().await?;
                Ok($crate::RateOutcome::Rated(Box::new(rated.into())))
            }
        }
    };
}

pub(crate) use impl_service_store;
