//! `openim`: sending, importing, reading back and recalling C2C messages.

use crate::elements;
use crate::envelope::ImError;
use crate::login_svc::exists;
use crate::rest::{Answer, Call};
use kefu_domain::event::{Event, topic};
use kefu_store::{NewMessage, Recall, RoamCursor, RoamQuery, StoredMessage};
use serde::Serialize;
use serde_json::value::RawValue;
use serde_json::{Value, json};

pub const COMMANDS: &[&str] = &[
    "sendmsg",
    "batchsendmsg",
    "importmsg",
    "admin_getroammsg",
    "admin_msgwithdraw",
    "querystate",
    "query_online_status",
];

/// Duplicates (same sender, MsgSeq, MsgRandom and content) within this window are dropped.
const DEDUP_WINDOW_MS: i64 = 120_000;
/// `MsgLifeTime` may not exceed 7 days.
const MAX_LIFETIME: i64 = 604_800;
const MAX_BATCH: usize = 500;
/// At most this many messages per history page.
const MAX_PAGE: i64 = 100;

pub async fn dispatch(command: &str, call: Call<'_>) -> Result<Answer, ImError> {
    let fields = match command {
        "admin_getroammsg" => return roam(call).await,
        "sendmsg" => send(call).await,
        "batchsendmsg" => batch_send(call).await,
        "importmsg" => import(call).await,
        "admin_msgwithdraw" => withdraw(call).await,
        "querystate" => query_state(call, false).await,
        "query_online_status" => query_state(call, true).await,
        other => Err(ImError::unknown_command("openim", other)),
    };
    fields.map(Answer::Fields)
}

fn account(v: Option<&Value>) -> Option<&str> {
    v.and_then(Value::as_str)
        .filter(|s| !s.is_empty() && s.len() <= 32)
}

/// An optional integer field: absent is `None`, present but not an integer is `code`.
fn opt_int(body: &Value, key: &str, code: i64) -> Result<Option<i64>, ImError> {
    match body.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(v) => v
            .as_i64()
            .map(Some)
            .ok_or_else(|| ImError::new(code, format!("{key} must be an integer"))),
    }
}

fn u32_field(body: &Value, key: &str, code: i64) -> Result<Option<i64>, ImError> {
    match opt_int(body, key, code)? {
        Some(v) if !(0..=u32::MAX as i64).contains(&v) => {
            Err(ImError::new(code, format!("{key} must be 0 to 4294967295")))
        }
        other => Ok(other),
    }
}

/// What every send-like command shares, checked once.
struct Draft {
    from: String,
    msg_seq: i64,
    msg_random: i64,
    msg_time: i64,
    body: String,
    crc: i64,
    text: String,
    cloud: String,
}

impl Draft {
    /// Replaces the body with one the before-send callback returned.
    fn rewrite(&mut self, body: &Value) -> Result<(), ImError> {
        self.text = elements::check(Some(body))?;
        self.body = serde_json::to_string(body).map_err(ImError::internal)?;
        self.crc = crc32fast::hash(self.body.as_bytes()) as i64;
        Ok(())
    }
}

