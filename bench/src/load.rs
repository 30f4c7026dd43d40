//! The load: sockets and REST calls, each measured over a fixed window.

use anyhow::{Context, Result, bail};
use futures::{SinkExt, StreamExt};
use hdrhistogram::Histogram;
use serde_json::{Value, json};
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;

pub type Ws =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// Where sockets log in: the relay needs only an identifier, Kefu a UserSig.
#[derive(Clone)]
pub struct Target {
    pub ws_url: String,
    pub app: Option<(i64, String)>,
}

impl Target {
    fn auth(&self, identifier: &str) -> Value {
        match &self.app {
            None => json!({"type": "auth", "identifier": identifier}),
            Some((sdkappid, key)) => json!({
                "type": "auth",
                "sdkappid": sdkappid,
                "identifier": identifier,
                "usersig": usersig(*sdkappid, key, identifier),
            }),
        }
    }

    pub async fn open(&self, identifier: &str) -> Result<Ws> {
        open_with(&self.ws_url, self.auth(identifier), identifier).await
    }
}

/// Connects to `ws_url` and logs in with the `auth` frame (a UserSig's or a console token's);
/// `who` names the socket in errors.
pub async fn open_with(ws_url: &str, auth: Value, who: &str) -> Result<Ws> {
    // Small buffers on this side too: 10,000 sockets at tungstenite's 128 KiB default would
    // cost the load generator more than a gigabyte.
    let config = WebSocketConfig::default()
        .read_buffer_size(4096)
        .write_buffer_size(0);
    let (mut ws, _) = tokio_tungstenite::connect_async_with_config(ws_url, Some(config), true)
        .await
        .with_context(|| format!("connecting {ws_url}"))?;
    ws.send(Message::text(auth.to_string())).await?;
    while let Some(frame) = ws.next().await {
        if let Message::Text(t) = frame? {
            let v: Value = serde_json::from_str(&t)?;
            match v["type"].as_str() {
                Some("auth_ok") => return Ok(ws),
                Some("error") => bail!("auth of {who} refused: {t}"),
                _ => {}
            }
        }
    }
    bail!("socket closed during auth of {who}")
}

pub fn usersig(sdkappid: i64, key: &str, identifier: &str) -> String {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    kefu_usersig::generate(sdkappid as u64, key, identifier, 86400, now)
}

fn epoch() -> Instant {
    static START: OnceLock<Instant> = OnceLock::new();
    *START.get_or_init(Instant::now)
}

fn micros_now() -> u64 {
    epoch().elapsed().as_micros() as u64
}

/// A 200-byte text carrying its send time, so the receiver can measure delivery.
fn stamped_text(micros: u64) -> String {
    let mut t = format!("t={micros:020} ");
    t.push_str(&"x".repeat(200 - t.len()));
    t
}

fn stamp_in(frame: &str) -> Option<u64> {
    let at = frame.find("t=")? + 2;
    frame.get(at..at + 20)?.parse().ok()
}

fn histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, 60_000_000, 3).expect("bounds")
}

pub struct Latency {
    pub p50_ms: f64,
    pub p99_ms: f64,
    pub count: u64,
}

impl Latency {
    fn of(h: &Histogram<u64>) -> Self {
        Self {
            p50_ms: h.value_at_quantile(0.50) as f64 / 1000.0,
            p99_ms: h.value_at_quantile(0.99) as f64 / 1000.0,
            count: h.len(),
        }
    }
}

/// Opens `count` sockets, `at_once` at a time.
pub async fn open_many(target: &Target, names: Vec<String>, at_once: usize) -> Result<Vec<Ws>> {
    futures::stream::iter(names)
        .map(|name| {
            let target = target.clone();
            async move { target.open(&name).await }
        })
        .buffered(at_once)
        .collect::<Vec<_>>()
        .await
        .into_iter()
        .collect()
}

