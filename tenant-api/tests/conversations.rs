//! Agent status and conversations through the tenant API, on SQLite and (when configured)
//! PostgreSQL: online against the plan, a buyer assigned the moment an agent goes online,
//! manual taking, ending, and who may see what.

use kefu_auth::{Authorizer, Logins, Settings};
use kefu_bus::{Bus, InProcessBus};
use kefu_domain::event::{Event, topic};
use kefu_domain::{Clock, ManualClock, Role, SkillGroupId, TenantId};
use kefu_engine::Engine;
use kefu_mail::FileOutbox;
use kefu_store::testing::{databases, owner};
use kefu_store::{GroupRouting, NewTenant, Store, Strategy};
use poem::EndpointExt;
use poem::endpoint::BoxEndpoint;
use poem::test::TestClient;
use serde_json::{Value, json};
use std::sync::Arc;

const PASSWORD: &str = "Secret#2026";

struct Desk {
    cli: TestClient<BoxEndpoint<'static, poem::Response>>,
    engine: Engine,
    bus: Arc<InProcessBus>,
    tenant: TenantId,
    group: SkillGroupId,
    clock: ManualClock,
    name: &'static str,
    _outbox: tempfile::TempDir,
    _db: kefu_store::testing::TestDb,
}

async fn desk(db: kefu_store::testing::TestDb) -> Desk {
    let store: Arc<dyn Store> = db.store().await;
    let manual = ManualClock::default();
    let clock: Arc<dyn Clock> = Arc::new(manual.clone());
    let bus = Arc::new(InProcessBus::new());
    let mut boss = owner("boss");
    boss.password_hash = kefu_auth::password::hash(PASSWORD);
    let (tenant, _) = store
        .create_tenant(
            NewTenant {
                code: "shop".into(),
                name: "Shop".into(),
                max_accounts: 4,
                max_online: 2,
                im_secret: "k".repeat(64),
            },
            boss,
            0,
        )
        .await
        .unwrap();
    let group = store
        .create_skill_group(tenant.id, "售前", 0)
        .await
        .unwrap();
    for name in ["ann", "bob", "cat"] {
        let mut a = owner(name);
        a.role = Role::Agent;
        a.password_hash = kefu_auth::password::hash(PASSWORD);
        a.skill_group_ids = vec![group.id];
        store.create_account(tenant.id, a, 0).await.unwrap();
    }
    let authz = Authorizer::start(store.clone(), clock.clone())
        .await
        .unwrap();
    let outbox = tempfile::tempdir().unwrap();
    let state = kefu_tenant_api::State {
        logins: Arc::new(Logins::new(
            store.clone(),
            bus.clone(),
            clock.clone(),
            Settings::default(),
        )),
        mailer: Arc::new(FileOutbox::new(outbox.path(), "no-reply@kefu.local").unwrap()),
        store: store.clone(),
        bus: bus.clone(),
        clock: clock.clone(),
        authz,
        trust_forwarded_for: false,
        media_links: Arc::new(kefu_media::links::Links::new("", 3600)),
        orders: Arc::new(kefu_orders::OrderClient::new(clock.clone())),
    };
    Desk {
        cli: TestClient::new(kefu_tenant_api::routes(state).map_to_response().boxed()),
        engine: Engine::new(store, bus.clone(), clock),
        bus,
        tenant: tenant.id,
        group: group.id,
        clock: manual,
        name: db.name,
        _outbox: outbox,
        _db: db,
    }
}

impl Desk {
    async fn call(
        &self,
        method: &str,
        path: &str,
        token: &str,
        body: Option<Value>,
    ) -> (u16, Value) {
        let req = match method {
            "GET" => self.cli.get(path),
            "PUT" => self.cli.put(path),
            "PATCH" => self.cli.patch(path),
            "DELETE" => self.cli.delete(path),
            _ => self.cli.post(path),
        }
        .header("authorization", format!("Bearer {token}"));
        let resp = match body {
            Some(b) => req.body_json(&b).send().await,
            None => req.send().await,
        };
        let status = resp.0.status().as_u16();
        let text = resp.0.into_body().into_string().await.unwrap();
        (
            status,
            serde_json::from_str(&text).unwrap_or(Value::String(text)),
        )
    }

    async fn login(&self, username: &str) -> String {
        let resp = self
            .cli
            .post("/api/v1/auth/login")
            .body_json(&json!({ "tenant": "shop", "username": username, "password": PASSWORD }))
            .send()
            .await;
        let v: Value =
            serde_json::from_str(&resp.0.into_body().into_string().await.unwrap()).unwrap();
        v["token"]
            .as_str()
            .unwrap_or_else(|| panic!("login {username}: {v}"))
            .to_string()
    }

    async fn status(&self, token: &str, status: &str) -> (u16, Value) {
        self.call(
            "PUT",
            "/api/v1/me/status",
            token,
            Some(json!({ "status": status })),
        )
        .await
    }
}

