//! Calling a tenant's server as Tencent IM calls back: an HTTP POST of a JSON body to the
//! configured URL with `SdkAppid`, `CallbackCommand`, `contenttype`, `ClientIP` and
//! `OptPlatform` in the query, plus `Sign` and `RequestTime` when a token is set, answered
//! within 2 s. The gateway's callbacks and the tenant API's "send a test callback" share it.

use kefu_store::ImApp;
use serde_json::Value;
use sha2::{Digest, Sha256};
use std::time::Duration;

/// The tenant's server has this long to answer, as with Tencent IM.
pub const TIMEOUT: Duration = Duration::from_secs(2);
/// Delivery attempts before an entry is marked failed.
pub const MAX_ATTEMPTS: i64 = 10;

/// The HTTP client for callbacks.
pub fn http_client() -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(TIMEOUT)
        .build()
        .expect("an HTTP client with a timeout")
}

/// `lowercase_hex(SHA-256(token + request_time))`, Tencent's callback signature.
pub fn sign(token: &str, request_time: i64) -> String {
    hex::encode(Sha256::digest(format!("{token}{request_time}").as_bytes()))
}

/// The URL to call for `command`.
pub fn url(app: &ImApp, command: &str, client_ip: &str, platform: &str, now_secs: i64) -> String {
    let sep = if app.callback_url.contains('?') {
        '&'
    } else {
        '?'
    };
    let mut url = format!(
        "{}{sep}SdkAppid={}&CallbackCommand={command}&contenttype=json&ClientIP={client_ip}&OptPlatform={platform}",
        app.callback_url, app.sdk_app_id
    );
    if !app.callback_token.is_empty() {
        url.push_str(&format!(
            "&Sign={}&RequestTime={now_secs}",
            sign(&app.callback_token, now_secs)
        ));
    }
    url
}

/// Posts one callback; Ok with the parsed answer when the server answered 200 with JSON.
pub async fn post(http: &reqwest::Client, url: &str, body: &str) -> Result<Value, String> {
    let resp = http
        .post(url)
        .header("content-type", "application/json")
        .body(body.to_string())
        .send()
        .await
        .map_err(|e| {
            if e.is_timeout() {
                "no answer within 2 s".to_string()
            } else {
                format!("cannot reach the callback URL: {e}")
            }
        })?;
    let status = resp.status();
    if status != reqwest::StatusCode::OK {
        return Err(format!("answered HTTP {}", status.as_u16()));
    }
    let text = resp
        .text()
        .await
        .map_err(|e| format!("reading the answer failed: {e}"))?;
    serde_json::from_str(&text).map_err(|_| "the answer is not JSON".to_string())
}
