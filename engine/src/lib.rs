//! The conversation engine: flow or bot → queued (skill group) → assigned (agent) → ended.
//!
//! State lives in the database ([`kefu_store::ConversationStore`]); this crate decides when to
//! move it and tells everyone. Assignment is driven by events, never by polling: a buyer
//! joining a queue, an agent going online, a slot freed. Each drains the groups concerned
//! until nobody more can be assigned; the store makes each step atomic, so any number of
//! nodes may drain the same group at once. Every change is announced on the bus
//! ([`Event::Conversation`]) for the agents' consoles.

use kefu_bus::Bus;
use kefu_domain::event::{ConversationChange, Event, topic};
use kefu_domain::settings::ServiceSettings;
use kefu_domain::{AccountId, Clock, SkillGroupId, TenantId};
use kefu_store::{
    AgentState, AgentStatus, Assignment, Conversation, EndRequest, Store, StoreError,
};
use std::sync::Arc;

pub mod bot;
mod buyer;
pub mod cache;
mod flow;
mod ratings;
mod timers;

pub use buyer::Refusal;
pub use timers::Sweep;

/// What buyers are told, in the default (Chinese) wording. The service flow of a later issue
/// makes these configurable per tenant, with the same `${WaitNo}` and `${StaffNo}` variables.
pub mod notices {
    use serde_json::{Value, json};

    pub fn text(t: &str) -> Value {
        json!([{ "MsgType": "TIMTextElem", "MsgContent": { "Text": t } }])
    }

    /// An image by URL, as a `TIMImageElem` with the URL at every size (its dimensions are
    /// not known here; clients size it when it loads).
    pub fn image(url: &str) -> Value {
        let lower = url.to_ascii_lowercase();
        let format = if lower.ends_with(".jpg") || lower.ends_with(".jpeg") {
            1
        } else if lower.ends_with(".gif") {
            2
        } else if lower.ends_with(".png") {
            3
        } else if lower.ends_with(".bmp") {
            4
        } else {
            255
        };
        let uuid = format!("url-{:08x}", crc32fast::hash(url.as_bytes()));
        let infos: Vec<Value> = (1..=3)
            .map(|t| json!({ "Type": t, "Size": 0, "Width": 0, "Height": 0, "URL": url }))
            .collect();
        json!([{ "MsgType": "TIMImageElem", "MsgContent": {
            "UUID": uuid, "ImageFormat": format, "ImageInfoArray": infos } }])
    }

    /// The queue message with `${WaitNo}`.
    pub fn waiting(place: usize) -> String {
        format!(
            "正在为您转接人工客服，您前面还有 {} 位，请稍候。",
            place - 1
        )
    }

    /// The connected message with `${StaffNo}` and the agent's name.
    pub fn connected(staff_no: i64, name: &str) -> String {
        format!("{staff_no} 号客服 {name} 为您服务。")
    }
}

pub type Result<T> = std::result::Result<T, StoreError>;

/// Buyers assigned per group lock taken (see `ConversationStore::assign_batch`).
const DRAIN_BATCH: usize = 50;

/// Queue positions are sent to everyone this close to the front whenever they change, and
/// further back only when a buyer crosses a multiple of it, so one assignment does not write
/// a notice to each of thousands of waiting buyers.
const POSITION_DETAIL: usize = 20;

/// Why an agent's message was not sent.
#[derive(Debug)]
pub enum SendError {
    /// The `MsgBody` is not valid; the text says which element and why.
    Invalid(kefu_domain::elements::ElementError),
    /// The message holds this word from the tenant's block list.
    Blocked(String),
    Store(StoreError),
}

impl From<StoreError> for SendError {
    fn from(e: StoreError) -> Self {
        SendError::Store(e)
    }
}

/// Whether a buyer now at `place` hears of it, after everyone moved up `moved` places.
fn tell_position(place: usize, moved: usize) -> bool {
    place <= POSITION_DETAIL
        || (moved > 0 && (place - 1) / POSITION_DETAIL != (place + moved - 1) / POSITION_DETAIL)
}

