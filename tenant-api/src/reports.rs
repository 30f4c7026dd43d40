//! Work reports (工作报表), computed from sessions, status changes and transfer events:
//! the session list, workload per agent, satisfaction, consultation categories per day,
//! hourly statistics and the quality overview of one day.
//! Each is a table, served as JSON or, with `format=xlsx`, as an Excel workbook with real
//! number and date cells, a formatted and frozen header row.

use crate::State;
use crate::error::{ApiError, ErrorCode};
use crate::security::Auth;
use kefu_auth::authz::{action, object};
use kefu_domain::{AccountId, Role, SkillGroupId, TenantId};
use kefu_store::{AccountFilter, SessionReportRow, Tree};
use poem::web::Data;
use poem_openapi::param::{Path, Query};
use poem_openapi::payload::{Binary, Json};
use poem_openapi::{ApiResponse, Enum, Object, OpenApi, ResponseContent, Tags};
use rust_xlsxwriter::{Format, Workbook, XlsxError};
use serde_json::{Value, json};
use std::collections::{BTreeMap, HashMap};

#[derive(Tags)]
enum Tag {
    /// Work reports (工作报表).
    Reports,
}

/// The longest range a report covers.
const MAX_RANGE_MS: i64 = 366 * 86_400_000;

/// The quality overview covers one day (25 hours allows the day clocks go back).
const QUALITY_MAX_MS: i64 = 25 * 3_600_000;

/// The quality overview's step: a quarter hour.
const QUALITY_SLOT_MS: i64 = 15 * 60_000;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum)]
#[oai(rename_all = "snake_case")]
pub enum ColumnKind {
    Text,
    Integer,
    /// A decimal number.
    Number,
    /// A duration in seconds.
    Seconds,
    /// Milliseconds since the epoch; a date-time cell in Excel.
    Time,
    /// A date `YYYY-MM-DD` in the tenant's time zone.
    Date,
    /// A share from 0 to 1.
    Percent,
}

#[derive(Debug, Clone, Object)]
pub struct ReportColumn {
    pub key: String,
    /// The column's Chinese heading, as in the Excel file.
    pub label: String,
    pub kind: ColumnKind,
}

/// A report as a table: `rows` hold one value per column, in order.
#[derive(Debug, Clone, Object)]
pub struct ReportDto {
    pub name: String,
    pub from: i64,
    pub to: i64,
    pub columns: Vec<ReportColumn>,
    pub rows: Vec<Vec<Value>>,
    /// Sums (and overall averages) where a total row makes sense.
    pub totals: Option<Vec<Value>>,
}

#[derive(ResponseContent)]
pub enum ReportBody {
    Json(Json<ReportDto>),
    #[oai(content_type = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet")]
    Xlsx(Binary<Vec<u8>>),
}

#[derive(ApiResponse)]
pub enum ReportResponse {
    /// The report (JSON), or the workbook with `format=xlsx`.
    #[oai(status = 200)]
    Ok(
        ReportBody,
        #[oai(header = "Content-Disposition")] Option<String>,
    ),
}

fn col(key: &str, label: &str, kind: ColumnKind) -> ReportColumn {
    ReportColumn {
        key: key.into(),
        label: label.into(),
        kind,
    }
}

fn secs(ms: i64) -> Value {
    json!(ms.max(0) / 1000)
}

/// Filters a report takes.
struct Scope {
    tenant: TenantId,
    from: i64,
    to: i64,
    now: i64,
    agent: Option<AccountId>,
    group: Option<SkillGroupId>,
    include_idle: bool,
}

impl Scope {
    fn keeps(&self, r: &SessionReportRow) -> bool {
        self.agent.is_none_or(|a| r.agent_id == Some(a))
            && self.group.is_none_or(|g| r.skill_group_id == Some(g))
    }
}

/// The wait before a session: from the buyer's last joining a queue, unless the session
/// began by a direct hand-over after an earlier session (then no wait).
fn wait_ms(r: &SessionReportRow) -> i64 {
    match (r.queued_at, r.previous_session_at) {
        (Some(q), Some(p)) if q <= p => 0,
        (Some(q), _) => r.started_at - q,
        (None, _) => 0,
    }
}

