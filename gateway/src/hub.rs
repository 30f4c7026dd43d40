//! Who is connected to this node, and what to tell them.
//!
//! Connections are registered under (tenant, identity). The hub turns bus events into hints
//! for the connections concerned; a connection then reads the store itself, so the socket is a
//! hint and the store the truth. Each connection has a bounded queue: a connection too slow to
//! drain it is closed and resumes from its last sequence.

use futures::StreamExt;
use kefu_bus::Bus;
use kefu_domain::TenantId;
use kefu_domain::event::{Event, MessageContent, topic};
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use tokio::sync::{Notify, mpsc};

/// Hints queued per connection before it counts as too slow.
pub const QUEUE: usize = 256;

/// Close codes, also written up in docs/protocol.md.
pub mod close {
    pub const KICKED: u16 = 4001;
    pub const EXPIRED: u16 = 4002;
    pub const REPLACED: u16 = 4003;
    pub const AUTH_FAILED: u16 = 4004;
    pub const TOO_SLOW: u16 = 4008;
}

/// Something a connection should act on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Hint {
    /// The chat has messages up to `seq`; send what the client has not had. `content` is
    /// message `seq` itself, when the event carried it.
    Chat {
        chat_id: i64,
        seq: i64,
        content: Option<Arc<PushedMessage>>,
    },
    Recalled {
        chat_id: i64,
        seq: i64,
    },
    Typing {
        from: String,
    },
    Read {
        chat_id: i64,
        by: String,
        seq: i64,
    },
    /// A conversation of this (agent) console changed.
    Conversation {
        conversation_id: i64,
        change: kefu_domain::event::ConversationChange,
    },
}

/// A new message as its event carried it, shared by every connection it goes to.
#[derive(Debug, PartialEq, Eq)]
pub struct PushedMessage {
    pub from: String,
    pub to: String,
    pub content: MessageContent,
}

/// Ends a connection with a reason; the first reason given wins.
#[derive(Default)]
pub struct Killer {
    notify: Notify,
    reason: Mutex<Option<(u16, String)>>,
}

impl Killer {
    pub fn kill(&self, code: u16, reason: &str) {
        let mut r = self.reason.lock().unwrap_or_else(|p| p.into_inner());
        if r.is_none() {
            *r = Some((code, reason.to_string()));
        }
        self.notify.notify_one();
    }

    pub async fn killed(&self) -> (u16, String) {
        self.notify.notified().await;
        self.reason
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
            .unwrap_or((close::KICKED, "closed".into()))
    }
}

/// How a connection logged in, to match kicks against it.
#[derive(Debug, Clone, Copy)]
pub enum Login {
    /// An IM identity with a UserSig signed at this time (ms).
    Sig { signed_at: i64 },
    /// A console login (tenant-API session).
    Console { session_id: i64 },
}

struct Conn {
    id: u64,
    tx: mpsc::Sender<Hint>,
    killer: Arc<Killer>,
    login: Login,
}

type Key = (TenantId, String);

pub struct Hub {
    conns: Mutex<HashMap<Key, Vec<Conn>>>,
    next: AtomicU64,
    /// Names this node's connections in the shared presence set.
    node: String,
}

impl Default for Hub {
    fn default() -> Self {
        Self {
            conns: Mutex::default(),
            next: AtomicU64::new(0),
            node: format!("{:08x}", rand::random::<u32>()),
        }
    }
}

/// A connection counts as present this long after its last sign of life; sockets refresh it
/// every `PRESENCE_REFRESH`, so a crashed node's connections lapse on their own.
pub const PRESENCE_TTL_MS: i64 = 90_000;
pub const PRESENCE_REFRESH: std::time::Duration = std::time::Duration::from_secs(30);

/// The presence key of an identity.
pub fn presence_key(tenant: TenantId, identity: &str) -> String {
    format!("im:{tenant}:{identity}")
}

/// Keeps a connection registered; dropping it deregisters.
pub struct Registration {
    hub: Arc<Hub>,
    key: Key,
    id: u64,
}

impl Registration {
    /// This connection's name in the shared presence set.
    pub fn member(&self) -> String {
        format!("{}:{}", self.hub.node, self.id)
    }
}