#[derive(Clone)]
pub struct Engine {
    pub store: Arc<dyn Store>,
    pub bus: Arc<dyn Bus>,
    pub clock: Arc<dyn Clock>,
}

impl Engine {
    pub fn new(store: Arc<dyn Store>, bus: Arc<dyn Bus>, clock: Arc<dyn Clock>) -> Self {
        Self { store, bus, clock }
    }

    async fn announce(&self, c: &Conversation, change: ConversationChange) {
        let event = Event::Conversation {
            tenant_id: c.tenant_id,
            conversation_id: c.id,
            agent_id: c.agent_id,
            skill_group_id: c.skill_group_id,
            change,
        };
        if let Err(e) = self.bus.publish(topic::CONVERSATIONS, &event).await {
            tracing::warn!(error = %e, conversation = c.id, "a conversation change was not announced; consoles catch up on their next refresh");
        }
    }

    /// Sends the buyer a notice from the customer-service account (stored with sender role
    /// `system`, shown as R in consoles) and announces it for delivery. A failure is logged:
    /// the state change it reports has already happened.
    async fn notify_buyer(&self, c: &Conversation, body: serde_json::Value) {
        self.post_notice(c, body, "system").await;
    }

    /// Stores and announces a message the service side sends on its own (`system` or
    /// `robot`); a failure is logged, as the change it reports has happened.
    async fn post_notice(&self, c: &Conversation, body: serde_json::Value, role: &str) {
        if let Err(e) = self.post_service(c, &body, role, None).await {
            tracing::warn!(error = %e, conversation = c.id, role, "a message to the buyer was not stored");
        }
    }

    /// Stores and announces a message the service side sends on its own (its text read
    /// leniently from the body we built), with `then`, the conversation's move in its flow.
    pub(crate) async fn post_service(
        &self,
        c: &Conversation,
        body: &serde_json::Value,
        role: &str,
        then: Option<kefu_store::FlowMove>,
    ) -> Result<kefu_store::StoredMessage> {
        let text = kefu_domain::elements::check(Some(body)).unwrap_or_default();
        self.post_to_buyer(c, body, text, role, None, then).await
    }

    /// Stores a message from the conversation's customer-service account to its buyer (with
    /// `then`, the conversation's move in its flow, in the same transaction) and announces it
    /// for delivery. A random MsgRandom never repeats within the duplicate window.
    async fn post_to_buyer(
        &self,
        c: &Conversation,
        body: &serde_json::Value,
        text: String,
        sender_role: &str,
        agent: Option<AccountId>,
        then: Option<kefu_store::FlowMove>,
    ) -> Result<kefu_store::StoredMessage> {
        let now = self.clock.now();
        let body = body.to_string();
        let message = kefu_store::NewMessage {
            from_account: c.service_account.clone(),
            to_account: c.buyer.clone(),
            msg_seq: 0,
            msg_random: rand::random::<u32>() as i64,
            msg_time: now / 1000,
            content_crc: crc32fast::hash(body.as_bytes()) as i64,
            body,
            cloud_custom_data: String::new(),
            text,
            created_at: now,
            callback: None,
            sender_role: sender_role.into(),
            agent_id: agent,
        };
        let appended = match then {
            Some(then) => self.store.append_then_move(c.tenant_id, message, now, then),
            None => self.store.append_message(c.tenant_id, message, now),
        };
        let m = appended.await?.message;
        let event = m.stored_event(c.tenant_id);
        if let Err(e) = self.bus.publish(topic::MESSAGES, &event).await {
            tracing::warn!(error = %e, "a message to a buyer was stored but not announced; they get it on resume");
        }
        Ok(m)
    }