#[tokio::test]
async fn a_waiting_buyer_goes_to_the_agent_who_comes_online_and_is_ended_with_categories() {
    for db in databases().await {
        let d = desk(db).await;
        let mut events = d.bus.subscribe(topic::CONVERSATIONS).await.unwrap();
        let ann = d.login("ann").await;
        // Every login starts suspended.
        let (_, me) = d.call("GET", "/api/v1/me/status", &ann, None).await;
        assert_eq!(me["status"], "suspended", "{}", d.name);
        // A buyer asks for a human while nobody is online: queued, position 1.
        let waiting = d
            .engine
            .request_human(d.tenant, "buyer_1", "@customer_service_account", d.group)
            .await
            .unwrap();
        assert_eq!(
            d.engine.position(d.tenant, &waiting).await.unwrap(),
            Some(1)
        );
        let (_, counts) = d.call("GET", "/api/v1/queue", &ann, None).await;
        assert_eq!(counts[0]["waiting"], 1, "{counts}");
        // Agents do not see who waits in an automatic group; admins do.
        let (_, queue) = d
            .call("GET", "/api/v1/conversations?scope=queue", &ann, None)
            .await;
        assert_eq!(queue, json!([]));
        let boss = d.login("boss").await;
        let (_, queue) = d
            .call("GET", "/api/v1/conversations?scope=queue", &boss, None)
            .await;
        assert_eq!(queue[0]["buyer"], "buyer_1", "{queue}");
        assert_eq!(queue[0]["queue_position"], 1);
        // Going online hands the buyer over at once, and the console is told.
        let (status, me) = d.status(&ann, "online").await;
        assert_eq!(
            (status, me["active"].as_i64()),
            (200, Some(1)),
            "{}: {me}",
            d.name
        );
        let mut saw_assigned = false;
        while let Ok(Some(e)) = tokio::time::timeout(
            std::time::Duration::from_millis(200),
            futures::StreamExt::next(&mut events),
        )
        .await
        {
            if let Event::Conversation {
                conversation_id,
                change,
                agent_id,
                ..
            } = e
                && conversation_id == waiting.id
                && change == kefu_domain::event::ConversationChange::Assigned
            {
                assert!(agent_id.is_some());
                saw_assigned = true;
            }
        }
        assert!(saw_assigned, "{}: no assignment event", d.name);
        let (_, mine) = d.call("GET", "/api/v1/conversations", &ann, None).await;
        assert_eq!(mine[0]["state"], "assigned", "{mine}");
        // Another agent may not end Ann's conversation; agents may not list everything.
        let bob = d.login("bob").await;
        let path = format!("/api/v1/conversations/{}/end", waiting.id);
        let (status, _) = d.call("POST", &path, &bob, Some(json!({}))).await;
        assert_eq!(status, 403);
        let (status, _) = d
            .call("GET", "/api/v1/conversations?scope=all", &bob, None)
            .await;
        assert_eq!(status, 403);
        // The admin keeps the category tree and requires a category to end; agents read
        // both but change neither.
        let (status, refund) = d
            .call(
                "POST",
                "/api/v1/categories",
                &boss,
                Some(json!({ "name": "退款" })),
            )
            .await;
        assert_eq!(status, 201, "{refund}");
        let child = json!({ "name": "部分退款", "parent_id": refund["id"] });
        let (_, partial) = d
            .call("POST", "/api/v1/categories", &boss, Some(child))
            .await;
        let (status, _) = d
            .call(
                "POST",
                "/api/v1/categories",
                &ann,
                Some(json!({ "name": "x" })),
            )
            .await;
        assert_eq!(status, 403);
        let (status, tree) = d.call("GET", "/api/v1/categories", &ann, None).await;
        assert_eq!((status, tree.as_array().map(Vec::len)), (200, Some(2)));
        let required = json!({ "categories_required": true });
        let (status, settings) = d
            .call("PATCH", "/api/v1/settings/service", &boss, Some(required))
            .await;
        assert_eq!(
            (status, &settings["categories_required"]),
            (200, &json!(true)),
            "{settings}"
        );
        let (status, _) = d
            .call("PATCH", "/api/v1/settings/service", &ann, Some(json!({})))
            .await;
        assert_eq!(status, 403);
        let bad = json!({ "rating_kind": 7 });
        let (status, refused) = d
            .call("PATCH", "/api/v1/settings/service", &boss, Some(bad))
            .await;
        assert_eq!(
            (status, &refused["code"]),
            (400, &json!("validation_failed")),
            "{refused}"
        );
        let (status, refused) = d.call("POST", &path, &ann, Some(json!({}))).await;
        assert_eq!(
            (status, &refused["code"]),
            (400, &json!("validation_failed")),
            "{refused}"
        );
        assert!(refused["message"].as_str().unwrap().contains("category"));
        // Ann ends it with categories; the second end is a conflict.
        let (status, ended) = d
            .call(
                "POST",
                &path,
                &ann,
                Some(json!({ "categories": [refund["id"], partial["id"]], "note": "已解决" })),
            )
            .await;
        assert_eq!((status, &ended["state"]), (200, &json!("ended")), "{ended}");
        let sessions = format!("/api/v1/conversations/{}/sessions", waiting.id);
        let (_, sessions) = d.call("GET", &sessions, &ann, None).await;
        assert_eq!(
            sessions[0]["categories"],
            json!([refund["id"], partial["id"]])
        );
        assert_eq!(sessions[0]["end_reason"], "agent");
        assert!(
            sessions[0]["rating_expires_at"].as_i64().is_some(),
            "{sessions}"
        );
        let (status, again) = d.call("POST", &path, &ann, Some(json!({}))).await;
        assert_eq!(
            (status, &again["code"]),
            (409, &json!("state_conflict")),
            "{again}"
        );
        let (_, me) = d.call("GET", "/api/v1/me/status", &ann, None).await;
        assert_eq!(me["active"], 0);
        // The plan allows two online: Bob yes, Cat no, with a message that says what to do.
        assert_eq!(d.status(&bob, "online").await.0, 200);
        let cat = d.login("cat").await;
        let (status, refused) = d.status(&cat, "online").await;
        assert_eq!(
            (status, &refused["code"]),
            (409, &json!("online_limit_reached")),
            "{refused}"
        );
        assert!(
            refused["message"]
                .as_str()
                .unwrap()
                .contains("2 agents online")
        );
        assert_eq!(d.status(&bob, "suspended").await.0, 200);
        assert_eq!(d.status(&cat, "online").await.0, 200);
    }
}

#[tokio::test]
async fn in_a_manual_group_agents_take_buyers_themselves_and_only_once() {
    for db in databases().await {
        let d = desk(db).await;
        d.engine
            .store
            .set_group_routing(
                d.tenant,
                d.group,
                &GroupRouting {
                    agent_cap: 3,
                    strategy: Strategy::Manual,
                },
                0,
            )
            .await
            .unwrap();
        let ann = d.login("ann").await;
        let bob = d.login("bob").await;
        d.status(&ann, "online").await;
        d.status(&bob, "online").await;
        let waiting = d
            .engine
            .request_human(d.tenant, "buyer_2", "@customer_service_account", d.group)
            .await
            .unwrap();
        assert_eq!(
            waiting.state,
            kefu_store::ConversationState::Queued,
            "{}",
            d.name
        );
        let (_, queue) = d
            .call("GET", "/api/v1/conversations?scope=queue", &ann, None)
            .await;
        assert_eq!(queue[0]["id"], waiting.id, "{queue}");
        let path = format!("/api/v1/conversations/{}/accept", waiting.id);
        let (status, taken) = d.call("POST", &path, &ann, None).await;
        assert_eq!(
            (status, &taken["state"]),
            (200, &json!("assigned")),
            "{taken}"
        );
        let (status, late) = d.call("POST", &path, &bob, None).await;
        assert_eq!(
            (status, &late["code"]),
            (409, &json!("state_conflict")),
            "{late}"
        );
        let (status, _) = d
            .call("POST", "/api/v1/conversations/999999/accept", &bob, None)
            .await;
        assert_eq!(status, 404);
    }
}

#[tokio::test]
async fn the_agent_replies_and_history_marks_who_wrote_what() {
    for db in databases().await {
        let d = desk(db).await;
        let ann = d.login("ann").await;
        d.status(&ann, "online").await;
        let c = d
            .engine
            .request_human(d.tenant, "buyer_3", "@customer_service_account", d.group)
            .await
            .unwrap();
        // The buyer's own message, as the gateway stores it.
        let body = r#"[{"MsgType":"TIMTextElem","MsgContent":{"Text":"在吗"}}]"#;
        d.engine
            .store
            .append_message(
                d.tenant,
                kefu_store::NewMessage {
                    from_account: "buyer_3".into(),
                    to_account: "@customer_service_account".into(),
                    msg_seq: 0,
                    msg_random: 1,
                    msg_time: 1,
                    content_crc: 1,
                    body: body.into(),
                    cloud_custom_data: String::new(),
                    text: "在吗".into(),
                    created_at: 1000,
                    callback: None,
                    sender_role: String::new(),
                    agent_id: None,
                },
                0,
            )
            .await
            .unwrap();
        let path = format!("/api/v1/conversations/{}/messages", c.id);
        let reply = json!({ "msg_body": [{ "MsgType": "TIMTextElem", "MsgContent": { "Text": "您好，在的" } }] });
        let (status, sent) = d.call("POST", &path, &ann, Some(reply.clone())).await;
        assert_eq!(
            (status, &sent["role"]),
            (200, &json!("M")),
            "{}: {sent}",
            d.name
        );
        assert_eq!(sent["from_account"], "@customer_service_account");
        let (status, bad) = d
            .call(
                "POST",
                &path,
                &ann,
                Some(json!({ "msg_body": [{ "MsgType": "TIMTextElem" }] })),
            )
            .await;
        assert_eq!(
            (status, &bad["code"]),
            (400, &json!("validation_failed")),
            "{bad}"
        );
        let (_, history) = d.call("GET", &format!("{path}?limit=10"), &ann, None).await;
        let roles: Vec<&str> = history
            .as_array()
            .unwrap()
            .iter()
            .map(|m| m["role"].as_str().unwrap())
            .collect();
        // Newest first: Ann's reply, the buyer's question, and the "connected" notice the
        // buyer got when Ann was assigned.
        assert_eq!(roles, ["M", "Y", "R"], "{}: {history}", d.name);
        let notice = history[2]["msg_body"][0]["MsgContent"]["Text"]
            .as_str()
            .unwrap();
        assert!(notice.contains("号客服 ann"), "{notice}");
        // Paging back from the newest.
        let newest = history[0]["seq"].as_i64().unwrap();
        let (_, older) = d
            .call(
                "GET",
                &format!("{path}?before={newest}&limit=1"),
                &ann,
                None,
            )
            .await;
        assert_eq!(older[0]["role"], "Y", "{older}");
        // Another agent neither reads nor writes here; an admin reads and sees Ann as O.
        let bob = d.login("bob").await;
        assert_eq!(d.call("GET", &path, &bob, None).await.0, 403);
        let (status, _) = d.call("POST", &path, &bob, Some(reply)).await;
        assert_eq!(status, 409);
        let boss = d.login("boss").await;
        let (_, seen) = d.call("GET", &path, &boss, None).await;
        assert_eq!(seen[0]["role"], "O");
        let kinds: Vec<String> = d
            .engine
            .store
            .conversation_events(d.tenant, c.id)
            .await
            .unwrap()
            .into_iter()
            .map(|e| e.kind)
            .collect();
        assert!(
            kinds.contains(&"first_agent_reply".to_string()),
            "{kinds:?}"
        );
    }
}

