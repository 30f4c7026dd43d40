//! The conversation engine's storage on SQLite and (when configured) PostgreSQL: agent status
//! against the plan, every routing strategy, FIFO queues, ending, events, and the races.

use kefu_domain::{AccountId, Role, SkillGroupId, TenantId};
use kefu_store::testing::{databases, owner};
use kefu_store::*;
use std::sync::Arc;

struct Shop {
    store: Arc<dyn Store>,
    tenant: TenantId,
    group: SkillGroupId,
    agents: Vec<AccountId>,
    name: &'static str,
}

/// A tenant with `agents` agents in one skill group, plan `max_online`.
async fn shop(db: &kefu_store::testing::TestDb, agents: usize, max_online: i64) -> Shop {
    let store = db.store().await;
    let (tenant, _) = store
        .create_tenant(
            NewTenant {
                code: "shop".into(),
                name: "Shop".into(),
                max_accounts: agents as i64 + 1,
                max_online,
                im_secret: "k".repeat(64),
            },
            owner("boss"),
            0,
        )
        .await
        .unwrap();
    let group = store
        .create_skill_group(tenant.id, "售前", 0)
        .await
        .unwrap();
    let mut ids = Vec::new();
    for i in 0..agents {
        let mut a = owner(&format!("agent{i}"));
        a.role = Role::Agent;
        a.skill_group_ids = vec![group.id];
        ids.push(store.create_account(tenant.id, a, 0).await.unwrap().id);
    }
    Shop {
        store,
        tenant: tenant.id,
        group: group.id,
        agents: ids,
        name: db.name,
    }
}

impl Shop {
    /// A conversation that must exist.
    async fn conversation(&self, id: i64) -> Conversation {
        self.store
            .get_conversation(self.tenant, id)
            .await
            .unwrap()
            .expect("the conversation exists")
    }

    async fn online(&self, agent: AccountId, now: i64) {
        self.store
            .set_agent_status(self.tenant, agent, AgentStatus::Online, now)
            .await
            .unwrap();
    }

    /// A buyer arrives and asks for a human: opened, queued, then assignment tried.
    async fn arrive(&self, buyer: &str, now: i64) -> Conversation {
        let (c, created) = self
            .store
            .open_conversation(self.tenant, buyer, "@customer_service_account", "im", now)
            .await
            .unwrap();
        assert!(created);
        self.store
            .enqueue(
                self.tenant,
                c.id,
                self.group,
                &format!("buyer:{buyer}"),
                now,
            )
            .await
            .unwrap()
    }

    async fn assign_all(&self, now: i64) -> Vec<Assignment> {
        let mut out = Vec::new();
        while let Some(a) = self
            .store
            .assign_next(self.tenant, self.group, now)
            .await
            .unwrap()
        {
            out.push(a);
        }
        out
    }

    async fn strategy(&self, strategy: Strategy, cap: i64) {
        self.store
            .set_group_routing(
                self.tenant,
                self.group,
                &GroupRouting {
                    agent_cap: cap,
                    strategy,
                },
                0,
            )
            .await
            .unwrap();
    }

    async fn end(&self, id: i64, now: i64) -> Conversation {
        self.store
            .end_conversation(
                self.tenant,
                id,
                EndRequest {
                    reason: "agent".into(),
                    actor: "account:1".into(),
                    categories: vec![3, 4],
                    note: "done".into(),
                    due_by: None,
                },
                now,
            )
            .await
            .unwrap()
    }
}

