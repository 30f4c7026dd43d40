//! What answers a buyer before a human: the greeting by the time plan, the service flow,
//! the FAQ bot, and handing over to a human.
//!
//! A conversation in state `flow` has a position: the published flow version it started on
//! (republishing never moves it), the node it waits at, wrong answers at a branch, and the
//! bot's last answer. Without a flow bound to its customer-service account it runs "no flow"
//! (version 0): the tenant's welcome and the FAQ bot, with the transfer keywords. While the
//! flow waits for the buyer, a deadline (the flow end's timeout, or the reception timeout
//! without a flow) ends the conversation if they do not answer.

use crate::{Engine, Result, bot, cache, notices};
use kefu_domain::flow::{Flow, Node, NodeKind, expand};
use kefu_domain::schedule::Period;
use kefu_domain::settings::ServiceSettings;
use kefu_domain::{SkillGroupId, cs};
use kefu_store::{Conversation, EndRequest, FlowMove, FlowPosition, ServiceAccount};
use std::sync::Arc;

/// Steps one run may take. Validation refuses loops that never wait; this guards anyway.
const MAX_STEPS: usize = 64;

/// The version of "no flow": the tenant's welcome and the FAQ bot.
pub(crate) const NO_FLOW: i64 = 0;
const BOT_NODE: &str = "bot";

const DEFAULT_ERROR_PROMPT: &str = "输入错误，请重新输入。";
const DEFAULT_FAILURE: &str = "当前无客服在线，请稍后咨询。";
const OFFER: &str = "这个问题好像没能帮到您，需要为您转接人工客服吗？";

/// What the engine knows about the buyer's message while it is in the flow.
pub(crate) struct Input<'a> {
    pub text: &'a str,
    /// The message that opened the conversation: it is answered only if it matches something,
    /// never with an error prompt or the bot's fallback.
    pub first: bool,
}

/// The sender role of what the bot and the flow say.
const ROBOT: &str = "robot";

/// What the robot says for `text`: nothing when it is blank.
fn robot_text(text: &str) -> Option<serde_json::Value> {
    (!text.trim().is_empty()).then(|| notices::text(text))
}

fn no_flow() -> FlowPosition {
    FlowPosition {
        version: NO_FLOW,
        node: BOT_NODE.into(),
        ..Default::default()
    }
}

impl Engine {
    /// Sends text from the customer-service account as the robot (shown as R).
    pub(crate) async fn say(&self, c: &Conversation, text: &str) {
        if let Some(body) = robot_text(text) {
            self.say_body(c, body).await;
        }
    }

    pub(crate) async fn say_body(&self, c: &Conversation, body: serde_json::Value) {
        self.post_notice(c, body, ROBOT).await;
    }

    /// Where the plan puts now for this tenant.
    async fn period(&self, c: &Conversation) -> Result<Period> {
        Ok(self.store.schedule(c.tenant_id).await?.at(self.clock.now()))
    }

    /// A conversation just opened: the working-hours flow (or welcome), or the off-hours or
    /// holiday reply; then the buyer waits at the flow's first stop or with the bot.
    pub(crate) async fn greet(
        &self,
        c: &Conversation,
        account: &ServiceAccount,
        settings: &ServiceSettings,
    ) -> Result<()> {
        let period = self.period(c).await?;
        if period == Period::Working {
            if let Some(v) = self
                .store
                .published_flow_for(c.tenant_id, &account.identifier)
                .await?
                && let Some(flow) = cache::flow(&self.store, c.tenant_id, v.id).await?
                && let Some(start) = flow.start()
            {
                let next = start.kind.targets()[0].to_string();
                return self
                    .run(c, &flow, v.id, &next, settings, account, None)
                    .await;
            }
            if settings.welcome_enabled {
                self.say(c, &settings.welcome_message).await;
            }
            if settings.faq_after_welcome {
                self.faq_menu(c, account).await?;
            }
        } else {
            let reply = match &period {
                Period::Holiday { reply, .. } if !reply.trim().is_empty() => Some(reply.as_str()),
                _ if settings.off_hours_enabled => Some(settings.off_hours_message.as_str()),
                _ => None,
            };
            if let Some(reply) = reply {
                self.say(c, reply).await;
            }
            if settings.faq_after_off_hours {
                self.faq_menu(c, account).await?;
            }
        }
        self.wait_at(c, &no_flow(), None, settings).await
    }