#[tokio::test]
async fn an_agent_transfers_to_a_colleague_or_to_another_group() {
    for db in databases().await {
        let d = desk(db).await;
        let other_group = d
            .engine
            .store
            .create_skill_group(d.tenant, "售后", 0)
            .await
            .unwrap();
        let ann = d.login("ann").await;
        let bob = d.login("bob").await;
        d.status(&ann, "online").await;
        let c = d
            .engine
            .request_human(d.tenant, "buyer_4", "@customer_service_account", d.group)
            .await
            .unwrap();
        let path = format!("/api/v1/conversations/{}/transfer", c.id);
        // Bob is not online yet: not in the list, and not a receiver.
        let (_, online) = d.call("GET", "/api/v1/agents/online", &ann, None).await;
        assert_eq!(online, json!([]), "{}", d.name);
        let (_, bob_me) = d.call("GET", "/api/v1/me/status", &bob, None).await;
        assert_eq!(bob_me["status"], "suspended");
        d.status(&bob, "online").await;
        let (_, online) = d
            .call("GET", "/api/v1/agents/online?q=BO", &ann, None)
            .await;
        assert_eq!(online[0]["username"], "bob", "{online}");
        let bob_id = online[0]["id"].clone();
        let (status, none) = d
            .call("POST", &path, &ann, Some(json!({ "note": "x" })))
            .await;
        assert_eq!((status, &none["code"]), (400, &json!("validation_failed")));
        let (status, moved) = d
            .call(
                "POST",
                &path,
                &ann,
                Some(json!({ "to_agent_id": bob_id, "note": "要开发票" })),
            )
            .await;
        assert_eq!(
            (status, &moved["agent_id"]),
            (200, &bob_id),
            "{}: {moved}",
            d.name
        );
        // Ann may no longer transfer it; Bob sends it on to the after-sales queue.
        let (status, _) = d
            .call(
                "POST",
                &path,
                &ann,
                Some(json!({ "to_skill_group_id": other_group.id.0 })),
            )
            .await;
        assert_eq!(status, 409);
        let (status, queued) = d
            .call(
                "POST",
                &path,
                &bob,
                Some(json!({ "to_skill_group_id": other_group.id.0, "note": "售后处理" })),
            )
            .await;
        assert_eq!(
            (status, &queued["state"]),
            (200, &json!("queued")),
            "{queued}"
        );
        assert_eq!(queued["skill_group_id"], other_group.id.0);
        let (_, me) = d.call("GET", "/api/v1/me/status", &bob, None).await;
        assert_eq!(me["active"], 0);
        let events = d
            .engine
            .store
            .conversation_events(d.tenant, c.id)
            .await
            .unwrap();
        let transfers: Vec<&str> = events
            .iter()
            .filter(|e| e.kind == "transferred")
            .map(|e| e.detail.as_str())
            .collect();
        assert_eq!(transfers.len(), 2, "{}", d.name);
        assert!(transfers[0].contains("要开发票"), "{transfers:?}");
    }
}

#[tokio::test]
async fn admins_shape_groups_and_tags_and_agents_tag_messages_and_hand_buyers_a_group_menu() {
    for db in databases().await {
        let d = desk(db).await;
        let boss = d.login("boss").await;
        let ann = d.login("ann").await;
        let bob = d.login("bob").await;
        let (_, me) = d.call("GET", "/api/v1/auth/me", &ann, None).await;
        let ann_id = me["account"]["id"].as_i64().unwrap();
        let group = format!("/api/v1/skill-groups/{}", d.group.0);
        let change =
            json!({ "client_name": "售前咨询", "agent_cap": 1, "strategy": "round_robin" });
        let (status, _) = d.call("PATCH", &group, &ann, Some(change.clone())).await;
        assert_eq!(status, 403, "{}", d.name);
        let (status, g) = d.call("PATCH", &group, &boss, Some(change)).await;
        assert_eq!(
            (status, &g["strategy"]),
            (200, &json!("round_robin")),
            "{g}"
        );
        assert_eq!(
            (&g["agent_cap"], &g["client_name"]),
            (&json!(1), &json!("售前咨询"))
        );
        let (status, bad) = d
            .call("PATCH", &group, &boss, Some(json!({ "agent_cap": 0 })))
            .await;
        assert_eq!((status, &bad["code"]), (400, &json!("validation_failed")));
        let cap = format!("{group}/members/{ann_id}/cap");
        let (status, g) = d.call("PUT", &cap, &boss, Some(json!({ "cap": 2 }))).await;
        assert_eq!(status, 200, "{g}");
        let mine = g["members"]
            .as_array()
            .unwrap()
            .iter()
            .find(|m| m["account_id"] == ann_id);
        assert_eq!(mine.unwrap()["cap"], 2);
        let stranger = format!("{group}/members/999999/cap");
        assert_eq!(
            d.call("PUT", &stranger, &boss, Some(json!({}))).await.0,
            404
        );
        let (status, busy) = d.call("DELETE", &group, &boss, None).await;
        assert_eq!((status, &busy["code"]), (409, &json!("in_use")), "{busy}");
        assert!(busy["message"].as_str().unwrap().contains("members"));

        // Tags: the admin's tree; the serving agent tags a message with a note.
        let (status, _) = d
            .call("POST", "/api/v1/tags", &ann, Some(json!({ "name": "x" })))
            .await;
        assert_eq!(status, 403);
        let (status, tag) = d
            .call(
                "POST",
                "/api/v1/tags",
                &boss,
                Some(json!({ "name": "催发货" })),
            )
            .await;
        assert_eq!(status, 201, "{tag}");
        d.status(&ann, "online").await;
        let c = d
            .engine
            .request_human(d.tenant, "buyer_9", "@customer_service_account", d.group)
            .await
            .unwrap();
        let messages = format!("/api/v1/conversations/{}/messages", c.id);
        let text = json!({ "msg_body": [{ "MsgType": "TIMTextElem", "MsgContent": { "Text": "今天发货" } }] });
        let (status, sent) = d.call("POST", &messages, &ann, Some(text)).await;
        assert_eq!(status, 200, "{sent}");
        // The buyer writes twice: unread 2 in the agent's list until marked read.
        let store = d.engine.store.clone();
        let mut last = 0;
        for text in ["在吗", "急用"] {
            let body = json!([{ "MsgType": "TIMTextElem", "MsgContent": { "Text": text } }]);
            let m = kefu_store::NewMessage {
                from_account: "buyer_9".into(),
                to_account: "@customer_service_account".into(),
                msg_seq: 0,
                msg_random: last + 1,
                msg_time: 0,
                content_crc: 0,
                body: body.to_string(),
                cloud_custom_data: String::new(),
                text: text.into(),
                created_at: d.engine.clock.now(),
                callback: None,
                sender_role: String::new(),
                agent_id: None,
            };
            last = store
                .append_message(d.tenant, m, 0)
                .await
                .unwrap()
                .message
                .seq;
        }
        let (_, mine) = d.call("GET", "/api/v1/conversations", &ann, None).await;
        assert_eq!(mine[0]["unread"], 2, "{}: {mine}", d.name);
        let read = format!("/api/v1/conversations/{}/read", c.id);
        let (status, r) = d
            .call("POST", &read, &ann, Some(json!({ "seq": last })))
            .await;
        assert_eq!((status, &r["read_seq"]), (200, &json!(last)), "{r}");
        let (_, mine) = d.call("GET", "/api/v1/conversations", &ann, None).await;
        assert_eq!(mine[0]["unread"], 0, "{mine}");
        let tag_path = format!("{messages}/{}/tags", sent["seq"]);
        let body = json!({ "tag_id": tag["id"], "note": "客户很急" });
        let (status, _) = d.call("POST", &tag_path, &bob, Some(body.clone())).await;
        assert_eq!(status, 403, "only agents who served it");
        let (status, tagged) = d.call("POST", &tag_path, &ann, Some(body.clone())).await;
        assert_eq!(
            (status, &tagged["text"]),
            (201, &json!("今天发货")),
            "{tagged}"
        );
        let (status, _) = d.call("POST", &tag_path, &ann, Some(body)).await;
        assert_eq!(status, 409);
        let (_, found) = d
            .call(
                "GET",
                "/api/v1/message-tags?note=%E5%BE%88%E6%80%A5&buyer=buyer_9",
                &boss,
                None,
            )
            .await;
        assert_eq!(found.as_array().map(Vec::len), Some(1), "{found}");
        let tag_node = format!("/api/v1/tags/{}", tag["id"]);
        let (status, _) = d.call("DELETE", &tag_node, &boss, None).await;
        assert_eq!(status, 409);

        // Ann hands the buyer a menu of groups; the transfer is counted as across groups.
        let transfer = format!("/api/v1/conversations/{}/transfer", c.id);
        let choice = json!({ "to_buyer_choice": true });
        let (status, moved) = d.call("POST", &transfer, &ann, Some(choice)).await;
        assert_eq!(status, 200, "{}: {moved}", d.name);
        assert_eq!(
            (&moved["state"], &moved["choosing_group"]),
            (&json!("flow"), &json!(true))
        );
        let (_, me) = d.call("GET", "/api/v1/me/status", &ann, None).await;
        assert_eq!(
            (&me["transfers_across"], &me["active"]),
            (&json!(1), &json!(0)),
            "{me}"
        );
        let off = json!({ "buyer_group_choice": false });
        d.call("PATCH", "/api/v1/settings/service", &boss, Some(off))
            .await;
        let (_, again) = d
            .call(
                "GET",
                &format!("/api/v1/conversations/{}/sessions", c.id),
                &ann,
                None,
            )
            .await;
        assert_eq!(again[0]["end_reason"], "transferred");
        let (_, events) = d
            .call(
                "GET",
                &format!("/api/v1/conversations/{}/events", c.id),
                &ann,
                None,
            )
            .await;
        let transferred = events
            .as_array()
            .unwrap()
            .iter()
            .find(|e| e["kind"] == "transferred")
            .unwrap();
        assert_eq!(transferred["detail"]["to"], "buyer_choice", "{events}");
    }
}

