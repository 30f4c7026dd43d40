//! The engine's timers: the reception timeout, agents whose consoles vanished, and their
//! conversations going back to the queue.
//!
//! Every timer is a deadline stored on its row, so it survives restarts and any node can act
//! on it. Each node sweeps every few seconds (`kefu serve` runs [`Engine::sweep`]); tests
//! move a manual clock and sweep once. Each action re-checks its deadline in the statement
//! that acts, so nodes sweeping at once act once.

use crate::{Engine, Result};
use kefu_domain::TenantId;
use kefu_domain::event::ConversationChange;
use kefu_domain::settings::ServiceSettings;
use kefu_store::{EndRequest, StoreError};
use std::collections::HashMap;

/// How many rows of each kind one sweep handles; the rest wait for the next.
const BATCH: i64 = 200;

/// How often each node sweeps: timeouts act within this of their deadline.
const SWEEP_EVERY: std::time::Duration = std::time::Duration::from_secs(2);

/// What one sweep did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Sweep {
    /// Conversations ended by the reception timeout.
    pub timed_out: usize,
    /// Agents suspended because no console of theirs was seen within the grace period.
    pub agents_lost: usize,
    /// Conversations taken back from such agents into their queues.
    pub requeued: usize,
}

impl Engine {
    async fn settings_in(
        &self,
        read: &mut HashMap<TenantId, ServiceSettings>,
        tenant: TenantId,
    ) -> Result<ServiceSettings> {
        if let Some(s) = read.get(&tenant) {
            return Ok(s.clone());
        }
        let s = self.store.service_settings(tenant).await?;
        read.insert(tenant, s.clone());
        Ok(s)
    }

    /// Acts on every deadline passed by now. `console_grace_ms`: how long an agent may have
    /// no console connected before they are suspended and their conversations marked
    /// RECOVER.
    pub async fn sweep(&self, console_grace_ms: i64) -> Result<Sweep> {
        let now = self.clock.now();
        let mut done = Sweep::default();
        // Each tenant's settings, read once per sweep however many of its rows are due.
        let mut tenants: HashMap<TenantId, ServiceSettings> = HashMap::new();
        for c in self.store.due_timeouts(now, BATCH).await? {
            let settings = self.settings_in(&mut tenants, c.tenant_id).await?;
            // The flow's own timeout message while the flow waited; the reception timeout's
            // while an agent did.
            let message = if c.state == kefu_store::ConversationState::Flow {
                self.flow_timeout_message(&c, &settings).await
            } else {
                settings.timeout_message.clone()
            };
            let end = EndRequest {
                reason: "timeout".into(),
                actor: "system".into(),
                due_by: Some(now),
                ..Default::default()
            };
            match self
                .finish(c.tenant_id, c.id, end, &settings, Some(&message))
                .await
            {
                Ok(_) => done.timed_out += 1,
                // The buyer answered meanwhile, or another node ended it first.
                Err(StoreError::Conflict(_)) => {}
                Err(e) => return Err(e),
            }
        }
        let seen_before = now - console_grace_ms;
        for lapsed in self.store.lapsed_consoles(seen_before, BATCH).await? {
            let settings = self.settings_in(&mut tenants, lapsed.tenant_id).await?;
            let requeue_at = settings.requeue_after_minutes.map(|m| now + m * 60_000);
            let marked = self
                .store
                .console_lost(
                    lapsed.tenant_id,
                    lapsed.agent_id,
                    seen_before,
                    requeue_at,
                    now,
                )
                .await?;
            if let Some(conversations) = marked {
                done.agents_lost += 1;
                tracing::info!(tenant = %lapsed.tenant_id, agent = %lapsed.agent_id, conversations = conversations.len(),
                    "an agent's consoles are gone past the grace period: suspended, conversations marked RECOVER");
                for c in &conversations {
                    self.announce(c, ConversationChange::Recover).await;
                }
            }
        }
        for c in self.store.due_requeues(now, BATCH).await? {
            let Some(queued) = self.store.requeue(c.tenant_id, c.id, now).await? else {
                continue;
            };
            done.requeued += 1;
            // The vanished agent's console (when it comes back) learns it left them.
            let mut left = queued.clone();
            left.agent_id = c.agent_id;
            self.announce(&left, ConversationChange::Requeued).await;
            self.announce(&queued, ConversationChange::Queued).await;
            if let Some(group) = queued.skill_group_id {
                self.announce_queue(c.tenant_id, group).await;
                let assigned = self.drain(c.tenant_id, group).await?;
                if !assigned.iter().any(|a| a.conversation.id == queued.id) {
                    self.positions(c.tenant_id, group, 0).await;
                }
            }
        }
        Ok(done)
    }
}

impl Engine {
    /// Sweeps every few seconds until the process ends. A failed sweep is logged and the
    /// next one tries again.
    pub fn spawn_sweeper(self, console_grace_ms: i64) -> tokio::task::JoinHandle<()> {
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(SWEEP_EVERY);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tick.tick().await;
                match self.sweep(console_grace_ms).await {
                    Ok(done) if done != Sweep::default() => {
                        tracing::debug!(?done, "engine sweep");
                    }
                    Ok(_) => {}
                    Err(e) => tracing::warn!(error = %e, "engine sweep failed; retrying"),
                }
            }
        })
    }
}