    /// Records where the buyer waits and when they must have answered by.
    async fn wait_at(
        &self,
        c: &Conversation,
        pos: &FlowPosition,
        flow: Option<&Flow>,
        settings: &ServiceSettings,
    ) -> Result<()> {
        self.say_then_wait(c, None, pos, flow, settings).await
    }

    /// Sends `last` (if any) as the robot and records where the buyer then waits, in one
    /// transaction: an answer is never stored without the deadline it moved, nor the other
    /// way round, and the bot's turn costs one commit, not two.
    async fn say_then_wait(
        &self,
        c: &Conversation,
        last: Option<serde_json::Value>,
        pos: &FlowPosition,
        flow: Option<&Flow>,
        settings: &ServiceSettings,
    ) -> Result<()> {
        let now = self.clock.now();
        let deadline = match flow {
            Some(flow) => flow.end_for(&pos.node).and_then(|n| match n.kind {
                NodeKind::End {
                    timeout_seconds, ..
                } if timeout_seconds > 0 => Some(now + timeout_seconds * 1000),
                _ => None,
            }),
            None => settings.reception_timeout_ms().map(|ms| now + ms),
        };
        let Some(body) = last else {
            self.store
                .set_flow_position(c.tenant_id, c.id, Some(pos), deadline)
                .await?;
            return Ok(());
        };
        let then = FlowMove {
            conversation: c.id,
            position: Some(pos.clone()),
            reply_deadline: deadline,
        };
        self.post_service(c, &body, ROBOT, Some(then)).await?;
        Ok(())
    }

    /// Runs the flow from `node` until it waits, hands over to a human or ends.
    /// `before`: where the buyer waited, to return to if a transfer finds nobody online.
    #[allow(clippy::too_many_arguments)]
    async fn run(
        &self,
        c: &Conversation,
        flow: &Arc<Flow>,
        version: i64,
        node: &str,
        settings: &ServiceSettings,
        account: &ServiceAccount,
        before: Option<&FlowPosition>,
    ) -> Result<()> {
        let mut id = node.to_string();
        for _ in 0..MAX_STEPS {
            let Some(node) = flow.node(&id) else {
                tracing::warn!(conversation = c.id, node = %id, "a flow leads to a node it does not have; the bot takes over");
                return self.wait_at(c, &no_flow(), None, settings).await;
            };
            let here = FlowPosition {
                version,
                node: id.clone(),
                ..Default::default()
            };
            match &node.kind {
                NodeKind::Start { next } => id = next.clone(),
                NodeKind::Message {
                    text,
                    image,
                    items,
                    next,
                } => {
                    let text = self.expand_for(c, text);
                    if items.is_empty() {
                        self.say(c, &text).await;
                    } else {
                        let items: Vec<(&str, &str)> =
                            items.iter().map(|i| (i.as_str(), "")).collect();
                        self.say_body(c, cs::branch(&text, &items, "")).await;
                    }
                    if let Some(url) = image {
                        self.say_body(c, notices::image(url)).await;
                    }
                    id = next.clone();
                }
                NodeKind::Branch { .. } => {
                    let menu = self.branch_menu(c, &node.kind, None);
                    return self
                        .say_then_wait(c, menu, &here, Some(flow), settings)
                        .await;
                }
                NodeKind::Bot { faq_menu, .. } => {
                    if *faq_menu {
                        self.faq_menu(c, account).await?;
                    }
                    return self.wait_at(c, &here, Some(flow), settings).await;
                }
                NodeKind::Transfer {
                    skill_group_id,
                    failure_message,
                    ..
                } => {
                    let group = SkillGroupId(*skill_group_id);
                    if !self.anyone_online(c, group).await? {
                        let failure = if failure_message.trim().is_empty() {
                            DEFAULT_FAILURE.to_string()
                        } else {
                            self.expand_for(c, failure_message)
                        };
                        self.say(c, &failure).await;
                        // src 18: clients may show their own "nobody online" state.
                        self.notify_buyer(c, cs::no_agent_online()).await;
                        let back = before.cloned().unwrap_or_else(no_flow);
                        let back_flow = (back.version == version).then_some(flow.as_ref());
                        return self.wait_at(c, &back, back_flow, settings).await;
                    }
                    // The transfer node stays the conversation's, for its queue and
                    // success messages and, when it ends, its end message.
                    self.store
                        .set_flow_position(c.tenant_id, c.id, Some(&here), None)
                        .await?;
                    self.request_human(c.tenant_id, &c.buyer, &c.service_account, group)
                        .await?;
                    return Ok(());
                }
                NodeKind::End { end_message, .. } => {
                    self.say(c, &self.expand_for(c, end_message)).await;
                    let end = EndRequest {
                        reason: "flow_end".into(),
                        actor: "flow".into(),
                        ..Default::default()
                    };
                    return match self.finish(c.tenant_id, c.id, end, settings, None).await {
                        Ok(_) | Err(kefu_store::StoreError::Conflict(_)) => Ok(()),
                        Err(e) => Err(e),
                    };
                }
            }
        }
        tracing::warn!(
            conversation = c.id,
            "a flow ran {MAX_STEPS} steps without waiting; the bot takes over"
        );
        self.wait_at(c, &no_flow(), None, settings).await
    }

