//! `kefu-bench reports`: the work reports on a tenant with 1,000,000 messages and 100,000
//! sessions (issue 7: each under 2 s on PostgreSQL).
//!
//! Kefu starts with the demo tenant (pinned to core 0); the data set is written in SQL, the
//! way a month of a busy supplier would leave it: 100,000 buyers over 30 days, one
//! conversation and one session each (queued 5 s after arriving, served 15 s later, first
//! reply 10 s after that, ended after 5 minutes), ten messages each (five from the buyer, five
//! from the agent: 1,000,000), the conversation events the engine records (created, queued,
//! assigned, first reply, ended; a transfer in every 20th), a category on every other session,
//! a rating on every third, and the agents' status changes (online 09:00–12:00 and 13:00–18:00
//! each day). Then `ANALYZE`, and each report is asked for through the API over the whole
//! month (the quality overview over one day), three times; the median is printed with the row
//! count. The sessions list is also timed as an Excel workbook. `--keep` leaves the seeded
//! PostgreSQL database in place, seeded but not measured (and skips SQLite), to look into a
//! query plan.

use crate::server::{Kefu, PASSWORD, start_kefu, url_with_db};
use anyhow::{Context, Result, bail};
use serde_json::{Value, json};
use sqlx::Connection;
use std::path::Path;
use std::time::Instant;

const SESSIONS: i64 = 100_000;
const PER_SESSION: i64 = 10;
/// 2026-10-01 00:00 in Asia/Shanghai, the demo tenant's zone.
const T0: i64 = 1_790_784_000_000;
const DAY: i64 = 86_400_000;
const DAYS: i64 = 30;
/// Ids of the seeded rows start here, far above what the demo created.
const BASE: i64 = 10_000_000;
const TARGET_S: f64 = 2.0;

pub async fn run(kefu: &Path, postgres: Option<&str>, keep: bool) -> Result<()> {
    sqlx::any::install_default_drivers();
    println!(
        "\nkefu-bench reports: {SESSIONS} sessions, {} messages over {DAYS} days; target: each report < {TARGET_S} s on PostgreSQL",
        SESSIONS * PER_SESSION
    );
    match postgres {
        Some(pg) => {
            let db = format!("kefu_bench_reports_{}", std::process::id());
            let mut admin = sqlx::PgConnection::connect(pg).await?;
            sqlx::query(&format!("drop database if exists {db}"))
                .execute(&mut admin)
                .await?;
            sqlx::query(&format!("create database {db}"))
                .execute(&mut admin)
                .await?;
            let outcome = shape(kefu, "postgres", Some(url_with_db(pg, &db)), !keep).await;
            if keep {
                // For looking into a plan: the seeded database stays, SQLite is skipped.
                eprintln!("kefu-bench: kept {}", url_with_db(pg, &db));
                return outcome;
            }
            sqlx::query(&format!("drop database if exists {db} with (force)"))
                .execute(&mut admin)
                .await?;
            outcome?;
        }
        None => eprintln!("kefu-bench: no PostgreSQL given; the target's backend is skipped"),
    }
    shape(kefu, "sqlite", None, true).await
}

async fn shape(kefu: &Path, name: &str, db_url: Option<String>, measure: bool) -> Result<()> {
    let k = start_kefu(kefu, db_url).await?;
    let http = reqwest::Client::new();
    let login = http
        .post(format!("{}/api/v1/auth/login", k.base))
        .json(&json!({ "tenant": "demo", "username": "admin", "password": PASSWORD }))
        .send()
        .await?
        .json::<Value>()
        .await?;
    let token = login["token"]
        .as_str()
        .context("the demo admin could not log in")?
        .to_string();
    let mut categories = Vec::new();
    for c in ["退换货", "物流", "发票", "价格", "质量"] {
        let v: Value = http
            .post(format!("{}/api/v1/categories", k.base))
            .bearer_auth(&token)
            .json(&json!({ "name": c }))
            .send()
            .await?
            .json()
            .await?;
        categories.push(v["id"].as_i64().context("a category id")?);
    }
    let started = Instant::now();
    seed(&k, &categories).await?;
    eprintln!(
        "  {name}: seeded in {:.0} s",
        started.elapsed().as_secs_f64()
    );
    if !measure {
        return Ok(());
    }
    println!("\n  {name}");
    println!("  | report | range | rows | median of 3 | target |");
    println!("  |---|---|---|---|---|");
    let month = (T0, T0 + DAYS * DAY);
    let day = (T0 + 15 * DAY, T0 + 16 * DAY);
    for (report, range, format) in [
        ("sessions", month, "json"),
        ("sessions", month, "xlsx"),
        ("workload", month, "json"),
        ("satisfaction", month, "json"),
        ("categories", month, "json"),
        ("hourly", month, "json"),
        ("quality", day, "json"),
    ] {
        let url = format!(
            "{}/api/v1/reports/{report}?from={}&to={}&format={format}",
            k.base, range.0, range.1
        );
        let mut times = Vec::new();
        let mut rows = 0;
        for _ in 0..3 {
            let t = Instant::now();
            let resp = http.get(&url).bearer_auth(&token).send().await?;
            let status = resp.status();
            let body = resp.bytes().await?;
            times.push(t.elapsed().as_secs_f64());
            if !status.is_success() {
                bail!("{report}: {status} {}", String::from_utf8_lossy(&body));
            }
            rows = if format == "json" {
                serde_json::from_slice::<Value>(&body)?["rows"]
                    .as_array()
                    .map_or(0, Vec::len)
            } else {
                body.len()
            };
        }
        times.sort_by(f64::total_cmp);
        let span = if range == month { "30 days" } else { "1 day" };
        let what = if format == "json" {
            format!("{rows}")
        } else {
            format!("{} KB", rows / 1024)
        };
        let verdict = if times[1] < TARGET_S { "met" } else { "MISSED" };
        println!(
            "  | {report}{} | {span} | {what} | {:.2} s | < {TARGET_S} s ({verdict}) |",
            if format == "xlsx" { " (.xlsx)" } else { "" },
            times[1]
        );
    }
    Ok(())
}

