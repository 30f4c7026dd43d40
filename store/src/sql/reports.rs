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
                    // Ended sessions carry their figures (SESSION_ROLLUP); open ones are
                    // counted here. The chat is found by two index lookups (its pair is stored
                    // in one order or the other); a join on either order would make the
                    // planner pair every session with every chat.
                    "select x.session_id, x.conversation_id, x.buyer, x.agent_id, x.skill_group_id, x.entered_at, \
                     case when x.rolled then x.queued_at else \
                     (select max(e.at) from conversation_events e where e.tenant_id = x.tenant_id \
                      and e.conversation_id = x.conversation_id and e.kind = 'queued' and e.at <= x.started_at) end as queued_at, \
                     case when x.rolled then x.previous_at else \
                     (select max(p.started_at) from conversation_sessions p where p.tenant_id = x.tenant_id \
                      and p.conversation_id = x.conversation_id and p.started_at < x.started_at) end as previous_at, \
                     x.started_at, x.first_reply_at, x.ended_at, x.end_reason, x.categories, x.rating, \
                     case when x.rolled then x.agent_messages else \
                     (select count(*) from messages m where m.chat_id = x.chat_id and m.sender_role = 'agent' \
                      and m.agent_id = x.agent_id and m.created_at >= x.started_at \
                      and m.created_at <= coalesce(x.ended_at, $4)) end as agent_messages, \
                     case when x.rolled then x.buyer_messages else \
                     (select count(*) from messages m where m.chat_id = x.chat_id and m.from_account = x.buyer \
                      and m.created_at >= x.started_at and m.created_at <= coalesce(x.ended_at, $4)) end as buyer_messages \
                     from (select s.id as session_id, s.tenant_id, s.conversation_id, c.buyer, s.agent_id, s.skill_group_id, \
                      c.created_at as entered_at, s.started_at, s.first_reply_at, s.ended_at, s.end_reason, s.categories, s.rating, \
                      s.queued_at, s.previous_at, s.agent_messages, s.buyer_messages, \
                      (s.ended_at is not null and s.agent_messages is not null) as rolled, \
                      case when s.ended_at is not null and s.agent_messages is not null then s.chat_id else \
                      coalesce((select ch.id from chats ch where ch.tenant_id = c.tenant_id \
                                and ch.user_a = c.buyer and ch.user_b = c.service_account), \
                               (select ch.id from chats ch where ch.tenant_id = c.tenant_id \
                                and ch.user_a = c.service_account and ch.user_b = c.buyer)) end as chat_id \
                      from conversation_sessions s join conversations c on c.id = s.conversation_id \
                      where s.tenant_id = $1 and s.started_at >= $2 and s.started_at < $3) x \
                     order by x.started_at, x.session_id",
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

            async fn queue_stays(
                &self,
                tenant: kefu_domain::TenantId,
                from: i64,
                to: i64,
                group: Option<kefu_domain::SkillGroupId>,
            ) -> $crate::Result<Vec<$crate::QueueStay>> {
                let events: Vec<(i64, String, String, i64)> = sqlx::query_as(
                    "select conversation_id, kind, detail, at from conversation_events \
                     where tenant_id = $1 and kind in ('queued', 'assigned', 'accepted', 'ended') \
                     and at >= $2 and at < $3 order by conversation_id, id",
                )
                .bind(tenant.0)
                .bind(from - $crate::sql::reports::QUEUE_LOOKBACK_MS)
                .bind(to)
                .fetch_all(&self.pool)
                .await?;
                Ok($crate::sql::reports::queue_stays(events, from, group))
            }
        }
    };
}

pub(crate) use impl_report_store;

