//! The event bus: publish/subscribe between the parts of one node and between nodes.
//!
//! The embedded default uses [`InProcessBus`]; production uses [`RedisBus`] so that every
//! replica sees every event. The bus carries hints ("reload the policy", "this session is
//! gone"); the database stays the truth, so a subscriber that misses an event while Redis
//! reconnects converges on the next one or on its next read.

mod memory;
mod redis_bus;

use async_trait::async_trait;
use futures::stream::BoxStream;
use kefu_domain::event::Event;
use std::sync::Arc;

pub use memory::InProcessBus;
pub use redis_bus::RedisBus;

#[derive(Debug, thiserror::Error)]
pub enum BusError {
    #[error("KEFU_REDIS_URL: {0}")]
    Config(String),
    #[error("redis: {0}")]
    Redis(String),
    #[error("event encoding: {0}")]
    Encoding(#[from] serde_json::Error),
}

/// A stream of events on one topic. Dropping it unsubscribes.
pub type Subscription = BoxStream<'static, Event>;

#[async_trait]
pub trait Bus: Send + Sync {
    async fn publish(&self, topic: &str, event: &Event) -> Result<(), BusError>;
    /// Subscribes to `topic`. Events published after this returns are delivered.
    async fn subscribe(&self, topic: &str) -> Result<Subscription, BusError>;
    /// Adds one to the counter `key` for time window `window` (e.g. the current second) and
    /// returns the new count. Every node counts into the same window, so limits hold across
    /// replicas. Counters of past windows are dropped after `keep_secs`.
    async fn count_in_window(
        &self,
        key: &str,
        window: i64,
        keep_secs: u64,
    ) -> Result<i64, BusError>;
    /// Marks `member` (one connection) present under `key` (one identity) until `until_ms`.
    async fn presence_touch(&self, key: &str, member: &str, until_ms: i64) -> Result<(), BusError>;
    async fn presence_remove(&self, key: &str, member: &str) -> Result<(), BusError>;
    /// How many members of `key` are present at `now_ms`, across every node.
    async fn presence_count(&self, key: &str, now_ms: i64) -> Result<i64, BusError>;
    /// Checks that the bus can carry events, for readiness probes.
    async fn ping(&self) -> Result<(), BusError>;
    fn name(&self) -> &'static str;
}

/// The bus for a configuration: Redis when a URL is given, otherwise in-process.
pub async fn connect(redis_url: Option<&str>) -> Result<Arc<dyn Bus>, BusError> {
    match redis_url {
        Some(url) => Ok(Arc::new(RedisBus::connect(url).await?)),
        None => Ok(Arc::new(InProcessBus::new())),
    }
}