    /// A buyer's text while their conversation is in the flow.
    pub(crate) async fn flow_input(
        &self,
        c: &Conversation,
        account: &ServiceAccount,
        settings: &ServiceSettings,
        input: Input<'_>,
    ) -> Result<()> {
        let pos = c.flow.clone().unwrap_or_else(no_flow);
        let flow = cache::flow(&self.store, c.tenant_id, pos.version).await?;
        let node = flow
            .as_ref()
            .and_then(|f| f.node(&pos.node))
            .map(|n| n.kind.clone());
        if let (
            Some(flow),
            Some(
                kind @ NodeKind::Branch {
                    choices,
                    max_retries,
                    error_prompt,
                    on_fail,
                    ..
                },
            ),
        ) = (&flow, &node)
        {
            if let Some(choice) = choices.iter().find(|ch| ch.matches(input.text)) {
                return self
                    .run(
                        c,
                        flow,
                        pos.version,
                        &choice.next,
                        settings,
                        account,
                        Some(&pos),
                    )
                    .await;
            }
            if settings.asks_for_human(input.text) {
                return self.go_human(c, Some(flow), &pos, settings, account).await;
            }
            if input.first {
                return self.wait_at(c, &pos, Some(flow), settings).await;
            }
            let tries = pos.tries + 1;
            if tries >= i64::from(*max_retries) {
                let target = on_fail
                    .clone()
                    .or_else(|| flow.end_for(&pos.node).map(|n| n.id.clone()));
                if let Some(target) = target {
                    return self
                        .run(c, flow, pos.version, &target, settings, account, Some(&pos))
                        .await;
                }
            }
            let prompt = if error_prompt.trim().is_empty() {
                DEFAULT_ERROR_PROMPT
            } else {
                error_prompt.as_str()
            };
            let menu = self.branch_menu(c, kind, Some(prompt));
            let again = FlowPosition { tries, ..pos };
            return self
                .say_then_wait(c, menu, &again, Some(flow), settings)
                .await;
        }
        if settings.asks_for_human(input.text) {
            return self
                .go_human(c, flow.as_ref(), &pos, settings, account)
                .await;
        }
        self.bot_answer(c, account, settings, &pos, flow.as_deref(), input)
            .await
    }