#[tokio::test]
async fn admins_keep_the_faq_and_knowledge_base_and_agents_see_their_groups_part() {
    for db in databases().await {
        let d = desk(db).await;
        let boss = d.login("boss").await;
        let ann = d.login("ann").await;
        let (status, root) = d
            .call(
                "POST",
                "/api/v1/knowledge",
                &boss,
                Some(json!({ "title": "日常接待", "skill_group_ids": [d.group.0] })),
            )
            .await;
        assert_eq!(status, 201, "{}: {root}", d.name);
        let (status, hello) = d
            .call(
                "POST",
                "/api/v1/knowledge",
                &boss,
                Some(json!({ "title": "开始接待", "parent_id": root["id"],
                    "answer": "您好！欢迎使用在线客服，请简述您的问题！",
                    "keywords": ["开始", "欢迎"], "is_new": true })),
            )
            .await;
        assert_eq!(status, 201, "{hello}");
        assert_eq!(hello["position"], 0);
        // Another group's subtree and a disabled entry stay out of ann's quick replies.
        let (_, other) = d
            .call(
                "POST",
                "/api/v1/skill-groups",
                &boss,
                Some(json!({ "name": "售后" })),
            )
            .await;
        d.call(
            "POST",
            "/api/v1/knowledge",
            &boss,
            Some(json!({ "title": "退货流程", "answer": "…", "skill_group_ids": [other["id"]] })),
        )
        .await;
        d.call(
            "POST",
            "/api/v1/knowledge",
            &boss,
            Some(json!({ "title": "旧话术", "answer": "…", "enabled": false })),
        )
        .await;
        let (_, all) = d.call("GET", "/api/v1/knowledge", &boss, None).await;
        assert_eq!(all.as_array().unwrap().len(), 4, "{}: {all}", d.name);
        let (_, mine) = d.call("GET", "/api/v1/knowledge", &ann, None).await;
        let titles: Vec<&str> = mine
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["title"].as_str().unwrap())
            .collect();
        assert_eq!(titles, ["日常接待", "开始接待"], "{}", d.name);
        // Chinese search on title, keywords and answer; flags.
        let (_, found) = d
            .call("GET", "/api/v1/knowledge?q=%E6%AC%A2%E8%BF%8E", &boss, None)
            .await;
        assert_eq!(found[0]["title"], "开始接待", "{found}");
        let (_, new) = d
            .call("GET", "/api/v1/knowledge?is_new=true", &boss, None)
            .await;
        assert_eq!(new.as_array().unwrap().len(), 1);
        // Agents count uses but cannot edit.
        let id = hello["id"].as_i64().unwrap();
        let (status, used) = d
            .call("POST", &format!("/api/v1/knowledge/{id}/use"), &ann, None)
            .await;
        assert_eq!((status, used["uses"].as_i64()), (200, Some(1)), "{used}");
        let (status, _) = d
            .call(
                "PUT",
                &format!("/api/v1/knowledge/{id}"),
                &ann,
                Some(json!({ "title": "x" })),
            )
            .await;
        assert_eq!(status, 403);
        // A parent cannot go under its own child; a parent with children stays.
        let root_id = root["id"].as_i64().unwrap();
        let (status, moved) = d
            .call(
                "PUT",
                &format!("/api/v1/knowledge/{root_id}"),
                &boss,
                Some(json!({ "title": "日常接待", "parent_id": id })),
            )
            .await;
        assert_eq!(status, 409, "{moved}");
        let (status, why) = d
            .call(
                "DELETE",
                &format!("/api/v1/knowledge/{root_id}"),
                &boss,
                None,
            )
            .await;
        assert_eq!(
            (status, why["code"].as_str()),
            (409, Some("in_use")),
            "{why}"
        );
        // FAQ entries are a separate tree; a bad image answer is explained.
        let (status, bad) = d
            .call(
                "POST",
                "/api/v1/faq",
                &boss,
                Some(json!({ "title": "示例图", "answer_kind": "image", "answer": "not a url" })),
            )
            .await;
        assert_eq!(status, 400, "{bad}");
        assert!(bad["message"].as_str().unwrap().contains("URL"));
        let (_, faq) = d.call("GET", "/api/v1/faq", &boss, None).await;
        assert_eq!(faq, json!([]), "{}", d.name);
    }
}

