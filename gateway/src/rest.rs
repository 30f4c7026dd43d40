//! Request handling for `/v4/{service}/{command}`: query parameters matched without regard
//! to case, any method with a body, any or no `Content-Type`, the caller authenticated as an
//! app admin by its UserSig, then the command.

use crate::envelope::{self, ImError};
use crate::{GatewayState, login_svc, openim};
use kefu_store::ImApp;
use poem::web::{Data, Json, Path};
use poem::{Body, IntoResponse, Request, Response, handler};
use serde_json::Value;

/// Bodies above this are refused with 93000, as Tencent does (its limit is about 12 KB).
pub const MAX_BODY: usize = 12 * 1024;

/// A command, once the caller is known to be an admin of `app`.
pub struct Call<'a> {
    pub state: &'a GatewayState,
    pub app: &'a ImApp,
    /// The admin identifier that signed the call.
    pub identifier: String,
    pub body: Value,
}

/// What a command answers besides the status fields.
pub enum Answer {
    Fields(Value),
    /// A JSON object already serialized (history pages, where building a `Value` per message
    /// cost more than reading them).
    Serialized(String),
}

impl From<Value> for Answer {
    fn from(v: Value) -> Self {
        Answer::Fields(v)
    }
}

/// Whether `{service}/{command}` is one we serve.
fn known(service: &str, command: &str) -> bool {
    match service {
        "im_open_login_svc" => login_svc::COMMANDS.contains(&command),
        "openim" => openim::COMMANDS.contains(&command),
        _ => false,
    }
}

#[handler]
pub async fn handle(
    req: &Request,
    Path((service, command)): Path<(String, String)>,
    state: Data<&GatewayState>,
    body: Body,
) -> Response {
    match run(req, &service, &command, &state, body).await {
        Ok(Answer::Fields(extra)) => envelope::ok(extra).into_response(),
        Ok(Answer::Serialized(fields)) => envelope::ok_serialized(&fields),
        Err(e) => envelope::fail(&e).into_response(),
    }
}

/// Anything under `/v4` that is not `{service}/{command}`: still an envelope, still HTTP 200.
#[handler]
pub async fn unknown_path(Path(path): Path<String>) -> Json<Value> {
    envelope::fail(&ImError::new(
        60009,
        format!("bad request resource: v4/{path} is not service/command; check the URL"),
    ))
}

async fn run(
    req: &Request,
    service: &str,
    command: &str,
    state: &GatewayState,
    body: Body,
) -> Result<Answer, ImError> {
    if !known(service, command) {
        return Err(ImError::unknown_command(service, command));
    }
    let (app, identifier) = authenticate(req, state).await?;
    limit(state, &app, service, command).await?;
    let mut body = read_body(body).await?;
    state.media.canonicalize(body.get_mut("MsgBody"));
    let call = Call {
        state,
        app: &app,
        identifier,
        body,
    };
    match service {
        "im_open_login_svc" => login_svc::dispatch(command, call).await.map(Answer::from),
        "openim" => openim::dispatch(command, call).await,
        _ => Err(ImError::unknown_command(service, command)),
    }
}

/// Counts the call against the app's per-command budget for the current second. Counted after
/// authentication, so strangers cannot spend an app's budget. If the counter cannot be reached
/// the call goes through: the limit protects the service, it must not take it down.
async fn limit(
    state: &GatewayState,
    app: &ImApp,
    service: &str,
    command: &str,
) -> Result<(), ImError> {
    if state.rate_limit <= 0 {
        return Ok(());
    }
    let key = format!("im-rest:{}:{service}/{command}", app.sdk_app_id);
    let second = state.clock.now().div_euclid(1000);
    match state.bus.count_in_window(&key, second, 5).await {
        Ok(n) if n > state.rate_limit => Err(ImError::new(
            60007,
            format!(
                "REST call frequency over limit: at most {} {service}/{command} calls per second",
                state.rate_limit
            ),
        )),
        Ok(_) => Ok(()),
        Err(e) => {
            tracing::warn!(error = %e, "rate-limit counter unavailable; allowing the call");
            Ok(())
        }
    }
}