#[tokio::test]
async fn going_online_is_capped_by_the_plan_even_when_everyone_tries_at_once() {
    for db in databases().await {
        let s = Arc::new(shop(&db, 6, 2).await);
        let mut tasks = Vec::new();
        for &agent in &s.agents {
            let s = s.clone();
            tasks.push(tokio::spawn(async move {
                s.store
                    .set_agent_status(s.tenant, agent, AgentStatus::Online, 5)
                    .await
            }));
        }
        let mut ok = 0;
        for t in tasks {
            match t.await.unwrap() {
                Ok(state) => {
                    assert_eq!(state.status, AgentStatus::Online);
                    ok += 1;
                }
                Err(StoreError::OnlineLimitReached { max }) => assert_eq!(max, 2),
                Err(e) => panic!("{}: {e}", s.name),
            }
        }
        assert_eq!(ok, 2, "{}", s.name);
        // Setting the same status again is not a second online seat.
        let online: Vec<_> = s
            .store
            .agent_states(s.tenant)
            .await
            .unwrap()
            .into_iter()
            .filter(|a| a.status == AgentStatus::Online)
            .collect();
        assert_eq!(online.len(), 2);
        s.online(online[0].account_id, 6).await;
        // Suspending frees a place for another agent.
        s.store
            .set_agent_status(s.tenant, online[0].account_id, AgentStatus::Suspended, 7)
            .await
            .unwrap();
        let other = s
            .agents
            .iter()
            .find(|a| !online.iter().any(|o| o.account_id == **a))
            .unwrap();
        s.online(*other, 8).await;
    }
}

#[tokio::test]
async fn two_hundred_buyers_over_five_agents_with_cap_three_leave_fifteen_assigned_in_fifo_order() {
    for db in databases().await {
        let s = Arc::new(shop(&db, 5, 5).await);
        for &a in &s.agents {
            s.online(a, 1).await;
        }
        let mut tasks = Vec::new();
        for i in 0..200 {
            let s = s.clone();
            tasks.push(tokio::spawn(async move {
                s.arrive(&format!("buyer{i:03}"), 10).await;
                s.assign_all(10).await.len()
            }));
        }
        let mut assigned = 0;
        for t in tasks {
            assigned += t.await.unwrap();
        }
        assert_eq!(assigned, 15, "{}", s.name);
        let queue = s.store.queue_of(s.tenant, s.group).await.unwrap();
        assert_eq!(queue.len(), 185, "{}", s.name);
        for a in s.store.agent_states(s.tenant).await.unwrap() {
            assert_eq!(
                a.active, 3,
                "{}: agent {} past or under cap",
                s.name, a.account_id
            );
        }
        let open = s
            .store
            .list_conversations(
                s.tenant,
                &ConversationFilter {
                    state: Some(ConversationState::Assigned),
                    limit: 1000,
                    ..Default::default()
                },
            )
            .await
            .unwrap();
        assert_eq!(open.len(), 15);
        // The rest drain in queue order as slots free.
        let mut now = 20;
        let mut drained = 0;
        let mut ends: Vec<i64> = open.iter().map(|c| c.id).collect();
        while let Some(id) = ends.pop() {
            now += 1;
            let head = s.store.queue_of(s.tenant, s.group).await.unwrap();
            s.end(id, now).await;
            let got = s.assign_all(now).await;
            if let Some(first) = head.first() {
                assert_eq!(got.len(), 1, "{}", s.name);
                assert_eq!(got[0].conversation.id, first.id, "{}: not FIFO", s.name);
                ends.insert(0, first.id);
                drained += 1;
            }
            if drained == 185 {
                break;
            }
        }
        assert_eq!(drained, 185);
        assert!(
            s.store
                .queue_of(s.tenant, s.group)
                .await
                .unwrap()
                .is_empty()
        );
    }
}

#[tokio::test]
async fn no_buyer_is_given_twice_when_assignment_and_taking_race() {
    for db in databases().await {
        let s = Arc::new(shop(&db, 4, 4).await);
        for &a in &s.agents {
            s.online(a, 1).await;
        }
        s.strategy(Strategy::LeastBusy, 100).await;
        for round in 0..25 {
            let c = s.arrive(&format!("r{round}"), 10 + round).await;
            let mut tasks = Vec::new();
            for k in 0..6 {
                let s = s.clone();
                tasks.push(tokio::spawn(async move {
                    if k % 2 == 0 {
                        s.store
                            .assign_next(s.tenant, s.group, 20)
                            .await
                            .unwrap()
                            .is_some()
                    } else {
                        s.store
                            .take_conversation(s.tenant, c.id, s.agents[k % 4], "t", 20)
                            .await
                            .is_ok()
                    }
                }));
            }
            let mut winners = 0;
            for t in tasks {
                winners += usize::from(t.await.unwrap());
            }
            assert_eq!(winners, 1, "{}: round {round}", s.name);
        }
        let total: i64 = s
            .store
            .agent_states(s.tenant)
            .await
            .unwrap()
            .iter()
            .map(|a| a.active)
            .sum();
        assert_eq!(
            total, 25,
            "{}: slots taken must equal buyers assigned",
            s.name
        );
    }
}