#[tokio::test]
async fn flows_are_validated_published_as_versions_and_bound_to_one_account() {
    for db in databases().await {
        let d = desk(db).await;
        let boss = d.login("boss").await;
        let broken = json!({ "nodes": [
            { "id": "start", "type": "start", "next": "t" },
            { "id": "t", "type": "transfer", "skill_group_id": 999, "next": "end" },
            { "id": "lost", "type": "message", "text": "?", "next": "end" },
            { "id": "end", "type": "end" }
        ]});
        let (status, check) = d
            .call(
                "POST",
                "/api/v1/flows/validate",
                &boss,
                Some(json!({ "draft": broken })),
            )
            .await;
        assert_eq!((status, &check["valid"]), (200, &json!(false)), "{check}");
        let nodes: Vec<&str> = check["errors"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["node"].as_str().unwrap_or(""))
            .collect();
        assert!(nodes.contains(&"t"), "{check}");
        let (status, refused) = d
            .call(
                "POST",
                "/api/v1/flows",
                &boss,
                Some(json!({ "name": "坏流程", "draft": broken })),
            )
            .await;
        assert_eq!(status, 400, "{}: {refused}", d.name);
        assert!(
            refused["message"]
                .as_str()
                .unwrap()
                .contains("skill group 999")
        );

        let demo = kefu_domain::flow::demo(d.group.0);
        let (status, flow) = d
            .call(
                "POST",
                "/api/v1/flows",
                &boss,
                Some(json!({ "name": "默认流程", "service_account": "@customer_service_account", "draft": demo })),
            )
            .await;
        assert_eq!(status, 201, "{flow}");
        assert_eq!(flow["published_version"], Value::Null);
        assert_eq!(flow["unpublished_changes"], true);
        let id = flow["id"].as_i64().unwrap();
        let (_, published) = d
            .call("POST", &format!("/api/v1/flows/{id}/publish"), &boss, None)
            .await;
        assert_eq!(published["published_version"], 1, "{published}");
        assert_eq!(published["unpublished_changes"], false);
        d.call("POST", &format!("/api/v1/flows/{id}/publish"), &boss, None)
            .await;
        let (_, got) = d
            .call("GET", &format!("/api/v1/flows/{id}"), &boss, None)
            .await;
        let versions: Vec<i64> = got["versions"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v["version"].as_i64().unwrap())
            .collect();
        assert_eq!(versions, [2, 1], "{}", d.name);
        // One flow per account; unknown accounts are refused.
        let (status, taken) = d
            .call(
                "POST",
                "/api/v1/flows",
                &boss,
                Some(json!({ "name": "第二个", "service_account": "@customer_service_account", "draft": demo })),
            )
            .await;
        assert_eq!(status, 409, "{taken}");
        let (status, _) = d
            .call(
                "POST",
                "/api/v1/flows",
                &boss,
                Some(json!({ "name": "第二个", "service_account": "@nobody", "draft": demo })),
            )
            .await;
        assert_eq!(status, 400);
        let (status, why) = d
            .call(
                "DELETE",
                &format!("/api/v1/skill-groups/{}", d.group.0),
                &boss,
                None,
            )
            .await;
        assert_eq!(status, 409, "{why}");
        assert!(
            why["message"].as_str().unwrap().contains("默认流程"),
            "{why}"
        );
        let ann = d.login("ann").await;
        let (status, _) = d.call("GET", "/api/v1/flows", &ann, None).await;
        assert_eq!(status, 403, "agents do not manage flows");
        let (_, audit) = d.call("GET", "/api/v1/audit", &boss, None).await;
        assert!(audit.to_string().contains("flow_published"), "{audit}");
    }
}

#[tokio::test]
async fn the_time_plan_words_and_reply_settings_are_checked_saved_and_audited() {
    for db in databases().await {
        let d = desk(db).await;
        let boss = d.login("boss").await;
        let (_, plan) = d.call("GET", "/api/v1/schedule", &boss, None).await;
        assert_eq!(
            (&plan["enabled"], &plan["time_zone"]),
            (&json!(false), &json!("Asia/Shanghai"))
        );
        let week = json!({ "time_zone": "Asia/Shanghai", "enabled": true,
            "weekly": [{ "weekday": 1, "hours": [{ "start": "09:00", "end": "12:00" }, { "start": "13:00", "end": "18:00" }] }],
            "custom_days": [],
            "holidays": [{ "name": "元旦", "from": "2026-01-01", "to": "2026-01-01", "reply": "元旦快乐，1月2日恢复服务。" }] });
        let (status, saved) = d
            .call("PUT", "/api/v1/schedule", &boss, Some(week.clone()))
            .await;
        assert_eq!(status, 200, "{}: {saved}", d.name);
        // The manual clock starts on 2026-01-01: the holiday.
        let (_, now) = d.call("GET", "/api/v1/schedule/period", &boss, None).await;
        assert_eq!(
            (&now["period"], &now["holiday"]),
            (&json!("holiday"), &json!("元旦"))
        );
        let mut bad = week.clone();
        bad["weekly"][0]["hours"][1]["start"] = json!("11:00");
        let (status, why) = d.call("PUT", "/api/v1/schedule", &boss, Some(bad)).await;
        assert_eq!(status, 400);
        assert!(
            why["message"].as_str().unwrap().contains("overlaps"),
            "{why}"
        );
        let mut bad = week;
        bad["time_zone"] = json!("Mars/Base");
        let (status, _) = d.call("PUT", "/api/v1/schedule", &boss, Some(bad)).await;
        assert_eq!(status, 400);

        let (status, words) = d
            .call(
                "PUT",
                "/api/v1/sensitive-words",
                &boss,
                Some(json!({ "words": [{ "word": "微信", "action": "block" }, { "word": "笨蛋", "action": "mask" }] })),
            )
            .await;
        assert_eq!(
            (status, words["words"].as_array().map(Vec::len)),
            (200, Some(2))
        );
        let (status, _) = d
            .call(
                "PUT",
                "/api/v1/sensitive-words",
                &boss,
                Some(json!({ "words": [{ "word": " ", "action": "block" }] })),
            )
            .await;
        assert_eq!(status, 400);

        let (status, s) = d
            .call(
                "PATCH",
                "/api/v1/settings/service",
                &boss,
                Some(json!({ "welcome_message": "欢迎光临", "transfer_keywords": ["转人工"], "off_hours_queue": true })),
            )
            .await;
        assert_eq!(status, 200, "{s}");
        assert_eq!(s["transfer_keywords"], json!(["转人工"]));
        let (status, _) = d
            .call(
                "PATCH",
                "/api/v1/settings/service",
                &boss,
                Some(json!({ "transfer_keywords": [] })),
            )
            .await;
        assert_eq!(status, 400, "a tenant keeps a way to reach a human");
        let (_, audit) = d.call("GET", "/api/v1/audit", &boss, None).await;
        let text = audit.to_string();
        for action in [
            "schedule_updated",
            "sensitive_words_replaced",
            "service_settings_updated",
        ] {
            assert!(text.contains(action), "{}: {action} in {audit}", d.name);
        }
        // An agent's console reply with a blocked word is refused and says which.
        let ann = d.login("ann").await;
        d.status(&ann, "online").await;
        let c = d
            .engine
            .request_human(d.tenant, "buyer_1", "@customer_service_account", d.group)
            .await
            .unwrap();
        let (status, refused) = d
            .call(
                "POST",
                &format!("/api/v1/conversations/{}/messages", c.id),
                &ann,
                Some(json!({ "msg_body": [{ "MsgType": "TIMTextElem", "MsgContent": { "Text": "加我微信" } }] })),
            )
            .await;
        assert_eq!(
            (status, refused["code"].as_str()),
            (400, Some("blocked_word")),
            "{}: {refused}",
            d.name
        );
    }
}