/// The app with this SDKAppID, refused with 60006 when there is none and 60016 when its
/// tenant is disabled. REST calls and socket logins both start here.
pub(crate) async fn enabled_app(
    state: &GatewayState,
    sdk_app_id: i64,
) -> Result<std::sync::Arc<ImApp>, ImError> {
    let app = kefu_engine::cache::im_app_by_sdk(&state.store, sdk_app_id)
        .await?
        .ok_or_else(|| ImError::new(60006, format!("SDKAppID {sdk_app_id} is not valid")))?;
    if kefu_engine::cache::tenant(&state.store, app.tenant_id)
        .await?
        .is_none_or(|t| t.disabled)
    {
        return Err(ImError::new(
            60016,
            format!("SDKAppID {sdk_app_id} is disabled"),
        ));
    }
    Ok(app)
}

/// A query parameter by name, ignoring case (`sdkAppid` and `SdkAppId` are seen in the wild).
pub(crate) fn query<'a>(pairs: &'a [(String, String)], name: &str) -> Option<&'a str> {
    pairs
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.as_str())
}

async fn authenticate(
    req: &Request,
    state: &GatewayState,
) -> Result<(std::sync::Arc<ImApp>, String), ImError> {
    let pairs = req.uri().query().map(url_pairs).unwrap_or_default();
    let Some(raw_app) = query(&pairs, "sdkappid").filter(|s| !s.is_empty()) else {
        return Err(ImError::new(
            60012,
            "REST requests must carry sdkappid in the query string",
        ));
    };
    let sdk_app_id: i64 = raw_app
        .trim()
        .parse()
        .map_err(|_| ImError::new(60006, format!("sdkappid `{raw_app}` is not a number")))?;
    let app = enabled_app(state, sdk_app_id).await?;
    let identifier = query(&pairs, "identifier").unwrap_or("");
    if !app.is_admin(identifier) {
        return Err(ImError::new(
            60010,
            format!("`{identifier}` is not an App admin; REST calls need an admin identifier"),
        ));
    }
    let usersig = query(&pairs, "usersig").unwrap_or("");
    let now = state.clock.now() / 1000;
    kefu_usersig::verify(usersig, sdk_app_id as u64, identifier, &app.secret_key, now)
        .map_err(|e| ImError::new(e.code(), e.to_string()))?;
    Ok((app, identifier.to_string()))
}

/// Splits and percent-decodes a query string (`+` is a space only in form encoding, and a
/// UserSig never contains one, so it is kept).
pub(crate) fn url_pairs(query: &str) -> Vec<(String, String)> {
    query
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            (percent_decode(k), percent_decode(v))
        })
        .collect()
}

fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' && i + 2 < bytes.len() {
            let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).ok();
            if let Some(b) = hex.and_then(|h| u8::from_str_radix(h, 16).ok()) {
                out.push(b);
                i += 3;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

async fn read_body(body: Body) -> Result<Value, ImError> {
    let bytes = body
        .into_bytes_limit(MAX_BODY + 1)
        .await
        .map_err(|_| ImError::new(93000, "JSON body too long; keep it under 12 KB"))?;
    if bytes.len() > MAX_BODY {
        return Err(ImError::new(
            93000,
            "JSON body too long; keep it under 12 KB",
        ));
    }
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Ok(Value::Object(Default::default()));
    }
    match serde_json::from_slice::<Value>(&bytes) {
        Ok(v @ Value::Object(_)) => Ok(v),
        _ => Err(ImError::bad_json()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_names_match_without_case_and_values_are_decoded() {
        let pairs = url_pairs(
            "sdkAppid=1400000001&Identifier=admin&usersig=eJy%2Aabc_&random=99&contenttype=json",
        );
        assert_eq!(query(&pairs, "sdkappid"), Some("1400000001"));
        assert_eq!(query(&pairs, "identifier"), Some("admin"));
        assert_eq!(query(&pairs, "usersig"), Some("eJy*abc_"));
        assert_eq!(query(&pairs, "missing"), None);
    }

    #[test]
    fn a_stray_percent_is_kept() {
        assert_eq!(percent_decode("a%2"), "a%2");
        assert_eq!(percent_decode("100%"), "100%");
        assert_eq!(percent_decode("%E4%BD%A0"), "你");
        assert_eq!(
            percent_decode("%你好"),
            "%你好",
            "no panic inside a multi-byte character"
        );
    }
}
