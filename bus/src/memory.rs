use crate::{Bus, BusError, Subscription};
use async_trait::async_trait;
use futures::StreamExt;
use kefu_domain::event::Event;
use std::collections::HashMap;
use std::sync::Mutex;
use tokio::sync::broadcast;
use tokio_stream::wrappers::BroadcastStream;

/// Capacity of each topic's buffer. A subscriber that falls this far behind skips ahead and
/// a warning is logged; events are hints, so the subscriber re-reads the store.
const CAPACITY: usize = 1024;

/// The bus of a single process: one broadcast channel per topic.
#[derive(Default)]
pub struct InProcessBus {
    topics: Mutex<HashMap<String, broadcast::Sender<Event>>>,
    /// Window counters: key → (window, count). Only the current window is kept per key.
    counters: Mutex<HashMap<String, (i64, i64)>>,
    /// Presence: key → member → present until (ms).
    presence: Mutex<HashMap<String, HashMap<String, i64>>>,
}

impl InProcessBus {
    pub fn new() -> Self {
        Self::default()
    }

    fn sender(&self, topic: &str) -> broadcast::Sender<Event> {
        let mut topics = self.topics.lock().unwrap_or_else(|p| p.into_inner());
        topics
            .entry(topic.to_string())
            .or_insert_with(|| broadcast::channel(CAPACITY).0)
            .clone()
    }
}

#[async_trait]
impl Bus for InProcessBus {
    async fn publish(&self, topic: &str, event: &Event) -> Result<(), BusError> {
        // No subscriber is not an error: nobody needed to hear it.
        let _ = self.sender(topic).send(event.clone());
        Ok(())
    }

    async fn subscribe(&self, topic: &str) -> Result<Subscription, BusError> {
        let topic_name = topic.to_string();
        let stream = BroadcastStream::new(self.sender(topic).subscribe()).filter_map(move |item| {
            let topic = topic_name.clone();
            async move {
                match item {
                    Ok(event) => Some(event),
                    Err(e) => {
                        tracing::warn!(topic, error = %e, "bus subscriber fell behind");
                        None
                    }
                }
            }
        });
        Ok(stream.boxed())
    }

    async fn count_in_window(
        &self,
        key: &str,
        window: i64,
        _keep_secs: u64,
    ) -> Result<i64, BusError> {
        let mut counters = self.counters.lock().unwrap_or_else(|p| p.into_inner());
        let entry = counters.entry(key.to_string()).or_insert((window, 0));
        if entry.0 != window {
            *entry = (window, 0);
        }
        entry.1 += 1;
        Ok(entry.1)
    }

    async fn presence_touch(&self, key: &str, member: &str, until_ms: i64) -> Result<(), BusError> {
        let mut p = self.presence.lock().unwrap_or_else(|e| e.into_inner());
        p.entry(key.to_string())
            .or_default()
            .insert(member.to_string(), until_ms);
        Ok(())
    }

    async fn presence_remove(&self, key: &str, member: &str) -> Result<(), BusError> {
        let mut p = self.presence.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(members) = p.get_mut(key) {
            members.remove(member);
            if members.is_empty() {
                p.remove(key);
            }
        }
        Ok(())
    }

    async fn presence_count(&self, key: &str, now_ms: i64) -> Result<i64, BusError> {
        let mut p = self.presence.lock().unwrap_or_else(|e| e.into_inner());
        let Some(members) = p.get_mut(key) else {
            return Ok(0);
        };
        members.retain(|_, until| *until > now_ms);
        Ok(members.len() as i64)
    }

    async fn ping(&self) -> Result<(), BusError> {
        Ok(())
    }

    fn name(&self) -> &'static str {
        "in-process"
    }
}
