//! Before a human, on SQLite and (when configured) PostgreSQL, with a manual clock: the
//! greeting by the time plan, the service flow's nodes (messages, branches with their error
//! prompts, the bot, transfers, ends and timeouts), flow versions, the FAQ bot with its
//! transfer offer, off-hours and holiday replies, and sensitive words on agents' messages.

mod support;

use kefu_domain::schedule::{Clock as Hm, Holiday, Hours, Schedule, WorkDay};
use kefu_domain::{ManualClock, moderation};
use kefu_engine::SendError;
use kefu_store::testing::databases;
use kefu_store::*;
use serde_json::{Value, json};
use support::*;

/// Monday 2026-11-23, 10:00 in Shanghai (working hours).
const MONDAY_10: i64 = 1_795_399_200_000;
/// The same Monday at 22:00 in Shanghai.
const MONDAY_22: i64 = 1_795_442_400_000;
/// Thursday 2026-10-01, 10:00 in Shanghai: National Day.
const NATIONAL_DAY_10: i64 = 1_790_820_000_000;

async fn open_desk(db: kefu_store::testing::TestDb, at: i64) -> Desk {
    let d = desk_at(db, ManualClock::new(at)).await;
    let mut plan = Schedule::office_hours();
    plan.weekly = (1..=7)
        .map(|weekday| WorkDay {
            weekday,
            hours: vec![Hours::new(Hm::hm(8, 0), Hm::hm(21, 0))],
        })
        .collect();
    plan.holidays.push(Holiday {
        name: "国庆".into(),
        from: "2026-10-01".parse().unwrap(),
        to: "2026-10-07".parse().unwrap(),
        reply: "国庆假期暂停服务，10月8日恢复。".into(),
    });
    d.store.save_schedule(d.tenant, &plan, 0).await.unwrap();
    for (title, keywords, answer) in [
        (
            "如何收费？",
            vec!["收费", "价格"],
            "基础服务免费，增值服务按月收费。",
        ),
        (
            "如何退货？",
            vec!["退货", "退款"],
            "订单签收 7 天内可在订单页申请退货。",
        ),
    ] {
        d.store
            .create_knowledge(
                d.tenant,
                KnowledgeKind::Faq,
                &NewKnowledge {
                    title: title.into(),
                    answer_kind: "text".into(),
                    answer: answer.into(),
                    keywords: keywords.into_iter().map(String::from).collect(),
                    enabled: true,
                    ..Default::default()
                },
                0,
            )
            .await
            .unwrap();
    }
    kefu_engine::cache::forget(&d.store, d.tenant);
    d
}

impl Desk {
    /// Saves and publishes `doc` as the flow of the service account; returns the flow id.
    async fn publish(&self, id: Option<i64>, doc: Value) -> i64 {
        let groups: Vec<i64> = self.groups.iter().map(|g| g.0).collect();
        kefu_domain::flow::parse(&doc, &groups).expect("a valid flow");
        let f = self
            .store
            .save_flow(
                self.tenant,
                id,
                "测试流程",
                Some(SERVICE),
                &doc.to_string(),
                self.now(),
            )
            .await
            .unwrap();
        self.store
            .publish_flow(self.tenant, f.id, &doc.to_string(), "account:1", self.now())
            .await
            .unwrap();
        f.id
    }

