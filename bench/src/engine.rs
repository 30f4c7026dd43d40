//! `kefu-bench engine`: the conversation engine's figures on PostgreSQL.
//!
//! 1. **Latency**: 500 agents online with their consoles connected; buyers ask for a human
//!    ("人工" through REST `sendmsg`) at 100 new conversations a second. Measured: from the
//!    send to the `{"type":"conversation","change":"assigned"}` frame on the agent's console
//!    socket. Target p50 ≤ 20 ms, p99 ≤ 100 ms.
//! 2. **Double assignment**: `--trials` buyers (10,000) ask at once, 32 in flight, while every
//!    console ends each conversation the moment it arrives, so slots free and queues drain
//!    concurrently. Counted from the database: conversations with more than one `assigned`
//!    event or session, agents past their cap, and `active` against what is assigned.
//!
//! Setup shortcut: the 500 seats are created through the API, then given the demo agents'
//! password hash in the database (first-login password changes would only cost argon2 time).

use crate::load::{Rest, Ws, open_with};
use crate::server::{Kefu, PASSWORD, start_kefu, url_with_db};
use anyhow::{Context, Result, bail};
use futures::StreamExt;
use hdrhistogram::Histogram;
use serde_json::{Value, json};
use sqlx::Connection;
use std::collections::HashMap;
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio_tungstenite::tungstenite::Message;

const AGENTS: usize = 500;
const CAP: i64 = 3;
const SERVICE: &str = "@customer_service_account";

/// What the consoles saw: (conversation id, when) for every `assigned` frame.
type Seen = Arc<Mutex<Vec<(i64, Instant)>>>;

struct Api {
    base: String,
    http: reqwest::Client,
}

impl Api {
    async fn call(&self, method: &str, path: &str, token: &str, body: Value) -> Result<Value> {
        let url = format!("{}{path}", self.base);
        let req = match method {
            "PUT" => self.http.put(url),
            _ => self.http.post(url),
        };
        let resp = req.bearer_auth(token).json(&body).send().await?;
        let status = resp.status();
        let v: Value = resp.json().await.unwrap_or(Value::Null);
        if !status.is_success() {
            bail!("{method} {path}: {status} {v}");
        }
        Ok(v)
    }

    async fn login(&self, username: &str) -> Result<String> {
        let body = json!({ "tenant": "demo", "username": username, "password": PASSWORD });
        let v = self.call("POST", "/api/v1/auth/login", "", body).await?;
        v["token"]
            .as_str()
            .map(str::to_string)
            .context("login answered no token")
    }
}

fn histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, 600_000_000, 3).expect("bounds")
}

async fn import(rest: &Rest, prefix: &str, count: usize) -> Result<()> {
    let names: Vec<String> = (0..count).map(|i| format!("{prefix}{i}")).collect();
    for chunk in names.chunks(100) {
        rest.call(
            "im_open_login_svc/multiaccount_import",
            &json!({ "Accounts": chunk }),
        )
        .await?;
    }
    Ok(())
}

async fn ask(rest: &Rest, buyer: &str, n: u64) -> Result<()> {
    let body = json!({
        "From_Account": buyer,
        "To_Account": SERVICE,
        "MsgRandom": n,
        "MsgBody": [{"MsgType": "TIMTextElem", "MsgContent": {"Text": "人工"}}],
    });
    rest.call("openim/sendmsg", &body).await.map(|_| ())
}

pub async fn run(kefu: &Path, postgres: &str, seconds: u64, trials: usize) -> Result<()> {
    sqlx::any::install_default_drivers();
    let db = format!("kefu_bench_engine_{}", std::process::id());
    let mut admin_db = sqlx::PgConnection::connect(postgres).await?;
    sqlx::query(&format!("drop database if exists {db}"))
        .execute(&mut admin_db)
        .await?;
    sqlx::query(&format!("create database {db}"))
        .execute(&mut admin_db)
        .await?;
    let outcome = measure(kefu, &url_with_db(postgres, &db), seconds, trials).await;
    sqlx::query(&format!("drop database if exists {db} with (force)"))
        .execute(&mut admin_db)
        .await?;
    outcome
}