    /// The buyer asked for a human: outside working hours they may be asked to leave a
    /// message; in a flow they go to the bot's (or the nearest) transfer; without one, to
    /// the account's group.
    async fn go_human(
        &self,
        c: &Conversation,
        flow: Option<&Arc<Flow>>,
        pos: &FlowPosition,
        settings: &ServiceSettings,
        account: &ServiceAccount,
    ) -> Result<()> {
        if self.period(c).await? != Period::Working && !settings.off_hours_queue {
            // Leave a message: the conversation waits in the group's queue, unannounced,
            // so the first agent online in the next working period gets it with the
            // buyer's messages.
            self.say(c, &settings.leave_message_reply).await;
            let group = match flow
                .and_then(|f| f.nearest(&pos.node, |k| matches!(k, NodeKind::Transfer { .. })))
            {
                Some(Node {
                    kind: NodeKind::Transfer { skill_group_id, .. },
                    ..
                }) => Some(SkillGroupId(*skill_group_id)),
                _ => self.group_of(c.tenant_id, account).await?,
            };
            if let Some(group) = group {
                self.join_queue(c.tenant_id, &c.buyer, &c.service_account, group, false)
                    .await?;
            }
            return Ok(());
        }
        if let Some(flow) = flow {
            let target = match flow.node(&pos.node).map(|n| &n.kind) {
                Some(NodeKind::Bot { human, .. }) => Some(human.clone()),
                _ => flow
                    .nearest(&pos.node, |k| matches!(k, NodeKind::Transfer { .. }))
                    .map(|n| n.id.clone()),
            };
            if let Some(target) = target {
                return self
                    .run(c, flow, pos.version, &target, settings, account, Some(pos))
                    .await;
            }
        }
        let Some(group) = self.group_of(c.tenant_id, account).await? else {
            tracing::warn!(tenant = %c.tenant_id, "a buyer asked for a human but the tenant has no skill group");
            return Ok(());
        };
        self.request_human(c.tenant_id, &c.buyer, &c.service_account, group)
            .await?;
        Ok(())
    }

    /// Answers from the FAQ, offering a human after the same answer too many times in a row.
    async fn bot_answer(
        &self,
        c: &Conversation,
        account: &ServiceAccount,
        settings: &ServiceSettings,
        pos: &FlowPosition,
        flow: Option<&Flow>,
        input: Input<'_>,
    ) -> Result<()> {
        let all = cache::faq(&self.store, c.tenant_id).await?;
        let usable = bot::usable(&all, account.skill_group_id, self.clock.now());
        let Some(entry) = bot::best(&usable, input.text) else {
            let fallback = if input.first {
                None
            } else {
                robot_text(&settings.bot_fallback_message)
            };
            return self.say_then_wait(c, fallback, pos, flow, settings).await;
        };
        let below = bot::children(&usable, Some(entry.id));
        let reply = bot::menu(
            if entry.answer.trim().is_empty() {
                &entry.title
            } else {
                &entry.answer
            },
            &below,
        )
        .unwrap_or_else(|| bot::answer(entry));
        self.store
            .knowledge_used(c.tenant_id, kefu_store::KnowledgeKind::Faq, entry.id)
            .await?;
        let repeats = if pos.bot_answer == Some(entry.id) {
            pos.bot_repeats + 1
        } else {
            1
        };
        let last = if repeats >= i64::from(settings.bot_offer_after) {
            let keyword = settings
                .transfer_keywords
                .iter()
                .find(|k| !k.is_ascii() && !k.trim().is_empty())
                .or_else(|| settings.transfer_keywords.first())
                .map(|k| k.trim().to_string())
                .unwrap_or_default();
            self.say_body(c, reply).await;
            cs::branch(OFFER, &[(keyword.as_str(), "")], "")
        } else {
            reply
        };
        let next = FlowPosition {
            bot_answer: Some(entry.id),
            bot_repeats: repeats,
            ..pos.clone()
        };
        self.say_then_wait(c, Some(last), &next, flow, settings)
            .await
    }

    /// Sends the FAQ's top level as a menu, if the buyer's group has any.
    async fn faq_menu(&self, c: &Conversation, account: &ServiceAccount) -> Result<()> {
        let all = cache::faq(&self.store, c.tenant_id).await?;
        let usable = bot::usable(&all, account.skill_group_id, self.clock.now());
        if let Some(menu) = bot::menu(bot::MENU_HEADER, &bot::children(&usable, None)) {
            self.say_body(c, menu).await;
        }
        Ok(())
    }