    /// What the buyer was sent, menus written `menu:{header}|{item}|…`.
    async fn heard(&self, buyer: &str) -> Vec<String> {
        self.chat_messages(buyer)
            .await
            .into_iter()
            .filter(|m| m.from_account == SERVICE)
            .map(|m| {
                let body: Value = serde_json::from_str(&m.body).unwrap();
                let e = &body[0];
                match e["MsgType"].as_str() {
                    Some("TIMCustomElem") => {
                        let data: Value =
                            serde_json::from_str(e["MsgContent"]["Data"].as_str().unwrap())
                                .unwrap();
                        if data["src"] == "15" {
                            let items: Vec<&str> = data["content"]["items"]
                                .as_array()
                                .unwrap()
                                .iter()
                                .map(|i| i["content"].as_str().unwrap())
                                .collect();
                            format!(
                                "menu:{}|{}",
                                data["content"]["header"].as_str().unwrap(),
                                items.join("|")
                            )
                        } else {
                            format!("src{}", data["src"].as_str().unwrap())
                        }
                    }
                    Some("TIMImageElem") => "image".into(),
                    _ => e["MsgContent"]["Text"].as_str().unwrap_or("").to_string(),
                }
            })
            .collect()
    }

    /// What the buyer heard since they had heard `before` messages.
    async fn heard_since(&self, buyer: &str, before: usize) -> Vec<String> {
        self.heard(buyer).await.split_off(before)
    }

    /// Sets the group's per-agent cap.
    async fn cap(&self, group: kefu_domain::SkillGroupId, cap: i64) {
        let patch = SkillGroupPatch {
            agent_cap: Some(cap),
            ..Default::default()
        };
        self.store
            .update_skill_group(self.tenant, group, &patch, 0)
            .await
            .unwrap();
    }

    async fn roles(&self, buyer: &str) -> Vec<String> {
        self.chat_messages(buyer)
            .await
            .into_iter()
            .filter(|m| m.from_account == SERVICE)
            .map(|m| m.sender_role)
            .collect()
    }
}

fn branch_flow(group: i64) -> Value {
    json!({"nodes": [
        {"id": "start", "type": "start", "next": "hello"},
        {"id": "hello", "type": "message", "text": "您好 ${Buyer}，欢迎光临。", "next": "menu"},
        {"id": "menu", "type": "branch",
         "text": "产品咨询请回复“咨询”（或回复“1”），结束请回复“2”。",
         "error_prompt": "输入错误，请重新输入。", "max_retries": 2,
         "choices": [
            {"name": "产品咨询", "keywords": ["1", "咨询"], "next": "human"},
            {"name": "结束", "keywords": ["2"], "next": "bye"}],
         "on_fail": "bye"},
        {"id": "human", "type": "transfer", "skill_group_id": group,
         "queue_message": "正在为您转接人工客服，当前排队人数为${WaitNo}，请耐心等待。",
         "failure_message": "当前无客服在线，请稍后咨询。",
         "success_message": "转人工客服成功，${StaffNo}号客服代表为您服务。",
         "next": "end"},
        {"id": "bye", "type": "end", "end_message": "感谢咨询，再见。"},
        {"id": "end", "type": "end", "timeout_seconds": 120,
         "timeout_message": "超时未回复，本次会话将自动退出。",
         "end_message": "本次会话已经结束。"}
    ]})
}

#[tokio::test]
async fn the_demo_flow_welcomes_shows_the_faq_answers_it_and_hands_over_on_rg() {
    for db in databases().await {
        let d = open_desk(db, MONDAY_10).await;
        d.publish(None, kefu_domain::flow::demo(d.groups[0].0))
            .await;
        d.buyer_says("u1", "你好").await;
        let heard = d.heard("u1").await;
        assert_eq!(heard.len(), 2, "{}: {heard:?}", d.name);
        assert!(heard[0].starts_with("您好，欢迎光临"), "{heard:?}");
        assert_eq!(
            heard[1], "menu:常见问题（点击查看答案）：|如何收费？|如何退货？",
            "{}",
            d.name
        );
        // A menu click sends the title.
        d.buyer_says("u1", "如何收费？").await;
        assert_eq!(
            d.heard_since("u1", 2).await,
            vec!["基础服务免费，增值服务按月收费。"]
        );
        // Flow and bot messages are the robot's.
        assert!(
            d.roles("u1").await.iter().all(|r| r == "robot"),
            "{}",
            d.name
        );
        d.online(d.agents[0]).await;
        d.buyer_says("u1", "RG").await;
        let c = d.conversation("u1").await;
        assert_eq!(c.state, ConversationState::Assigned, "{}", d.name);
        assert_eq!(c.agent_id, Some(d.agents[0]));
        let last = d.heard("u1").await.pop().unwrap();
        assert!(
            last.starts_with(&format!("转人工客服成功，{}号客服", d.agents[0].0)),
            "{}: {last}",
            d.name
        );
        // Ending it sends the flow end's message before src 19 and the rating card.
        d.engine
            .end(
                d.tenant,
                c.id,
                EndRequest {
                    reason: "agent".into(),
                    actor: "account:1".into(),
                    ..Default::default()
                },
            )
            .await
            .unwrap();
        let heard = d.heard("u1").await;
        let n = heard.len();
        assert_eq!(
            &heard[n - 3..],
            ["本次会话已经结束，感谢您的咨询。", "src19", "src9"],
            "{}",
            d.name
        );
    }
}