/// Typing frames through `pairs` sender→receiver pairs, each pair one frame in flight (send,
/// wait until the receiver has it, send again). Returns frames delivered per second.
pub async fn ephemeral(target: &Target, pairs: usize, seconds: u64, tag: &str) -> Result<f64> {
    let senders = open_many(
        target,
        (0..pairs).map(|i| format!("{tag}s{i}")).collect(),
        100,
    )
    .await?;
    let receivers = open_many(
        target,
        (0..pairs).map(|i| format!("{tag}r{i}")).collect(),
        100,
    )
    .await?;
    let delivered = Arc::new(AtomicU64::new(0));
    let start = Instant::now();
    let deadline = start + Duration::from_secs(seconds);
    let mut tasks = Vec::new();
    for (i, (sender, receiver)) in senders.into_iter().zip(receivers).enumerate() {
        let delivered = delivered.clone();
        let frame = json!({"type": "typing", "to": format!("{tag}r{i}")}).to_string();
        tasks.push(tokio::spawn(async move {
            let (mut tx, _rx) = sender.split();
            let (_rtx, mut rx) = receiver.split();
            while Instant::now() < deadline {
                if tx.send(Message::text(frame.clone())).await.is_err() {
                    return;
                }
                // A frame a throttle dropped would stall the pair; resend after a while.
                let got = tokio::time::timeout(Duration::from_millis(500), async {
                    while let Some(Ok(m)) = rx.next().await {
                        if matches!(&m, Message::Text(t) if t.contains("typing")) {
                            return true;
                        }
                    }
                    false
                })
                .await;
                match got {
                    Ok(true) => {
                        if Instant::now() < deadline {
                            delivered.fetch_add(1, Ordering::Relaxed);
                        }
                    }
                    Ok(false) => return,
                    Err(_) => {}
                }
            }
        }));
    }
    for t in tasks {
        let _ = t.await;
    }
    Ok(delivered.load(Ordering::Relaxed) as f64 / seconds as f64)
}

/// Persisted buyer→agent messages.
pub struct Persisted {
    pub rate: f64,
    pub ack: Latency,
    pub deliver: Latency,
}

fn send_frame(id: &str, to: &str) -> String {
    json!({
        "type": "send", "id": id, "to": to,
        "body": [{"MsgType": "TIMTextElem", "MsgContent": {"Text": stamped_text(micros_now())}}],
    })
    .to_string()
}

