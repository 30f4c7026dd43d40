//! The conversation engine's state: agent status, routing settings, conversations, their
//! sessions and events. Assignment is one transaction that locks the skill group row and
//! claims the conversation and the agent's slot with conditional updates, so two nodes (or
//! two events on one node) never give a buyer to two agents or push an agent past its cap.

macro_rules! impl_conversation_store {
    // $BEGIN starts a writing transaction: SQLite's `BEGIN IMMEDIATE` takes the write lock at
    // once, so a transaction that reads before it writes cannot deadlock with another.
    ($S:ty, $DB:ty, $BEGIN:expr) => {
        impl $S {
            async fn conversation_in(
                tx: &mut sqlx::Transaction<'_, $DB>,
                tenant: i64,
                id: i64,
            ) -> $crate::Result<Option<$crate::Conversation>> {
                let row: Option<$crate::sql::rows::ConversationRow> = sqlx::query_as(concat!(
                    "select ",
                    $crate::sql::rows::CONVERSATION_COLUMNS!(),
                    " from conversations where tenant_id = $1 and id = $2"
                ))
                .bind(tenant)
                .bind(id)
                .fetch_optional(&mut **tx)
                .await?;
                Ok(row.map(Into::into))
            }

            async fn event(
                tx: &mut sqlx::Transaction<'_, $DB>,
                tenant: i64,
                m: $crate::routing::Milestone<'_>,
                now: i64,
            ) -> $crate::Result<()> {
                sqlx::query(
                    "insert into conversation_events (tenant_id, conversation_id, session_id, kind, actor, detail, at) \
                     values ($1, $2, $3, $4, $5, $6, $7)",
                )
                .bind(tenant)
                .bind(m.conversation)
                .bind(m.session)
                .bind(m.kind)
                .bind(m.actor)
                .bind(m.detail)
                .bind(now)
                .execute(&mut **tx)
                .await?;
                Ok(())
            }

            /// Refuses a skill group that is not the tenant's.
            async fn group_exists(
                tx: &mut sqlx::Transaction<'_, $DB>,
                tenant: i64,
                group: kefu_domain::SkillGroupId,
            ) -> $crate::Result<()> {
                let exists: i64 = sqlx::query_scalar(
                    "select count(*) from skill_groups where tenant_id = $1 and id = $2",
                )
                .bind(tenant)
                .bind(group.0)
                .fetch_one(&mut **tx)
                .await?;
                if exists == 0 {
                    return Err($crate::StoreError::UnknownSkillGroup(group));
                }
                Ok(())
            }

            /// Puts the conversation at the end of `group`'s queue if it is in one of
            /// `from_states`, and records `queued`; false when it was in another state.
            async fn join_queue(
                tx: &mut sqlx::Transaction<'_, $DB>,
                tenant: i64,
                conversation: i64,
                group: kefu_domain::SkillGroupId,
                from_states: [&str; 2],
                actor: &str,
                now: i64,
            ) -> $crate::Result<bool> {
                Self::join_queue_at(tx, tenant, conversation, group, from_states, actor, now, now).await
            }

            /// [`Self::join_queue`] with the place in the queue given by `queued_at`: a
            /// conversation taken back from a vanished agent keeps the place it had.
            #[allow(clippy::too_many_arguments)]
            async fn join_queue_at(
                tx: &mut sqlx::Transaction<'_, $DB>,
                tenant: i64,
                conversation: i64,
                group: kefu_domain::SkillGroupId,
                from_states: [&str; 2],
                actor: &str,
                queued_at: i64,
                now: i64,
            ) -> $crate::Result<bool> {
                let n = sqlx::query(
                    "update conversations set state = 'queued', skill_group_id = $3, queued_at = $7, \
                     agent_id = null, reply_deadline = null, recover = false, requeue_at = null, \
                     pending_choice = null, updated_at = $4 \
                     where tenant_id = $1 and id = $2 and state in ($5, $6)",
                )
                .bind(tenant)
                .bind(conversation)
                .bind(group.0)
                .bind(now)
                .bind(from_states[0])
                .bind(from_states[1])
                .bind(queued_at)
                .execute(&mut **tx)
                .await?
                .rows_affected();
                if n == 0 {
                    return Ok(false);
                }
                let detail = format!("{{\"skill_group_id\":{}}}", group.0);
                let m = $crate::routing::Milestone {
                    conversation,
                    session: None,
                    kind: "queued",
                    actor,
                    detail: &detail,
                };
                Self::event(tx, tenant, m, now).await?;
                Ok(true)
            }

            /// Frees the agent's slot and closes their session.
            async fn end_session(
                tx: &mut sqlx::Transaction<'_, $DB>,
                tenant: i64,
                end: $crate::routing::SessionEnd<'_>,
                now: i64,
            ) -> $crate::Result<()> {
                if let Some(agent) = end.agent {
                    sqlx::query(
                        "update agent_states set active = active - 1 \
                         where tenant_id = $1 and account_id = $2 and active > 0",
                    )
                    .bind(tenant)
                    .bind(agent)
                    .execute(&mut **tx)
                    .await?;
                }
                sqlx::query(
                    "update conversation_sessions set ended_at = $3, end_reason = $4, categories = $5, note = $6 \
                     where tenant_id = $1 and id = $2 and ended_at is null",
                )
                .bind(tenant)
                .bind(end.session)
                .bind(now)
                .bind(end.reason)
                .bind(end.categories)
                .bind(end.note)
                .execute(&mut **tx)
                .await?;
                // The session list's figures, kept now so reports need not count them again.
                for sql in $crate::sql::reports::SESSION_ROLLUP {
                    sqlx::query(sql)
                        .bind(tenant)
                        .bind(end.session)
                        .execute(&mut **tx)
                        .await?;
                }
                Ok(())
            }

            /// Gives conversation `id` to `agent` in one transaction already holding the group
            /// lock: claims the conversation, opens a session, records the events.
            async fn hand_over(
                tx: &mut sqlx::Transaction<'_, $DB>,
                tenant: i64,
                h: $crate::routing::HandOver<'_>,
                now: i64,
            ) -> $crate::Result<Option<$crate::Assignment>> {
                let (id, group, agent) = (h.conversation, h.group, h.agent);
                let claimed = sqlx::query(
                    "update conversations set state = 'assigned', agent_id = $3, updated_at = $4, \
                     reply_deadline = null, recover = false, requeue_at = null, pending_choice = null \
                     where tenant_id = $1 and id = $2 and state = $5",
                )
                .bind(tenant)
                .bind(id)
                .bind(agent)
                .bind(now)
                .bind(h.from_state)
                .execute(&mut **tx)
                .await?
                .rows_affected();
                if claimed == 0 {
                    return Ok(None);
                }
                let session: i64 = sqlx::query_scalar(
                    "insert into conversation_sessions (tenant_id, conversation_id, agent_id, skill_group_id, started_at) \
                     values ($1, $2, $3, $4, $5) returning id",
                )
                .bind(tenant)
                .bind(id)
                .bind(agent)
                .bind(group)
                .bind(now)
                .fetch_one(&mut **tx)
                .await?;
                sqlx::query("update conversations set session_id = $3 where tenant_id = $1 and id = $2")
                    .bind(tenant)
                    .bind(id)
                    .bind(session)
                    .execute(&mut **tx)
                    .await?;
                let detail = format!("{{\"agent_id\":{agent}}}");
                let m = $crate::routing::Milestone {
                    conversation: id,
                    session: Some(session),
                    kind: h.kind,
                    actor: h.actor,
                    detail: &detail,
                };
                Self::event(tx, tenant, m, now).await?;
                let conversation = Self::conversation_in(tx, tenant, id)
                    .await?
                    .ok_or($crate::StoreError::NotFound)?;
                Ok(Some($crate::Assignment {
                    conversation,
                    agent_id: kefu_domain::AccountId(agent),
                    session_id: session,
                }))
            }

            /// Takes one slot of `agent` if they are online with room under `cap`.
            async fn claim_slot(
                tx: &mut sqlx::Transaction<'_, $DB>,
                tenant: i64,
                agent: i64,
                cap: Option<i64>,
                now: i64,
            ) -> $crate::Result<bool> {
                let claimed = sqlx::query(
                    "update agent_states set active = active + 1, last_assigned_at = $3 \
                     where tenant_id = $1 and account_id = $2 and status = 'online' \
                     and ($4 is null or active < $4)",
                )
                .bind(tenant)
                .bind(agent)
                .bind(now)
                .bind(cap)
                .execute(&mut **tx)
                .await?
                .rows_affected();
                Ok(claimed == 1)
            }
        }

        #[async_trait::async_trait]
        impl $crate::ConversationStore for $S {
            async fn set_agent_status(
                &self,
                tenant: kefu_domain::TenantId,
                agent: kefu_domain::AccountId,
                status: $crate::AgentStatus,
                now: i64,
            ) -> $crate::Result<$crate::AgentState> {
                let mut tx = self.writer.begin_with($BEGIN).await?;
                // Writing the tenant row serialises status changes of one tenant, so the
                // online count and the change happen as one.
                let max_online: Option<i64> = sqlx::query_scalar(
                    "update tenants set updated_at = updated_at where id = $1 returning max_online",
                )
                .bind(tenant.0)
                .fetch_optional(&mut *tx)
                .await?;
                let max_online = max_online.ok_or($crate::StoreError::NotFound)?;
                let current: Option<String> = sqlx::query_scalar(
                    "select status from agent_states where tenant_id = $1 and account_id = $2",
                )
                .bind(tenant.0)
                .bind(agent.0)
                .fetch_optional(&mut *tx)
                .await?;
                let changed = current.as_deref() != Some(status.as_str());
                if status == $crate::AgentStatus::Online && changed {
                    let online: i64 = sqlx::query_scalar(
                        "select count(*) from agent_states where tenant_id = $1 and status = 'online'",
                    )
                    .bind(tenant.0)
                    .fetch_one(&mut *tx)
                    .await?;
                    if online >= max_online {
                        return Err($crate::StoreError::OnlineLimitReached { max: max_online });
                    }
                }
                if changed {
                    sqlx::query(
                        // Going online counts as being seen by a console: the grace period runs
                    // from here until a console socket keeps it alive.
                    "insert into agent_states (tenant_id, account_id, status, status_since, console_seen_at) \
                         values ($1, $2, $3, $4, $4) on conflict (tenant_id, account_id) do update set \
                         status = excluded.status, status_since = excluded.status_since, \
                         console_seen_at = case when excluded.status = 'online' then excluded.console_seen_at \
                         else agent_states.console_seen_at end, \
                         console_lost_at = case when excluded.status = 'online' then null else agent_states.console_lost_at end",
                    )
                    .bind(tenant.0)
                    .bind(agent.0)
                    .bind(status.as_str())
                    .bind(now)
                    .execute(&mut *tx)
                    .await?;
                    sqlx::query(
                        "insert into agent_status_log (tenant_id, account_id, status, at) values ($1, $2, $3, $4)",
                    )
                    .bind(tenant.0)
                    .bind(agent.0)
                    .bind(status.as_str())
                    .bind(now)
                    .execute(&mut *tx)
                    .await?;
                }
                let row: $crate::sql::rows::AgentStateRow = sqlx::query_as(
                    concat!(
                        "select ",
                        $crate::sql::rows::AGENT_STATE_COLUMNS!(),
                        " from agent_states where tenant_id = $1 and account_id = $2"
                    ),
                )
                .bind(tenant.0)
                .bind(agent.0)
                .fetch_one(&mut *tx)
                .await?;
                tx.commit().await?;
                Ok(row.into())
            }

            async fn agent_states(
                &self,
                tenant: kefu_domain::TenantId,
            ) -> $crate::Result<Vec<$crate::AgentState>> {
                let rows: Vec<$crate::sql::rows::AgentStateRow> = sqlx::query_as(
                    concat!(
                        "select ",
                        $crate::sql::rows::AGENT_STATE_COLUMNS!(),
                        " from agent_states where tenant_id = $1 order by account_id"
                    ),
                )
                .bind(tenant.0)
                .fetch_all(&self.pool)
                .await?;
                Ok(rows.into_iter().map(Into::into).collect())
            }

            async fn set_group_routing(
                &self,
                tenant: kefu_domain::TenantId,
                group: kefu_domain::SkillGroupId,
                routing: &$crate::GroupRouting,
                now: i64,
            ) -> $crate::Result<()> {
                let n = sqlx::query(
                    "update skill_groups set agent_cap = $3, strategy = $4, updated_at = $5 \
                     where tenant_id = $1 and id = $2",
                )
                .bind(tenant.0)
                .bind(group.0)
                .bind(routing.agent_cap)
                .bind(routing.strategy.as_str())
                .bind(now)
                .execute(&self.writer)
                .await?
                .rows_affected();
                if n == 0 {
                    return Err($crate::StoreError::UnknownSkillGroup(group));
                }
                Ok(())
            }

            async fn group_routing(
                &self,
                tenant: kefu_domain::TenantId,
                group: kefu_domain::SkillGroupId,
            ) -> $crate::Result<Option<$crate::GroupRouting>> {
                let row: Option<(i64, String)> = sqlx::query_as(
                    "select agent_cap, strategy from skill_groups where tenant_id = $1 and id = $2",
                )
                .bind(tenant.0)
                .bind(group.0)
                .fetch_optional(&self.pool)
                .await?;
                Ok(row.map(|(agent_cap, strategy)| $crate::GroupRouting {
                    agent_cap,
                    strategy: $crate::Strategy::parse(&strategy)
                        .unwrap_or($crate::Strategy::LeastBusy),
                }))
            }

            async fn set_member_cap(
                &self,
                tenant: kefu_domain::TenantId,
                group: kefu_domain::SkillGroupId,
                agent: kefu_domain::AccountId,
                cap: Option<i64>,
            ) -> $crate::Result<()> {
                let n = sqlx::query(
                    "update skill_group_members set cap = $4 \
                     where tenant_id = $1 and skill_group_id = $2 and account_id = $3",
                )
                .bind(tenant.0)
                .bind(group.0)
                .bind(agent.0)
                .bind(cap)
                .execute(&self.writer)
                .await?
                .rows_affected();
                if n == 0 {
                    return Err($crate::StoreError::NotFound);
                }
                Ok(())
            }

            async fn open_conversation(
                &self,
                tenant: kefu_domain::TenantId,
                buyer: &str,
                service_account: &str,
                channel: &str,
                now: i64,
            ) -> $crate::Result<($crate::Conversation, bool)> {
                let mut tx = self.writer.begin_with($BEGIN).await?;
                let inserted: Option<i64> = sqlx::query_scalar(
                    "insert into conversations (tenant_id, buyer, service_account, channel, state, created_at, updated_at) \
                     values ($1, $2, $3, $4, 'flow', $5, $5) \
                     on conflict (tenant_id, buyer, service_account) where state <> 'ended' do nothing returning id",
                )
                .bind(tenant.0)
                .bind(buyer)
                .bind(service_account)
                .bind(channel)
                .bind(now)
                .fetch_optional(&mut *tx)
                .await?;
                let (id, created) = match inserted {
                    Some(id) => {
                        let actor = format!("buyer:{buyer}");
                        let m = $crate::routing::Milestone {
                            conversation: id,
                            session: None,
                            kind: "created",
                            actor: &actor,
                            detail: "{}",
                        };
                        Self::event(&mut tx, tenant.0, m, now).await?;
                        (id, true)
                    }
                    None => {
                        let id: i64 = sqlx::query_scalar(
                            "select id from conversations where tenant_id = $1 and buyer = $2 \
                             and service_account = $3 and state <> 'ended'",
                        )
                        .bind(tenant.0)
                        .bind(buyer)
                        .bind(service_account)
                        .fetch_one(&mut *tx)
                        .await?;
                        (id, false)
                    }
                };
                let conversation = Self::conversation_in(&mut tx, tenant.0, id)
                    .await?
                    .ok_or($crate::StoreError::NotFound)?;
                tx.commit().await?;
                Ok((conversation, created))
            }

            async fn enqueue(
                &self,
                tenant: kefu_domain::TenantId,
                conversation: i64,
                group: kefu_domain::SkillGroupId,
                actor: &str,
                now: i64,
            ) -> $crate::Result<$crate::Conversation> {
                let mut tx = self.writer.begin_with($BEGIN).await?;
                Self::group_exists(&mut tx, tenant.0, group).await?;
                let from = ["flow", "queued"];
                if !Self::join_queue(&mut tx, tenant.0, conversation, group, from, actor, now).await? {
                    let current = Self::conversation_in(&mut tx, tenant.0, conversation).await?;
                    return Err(match current {
                        None => $crate::StoreError::NotFound,
                        Some(c) => $crate::StoreError::Conflict(format!(
                            "the conversation is {}; only a conversation with the bot or in a queue can join a queue",
                            c.state.as_str()
                        )),
                    });
                }
                let c = Self::conversation_in(&mut tx, tenant.0, conversation)
                    .await?
                    .ok_or($crate::StoreError::NotFound)?;
                tx.commit().await?;
                Ok(c)
            }

            async fn assign_batch(
                &self,
                tenant: kefu_domain::TenantId,
                group: kefu_domain::SkillGroupId,
                now: i64,
                max: usize,
            ) -> $crate::Result<Vec<$crate::Assignment>> {
                // Nobody waiting: no lock needed (a buyer queued just now drains their own).
                let waiting: Option<i64> = sqlx::query_scalar(
                    "select id from conversations where tenant_id = $1 and skill_group_id = $2 \
                     and state = 'queued' limit 1",
                )
                .bind(tenant.0)
                .bind(group.0)
                .fetch_optional(&self.pool)
                .await?;
                if waiting.is_none() {
                    return Ok(Vec::new());
                }
                let mut tx = self.writer.begin_with($BEGIN).await?;
                // The lock: one batch per group at a time, on every node.
                let settings: Option<(i64, String, i64)> = sqlx::query_as(
                    "update skill_groups set updated_at = $3 where tenant_id = $1 and id = $2 \
                     returning agent_cap, strategy, rr_last_agent",
                )
                .bind(tenant.0)
                .bind(group.0)
                .bind(now)
                .fetch_optional(&mut *tx)
                .await?;
                let Some((group_cap, strategy, mut rr_last)) = settings else {
                    return Ok(Vec::new());
                };
                let strategy =
                    $crate::Strategy::parse(&strategy).unwrap_or($crate::Strategy::LeastBusy);
                if strategy == $crate::Strategy::Manual {
                    return Ok(Vec::new());
                }
                let heads: Vec<i64> = sqlx::query_scalar(
                    "select id from conversations where tenant_id = $1 and skill_group_id = $2 \
                     and state = 'queued' order by queued_at, id limit $3",
                )
                .bind(tenant.0)
                .bind(group.0)
                .bind(max.max(1) as i64)
                .fetch_all(&mut *tx)
                .await?;
                let mut candidates: Vec<(i64, i64, i64, i64)> = sqlx::query_as(
                    "select s.account_id, coalesce(m.cap, $3) as cap, s.active, s.last_assigned_at \
                     from skill_group_members m join agent_states s \
                       on s.tenant_id = m.tenant_id and s.account_id = m.account_id \
                     join accounts a on a.id = m.account_id and a.disabled = false \
                     where m.tenant_id = $1 and m.skill_group_id = $2 and s.status = 'online' \
                       and s.active < coalesce(m.cap, $3)",
                )
                .bind(tenant.0)
                .bind(group.0)
                .bind(group_cap)
                .fetch_all(&mut *tx)
                .await?;
                let mut out = Vec::new();
                'heads: for head in heads {
                    let order = $crate::routing::order(strategy, rr_last, candidates.clone());
                    for (agent, cap) in order {
                        // Another group may have filled this agent meanwhile: the conditional
                        // claim is the truth, the candidate list only the order.
                        if !Self::claim_slot(&mut tx, tenant.0, agent, Some(cap), now).await? {
                            candidates.retain(|c| c.0 != agent);
                            continue;
                        }
                        let h = $crate::routing::HandOver {
                            conversation: head,
                            group: Some(group.0),
                            agent,
                            from_state: "queued",
                            kind: "assigned",
                            actor: "system",
                        };
                        let Some(assigned) = Self::hand_over(&mut tx, tenant.0, h, now).await? else {
                            // Taken or ended by someone else: give the slot back.
                            sqlx::query(
                                "update agent_states set active = active - 1 \
                                 where tenant_id = $1 and account_id = $2 and active > 0",
                            )
                            .bind(tenant.0)
                            .bind(agent)
                            .execute(&mut *tx)
                            .await?;
                            continue 'heads;
                        };
                        rr_last = agent;
                        if let Some(c) = candidates.iter_mut().find(|c| c.0 == agent) {
                            c.2 += 1;
                            c.3 = now;
                        }
                        candidates.retain(|c| c.2 < c.1);
                        out.push(assigned);
                        continue 'heads;
                    }
                    // Nobody has room for this buyer: those behind them wait too (FIFO).
                    break;
                }
                if out.is_empty() {
                    return Ok(out);
                }
                if strategy == $crate::Strategy::RoundRobin {
                    sqlx::query("update skill_groups set rr_last_agent = $3 where tenant_id = $1 and id = $2")
                        .bind(tenant.0)
                        .bind(group.0)
                        .bind(rr_last)
                        .execute(&mut *tx)
                        .await?;
                }
                tx.commit().await?;
                Ok(out)
            }

            async fn take_conversation(
                &self,
                tenant: kefu_domain::TenantId,
                conversation: i64,
                agent: kefu_domain::AccountId,
                actor: &str,
                now: i64,
            ) -> $crate::Result<$crate::Assignment> {
                let mut tx = self.writer.begin_with($BEGIN).await?;
                let current = Self::conversation_in(&mut tx, tenant.0, conversation)
                    .await?
                    .ok_or($crate::StoreError::NotFound)?;
                let group = current.skill_group_id.map(|g| g.0);
                if let Some(g) = group {
                    sqlx::query("update skill_groups set updated_at = $3 where tenant_id = $1 and id = $2")
                        .bind(tenant.0)
                        .bind(g)
                        .bind(now)
                        .execute(&mut *tx)
                        .await?;
                }
                if current.state != $crate::ConversationState::Queued {
                    return Err($crate::StoreError::Conflict(format!(
                        "the conversation is {}, not queued; refresh the queue",
                        current.state.as_str()
                    )));
                }
                // Taking by hand may go past the group's cap, not past being online.
                if !Self::claim_slot(&mut tx, tenant.0, agent.0, None, now).await? {
                    return Err($crate::StoreError::Conflict(
                        "go online before taking buyers from the queue".into(),
                    ));
                }
                let h = $crate::routing::HandOver {
                    conversation,
                    group,
                    agent: agent.0,
                    from_state: "queued",
                    kind: "accepted",
                    actor,
                };
                let assigned = Self::hand_over(&mut tx, tenant.0, h, now)
                .await?
                .ok_or_else(|| $crate::StoreError::Conflict("another agent took this buyer first".into()))?;
                tx.commit().await?;
                Ok(assigned)
            }

            async fn transfer_conversation(
                &self,
                tenant: kefu_domain::TenantId,
                conversation: i64,
                from: kefu_domain::AccountId,
                to: $crate::TransferTarget,
                note: &str,
                now: i64,
            ) -> $crate::Result<$crate::Conversation> {
                let mut tx = self.writer.begin_with($BEGIN).await?;
                let current = Self::conversation_in(&mut tx, tenant.0, conversation)
                    .await?
                    .ok_or($crate::StoreError::NotFound)?;
                if current.state != $crate::ConversationState::Assigned || current.agent_id != Some(from) {
                    return Err($crate::StoreError::Conflict(
                        "only the serving agent transfers an ongoing conversation".into(),
                    ));
                }
                if to == $crate::TransferTarget::Agent(from) {
                    return Err($crate::StoreError::Conflict(
                        "the conversation is already yours; pick another agent".into(),
                    ));
                }
                let current_group = current.skill_group_id.map(|g| g.0);
                let (detail, group_after, within) = match to {
                    $crate::TransferTarget::Agent(agent) => {
                        // The receiver must be an online agent of this tenant; the cap does not
                        // stop a colleague's hand-over.
                        if !Self::claim_slot(&mut tx, tenant.0, agent.0, None, now).await? {
                            return Err($crate::StoreError::Conflict(
                                "that agent is not online; refresh the list and pick another".into(),
                            ));
                        }
                        // Within the group when the receiver is one of its members.
                        let member: i64 = sqlx::query_scalar(
                            "select count(*) from skill_group_members \
                             where tenant_id = $1 and skill_group_id = $2 and account_id = $3",
                        )
                        .bind(tenant.0)
                        .bind(current_group.unwrap_or(0))
                        .bind(agent.0)
                        .fetch_one(&mut *tx)
                        .await?;
                        (
                            serde_json::json!({"from": from.0, "to_agent": agent.0, "note": note, "group": current_group}),
                            current_group,
                            member > 0,
                        )
                    }
                    $crate::TransferTarget::Group(group) => {
                        Self::group_exists(&mut tx, tenant.0, group).await?;
                        (
                            serde_json::json!({"from": from.0, "to_group": group.0, "note": note, "group": current_group}),
                            Some(group.0),
                            current_group == Some(group.0),
                        )
                    }
                    $crate::TransferTarget::BuyerChoice => (
                        serde_json::json!({"from": from.0, "to": "buyer_choice", "note": note, "group": current_group}),
                        current_group,
                        false,
                    ),
                };
                sqlx::query(
                    "update agent_states set transfers_within = transfers_within + $3, \
                     transfers_across = transfers_across + $4 where tenant_id = $1 and account_id = $2",
                )
                .bind(tenant.0)
                .bind(from.0)
                .bind(i64::from(within))
                .bind(i64::from(!within))
                .execute(&mut *tx)
                .await?;
                let closing = $crate::routing::SessionEnd {
                    agent: Some(from.0),
                    session: current.session_id,
                    reason: "transferred",
                    categories: "",
                    note,
                };
                Self::end_session(&mut tx, tenant.0, closing, now).await?;
                // Reports count transfers within and across groups from these events.
                let mut detail = detail;
                detail["within"] = serde_json::Value::Bool(within);
                let detail = detail.to_string();
                let actor = kefu_domain::authz::subject(from);
                let m = $crate::routing::Milestone {
                    conversation,
                    session: current.session_id,
                    kind: "transferred",
                    actor: &actor,
                    detail: &detail,
                };
                Self::event(&mut tx, tenant.0, m, now).await?;
                match to {
                    $crate::TransferTarget::Agent(agent) => {
                        let h = $crate::routing::HandOver {
                            conversation,
                            group: group_after,
                            agent: agent.0,
                            from_state: "assigned",
                            kind: "assigned",
                            actor: &actor,
                        };
                        Self::hand_over(&mut tx, tenant.0, h, now)
                            .await?
                            .ok_or($crate::StoreError::NotFound)?;
                    }
                    $crate::TransferTarget::Group(group) => {
                        let from = ["assigned", "assigned"];
                        Self::join_queue(&mut tx, tenant.0, conversation, group, from, &actor, now)
                            .await?;
                    }
                    $crate::TransferTarget::BuyerChoice => {
                        sqlx::query(
                            "update conversations set state = 'flow', agent_id = null, reply_deadline = null, \
                             recover = false, requeue_at = null, updated_at = $3 \
                             where tenant_id = $1 and id = $2 and state = 'assigned'",
                        )
                        .bind(tenant.0)
                        .bind(conversation)
                        .bind(now)
                        .execute(&mut *tx)
                        .await?;
                    }
                }
                let c = Self::conversation_in(&mut tx, tenant.0, conversation)
                    .await?
                    .ok_or($crate::StoreError::NotFound)?;
                tx.commit().await?;
                Ok(c)
            }

            async fn end_conversation(
                &self,
                tenant: kefu_domain::TenantId,
                conversation: i64,
                end: $crate::EndRequest,
                now: i64,
            ) -> $crate::Result<$crate::Conversation> {
                let mut tx = self.writer.begin_with($BEGIN).await?;
                let current = Self::conversation_in(&mut tx, tenant.0, conversation)
                    .await?
                    .ok_or($crate::StoreError::NotFound)?;
                let n = sqlx::query(
                    "update conversations set state = 'ended', end_reason = $3, ended_by = $4, ended_at = $5, \
                     recover = false, reply_deadline = null, requeue_at = null, pending_choice = null, \
                     updated_at = $5 where tenant_id = $1 and id = $2 and state <> 'ended' \
                     and ($6 is null or (state in ('assigned', 'flow') and reply_deadline <= $6))",
                )
                .bind(tenant.0)
                .bind(conversation)
                .bind(&end.reason)
                .bind(&end.actor)
                .bind(now)
                .bind(end.due_by)
                .execute(&mut *tx)
                .await?
                .rows_affected();
                if n == 0 && end.due_by.is_some() {
                    return Err($crate::StoreError::Conflict(
                        "the buyer answered in time, or the conversation moved on".into(),
                    ));
                }
                if n == 0 {
                    return Err($crate::StoreError::Conflict(
                        "the conversation has already ended".into(),
                    ));
                }
                if current.state == $crate::ConversationState::Assigned {
                    let categories = end
                        .categories
                        .iter()
                        .map(i64::to_string)
                        .collect::<Vec<_>>()
                        .join(",");
                    let closing = $crate::routing::SessionEnd {
                        agent: current.agent_id.map(|a| a.0),
                        session: current.session_id,
                        reason: &end.reason,
                        categories: &categories,
                        note: &end.note,
                    };
                    Self::end_session(&mut tx, tenant.0, closing, now).await?;
                }
                let detail = serde_json::json!({
                    "reason": end.reason,
                    "categories": end.categories,
                    "note": end.note,
                })
                .to_string();
                let m = $crate::routing::Milestone {
                    conversation,
                    session: current.session_id,
                    kind: "ended",
                    actor: &end.actor,
                    detail: &detail,
                };
                Self::event(&mut tx, tenant.0, m, now).await?;
                let c = Self::conversation_in(&mut tx, tenant.0, conversation)
                    .await?
                    .ok_or($crate::StoreError::NotFound)?;
                tx.commit().await?;
                Ok(c)
            }

            async fn get_conversation(
                &self,
                tenant: kefu_domain::TenantId,
                id: i64,
            ) -> $crate::Result<Option<$crate::Conversation>> {
                let row: Option<$crate::sql::rows::ConversationRow> = sqlx::query_as(concat!(
                    "select ",
                    $crate::sql::rows::CONVERSATION_COLUMNS!(),
                    " from conversations where tenant_id = $1 and id = $2"
                ))
                .bind(tenant.0)
                .bind(id)
                .fetch_optional(&self.pool)
                .await?;
                Ok(row.map(Into::into))
            }

            async fn record_agent_reply(
                &self,
                tenant: kefu_domain::TenantId,
                conversation: i64,
                session: i64,
                agent: kefu_domain::AccountId,
                now: i64,
                reply_deadline: Option<i64>,
            ) -> $crate::Result<()> {
                let mut tx = self.writer.begin_with($BEGIN).await?;
                sqlx::query(
                    "update conversations set reply_deadline = $4 \
                     where tenant_id = $1 and id = $2 and agent_id = $3 and state = 'assigned'",
                )
                .bind(tenant.0)
                .bind(conversation)
                .bind(agent.0)
                .bind(reply_deadline)
                .execute(&mut *tx)
                .await?;
                let first = sqlx::query(
                    "update conversation_sessions set first_reply_at = $3 \
                     where tenant_id = $1 and id = $2 and first_reply_at is null",
                )
                .bind(tenant.0)
                .bind(session)
                .bind(now)
                .execute(&mut *tx)
                .await?
                .rows_affected();
                if first == 1 {
                    let actor = kefu_domain::authz::subject(agent);
                    let m = $crate::routing::Milestone {
                        conversation,
                        session: Some(session),
                        kind: "first_agent_reply",
                        actor: &actor,
                        detail: "{}",
                    };
                    Self::event(&mut tx, tenant.0, m, now).await?;
                }
                tx.commit().await?;
                Ok(())
            }

            async fn list_conversations(
                &self,
                tenant: kefu_domain::TenantId,
                filter: &$crate::ConversationFilter,
            ) -> $crate::Result<Vec<$crate::Conversation>> {
                let rows: Vec<$crate::sql::rows::ConversationRow> = sqlx::query_as(concat!(
                    "select ",
                    $crate::sql::rows::CONVERSATION_COLUMNS!(),
                    " from conversations where tenant_id = $1 \
                     and ($2 is null or agent_id = $2) \
                     and ($3 is null or state = $3) \
                     and ($4 is null or skill_group_id = $4) \
                     and ($5 = false or state <> 'ended') \
                     and ($7 is null or buyer = $7) \
                     order by updated_at desc, id desc limit $6"
                ))
                .bind(tenant.0)
                .bind(filter.agent.map(|a| a.0))
                .bind(filter.state.map(|s| s.as_str()))
                .bind(filter.skill_group.map(|g| g.0))
                .bind(filter.open_only)
                .bind(if filter.limit > 0 { filter.limit } else { 100 })
                .bind(filter.buyer.as_deref())
                .fetch_all(&self.pool)
                .await?;
                Ok(rows.into_iter().map(Into::into).collect())
            }

            async fn queue_of(
                &self,
                tenant: kefu_domain::TenantId,
                group: kefu_domain::SkillGroupId,
            ) -> $crate::Result<Vec<$crate::Conversation>> {
                let rows: Vec<$crate::sql::rows::ConversationRow> = sqlx::query_as(concat!(
                    "select ",
                    $crate::sql::rows::CONVERSATION_COLUMNS!(),
                    " from conversations where tenant_id = $1 and skill_group_id = $2 and state = 'queued' \
                     order by queued_at, id"
                ))
                .bind(tenant.0)
                .bind(group.0)
                .fetch_all(&self.pool)
                .await?;
                Ok(rows.into_iter().map(Into::into).collect())
            }

            async fn conversation_events(
                &self,
                tenant: kefu_domain::TenantId,
                conversation: i64,
            ) -> $crate::Result<Vec<$crate::ConversationEvent>> {
                let rows: Vec<(i64, i64, Option<i64>, String, String, String, i64)> = sqlx::query_as(
                    "select id, conversation_id, session_id, kind, actor, detail, at from conversation_events \
                     where tenant_id = $1 and conversation_id = $2 order by id",
                )
                .bind(tenant.0)
                .bind(conversation)
                .fetch_all(&self.pool)
                .await?;
                Ok(rows
                    .into_iter()
                    .map(|(id, conversation_id, session_id, kind, actor, detail, at)| {
                        $crate::ConversationEvent {
                            id,
                            conversation_id,
                            session_id,
                            kind,
                            actor,
                            detail,
                            at,
                        }
                    })
                    .collect())
            }
        }
    };
}

pub(crate) use impl_conversation_store;