#[tokio::test]
async fn the_same_answer_three_times_brings_the_offer_of_a_human() {
    for db in databases().await {
        let d = open_desk(db, MONDAY_10).await;
        d.buyer_says("u1", "你好").await;
        let before = d.heard("u1").await.len();
        d.buyer_says("u1", "请问怎么收费").await;
        d.buyer_says("u1", "价格").await;
        let heard = d.heard_since("u1", before).await;
        assert_eq!(heard.len(), 2, "{}: {heard:?}", d.name);
        d.buyer_says("u1", "收费标准是什么").await;
        let heard = d.heard_since("u1", before).await;
        assert_eq!(heard.len(), 4, "{}: {heard:?}", d.name);
        assert_eq!(heard[2], "基础服务免费，增值服务按月收费。");
        assert_eq!(
            heard[3], "menu:这个问题好像没能帮到您，需要为您转接人工客服吗？|人工",
            "{}",
            d.name
        );
        // A different answer starts the count again; the offer's button hands over.
        d.buyer_says("u1", "退货").await;
        assert_eq!(d.heard_since("u1", before + 4).await.len(), 1);
        let faq = d
            .store
            .knowledge(d.tenant, KnowledgeKind::Faq)
            .await
            .unwrap();
        assert_eq!(faq[0].uses, 3, "{}: the bot counts its answers", d.name);
        d.buyer_says("u1", "人工").await;
        assert_eq!(
            d.conversation("u1").await.state,
            ConversationState::Queued,
            "{}",
            d.name
        );
        // Unmatched text gets the fallback.
        d.buyer_says("u2", "你好").await;
        let n = d.heard("u2").await.len();
        d.buyer_says("u2", "今天天气不错").await;
        assert!(
            d.heard_since("u2", n).await[0].starts_with("抱歉，我没有理解"),
            "{}",
            d.name
        );
    }
}

#[tokio::test]
async fn a_branch_repeats_its_menu_with_the_error_prompt_then_follows_on_fail() {
    for db in databases().await {
        let d = open_desk(db, MONDAY_10).await;
        d.publish(None, branch_flow(d.groups[1].0)).await;
        // The opening message is not a wrong answer.
        d.buyer_says("u1", "在吗").await;
        let heard = d.heard("u1").await;
        assert_eq!(heard[0], "您好 u1，欢迎光临。", "{}", d.name);
        assert_eq!(
            heard[1],
            "menu:产品咨询请回复“咨询”（或回复“1”），结束请回复“2”。|产品咨询|结束"
        );
        assert_eq!(heard.len(), 2, "{}: {heard:?}", d.name);
        d.buyer_says("u1", "3").await;
        let again = d.heard_since("u1", 2).await;
        assert_eq!(
            again,
            vec![
                "menu:输入错误，请重新输入。\n产品咨询请回复“咨询”（或回复“1”），结束请回复“2”。|产品咨询|结束"
            ],
            "{}",
            d.name
        );
        // The second wrong answer reaches max_retries: on to `bye`, which ends it.
        d.buyer_says("u1", "hello").await;
        let c = d.conversation("u1").await;
        assert_eq!(c.state, ConversationState::Ended, "{}", d.name);
        assert_eq!(c.end_reason.as_deref(), Some("flow_end"));
        let heard = d.heard("u1").await;
        assert_eq!(&heard[heard.len() - 2..], ["感谢咨询，再见。", "src19"]);
    }
}