async fn draft(call: &Call<'_>, from_required: bool) -> Result<Draft, ImError> {
    let b = &call.body;
    let from = match b.get("From_Account") {
        None | Some(Value::Null) if !from_required => call.identifier.clone(),
        v => account(v)
            .ok_or_else(|| ImError::new(90008, "From_Account must be an account UserID"))?
            .to_string(),
    };
    if !exists(call, &from).await? {
        return Err(ImError::new(
            90008,
            format!("From_Account `{from}` does not exist; import it first"),
        ));
    }
    let msg_random = u32_field(b, "MsgRandom", 90005)?
        .ok_or_else(|| ImError::new(90005, "MsgRandom is required: a 32-bit random integer"))?;
    // Tencent fills a random MsgSeq; 0 keeps same-second messages in arrival order instead,
    // which is what agents reading the history expect. MsgRandom still tells messages apart.
    let msg_seq = u32_field(b, "MsgSeq", 90001)?.unwrap_or(0);
    let now = call.state.clock.now() / 1000;
    let msg_time = opt_int(b, "MsgTimeStamp", 90006)?.unwrap_or(now);
    if let Some(life) = opt_int(b, "MsgLifeTime", 90044)?
        && !(0..=MAX_LIFETIME).contains(&life)
    {
        return Err(ImError::new(
            90026,
            "MsgLifeTime must be 0 to 604800 seconds (7 days)",
        ));
    }
    let text = elements::check(b.get("MsgBody"))?;
    // serde_json's maps are sorted, so the CRC does not depend on the sender's key order.
    let body = serde_json::to_string(&b["MsgBody"]).map_err(ImError::internal)?;
    let cloud = match b.get("CloudCustomData") {
        None | Some(Value::Null) => String::new(),
        Some(Value::String(s)) => s.clone(),
        Some(_) => return Err(ImError::invalid("CloudCustomData must be a string")),
    };
    Ok(Draft {
        from,
        msg_seq,
        msg_random,
        msg_time,
        crc: crc32fast::hash(body.as_bytes()) as i64,
        body,
        text,
        cloud,
    })
}

/// Applies the tenant's sensitive words to a message body: a blocking word refuses it with
/// 80001 (Tencent's code for text that failed the content check), masking words become
/// `***` in place. Returns whether the body changed. History imports are not checked.
pub(crate) async fn moderate(
    state: &crate::GatewayState,
    tenant: kefu_domain::TenantId,
    body: &mut Value,
) -> Result<bool, ImError> {
    let filter = kefu_engine::cache::filter(&state.store, tenant).await?;
    moderate_with(&filter, body)
}

fn moderate_with(
    filter: &kefu_domain::moderation::Filter,
    body: &mut Value,
) -> Result<bool, ImError> {
    filter.check_body(body).map_err(|word| {
        ImError::new(
            80001,
            format!(
                "the message was not sent: it contains `{word}`, which this service does not allow; \
                 remove it and send again"
            ),
        )
    })
}

async fn moderate_draft(call: &Call<'_>, d: &mut Draft) -> Result<(), ImError> {
    let filter = kefu_engine::cache::filter(&call.state.store, call.app.tenant_id).await?;
    if filter.is_empty() {
        return Ok(());
    }
    let mut body: Value = serde_json::from_str(&d.body).map_err(ImError::internal)?;
    if moderate_with(&filter, &mut body)? {
        d.rewrite(&body)?;
    }
    Ok(())
}

/// Appends a message and, unless it is a duplicate or `announce` is off, tells every node so
/// the parties' sockets and the conversation engine react. Stored is what counts: a lost
/// announcement is caught up by the readers' sequence.
///
/// A buyer's message to a customer-service account goes through the engine: a rating or a
/// request to rate is acted on first (and refused with its error code, unstored, when it
/// cannot be taken); after storing, the engine reacts to transfer keywords, menu choices and
/// the client opening the conversation.
pub(crate) async fn append(
    state: &crate::GatewayState,
    app: &kefu_store::ImApp,
    message: NewMessage,
    announce: bool,
) -> Result<kefu_store::Appended, ImError> {
    let tenant = app.tenant_id;
    let service = app
        .service_account(&message.to_account)
        .filter(|_| announce);
    let cs_message = match service {
        Some(_) if message.body.contains("TIMCustomElem") => serde_json::from_str(&message.body)
            .ok()
            .and_then(|body| kefu_domain::cs::parse(&body)),
        _ => None,
    };
    let engine =
        || kefu_engine::Engine::new(state.store.clone(), state.bus.clone(), state.clock.clone());
    let dedup_since = message.created_at - DEDUP_WINDOW_MS;
    let text = service.map(|_| message.text.clone()).unwrap_or_default();
    if let (Some(account), Some(cs)) = (service, &cs_message) {
        // A resend of a message already stored is answered as the original was, not acted on
        // twice.
        let already = state
            .store
            .find_duplicate(tenant, &message, dedup_since)
            .await?;
        if already.is_none()
            && let Err(refused) = engine()
                .buyer_custom(tenant, &message.from_account, account, cs)
                .await
        {
            return Err(ImError::new(refused.code.into(), refused.info));
        }
    }
    let appended = state
        .store
        .append_message(tenant, message, dedup_since)
        .await?;
    if let (Some(account), false) = (service, appended.duplicate) {
        let m = &appended.message;
        engine()
            .buyer_wrote(tenant, &m.from_account, account, &text, cs_message.as_ref())
            .await;
    }
    if announce && !appended.duplicate {
        let m = &appended.message;
        let event = m.stored_event(tenant);
        if let Err(e) = state.bus.publish(topic::MESSAGES, &event).await {
            tracing::warn!(error = %e, "could not announce a stored message");
        }
    }
    Ok(appended)
}

