//! The engine tests' desk: a tenant with two skill groups and three agents on one store,
//! an engine on a manual clock, and helpers that act as the gateway and consoles would.
#![allow(dead_code)]

use kefu_bus::InProcessBus;
use kefu_domain::cs::CsMessage;
use kefu_domain::settings::ServiceSettings;
use kefu_domain::{AccountId, Clock, ManualClock, Role, SkillGroupId, TenantId};
use kefu_engine::{Engine, Refusal};
use kefu_store::testing::owner;
use kefu_store::*;
use serde_json::{Value, json};
use std::sync::Arc;

pub const SERVICE: &str = "@customer_service_account";
pub const MINUTE: i64 = 60_000;
pub const GRACE: i64 = 60_000;

pub struct Desk {
    pub engine: Engine,
    pub store: Arc<dyn Store>,
    pub clock: ManualClock,
    pub tenant: TenantId,
    /// 售前 with agents[0], agents[1]; 售后 with agents[2].
    pub groups: [SkillGroupId; 2],
    pub agents: Vec<AccountId>,
    pub account: ServiceAccount,
    pub name: &'static str,
    pub _db: kefu_store::testing::TestDb,
}

pub async fn desk(db: kefu_store::testing::TestDb) -> Desk {
    desk_at(db, ManualClock::default()).await
}

/// A desk whose clock starts at `clock`.
pub async fn desk_at(db: kefu_store::testing::TestDb, clock: ManualClock) -> Desk {
    let store = db.store().await;
    let (tenant, _) = store
        .create_tenant(
            NewTenant {
                code: "shop".into(),
                name: "Shop".into(),
                max_accounts: 5,
                max_online: 4,
                im_secret: "k".repeat(64),
            },
            owner("boss"),
            0,
        )
        .await
        .unwrap();
    let pre = store
        .create_skill_group(tenant.id, "售前", 0)
        .await
        .unwrap();
    let post = store
        .create_skill_group(tenant.id, "售后", 0)
        .await
        .unwrap();
    let mut agents = Vec::new();
    for (name, group) in [("ann", pre.id), ("bob", pre.id), ("cat", post.id)] {
        let mut a = owner(name);
        a.role = Role::Agent;
        a.skill_group_ids = vec![group];
        agents.push(store.create_account(tenant.id, a, 0).await.unwrap().id);
    }
    let app = store.get_im_app(tenant.id).await.unwrap().unwrap();
    let mut account = app.service_accounts[0].clone();
    account.skill_group_id = Some(pre.id);
    let engine = Engine::new(
        store.clone(),
        Arc::new(InProcessBus::new()),
        Arc::new(clock.clone()),
    );
    Desk {
        engine,
        store,
        clock,
        tenant: tenant.id,
        groups: [pre.id, post.id],
        agents,
        account,
        name: db.name,
        _db: db,
    }
}

impl Desk {
    pub fn now(&self) -> i64 {
        self.clock.now()
    }

    pub async fn online(&self, agent: AccountId) {
        self.engine
            .set_status(self.tenant, agent, AgentStatus::Online)
            .await
            .unwrap();
    }

    pub async fn settings(&self, change: impl FnOnce(&mut ServiceSettings)) {
        let mut s = self.store.service_settings(self.tenant).await.unwrap();
        change(&mut s);
        self.store
            .save_service_settings(self.tenant, &s, self.now())
            .await
            .unwrap();
        // As the tenant API does after saving.
        kefu_engine::cache::forget_service_settings(&self.store, self.tenant);
    }

    /// The buyer writes `text` to the service account, as the gateway would.
    pub async fn buyer_says(&self, buyer: &str, text: &str) {
        let body = json!([{ "MsgType": "TIMTextElem", "MsgContent": { "Text": text } }]);
        self.buyer_sends(buyer, body, text).await;
    }