/// Each status change held until the agent's next one, or `end`: `(agent, status, from,
/// until)`. `changes` come by agent and time, as `ReportStore::status_changes` gives them.
fn status_spans(
    changes: &[(AccountId, String, i64)],
    end: i64,
) -> impl Iterator<Item = (AccountId, &str, i64, i64)> {
    changes
        .iter()
        .enumerate()
        .map(move |(i, (agent, status, at))| {
            let until = changes
                .get(i + 1)
                .filter(|(next, _, _)| next == agent)
                .map_or(end, |(_, _, t)| *t);
            (*agent, status.as_str(), *at, until)
        })
}

pub struct ReportsApi;

impl ReportsApi {
    async fn names(
        state: &State,
        tenant: TenantId,
    ) -> Result<HashMap<AccountId, String>, ApiError> {
        Ok(state
            .store
            .list_accounts(tenant, &AccountFilter::default())
            .await?
            .into_iter()
            .map(|a| (a.id, a.display_name))
            .collect())
    }

    async fn sessions(state: &State, s: &Scope) -> Result<ReportDto, ApiError> {
        let names = Self::names(state, s.tenant).await?;
        let rows = state
            .store
            .session_rows(s.tenant, s.from, s.to, s.now)
            .await?;
        let columns = vec![
            col("buyer", "客户ID", ColumnKind::Text),
            col("agent_name", "客服", ColumnKind::Text),
            col("agent_id", "客服ID", ColumnKind::Integer),
            col("buyer_entered_at", "客户进入时间", ColumnKind::Time),
            col("agent_entered_at", "客服接入时间", ColumnKind::Time),
            col("ended_at", "结束时间", ColumnKind::Time),
            col("wait_seconds", "排队时长(秒)", ColumnKind::Seconds),
            col("session_seconds", "会话时长(秒)", ColumnKind::Seconds),
            col("handling_seconds", "处理时长(秒)", ColumnKind::Seconds),
            col("agent_messages", "客服消息数", ColumnKind::Integer),
            col("end_reason", "结束原因", ColumnKind::Text),
            col("rating", "评价", ColumnKind::Integer),
        ];
        let out = rows
            .iter()
            .filter(|r| s.keeps(r))
            .map(|r| {
                let end = r.ended_at.unwrap_or(s.now);
                vec![
                    json!(r.buyer),
                    json!(
                        r.agent_id
                            .and_then(|a| names.get(&a))
                            .cloned()
                            .unwrap_or_default()
                    ),
                    json!(r.agent_id.map(|a| a.0)),
                    json!(r.entered_at),
                    json!(r.started_at),
                    json!(r.ended_at),
                    secs(wait_ms(r)),
                    secs(end - r.started_at),
                    secs(r.first_reply_at.map_or(0, |f| end - f)),
                    json!(r.agent_messages),
                    json!(r.end_reason),
                    json!(r.rating),
                ]
            })
            .collect();
        Ok(ReportDto {
            name: "sessions".into(),
            from: s.from,
            to: s.to,
            columns,
            rows: out,
            totals: None,
        })
    }

