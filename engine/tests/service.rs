//! Around a human conversation, on SQLite and (when configured) PostgreSQL, with a manual
//! clock: the reception timeout, an agent's console vanishing (RECOVER, then re-queueing),
//! ratings and their refusals, required categories, transfer counts and the buyer's choice of
//! group.

mod support;

use kefu_domain::SkillGroupId;
use kefu_domain::cs::CsMessage;
use kefu_store::testing::databases;
use kefu_store::*;
use support::*;

fn rating(session: &str, id: &str) -> CsMessage {
    CsMessage::RatingSubmission {
        option_id: id.into(),
        content: "满意".into(),
        session_id: session.into(),
    }
}

#[tokio::test]
async fn the_reception_timeout_runs_only_while_the_buyer_owes_an_answer() {
    for db in databases().await {
        let d = desk(db).await;
        d.online(d.agents[0]).await;
        d.buyer_says("u1", "人工").await;
        let c = d.conversation("u1").await;
        assert_eq!(c.state, ConversationState::Assigned, "{}", d.name);
        // The agent owes the first reply: no deadline, however long it takes.
        d.clock.advance(30 * MINUTE);
        assert_eq!(d.engine.sweep(GRACE).await.unwrap().timed_out, 0);

        d.reply(&c, "您好").await;
        d.clock.advance(5 * MINUTE - 1);
        assert_eq!(d.engine.sweep(GRACE).await.unwrap().timed_out, 0);
        // The buyer answers just in time: the clock stops until the agent writes again.
        d.buyer_says("u1", "在的").await;
        d.clock.advance(10 * MINUTE);
        assert_eq!(d.engine.sweep(GRACE).await.unwrap().timed_out, 0);

        d.reply(&c, "还需要帮助吗？").await;
        d.clock.advance(5 * MINUTE);
        let swept = d.engine.sweep(GRACE).await.unwrap();
        assert_eq!(swept.timed_out, 1, "{}", d.name);
        let ended = d.conversation("u1").await;
        assert_eq!(ended.state, ConversationState::Ended);
        assert_eq!(ended.end_reason.as_deref(), Some("timeout"));
        // The configured message, src 20, src 19, then the rating card.
        let told = d.told("u1").await;
        let tail = &told[told.len() - 4..];
        assert_eq!(
            tail,
            [
                kefu_domain::settings::DEFAULT_TIMEOUT_MESSAGE,
                "src20",
                "src19",
                "src9"
            ],
            "{}",
            d.name
        );
        // Once only, and the agent's slot is free again.
        assert_eq!(d.engine.sweep(GRACE).await.unwrap(), Default::default());
        assert_eq!(d.agent_state(d.agents[0]).await.active, 0);
    }
}

#[tokio::test]
async fn a_timeout_set_to_zero_never_ends_a_conversation() {
    for db in databases().await {
        let d = desk(db).await;
        d.settings(|s| s.reception_timeout_minutes = 0).await;
        d.online(d.agents[0]).await;
        d.buyer_says("u1", "RG").await;
        let c = d.conversation("u1").await;
        d.reply(&c, "您好").await;
        d.clock.advance(24 * 60 * MINUTE);
        // The console is kept alive; only the timeout is under test.
        d.store
            .console_seen(d.tenant, d.agents[0], d.now())
            .await
            .unwrap();
        assert_eq!(d.engine.sweep(GRACE).await.unwrap().timed_out, 0);
        assert_eq!(
            d.conversation("u1").await.state,
            ConversationState::Assigned
        );
    }
}

#[tokio::test]
async fn an_agent_whose_console_vanishes_is_suspended_and_gets_their_buyers_back_marked_recover() {
    for db in databases().await {
        let d = desk(db).await;
        let ann = d.agents[0];
        d.online(ann).await;
        d.buyer_says("u1", "人工").await;
        d.buyer_says("u2", "人工").await;
        // A console heartbeat 30 s in; then the browser crashes.
        d.clock.advance(30_000);
        d.store.console_seen(d.tenant, ann, d.now()).await.unwrap();
        d.clock.advance(GRACE);
        assert_eq!(d.engine.sweep(GRACE).await.unwrap().agents_lost, 0);
        d.clock.advance(1);
        let swept = d.engine.sweep(GRACE).await.unwrap();
        assert_eq!(swept.agents_lost, 1, "{}", d.name);
        let state = d.agent_state(ann).await;
        assert_eq!(state.status, AgentStatus::Suspended);
        // Their conversations stay theirs, marked RECOVER, and wait (no re-queue set).
        for buyer in ["u1", "u2"] {
            let c = d.conversation(buyer).await;
            assert_eq!(c.state, ConversationState::Assigned);
            assert_eq!(c.agent_id, Some(ann));
            assert!(c.recover, "{}", d.name);
            assert_eq!(c.requeue_at, None);
        }
        assert_eq!(d.engine.sweep(GRACE).await.unwrap(), Default::default());
        // The agent logs in again: the console connects; RECOVER stays until each ends.
        assert!(d.store.console_seen(d.tenant, ann, d.now()).await.unwrap());
        let c = d.conversation("u1").await;
        assert!(c.recover);
        let ended = d
            .engine
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
        assert!(!ended.recover);
        assert!(d.conversation("u2").await.recover);
    }
}

