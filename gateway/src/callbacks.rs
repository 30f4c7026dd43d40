//! Callbacks to the tenant's own server, as Tencent IM makes them: an HTTP POST of a JSON body
//! to the configured URL with `SdkAppid`, `CallbackCommand`, `contenttype`, `ClientIP` and
//! `OptPlatform` in the query, plus `Sign` and `RequestTime` when a token is set.
//!
//! `C2C.CallbackBeforeSendMsg` is called before a message is stored and may block or rewrite
//! it; when the tenant's server fails or is slow, the message goes through as if no callback
//! were configured. Every other callback is queued in the outbox (with the message, in one
//! transaction) and delivered by [`Worker`], with retries.

use crate::envelope::ImError;
use kefu_domain::Clock;
use kefu_store::{CallbackOutcome, ImApp, OutboxEntry, Store};
use serde_json::Value;
use std::sync::Arc;
use std::time::Duration;

pub use kefu_callback::{MAX_ATTEMPTS, TIMEOUT, http_client, post, sign, url};

pub const BEFORE_SEND: &str = "C2C.CallbackBeforeSendMsg";
pub const AFTER_SEND: &str = "C2C.CallbackAfterSendMsg";
pub const AFTER_WITHDRAW: &str = "C2C.CallbackAfterMsgWithDraw";
pub const STATE_CHANGE: &str = "State.StateChange";
pub const AFTER_MSG_REPORT: &str = "C2C.CallbackAfterMsgReport";

/// What the tenant's server decided about a message before it is stored.
#[derive(Debug, Clone, PartialEq)]
pub enum Verdict {
    Allow,
    /// Store this `MsgBody` instead.
    Rewrite(Value),
    Reject(ImError),
}

/// Calls `C2C.CallbackBeforeSendMsg` when the app has a callback URL.
pub async fn before_send(
    http: &reqwest::Client,
    app: &ImApp,
    body: &Value,
    platform: &str,
    now_secs: i64,
) -> Verdict {
    if app.callback_url.is_empty() {
        return Verdict::Allow;
    }
    let url = url(app, BEFORE_SEND, "", platform, now_secs);
    let answer = match post(http, &url, &body.to_string()).await {
        Ok(a) => a,
        Err(e) => {
            // As Tencent IM: a failing callback server does not stop messages.
            tracing::warn!(tenant = app.tenant_id.0, error = %e, "before-send callback failed; message allowed");
            return Verdict::Allow;
        }
    };
    let code = answer.get("ErrorCode").and_then(Value::as_i64).unwrap_or(0);
    let info = answer
        .get("ErrorInfo")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_string();
    match code {
        0 => match answer.get("MsgBody") {
            Some(new_body) if crate::elements::check(Some(new_body)).is_ok() => {
                Verdict::Rewrite(new_body.clone())
            }
            Some(_) => {
                tracing::warn!(
                    tenant = app.tenant_id.0,
                    "before-send callback returned an invalid MsgBody; kept the original"
                );
                Verdict::Allow
            }
            None => Verdict::Allow,
        },
        120_001..=130_000 => Verdict::Reject(ImError::new(code, info)),
        _ => Verdict::Reject(ImError::new(
            20006,
            "blocked by the app's before-send callback",
        )),
    }
}

/// Delivers the outbox.
pub struct Worker {
    pub store: Arc<dyn Store>,
    pub clock: Arc<dyn Clock>,
    pub http: reqwest::Client,
    /// Signs media links in message bodies as each delivery leaves.
    pub media: Arc<crate::media::Media>,
}

/// Wait before retry `attempt` (1-based): 1 s, 2 s, 4 s… up to 5 minutes.
pub fn backoff_ms(attempt: i64) -> i64 {
    (1_000i64 << attempt.clamp(1, 20).saturating_sub(1)).min(300_000)
}

impl Worker {
    /// Delivers what is due now; returns how many entries were attempted.
    pub async fn run_once(&self) -> usize {
        let now = self.clock.now();
        let due = match self.store.due_callbacks(now, 50).await {
            Ok(d) => d,
            Err(e) => {
                tracing::warn!(error = %e, "reading the callback outbox failed");
                return 0;
            }
        };
        let mut attempted = 0;
        for entry in due {
            // Other replicas run workers too; only the one that claims an entry sends it.
            match self
                .store
                .claim_callback(entry.id, entry.next_attempt_at, now + 30_000)
                .await
            {
                Ok(true) => {}
                Ok(false) => continue,
                Err(e) => {
                    tracing::warn!(error = %e, "claiming a callback failed");
                    continue;
                }
            }
            attempted += 1;
            let outcome = self.deliver(&entry).await;
            if let Err(e) = self
                .store
                .finish_callback(entry.id, outcome, self.clock.now())
                .await
            {
                tracing::warn!(error = %e, "recording a callback attempt failed; it will be retried");
            }
        }
        attempted
    }