    async fn satisfaction(state: &State, s: &Scope) -> Result<ReportDto, ApiError> {
        let names = Self::names(state, s.tenant).await?;
        let rows = state
            .store
            .session_rows(s.tenant, s.from, s.to, s.now)
            .await?;
        // Per agent: sessions, then counts of ratings 1..=5.
        let mut per: BTreeMap<i64, (i64, [i64; 5])> = BTreeMap::new();
        for r in rows.iter().filter(|r| s.keeps(r)) {
            let Some(agent) = r.agent_id else { continue };
            let e = per.entry(agent.0).or_default();
            e.0 += 1;
            if let Some(score @ 1..=5) = r.rating {
                e.1[(score - 1) as usize] += 1;
            }
        }
        let line = |name: Value, id: Value, sessions: i64, counts: [i64; 5]| {
            let rated: i64 = counts.iter().sum();
            let share = |n: i64| {
                if rated == 0 {
                    json!(0.0)
                } else {
                    json!(n as f64 / rated as f64)
                }
            };
            let avg = if rated == 0 {
                json!(null)
            } else {
                let sum: i64 = counts
                    .iter()
                    .enumerate()
                    .map(|(i, c)| (i as i64 + 1) * c)
                    .sum();
                json!((sum as f64 / rated as f64 * 100.0).round() / 100.0)
            };
            let mut v = vec![name, id, json!(sessions), json!(rated)];
            v.extend(counts.iter().rev().map(|c| json!(c)));
            v.push(share(counts[3] + counts[4]));
            v.push(avg);
            v
        };
        let mut total = (0, [0i64; 5]);
        let out: Vec<Vec<Value>> = per
            .iter()
            .map(|(id, (sessions, counts))| {
                total.0 += sessions;
                for (t, c) in total.1.iter_mut().zip(counts) {
                    *t += c;
                }
                line(
                    json!(names.get(&AccountId(*id)).cloned().unwrap_or_default()),
                    json!(id),
                    *sessions,
                    *counts,
                )
            })
            .collect();
        let mut columns = vec![
            col("agent_name", "客服", ColumnKind::Text),
            col("agent_id", "客服ID", ColumnKind::Integer),
            col("sessions", "会话数", ColumnKind::Integer),
            col("rated", "评价数", ColumnKind::Integer),
        ];
        for (key, label) in [
            ("very_satisfied", "非常满意"),
            ("satisfied", "满意"),
            ("neutral", "一般"),
            ("dissatisfied", "不满意"),
            ("very_dissatisfied", "非常不满意"),
        ] {
            columns.push(col(key, label, ColumnKind::Integer));
        }
        columns.push(col("satisfied_share", "满意率", ColumnKind::Percent));
        columns.push(col("average", "平均分", ColumnKind::Number));
        Ok(ReportDto {
            name: "satisfaction".into(),
            from: s.from,
            to: s.to,
            columns,
            rows: out,
            totals: Some(line(json!("合计"), json!(null), total.0, total.1)),
        })
    }

    async fn workload(state: &State, s: &Scope) -> Result<ReportDto, ApiError> {
        let accounts = state
            .store
            .list_accounts(s.tenant, &AccountFilter::default())
            .await?;
        let rows = state
            .store
            .session_rows(s.tenant, s.from, s.to, s.now)
            .await?;
        #[derive(Default, Clone)]
        struct W {
            buyers: std::collections::HashSet<i64>,
            sessions: i64,
            within: i64,
            across: i64,
            buyer_messages: i64,
            replies: i64,
            first_response_ms: i64,
            first_responses: i64,
            handling_ms: i64,
            handled: i64,
            online_ms: i64,
            suspended_ms: i64,
        }
        let mut per: BTreeMap<i64, W> = BTreeMap::new();
        for r in rows.iter().filter(|r| s.keeps(r)) {
            let Some(agent) = r.agent_id else { continue };
            let w = per.entry(agent.0).or_default();
            w.buyers.insert(r.conversation_id);
            w.sessions += 1;
            w.buyer_messages += r.buyer_messages;
            w.replies += r.agent_messages;
            if let Some(f) = r.first_reply_at {
                w.first_response_ms += f - r.started_at;
                w.first_responses += 1;
            }
            if let Some(e) = r.ended_at {
                w.handling_ms += e - r.started_at;
                w.handled += 1;
            }
        }
        for (actor, detail, _) in state.store.transfers(s.tenant, s.from, s.to).await? {
            let Some(id) = actor
                .strip_prefix("account:")
                .and_then(|a| a.parse::<i64>().ok())
            else {
                continue;
            };
            let detail: Value = serde_json::from_str(&detail).unwrap_or_default();
            let group = detail["group"].as_i64().map(SkillGroupId);
            if s.group.is_some() && s.group != group {
                continue;
            }
            let w = per.entry(id).or_default();
            if detail["within"].as_bool().unwrap_or(false) {
                w.within += 1;
            } else {
                w.across += 1;
            }
        }
        // Time online and suspended, each change held until the next (or the range's end).
        let end = s.to.min(s.now);
        let changes = state.store.status_changes(s.tenant, s.from, s.to).await?;
        for (agent, status, at, until) in status_spans(&changes, end) {
            let span = until.min(end) - at.max(s.from);
            if span <= 0 {
                continue;
            }
            let w = per.entry(agent.0).or_default();
            if status == "online" {
                w.online_ms += span;
            } else {
                w.suspended_ms += span;
            }
        }
        // Every agent appears (with zeros) when idle agents are asked for.
        if s.include_idle {
            for a in accounts.iter().filter(|a| a.role == Role::Agent) {
                per.entry(a.id.0).or_default();
            }
        }
        let names: HashMap<i64, &str> = accounts
            .iter()
            .map(|a| (a.id.0, a.display_name.as_str()))
            .collect();
        let avg = |total: i64, n: i64| {
            if n == 0 {
                json!(0)
            } else {
                json!(total / n / 1000)
            }
        };
        let line = |name: Value, id: Value, w: &W| {
            vec![
                name,
                id,
                json!(w.buyers.len()),
                json!(w.sessions),
                json!(w.within),
                json!(w.across),
                json!(w.buyer_messages),
                json!(w.replies),
                avg(w.first_response_ms, w.first_responses),
                avg(w.handling_ms, w.handled),
                secs(w.online_ms),
                secs(w.suspended_ms),
            ]
        };
        let mut total = W::default();
        let mut out = Vec::new();
        for (id, w) in &per {
            if s.agent.is_some_and(|a| a.0 != *id) {
                continue;
            }
            if !s.include_idle && w.replies == 0 {
                continue;
            }
            total.buyers.extend(w.buyers.iter().copied());
            total.sessions += w.sessions;
            total.within += w.within;
            total.across += w.across;
            total.buyer_messages += w.buyer_messages;
            total.replies += w.replies;
            total.first_response_ms += w.first_response_ms;
            total.first_responses += w.first_responses;
            total.handling_ms += w.handling_ms;
            total.handled += w.handled;
            total.online_ms += w.online_ms;
            total.suspended_ms += w.suspended_ms;
            out.push(line(
                json!(names.get(id).copied().unwrap_or_default()),
                json!(id),
                w,
            ));
        }
        Ok(ReportDto {
            name: "workload".into(),
            from: s.from,
            to: s.to,
            columns: vec![
                col("agent_name", "客服", ColumnKind::Text),
                col("agent_id", "客服ID", ColumnKind::Integer),
                col("buyers", "接待客户数", ColumnKind::Integer),
                col("sessions", "会话数", ColumnKind::Integer),
                col("transfers_within", "组内转接", ColumnKind::Integer),
                col("transfers_across", "跨组转接", ColumnKind::Integer),
                col("buyer_messages", "客户消息数", ColumnKind::Integer),
                col("replies", "回复消息数", ColumnKind::Integer),
                col(
                    "first_response_seconds",
                    "平均首次响应(秒)",
                    ColumnKind::Seconds,
                ),
                col("handling_seconds", "平均处理时长(秒)", ColumnKind::Seconds),
                col("online_seconds", "在线时长(秒)", ColumnKind::Seconds),
                col("suspended_seconds", "挂起时长(秒)", ColumnKind::Seconds),
            ],
            rows: out,
            totals: Some(line(json!("合计"), json!(null), &total)),
        })
    }