#[tokio::test]
async fn with_requeue_set_a_vanished_agents_buyers_go_back_to_the_queue_at_their_old_place() {
    for db in databases().await {
        let d = desk(db).await;
        d.settings(|s| s.requeue_after_minutes = Some(2)).await;
        let (ann, bob) = (d.agents[0], d.agents[1]);
        d.online(ann).await;
        d.buyer_says("u1", "人工").await;
        d.engine
            .set_status(d.tenant, ann, AgentStatus::Suspended)
            .await
            .unwrap();
        // u2 arrives later and waits: nobody is online.
        d.clock.advance(1000);
        d.buyer_says("u2", "人工").await;
        d.clock.advance(GRACE);
        let swept = d.engine.sweep(GRACE).await.unwrap();
        assert_eq!(swept.agents_lost, 1, "{}", d.name);
        let u1 = d.conversation("u1").await;
        assert_eq!(u1.requeue_at, Some(d.now() + 2 * MINUTE));
        d.clock.advance(2 * MINUTE);
        let swept = d.engine.sweep(GRACE).await.unwrap();
        assert_eq!(swept.requeued, 1, "{}", d.name);
        let queue = d.store.queue_of(d.tenant, d.groups[0]).await.unwrap();
        let order: Vec<&str> = queue.iter().map(|c| c.buyer.as_str()).collect();
        assert_eq!(order, ["u1", "u2"], "{}", d.name);
        assert_eq!(d.agent_state(ann).await.active, 0);
        let sessions = d.store.sessions_of(d.tenant, u1.id).await.unwrap();
        assert_eq!(sessions[0].end_reason.as_deref(), Some("requeued"));
        // The next agent online gets u1 first.
        d.online(bob).await;
        let u1 = d.conversation("u1").await;
        assert_eq!(u1.agent_id, Some(bob));
        assert!(!u1.recover);
    }
}

#[tokio::test]
async fn an_agent_back_within_the_requeue_delay_keeps_their_buyers() {
    for db in databases().await {
        let d = desk(db).await;
        d.settings(|s| s.requeue_after_minutes = Some(5)).await;
        let ann = d.agents[0];
        d.online(ann).await;
        d.buyer_says("u1", "人工").await;
        d.clock.advance(GRACE + 1);
        assert_eq!(d.engine.sweep(GRACE).await.unwrap().agents_lost, 1);
        d.clock.advance(MINUTE);
        assert!(d.store.console_seen(d.tenant, ann, d.now()).await.unwrap());
        d.clock.advance(10 * MINUTE);
        d.store.console_seen(d.tenant, ann, d.now()).await.unwrap();
        assert_eq!(d.engine.sweep(GRACE).await.unwrap().requeued, 0);
        let c = d.conversation("u1").await;
        assert_eq!(c.agent_id, Some(ann), "{}", d.name);
        assert!(c.recover);
    }
}