impl Drop for Registration {
    fn drop(&mut self) {
        let mut conns = self.hub.conns.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(list) = conns.get_mut(&self.key) {
            list.retain(|c| c.id != self.id);
            if list.is_empty() {
                conns.remove(&self.key);
            }
        }
    }
}

impl Hub {
    pub fn new() -> Arc<Self> {
        Arc::new(Self::default())
    }

    pub fn register(
        self: &Arc<Self>,
        tenant: TenantId,
        identity: &str,
        login: Login,
    ) -> (Registration, mpsc::Receiver<Hint>, Arc<Killer>) {
        let (tx, rx) = mpsc::channel(QUEUE);
        let killer = Arc::new(Killer::default());
        let id = self.next.fetch_add(1, Ordering::Relaxed);
        let key = (tenant, identity.to_string());
        self.conns
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .entry(key.clone())
            .or_default()
            .push(Conn {
                id,
                tx,
                killer: killer.clone(),
                login,
            });
        (
            Registration {
                hub: self.clone(),
                key,
                id,
            },
            rx,
            killer,
        )
    }

    /// How many connections `identity` has on this node.
    pub fn connections(&self, tenant: TenantId, identity: &str) -> usize {
        let conns = self.conns.lock().unwrap_or_else(|p| p.into_inner());
        conns
            .get(&(tenant, identity.to_string()))
            .map_or(0, Vec::len)
    }

    fn nudge(&self, tenant: TenantId, identity: &str, hint: Hint) {
        let conns = self.conns.lock().unwrap_or_else(|p| p.into_inner());
        for conn in conns
            .get(&(tenant, identity.to_string()))
            .into_iter()
            .flatten()
        {
            if conn.tx.try_send(hint.clone()).is_err() {
                conn.killer.kill(
                    close::TOO_SLOW,
                    "too slow: reconnect and resume from your last seq",
                );
            }
        }
    }

    fn kill_where(
        &self,
        tenant: Option<TenantId>,
        identity: Option<&str>,
        code: u16,
        reason: &str,
        matches: impl Fn(&Login) -> bool,
    ) {
        let conns = self.conns.lock().unwrap_or_else(|p| p.into_inner());
        for ((t, id), list) in conns.iter() {
            if tenant.is_some_and(|x| x != *t) || identity.is_some_and(|x| x != id) {
                continue;
            }
            for conn in list.iter().filter(|c| matches(&c.login)) {
                conn.killer.kill(code, reason);
            }
        }
    }

    /// Acts on one bus event.
    pub fn on_event(&self, event: &Event) {
        match event {
            Event::MessageStored {
                tenant_id,
                chat_id,
                seq,
                from_account,
                to_account,
                content,
            } => {
                let hint = Hint::Chat {
                    chat_id: *chat_id,
                    seq: *seq,
                    content: content.as_deref().map(|c| {
                        Arc::new(PushedMessage {
                            from: from_account.clone(),
                            to: to_account.clone(),
                            content: c.clone(),
                        })
                    }),
                };
                self.nudge(*tenant_id, from_account, hint.clone());
                if to_account != from_account {
                    self.nudge(*tenant_id, to_account, hint);
                }
            }
            Event::MessageRecalled {
                tenant_id,
                chat_id,
                seq,
                from_account,
                to_account,
            } => {
                let hint = Hint::Recalled {
                    chat_id: *chat_id,
                    seq: *seq,
                };
                self.nudge(*tenant_id, from_account, hint.clone());
                self.nudge(*tenant_id, to_account, hint);
            }
            Event::ImKicked {
                tenant_id,
                user_id,
                at,
            } => {
                self.kill_where(
                    Some(*tenant_id),
                    Some(user_id),
                    close::KICKED,
                    "kicked",
                    |l| matches!(l, Login::Sig { signed_at } if signed_at <= at),
                );
            }
            Event::SessionRevoked {
                session_id, reason, ..
            } => {
                let code = match reason.as_str() {
                    "replaced" => close::REPLACED,
                    _ => close::KICKED,
                };
                self.kill_where(
                    None,
                    None,
                    code,
                    reason,
                    |l| matches!(l, Login::Console { session_id: s } if s == session_id),
                );
            }
            Event::Typing {
                tenant_id,
                from,
                to,
            } => {
                // Dropped rather than queued when the socket is behind: typing is only a hint.
                let conns = self.conns.lock().unwrap_or_else(|p| p.into_inner());
                for conn in conns.get(&(*tenant_id, to.clone())).into_iter().flatten() {
                    let _ = conn.tx.try_send(Hint::Typing { from: from.clone() });
                }
            }
            Event::Read {
                tenant_id,
                chat_id,
                reader,
                peer,
                seq,
            } => {
                let hint = Hint::Read {
                    chat_id: *chat_id,
                    by: reader.clone(),
                    seq: *seq,
                };
                // The reader's other devices learn it too, to clear their unread marks.
                self.nudge(*tenant_id, peer, hint.clone());
                self.nudge(*tenant_id, reader, hint);
            }
            Event::Conversation {
                tenant_id,
                conversation_id,
                agent_id: Some(agent),
                change,
                ..
            } => self.nudge(
                *tenant_id,
                &kefu_domain::authz::subject(*agent),
                Hint::Conversation {
                    conversation_id: *conversation_id,
                    change: *change,
                },
            ),
            Event::PolicyChanged
            | Event::Note { .. }
            | Event::Conversation { .. }
            | Event::QueueChanged { .. } => {}
        }
    }