    /// 分时统计: per hour of the day in the tenant's time zone, over the whole range.
    async fn hourly(state: &State, s: &Scope) -> Result<ReportDto, ApiError> {
        let zone = state.store.schedule(s.tenant).await?.time_zone;
        let counts = state
            .store
            .hourly_counts(s.tenant, s.from, s.to, s.group)
            .await?;
        let mut hours = [[0i64; 4]; 24];
        for c in counts {
            let (_, hour) = kefu_domain::schedule::local_day_hour(&zone, c.hour * 3_600_000);
            let h = &mut hours[(hour as usize).min(23)];
            h[0] += c.queued;
            h[1] += c.buyers;
            h[2] += c.buyer_messages;
            h[3] += c.replies;
        }
        let mut total = [0i64; 4];
        for h in &hours {
            for (t, v) in total.iter_mut().zip(h) {
                *t += v;
            }
        }
        Ok(ReportDto {
            name: "hourly".into(),
            from: s.from,
            to: s.to,
            columns: vec![
                col("hour", "时段", ColumnKind::Text),
                col("queued", "排队人数", ColumnKind::Integer),
                col("buyers", "咨询人数", ColumnKind::Integer),
                col("buyer_messages", "客户消息数", ColumnKind::Integer),
                col("replies", "回复消息数", ColumnKind::Integer),
            ],
            rows: hours
                .iter()
                .enumerate()
                .map(|(i, h)| {
                    let mut row = vec![json!(format!("{i:02}:00-{:02}:00", i + 1))];
                    row.extend(h.iter().map(|v| json!(v)));
                    row
                })
                .collect(),
            totals: Some(
                std::iter::once(json!("合计"))
                    .chain(total.iter().map(|v| json!(v)))
                    .collect(),
            ),
        })
    }