#[tokio::test]
async fn a_rating_is_stored_once_and_late_duplicate_or_foreign_ratings_are_refused() {
    for db in databases().await {
        let d = desk(db).await;
        // Nobody has served u1 yet: nothing to rate.
        let early = d
            .buyer_custom("u1", CsMessage::RateNow { language: None })
            .await
            .unwrap_err();
        assert_eq!(early.code, 10154, "{}", d.name);

        d.online(d.agents[0]).await;
        d.buyer_says("u1", "人工").await;
        let c = d.conversation("u1").await;
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
        let (session, expires) = d.last_card("u1").await;
        assert_eq!(expires, (d.now() + 24 * 60 * MINUTE) / 1000);
        // Another buyer cannot rate u1's session.
        let foreign = d.buyer_custom("u9", rating(&session, "105")).await;
        assert_eq!(foreign.unwrap_err().code, 10154);
        let bad = d.buyer_custom("u1", rating(&session, "106")).await;
        assert_eq!(bad.unwrap_err().code, 10150);

        d.buyer_custom("u1", rating(&session, "104")).await.unwrap();
        let stored = d.store.sessions_of(d.tenant, c.id).await.unwrap();
        assert_eq!(stored[0].rating, Some(4), "{}", d.name);
        assert_eq!(stored[0].rating_label, "满意");
        let events = d.store.conversation_events(d.tenant, c.id).await.unwrap();
        assert!(events.iter().any(|e| e.kind == "rated"));
        let again = d.buyer_custom("u1", rating(&session, "105")).await;
        assert_eq!(again.unwrap_err().code, 10152);

        // A second visit, rated too late.
        d.buyer_says("u1", "人工").await;
        let c2 = d.conversation_after("u1", c.id).await;
        d.engine
            .end(
                d.tenant,
                c2.id,
                EndRequest {
                    reason: "agent".into(),
                    actor: "account:1".into(),
                    ..Default::default()
                },
            )
            .await
            .unwrap();
        let (session2, _) = d.last_card("u1").await;
        assert_ne!(session2, session);
        d.clock.advance(24 * 60 * MINUTE + 1);
        let late = d.buyer_custom("u1", rating(&session2, "105")).await;
        assert_eq!(late.unwrap_err().code, 10150, "{}", d.name);
    }
}

#[tokio::test]
async fn a_buyer_asking_to_rate_gets_the_card_unless_the_tenant_forbids_it() {
    for db in databases().await {
        let d = desk(db).await;
        d.online(d.agents[0]).await;
        d.buyer_says("u1", "人工").await;
        d.buyer_custom("u1", CsMessage::RateNow { language: None })
            .await
            .unwrap();
        let (session, _) = d.last_card("u1").await;
        d.buyer_custom("u1", rating(&session, "105")).await.unwrap();
        d.settings(|s| s.rating_by_buyer = false).await;
        let refused = d
            .buyer_custom("u1", CsMessage::RateNow { language: None })
            .await
            .unwrap_err();
        assert_eq!(refused.code, 10150, "{}", d.name);
        // Ratings off: no card at the end.
        d.settings(|s| s.ratings_enabled = false).await;
        let c = d.conversation("u1").await;
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
        assert_eq!(d.told("u1").await.last().unwrap(), "src19");
    }
}

#[tokio::test]
async fn categories_are_required_when_the_tenant_says_so_and_must_be_offered_in_the_group() {
    for db in databases().await {
        let d = desk(db).await;
        d.settings(|s| s.categories_required = true).await;
        let node = |name: &str, parent: Option<i64>, groups: Vec<SkillGroupId>| NewTreeNode {
            parent_id: parent,
            name: name.into(),
            position: 0,
            skill_group_ids: groups,
        };
        let t = d.tenant;
        let refund = d
            .store
            .create_node(
                t,
                Tree::Categories,
                &node("退款", None, vec![d.groups[0]]),
                0,
            )
            .await
            .unwrap();
        let partial = d
            .store
            .create_node(
                t,
                Tree::Categories,
                &node("部分退款", Some(refund.id), vec![]),
                0,
            )
            .await
            .unwrap();
        let repair = d
            .store
            .create_node(
                t,
                Tree::Categories,
                &node("维修", None, vec![d.groups[1]]),
                0,
            )
            .await
            .unwrap();
        d.online(d.agents[0]).await;
        d.buyer_says("u1", "人工").await;
        let c = d.conversation("u1").await;
        let end = |categories: Vec<i64>| EndRequest {
            reason: "agent".into(),
            actor: "account:1".into(),
            categories,
            ..Default::default()
        };
        let cases = [
            (vec![], "choose at least one"),
            (vec![9_999_999], "does not exist"),
            (vec![repair.id], "not offered"),
        ];
        for (chosen, why) in cases {
            match d.engine.end(t, c.id, end(chosen)).await {
                Err(StoreError::Invalid(e)) => {
                    assert_eq!(e.field, "categories");
                    assert!(e.message.contains(why), "{}: {}", d.name, e.message);
                }
                other => panic!("{}: {other:?}", d.name),
            }
        }
        // A child counts as offered where its top-level category is.
        d.engine.end(t, c.id, end(vec![partial.id])).await.unwrap();
        let sessions = d.store.sessions_of(t, c.id).await.unwrap();
        assert_eq!(sessions[0].categories, [partial.id], "{}", d.name);
        // A tree cannot loop.
        let looped = d
            .store
            .update_node(
                t,
                Tree::Categories,
                refund.id,
                &node("退款", Some(partial.id), vec![]),
            )
            .await;
        assert!(matches!(looped, Err(StoreError::Conflict(_))), "{}", d.name);
        let busy = d.store.delete_node(t, Tree::Categories, refund.id).await;
        assert!(matches!(busy, Err(StoreError::InUse(_))));
    }
}