/// `pairs` buyer sockets sending to their own agent socket. With `rate` None each buyer keeps
/// `window` sends unacknowledged (closed loop, the ceiling); with `rate` Some the sends are
/// paced to that many per second in total (open loop: late ticks are caught up, so queueing
/// shows in the latencies).
pub async fn persisted(
    target: &Target,
    pairs: usize,
    seconds: u64,
    window: usize,
    rate: Option<f64>,
    tag: &str,
) -> Result<Persisted> {
    let agents = open_many(
        target,
        (0..pairs).map(|i| format!("{tag}a{i}")).collect(),
        100,
    )
    .await?;
    let buyers = open_many(
        target,
        (0..pairs).map(|i| format!("{tag}b{i}")).collect(),
        100,
    )
    .await?;
    let acks = Arc::new(Mutex::new(histogram()));
    let delivers = Arc::new(Mutex::new(histogram()));
    let acked = Arc::new(AtomicU64::new(0));
    let start = Instant::now();
    let deadline = start + Duration::from_secs(seconds);
    let mut tasks = Vec::new();
    for (i, agent) in agents.into_iter().enumerate() {
        let delivers = delivers.clone();
        tasks.push(tokio::spawn(async move {
            let (_tx, mut rx) = agent.split();
            let mut local = histogram();
            let drain_until = deadline + Duration::from_secs(3);
            while let Ok(Some(Ok(m))) = tokio::time::timeout_at(drain_until.into(), rx.next()).await
            {
                if let Message::Text(t) = m
                    && t.starts_with("{\"type\":\"msg\"")
                    && let Some(sent) = stamp_in(&t)
                {
                    let _ = local.record(micros_now().saturating_sub(sent).max(1));
                }
            }
            let _ = i;
            delivers.lock().unwrap().add(&local).unwrap();
        }));
    }
    for (i, buyer) in buyers.into_iter().enumerate() {
        let acks = acks.clone();
        let acked = acked.clone();
        let to = format!("{tag}a{i}");
        tasks.push(tokio::spawn(async move {
            let (mut tx, mut rx) = buyer.split();
            let sent_at: Arc<Mutex<HashMap<String, u64>>> = Arc::default();
            let reader = {
                let sent_at = sent_at.clone();
                let acks = acks.clone();
                let acked = acked.clone();
                let (more_tx, more_rx) = tokio::sync::mpsc::unbounded_channel::<()>();
                let handle = tokio::spawn(async move {
                    let mut local = histogram();
                    let drain_until = deadline + Duration::from_secs(3);
                    while let Ok(Some(Ok(m))) =
                        tokio::time::timeout_at(drain_until.into(), rx.next()).await
                    {
                        let Message::Text(t) = m else { continue };
                        let v: Value = match serde_json::from_str(&t) {
                            Ok(v) => v,
                            Err(_) => continue,
                        };
                        if v["type"] != "ack" {
                            continue;
                        }
                        let id = v["id"].as_str().unwrap_or("");
                        if let Some(at) = sent_at.lock().unwrap().remove(id) {
                            let _ = local.record(micros_now().saturating_sub(at).max(1));
                            if Instant::now() <= deadline {
                                acked.fetch_add(1, Ordering::Relaxed);
                            }
                        }
                        let _ = more_tx.send(());
                    }
                    acks.lock().unwrap().add(&local).unwrap();
                });
                (handle, more_rx)
            };
            let (handle, mut more) = reader;
            let mut n = 0u64;
            let mut send = async |n: &mut u64| {
                let id = format!("{i}-{n}");
                *n += 1;
                sent_at.lock().unwrap().insert(id.clone(), micros_now());
                tx.send(Message::text(send_frame(&id, &to))).await.is_ok()
            };
            match rate {
                None => {
                    for _ in 0..window {
                        send(&mut n).await;
                    }
                    while Instant::now() < deadline {
                        if more.recv().await.is_none() {
                            break;
                        }
                        send(&mut n).await;
                    }
                }
                Some(total) => {
                    let every = Duration::from_secs_f64(pairs as f64 / total);
                    // Spread the pairs' first ticks over one interval.
                    let offset = every.mul_f64(i as f64 / pairs as f64);
                    let mut tick = tokio::time::interval_at((start + offset).into(), every);
                    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
                    while Instant::now() < deadline {
                        tick.tick().await;
                        if !send(&mut n).await {
                            break;
                        }
                    }
                }
            }
            let _ = handle.await;
        }));
    }
    for t in tasks {
        let _ = t.await;
    }
    let acks = acks.lock().unwrap();
    let delivers = delivers.lock().unwrap();
    Ok(Persisted {
        rate: acked.load(Ordering::Relaxed) as f64 / seconds as f64,
        ack: Latency::of(&acks),
        deliver: Latency::of(&delivers),
    })
}

/// A REST caller signed as the app's admin.
#[derive(Clone)]
pub struct Rest {
    pub base: String,
    pub sdkappid: i64,
    pub key: String,
    pub http: reqwest::Client,
}

impl Rest {
    pub async fn call(&self, command: &str, body: &Value) -> Result<Value> {
        let sig = usersig(self.sdkappid, &self.key, "administrator");
        let url = format!(
            "{}/v4/{command}?sdkappid={}&identifier=administrator&usersig={sig}&random={}&contenttype=json",
            self.base,
            self.sdkappid,
            micros_now()
        );
        let resp: Value = self
            .http
            .post(url)
            .body(body.to_string())
            .send()
            .await?
            .json()
            .await?;
        if resp["ActionStatus"] != "OK" {
            bail!("{command} failed: {resp}");
        }
        Ok(resp)
    }
}