    /// "Connected": the agent's staff number and name, as the buyer expects on assignment.
    async fn connected(&self, a: &Assignment) {
        let name = match self
            .store
            .get_account(a.conversation.tenant_id, a.agent_id)
            .await
        {
            Ok(Some(account)) => account.display_name,
            _ => String::new(),
        };
        let text = self
            .connected_text(&a.conversation, a.agent_id.0, &name)
            .await;
        self.notify_buyer(&a.conversation, notices::text(&text))
            .await;
    }

    /// Tells each buyer still waiting in `group` their place.
    /// `moved`: how many places everyone moved up (0: the queue changed otherwise).
    async fn positions(&self, tenant: TenantId, group: SkillGroupId, moved: usize) {
        let queue = match self.store.queue_of(tenant, group).await {
            Ok(q) => q,
            Err(e) => {
                tracing::warn!(error = %e, "queue positions not sent");
                return;
            }
        };
        for (i, c) in queue.iter().enumerate() {
            if tell_position(i + 1, moved) {
                let text = self.waiting_text(c, i + 1).await;
                self.notify_buyer(c, notices::text(&text)).await;
            }
        }
    }

    /// The groups an agent serves.
    async fn groups_of(&self, tenant: TenantId, agent: AccountId) -> Result<Vec<SkillGroupId>> {
        Ok(self
            .store
            .get_account(tenant, agent)
            .await?
            .map(|a| a.skill_group_ids)
            .unwrap_or_default())
    }

    /// Assigns from `group`'s queue until its head finds nobody with room.
    pub async fn drain(&self, tenant: TenantId, group: SkillGroupId) -> Result<Vec<Assignment>> {
        let mut out = Vec::new();
        loop {
            let batch = self
                .store
                .assign_batch(tenant, group, self.clock.now(), DRAIN_BATCH)
                .await?;
            // Consoles first: the alert is what the agent waits for.
            for a in &batch {
                self.announce(&a.conversation, ConversationChange::Assigned)
                    .await;
            }
            for a in &batch {
                self.connected(a).await;
            }
            let full = batch.len() == DRAIN_BATCH;
            out.extend(batch);
            if !full {
                break;
            }
        }
        if !out.is_empty() {
            // Everyone behind them moved up.
            self.announce_queue(tenant, group).await;
            self.positions(tenant, group, out.len()).await;
        }
        Ok(out)
    }

    async fn announce_queue(&self, tenant: TenantId, group: SkillGroupId) {
        let event = Event::QueueChanged {
            tenant_id: tenant,
            skill_group_id: group,
        };
        if let Err(e) = self.bus.publish(topic::CONVERSATIONS, &event).await {
            tracing::warn!(error = %e, "a queue change was not announced");
        }
    }

    async fn drain_groups_of(&self, tenant: TenantId, agent: AccountId) -> Result<()> {
        for group in self.groups_of(tenant, agent).await? {
            self.drain(tenant, group).await?;
        }
        Ok(())
    }

    /// Sets an agent's status. Going online hands them whoever waits in their groups.
    pub async fn set_status(
        &self,
        tenant: TenantId,
        agent: AccountId,
        status: AgentStatus,
    ) -> Result<AgentState> {
        let state = self
            .store
            .set_agent_status(tenant, agent, status, self.clock.now())
            .await?;
        if status == AgentStatus::Online {
            self.drain_groups_of(tenant, agent).await?;
        }
        Ok(state)
    }

    /// A buyer asks for a human: their conversation joins `group`'s queue and is assigned if
    /// anyone has room.
    pub async fn request_human(
        &self,
        tenant: TenantId,
        buyer: &str,
        service_account: &str,
        group: SkillGroupId,
    ) -> Result<Conversation> {
        self.join_queue(tenant, buyer, service_account, group, true)
            .await
    }

