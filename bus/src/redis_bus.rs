use crate::{Bus, BusError, Subscription};
use async_trait::async_trait;
use deadpool_redis::{Config, Pool, Runtime};
use futures::StreamExt;
use kefu_domain::event::Event;
use std::time::Duration;
use tokio::sync::{mpsc, oneshot};

/// Channels are namespaced so that Kefu can share a Redis with other software.
fn channel(topic: &str) -> String {
    format!("kefu:{topic}")
}

/// The bus between nodes, over Redis PUBLISH/SUBSCRIBE.
///
/// Publishing uses a pooled connection. Each subscription holds its own connection in a
/// task that reconnects with backoff if Redis goes away; the task ends when the subscription
/// is dropped.
pub struct RedisBus {
    client: redis::Client,
    pool: Pool,
}

impl RedisBus {
    /// Connects and checks the server answers, so that a wrong URL fails at start.
    pub async fn connect(url: &str) -> Result<Self, BusError> {
        let client = redis::Client::open(url)
            .map_err(|e| BusError::Config(format!("not a valid Redis URL: {e}")))?;
        let pool = Config::from_url(url)
            .create_pool(Some(Runtime::Tokio1))
            .map_err(|e| BusError::Config(e.to_string()))?;
        let bus = Self { client, pool };
        bus.ping()
            .await
            .map_err(|e| BusError::Config(format!("cannot reach Redis: {e}")))?;
        Ok(bus)
    }
}

impl RedisBus {
    async fn conn(&self) -> Result<deadpool_redis::Connection, BusError> {
        self.pool.get().await.map_err(redis_err)
    }
}

fn redis_err(e: impl std::fmt::Display) -> BusError {
    BusError::Redis(e.to_string())
}

#[async_trait]
impl Bus for RedisBus {
    async fn publish(&self, topic: &str, event: &Event) -> Result<(), BusError> {
        let payload = serde_json::to_string(event)?;
        let mut conn = self.conn().await?;
        let _receivers: i64 = redis::cmd("PUBLISH")
            .arg(channel(topic))
            .arg(payload)
            .query_async(&mut conn)
            .await
            .map_err(redis_err)?;
        Ok(())
    }

    async fn subscribe(&self, topic: &str) -> Result<Subscription, BusError> {
        let (tx, rx) = mpsc::channel::<Event>(1024);
        let (ready_tx, ready_rx) = oneshot::channel::<Result<(), String>>();
        tokio::spawn(pump(self.client.clone(), channel(topic), tx, ready_tx));
        match ready_rx.await {
            Ok(Ok(())) => Ok(tokio_stream::wrappers::ReceiverStream::new(rx).boxed()),
            Ok(Err(e)) => Err(BusError::Redis(e)),
            Err(_) => Err(BusError::Redis("subscriber task ended".into())),
        }
    }

    async fn count_in_window(
        &self,
        key: &str,
        window: i64,
        keep_secs: u64,
    ) -> Result<i64, BusError> {
        let mut conn = self.conn().await?;
        let key = format!("kefu:count:{key}:{window}");
        let (count, _): (i64, i64) = redis::pipe()
            .atomic()
            .incr(&key, 1)
            .expire(&key, keep_secs as i64)
            .query_async(&mut conn)
            .await
            .map_err(redis_err)?;
        Ok(count)
    }

    async fn presence_touch(&self, key: &str, member: &str, until_ms: i64) -> Result<(), BusError> {
        let mut conn = self.conn().await?;
        let key = format!("kefu:presence:{key}");
        // Member expiry is by score, in the application's clock. The key itself gets a plain
        // TTL on Redis's clock, refreshed by every touch, so abandoned keys clean themselves up.
        let _: () = redis::pipe()
            .atomic()
            .zadd(&key, member, until_ms)
            .ignore()
            .expire(&key, 3600)
            .ignore()
            .query_async(&mut conn)
            .await
            .map_err(redis_err)?;
        Ok(())
    }

    async fn presence_remove(&self, key: &str, member: &str) -> Result<(), BusError> {
        let mut conn = self.conn().await?;
        let _: i64 = redis::cmd("ZREM")
            .arg(format!("kefu:presence:{key}"))
            .arg(member)
            .query_async(&mut conn)
            .await
            .map_err(redis_err)?;
        Ok(())
    }

    async fn presence_count(&self, key: &str, now_ms: i64) -> Result<i64, BusError> {
        let mut conn = self.conn().await?;
        let key = format!("kefu:presence:{key}");
        let (_, count): (i64, i64) = redis::pipe()
            .atomic()
            .cmd("ZREMRANGEBYSCORE")
            .arg(&key)
            .arg("-inf")
            .arg(now_ms)
            .cmd("ZCARD")
            .arg(&key)
            .query_async(&mut conn)
            .await
            .map_err(redis_err)?;
        Ok(count)
    }

    async fn ping(&self) -> Result<(), BusError> {
        let mut conn = self.conn().await?;
        let _: String = redis::cmd("PING")
            .query_async(&mut conn)
            .await
            .map_err(redis_err)?;
        Ok(())
    }

    fn name(&self) -> &'static str {
        "redis"
    }
}

/// Holds one subscription: subscribes, forwards messages, and on a lost connection
/// resubscribes with backoff. The first outcome is reported on `ready`.
async fn pump(
    client: redis::Client,
    channel: String,
    tx: mpsc::Sender<Event>,
    ready: oneshot::Sender<Result<(), String>>,
) {
    let mut ready = Some(ready);
    let mut backoff = Duration::from_millis(100);
    loop {
        let subscribed = async {
            let mut pubsub = client.get_async_pubsub().await?;
            pubsub.subscribe(&channel).await?;
            Ok::<_, redis::RedisError>(pubsub)
        }
        .await;
        let pubsub = match subscribed {
            Ok(p) => p,
            Err(e) => {
                if let Some(ready) = ready.take() {
                    let _ = ready.send(Err(e.to_string()));
                    return;
                }
                tracing::warn!(%channel, error = %e, "bus: resubscribe failed, retrying");
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(Duration::from_secs(5));
                continue;
            }
        };
        if let Some(ready) = ready.take() {
            let _ = ready.send(Ok(()));
        }
        backoff = Duration::from_millis(100);
        let mut messages = pubsub.into_on_message();
        loop {
            tokio::select! {
                msg = messages.next() => {
                    let Some(msg) = msg else { break };
                    match serde_json::from_slice::<Event>(msg.get_payload_bytes()) {
                        Ok(event) => {
                            if tx.send(event).await.is_err() {
                                return;
                            }
                        }
                        Err(e) => tracing::warn!(%channel, error = %e, "bus: skipped an event this node does not understand"),
                    }
                }
                _ = tx.closed() => return,
            }
        }
        tracing::warn!(%channel, "bus: Redis subscription lost, reconnecting");
    }
}