    /// A branch's question as a `src` 15 menu of its choices, after the error prompt.
    fn branch_menu(
        &self,
        c: &Conversation,
        kind: &NodeKind,
        prompt: Option<&str>,
    ) -> Option<serde_json::Value> {
        let NodeKind::Branch { text, choices, .. } = kind else {
            return None;
        };
        let text = self.expand_for(c, text);
        let header = match prompt {
            Some(p) => format!("{}\n{text}", self.expand_for(c, p)),
            None => text,
        };
        let items: Vec<(&str, &str)> = choices.iter().map(|ch| (ch.name.as_str(), "")).collect();
        Some(cs::branch(&header, &items, ""))
    }

    /// Whether any member of `group` is online now.
    async fn anyone_online(&self, c: &Conversation, group: SkillGroupId) -> Result<bool> {
        let members = self.store.group_members(c.tenant_id, group).await?;
        if members.is_empty() {
            return Ok(false);
        }
        let states = self.store.agent_states(c.tenant_id).await?;
        Ok(states.iter().any(|s| {
            s.status == kefu_store::AgentStatus::Online
                && members.iter().any(|(m, _)| *m == s.account_id)
        }))
    }

    fn expand_for(&self, c: &Conversation, text: &str) -> String {
        expand(text, &[("Buyer", c.buyer.clone())])
    }

    /// The transfer node a conversation belongs to, if its flow has one.
    async fn transfer_of(&self, c: &Conversation) -> Option<(Arc<Flow>, NodeKind)> {
        let pos = c.flow.as_ref()?;
        let flow = cache::flow(&self.store, c.tenant_id, pos.version)
            .await
            .ok()
            .flatten()?;
        let kind = flow.node(&pos.node)?.kind.clone();
        matches!(kind, NodeKind::Transfer { .. }).then_some((flow, kind))
    }

    /// The queue notice: the flow's transfer message, or the default.
    pub(crate) async fn waiting_text(&self, c: &Conversation, place: usize) -> String {
        if let Some((_, NodeKind::Transfer { queue_message, .. })) = self.transfer_of(c).await
            && !queue_message.trim().is_empty()
        {
            let vars = [
                ("WaitNo", (place - 1).to_string()),
                ("Buyer", c.buyer.clone()),
            ];
            return expand(&queue_message, &vars);
        }
        notices::waiting(place)
    }

    /// The connected notice: the flow's success message, or the default.
    pub(crate) async fn connected_text(
        &self,
        c: &Conversation,
        staff_no: i64,
        name: &str,
    ) -> String {
        if let Some((
            _,
            NodeKind::Transfer {
                success_message, ..
            },
        )) = self.transfer_of(c).await
            && !success_message.trim().is_empty()
        {
            let vars = [
                ("StaffNo", staff_no.to_string()),
                ("StaffName", name.to_string()),
                ("Buyer", c.buyer.clone()),
            ];
            return expand(&success_message, &vars);
        }
        notices::connected(staff_no, name)
    }

    /// The end message of the flow end after the conversation's transfer, if any.
    pub(crate) async fn end_message(&self, c: &Conversation) -> Option<String> {
        let (flow, NodeKind::Transfer { next, .. }) = self.transfer_of(c).await? else {
            return None;
        };
        match &flow.node(&next)?.kind {
            NodeKind::End { end_message, .. } if !end_message.trim().is_empty() => {
                Some(self.expand_for(c, end_message))
            }
            _ => None,
        }
    }

    /// What a buyer who did not answer the flow in time is told.
    pub(crate) async fn flow_timeout_message(
        &self,
        c: &Conversation,
        settings: &ServiceSettings,
    ) -> String {
        let Some(pos) = &c.flow else {
            return settings.timeout_message.clone();
        };
        if let Ok(Some(flow)) = cache::flow(&self.store, c.tenant_id, pos.version).await
            && let Some(end) = flow.end_for(&pos.node)
            && let NodeKind::End {
                timeout_message, ..
            } = &end.kind
        {
            return self.expand_for(c, timeout_message);
        }
        settings.timeout_message.clone()
    }
}