/// Stores one message to `to` and announces it. Returns the stored (or original) message.
async fn store(
    call: &Call<'_>,
    d: &Draft,
    to: &str,
    announce: bool,
    after_callback: bool,
) -> Result<StoredMessage, ImError> {
    let now = call.state.clock.now();
    let callback = after_callback.then(|| {
        crate::callbacks::after_send(
            call.app,
            &d.from,
            to,
            d.msg_seq,
            d.msg_random,
            d.msg_time,
            &d.body,
            &d.cloud,
        )
    });
    let message = NewMessage {
        sender_role: String::new(),
        agent_id: None,
        from_account: d.from.clone(),
        to_account: to.to_string(),
        msg_seq: d.msg_seq,
        msg_random: d.msg_random,
        msg_time: d.msg_time,
        content_crc: d.crc,
        body: d.body.clone(),
        cloud_custom_data: d.cloud.clone(),
        text: d.text.clone(),
        created_at: now,
        callback: callback.flatten(),
    };
    let appended = append(call.state, call.app, message, announce).await?;
    Ok(appended.message)
}

async fn recipient(call: &Call<'_>, v: Option<&Value>) -> Result<String, ImError> {
    let to =
        account(v).ok_or_else(|| ImError::new(90003, "To_Account must be an account UserID"))?;
    if !exists(call, to).await? {
        return Err(ImError::new(
            90012,
            format!("To_Account `{to}` is not imported; import it first"),
        ));
    }
    Ok(to.to_string())
}

async fn send(call: Call<'_>) -> Result<Value, ImError> {
    let to = recipient(&call, call.body.get("To_Account")).await?;
    let mut d = draft(&call, false).await?;
    moderate_draft(&call, &mut d).await?;
    let forbid = |what: &str| {
        call.body
            .get("ForbidCallbackControl")
            .and_then(Value::as_array)
            .is_some_and(|l| l.iter().any(|v| v.as_str() == Some(what)))
    };
    if !forbid("ForbidBeforeSendMsgCallback") {
        let key = format!("{}_{}_{}", d.msg_seq, d.msg_random, d.msg_time);
        let mut body = crate::callbacks::before_send_body(
            &d.from,
            &to,
            d.msg_seq,
            d.msg_random,
            d.msg_time,
            &key,
            &d.body,
            &d.cloud,
        );
        call.state.media.sign(
            call.app.tenant_id,
            &call.app.secret_key,
            &mut body["MsgBody"],
            call.state.clock.now(),
        );
        let now = call.state.clock.now() / 1000;
        match crate::callbacks::before_send(&call.state.http, call.app, &body, "RESTAPI", now).await
        {
            crate::callbacks::Verdict::Allow => {}
            crate::callbacks::Verdict::Reject(e) => return Err(e),
            crate::callbacks::Verdict::Rewrite(mut new_body) => {
                call.state.media.canonicalize(Some(&mut new_body));
                d.rewrite(&new_body)?
            }
        }
    }
    let m = store(&call, &d, &to, true, !forbid("ForbidAfterSendMsgCallback")).await?;
    Ok(json!({ "MsgTime": m.msg_time, "MsgKey": m.msg_key }))
}