/// Serves the sample order provider on a free port with `secret`; returns its orders URL.
async fn sample_provider(clock: Arc<dyn Clock>, secret: &'static str) -> String {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let lookup: kefu_orders::sample::SecretLookup =
        Arc::new(move || Box::pin(async move { Some(secret.to_string()) }));
    let base = format!("http://127.0.0.1:{port}");
    let routes =
        poem::Route::new().nest("/demo", kefu_orders::sample::routes(lookup, clock, &base));
    tokio::spawn(
        poem::Server::new(poem::listener::TcpListener::bind(format!(
            "127.0.0.1:{port}"
        )))
        .run(routes),
    );
    for _ in 0..100 {
        if tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .is_ok()
        {
            break;
        }
        // Waiting for the server to bind, not for a timeout under test.
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    format!("{base}/demo/orders")
}

#[tokio::test]
async fn the_serving_agent_pages_the_buyers_orders_and_sends_one_as_a_card() {
    for db in databases().await {
        let d = desk(db).await;
        let boss = d.login("boss").await;
        let ann = d.login("ann").await;
        d.status(&ann, "online").await;
        let c = d
            .engine
            .request_human(d.tenant, "buyer_1", "@customer_service_account", d.group)
            .await
            .unwrap();
        let orders = format!("/api/v1/conversations/{}/orders", c.id);
        let (status, missing) = d.call("GET", &orders, &ann, None).await;
        assert_eq!(
            (status, missing["code"].as_str()),
            (404, Some("order_provider_missing")),
            "{}: {missing}",
            d.name
        );
        // Admins set it: HTTPS (or localhost) and a secret of 16 or more characters.
        for (body, field) in [
            (
                json!({ "url": "http://shop.example/orders", "secret": "x".repeat(20) }),
                "url",
            ),
            (json!({ "url": "https://shop.example/orders" }), "secret"),
            (
                json!({ "url": "https://shop.example/orders", "secret": "short" }),
                "secret",
            ),
        ] {
            let (status, why) = d
                .call("PUT", "/api/v1/order-provider", &boss, Some(body))
                .await;
            assert_eq!(status, 400, "{why}");
            assert!(why["message"].as_str().unwrap().starts_with(field), "{why}");
        }
        let clock: Arc<dyn Clock> = Arc::new(ManualClock::default());
        let url = sample_provider(clock, "the-demo-shop-secret").await;
        let (status, set) = d
            .call(
                "PUT",
                "/api/v1/order-provider",
                &boss,
                Some(json!({ "url": url, "secret": "the-demo-shop-secret" })),
            )
            .await;
        assert_eq!((status, &set["configured"]), (200, &json!(true)), "{set}");
        let (status, page) = d.call("GET", &orders, &ann, None).await;
        assert_eq!(status, 200, "{}: {page}", d.name);
        let first = page["orders"][0].clone();
        assert!(
            first["order_no"].as_str().unwrap().starts_with("DM"),
            "{page}"
        );
        if let Some(cursor) = page["next_cursor"].as_str() {
            let (status, next) = d
                .call("GET", &format!("{orders}?cursor={cursor}"), &ann, None)
                .await;
            assert_eq!(status, 200);
            assert_ne!(next["orders"][0]["order_no"], first["order_no"]);
        }
        // The agent sends the first order as a card.
        let (status, sent) = d
            .call(
                "POST",
                &format!("/api/v1/conversations/{}/order-card", c.id),
                &ann,
                Some(json!({ "order": first })),
            )
            .await;
        assert_eq!(status, 200, "{}: {sent}", d.name);
        let data: Value =
            serde_json::from_str(sent["msg_body"][0]["MsgContent"]["Data"].as_str().unwrap())
                .unwrap();
        assert_eq!(data["src"], "22");
        assert_eq!(
            data["content"]["header"],
            format!("订单 {}", first["order_no"].as_str().unwrap())
        );
        assert_eq!(data["content"]["url"], first["detail_url"]);
        // A wrong secret or a provider that is gone shows as a retryable failure.
        d.call(
            "PUT",
            "/api/v1/order-provider",
            &boss,
            Some(json!({ "url": url, "secret": "not-the-right-secret" })),
        )
        .await;
        let (status, failed) = d
            .call("GET", &format!("{orders}?fresh=true"), &ann, None)
            .await;
        assert_eq!(
            (status, failed["code"].as_str()),
            (502, Some("order_provider_failed")),
            "{failed}"
        );
        assert!(
            failed["message"].as_str().unwrap().contains("HTTP 401"),
            "{failed}"
        );
        d.call(
            "PUT",
            "/api/v1/order-provider",
            &boss,
            Some(json!({ "url": "http://127.0.0.1:9/orders" })),
        )
        .await;
        let (status, gone) = d.call("GET", &orders, &ann, None).await;
        assert_eq!(status, 502, "{gone}");
        assert!(
            gone["message"]
                .as_str()
                .unwrap()
                .contains("could not be reached"),
            "{gone}"
        );
        // Another agent's conversation is not theirs to send cards in.
        let bob = d.login("bob").await;
        let (status, _) = d
            .call(
                "POST",
                &format!("/api/v1/conversations/{}/order-card", c.id),
                &bob,
                Some(json!({ "order": first })),
            )
            .await;
        assert!(status == 409 || status == 404, "{status}");
    }
}

#[tokio::test]
async fn reports_count_a_scripted_day_and_export_it_to_excel() {
    const S: i64 = 1000;
    for db in databases().await {
        let d = desk(db).await;
        let t0 = d.clock.now();
        let boss = d.login("boss").await;
        let ann = d.login("ann").await;
        let bob = d.login("bob").await;
        let (_, cat) = d
            .call(
                "POST",
                "/api/v1/categories",
                &boss,
                Some(json!({ "name": "退货" })),
            )
            .await;
        let app = d.engine.store.get_im_app(d.tenant).await.unwrap().unwrap();
        let account = app.service_accounts[0].clone();
        let buyer_says = |buyer: &'static str, at: i64| {
            let store = d.engine.store.clone();
            let tenant = d.tenant;
            async move {
                let body = json!([{ "MsgType": "TIMTextElem", "MsgContent": { "Text": "在吗" } }])
                    .to_string();
                let m = kefu_store::NewMessage {
                    from_account: buyer.into(),
                    to_account: "@customer_service_account".into(),
                    msg_seq: 0,
                    msg_random: at,
                    msg_time: at / 1000,
                    content_crc: 0,
                    body,
                    cloud_custom_data: String::new(),
                    text: "在吗".into(),
                    created_at: at,
                    callback: None,
                    sender_role: String::new(),
                    agent_id: None,
                };
                store.append_message(tenant, m, 0).await.unwrap();
            }
        };
        let reply = |token: String, id: i64| {
            let path = format!("/api/v1/conversations/{id}/messages");
            let d = &d;
            async move {
                let (status, m) = d
                    .call("POST", &path, &token, Some(json!({ "msg_body": [{ "MsgType": "TIMTextElem", "MsgContent": { "Text": "您好" } }] })))
                    .await;
                assert_eq!(status, 200, "{m}");
            }
        };
        // 0:01 ann online; buyer_1 asks and is hers at once.
        d.clock.advance(S);
        d.status(&ann, "online").await;
        let c1 = d
            .engine
            .request_human(d.tenant, "buyer_1", "@customer_service_account", d.group)
            .await
            .unwrap();
        // 0:11 her first reply; 0:16 the buyer writes; 0:61 she ends it with a category.
        d.clock.advance(10 * S);
        reply(ann.clone(), c1.id).await;
        d.clock.advance(5 * S);
        buyer_says("buyer_1", d.clock.now()).await;
        d.clock.advance(45 * S);
        let (status, _) = d
            .call(
                "POST",
                &format!("/api/v1/conversations/{}/end", c1.id),
                &ann,
                Some(json!({ "categories": [cat["id"]] })),
            )
            .await;
        assert_eq!(status, 200);
        let session = c1.session_id.unwrap().to_string();
        d.engine
            .buyer_custom(
                d.tenant,
                "buyer_1",
                &account,
                &kefu_domain::cs::CsMessage::RatingSubmission {
                    option_id: "105".into(),
                    content: "非常满意".into(),
                    session_id: session,
                },
            )
            .await
            .unwrap();
        // 0:61 ann suspends; 0:71 buyer_2 queues; 0:101 ann back, gets buyer_2 (30 s wait).
        d.status(&ann, "suspended").await;
        d.clock.advance(10 * S);
        let c2 = d
            .engine
            .request_human(d.tenant, "buyer_2", "@customer_service_account", d.group)
            .await
            .unwrap();
        d.clock.advance(30 * S);
        d.status(&ann, "online").await;
        // 0:106 bob online; 0:111 ann hands buyer_2 to bob (within the group).
        d.clock.advance(5 * S);
        d.status(&bob, "online").await;
        d.clock.advance(5 * S);
        let bob_id = d.call("GET", "/api/v1/auth/me", &bob, None).await.1["account"]["id"]
            .as_i64()
            .unwrap();
        let (status, moved) = d
            .call(
                "POST",
                &format!("/api/v1/conversations/{}/transfer", c2.id),
                &ann,
                Some(json!({ "to_agent_id": bob_id })),
            )
            .await;
        assert_eq!(status, 200, "{moved}");
        // 0:121 bob replies; 0:131 he ends it. The report is read at 0:201.
        d.clock.advance(10 * S);
        reply(bob.clone(), c2.id).await;
        d.clock.advance(10 * S);
        d.call(
            "POST",
            &format!("/api/v1/conversations/{}/end", c2.id),
            &bob,
            Some(json!({})),
        )
        .await;
        d.clock.advance(70 * S);
        let range = format!("from={t0}&to={}", t0 + 3_600 * S);

        // 分时统计: everything happened in the hour after t0, in the tenant's zone.
        let (status, hourly) = d
            .call(
                "GET",
                &format!("/api/v1/reports/hourly?{range}"),
                &boss,
                None,
            )
            .await;
        assert_eq!(status, 200, "{hourly}");
        let local_hour = kefu_domain::schedule::local_day_hour("Asia/Shanghai", t0).1 as usize;
        let busy: Vec<&Value> = hourly["rows"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|r| r[1].as_i64() != Some(0) || r[2].as_i64() != Some(0))
            .collect();
        assert_eq!(busy.len(), 1, "{}: {hourly}", d.name);
        // Two queue joins, one buyer who wrote once, two replies.
        assert_eq!(
            *busy[0],
            json!([
                format!("{local_hour:02}:00-{:02}:00", local_hour + 1),
                2,
                1,
                1,
                2
            ]),
            "{}",
            d.name
        );
        assert_eq!(hourly["totals"], json!(["合计", 2, 1, 1, 2]));
        let (_, in_group) = d
            .call(
                "GET",
                &format!(
                    "/api/v1/reports/hourly?{range}&skill_group_id={}",
                    d.group.0
                ),
                &boss,
                None,
            )
            .await;
        assert_eq!(
            in_group["totals"],
            json!(["合计", 2, 1, 1, 2]),
            "{}",
            d.name
        );
        let (_, elsewhere) = d
            .call(
                "GET",
                &format!("/api/v1/reports/hourly?{range}&skill_group_id=999999"),
                &boss,
                None,
            )
            .await;
        assert_eq!(
            elsewhere["totals"],
            json!(["合计", 0, 0, 0, 0]),
            "{}",
            d.name
        );

        let (status, sessions) = d
            .call(
                "GET",
                &format!("/api/v1/reports/sessions?{range}"),
                &boss,
                None,
            )
            .await;
        assert_eq!(status, 200, "{}: {sessions}", d.name);
        let pick = |row: &Value| {
            let r = row.as_array().unwrap();
            // buyer, wait, session, handling, agent messages, end reason, rating
            (
                r[0].clone(),
                r[6].clone(),
                r[7].clone(),
                r[8].clone(),
                r[9].clone(),
                r[10].clone(),
                r[11].clone(),
            )
        };
        let rows: Vec<_> = sessions["rows"]
            .as_array()
            .unwrap()
            .iter()
            .map(pick)
            .collect();
        assert_eq!(
            rows,
            vec![
                (
                    json!("buyer_1"),
                    json!(0),
                    json!(60),
                    json!(50),
                    json!(1),
                    json!("agent"),
                    json!(5)
                ),
                (
                    json!("buyer_2"),
                    json!(30),
                    json!(10),
                    json!(0),
                    json!(0),
                    json!("transferred"),
                    json!(null)
                ),
                (
                    json!("buyer_2"),
                    json!(0),
                    json!(20),
                    json!(10),
                    json!(1),
                    json!("agent"),
                    json!(null)
                ),
            ],
            "{}",
            d.name
        );

        let (_, work) = d
            .call(
                "GET",
                &format!("/api/v1/reports/workload?{range}"),
                &boss,
                None,
            )
            .await;
        let ann_row = work["rows"][0].as_array().unwrap().clone();
        // buyers, sessions, within, across, buyer messages, replies, first response,
        // handling, online, suspended
        assert_eq!(
            ann_row[2..].to_vec(),
            [2, 2, 1, 0, 1, 1, 10, 35, 160, 41]
                .map(|n| json!(n))
                .to_vec(),
            "{}: {work}",
            d.name
        );
        let bob_row = work["rows"][1].as_array().unwrap().clone();
        assert_eq!(
            bob_row[2..].to_vec(),
            [1, 1, 0, 0, 0, 1, 10, 20, 95, 106]
                .map(|n| json!(n))
                .to_vec(),
            "{}: {work}",
            d.name
        );
        let totals = work["totals"].as_array().unwrap();
        assert_eq!(
            (&totals[2], &totals[3], &totals[7]),
            (&json!(2), &json!(3), &json!(2))
        );
        // cat never replied: shown only when idle agents are asked for.
        assert_eq!(work["rows"].as_array().unwrap().len(), 2);
        let (_, all) = d
            .call(
                "GET",
                &format!("/api/v1/reports/workload?{range}&include_idle=true"),
                &boss,
                None,
            )
            .await;
        // Every seat with a status in the range (boss logged in) and every agent.
        let names: Vec<&str> = all["rows"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r[0].as_str().unwrap())
            .collect();
        assert_eq!(names, ["boss", "ann", "bob", "cat"], "{all}");

        let (_, sat) = d
            .call(
                "GET",
                &format!("/api/v1/reports/satisfaction?{range}"),
                &boss,
                None,
            )
            .await;
        // sessions, rated, 非常满意 … 非常不满意, share satisfied, average
        assert_eq!(
            sat["rows"][0].as_array().unwrap()[2..].to_vec(),
            vec![
                json!(2),
                json!(1),
                json!(1),
                json!(0),
                json!(0),
                json!(0),
                json!(0),
                json!(1.0),
                json!(5.0)
            ],
            "{}: {sat}",
            d.name
        );
        let (_, cats) = d
            .call(
                "GET",
                &format!("/api/v1/reports/categories?{range}"),
                &boss,
                None,
            )
            .await;
        assert_eq!(
            cats["rows"],
            json!([["2026-01-01", cat["id"], "退货", 1]]),
            "{}",
            d.name
        );

        // The same session list as a workbook, read back.
        let resp = d
            .cli
            .get(format!("/api/v1/reports/sessions?{range}&format=xlsx"))
            .header("authorization", format!("Bearer {boss}"))
            .send()
            .await;
        resp.assert_status_is_ok();
        let bytes = resp.0.into_body().into_vec().await.unwrap();
        use calamine::Reader;
        let mut wb: calamine::Xlsx<_> =
            calamine::open_workbook_from_rs(std::io::Cursor::new(bytes)).unwrap();
        let sheet = wb.worksheet_range("sessions").unwrap();
        let cell = |r: u32, c: u32| sheet.get_value((r, c)).cloned();
        assert_eq!(cell(0, 0), Some(calamine::Data::String("客户ID".into())));
        assert_eq!(cell(1, 0), Some(calamine::Data::String("buyer_1".into())));
        assert_eq!(
            cell(1, 7),
            Some(calamine::Data::Float(60.0)),
            "session seconds as numbers"
        );
        assert_eq!(sheet.height(), 4, "a header and three sessions");
        // Bad requests are explained.
        let (status, _) = d
            .call(
                "GET",
                &format!("/api/v1/reports/nonsense?{range}"),
                &boss,
                None,
            )
            .await;
        assert_eq!(status, 404);
        let (status, _) = d
            .call(
                "GET",
                &format!("/api/v1/reports/sessions?from={t0}&to={t0}"),
                &boss,
                None,
            )
            .await;
        assert_eq!(status, 400);
        let (status, _) = d
            .call(
                "GET",
                &format!("/api/v1/reports/sessions?{range}"),
                &ann,
                None,
            )
            .await;
        assert_eq!(status, 403, "agents do not read reports");

        // 工作质量概览, read a quarter hour later: by quarter, the queue at its start and
        // its peak (buyer_2 waited 0:71–0:101), agents online, each seat's longest state.
        d.clock.advance(900 * S);
        let (status, quality) = d
            .call(
                "GET",
                &format!("/api/v1/reports/quality?{range}"),
                &boss,
                None,
            )
            .await;
        assert_eq!(status, 200, "{quality}");
        let labels: Vec<&str> = quality["columns"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["label"].as_str().unwrap())
            .collect();
        assert_eq!(
            labels,
            [
                "时间",
                "排队人数",
                "排队峰值",
                "在线客服数",
                "boss",
                "ann",
                "bob",
                "cat"
            ]
        );
        // In the first quarter ann was suspended 41 s, bob 106 s, boss throughout.
        assert_eq!(
            quality["rows"],
            json!([
                [t0, 0, 1, 2, "挂起", "在线", "在线", "未登录"],
                [t0 + 900 * S, 0, 0, 2, "挂起", "在线", "在线", "未登录"]
            ]),
            "{}",
            d.name
        );
        let (_, grouped) = d
            .call(
                "GET",
                &format!(
                    "/api/v1/reports/quality?{range}&skill_group_id={}",
                    d.group.0
                ),
                &boss,
                None,
            )
            .await;
        assert_eq!(grouped["rows"][0][2], json!(1), "{grouped}");
        let (_, elsewhere) = d
            .call(
                "GET",
                &format!("/api/v1/reports/quality?{range}&skill_group_id=999999"),
                &boss,
                None,
            )
            .await;
        assert_eq!(
            elsewhere["rows"][0],
            json!([t0, 0, 0, 0]),
            "no queue, no members: {elsewhere}"
        );
        let (status, long) = d
            .call(
                "GET",
                &format!(
                    "/api/v1/reports/quality?from={t0}&to={}",
                    t0 + 26 * 3_600 * S
                ),
                &boss,
                None,
            )
            .await;
        assert_eq!(status, 400, "{long}");
        assert!(long["message"].as_str().unwrap().contains("one day"));
    }
}