    /// 工作质量概览: one row per quarter hour of the range (one day at most): the queue at
    /// the quarter's start and its peak, how many agents were online, and each agent's
    /// state (the one held longest in the quarter).
    async fn quality(state: &State, s: &Scope) -> Result<ReportDto, ApiError> {
        if s.to - s.from > QUALITY_MAX_MS {
            return Err(ApiError::new(
                ErrorCode::ValidationFailed,
                "to: the quality overview covers one day; give from and to at most 25 hours apart",
            ));
        }
        let end = s.to.min(s.now.max(s.from));
        let stays = state
            .store
            .queue_stays(s.tenant, s.from, s.to, s.group)
            .await?;
        let changes = state.store.status_changes(s.tenant, s.from, s.to).await?;
        let filter = AccountFilter {
            skill_group: s.group,
            ..AccountFilter::default()
        };
        let seats = state.store.list_accounts(s.tenant, &filter).await?;
        // Agents, and any other seat that went online or suspended in the range.
        let mut agents: Vec<(AccountId, String)> = seats
            .iter()
            .filter(|a| a.role == Role::Agent || changes.iter().any(|(c, _, _)| *c == a.id))
            .filter(|a| s.agent.is_none_or(|x| x == a.id))
            .map(|a| (a.id, a.display_name.clone()))
            .collect();
        agents.sort_by_key(|(id, _)| *id);
        // Each agent's spans of a status: (status, from, until).
        let mut spans: HashMap<AccountId, Vec<(&str, i64, i64)>> = HashMap::new();
        for (agent, status, at, until) in status_spans(&changes, end) {
            spans.entry(agent).or_default().push((status, at, until));
        }
        let mut columns = vec![
            col("time", "时间", ColumnKind::Time),
            col("queue", "排队人数", ColumnKind::Integer),
            col("queue_peak", "排队峰值", ColumnKind::Integer),
            col("online_agents", "在线客服数", ColumnKind::Integer),
        ];
        for (id, name) in &agents {
            columns.push(col(&format!("agent_{}", id.0), name, ColumnKind::Text));
        }
        let mut rows = Vec::new();
        // Quarters up to now: the rest of the day has not happened.
        let mut slot = s.from;
        while slot < s.to && slot <= s.now {
            let next = (slot + QUALITY_SLOT_MS).min(s.to);
            let waiting = |t: i64| {
                stays
                    .iter()
                    .filter(|q| q.queued_at <= t && q.left_at.is_none_or(|l| l > t))
                    .count() as i64
            };
            let queue = waiting(slot);
            // The peak is reached at the start or when someone joins.
            let peak = stays
                .iter()
                .filter(|q| q.queued_at > slot && q.queued_at < next)
                .map(|q| waiting(q.queued_at))
                .fold(queue, i64::max);
            let mut row = vec![json!(slot), json!(queue), json!(peak), json!(0)];
            let mut online = 0;
            for (id, _) in &agents {
                let (mut on, mut off) = (0, 0);
                for (status, a, b) in spans.get(id).into_iter().flatten() {
                    let overlap = (*b).min(next) - (*a).max(slot);
                    if overlap > 0 {
                        if *status == "online" {
                            on += overlap;
                        } else {
                            off += overlap;
                        }
                    }
                }
                let label = if on == 0 && off == 0 {
                    "未登录"
                } else if on >= off {
                    online += 1;
                    "在线"
                } else {
                    "挂起"
                };
                row.push(json!(label));
            }
            row[3] = json!(online);
            rows.push(row);
            slot = next;
        }
        Ok(ReportDto {
            name: "quality".into(),
            from: s.from,
            to: s.to,
            columns,
            rows,
            totals: None,
        })
    }