async fn batch_send(call: Call<'_>) -> Result<Value, ImError> {
    let list = call
        .body
        .get("To_Account")
        .and_then(Value::as_array)
        .ok_or_else(|| ImError::new(90003, "To_Account must be an array of UserIDs"))?;
    if list.is_empty() {
        return Err(ImError::new(
            90003,
            "To_Account must name at least one UserID",
        ));
    }
    if list.len() > MAX_BATCH {
        return Err(ImError::new(
            90011,
            format!("at most {MAX_BATCH} recipients per batch"),
        ));
    }
    let mut d = draft(&call, false).await?;
    moderate_draft(&call, &mut d).await?;
    let mut errors = Vec::new();
    let mut key = String::new();
    for item in list {
        match recipient(&call, Some(item)).await {
            Ok(to) => key = store(&call, &d, &to, true, false).await?.msg_key,
            Err(e) => errors.push(json!({ "To_Account": item, "ErrorCode": e.code })),
        }
    }
    if key.is_empty() {
        key = format!("{}_{}_{}", d.msg_seq, d.msg_random, d.msg_time);
    }
    let mut out = json!({ "MsgKey": key });
    if !errors.is_empty() {
        out["ErrorList"] = Value::Array(errors);
    }
    Ok(out)
}

async fn import(call: Call<'_>) -> Result<Value, ImError> {
    let sync = opt_int(&call.body, "SyncFromOldSystem", 90030)?.ok_or_else(|| {
        ImError::new(
            90030,
            "SyncFromOldSystem is required: 1 or 2 for history, 5 for realtime",
        )
    })?;
    if ![1, 2, 5].contains(&sync) {
        return Err(ImError::new(
            90030,
            "SyncFromOldSystem must be 1 or 2 (history) or 5 (realtime)",
        ));
    }
    if opt_int(&call.body, "MsgTimeStamp", 90006)?.is_none() {
        return Err(ImError::new(
            90006,
            "MsgTimeStamp is required when importing",
        ));
    }
    let to = recipient(&call, call.body.get("To_Account")).await?;
    let d = draft(&call, true).await?;
    // History imports are stored quietly; realtime imports are delivered like a send.
    store(&call, &d, &to, sync == 5, false).await?;
    Ok(json!({}))
}

fn parse_key(key: &str) -> Option<(i64, i64, i64)> {
    let mut parts = key.split('_').map(|p| p.parse::<i64>().ok());
    match (
        parts.next().flatten(),
        parts.next().flatten(),
        parts.next().flatten(),
        parts.next(),
    ) {
        (Some(a), Some(b), Some(c), None) => Some((a, b, c)),
        _ => None,
    }
}

/// Both generations of field names: `Operator_Account`/`Peer_Account` and `From_Account`/`To_Account`.
fn pair(body: &Value) -> Result<(String, String), ImError> {
    let from = account(
        body.get("Operator_Account")
            .or_else(|| body.get("From_Account")),
    )
    .ok_or_else(|| ImError::new(90008, "Operator_Account (or From_Account) must be a UserID"))?;
    let to = account(body.get("Peer_Account").or_else(|| body.get("To_Account")))
        .ok_or_else(|| ImError::new(90003, "Peer_Account (or To_Account) must be a UserID"))?;
    Ok((from.to_string(), to.to_string()))
}

/// A message as history lists it.
#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct RoamItem<'a> {
    #[serde(rename = "From_Account")]
    from_account: &'a str,
    #[serde(rename = "To_Account")]
    to_account: &'a str,
    msg_seq: i64,
    msg_random: i64,
    msg_time_stamp: i64,
    msg_flag_bits: i64,
    /// Whether the receiver has read it (by the chat's read sequences).
    is_peer_read: i64,
    msg_key: &'a str,
    msg_body: RoamBody<'a>,
    cloud_custom_data: &'a str,
}

