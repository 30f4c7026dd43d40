//! What the engine does with a buyer's message to a customer-service account: ratings and
//! requests to rate (acted on before the message is stored, so a refused one is answered
//! with its error), and after it is stored: the transfer keywords, the choice of a skill
//! group from a menu, the client opening the conversation, and stopping the reception
//! timeout.

use crate::{Engine, Result};
use kefu_domain::cs::{self, CsMessage};
use kefu_domain::event::ConversationChange;
use kefu_domain::{SkillGroupId, TenantId};
use kefu_store::{Conversation, ConversationState, ServiceAccount};
use serde::{Deserialize, Serialize};

/// Why a buyer's customer-service message was refused: an IM error code (the rating codes
/// 10150–10154 of the customer-service plugin) and what to do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    pub code: u32,
    pub info: String,
}

impl Refusal {
    pub fn new(code: u32, info: impl Into<String>) -> Self {
        Self {
            code,
            info: info.into(),
        }
    }

    /// 10151 (data access error); the cause is logged, not shown.
    pub fn internal(cause: impl std::fmt::Display) -> Self {
        tracing::error!(error = %cause, "a buyer's customer-service message could not be handled");
        Self::new(
            10151,
            "the service could not record this; try again shortly",
        )
    }
}

/// One skill group offered to the buyer in the cross-group menu.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Choice {
    /// What the buyer sends back: the item's number, or its label.
    pub number: usize,
    pub label: String,
    pub group: i64,
}

/// The menu's text and items.
const CHOICE_HEADER: &str = "请选择您要咨询的业务：";
const CHOICE_RETRY: &str = "没有找到您选择的业务，请点击菜单中的一项。";

impl Engine {
    /// Before a buyer's message to `account` is stored: a rating (`src` 10) is recorded and a
    /// request to rate (`src` 24) answered with the card; either may be refused.
    pub async fn buyer_custom(
        &self,
        tenant: TenantId,
        buyer: &str,
        account: &ServiceAccount,
        message: &CsMessage,
    ) -> std::result::Result<(), Refusal> {
        match message {
            CsMessage::RatingSubmission {
                option_id,
                content,
                session_id,
            } => {
                self.rate(tenant, buyer, option_id, content, session_id)
                    .await
            }
            CsMessage::RateNow { .. } => self.rate_now(tenant, buyer, &account.identifier).await,
            _ => Ok(()),
        }
    }

    /// After a buyer's message to `account` is stored (and was not a duplicate). Failures are
    /// logged: the message itself is stored either way.
    pub async fn buyer_wrote(
        &self,
        tenant: TenantId,
        buyer: &str,
        account: &ServiceAccount,
        text: &str,
        message: Option<&CsMessage>,
    ) {
        if let Err(e) = self
            .react_to_buyer(tenant, buyer, account, text, message)
            .await
        {
            tracing::warn!(error = %e, %tenant, "reacting to a buyer's message failed");
        }
    }

    async fn react_to_buyer(
        &self,
        tenant: TenantId,
        buyer: &str,
        account: &ServiceAccount,
        text: &str,
        message: Option<&CsMessage>,
    ) -> Result<()> {
        let now = self.clock.now();
        if let Some(CsMessage::SessionStart { channel, .. }) = message {
            let channel = channel.as_deref().unwrap_or("im");
            let (c, created) = self
                .store
                .open_conversation(tenant, buyer, &account.identifier, channel, now)
                .await?;
            if created {
                let settings = crate::cache::service_settings(&self.store, tenant).await?;
                self.greet(&c, account, &settings).await?;
            }
            return self.rating_rules(&c).await;
        }
        let (c, first) = match self
            .store
            .open_conversation_of(tenant, buyer, &account.identifier)
            .await?
        {
            Some(c) => (c, false),
            // Ratings and other service messages never open a conversation; anything else
            // the buyer writes does, and is greeted.
            None if message.is_some() => return Ok(()),
            None => {
                let (c, created) = self
                    .store
                    .open_conversation(tenant, buyer, &account.identifier, "im", now)
                    .await?;
                if created {
                    let settings = crate::cache::service_settings(&self.store, tenant).await?;
                    self.greet(&c, account, &settings).await?;
                }
                let Some(c) = self.store.get_conversation(tenant, c.id).await? else {
                    return Ok(());
                };
                (c, created)
            }
        };
        // A buyer talking to their agent (the common case) needs no settings.
        if let Some(choice) = &c.pending_choice {
            let settings = crate::cache::service_settings(&self.store, tenant).await?;
            return self.answer_choice(&c, choice, text, &settings).await;
        }
        match c.state {
            ConversationState::Flow => {
                let settings = crate::cache::service_settings(&self.store, tenant).await?;
                self.flow_input(&c, account, &settings, crate::flow::Input { text, first })
                    .await
            }
            ConversationState::Queued | ConversationState::Assigned => {
                if c.reply_deadline.is_some() {
                    self.store.buyer_replied(tenant, c.id).await?;
                }
                if c.agent_id.is_some() {
                    self.announce(&c, ConversationChange::Message).await;
                }
                Ok(())
            }
            ConversationState::Ended => Ok(()),
        }
    }