async fn measure(kefu: &Path, url: &str, seconds: u64, trials: usize) -> Result<()> {
    let k = start_kefu(kefu, Some(url.to_string())).await?;
    let mut db = sqlx::PgConnection::connect(&k.db_url).await?;
    let api = Arc::new(Api {
        base: k.base.clone(),
        http: reqwest::Client::builder().tcp_nodelay(true).build()?,
    });
    let (agents, seen, ending) = setup(&k, &api, &mut db).await?;
    let rest = k.rest();

    // 1. Latency at 100 new conversations a second.
    let count = (seconds as usize * 100).min(AGENTS * CAP as usize);
    eprintln!("kefu-bench: engine latency, {count} buyers at 100/s");
    import(&rest, "lat", count).await?;
    let sent: Arc<Mutex<HashMap<String, Instant>>> = Arc::default();
    let round_trips = Arc::new(Mutex::new(histogram()));
    let failed = Arc::new(AtomicU64::new(0));
    let mut tick = tokio::time::interval(Duration::from_millis(10));
    let mut tasks = Vec::new();
    for i in 0..count {
        tick.tick().await;
        let (rest, sent, failed, round_trips) = (
            rest.clone(),
            sent.clone(),
            failed.clone(),
            round_trips.clone(),
        );
        tasks.push(tokio::spawn(async move {
            let buyer = format!("lat{i}");
            let start = Instant::now();
            sent.lock().unwrap().insert(buyer.clone(), start);
            match ask(&rest, &buyer, i as u64).await {
                Ok(()) => {
                    let _ = round_trips
                        .lock()
                        .unwrap()
                        .record(start.elapsed().as_micros().max(1) as u64);
                }
                Err(e) => {
                    if failed.fetch_add(1, Ordering::Relaxed) == 0 {
                        eprintln!("kefu-bench: {e}");
                    }
                }
            }
        }));
    }
    for t in tasks {
        t.await?;
    }
    tokio::time::sleep(Duration::from_secs(2)).await;
    let ids: Vec<(i64, String)> =
        sqlx::query_as("select id, buyer from conversations where buyer like 'lat%'")
            .fetch_all(&mut db)
            .await?;
    let by_id: HashMap<i64, String> = ids.into_iter().collect();
    let mut h = histogram();
    let mut missing = count;
    {
        let sent = sent.lock().unwrap();
        let mut first: HashMap<i64, Instant> = HashMap::new();
        for (id, at) in seen.lock().unwrap().iter() {
            first.entry(*id).or_insert(*at);
        }
        for (id, at) in first {
            if let Some(start) = by_id.get(&id).and_then(|b| sent.get(b)) {
                let _ = h.record(at.duration_since(*start).as_micros().max(1) as u64);
                missing -= 1;
            }
        }
    }
    let p50 = h.value_at_quantile(0.50) as f64 / 1000.0;
    let p99 = h.value_at_quantile(0.99) as f64 / 1000.0;
    let (rt50, rt99) = {
        let rt = round_trips.lock().unwrap();
        (
            rt.value_at_quantile(0.50) as f64 / 1000.0,
            rt.value_at_quantile(0.99) as f64 / 1000.0,
        )
    };
    let fastest = h.min() as f64 / 1000.0;

    // 2. Double assignment under concurrent asks and ends.
    eprintln!("kefu-bench: engine races, {trials} buyers, 32 in flight, consoles ending each");
    ending.store(true, Ordering::SeqCst);
    for (id, token) in &agents {
        // Free the latency phase's slots first.
        let open: Vec<i64> = sqlx::query_scalar(
            "select id from conversations where agent_id = $1 and state = 'assigned'",
        )
        .bind(*id)
        .fetch_all(&mut db)
        .await?;
        for c in open {
            api.call(
                "POST",
                &format!("/api/v1/conversations/{c}/end"),
                token,
                json!({}),
            )
            .await?;
        }
    }
    import(&rest, "race", trials).await?;
    // Samples the busiest agent's load throughout the races.
    let sampling = Arc::new(AtomicBool::new(true));
    let sampler = {
        let (url, sampling) = (k.db_url.clone(), sampling.clone());
        tokio::spawn(async move {
            let mut db = sqlx::PgConnection::connect(&url).await?;
            let mut busiest = 0i64;
            while sampling.load(Ordering::SeqCst) {
                let max: Option<i64> = sqlx::query_scalar("select max(active) from agent_states")
                    .fetch_one(&mut db)
                    .await?;
                busiest = busiest.max(max.unwrap_or(0));
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            anyhow::Ok(busiest)
        })
    };
    let started = Instant::now();
    let asked = futures::stream::iter(0..trials)
        .map(|i| {
            let rest = rest.clone();
            async move { ask(&rest, &format!("race{i}"), 1_000_000 + i as u64).await }
        })
        .buffer_unordered(32)
        .filter(|r| futures::future::ready(r.is_err()))
        .count()
        .await;
    // Wait for the consoles to end everything still assigned or queued.
    let deadline = Instant::now() + Duration::from_secs(300);
    loop {
        let open: i64 = sqlx::query_scalar(
            "select count(*) from conversations where buyer like 'race%' and state <> 'ended'",
        )
        .fetch_one(&mut db)
        .await?;
        if open == 0 || Instant::now() > deadline {
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let took = started.elapsed().as_secs_f64();
    sampling.store(false, Ordering::SeqCst);
    let busiest = sampler.await??;
    let (finished,): (i64,) = sqlx::query_as(
        "select count(*) from conversations where buyer like 'race%' and state = 'ended'",
    )
    .fetch_one(&mut db)
    .await?;
    let (twice_events,): (i64,) = sqlx::query_as(
        "select count(*) from (select conversation_id from conversation_events where kind = 'assigned' \
         group by conversation_id having count(*) > 1) t",
    )
    .fetch_one(&mut db)
    .await?;
    let (twice_sessions,): (i64,) = sqlx::query_as(
        "select count(*) from (select conversation_id from conversation_sessions \
         group by conversation_id having count(*) > 1) t",
    )
    .fetch_one(&mut db)
    .await?;
    let (negative, active, assigned): (i64, Option<i64>, i64) = sqlx::query_as(
        "select count(*) filter (where active < 0), sum(active)::bigint, \
         (select count(*) from conversations where state = 'assigned') from agent_states",
    )
    .fetch_one(&mut db)
    .await?;
    let mut frames: HashMap<i64, usize> = HashMap::new();
    for (id, _) in seen.lock().unwrap().iter() {
        *frames.entry(*id).or_default() += 1;
    }
    let twice_frames = frames.values().filter(|n| **n > 1).count();
    let doubles = twice_events + twice_sessions + twice_frames as i64;

    println!();
    println!(
        "{:<58} {:>14}  {:<14} result",
        "figure", "measured", "target"
    );
    let line = |what: &str, figure: String, target: &str, met: bool| {
        println!(
            "{what:<58} {figure:>14}  {target:<14} {}",
            if met { "met" } else { "MISSED" }
        );
    };
    line(
        "ask → console event p50 (100 conv/s, 500 agents, PostgreSQL)",
        format!("{p50:.1} ms"),
        "≤ 20 ms",
        p50 <= 20.0,
    );
    line(
        "ask → console event p99",
        format!("{p99:.1} ms"),
        "≤ 100 ms",
        p99 <= 100.0,
    );
    line(
        "conversations without a console event",
        format!("{missing} of {count}"),
        "0",
        missing == 0,
    );
    line(
        "double assignments (events, sessions, console frames)",
        format!("{doubles} in {trials}"),
        "0",
        doubles == 0,
    );
    line(
        "busiest agent during the races (sampled every 20 ms)",
        format!("{busiest}"),
        "≤ 3",
        busiest <= CAP,
    );
    let active = active.unwrap_or(0);
    line(
        "slots held vs conversations assigned; agents below zero",
        format!("{active} vs {assigned}; {negative}"),
        "equal; 0",
        active == assigned && negative == 0,
    );
    line(
        "race conversations finished",
        format!("{finished} of {trials}"),
        "all",
        finished as usize == trials,
    );
    println!(
        "\nlatency phase: fastest ask → console event {fastest:.1} ms; the asks' REST round trip p50 {rt50:.1} ms, p99 {rt99:.1} ms"
    );
    println!(
        "races took {took:.1} s ({:.0} conversations/s through ask, assign and end); {} asks failed, \
         {} latency sends failed",
        finished as f64 / took,
        asked,
        failed.load(Ordering::Relaxed)
    );
    Ok(())
}

/// 500 agents in the demo's first group, logged in, online, each with a console socket whose
/// reader records `assigned` frames and, once `ending` is set, ends each conversation.
#[allow(clippy::type_complexity)]
async fn setup(
    k: &Kefu,
    api: &Arc<Api>,
    db: &mut sqlx::PgConnection,
) -> Result<(Vec<(i64, String)>, Seen, Arc<AtomicBool>)> {
    eprintln!("kefu-bench: engine setup, {AGENTS} agents");
    let room = (AGENTS + 10) as i64;
    sqlx::query("update tenants set max_accounts = $1, max_online = $1 where id = $2")
        .bind(room)
        .bind(k.tenant)
        .execute(&mut *db)
        .await?;
    let group: i64 =
        sqlx::query_scalar("select id from skill_groups where tenant_id = $1 order by id limit 1")
            .bind(k.tenant)
            .fetch_one(&mut *db)
            .await?;
    let boss = api.login("admin").await?;
    let created: Vec<Result<Value>> = futures::stream::iter(0..AGENTS)
        .map(|i| {
            let (api, boss) = (api.clone(), boss.clone());
            async move {
                let body = json!({
                    "username": format!("bench{i}"),
                    "display_name": format!("坐席{i}"),
                    "role": "agent",
                    "skill_group_ids": [group],
                });
                api.call("POST", "/api/v1/accounts", &boss, body).await
            }
        })
        .buffer_unordered(4)
        .collect()
        .await;
    for c in created {
        c?;
    }
    sqlx::query(
        "update accounts set must_change_password = false, password_hash = \
         (select password_hash from accounts where tenant_id = $1 and username = 'agent1') \
         where tenant_id = $1 and username like 'bench%'",
    )
    .bind(k.tenant)
    .execute(&mut *db)
    .await?;
    let ids: Vec<(i64, String)> = sqlx::query_as(
        "select id, username from accounts where tenant_id = $1 and username like 'bench%' order by id",
    )
    .bind(k.tenant)
    .fetch_all(&mut *db)
    .await?;
    let seen: Seen = Arc::default();
    let ending = Arc::new(AtomicBool::new(false));
    let logged: Vec<Result<(i64, String)>> = futures::stream::iter(ids)
        .map(|(id, username)| {
            let (api, ws_url, seen, ending) =
                (api.clone(), k.ws.clone(), seen.clone(), ending.clone());
            async move {
                let token = api.login(&username).await?;
                let ws =
                    open_with(&ws_url, json!({"type": "auth", "token": token}), &username).await?;
                api.call(
                    "PUT",
                    "/api/v1/me/status",
                    &token,
                    json!({"status": "online"}),
                )
                .await?;
                tokio::spawn(read_console(ws, api, token.clone(), seen, ending));
                Ok((id, token))
            }
        })
        .buffer_unordered(4)
        .collect()
        .await;
    logged
        .into_iter()
        .collect::<Result<Vec<_>>>()
        .map(|a| (a, seen, ending))
}

async fn read_console(
    mut ws: Ws,
    api: Arc<Api>,
    token: String,
    seen: Seen,
    ending: Arc<AtomicBool>,
) {
    while let Some(Ok(frame)) = ws.next().await {
        let Message::Text(t) = frame else { continue };
        let at = Instant::now();
        let Ok(v) = serde_json::from_str::<Value>(&t) else {
            continue;
        };
        if v["type"] != "conversation" || v["change"] != "assigned" {
            continue;
        }
        let Some(id) = v["conversation_id"].as_i64() else {
            continue;
        };
        seen.lock().unwrap().push((id, at));
        if ending.load(Ordering::SeqCst) {
            let (api, token) = (api.clone(), token.clone());
            tokio::spawn(async move {
                let path = format!("/api/v1/conversations/{id}/end");
                if let Err(e) = api.call("POST", &path, &token, json!({})).await {
                    eprintln!("kefu-bench: ending {id}: {e}");
                }
            });
        }
    }
}