/// A stored body goes out as stored (it was serialized by us), unless it holds media links,
/// which are signed for this reader.
#[derive(Serialize)]
#[serde(untagged)]
enum RoamBody<'a> {
    Stored(&'a RawValue),
    Signed(Value),
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct RoamPage<'a> {
    complete: i64,
    msg_cnt: usize,
    last_msg_time: i64,
    last_msg_key: &'a str,
    msg_list: Vec<RoamItem<'a>>,
}

async fn roam(call: Call<'_>) -> Result<Answer, ImError> {
    let b = &call.body;
    let (from, to) = pair(b)?;
    let need = |key: &str| {
        opt_int(b, key, 70402)?
            .ok_or_else(|| ImError::invalid(format!("{key} is required (an integer)")))
    };
    let max_cnt = need("MaxCnt")?.clamp(1, MAX_PAGE);
    let (min_time, max_time) = (need("MinTime")?, need("MaxTime")?);
    let before = match b
        .get("LastMsgKey")
        .and_then(Value::as_str)
        .filter(|k| !k.is_empty())
    {
        None => None,
        Some(key) => {
            parse_key(key).ok_or_else(|| {
                ImError::new(
                    90054,
                    "LastMsgKey is not a MsgKey ({MsgSeq}_{MsgRandom}_{MsgTime})",
                )
            })?;
            let last = call
                .state
                .store
                .find_message_by_key(call.app.tenant_id, &from, &to, key)
                .await?
                .ok_or_else(|| {
                    ImError::new(90054, "LastMsgKey names no message of this conversation")
                })?;
            Some(RoamCursor {
                msg_time: last.msg_time,
                msg_seq: last.msg_seq,
                seq: last.seq,
            })
        }
    };
    let (chat, mut page) = call
        .state
        .store
        .roam_page(
            call.app.tenant_id,
            RoamQuery {
                a: &from,
                b: &to,
                min_time,
                max_time,
                before,
                limit: max_cnt + 1,
            },
        )
        .await?;
    let complete = page.len() as i64 <= max_cnt;
    page.truncate(max_cnt as usize);
    let last = page.last();
    let now = call.state.clock.now();
    let empty: &RawValue = serde_json::from_str("[]").map_err(ImError::internal)?;
    let msg_list = page
        .iter()
        .map(|m| {
            let msg_body = if kefu_media::links::may_hold_media(&m.body) {
                let mut body = serde_json::from_str(&m.body).unwrap_or(Value::Array(vec![]));
                let (tenant, key) = (call.app.tenant_id, &call.app.secret_key);
                call.state.media.sign(tenant, key, &mut body, now);
                RoamBody::Signed(body)
            } else {
                RoamBody::Stored(serde_json::from_str(&m.body).unwrap_or(empty))
            };
            RoamItem {
                from_account: &m.from_account,
                to_account: &m.to_account,
                msg_seq: m.msg_seq,
                msg_random: m.msg_random,
                msg_time_stamp: m.msg_time,
                msg_flag_bits: m.flag_bits,
                is_peer_read: i64::from(
                    chat.as_ref()
                        .is_some_and(|c| c.read_seq_of(&m.to_account) >= m.seq),
                ),
                msg_key: &m.msg_key,
                msg_body,
                cloud_custom_data: &m.cloud_custom_data,
            }
        })
        .collect();
    let page = RoamPage {
        complete: i64::from(complete),
        msg_cnt: page.len(),
        last_msg_time: last.map(|m| m.msg_time).unwrap_or(0),
        last_msg_key: last.map(|m| m.msg_key.as_str()).unwrap_or(""),
        msg_list,
    };
    serde_json::to_string(&page)
        .map(Answer::Serialized)
        .map_err(ImError::internal)
}