    /// The skill group a service account routes to: its own, else the tenant's first.
    pub(crate) async fn group_of(
        &self,
        tenant: TenantId,
        account: &ServiceAccount,
    ) -> Result<Option<SkillGroupId>> {
        if let Some(g) = account.skill_group_id {
            return Ok(Some(g));
        }
        Ok(self
            .store
            .list_skill_groups(tenant)
            .await?
            .first()
            .map(|g| g.id))
    }

    /// Sends the buyer the menu of skill groups visible to buyers (`src` 15) and waits in
    /// `flow` for their choice.
    pub(crate) async fn offer_groups(&self, c: &Conversation) -> Result<()> {
        let groups = self.store.list_skill_groups(c.tenant_id).await?;
        let choices: Vec<Choice> = groups
            .iter()
            .filter(|g| g.visible_to_buyers)
            .enumerate()
            .map(|(i, g)| Choice {
                number: i + 1,
                label: if g.client_name.trim().is_empty() {
                    g.name.clone()
                } else {
                    g.client_name.clone()
                },
                group: g.id.0,
            })
            .collect();
        let doc = serde_json::to_string(&choices).expect("choices serialise");
        self.store
            .set_pending_choice(c.tenant_id, c.id, Some(&doc))
            .await?;
        self.notify_buyer(c, menu(&choices, "")).await;
        Ok(())
    }

    /// The buyer answered the group menu: a match joins that group's queue; anything else
    /// gets the menu again.
    async fn answer_choice(
        &self,
        c: &Conversation,
        doc: &str,
        text: &str,
        settings: &kefu_domain::settings::ServiceSettings,
    ) -> Result<()> {
        let choices: Vec<Choice> = serde_json::from_str(doc).unwrap_or_default();
        let t = text.trim();
        let picked = choices
            .iter()
            .find(|ch| t == ch.number.to_string() || t == ch.label);
        let Some(picked) = picked else {
            if settings.asks_for_human(t) || choices.is_empty() {
                // No menu to choose from any more, or the buyer insists: their last group.
                self.store
                    .set_pending_choice(c.tenant_id, c.id, None)
                    .await?;
                if let Some(group) = c.skill_group_id {
                    self.request_human(c.tenant_id, &c.buyer, &c.service_account, group)
                        .await?;
                }
                return Ok(());
            }
            self.notify_buyer(c, menu(&choices, CHOICE_RETRY)).await;
            return Ok(());
        };
        self.store
            .set_pending_choice(c.tenant_id, c.id, None)
            .await?;
        if c.state == ConversationState::Flow || c.state == ConversationState::Queued {
            self.request_human(
                c.tenant_id,
                &c.buyer,
                &c.service_account,
                SkillGroupId(picked.group),
            )
            .await?;
        }
        Ok(())
    }
}

/// The `src` 15 menu of groups. Clients show each item's `content` and send it back when it
/// is clicked, so the label is the content; a typed number is accepted too.
fn menu(choices: &[Choice], retry: &str) -> serde_json::Value {
    let items: Vec<(&str, &str)> = choices.iter().map(|c| (c.label.as_str(), "")).collect();
    let header = if retry.is_empty() {
        CHOICE_HEADER.to_string()
    } else {
        format!("{retry}\n{CHOICE_HEADER}")
    };
    cs::branch(&header, &items, "")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_group_menu_numbers_its_items_and_repeats_with_a_prompt() {
        let choices = vec![
            Choice {
                number: 1,
                label: "售前".into(),
                group: 4,
            },
            Choice {
                number: 2,
                label: "售后".into(),
                group: 9,
            },
        ];
        let first = menu(&choices, "").to_string();
        assert!(first.contains("\\\"content\\\":\\\"售后\\\""), "{first}");
        let again = menu(&choices, CHOICE_RETRY).to_string();
        assert!(again.contains("没有找到"));
    }
}