#[tokio::test]
async fn the_console_hears_the_buyer_and_reads_who_they_are_and_what_came_before() {
    for db in databases().await {
        let d = desk(db).await;
        let store = d.engine.store.clone();
        let mut signals = d.bus.subscribe(topic::SIGNALS).await.unwrap();
        let mut changes = d.bus.subscribe(topic::CONVERSATIONS).await.unwrap();
        let ann = d.login("ann").await;
        d.status(&ann, "online").await;
        store
            .import_im_account(
                d.tenant,
                &kefu_store::ImAccount {
                    user_id: "buyer_9".into(),
                    nick: "九号买家".into(),
                    face_url: String::new(),
                    kind: 0,
                    created_at: 5,
                    kicked_at: None,
                },
            )
            .await
            .unwrap();
        store
            .record_im_login(d.tenant, "buyer_9", "Mozilla/5.0 (iPhone)", 7)
            .await
            .unwrap();
        let first = d
            .engine
            .request_human(d.tenant, "buyer_9", "@customer_service_account", d.group)
            .await
            .unwrap();
        // The buyer writes to Ann: stored by the gateway, then acted on.
        let body = r#"[{"MsgType":"TIMTextElem","MsgContent":{"Text":"发货了吗"}}]"#;
        store
            .append_message(
                d.tenant,
                kefu_store::NewMessage {
                    from_account: "buyer_9".into(),
                    to_account: "@customer_service_account".into(),
                    msg_seq: 0,
                    msg_random: 1,
                    msg_time: 1,
                    content_crc: 1,
                    body: body.into(),
                    cloud_custom_data: String::new(),
                    text: "发货了吗".into(),
                    created_at: d.clock.now(),
                    callback: None,
                    sender_role: String::new(),
                    agent_id: None,
                },
                0,
            )
            .await
            .unwrap();
        let app = store.get_im_app(d.tenant).await.unwrap().unwrap();
        d.engine
            .buyer_wrote(
                d.tenant,
                "buyer_9",
                &app.service_accounts[0],
                "发货了吗",
                None,
            )
            .await;
        let mut told = false;
        while let Ok(Some(e)) = tokio::time::timeout(
            std::time::Duration::from_millis(200),
            futures::StreamExt::next(&mut changes),
        )
        .await
        {
            if let Event::Conversation {
                conversation_id,
                change: kefu_domain::event::ConversationChange::Message,
                agent_id,
                ..
            } = e
                && conversation_id == first.id
            {
                assert!(agent_id.is_some());
                told = true;
            }
        }
        assert!(told, "{}: the console was not told of the message", d.name);

        // The incoming list carries the newest message for its preview.
        let (_, mine) = d.call("GET", "/api/v1/conversations", &ann, None).await;
        assert_eq!(
            mine[0]["last_message"]["msg_body"][0]["MsgContent"]["Text"], "发货了吗",
            "{}: {mine}",
            d.name
        );
        assert_eq!(mine[0]["unread"], 1);

        // Ann typing reaches the buyer; Bob, who does not serve them, may not.
        let typing = format!("/api/v1/conversations/{}/typing", first.id);
        let (status, _) = d.call("POST", &typing, &ann, Some(json!({}))).await;
        assert_eq!(status, 200);
        let signal = tokio::time::timeout(
            std::time::Duration::from_secs(1),
            futures::StreamExt::next(&mut signals),
        )
        .await
        .unwrap()
        .unwrap();
        assert_eq!(
            signal,
            Event::Typing {
                tenant_id: d.tenant,
                from: "@customer_service_account".into(),
                to: "buyer_9".into()
            }
        );
        let bob = d.login("bob").await;
        assert_eq!(d.call("POST", &typing, &bob, Some(json!({}))).await.0, 403);

        // Who the buyer is.
        let path = format!("/api/v1/conversations/{}", first.id);
        let (status, buyer) = d.call("GET", &format!("{path}/buyer"), &ann, None).await;
        assert_eq!(status, 200, "{buyer}");
        assert_eq!(
            (&buyer["nick"], &buyer["device"], &buyer["last_login_at"]),
            (
                &json!("九号买家"),
                &json!("Mozilla/5.0 (iPhone)"),
                &json!(7)
            ),
            "{buyer}"
        );
        assert_eq!(
            d.call("GET", &format!("{path}/buyer"), &bob, None).await.0,
            403
        );

        // Ann ends it; the buyer comes back and Bob serves them: he may read the earlier
        // contact; Cat, who serves neither, may not.
        let (status, _) = d
            .call("POST", &format!("{path}/end"), &ann, Some(json!({})))
            .await;
        assert_eq!(status, 200);
        d.status(&ann, "suspended").await;
        d.status(&bob, "online").await;
        let second = d
            .engine
            .request_human(d.tenant, "buyer_9", "@customer_service_account", d.group)
            .await
            .unwrap();
        let (_, contacts) = d
            .call(
                "GET",
                &format!("/api/v1/conversations/{}/contacts", second.id),
                &bob,
                None,
            )
            .await;
        let ids: Vec<i64> = contacts
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["id"].as_i64().unwrap())
            .collect();
        assert_eq!(ids, [second.id, first.id], "{}: {contacts}", d.name);
        let (status, transcript) = d
            .call("GET", &format!("{path}/transcript"), &bob, None)
            .await;
        assert_eq!(status, 200, "{transcript}");
        let texts: Vec<&str> = transcript
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|m| m["msg_body"][0]["MsgContent"]["Text"].as_str())
            .collect();
        assert!(texts.contains(&"发货了吗"), "{texts:?}");
        assert_eq!(d.call("GET", &path, &bob, None).await.0, 200);
        let cat = d.login("cat").await;
        assert_eq!(
            d.call("GET", &format!("{path}/transcript"), &cat, None)
                .await
                .0,
            403
        );
        assert_eq!(d.call("GET", &path, &cat, None).await.0, 403);
        let (status, bad) = d
            .call(
                "GET",
                &format!("{path}/transcript?from=10&to=5"),
                &bob,
                None,
            )
            .await;
        assert_eq!((status, &bad["code"]), (400, &json!("validation_failed")));

        // The message search (消息管理) is the administrators': a hit names its conversation.
        let boss = d.login("boss").await;
        let (status, hits) = d
            .call(
                "GET",
                "/api/v1/messages?q=%E5%8F%91%E8%B4%A7&role=buyer",
                &boss,
                None,
            )
            .await;
        assert_eq!(status, 200, "{hits}");
        assert_eq!(
            (&hits[0]["buyer"], &hits[0]["conversation_id"]),
            (&json!("buyer_9"), &json!(first.id)),
            "{}: {hits}",
            d.name
        );
        assert_eq!(hits[0]["message"]["role"], "Y");
        assert_eq!(
            d.call("GET", "/api/v1/messages?q=x", &bob, None).await.0,
            403
        );
        let (status, empty) = d.call("GET", "/api/v1/messages", &boss, None).await;
        assert_eq!((status, &empty["code"]), (400, &json!("validation_failed")));
    }
}