    /// Queues the buyer in `group`; `tell_place`: send them their place if they wait (off:
    /// they were told to leave a message instead).
    pub(crate) async fn join_queue(
        &self,
        tenant: TenantId,
        buyer: &str,
        service_account: &str,
        group: SkillGroupId,
        tell_place: bool,
    ) -> Result<Conversation> {
        let now = self.clock.now();
        let (c, _) = self
            .store
            .open_conversation(tenant, buyer, service_account, "im", now)
            .await?;
        let already_waiting =
            c.state == kefu_store::ConversationState::Queued && c.skill_group_id == Some(group);
        if c.state == kefu_store::ConversationState::Assigned || already_waiting {
            // Asking again keeps the buyer's place.
            return Ok(c);
        }
        let queued = self
            .store
            .enqueue(tenant, c.id, group, &format!("buyer:{buyer}"), now)
            .await?;
        self.announce(&queued, ConversationChange::Queued).await;
        self.announce_queue(tenant, group).await;
        self.drain_or_wait(&queued, tell_place).await?;
        Ok(self
            .store
            .get_conversation(tenant, c.id)
            .await?
            .unwrap_or(queued))
    }

    /// Drains the group `queued` just joined; if it is not among those assigned, tells its
    /// buyer their place.
    async fn drain_or_wait(&self, queued: &Conversation, tell_place: bool) -> Result<()> {
        let Some(group) = queued.skill_group_id else {
            return Ok(());
        };
        let assigned = self.drain(queued.tenant_id, group).await?;
        if tell_place && !assigned.iter().any(|a| a.conversation.id == queued.id) {
            let place = self.position(queued.tenant_id, queued).await?.unwrap_or(1);
            let text = self.waiting_text(queued, place).await;
            self.notify_buyer(queued, notices::text(&text)).await;
        }
        Ok(())
    }

    /// An agent takes a queued buyer by hand.
    pub async fn take(
        &self,
        tenant: TenantId,
        conversation: i64,
        agent: AccountId,
        actor: &str,
    ) -> Result<Assignment> {
        let a = self
            .store
            .take_conversation(tenant, conversation, agent, actor, self.clock.now())
            .await?;
        self.announce(&a.conversation, ConversationChange::Assigned)
            .await;
        self.connected(&a).await;
        if let Some(group) = a.conversation.skill_group_id {
            self.announce_queue(tenant, group).await;
            self.positions(tenant, group, 1).await;
        }
        Ok(a)
    }

    /// Transfers an ongoing conversation to another agent or skill group. Both agents'
    /// consoles are told; a group transfer queues the buyer there and drains that group; the
    /// sender's freed slot goes to the next buyer in their groups.
    pub async fn transfer(
        &self,
        tenant: TenantId,
        conversation: i64,
        from: AccountId,
        to: kefu_store::TransferTarget,
        note: &str,
    ) -> Result<Conversation> {
        if to == kefu_store::TransferTarget::BuyerChoice {
            let groups = self.store.list_skill_groups(tenant).await?;
            if !groups.iter().any(|g| g.visible_to_buyers) {
                return Err(kefu_domain::validate::Invalid::new(
                    "to_buyer_choice",
                    "no skill group is visible to buyers, so there is nothing to choose; \
                     transfer to a group, or make groups visible to buyers",
                )
                .into());
            }
        }
        let moved = self
            .store
            .transfer_conversation(tenant, conversation, from, to, note, self.clock.now())
            .await?;
        // The sender's console learns it left them; the receiver's that it arrived.
        let mut left = moved.clone();
        left.agent_id = Some(from);
        self.announce(&left, ConversationChange::Transferred).await;
        match to {
            kefu_store::TransferTarget::Agent(agent) => {
                self.announce(&moved, ConversationChange::Transferred).await;
                if let Some(session) = moved.session_id {
                    let a = Assignment {
                        conversation: moved.clone(),
                        agent_id: agent,
                        session_id: session,
                    };
                    self.connected(&a).await;
                }
            }
            kefu_store::TransferTarget::Group(group) => {
                self.announce_queue(tenant, group).await;
                self.drain_or_wait(&moved, true).await?;
            }
            kefu_store::TransferTarget::BuyerChoice => self.offer_groups(&moved).await?,
        }
        self.drain_groups_of(tenant, from).await?;
        Ok(self
            .store
            .get_conversation(tenant, conversation)
            .await?
            .unwrap_or(moved))
    }