    async fn deliver(&self, entry: &OutboxEntry) -> CallbackOutcome {
        let app = match kefu_engine::cache::im_app(&self.store, entry.tenant_id).await {
            Ok(Some(app)) if !app.callback_url.is_empty() => app,
            Ok(_) => {
                return CallbackOutcome::Failed {
                    error: "the callback URL was removed".into(),
                };
            }
            Err(e) => return self.retry(entry, format!("database: {e}")),
        };
        let now = self.clock.now();
        let url = url(&app, &entry.command, "", "RESTAPI", now / 1000);
        let body = if kefu_media::links::may_hold_media(&entry.body) {
            let mut json: Value = serde_json::from_str(&entry.body).unwrap_or_default();
            self.media
                .sign(entry.tenant_id, &app.secret_key, &mut json["MsgBody"], now);
            json.to_string()
        } else {
            entry.body.clone()
        };
        match post(&self.http, &url, &body).await {
            Ok(_) => CallbackOutcome::Delivered,
            Err(e) => self.retry(entry, e),
        }
    }

    fn retry(&self, entry: &OutboxEntry, error: String) -> CallbackOutcome {
        let attempt = entry.attempts + 1;
        if attempt >= MAX_ATTEMPTS {
            CallbackOutcome::Failed { error }
        } else {
            CallbackOutcome::Retry {
                at: self.clock.now() + backoff_ms(attempt),
                error,
            }
        }
    }

    /// Runs until the process ends, looking for due entries every second.
    pub fn spawn(self) -> tokio::task::JoinHandle<()> {
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_secs(1));
            loop {
                tick.tick().await;
                self.run_once().await;
            }
        })
    }
}

/// The body of `C2C.CallbackBeforeSendMsg`. `body` is the MsgBody JSON.
#[allow(clippy::too_many_arguments)]
pub fn before_send_body(
    from: &str,
    to: &str,
    msg_seq: i64,
    msg_random: i64,
    msg_time: i64,
    msg_key: &str,
    body: &str,
    cloud: &str,
) -> Value {
    serde_json::json!({
        "CallbackCommand": BEFORE_SEND,
        "From_Account": from,
        "To_Account": to,
        "MsgSeq": msg_seq,
        "MsgRandom": msg_random,
        "MsgTime": msg_time,
        "MsgKey": msg_key,
        "OnlineOnlyFlag": 0,
        "MsgBody": serde_json::from_str::<Value>(body).unwrap_or(Value::Null),
        "CloudCustomData": cloud,
    })
}

/// The `C2C.CallbackAfterSendMsg` to queue with a message, when the app has a callback URL.
/// `UnreadMsgNum` is 0: Kefu does not count unread messages per account yet.
#[allow(clippy::too_many_arguments)]
pub fn after_send(
    app: &ImApp,
    from: &str,
    to: &str,
    msg_seq: i64,
    msg_random: i64,
    msg_time: i64,
    body: &str,
    cloud: &str,
) -> Option<kefu_store::NewCallback> {
    if app.callback_url.is_empty() {
        return None;
    }
    let key = format!("{msg_seq}_{msg_random}_{msg_time}");
    let mut json = before_send_body(from, to, msg_seq, msg_random, msg_time, &key, body, cloud);
    json["CallbackCommand"] = AFTER_SEND.into();
    json["SendMsgResult"] = 0.into();
    json["ErrorInfo"] = "send msg succeed".into();
    json["UnreadMsgNum"] = 0.into();
    Some(kefu_store::NewCallback {
        command: AFTER_SEND.into(),
        body: json.to_string(),
    })
}

/// Queues a callback outside a message transaction (recalls, online state).
pub async fn queue(state: &crate::GatewayState, app: &ImApp, command: &str, body: Value) {
    if app.callback_url.is_empty() {
        return;
    }
    let callback = kefu_store::NewCallback {
        command: command.into(),
        body: body.to_string(),
    };
    if let Err(e) = state
        .store
        .queue_callback(app.tenant_id, callback, state.clock.now())
        .await
    {
        tracing::warn!(error = %e, command, "queueing a callback failed");
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_signature_matches_tencents_example() {
        assert_eq!(
            super::sign("xxxxyyyy", 1669872112),
            "17773bc39a671d7b9aa835458704d2a6db81360a5940292b587d6d760d484061"
        );
    }

    #[test]
    fn retries_back_off_to_five_minutes() {
        let waits: Vec<i64> = (1..=12).map(super::backoff_ms).collect();
        assert_eq!(&waits[..4], [1_000, 2_000, 4_000, 8_000]);
        assert_eq!(waits[11], 300_000);
    }
}