#[tokio::test]
async fn a_transfer_finds_nobody_online_then_queues_with_the_flows_own_messages() {
    for db in databases().await {
        let d = open_desk(db, MONDAY_10).await;
        d.publish(None, branch_flow(d.groups[1].0)).await;
        d.buyer_says("u1", "在吗").await;
        d.buyer_says("u1", "咨询").await;
        let heard = d.heard_since("u1", 2).await;
        assert_eq!(
            heard,
            vec!["当前无客服在线，请稍后咨询。", "src18"],
            "{}",
            d.name
        );
        let c = d.conversation("u1").await;
        assert_eq!(
            c.state,
            ConversationState::Flow,
            "{}: still at the menu",
            d.name
        );
        assert_eq!(c.flow.as_ref().unwrap().node, "menu");

        // 售后 has one agent (cat); with a cap of 1, the second buyer waits.
        d.online(d.agents[2]).await;
        d.cap(d.groups[1], 1).await;
        d.buyer_says("u1", "1").await;
        let c = d.conversation("u1").await;
        assert_eq!(c.state, ConversationState::Assigned, "{}", d.name);
        assert_eq!(c.skill_group_id, Some(d.groups[1]));
        let last = d.heard("u1").await.pop().unwrap();
        assert_eq!(
            last,
            format!("转人工客服成功，{}号客服代表为您服务。", d.agents[2].0)
        );
        d.buyer_says("u2", "在吗").await;
        d.buyer_says("u2", "咨询").await;
        assert_eq!(
            d.heard("u2").await.pop().unwrap(),
            "正在为您转接人工客服，当前排队人数为0，请耐心等待。",
            "{}",
            d.name
        );
    }
}

#[tokio::test]
async fn a_buyer_who_does_not_answer_the_flow_is_timed_out_with_its_message() {
    for db in databases().await {
        let d = open_desk(db, MONDAY_10).await;
        d.publish(None, branch_flow(d.groups[1].0)).await;
        d.buyer_says("u1", "在吗").await;
        // A buyer waiting at a node is timed by the nearest end after it: from the menu
        // that is `bye` (one hop; `end` is two, behind the transfer), which has no limit.
        d.clock.advance(30 * MINUTE);
        assert_eq!(
            d.engine.sweep(GRACE).await.unwrap().timed_out,
            0,
            "{}",
            d.name
        );

        let timed = json!({"nodes": [
            {"id": "start", "type": "start", "next": "menu"},
            {"id": "menu", "type": "branch", "text": "回复 1 咨询",
             "choices": [{"name": "咨询", "keywords": ["1"], "next": "end"}]},
            {"id": "end", "type": "end", "timeout_seconds": 120,
             "timeout_message": "超时未回复，本次会话将自动退出。", "end_message": "再见"}
        ]});
        let flows = d.store.flows(d.tenant).await.unwrap();
        d.publish(Some(flows[0].id), timed).await;
        d.buyer_says("u2", "在吗").await;
        d.clock.advance(119_000);
        assert_eq!(
            d.engine.sweep(GRACE).await.unwrap().timed_out,
            0,
            "{}",
            d.name
        );
        d.clock.advance(1_000);
        assert_eq!(
            d.engine.sweep(GRACE).await.unwrap().timed_out,
            1,
            "{}",
            d.name
        );
        let c = d.conversation("u2").await;
        assert_eq!(c.end_reason.as_deref(), Some("timeout"));
        let heard = d.heard("u2").await;
        assert_eq!(
            &heard[heard.len() - 3..],
            ["超时未回复，本次会话将自动退出。", "src20", "src19"],
            "{}",
            d.name
        );
        // u1 still runs version 1 of the flow, untouched by the new version.
        let u1 = d.conversation("u1").await;
        assert_eq!(u1.state, ConversationState::Flow);
        d.buyer_says("u1", "2").await;
        let u1 = d.conversation("u1").await;
        assert_eq!(u1.end_reason.as_deref(), Some("flow_end"), "{}", d.name);
        assert_eq!(
            d.heard("u1").await.iter().rev().nth(1).unwrap(),
            "感谢咨询，再见。"
        );
    }
}