async fn withdraw(call: Call<'_>) -> Result<Value, ImError> {
    let (from, to) = pair(&call.body)?;
    let key = call
        .body
        .get("MsgKey")
        .and_then(Value::as_str)
        .unwrap_or("");
    if parse_key(key).is_none() {
        return Err(ImError::new(
            90054,
            "MsgKey is not a MsgKey ({MsgSeq}_{MsgRandom}_{MsgTime})",
        ));
    }
    let tenant = call.app.tenant_id;
    let Some(found) = call
        .state
        .store
        .find_message_by_key(tenant, &from, &to, key)
        .await?
    else {
        return Err(ImError::new(20022, "the message to recall does not exist"));
    };
    match call
        .state
        .store
        .recall_message(tenant, &from, &to, key)
        .await?
    {
        Recall::NotFound => Err(ImError::new(20022, "the message to recall does not exist")),
        Recall::AlreadyRecalled => Err(ImError::new(20023, "the message was already recalled")),
        Recall::Recalled => {
            let body = json!({
                "CallbackCommand": crate::callbacks::AFTER_WITHDRAW,
                "From_Account": found.from_account,
                "To_Account": found.to_account,
                "MsgKey": found.msg_key,
                "UnreadMsgNum": 0,
            });
            crate::callbacks::queue(call.state, call.app, crate::callbacks::AFTER_WITHDRAW, body)
                .await;
            let event = Event::MessageRecalled {
                tenant_id: tenant,
                chat_id: found.chat_id,
                seq: found.seq,
                from_account: found.from_account.clone(),
                to_account: found.to_account.clone(),
            };
            if let Err(e) = call.state.bus.publish(topic::MESSAGES, &event).await {
                tracing::warn!(error = %e, "could not announce a recall");
            }
            Ok(json!({}))
        }
    }
}

/// Online state from the sockets of every node: `Online` while the account has a live socket,
/// `Offline` otherwise (Kefu has no offline push, so never `PushOnline`).
async fn query_state(call: Call<'_>, new_api: bool) -> Result<Value, ImError> {
    let list = call
        .body
        .get("To_Account")
        .and_then(Value::as_array)
        .ok_or_else(|| ImError::new(90001, "To_Account must be an array of UserIDs"))?;
    if list.is_empty() {
        return Err(ImError::new(
            90001,
            "To_Account must name at least one UserID",
        ));
    }
    if list.len() > MAX_BATCH {
        return Err(ImError::invalid(format!(
            "at most {MAX_BATCH} accounts per query"
        )));
    }
    let detail = new_api && call.body.get("IsNeedDetail").and_then(Value::as_i64) == Some(1);
    let now = call.state.clock.now();
    let mut results = Vec::new();
    let mut errors = Vec::new();
    for item in list {
        let Some(user) = account(Some(item)) else {
            errors.push(json!({ "To_Account": item, "ErrorCode": 70402 }));
            continue;
        };
        if !exists(&call, user).await? {
            errors.push(json!({ "To_Account": user, "ErrorCode": 70107 }));
            continue;
        }
        let key = crate::hub::presence_key(call.app.tenant_id, user);
        let sockets = call
            .state
            .bus
            .presence_count(&key, now)
            .await
            .map_err(ImError::internal)?;
        let state = if sockets > 0 { "Online" } else { "Offline" };
        // Some clients read `Status` instead of `State`; both are sent.
        let mut entry = json!({ "To_Account": user, "State": state, "Status": state });
        if detail && sockets > 0 {
            entry["Detail"] = Value::Array(
                (0..sockets)
                    .map(|_| json!({ "Platform": "Web", "Status": "Online" }))
                    .collect(),
            );
        }
        results.push(entry);
    }
    let mut out = json!({ "QueryResult": results });
    if !errors.is_empty() {
        out["ErrorList"] = Value::Array(errors);
    }
    Ok(out)
}