/// `with g(i)` counting from 0 to n − 1, in each database's words.
fn numbers(postgres: bool, n: i64) -> String {
    if postgres {
        format!("with g(i) as (select generate_series(0::bigint, {n} - 1))")
    } else {
        format!("with recursive g(i) as (select 0 union all select i + 1 from g where i < {n} - 1)")
    }
}

async fn seed(k: &Kefu, categories: &[i64]) -> Result<()> {
    let postgres = k.db_url.starts_with("postgres");
    let mut db = sqlx::AnyConnection::connect(&k.db_url).await?;
    let t = k.tenant;
    let agents: Vec<(i64,)> = sqlx::query_as(
        "select id from accounts where tenant_id = $1 and role = 'agent' order by id",
    )
    .bind(t)
    .fetch_all(&mut db)
    .await?;
    let (a0, a1) = match agents.as_slice() {
        [a, b, ..] => (a.0, b.0),
        _ => bail!("the demo tenant should have two agents"),
    };
    let (group,): (i64,) =
        sqlx::query_as("select id from skill_groups where tenant_id = $1 order by id limit 1")
            .bind(t)
            .fetch_one(&mut db)
            .await?;
    let step = DAYS * DAY / SESSIONS;
    // Session i: the buyer arrives at `at`, queues at +5 s, is served at +20 s, answered at
    // +30 s, and the session ends at +320 s.
    let at = format!("({T0} + i * {step})");
    let agent = format!("(case when i % 2 = 0 then {a0} else {a1} end)");
    let cats = categories
        .iter()
        .enumerate()
        .map(|(n, c)| format!("when {n} then '{c}'"))
        .collect::<Vec<_>>()
        .join(" ");
    let n = SESSIONS;
    let statements = vec![
        format!(
            "{} insert into chats (id, tenant_id, user_a, user_b, last_seq, created_at, updated_at) \
             select {BASE} + i, {t}, '@customer_service_account', 'rb' || i, {PER_SESSION}, {at}, {at} from g",
            numbers(postgres, n)
        ),
        format!(
            "{} insert into conversations (id, tenant_id, buyer, service_account, channel, skill_group_id, state, \
             queued_at, agent_id, session_id, end_reason, ended_by, ended_at, created_at, updated_at) \
             select {BASE} + i, {t}, 'rb' || i, '@customer_service_account', 'im', {group}, 'ended', \
             {at} + 5000, {agent}, {BASE} + i, 'agent', 'agent', {at} + 320000, {at}, {at} + 320000 from g",
            numbers(postgres, n)
        ),
        format!(
            "{} insert into conversation_sessions (id, tenant_id, conversation_id, agent_id, skill_group_id, started_at, \
             first_reply_at, ended_at, end_reason, categories, rating) \
             select {BASE} + i, {t}, {BASE} + i, {agent}, {group}, {at} + 20000, {at} + 30000, {at} + 320000, 'agent', \
             case when i % 2 = 0 then (case (i / 2) % {} {cats} end) else '' end, \
             case when i % 3 = 0 then 1 + (i / 3) % 5 else null end from g",
            numbers(postgres, n),
            categories.len()
        ),
        // Five events per conversation, a transfer within the group in every 20th.
        format!(
            "{} insert into conversation_events (tenant_id, conversation_id, session_id, kind, actor, detail, at) \
             select {t}, {BASE} + i / 6, {BASE} + i / 6, \
             case i % 6 when 0 then 'created' when 1 then 'queued' when 2 then 'assigned' \
             when 3 then 'first_agent_reply' when 4 then 'ended' else 'transferred' end, \
             case when i % 6 = 5 then 'account:' || (case when (i / 6) % 2 = 0 then {a0} else {a1} end) else 'system' end, \
             case i % 6 when 1 then '{{\"skill_group_id\":{group}}}' \
             when 5 then '{{\"within\":true,\"group\":{group}}}' else '{{}}' end, \
             {T0} + (i / 6) * {step} + case i % 6 when 0 then 0 when 1 then 5000 when 2 then 20000 \
             when 3 then 30000 when 4 then 320000 else 200000 end \
             from g where i % 6 <> 5 or (i / 6) % 20 = 0",
            numbers(postgres, n * 6)
        ),
        // Ten messages per session, buyer and agent in turn, from +20 s every 25 s.
        format!(
            "{} insert into messages (tenant_id, chat_id, seq, from_account, to_account, msg_seq, msg_random, msg_time, \
             msg_key, content_crc, body, text, created_at, sender_role, agent_id) \
             select {t}, {BASE} + i / {PER_SESSION}, 1 + i % {PER_SESSION}, \
             case when i % 2 = 0 then 'rb' || (i / {PER_SESSION}) else '@customer_service_account' end, \
             case when i % 2 = 0 then '@customer_service_account' else 'rb' || (i / {PER_SESSION}) end, \
             0, i, ({T0} + (i / {PER_SESSION}) * {step} + 20000 + (i % {PER_SESSION}) * 25000) / 1000, \
             '0_' || i, 0, '[{{\"MsgType\":\"TIMTextElem\",\"MsgContent\":{{\"Text\":\"消息 ' || i || '\"}}}}]', \
             '消息 ' || i, {T0} + (i / {PER_SESSION}) * {step} + 20000 + (i % {PER_SESSION}) * 25000, \
             case when i % 2 = 0 then '' else 'agent' end, \
             case when i % 2 = 0 then null else (case when (i / {PER_SESSION}) % 2 = 0 then {a0} else {a1} end) end from g",
            numbers(postgres, n * PER_SESSION)
        ),
        // Both agents each day: online 09:00, suspended 12:00, online 13:00, suspended 18:00.
        format!(
            "{} insert into agent_status_log (tenant_id, account_id, status, at) \
             select {t}, case when (i / 4) % 2 = 0 then {a0} else {a1} end, \
             case when i % 2 = 0 then 'online' else 'suspended' end, \
             {T0} + (i / 8) * {DAY} + case i % 4 when 0 then 9 when 1 then 12 when 2 then 13 else 18 end * 3600000 from g",
            numbers(postgres, DAYS * 8)
        ),
    ];
    // The engine keeps each session's figures when it ends (store SESSION_ROLLUP); the same
    // for the seeded ones, as migration 0014 does for sessions ended before it.
    let rollup = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("..")
            .join("migrations")
            .join(if postgres { "postgres" } else { "sqlite" })
            .join("0014_session_rollups.sql"),
    )?;
    // Statistics first, as a live database has them: without, the rollup's subqueries are
    // planned as scans (minutes instead of seconds).
    let statements: Vec<String> = statements
        .into_iter()
        .chain(std::iter::once("analyze".to_string()))
        .chain(
            rollup
                .split(';')
                .map(str::trim)
                .filter(|s| s.contains("update conversation_sessions"))
                .map(|s| {
                    // Without the comment lines above each statement.
                    s.lines()
                        .filter(|l| !l.trim_start().starts_with("--"))
                        .collect::<Vec<_>>()
                        .join("\n")
                }),
        )
        .collect();
    for sql in statements {
        sqlx::query(&sql)
            .execute(&mut db)
            .await
            .map_err(|e| anyhow::anyhow!("seeding failed: {e:?}\n{sql}"))?;
    }
    if postgres {
        for table in [
            "chats",
            "conversations",
            "conversation_sessions",
            "conversation_events",
            "messages",
        ] {
            sqlx::query(&format!(
                "select setval(pg_get_serial_sequence('{table}', 'id'), (select max(id) from {table}))"
            ))
            .execute(&mut db)
            .await?;
        }
        sqlx::query("analyze").execute(&mut db).await?;
    } else {
        sqlx::query("analyze").execute(&mut db).await?;
    }
    Ok(())
}
