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
use kefu_domain::{AccountId, Clock, SkillGroupId, TenantId};
use kefu_store::{
    AgentState, AgentStatus, Assignment, Conversation, EndRequest, Store, StoreError,
};
use std::sync::Arc;

pub type Result<T> = std::result::Result<T, StoreError>;

/// The words that hand a buyer from the bot to a human (seed 000: "RG"; 人工), matched on the
/// whole message, ignoring case and surrounding space. Tenants' own keywords come with the
/// service flow.
pub fn asks_for_human(text: &str) -> bool {
    const KEYWORDS: &[&str] = &["rg", "人工", "转人工", "人工客服"];
    let t = text.trim().to_lowercase();
    KEYWORDS.contains(&t.as_str())
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
        while let Some(a) = self
            .store
            .assign_next(tenant, group, self.clock.now())
            .await?
        {
            self.announce(&a.conversation, ConversationChange::Assigned)
                .await;
            out.push(a);
        }
        if !out.is_empty() {
            // Everyone behind them moved up.
            self.announce_queue(tenant, group).await;
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
        self.drain(tenant, group).await?;
        Ok(self
            .store
            .get_conversation(tenant, c.id)
            .await?
            .unwrap_or(queued))
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
        if let Some(group) = a.conversation.skill_group_id {
            self.announce_queue(tenant, group).await;
        }
        Ok(a)
    }

    /// Ends a conversation; the agent's freed slot goes to the next buyer in their groups.
    pub async fn end(
        &self,
        tenant: TenantId,
        conversation: i64,
        end: EndRequest,
    ) -> Result<Conversation> {
        let before = self.store.get_conversation(tenant, conversation).await?;
        let ended = self
            .store
            .end_conversation(tenant, conversation, end, self.clock.now())
            .await?;
        self.announce(&ended, ConversationChange::Ended).await;
        match before.and_then(|b| {
            b.agent_id
                .filter(|_| b.state == kefu_store::ConversationState::Assigned)
        }) {
            Some(agent) => self.drain_groups_of(tenant, agent).await?,
            None => {
                if let Some(group) = ended.skill_group_id {
                    self.announce_queue(tenant, group).await;
                }
            }
        }
        Ok(ended)
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