#[tokio::test]
async fn transfers_are_counted_per_agent_and_a_buyer_can_choose_the_group() {
    for db in databases().await {
        let d = desk(db).await;
        let (ann, bob, cat) = (d.agents[0], d.agents[1], d.agents[2]);
        d.online(ann).await;
        d.online(bob).await;
        d.online(cat).await;
        d.buyer_says("u1", "人工").await;
        let c = d.conversation("u1").await;
        let first = c.agent_id.unwrap();
        let other = if first == ann { bob } else { ann };
        // Within the group (to a member), then across (to 售后's queue).
        d.engine
            .transfer(
                d.tenant,
                c.id,
                first,
                TransferTarget::Agent(other),
                "老客户",
            )
            .await
            .unwrap();
        let moved = d
            .engine
            .transfer(
                d.tenant,
                c.id,
                other,
                TransferTarget::Group(d.groups[1]),
                "",
            )
            .await
            .unwrap();
        assert_eq!(moved.agent_id, Some(cat), "{}", d.name);
        let (f, o) = (d.agent_state(first).await, d.agent_state(other).await);
        assert_eq!((f.transfers_within, f.transfers_across), (1, 0));
        assert_eq!((o.transfers_within, o.transfers_across), (0, 1));

        // The buyer chooses: a menu of the visible groups, by label or number.
        d.store
            .update_skill_group(
                d.tenant,
                d.groups[1],
                &SkillGroupPatch {
                    client_name: Some("售后服务".into()),
                    ..Default::default()
                },
                0,
            )
            .await
            .unwrap();
        let back = d
            .engine
            .transfer(d.tenant, c.id, cat, TransferTarget::BuyerChoice, "")
            .await
            .unwrap();
        assert_eq!(back.state, ConversationState::Flow);
        assert!(back.pending_choice.is_some());
        assert_eq!(d.told("u1").await.last().unwrap(), "src15");
        d.buyer_says("u1", "随便").await;
        assert_eq!(d.told("u1").await.last().unwrap(), "src15", "asked again");
        assert_eq!(d.conversation("u1").await.state, ConversationState::Flow);
        d.buyer_says("u1", "售后服务").await;
        let chosen = d.conversation("u1").await;
        assert_eq!(chosen.state, ConversationState::Assigned, "{}", d.name);
        assert_eq!(chosen.agent_id, Some(cat));
        assert_eq!(chosen.pending_choice, None);
        assert_eq!(d.agent_state(cat).await.transfers_across, 1);
    }
}

#[tokio::test]
async fn messages_are_tagged_once_searched_by_note_and_tags_in_use_stay() {
    for db in databases().await {
        let d = desk(db).await;
        let t = d.tenant;
        let tag = d
            .store
            .create_node(
                t,
                Tree::Tags,
                &NewTreeNode {
                    name: "投诉".into(),
                    ..Default::default()
                },
                0,
            )
            .await
            .unwrap();
        d.online(d.agents[0]).await;
        d.buyer_says("u1", "人工").await;
        let c = d.conversation("u1").await;
        let m = d.reply(&c, "抱歉给您带来不便").await;
        let new = |note: &str| NewMessageTag {
            tag_id: tag.id,
            conversation_id: c.id,
            seq: m.seq,
            agent_id: d.agents[0],
            note: note.into(),
        };
        let tagged = d
            .store
            .tag_message(t, &new("物流慢 50%"), d.now())
            .await
            .unwrap();
        assert_eq!(tagged.text, "抱歉给您带来不便");
        let twice = d.store.tag_message(t, &new("again"), d.now()).await;
        assert!(matches!(twice, Err(StoreError::Duplicate(_))), "{}", d.name);
        let missing = NewMessageTag {
            seq: 999,
            ..new("x")
        };
        assert!(matches!(
            d.store.tag_message(t, &missing, d.now()).await,
            Err(StoreError::Conflict(_))
        ));
        let search = |note: &str| MessageTagFilter {
            note: Some(note.into()),
            agent: Some(d.agents[0]),
            buyer: Some("u1".into()),
            tag: Some(tag.id),
            ..Default::default()
        };
        assert_eq!(
            d.store.message_tags(t, &search("50%")).await.unwrap().len(),
            1
        );
        // % is matched literally, not as a wildcard.
        assert_eq!(
            d.store.message_tags(t, &search("慢%")).await.unwrap().len(),
            0
        );
        assert!(matches!(
            d.store.delete_node(t, Tree::Tags, tag.id).await,
            Err(StoreError::InUse(_))
        ));
        d.store.untag_message(t, tagged.id).await.unwrap();
        d.store.delete_node(t, Tree::Tags, tag.id).await.unwrap();
    }
}