#[tokio::test]
async fn each_strategy_picks_as_documented() {
    for db in databases().await {
        let s = shop(&db, 3, 3).await;
        let [a, b, c] = [s.agents[0], s.agents[1], s.agents[2]];
        for (i, &agent) in s.agents.iter().enumerate() {
            s.online(agent, i as i64).await;
        }
        // Round robin: in account order, continuing where it stopped.
        s.strategy(Strategy::RoundRobin, 3).await;
        let mut picked = Vec::new();
        for i in 0..4 {
            s.arrive(&format!("rr{i}"), 100 + i).await;
            picked.push(s.assign_all(100 + i).await[0].agent_id);
        }
        assert_eq!(picked, [a, b, c, a], "{}", s.name);
        // Least busy: a has 2, b and c have 1; b was assigned longer ago than c.
        s.strategy(Strategy::LeastBusy, 3).await;
        s.arrive("lb", 200).await;
        assert_eq!(s.assign_all(200).await[0].agent_id, b, "{}", s.name);
        // Longest idle: whoever's last assignment is oldest (c at 102), whatever the load.
        s.strategy(Strategy::LongestIdle, 3).await;
        s.arrive("li", 300).await;
        assert_eq!(s.assign_all(300).await[0].agent_id, c, "{}", s.name);
        // A member's own cap beats the group's.
        s.store
            .set_member_cap(s.tenant, s.group, a, Some(2))
            .await
            .unwrap();
        s.strategy(Strategy::LeastBusy, 3).await;
        // Loads: a 2 (cap 2, full), b 2, c 2: b and c have room.
        s.arrive("cap", 400).await;
        assert_ne!(s.assign_all(400).await[0].agent_id, a, "{}", s.name);
        // Manual: nobody is assigned; an online agent takes the buyer.
        s.strategy(Strategy::Manual, 3).await;
        let waiting = s.arrive("manual", 500).await;
        assert!(s.assign_all(500).await.is_empty());
        let taken = s
            .store
            .take_conversation(s.tenant, waiting.id, c, "account:c", 501)
            .await
            .unwrap();
        assert_eq!(taken.agent_id, c);
        let again = s
            .store
            .take_conversation(s.tenant, waiting.id, b, "account:b", 502)
            .await
            .unwrap_err();
        assert!(again.to_string().contains("assigned"), "{again}");
    }
}

#[tokio::test]
async fn ending_frees_the_slot_records_every_event_and_happens_once() {
    for db in databases().await {
        let s = shop(&db, 1, 1).await;
        let agent = s.agents[0];
        let waiting = s.arrive("b1", 10).await;
        assert_eq!(waiting.state, ConversationState::Queued);
        assert!(s.assign_all(11).await.is_empty(), "nobody online");
        let suspended = s
            .store
            .take_conversation(s.tenant, waiting.id, agent, "a", 12)
            .await
            .unwrap_err();
        assert!(suspended.to_string().contains("go online"), "{suspended}");
        s.online(agent, 13).await;
        let got = s.assign_all(14).await;
        assert_eq!(got.len(), 1);
        let ended = s.end(waiting.id, 20).await;
        assert_eq!(ended.state, ConversationState::Ended);
        assert_eq!(ended.end_reason.as_deref(), Some("agent"));
        let twice = s
            .store
            .end_conversation(
                s.tenant,
                waiting.id,
                EndRequest {
                    reason: "timeout".into(),
                    actor: "system".into(),
                    categories: vec![],
                    note: String::new(),
                    due_by: None,
                },
                21,
            )
            .await
            .unwrap_err();
        assert!(matches!(twice, StoreError::Conflict(_)), "{twice}");
        assert_eq!(s.store.agent_states(s.tenant).await.unwrap()[0].active, 0);
        let kinds: Vec<String> = s
            .store
            .conversation_events(s.tenant, waiting.id)
            .await
            .unwrap()
            .into_iter()
            .map(|e| e.kind)
            .collect();
        assert_eq!(
            kinds,
            ["created", "queued", "assigned", "ended"],
            "{}",
            s.name
        );
        // The same buyer coming back opens a new conversation.
        let (again, created) = s
            .store
            .open_conversation(s.tenant, "b1", "@customer_service_account", "im", 30)
            .await
            .unwrap();
        assert!(created);
        assert_ne!(again.id, waiting.id);
        // Ending a queued conversation needs no slot back.
        s.store
            .enqueue(s.tenant, again.id, s.group, "buyer:b1", 31)
            .await
            .unwrap();
        s.end(again.id, 32).await;
        assert_eq!(s.store.agent_states(s.tenant).await.unwrap()[0].active, 0);
        // Another tenant sees none of it.
        let other = s
            .store
            .get_conversation(TenantId(s.tenant.0 + 1000), again.id)
            .await
            .unwrap();
        assert!(other.is_none());
    }
}