    async fn categories(state: &State, s: &Scope) -> Result<ReportDto, ApiError> {
        let zone = state.store.schedule(s.tenant).await?.time_zone;
        let tree = state.store.tree(s.tenant, Tree::Categories).await?;
        let path = |id: i64| {
            let mut names = Vec::new();
            let mut at = tree.iter().find(|n| n.id == id);
            while let Some(n) = at {
                names.push(n.name.clone());
                at = n.parent_id.and_then(|p| tree.iter().find(|x| x.id == p));
            }
            names.reverse();
            names.join(" / ")
        };
        let rows = state
            .store
            .session_rows(s.tenant, s.from, s.to, s.now)
            .await?;
        let mut counts: BTreeMap<(String, i64), i64> = BTreeMap::new();
        for r in rows.iter().filter(|r| s.keeps(r)) {
            let (day, _) = kefu_domain::schedule::local_day_hour(&zone, r.started_at);
            for c in &r.categories {
                *counts.entry((day.to_string(), *c)).or_default() += 1;
            }
        }
        let total: i64 = counts.values().sum();
        Ok(ReportDto {
            name: "categories".into(),
            from: s.from,
            to: s.to,
            columns: vec![
                col("date", "日期", ColumnKind::Date),
                col("category_id", "分类ID", ColumnKind::Integer),
                col("category", "咨询分类", ColumnKind::Text),
                col("sessions", "会话数", ColumnKind::Integer),
            ],
            rows: counts
                .into_iter()
                .map(|((day, id), n)| vec![json!(day), json!(id), json!(path(id)), json!(n)])
                .collect(),
            totals: Some(vec![json!("合计"), json!(null), json!(null), json!(total)]),
        })
    }
}

/// The workbook: one sheet, the header bold and frozen, times as date-time cells. Built
/// with rust_xlsxwriter's `zlib` (1.5× faster deflate on large files) and `constant_memory`.
fn workbook(report: &ReportDto) -> Result<Vec<u8>, XlsxError> {
    let mut wb = Workbook::new();
    let header = Format::new()
        .set_bold()
        .set_background_color(rust_xlsxwriter::Color::RGB(0xDDEBF7))
        .set_border_bottom(rust_xlsxwriter::FormatBorder::Thin);
    let time = Format::new().set_num_format("yyyy-mm-dd hh:mm:ss");
    let date = Format::new().set_num_format("yyyy-mm-dd");
    let percent = Format::new().set_num_format("0.0%");
    let bold = Format::new().set_bold();
    // Rows go out in order, so each is written to a temporary file as it is done rather than
    // held as cells: a 100,000-session export stays small in memory.
    let sheet = wb
        .add_worksheet_with_constant_memory()?
        .set_name(&report.name)?;
    for (c, column) in report.columns.iter().enumerate() {
        sheet.write_string_with_format(0, c as u16, &column.label, &header)?;
        sheet.set_column_width(
            c as u16,
            if column.kind == ColumnKind::Time {
                20
            } else {
                14
            },
        )?;
    }
    sheet.set_freeze_panes(1, 0)?;
    let rows = report
        .rows
        .iter()
        .map(|r| (r, false))
        .chain(report.totals.iter().map(|t| (t, true)));
    for (i, (row, is_total)) in rows.enumerate() {
        let r = (i + 1) as u32;
        for (c, (value, column)) in row.iter().zip(&report.columns).enumerate() {
            let c = c as u16;
            match (value, column.kind) {
                (Value::Null, _) => {}
                (Value::Number(n), ColumnKind::Time) => {
                    // Excel serial days (UTC), shown as a date-time.
                    let days = n.as_f64().unwrap_or(0.0) / 86_400_000.0 + 25_569.0;
                    sheet.write_number_with_format(r, c, days, &time)?;
                }
                (Value::String(d), ColumnKind::Date) => {
                    match chrono_date_serial(d) {
                        Some(serial) => sheet.write_number_with_format(r, c, serial, &date)?,
                        None => sheet.write_string(r, c, d)?,
                    };
                }
                (Value::Number(n), ColumnKind::Percent) => {
                    sheet.write_number_with_format(r, c, n.as_f64().unwrap_or(0.0), &percent)?;
                }
                (Value::Number(n), _) => {
                    if is_total {
                        sheet.write_number_with_format(r, c, n.as_f64().unwrap_or(0.0), &bold)?;
                    } else {
                        sheet.write_number(r, c, n.as_f64().unwrap_or(0.0))?;
                    }
                }
                (Value::String(t), _) => {
                    if is_total {
                        sheet.write_string_with_format(r, c, t, &bold)?;
                    } else {
                        sheet.write_string(r, c, t)?;
                    }
                }
                (other, _) => {
                    sheet.write_string(r, c, other.to_string())?;
                }
            };
        }
    }
    wb.save_to_buffer()
}