#[tokio::test]
async fn off_hours_and_holidays_get_their_reply_and_rg_leaves_a_message() {
    for db in databases().await {
        let d = open_desk(db, MONDAY_22).await;
        d.publish(None, kefu_domain::flow::demo(d.groups[0].0))
            .await;
        d.buyer_says("u1", "你好").await;
        let heard = d.heard("u1").await;
        assert_eq!(heard.len(), 1, "{}: {heard:?}", d.name);
        assert!(heard[0].starts_with("您好，现在是非工作时间"), "{heard:?}");
        // The bot still answers out of hours.
        d.buyer_says("u1", "如何退货").await;
        assert!(d.heard("u1").await[1].starts_with("订单签收"), "{}", d.name);
        // Asking for a human leaves a message: queued for the next agent, told no place.
        d.buyer_says("u1", "RG").await;
        assert_eq!(
            d.heard_since("u1", 2).await,
            vec!["人工客服现在不在线，请留下您的问题和联系方式，客服上班后会第一时间回复您。"],
            "{}",
            d.name
        );
        assert_eq!(d.conversation("u1").await.state, ConversationState::Queued);
        d.buyer_says("u1", "我想退一件衣服，订单号 123").await;
        d.online(d.agents[0]).await;
        let c = d.conversation("u1").await;
        assert_eq!(c.state, ConversationState::Assigned, "{}", d.name);
        assert!(d.heard("u1").await.pop().unwrap().contains("为您服务"));
        // A tenant that queues out of hours tells the place as usual.
        d.settings(|s| s.off_hours_queue = true).await;
        d.cap(d.groups[0], 1).await;
        d.buyer_says("u2", "RG").await;
        assert_eq!(d.conversation("u2").await.state, ConversationState::Queued);
        // Out of hours the flow does not run, so the default queue notice is used.
        assert!(
            d.heard("u2").await.pop().unwrap().contains("前面还有 0 位"),
            "{}",
            d.name
        );

        let h = open_desk(kefu_store::testing::TestDb::sqlite(), NATIONAL_DAY_10).await;
        h.buyer_says("u9", "你好").await;
        assert_eq!(h.heard("u9").await, vec!["国庆假期暂停服务，10月8日恢复。"]);
    }
}

#[tokio::test]
async fn without_a_flow_the_welcome_and_faq_come_from_the_settings() {
    for db in databases().await {
        let d = open_desk(db, MONDAY_10).await;
        d.settings(|s| {
            s.welcome_message = "欢迎！".into();
            s.transfer_keywords = vec!["找客服".into()];
        })
        .await;
        d.buyer_says("u1", "如何收费").await;
        assert_eq!(
            d.heard("u1").await,
            vec![
                "欢迎！",
                "menu:常见问题（点击查看答案）：|如何收费？|如何退货？",
                "基础服务免费，增值服务按月收费。"
            ],
            "{}: an opening question is answered after the greeting",
            d.name
        );
        d.buyer_says("u1", "RG").await;
        assert_eq!(d.conversation("u1").await.state, ConversationState::Flow);
        d.buyer_says("u1", "找客服").await;
        assert_eq!(
            d.conversation("u1").await.state,
            ConversationState::Queued,
            "{}: the tenant's own keyword",
            d.name
        );
    }
}