    /// Follows the bus until it ends: messages and session events reach this node's sockets.
    pub async fn follow(
        self: &Arc<Self>,
        bus: &dyn Bus,
    ) -> Result<tokio::task::JoinHandle<()>, kefu_bus::BusError> {
        let messages = bus.subscribe(topic::MESSAGES).await?;
        let sessions = bus.subscribe(topic::SESSIONS).await?;
        let signals = bus.subscribe(topic::SIGNALS).await?;
        let conversations = bus.subscribe(topic::CONVERSATIONS).await?;
        let hub = self.clone();
        Ok(tokio::spawn(async move {
            let mut events =
                futures::stream::select_all([messages, sessions, signals, conversations]);
            while let Some(event) = events.next().await {
                hub.on_event(&event);
            }
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_connection_that_does_not_drain_its_queue_is_closed_as_too_slow() {
        let hub = Hub::new();
        let (_reg, _rx, killer) = hub.register(TenantId(1), "buyer", Login::Sig { signed_at: 0 });
        let stored = |seq| Event::MessageStored {
            tenant_id: TenantId(1),
            chat_id: 1,
            seq,
            from_account: "@cs".into(),
            to_account: "buyer".into(),
            content: None,
        };
        for seq in 0..QUEUE as i64 {
            hub.on_event(&stored(seq));
        }
        hub.on_event(&stored(QUEUE as i64));
        let (code, _) = killer.killed().await;
        assert_eq!(code, close::TOO_SLOW);
    }

    #[tokio::test]
    async fn deregistering_on_drop_forgets_the_connection() {
        let hub = Hub::new();
        let reg = hub.register(TenantId(1), "buyer", Login::Sig { signed_at: 0 });
        let _other = hub.register(TenantId(1), "buyer", Login::Sig { signed_at: 0 });
        assert_eq!(hub.connections(TenantId(1), "buyer"), 2);
        drop(reg);
        assert_eq!(hub.connections(TenantId(1), "buyer"), 1);
        assert_eq!(
            hub.connections(TenantId(2), "buyer"),
            0,
            "tenants are separate"
        );
    }

    #[tokio::test]
    async fn a_kick_closes_only_logins_signed_before_it() {
        let hub = Hub::new();
        let (_a, _, old) = hub.register(TenantId(1), "buyer", Login::Sig { signed_at: 1_000 });
        let (_b, _, new) = hub.register(TenantId(1), "buyer", Login::Sig { signed_at: 5_000 });
        hub.on_event(&Event::ImKicked {
            tenant_id: TenantId(1),
            user_id: "buyer".into(),
            at: 2_000,
        });
        assert_eq!(old.killed().await, (close::KICKED, "kicked".to_string()));
        let still_open =
            tokio::time::timeout(std::time::Duration::from_millis(50), new.killed()).await;
        assert!(still_open.is_err());
    }
}