#[tokio::test]
async fn flow_positions_written_at_once_each_land_and_say_whether_the_buyer_was_in_the_flow() {
    for db in databases().await {
        let s = shop(&db, 1, 1).await;
        let mut in_flow = Vec::new();
        for i in 0..20 {
            let (c, _) = s
                .store
                .open_conversation(
                    s.tenant,
                    &format!("f{i}"),
                    "@customer_service_account",
                    "im",
                    1,
                )
                .await
                .unwrap();
            in_flow.push(c.id);
        }
        // Queued: no longer in its flow, so its position is not written.
        let queued = s.arrive("q1", 2).await;
        let at = |node: &str, tries: i64| FlowPosition {
            version: 7,
            node: node.into(),
            tries,
            bot_answer: Some(tries * 10),
            bot_repeats: tries,
        };
        // Every conversation written concurrently; the first one twice in a row (the last
        // write wins, as written one by one); and the queued one.
        let mut writes = Vec::new();
        for (i, id) in in_flow.iter().enumerate().skip(1) {
            let store = s.store.clone();
            let (t, id, p) = (s.tenant, *id, at(&format!("n{i}"), i as i64));
            writes.push(tokio::spawn(async move {
                store
                    .set_flow_position(t, id, Some(&p), Some(1_000 + i as i64))
                    .await
            }));
        }
        let first = in_flow[0];
        let store = s.store.clone();
        let t = s.tenant;
        let (repeat, pos) = (at("again", 4), at("again", 5));
        let again = tokio::spawn(async move {
            let mut seen = Vec::new();
            for p in [&repeat, &pos] {
                seen.push(store.set_flow_position(t, first, Some(p), None).await);
            }
            seen
        });
        let store = s.store.clone();
        let stray = tokio::spawn(async move {
            store
                .set_flow_position(t, queued.id, Some(&at("x", 1)), Some(5))
                .await
        });
        for w in writes {
            assert!(w.await.unwrap().unwrap(), "{}", s.name);
        }
        let again: Vec<bool> = again
            .await
            .unwrap()
            .into_iter()
            .map(Result::unwrap)
            .collect();
        assert_eq!(again, [true, true], "{}", s.name);
        assert!(
            !stray.await.unwrap().unwrap(),
            "{}: a queued buyer is not in the flow",
            s.name
        );
        for (i, id) in in_flow.iter().enumerate().skip(1) {
            let c = s.conversation(*id).await;
            assert_eq!(c.flow, Some(at(&format!("n{i}"), i as i64)), "{}", s.name);
            assert_eq!(c.reply_deadline, Some(1_000 + i as i64), "{}", s.name);
        }
        let c = s.conversation(first).await;
        assert_eq!(c.flow, Some(at("again", 5)), "{}", s.name);
        assert_eq!(c.reply_deadline, None, "{}", s.name);
        let q = s.conversation(queued.id).await;
        assert_eq!(q.reply_deadline, None, "{}: left alone", s.name);
        assert_ne!(q.flow, Some(at("x", 1)), "{}", s.name);
    }
}

