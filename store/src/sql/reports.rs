//! The raw rows reports are computed from: sessions with their waits and message counts,
//! agents' status changes, and transfers. Aggregation happens in the caller.

macro_rules! impl_report_store {
    ($S:ty) => {
        #[async_trait::async_trait]
        impl $crate::ReportStore for $S {
            async fn session_rows(
                &self,
                tenant: kefu_domain::TenantId,
                from: i64,
                to: i64,
                now: i64,
            ) -> $crate::Result<Vec<$crate::SessionReportRow>> {
                let rows: Vec<$crate::sql::rows::SessionReportRowSql> = sqlx::query_as(
                    "select s.id as session_id, s.conversation_id, c.buyer, s.agent_id, s.skill_group_id, \
                     c.created_at as entered_at, \
                     (select max(e.at) from conversation_events e where e.tenant_id = s.tenant_id \
                      and e.conversation_id = s.conversation_id and e.kind = 'queued' and e.at <= s.started_at) as queued_at, \
                     (select max(p.started_at) from conversation_sessions p where p.tenant_id = s.tenant_id \
                      and p.conversation_id = s.conversation_id and p.started_at < s.started_at) as previous_at, \
                     s.started_at, s.first_reply_at, s.ended_at, s.end_reason, s.categories, s.rating, \
                     (select count(*) from messages m where m.chat_id = ch.id and m.sender_role = 'agent' \
                      and m.agent_id = s.agent_id and m.created_at >= s.started_at \
                      and m.created_at <= coalesce(s.ended_at, $4)) as agent_messages, \
                     (select count(*) from messages m where m.chat_id = ch.id and m.from_account = c.buyer \
                      and m.created_at >= s.started_at and m.created_at <= coalesce(s.ended_at, $4)) as buyer_messages \
                     from conversation_sessions s \
                     join conversations c on c.id = s.conversation_id \
                     left join chats ch on ch.tenant_id = c.tenant_id and ((ch.user_a = c.buyer and ch.user_b = c.service_account) \
                      or (ch.user_a = c.service_account and ch.user_b = c.buyer)) \
                     where s.tenant_id = $1 and s.started_at >= $2 and s.started_at < $3 \
                     order by s.started_at, s.id",
                )
                .bind(tenant.0)
                .bind(from)
                .bind(to)
                .bind(now)
                .fetch_all(&self.pool)
                .await?;
                Ok(rows.into_iter().map(Into::into).collect())
            }

            async fn status_changes(
                &self,
                tenant: kefu_domain::TenantId,
                from: i64,
                to: i64,
            ) -> $crate::Result<Vec<(kefu_domain::AccountId, String, i64)>> {
                // Each agent's status at `from`, then every change until `to`.
                let rows: Vec<(i64, String, i64)> = sqlx::query_as(
                    "select l.account_id, l.status, l.at from agent_status_log l where l.tenant_id = $1 \
                     and l.at = (select max(x.at) from agent_status_log x where x.tenant_id = $1 \
                                 and x.account_id = l.account_id and x.at < $2) \
                     union all \
                     select account_id, status, at from agent_status_log where tenant_id = $1 and at >= $2 and at < $3 \
                     order by 1, 3",
                )
                .bind(tenant.0)
                .bind(from)
                .bind(to)
                .fetch_all(&self.pool)
                .await?;
                Ok(rows
                    .into_iter()
                    .map(|(a, s, at)| (kefu_domain::AccountId(a), s, at))
                    .collect())
            }

            async fn transfers(
                &self,
                tenant: kefu_domain::TenantId,
                from: i64,
                to: i64,
            ) -> $crate::Result<Vec<(String, String, i64)>> {
                Ok(sqlx::query_as(
                    "select actor, detail, at from conversation_events where tenant_id = $1 \
                     and kind = 'transferred' and at >= $2 and at < $3 order by at",
                )
                .bind(tenant.0)
                .bind(from)
                .bind(to)
                .fetch_all(&self.pool)
                .await?)
            }

            async fn hourly_counts(
                &self,
                tenant: kefu_domain::TenantId,
                from: i64,
                to: i64,
                group: Option<kefu_domain::SkillGroupId>,
            ) -> $crate::Result<Vec<$crate::HourCounts>> {
                let group = group.map(|g| g.0);
                // A queue join counts for the group it joined (the event's conversation is in
                // that group from then until a transfer).
                let queued: Vec<(i64, i64)> = sqlx::query_as(
                    "select e.at / 3600000 as h, count(*) from conversation_events e \
                     join conversations c on c.id = e.conversation_id and c.tenant_id = e.tenant_id \
                     where e.tenant_id = $1 and e.kind = 'queued' and e.at >= $2 and e.at < $3 \
                     and ($4 is null or c.skill_group_id = $4) group by e.at / 3600000",
                )
                .bind(tenant.0)
                .bind(from)
                .bind(to)
                .bind(group)
                .fetch_all(&self.pool)
                .await?;
                let messages: Vec<(i64, i64, i64, i64)> = sqlx::query_as(concat!(
                    "select created_at / 3600000 as h, \
                     count(distinct case when sender_role not in ('agent', 'robot', 'system') then from_account end), \
                     sum(case when sender_role not in ('agent', 'robot', 'system') then 1 else 0 end), \
                     sum(case when sender_role = 'agent' then 1 else 0 end) \
                     from messages where tenant_id = $1 and created_at >= $2 and created_at < $3 and ",
                    $crate::sql::messages::in_group!("$4"),
                    " group by created_at / 3600000",
                ))
                .bind(tenant.0)
                .bind(from)
                .bind(to)
                .bind(group)
                .fetch_all(&self.pool)
                .await?;
                let mut by: std::collections::BTreeMap<i64, $crate::HourCounts> = Default::default();
                for (h, n) in queued {
                    by.entry(h).or_insert_with(|| $crate::HourCounts { hour: h, ..Default::default() }).queued = n;
                }
                for (h, buyers, msgs, replies) in messages {
                    let e = by.entry(h).or_insert_with(|| $crate::HourCounts { hour: h, ..Default::default() });
                    e.buyers = buyers;
                    e.buyer_messages = msgs;
                    e.replies = replies;
                }
                Ok(by.into_values().collect())
            }
        }
    };
}

pub(crate) use impl_report_store;