    pub async fn buyer_sends(&self, buyer: &str, body: Value, text: &str) {
        let body = body.to_string();
        let m = NewMessage {
            from_account: buyer.into(),
            to_account: SERVICE.into(),
            msg_seq: 0,
            msg_random: rand_u32(),
            msg_time: self.now() / 1000,
            content_crc: 0,
            body,
            cloud_custom_data: String::new(),
            text: text.into(),
            created_at: self.now(),
            callback: None,
            sender_role: String::new(),
            agent_id: None,
        };
        self.store.append_message(self.tenant, m, 0).await.unwrap();
        self.engine
            .buyer_wrote(self.tenant, buyer, &self.account, text, None)
            .await;
    }

    /// A buyer's customer-service message (`src` 10, 24), as the gateway hands it over.
    pub async fn buyer_custom(&self, buyer: &str, m: CsMessage) -> Result<(), Refusal> {
        self.engine
            .buyer_custom(self.tenant, buyer, &self.account, &m)
            .await
    }

    pub async fn conversation(&self, buyer: &str) -> Conversation {
        let all = self
            .store
            .list_conversations(
                self.tenant,
                &ConversationFilter {
                    limit: 500,
                    ..Default::default()
                },
            )
            .await
            .unwrap();
        all.into_iter().find(|c| c.buyer == buyer).unwrap()
    }

    pub async fn reply(&self, c: &Conversation, text: &str) -> StoredMessage {
        let body = json!([{ "MsgType": "TIMTextElem", "MsgContent": { "Text": text } }]);
        self.engine
            .agent_message(self.tenant, c.id, c.agent_id.unwrap(), &body)
            .await
            .unwrap()
    }

    /// Every message between the buyer and the service account, in order (none yet: empty).
    pub async fn chat_messages(&self, buyer: &str) -> Vec<StoredMessage> {
        let chats = self.store.chats_of(self.tenant, buyer, 10).await.unwrap();
        let Some(chat) = chats.iter().find(|c| c.peer_of(buyer) == SERVICE) else {
            return Vec::new();
        };
        self.store
            .messages_after(self.tenant, chat.id, 0, 500)
            .await
            .unwrap()
    }

    /// What the buyer was sent by the service side, as (src or text) in order.
    pub async fn told(&self, buyer: &str) -> Vec<String> {
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
                        format!("src{}", data["src"].as_str().unwrap())
                    }
                    _ => e["MsgContent"]["Text"].as_str().unwrap_or("").to_string(),
                }
            })
            .collect()
    }

    /// The last rating card sent to the buyer: (sessionId, expireTime in s).
    pub async fn last_card(&self, buyer: &str) -> (String, i64) {
        let all = self.chat_messages(buyer).await;
        let card = all
            .iter()
            .rev()
            .find_map(|m| {
                let body: Value = serde_json::from_str(&m.body).ok()?;
                let data: Value =
                    serde_json::from_str(body[0]["MsgContent"]["Data"].as_str()?).ok()?;
                (data["src"] == "9").then_some(data)
            })
            .expect("a rating card");
        let content = &card["menuContent"];
        (
            content["sessionId"].as_str().unwrap().to_string(),
            content["expireTime"].as_i64().unwrap(),
        )
    }

    pub async fn agent_state(&self, agent: AccountId) -> AgentState {
        self.store
            .agent_states(self.tenant)
            .await
            .unwrap()
            .into_iter()
            .find(|s| s.account_id == agent)
            .unwrap()
    }
}

pub fn rand_u32() -> i64 {
    use std::sync::atomic::{AtomicI64, Ordering};
    static NEXT: AtomicI64 = AtomicI64::new(1);
    NEXT.fetch_add(1, Ordering::Relaxed)
}

impl Desk {
    /// The buyer's conversation opened after `after`.
    pub async fn conversation_after(&self, buyer: &str, after: i64) -> Conversation {
        let all = self
            .store
            .list_conversations(
                self.tenant,
                &ConversationFilter {
                    limit: 500,
                    ..Default::default()
                },
            )
            .await
            .unwrap();
        all.into_iter()
            .find(|c| c.buyer == buyer && c.id > after)
            .unwrap()
    }
}
