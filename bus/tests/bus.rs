//! The bus contract, on the in-process bus always and on the machine's real Redis when
//! `KEFU_TEST_REDIS_URL` is set (CI sets it).

use futures::StreamExt;
use kefu_bus::{Bus, InProcessBus, RedisBus};
use kefu_domain::event::Event;
use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::Duration;

fn redis_url() -> Option<String> {
    let url = std::env::var("KEFU_TEST_REDIS_URL")
        .ok()
        .filter(|u| !u.is_empty());
    if url.is_none() {
        eprintln!("KEFU_TEST_REDIS_URL is not set: Redis tests skipped");
    }
    url
}

fn note(text: &str) -> Event {
    Event::Note { text: text.into() }
}

/// A unique topic per test run, so parallel runs on one Redis do not see each other.
fn topic(name: &str) -> String {
    format!("test-{name}-{}-{}", std::process::id(), rand_u32())
}

fn rand_u32() -> u32 {
    use std::hash::{BuildHasher, RandomState};
    RandomState::new().hash_one(std::time::SystemTime::now()) as u32
}

async fn next(sub: &mut kefu_bus::Subscription) -> Event {
    tokio::time::timeout(Duration::from_secs(5), sub.next())
        .await
        .expect("event within 5 s")
        .expect("stream open")
}

async fn every_subscriber_of_a_topic_gets_each_event_in_order(bus: &dyn Bus) {
    let t = topic("order");
    let mut a = bus.subscribe(&t).await.unwrap();
    let mut b = bus.subscribe(&t).await.unwrap();
    let mut other = bus.subscribe(&topic("other")).await.unwrap();
    for i in 0..3 {
        bus.publish(&t, &note(&format!("n{i}"))).await.unwrap();
    }
    for i in 0..3 {
        assert_eq!(next(&mut a).await, note(&format!("n{i}")), "{}", bus.name());
        assert_eq!(next(&mut b).await, note(&format!("n{i}")), "{}", bus.name());
    }
    let nothing = tokio::time::timeout(Duration::from_millis(200), other.next()).await;
    assert!(nothing.is_err(), "a different topic hears nothing");
    bus.ping().await.unwrap();
}

#[tokio::test]
async fn the_in_process_bus_fans_out_per_topic() {
    every_subscriber_of_a_topic_gets_each_event_in_order(&InProcessBus::new()).await;
    // Publishing with nobody listening is fine.
    InProcessBus::new()
        .publish("nobody", &note("x"))
        .await
        .unwrap();
}

#[tokio::test]
async fn the_redis_bus_fans_out_per_topic() {
    let Some(url) = redis_url() else { return };
    let bus = RedisBus::connect(&url).await.unwrap();
    every_subscriber_of_a_topic_gets_each_event_in_order(&bus).await;
}

#[tokio::test]
async fn an_unreachable_redis_fails_at_connect_naming_the_setting() {
    let err = RedisBus::connect("redis://127.0.0.1:1")
        .await
        .err()
        .expect("refused");
    assert!(err.to_string().starts_with("KEFU_REDIS_URL"), "{err}");
    let err = RedisBus::connect("http://x")
        .await
        .err()
        .expect("bad scheme");
    assert!(err.to_string().starts_with("KEFU_REDIS_URL"), "{err}");
}

#[tokio::test]
async fn two_subscribers_in_separate_processes_receive_the_same_event() {
    let Some(url) = redis_url() else { return };
    let t = topic("processes");
    let spawn = || {
        Command::new(env!("CARGO_BIN_EXE_kefu-bus-tail"))
            .args([&url, &t])
            .stdout(Stdio::piped())
            .spawn()
            .expect("start kefu-bus-tail")
    };
    let mut children = [spawn(), spawn()];
    let mut readers: Vec<_> = children
        .iter_mut()
        .map(|c| BufReader::new(c.stdout.take().unwrap()).lines())
        .collect();
    for r in &mut readers {
        assert_eq!(r.next().unwrap().unwrap(), "subscribed");
    }
    let bus = RedisBus::connect(&url).await.unwrap();
    let event = Event::SessionRevoked {
        tenant_id: Some(kefu_domain::TenantId(7)),
        account_id: kefu_domain::AccountId(9),
        session_id: 11,
        reason: "kicked".into(),
    };
    bus.publish(&t, &event).await.unwrap();
    let got: Vec<Event> = readers
        .iter_mut()
        .map(|r| serde_json::from_str(&r.next().unwrap().unwrap()).unwrap())
        .collect();
    for c in &mut children {
        let _ = c.kill();
        let _ = c.wait();
    }
    assert_eq!(got, vec![event.clone(), event]);
}

async fn window_counters_count_per_key_and_window(bus: &dyn Bus) {
    let key = topic("counter");
    for expected in 1..=3 {
        assert_eq!(
            bus.count_in_window(&key, 100, 5).await.unwrap(),
            expected,
            "{}",
            bus.name()
        );
    }
    assert_eq!(
        bus.count_in_window(&format!("{key}-other"), 100, 5)
            .await
            .unwrap(),
        1,
        "keys are separate"
    );
    assert_eq!(
        bus.count_in_window(&key, 101, 5).await.unwrap(),
        1,
        "{}: a new window starts at 1",
        bus.name()
    );
}

#[tokio::test]
async fn the_in_process_bus_counts_in_windows() {
    window_counters_count_per_key_and_window(&InProcessBus::new()).await;
}

#[tokio::test]
async fn redis_counts_in_windows_shared_by_every_node() {
    let Some(url) = redis_url() else { return };
    let a = RedisBus::connect(&url).await.unwrap();
    window_counters_count_per_key_and_window(&a).await;
    // A second connection stands for a second node: it counts into the same window.
    let b = RedisBus::connect(&url).await.unwrap();
    let key = topic("shared");
    assert_eq!(a.count_in_window(&key, 7, 5).await.unwrap(), 1);
    assert_eq!(b.count_in_window(&key, 7, 5).await.unwrap(), 2);
}

async fn presence_counts_live_members_only(bus: &dyn Bus) {
    let key = topic("presence");
    assert_eq!(bus.presence_count(&key, 1_000).await.unwrap(), 0);
    bus.presence_touch(&key, "node-a:1", 90_000).await.unwrap();
    bus.presence_touch(&key, "node-b:7", 50_000).await.unwrap();
    assert_eq!(
        bus.presence_count(&key, 1_000).await.unwrap(),
        2,
        "{}",
        bus.name()
    );
    assert_eq!(
        bus.presence_count(&key, 60_000).await.unwrap(),
        1,
        "{}: a lapsed member is gone",
        bus.name()
    );
    bus.presence_touch(&key, "node-a:1", 200_000).await.unwrap();
    assert_eq!(
        bus.presence_count(&key, 100_000).await.unwrap(),
        1,
        "touch extends"
    );
    bus.presence_remove(&key, "node-a:1").await.unwrap();
    assert_eq!(bus.presence_count(&key, 100_000).await.unwrap(), 0);
}

#[tokio::test]
async fn the_in_process_bus_tracks_presence() {
    presence_counts_live_members_only(&InProcessBus::new()).await;
}

#[tokio::test]
async fn redis_tracks_presence_for_every_node() {
    let Some(url) = redis_url() else { return };
    presence_counts_live_members_only(&RedisBus::connect(&url).await.unwrap()).await;
}