/// `YYYY-MM-DD` as an Excel serial day.
fn chrono_date_serial(d: &str) -> Option<f64> {
    let mut parts = d.split('-').map(|p| p.parse::<i64>().ok());
    let (y, m, day) = (parts.next()??, parts.next()??, parts.next()??);
    // Days from 1970-01-01 (civil from days, Howard Hinnant's algorithm).
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    Some(days as f64 + 25_569.0)
}

#[OpenApi(prefix_path = "/api/v1", tag = "Tag::Reports")]
impl ReportsApi {
    /// A work report
    ///
    /// `name`: `sessions` (会话清单, one row per session), `workload` (工作量统计, per agent,
    /// with totals; `include_idle=true` shows agents with no replies), `satisfaction` (per
    /// agent and rating level), `categories` (咨询分类统计, per day in the tenant's time
    /// zone and category) or `hourly` (分时统计, per hour of the day in the tenant's zone:
    /// queue joins, buyers who wrote, their messages and agents' replies) or `quality`
    /// (工作质量概览, one day at most, per quarter hour: the queue at its start and its peak,
    /// agents online, and each agent's state held longest: 在线, 挂起 or 未登录). `from` and
    /// `to` are milliseconds (`to` exclusive, at most 366 days); sessions count by when
    /// they began. `agent_id` and `skill_group_id` narrow it.
    /// `format=xlsx` answers the same table as an Excel workbook.
    ///
    /// Errors: 400 `validation_failed`; 403 `forbidden`; 404 `not_found` (unknown report).
    #[oai(path = "/reports/:name", method = "get", operation_id = "getReport")]
    #[allow(clippy::too_many_arguments)]
    async fn report(
        &self,
        state: Data<&State>,
        auth: Auth,
        name: Path<String>,
        from: Query<i64>,
        to: Query<i64>,
        agent_id: Query<Option<i64>>,
        skill_group_id: Query<Option<i64>>,
        include_idle: Query<Option<bool>>,
        format: Query<Option<String>>,
    ) -> Result<ReportResponse, ApiError> {
        let tenant = state
            .require_tenant(&auth.0, object::ALL_CONVERSATIONS, action::READ)
            .await?;
        if to.0 <= from.0 || to.0 - from.0 > MAX_RANGE_MS {
            return Err(ApiError::new(
                ErrorCode::ValidationFailed,
                "to: give a range that ends after it starts and spans at most 366 days",
            ));
        }
        let scope = Scope {
            tenant,
            from: from.0,
            to: to.0,
            now: state.clock.now(),
            agent: agent_id.0.map(AccountId),
            group: skill_group_id.0.map(SkillGroupId),
            include_idle: include_idle.0.unwrap_or(false),
        };
        let report = match name.0.as_str() {
            "sessions" => Self::sessions(&state, &scope).await?,
            "workload" => Self::workload(&state, &scope).await?,
            "satisfaction" => Self::satisfaction(&state, &scope).await?,
            "categories" => Self::categories(&state, &scope).await?,
            "hourly" => Self::hourly(&state, &scope).await?,
            "quality" => Self::quality(&state, &scope).await?,
            other => {
                return Err(ApiError::new(
                    ErrorCode::NotFound,
                    format!(
                        "there is no report `{other}`; use sessions, workload, satisfaction, categories, hourly or quality"
                    ),
                ));
            }
        };
        match format.0.as_deref() {
            None | Some("json") => Ok(ReportResponse::Ok(ReportBody::Json(Json(report)), None)),
            Some("xlsx") => {
                let bytes = workbook(&report).map_err(ApiError::internal)?;
                Ok(ReportResponse::Ok(
                    ReportBody::Xlsx(Binary(bytes)),
                    Some(format!(
                        "attachment; filename=\"kefu-{}-{}-{}.xlsx\"",
                        report.name, report.from, report.to
                    )),
                ))
            }
            Some(other) => Err(ApiError::new(
                ErrorCode::ValidationFailed,
                format!("format: `{other}` is not offered; use json or xlsx"),
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn excel_serials_count_days_from_1900() {
        // 1970-01-01 is serial 25569; 2026-11-21 is 46347.
        assert_eq!(chrono_date_serial("1970-01-01"), Some(25_569.0));
        assert_eq!(chrono_date_serial("2026-11-21"), Some(46_347.0));
        assert_eq!(chrono_date_serial("nonsense"), None);
    }
}