/// `concurrency` callers making `make(i, n)` calls back to back for `seconds`. Returns calls per
/// second and their latency.
pub async fn rest_load(
    rest: &Rest,
    command: &'static str,
    concurrency: usize,
    seconds: u64,
    make: impl Fn(usize, u64) -> Value + Send + Sync + 'static,
) -> Result<(f64, Latency)> {
    let make = Arc::new(make);
    let deadline = Instant::now() + Duration::from_secs(seconds);
    let done = Arc::new(AtomicU64::new(0));
    let failed = Arc::new(AtomicU64::new(0));
    let all = Arc::new(Mutex::new(histogram()));
    let mut tasks = Vec::new();
    for i in 0..concurrency {
        let (rest, make, done, failed, all) = (
            rest.clone(),
            make.clone(),
            done.clone(),
            failed.clone(),
            all.clone(),
        );
        tasks.push(tokio::spawn(async move {
            let mut local = histogram();
            let mut n = 0;
            while Instant::now() < deadline {
                let body = make(i, n);
                n += 1;
                let t = Instant::now();
                match rest.call(command, &body).await {
                    Ok(_) => {
                        let _ = local.record(t.elapsed().as_micros().max(1) as u64);
                        done.fetch_add(1, Ordering::Relaxed);
                    }
                    Err(e) => {
                        if failed.fetch_add(1, Ordering::Relaxed) == 0 {
                            eprintln!("kefu-bench: {command}: {e}");
                        }
                    }
                }
            }
            all.lock().unwrap().add(&local).unwrap();
        }));
    }
    for t in tasks {
        t.await?;
    }
    let failures = failed.load(Ordering::Relaxed);
    if failures > 0 {
        eprintln!("kefu-bench: {command}: {failures} calls failed");
    }
    let h = all.lock().unwrap();
    Ok((
        done.load(Ordering::Relaxed) as f64 / seconds as f64,
        Latency::of(&h),
    ))
}

/// Calls made at `rate` per second in total for `seconds` (open loop: each call starts on its
/// tick whether or not earlier ones have answered, up to 512 in flight), `make(n)` building
/// the n-th. Latency runs from the tick, so time spent waiting behind slow calls counts.
/// Returns calls answered per second and their latency.
pub async fn rest_paced(
    rest: &Rest,
    command: &'static str,
    rate: f64,
    seconds: u64,
    make: impl Fn(u64) -> Value + Send + Sync + 'static,
) -> Result<(f64, Latency)> {
    let in_flight = Arc::new(tokio::sync::Semaphore::new(512));
    let done = Arc::new(AtomicU64::new(0));
    let failed = Arc::new(AtomicU64::new(0));
    let all = Arc::new(Mutex::new(histogram()));
    let start = Instant::now();
    let deadline = start + Duration::from_secs(seconds);
    let mut tick = tokio::time::interval(Duration::from_secs_f64(1.0 / rate));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
    let mut tasks = tokio::task::JoinSet::new();
    let mut n = 0;
    loop {
        let due = tick.tick().await.into_std();
        if due >= deadline {
            break;
        }
        let permit = in_flight.clone().acquire_owned().await?;
        let body = make(n);
        n += 1;
        let (rest, done, failed, all) = (rest.clone(), done.clone(), failed.clone(), all.clone());
        tasks.spawn(async move {
            let _permit = permit;
            match rest.call(command, &body).await {
                Ok(_) => {
                    let took = due.elapsed().as_micros().max(1) as u64;
                    let _ = all.lock().unwrap().record(took);
                    done.fetch_add(1, Ordering::Relaxed);
                }
                Err(e) => {
                    if failed.fetch_add(1, Ordering::Relaxed) == 0 {
                        eprintln!("kefu-bench: {command}: {e}");
                    }
                }
            }
        });
    }
    while tasks.join_next().await.is_some() {}
    let failures = failed.load(Ordering::Relaxed);
    if failures > 0 {
        eprintln!("kefu-bench: {command}: {failures} calls failed");
    }
    let h = all.lock().unwrap();
    Ok((
        done.load(Ordering::Relaxed) as f64 / start.elapsed().as_secs_f64(),
        Latency::of(&h),
    ))
}

/// A 200-byte text element for REST sends.
pub fn text_body() -> Value {
    json!([{"MsgType": "TIMTextElem", "MsgContent": {"Text": stamped_text(0)}}])
}
