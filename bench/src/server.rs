//! Starting Kefu and the relay on core 0, running every measurement from core 1, printing the
//! figures beside their targets.

use crate::load::{self, Rest, Target};
use anyhow::{Context, Result, bail};
use serde_json::json;
use sqlx::Connection;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port()
}

struct Proc {
    child: Child,
}

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `program args…` on core 0.
fn on_core0(program: &Path, args: &[&str]) -> Command {
    let mut c = Command::new("taskset");
    c.arg("-c").arg("0").arg(program).args(args);
    c
}

async fn wait_for_port(port: u16, what: &str) -> Result<()> {
    let deadline = Instant::now() + Duration::from_secs(60);
    while tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .is_err()
    {
        if Instant::now() > deadline {
            bail!("{what} did not start listening on {port} in 60 s");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    Ok(())
}

pub(crate) struct Kefu {
    _proc: Proc,
    pid: u32,
    pub(crate) base: String,
    pub(crate) ws: String,
    pub(crate) db_url: String,
    sdkappid: i64,
    key: String,
    pub(crate) tenant: i64,
    dir: PathBuf,
}

impl Drop for Kefu {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// The demo's and the operator's password in a benchmarked server.
pub(crate) const PASSWORD: &str = "bench-Pass-2026";

pub(crate) async fn start_kefu(kefu: &Path, db_url: Option<String>) -> Result<Kefu> {
    let port = free_port();
    let dir = std::env::temp_dir().join(format!("kefu-bench-{}-{port}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let db_url = db_url.unwrap_or_else(|| format!("sqlite://{}/kefu.db", dir.display()));
    let log = std::fs::File::create(dir.join("server.log"))?;
    let child = on_core0(kefu, &["serve", "--demo"])
        .env("KEFU_LISTEN", format!("127.0.0.1:{port}"))
        .env("KEFU_DATA_DIR", &dir)
        .env("KEFU_DATABASE_URL", &db_url)
        .env("KEFU_METRICS_LISTEN", "off")
        .env("KEFU_IM_RATE_LIMIT", "0")
        .env("KEFU_IM_TYPING_INTERVAL_MS", "0")
        .env("KEFU_DEMO_PASSWORD", PASSWORD)
        .env("KEFU_OPERATOR_PASSWORD", PASSWORD)
        .env("KEFU_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .context("starting kefu under taskset")?;
    let pid = child.id();
    let proc = Proc { child };
    wait_for_port(port, "kefu").await?;
    let mut db = sqlx::AnyConnection::connect(&db_url).await?;
    let (sdkappid, key, tenant): (i64, String, i64) = sqlx::query_as(
        "select a.sdk_app_id, a.secret_key, a.tenant_id from im_apps a join tenants t on t.id = a.tenant_id where t.code = 'demo'",
    )
    .fetch_one(&mut db)
    .await
    .context("reading the demo app")?;
    Ok(Kefu {
        _proc: proc,
        pid,
        base: format!("http://127.0.0.1:{port}"),
        ws: format!("ws://127.0.0.1:{port}/im/ws"),
        db_url,
        sdkappid,
        key,
        tenant,
        dir,
    })
}

impl Kefu {
    fn target(&self) -> Target {
        Target {
            ws_url: self.ws.clone(),
            app: Some((self.sdkappid, self.key.clone())),
        }
    }

    pub(crate) fn rest(&self) -> Rest {
        Rest {
            base: self.base.clone(),
            sdkappid: self.sdkappid,
            key: self.key.clone(),
            http: reqwest::Client::builder()
                .pool_max_idle_per_host(256)
                .tcp_nodelay(true)
                .build()
                .expect("http client"),
        }
    }

    fn rss_kib(&self) -> Result<u64> {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.pid))?;
        status
            .lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))
            .and_then(|v| v.split_whitespace().next())
            .and_then(|v| v.parse().ok())
            .context("no VmRSS")
    }
}

/// One printed figure.
struct Row {
    shape: String,
    what: String,
    figure: String,
    target: String,
    met: Option<bool>,
}

fn row(shape: &str, what: &str, figure: String, target: &str, met: Option<bool>) -> Row {
    let r = Row {
        shape: shape.into(),
        what: what.into(),
        figure,
        target: target.into(),
        met,
    };
    eprintln!("  {:<10} {:<48} {:>14}", r.shape, r.what, r.figure);
    r
}

/// The parts of the gateway benchmark, in the order they run; `--only` picks some.
pub const PARTS: &[&str] = &["persisted", "rest", "history", "typing", "idle"];

pub async fn run_all(
    kefu: &Path,
    postgres: Option<&str>,
    seconds: u64,
    only: &[String],
    shapes: &[String],
) -> Result<()> {
    let wanted = |part: &str| only.is_empty() || only.iter().any(|o| o == part);
    let mut rows = Vec::new();
    let mut backends: Vec<(&str, Option<String>)> = Vec::new();
    if shapes.is_empty() || shapes.iter().any(|s| s == "sqlite") {
        backends.push(("sqlite", None));
    }
    let postgres = postgres.filter(|_| shapes.is_empty() || shapes.iter().any(|s| s == "postgres"));
    let pg_db = format!("kefu_bench_{}", std::process::id());
    if let Some(admin) = postgres {
        let mut c = sqlx::PgConnection::connect(admin).await?;
        sqlx::query(&format!("drop database if exists {pg_db}"))
            .execute(&mut c)
            .await?;
        sqlx::query(&format!("create database {pg_db}"))
            .execute(&mut c)
            .await?;
        let mut url = url_with_db(admin, &pg_db);
        url.push_str(if url.contains('?') { "&" } else { "?" });
        backends.push((
            "postgres",
            Some(url.trim_end_matches(['?', '&']).to_string()),
        ));
    }
    sqlx::any::install_default_drivers();
    for (shape, url) in &backends {
        eprintln!("kefu-bench: {shape}");
        let k = start_kefu(kefu, url.clone()).await?;
        if wanted("persisted") {
            persisted(&k, shape, seconds, &mut rows).await?;
        }
        if wanted("rest") {
            rest_send(&k, shape, seconds, &mut rows).await?;
        }
        if wanted("history") {
            history(&k, shape, seconds, &mut rows).await?;
        }
        if *shape == "sqlite" {
            if wanted("typing") {
                ephemeral(kefu, &k, seconds, &mut rows).await?;
            }
            if wanted("idle") {
                idle(&k, &mut rows).await?;
            }
        }
    }
    if let Some(admin) = postgres {
        let mut c = sqlx::PgConnection::connect(admin).await?;
        sqlx::query(&format!("drop database if exists {pg_db} with (force)"))
            .execute(&mut c)
            .await?;
    }
    println!();
    println!(
        "{:<10} {:<48} {:>14}  {:<18} result",
        "shape", "figure", "measured", "target"
    );
    for r in &rows {
        println!(
            "{:<10} {:<48} {:>14}  {:<18} {}",
            r.shape,
            r.what,
            r.figure,
            r.target,
            match r.met {
                Some(true) => "met",
                Some(false) => "MISSED",
                None => "",
            }
        );
    }
    let missed = rows.iter().filter(|r| r.met == Some(false)).count();
    println!(
        "\n{} figures, {} targets met, {missed} missed (server on core 0, load on core 1, {seconds} s per run)",
        rows.len(),
        rows.iter().filter(|r| r.met == Some(true)).count()
    );
    Ok(())
}

pub(crate) fn url_with_db(admin: &str, db: &str) -> String {
    let (head, query) = admin.split_once('?').unwrap_or((admin, ""));
    let base = match head.rfind('/') {
        Some(i) if i > "postgres://".len() => &head[..i],
        _ => head,
    };
    if query.is_empty() {
        format!("{base}/{db}")
    } else {
        format!("{base}/{db}?{query}")
    }
}

async fn persisted(k: &Kefu, shape: &str, seconds: u64, rows: &mut Vec<Row>) -> Result<()> {
    let full = load::persisted(&k.target(), 100, seconds, 8, None, "p").await?;
    rows.push(row(
        shape,
        "persisted buyer→agent msgs/s (100 pairs, closed loop)",
        format!("{:.0}/s", full.rate),
        ">= 5000/s",
        Some(full.rate >= 5000.0),
    ));
    let half = (full.rate / 2.0).max(1.0);
    let paced = load::persisted(&k.target(), 100, seconds, 0, Some(half), "q").await?;
    rows.push(row(
        shape,
        &format!("  at {half:.0}/s: send→ack p99 (p50)"),
        format!("{:.1} ms ({:.1})", paced.ack.p99_ms, paced.ack.p50_ms),
        "<= 25 ms",
        Some(paced.ack.p99_ms <= 25.0),
    ));
    rows.push(row(
        shape,
        &format!("  at {half:.0}/s: send→deliver p99 (p50)"),
        format!(
            "{:.1} ms ({:.1})",
            paced.deliver.p99_ms, paced.deliver.p50_ms
        ),
        "<= 50 ms",
        Some(paced.deliver.p99_ms <= 50.0 && paced.deliver.count > 0),
    ));
    Ok(())
}

/// The REST target: this many `sendmsg` calls a second, answered within 50 ms at p99.
const REST_RATE: f64 = 2000.0;

async fn rest_send(k: &Kefu, shape: &str, seconds: u64, rows: &mut Vec<Row>) -> Result<()> {
    let rest = k.rest();
    let accounts: Vec<String> = (0..64).map(|i| format!("rb{i}")).collect();
    rest.call(
        "im_open_login_svc/multiaccount_import",
        &json!({ "Accounts": accounts }),
    )
    .await?;
    let body = load::text_body();
    let closed = body.clone();
    let (rate, lat) = load::rest_load(&rest, "openim/sendmsg", 64, seconds, move |i, n| {
        json!({
            "From_Account": format!("rb{i}"),
            "To_Account": "@customer_service_account",
            "MsgRandom": (n as i64) * 64 + i as i64,
            "MsgBody": closed,
        })
    })
    .await?;
    rows.push(row(
        shape,
        "REST sendmsg req/s (64 callers)",
        format!("{rate:.0}/s"),
        ">= 2000/s",
        Some(rate >= 2000.0),
    ));
    rows.push(row(
        shape,
        "  64 callers back to back: p99 (p50)",
        format!("{:.1} ms ({:.1})", lat.p99_ms, lat.p50_ms),
        "",
        None,
    ));
    // The latency target holds at the target rate: calls paced at 2,000/s, open loop.
    let (paced_rate, paced) =
        load::rest_paced(&rest, "openim/sendmsg", REST_RATE, seconds, move |n| {
            json!({
                "From_Account": format!("rb{}", n % 64),
                "To_Account": "@customer_service_account",
                // Not a resend of a closed-loop call (duplicates are dropped): another MsgSeq.
                "MsgSeq": 7,
                "MsgRandom": n,
                "MsgBody": body,
            })
        })
        .await?;
    rows.push(row(
        shape,
        &format!("  at {REST_RATE:.0}/s: p99 (p50)"),
        format!(
            "{:.1} ms ({:.1}), {paced_rate:.0}/s answered",
            paced.p99_ms, paced.p50_ms
        ),
        "<= 50 ms",
        Some(paced.p99_ms <= 50.0 && paced_rate >= REST_RATE * 0.98),
    ));
    Ok(())
}

const HISTORY: i64 = 1_000_000;
const HISTORY_START: i64 = 1_700_000_000;

/// Fills one conversation with a million messages in SQL (ten a second of message time), the
/// way a year of a busy account would leave it.
async fn seed_history(k: &Kefu) -> Result<()> {
    let mut db = sqlx::AnyConnection::connect(&k.db_url).await?;
    let now = HISTORY_START * 1000;
    let chat: (i64,) = sqlx::query_as(
        "insert into chats (tenant_id, user_a, user_b, last_seq, created_at, updated_at) values ($1, 'hist_a', 'hist_b', $2, $3, $3) returning id",
    )
    .bind(k.tenant)
    .bind(HISTORY)
    .bind(now)
    .fetch_one(&mut db)
    .await?;
    let columns = "tenant_id, chat_id, seq, from_account, to_account, msg_seq, msg_random, msg_time, msg_key, content_crc, body, text, created_at";
    let select = |i: &str| {
        format!(
            "select {tenant}, {chat}, {i}, case when {i} % 2 = 0 then 'hist_a' else 'hist_b' end, case when {i} % 2 = 0 then 'hist_b' else 'hist_a' end, 0, {i}, {start} + {i} / 10, '0_' || {i} || '_' || ({start} + {i} / 10), 0, '[{{\"MsgType\":\"TIMTextElem\",\"MsgContent\":{{\"Text\":\"历史消息 ' || {i} || '\"}}}}]', '历史消息 ' || {i}, {now}",
            tenant = k.tenant,
            chat = chat.0,
            start = HISTORY_START,
        )
    };
    let sql = if k.db_url.starts_with("postgres") {
        format!(
            "insert into messages ({columns}) {} from generate_series(1, {HISTORY}) as g(i)",
            select("i")
        )
    } else {
        format!(
            "with recursive n(i) as (select 1 union all select i + 1 from n where i < {HISTORY}) insert into messages ({columns}) {} from n",
            select("i")
        )
    };
    sqlx::query(&sql).execute(&mut db).await?;
    // A table that grew by a million rows in one statement has no statistics yet; a live one
    // would (autovacuum, or SQLite's optimize at close).
    sqlx::query(if k.db_url.starts_with("postgres") {
        "analyze messages"
    } else {
        "analyze"
    })
    .execute(&mut db)
    .await?;
    Ok(())
}

/// An administrator's message search. The seeded messages bypassed the server; a search
/// waits until the search index holds them (SQLite indexes in the background, as a live
/// server would have done while they arrived), so the history run does not measure the
/// catch-up.
async fn search_once(k: &Kefu) -> Result<()> {
    let http = reqwest::Client::new();
    let login: serde_json::Value = http
        .post(format!("{}/api/v1/auth/login", k.base))
        .json(&json!({ "tenant": "demo", "username": "admin", "password": PASSWORD }))
        .send()
        .await?
        .json()
        .await?;
    let token = login["token"]
        .as_str()
        .context("the demo admin could not log in")?;
    let found: serde_json::Value = http
        .get(format!("{}/api/v1/messages", k.base))
        .query(&[("q", "历史消息 999999"), ("limit", "5")])
        .bearer_auth(token)
        .send()
        .await?
        .error_for_status()?
        .json()
        .await?;
    anyhow::ensure!(
        found.to_string().contains("999999"),
        "the search did not find a seeded message: {found}"
    );
    Ok(())
}

async fn history(k: &Kefu, shape: &str, seconds: u64, rows: &mut Vec<Row>) -> Result<()> {
    let rest = k.rest();
    rest.call(
        "im_open_login_svc/multiaccount_import",
        &json!({ "Accounts": ["hist_a", "hist_b"] }),
    )
    .await?;
    let t = Instant::now();
    seed_history(k).await?;
    search_once(k).await?;
    eprintln!(
        "  {shape}: seeded {HISTORY} messages in {:.0} s",
        t.elapsed().as_secs_f64()
    );
    let page = |n: u64| {
        // Any point of the conversation: pages from its whole length.
        let span = HISTORY / 10;
        let at = HISTORY_START + ((n * 7919) as i64 % span);
        json!({
            "From_Account": "hist_a", "To_Account": "hist_b",
            "MaxCnt": 50, "MinTime": HISTORY_START, "MaxTime": at,
        })
    };
    let check = rest.call("openim/admin_getroammsg", &page(12345)).await?;
    let got = check["MsgCnt"].as_i64().unwrap_or(0);
    if got != 50 {
        bail!("a history page held {got} messages, not 50: {check}");
    }
    let (rate, lat) = load::rest_load(
        &rest,
        "openim/admin_getroammsg",
        32,
        seconds,
        move |i, n| page(n * 32 + i as u64),
    )
    .await?;
    rows.push(row(
        shape,
        "history: pages of 50 of 1M messages /s",
        format!("{rate:.0}/s"),
        ">= 3000/s",
        Some(rate >= 3000.0),
    ));
    rows.push(row(
        shape,
        "  history page p99 (p50)",
        format!("{:.1} ms ({:.1})", lat.p99_ms, lat.p50_ms),
        "<= 30 ms",
        Some(lat.p99_ms <= 30.0),
    ));
    Ok(())
}

async fn ephemeral(kefu: &Path, k: &Kefu, seconds: u64, rows: &mut Vec<Row>) -> Result<()> {
    let me = std::env::current_exe()?;
    let port = free_port();
    let listen = format!("127.0.0.1:{port}");
    let _relay = Proc {
        child: on_core0(&me, &["relay", "--listen", &listen])
            .spawn()
            .context("starting the relay")?,
    };
    let _ = kefu;
    wait_for_port(port, "relay").await?;
    let relay = Target {
        ws_url: format!("ws://{listen}/"),
        app: None,
    };
    for pairs in [100usize, 1000] {
        let ceiling = load::ephemeral(&relay, pairs, seconds, &format!("x{pairs}")).await?;
        let ours = load::ephemeral(&k.target(), pairs, seconds, &format!("e{pairs}")).await?;
        rows.push(row(
            "relay",
            &format!("typing frames/s, {pairs} pairs (ceiling)"),
            format!("{ceiling:.0}/s"),
            "",
            None,
        ));
        let share = if ceiling > 0.0 { ours / ceiling } else { 0.0 };
        rows.push(row(
            "sqlite",
            &format!("typing frames/s, {pairs} pairs (share of relay)"),
            format!("{ours:.0}/s ({:.0}%)", share * 100.0),
            ">= 50% of relay",
            Some(share >= 0.5),
        ));
    }
    Ok(())
}

async fn idle(k: &Kefu, rows: &mut Vec<Row>) -> Result<()> {
    const SOCKETS: usize = 10_000;
    // Let the previous runs' sockets close and their memory settle.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let before = k.rss_kib()?;
    let names = (0..SOCKETS).map(|i| format!("idle{i}")).collect();
    let sockets = load::open_many(&k.target(), names, 200).await?;
    tokio::time::sleep(Duration::from_secs(2)).await;
    let after = k.rss_kib()?;
    let per = (after.saturating_sub(before)) as f64 / SOCKETS as f64;
    rows.push(row(
        "sqlite",
        "memory per idle authenticated socket (10,000)",
        format!("{per:.1} KiB"),
        "<= 16 KiB",
        Some(per <= 16.0),
    ));
    drop(sockets);
    Ok(())
}