#[tokio::test]
async fn a_skill_group_in_use_cannot_be_deleted_and_the_error_says_by_what() {
    for db in databases().await {
        let d = desk(db).await;
        let err = d
            .store
            .delete_skill_group(d.tenant, d.groups[1])
            .await
            .unwrap_err();
        match err {
            StoreError::InUse(why) => assert!(why.contains("1 members"), "{why}"),
            other => panic!("{}: {other:?}", d.name),
        }
        let empty = d.store.create_skill_group(d.tenant, "空", 0).await.unwrap();
        d.store
            .delete_skill_group(d.tenant, empty.id)
            .await
            .unwrap();
        assert!(
            d.store
                .get_skill_group(d.tenant, empty.id)
                .await
                .unwrap()
                .is_none()
        );
    }
}

#[tokio::test]
async fn a_buyer_who_leaves_ends_the_conversation_and_is_asked_to_rate() {
    for db in databases().await {
        let d = desk(db).await;
        assert!(!d.engine.buyer_left(d.tenant, "u1", SERVICE).await.unwrap());
        d.online(d.agents[0]).await;
        d.buyer_says("u1", "人工").await;
        assert!(d.engine.buyer_left(d.tenant, "u1", SERVICE).await.unwrap());
        let c = d.conversation("u1").await;
        assert_eq!(c.state, ConversationState::Ended, "{}", d.name);
        assert_eq!(c.end_reason.as_deref(), Some("buyer_left"));
        assert_eq!(c.ended_by.as_deref(), Some("buyer:u1"));
        let told = d.told("u1").await;
        assert_eq!(&told[told.len() - 2..], ["src19", "src9"]);
        assert_eq!(d.agent_state(d.agents[0]).await.active, 0);
        assert!(!d.engine.buyer_left(d.tenant, "u1", SERVICE).await.unwrap());
    }
}

#[tokio::test]
async fn a_group_menu_needs_a_group_visible_to_buyers_and_the_agent_keeps_the_buyer_otherwise() {
    for db in databases().await {
        let d = desk(db).await;
        for g in d.groups {
            let hidden = SkillGroupPatch {
                visible_to_buyers: Some(false),
                ..Default::default()
            };
            d.store
                .update_skill_group(d.tenant, g, &hidden, 0)
                .await
                .unwrap();
        }
        d.online(d.agents[0]).await;
        d.buyer_says("u1", "人工").await;
        let c = d.conversation("u1").await;
        let refused = d
            .engine
            .transfer(d.tenant, c.id, d.agents[0], TransferTarget::BuyerChoice, "")
            .await;
        match refused {
            Err(StoreError::Invalid(e)) => assert_eq!(e.field, "to_buyer_choice"),
            other => panic!("{}: {other:?}", d.name),
        }
        let kept = d.conversation("u1").await;
        assert_eq!(kept.state, ConversationState::Assigned);
        assert_eq!(kept.agent_id, Some(d.agents[0]));
    }
}

#[tokio::test]
async fn a_buyer_transferred_to_a_group_with_nobody_free_is_told_their_place() {
    for db in databases().await {
        let d = desk(db).await;
        d.online(d.agents[0]).await;
        d.buyer_says("u1", "人工").await;
        let c = d.conversation("u1").await;
        let moved = d
            .engine
            .transfer(
                d.tenant,
                c.id,
                d.agents[0],
                TransferTarget::Group(d.groups[1]),
                "",
            )
            .await
            .unwrap();
        assert_eq!(moved.state, ConversationState::Queued, "{}", d.name);
        let told = d.told("u1").await;
        assert_eq!(
            told.last().unwrap(),
            &kefu_engine::notices::waiting(1),
            "{}",
            d.name
        );
    }
}