    /// Ends a conversation; the agent's freed slot goes to the next buyer in their groups.
    /// An agent ending it must choose consultation categories when the tenant requires them,
    /// from those offered in the conversation's group.
    pub async fn end(
        &self,
        tenant: TenantId,
        conversation: i64,
        end: EndRequest,
    ) -> Result<Conversation> {
        let settings = crate::cache::service_settings(&self.store, tenant).await?;
        if end.reason == "agent" {
            let c = self
                .store
                .get_conversation(tenant, conversation)
                .await?
                .ok_or(StoreError::NotFound)?;
            if c.state == kefu_store::ConversationState::Ended {
                return Err(StoreError::Conflict(
                    "the conversation has already ended".into(),
                ));
            }
            self.check_categories(&c, &end.categories, &settings)
                .await?;
        }
        self.finish(tenant, conversation, end, &settings, None)
            .await
    }

    /// The buyer leaves: their open conversation with `service_account` (if any) ends as
    /// `buyer_left`, with the usual notices and the rating card if an agent served them.
    pub async fn buyer_left(
        &self,
        tenant: TenantId,
        buyer: &str,
        service_account: &str,
    ) -> Result<bool> {
        let Some(c) = self
            .store
            .open_conversation_of(tenant, buyer, service_account)
            .await?
        else {
            return Ok(false);
        };
        let settings = crate::cache::service_settings(&self.store, tenant).await?;
        let end = EndRequest {
            reason: "buyer_left".into(),
            actor: format!("buyer:{buyer}"),
            ..Default::default()
        };
        match self.finish(tenant, c.id, end, &settings, None).await {
            Ok(_) => Ok(true),
            // Ended by someone else a moment before.
            Err(StoreError::Conflict(_)) => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// Checks an agent's chosen categories against the tenant's tree and rules.
    async fn check_categories(
        &self,
        c: &Conversation,
        chosen: &[i64],
        settings: &ServiceSettings,
    ) -> Result<()> {
        use kefu_domain::validate::Invalid;
        if chosen.is_empty() {
            if settings.categories_required {
                return Err(Invalid::new(
                    "categories",
                    "choose at least one consultation category: the tenant requires it to end a conversation",
                )
                .into());
            }
            return Ok(());
        }
        let tree = self
            .store
            .tree(c.tenant_id, kefu_store::Tree::Categories)
            .await?;
        for id in chosen {
            let Some(node) = tree.iter().find(|n| n.id == *id) else {
                return Err(Invalid::new(
                    "categories",
                    format!("category {id} does not exist; pick from the category tree"),
                )
                .into());
            };
            // A category is offered in the groups of its top-level ancestor (none: all).
            let mut top = node;
            while let Some(parent) = top.parent_id.and_then(|p| tree.iter().find(|n| n.id == p)) {
                top = parent;
            }
            let offered = top.skill_group_ids.is_empty()
                || c.skill_group_id
                    .is_some_and(|g| top.skill_group_ids.contains(&g));
            if !offered {
                return Err(Invalid::new(
                    "categories",
                    format!(
                        "category {} ({}) is not offered in this conversation's skill group",
                        node.id, node.name
                    ),
                )
                .into());
            }
        }
        Ok(())
    }

    /// Ends the conversation and tells everyone: the timeout notices when the reception
    /// timeout ended it, `src` 19, and the rating card when an agent served it.
    pub(crate) async fn finish(
        &self,
        tenant: TenantId,
        conversation: i64,
        end: EndRequest,
        settings: &ServiceSettings,
        timeout_message: Option<&str>,
    ) -> Result<Conversation> {
        let ended = self
            .store
            .end_conversation(tenant, conversation, end, self.clock.now())
            .await?;
        self.announce(&ended, ConversationChange::Ended).await;
        if let Some(text) = timeout_message {
            if !text.trim().is_empty() {
                self.notify_buyer(&ended, notices::text(text)).await;
            }
            // src 20: ended because the buyer did not reply in time.
            self.notify_buyer(&ended, kefu_domain::cs::timed_out())
                .await;
        }
        // The flow's end message, when a human served a conversation the flow handed over
        // (a flow's own end and the timeout send theirs).
        if timeout_message.is_none()
            && let Some(text) = self.end_message(&ended).await
        {
            self.say(&ended, &text).await;
        }
        // src 19: the client shows the session as over.
        self.notify_buyer(&ended, kefu_domain::cs::ended()).await;
        if let (Some(_), Some(session)) = (ended.agent_id, ended.session_id)
            && settings.ratings_enabled
        {
            self.send_rating_card(&ended, session, settings).await;
        }
        // Only an assigned conversation has an agent (queueing clears it), so an agent here
        // means a slot was freed.
        match ended.agent_id {
            Some(agent) => self.drain_groups_of(tenant, agent).await?,
            None => {
                if let Some(group) = ended.skill_group_id {
                    self.announce_queue(tenant, group).await;
                }
            }
        }
        Ok(ended)
    }

    /// An agent's reply in their conversation: a message from the customer-service account
    /// to the buyer, marked as the agent's, delivered like any other. The first one of a
    /// session is recorded as `first_agent_reply`.
    pub async fn agent_message(
        &self,
        tenant: TenantId,
        conversation: i64,
        agent: AccountId,
        body: &serde_json::Value,
    ) -> std::result::Result<kefu_store::StoredMessage, SendError> {
        let mut body = body.clone();
        // Sensitive words: blocked, or masked before the text is indexed.
        cache::filter(&self.store, tenant)
            .await?
            .check_body(&mut body)
            .map_err(SendError::Blocked)?;
        let body = &body;
        let text = kefu_domain::elements::check(Some(body)).map_err(SendError::Invalid)?;
        let c = self
            .store
            .get_conversation(tenant, conversation)
            .await?
            .ok_or(StoreError::NotFound)?;
        if c.state != kefu_store::ConversationState::Assigned || c.agent_id != Some(agent) {
            return Err(StoreError::Conflict(format!(
                "this conversation is {} and not yours to answer; only its serving agent replies \
                 (take it from the queue, or ask its agent to transfer it to you)",
                c.state.as_str()
            ))
            .into());
        }
        let m = self
            .post_to_buyer(&c, body, text, "agent", Some(agent), None)
            .await?;
        let now = self.clock.now();
        if let Some(session) = c.session_id {
            // The reception timeout runs from the agent's latest message until the buyer
            // answers.
            let deadline = crate::cache::service_settings(&self.store, tenant)
                .await?
                .reception_timeout_ms()
                .map(|ms| now + ms);
            self.store
                .record_agent_reply(tenant, c.id, session, agent, now, deadline)
                .await?;
        }
        Ok(m)
    }

    /// A buyer's place in their group's queue (1 is next), if they are queued.
    pub async fn position(&self, tenant: TenantId, c: &Conversation) -> Result<Option<usize>> {
        let Some(group) = c.skill_group_id else {
            return Ok(None);
        };
        let queue = self.store.queue_of(tenant, group).await?;
        Ok(queue.iter().position(|q| q.id == c.id).map(|i| i + 1))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn positions_are_told_near_the_front_always_and_further_back_at_each_multiple() {
        assert!(tell_position(1, 1) && tell_position(20, 1));
        // 41 → 40 crosses into the third block of 20; 45 → 44 does not.
        assert!(tell_position(40, 1));
        assert!(!tell_position(44, 1));
        // A batch of 50 moves everyone across a boundary.
        assert!(tell_position(75, 50));
        assert!(!tell_position(75, 0));
    }

    #[test]
    fn notices_expand_their_variables() {
        assert_eq!(notices::connected(7, "小王"), "7 号客服 小王 为您服务。");
        assert!(notices::waiting(3).contains("还有 2 位"));
    }
}