/// Keeps a session's figures for the session list when it ends (`$1` tenant, `$2` session):
/// its chat, then when the buyer last queued before it, the session before it in the same
/// conversation, and the agent's and the buyer's messages within it. The same as
/// `session_rows` computes for open sessions, and as migration 0014 did for older ones.
pub(crate) const SESSION_ROLLUP: [&str; 2] = [
    "update conversation_sessions set chat_id = coalesce(\
     (select ch.id from chats ch join conversations c on c.id = conversation_sessions.conversation_id \
      where ch.tenant_id = c.tenant_id and ch.user_a = c.buyer and ch.user_b = c.service_account), \
     (select ch.id from chats ch join conversations c on c.id = conversation_sessions.conversation_id \
      where ch.tenant_id = c.tenant_id and ch.user_a = c.service_account and ch.user_b = c.buyer)) \
     where tenant_id = $1 and id = $2",
    "update conversation_sessions set \
     queued_at = (select max(e.at) from conversation_events e \
      where e.tenant_id = conversation_sessions.tenant_id and e.conversation_id = conversation_sessions.conversation_id \
      and e.kind = 'queued' and e.at <= conversation_sessions.started_at), \
     previous_at = (select max(p.started_at) from conversation_sessions p \
      where p.tenant_id = conversation_sessions.tenant_id and p.conversation_id = conversation_sessions.conversation_id \
      and p.started_at < conversation_sessions.started_at), \
     agent_messages = (select count(*) from messages m \
      where m.chat_id = conversation_sessions.chat_id and m.sender_role = 'agent' \
      and m.agent_id = conversation_sessions.agent_id \
      and m.created_at >= conversation_sessions.started_at and m.created_at <= conversation_sessions.ended_at), \
     buyer_messages = (select count(*) from messages m join conversations c on c.id = conversation_sessions.conversation_id \
      where m.chat_id = conversation_sessions.chat_id and m.from_account = c.buyer \
      and m.created_at >= conversation_sessions.started_at and m.created_at <= conversation_sessions.ended_at) \
     where tenant_id = $1 and id = $2",
];

/// How far before a range the quality overview looks for buyers still queued at its start.
pub(crate) const QUEUE_LOOKBACK_MS: i64 = 86_400_000;

/// Walks each conversation's queue events (`(conversation, kind, detail, at)` in order) into
/// stays, keeping those in `group` (if given) that had not ended before `from`.
pub(crate) fn queue_stays(
    events: Vec<(i64, String, String, i64)>,
    from: i64,
    group: Option<kefu_domain::SkillGroupId>,
) -> Vec<crate::QueueStay> {
    let mut out = Vec::new();
    let mut open: Option<(i64, crate::QueueStay)> = None;
    let close = |stay: crate::QueueStay, out: &mut Vec<crate::QueueStay>| {
        let overlaps = stay.left_at.is_none_or(|l| l > from);
        if overlaps && group.is_none_or(|g| stay.skill_group_id == Some(g)) {
            out.push(stay);
        }
    };
    for (conversation, kind, detail, at) in events {
        if let Some((c, mut stay)) = open.take() {
            if c == conversation {
                stay.left_at = Some(at);
                close(stay, &mut out);
            } else {
                close(stay, &mut out);
            }
        }
        if kind == "queued" {
            let group = serde_json::from_str::<serde_json::Value>(&detail)
                .ok()
                .and_then(|d| d["skill_group_id"].as_i64())
                .map(kefu_domain::SkillGroupId);
            open = Some((
                conversation,
                crate::QueueStay {
                    skill_group_id: group,
                    queued_at: at,
                    left_at: None,
                },
            ));
        }
    }
    if let Some((_, stay)) = open {
        close(stay, &mut out);
    }
    out.sort_by_key(|s| s.queued_at);
    out
}

#[cfg(test)]
mod tests {
    use super::queue_stays;
    use crate::QueueStay;
    use kefu_domain::SkillGroupId;

    fn ev(c: i64, kind: &str, group: i64, at: i64) -> (i64, String, String, i64) {
        (
            c,
            kind.into(),
            format!("{{\"skill_group_id\":{group}}}"),
            at,
        )
    }

    #[test]
    fn stays_end_at_the_next_event_and_a_move_to_another_queue_starts_a_new_one() {
        let events = vec![
            // 1: waits 10–20 in group 1, then 20–35 in group 2 (moved), then served.
            ev(1, "queued", 1, 10),
            ev(1, "queued", 2, 20),
            ev(1, "assigned", 0, 35),
            // 2: left before the range began.
            ev(2, "queued", 1, 1),
            ev(2, "ended", 0, 5),
            // 3: still waiting.
            ev(3, "queued", 1, 40),
            // 4: served without a queue event in reach.
            ev(4, "assigned", 0, 50),
        ];
        let stay = |g: i64, q: i64, l: Option<i64>| QueueStay {
            skill_group_id: Some(SkillGroupId(g)),
            queued_at: q,
            left_at: l,
        };
        assert_eq!(
            queue_stays(events.clone(), 8, None),
            vec![
                stay(1, 10, Some(20)),
                stay(2, 20, Some(35)),
                stay(1, 40, None)
            ]
        );
        assert_eq!(
            queue_stays(events, 8, Some(SkillGroupId(2))),
            vec![stay(2, 20, Some(35))]
        );
    }
}