#[tokio::test]
async fn blocked_words_stop_an_agents_message_and_masked_ones_are_starred() {
    for db in databases().await {
        let d = open_desk(db, MONDAY_10).await;
        d.store
            .replace_sensitive_words(
                d.tenant,
                &[
                    moderation::Word {
                        word: "微信".into(),
                        action: moderation::WordAction::Block,
                    },
                    moderation::Word {
                        word: "笨蛋".into(),
                        action: moderation::WordAction::Mask,
                    },
                ],
                0,
            )
            .await
            .unwrap();
        kefu_engine::cache::forget(&d.store, d.tenant);
        d.online(d.agents[0]).await;
        d.buyer_says("u1", "人工").await;
        let c = d.conversation("u1").await;
        let body = json!([{ "MsgType": "TIMTextElem", "MsgContent": { "Text": "加我微信聊" } }]);
        let refused = d
            .engine
            .agent_message(d.tenant, c.id, d.agents[0], &body)
            .await;
        assert!(
            matches!(refused, Err(SendError::Blocked(ref w)) if w == "微信"),
            "{}",
            d.name
        );
        let before = d.heard("u1").await.len();
        d.reply(&c, "你不是笨蛋").await;
        assert_eq!(d.heard_since("u1", before).await, vec!["你不是***"]);
    }
}

#[tokio::test]
async fn the_client_opening_the_chat_starts_the_flow_and_faq_folders_and_images_answer() {
    for db in databases().await {
        let d = open_desk(db, MONDAY_10).await;
        d.publish(None, kefu_domain::flow::demo(d.groups[0].0))
            .await;
        let entry = |parent, title: &str, kind: &str, answer: &str| NewKnowledge {
            parent_id: parent,
            title: title.into(),
            answer_kind: kind.into(),
            answer: answer.into(),
            enabled: true,
            ..Default::default()
        };
        let folder = d
            .store
            .create_knowledge(
                d.tenant,
                KnowledgeKind::Faq,
                &entry(None, "售后问题", "text", "请选择售后问题："),
                0,
            )
            .await
            .unwrap();
        for e in [
            entry(Some(folder.id), "换货", "text", "签收 15 天内可换货。"),
            entry(None, "尺码表", "image", "https://cdn.example.com/size.png"),
        ] {
            d.store
                .create_knowledge(d.tenant, KnowledgeKind::Faq, &e, 0)
                .await
                .unwrap();
        }
        kefu_engine::cache::forget(&d.store, d.tenant);
        // src 7: the client opened the conversation; nothing typed yet.
        d.engine
            .buyer_wrote(
                d.tenant,
                "u1",
                &d.account,
                "",
                Some(&kefu_domain::cs::CsMessage::SessionStart {
                    language: Some("zh".into()),
                    channel: Some("web".into()),
                }),
            )
            .await;
        // The hosted chat page says where the buyer writes from; consoles show its icon.
        let opened = d
            .store
            .open_conversation_of(d.tenant, "u1", &d.account.identifier)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(opened.channel, "web", "{}", d.name);
        let heard = d.heard("u1").await;
        assert!(
            heard[0].starts_with("您好，欢迎光临"),
            "{}: {heard:?}",
            d.name
        );
        assert_eq!(
            heard[1],
            "menu:常见问题（点击查看答案）：|如何收费？|如何退货？|售后问题|尺码表"
        );
        d.buyer_says("u1", "售后问题").await;
        d.buyer_says("u1", "尺码表").await;
        d.buyer_says("u1", "换货").await;
        assert_eq!(
            d.heard_since("u1", heard.len()).await,
            vec![
                "menu:请选择售后问题：|换货",
                "image",
                "签收 15 天内可换货。"
            ],
            "{}",
            d.name
        );
    }
}