/// What the bot says to `buyer`: a robot message from the customer-service account.
fn robot_says(buyer: &str, text: &str, random: i64) -> NewMessage {
    let body =
        serde_json::json!([{"MsgType": "TIMTextElem", "MsgContent": {"Text": text}}]).to_string();
    NewMessage {
        from_account: "@customer_service_account".into(),
        to_account: buyer.into(),
        msg_seq: 0,
        msg_random: random,
        msg_time: 1,
        content_crc: random,
        body,
        cloud_custom_data: String::new(),
        text: text.into(),
        created_at: 1_000,
        callback: None,
        sender_role: "robot".into(),
        agent_id: None,
    }
}

#[tokio::test]
async fn a_bot_answer_and_where_the_buyer_then_waits_are_stored_together() {
    for db in databases().await {
        let s = shop(&db, 1, 1).await;
        let mut in_flow = Vec::new();
        for i in 0..12 {
            let buyer = format!("w{i}");
            let (c, _) = s
                .store
                .open_conversation(s.tenant, &buyer, "@customer_service_account", "im", 1)
                .await
                .unwrap();
            in_flow.push((buyer, c.id));
        }
        let queued = s.arrive("q1", 2).await;
        let at = |node: &str, tries: i64| FlowPosition {
            version: 3,
            node: node.into(),
            tries,
            bot_answer: Some(tries),
            bot_repeats: 1,
        };
        let answer = |buyer: &str, id: i64, i: i64| {
            let store = s.store.clone();
            let (t, buyer) = (s.tenant, buyer.to_string());
            let then = FlowMove {
                conversation: id,
                position: Some(at(&format!("n{i}"), i)),
                reply_deadline: Some(5_000 + i),
            };
            tokio::spawn(async move {
                store
                    .append_then_move(t, robot_says(&buyer, &format!("answer {i}"), i), 0, then)
                    .await
            })
        };
        // All at once (batched together), alongside plain appends and lone flow writes, and
        // one for the queued buyer: their message is stored, their conversation left alone.
        let mut answers: Vec<_> = in_flow
            .iter()
            .enumerate()
            .map(|(i, (buyer, id))| answer(buyer, *id, i as i64))
            .collect();
        answers.push(answer("q1", queued.id, 99));
        let store = s.store.clone();
        let t = s.tenant;
        let plain = tokio::spawn(async move {
            store
                .append_message(t, robot_says("w0", "plain", 1_000), 0)
                .await
        });
        let lone = {
            let store = s.store.clone();
            let id = in_flow[11].1;
            tokio::spawn(async move {
                store
                    .set_flow_position(t, id, Some(&at("n11", 11)), Some(5_011))
                    .await
            })
        };
        for a in answers {
            let appended = a.await.unwrap().unwrap();
            assert!(!appended.duplicate, "{}", s.name);
        }
        assert!(!plain.await.unwrap().unwrap().duplicate, "{}", s.name);
        assert!(lone.await.unwrap().unwrap(), "{}", s.name);
        for (i, (buyer, id)) in in_flow.iter().enumerate() {
            let c = s.conversation(*id).await;
            assert_eq!(c.flow, Some(at(&format!("n{i}"), i as i64)), "{}", s.name);
            assert_eq!(c.reply_deadline, Some(5_000 + i as i64), "{}", s.name);
            let (_, page) = s
                .store
                .roam_page(
                    s.tenant,
                    RoamQuery::all(buyer, "@customer_service_account", 10),
                )
                .await
                .unwrap();
            let texts: Vec<String> = page
                .iter()
                .rev()
                .map(|m| m.body.clone())
                .filter(|b| b.contains(&format!("answer {i}\"")))
                .collect();
            assert_eq!(texts.len(), 1, "{}: answer {i} stored once", s.name);
        }
        let q = s.conversation(queued.id).await;
        assert_eq!(q.reply_deadline, None, "{}: left alone", s.name);
        assert_ne!(q.flow, Some(at("n99", 99)), "{}", s.name);
        let (_, page) = s
            .store
            .roam_page(
                s.tenant,
                RoamQuery::all("q1", "@customer_service_account", 10),
            )
            .await
            .unwrap();
        assert!(
            page.iter().any(|m| m.body.contains("answer 99")),
            "{}: the queued buyer's message is stored",
            s.name
        );
    }
}
