//! The response envelope and the error codes of the Tencent IM REST API.

use poem::Response;
use poem::web::Json;
use serde_json::{Map, Value, json};

/// A failure answered in the envelope: `ActionStatus` `FAIL` with a Tencent error code.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImError {
    pub code: i64,
    pub info: String,
}

impl ImError {
    pub fn new(code: i64, info: impl Into<String>) -> Self {
        Self {
            code,
            info: info.into(),
        }
    }

    /// 60009: no such service or command.
    pub fn unknown_command(service: &str, command: &str) -> Self {
        Self::new(
            60009,
            format!(
                "bad request resource: v4/{service}/{command} is not a known command; check the URL"
            ),
        )
    }

    /// 90001: the body is not JSON.
    pub fn bad_json() -> Self {
        Self::new(90001, "Fail to Parse json data of body, Please check it")
    }

    /// 70402: a required field is missing or invalid.
    pub fn invalid(what: impl Into<String>) -> Self {
        Self::new(70402, what)
    }

    /// 70500: something failed on our side; the cause is logged, not sent.
    pub fn internal(cause: impl std::fmt::Display) -> Self {
        tracing::error!(error = %cause, "gateway internal error");
        Self::new(70500, "internal error, please retry")
    }
}

impl From<kefu_domain::elements::ElementError> for ImError {
    fn from(e: kefu_domain::elements::ElementError) -> Self {
        Self::new(e.code, e.info)
    }
}

impl From<kefu_store::StoreError> for ImError {
    fn from(e: kefu_store::StoreError) -> Self {
        Self::internal(e)
    }
}

/// `{"ActionStatus":"OK","ErrorCode":0,"ErrorInfo":""}` plus `extra` fields.
pub fn ok(extra: Value) -> Json<Value> {
    let mut body = Map::new();
    body.insert("ActionStatus".into(), json!("OK"));
    body.insert("ErrorCode".into(), json!(0));
    body.insert("ErrorInfo".into(), json!(""));
    if let Value::Object(fields) = extra {
        body.extend(fields);
    }
    Json(Value::Object(body))
}

/// A successful answer whose fields were serialized by the command: `fields` is a JSON object
/// (`{…}`), spliced after the status fields without being parsed again.
pub fn ok_serialized(fields: &str) -> Response {
    let rest = fields.trim_start().strip_prefix('{').unwrap_or("}");
    let mut body = String::with_capacity(OK_PREFIX.len() + rest.len() + 1);
    body.push_str(OK_PREFIX);
    if rest.trim_start().starts_with('}') {
        body.push('}');
    } else {
        body.push(',');
        body.push_str(rest);
    }
    Response::builder()
        .content_type("application/json; charset=utf-8")
        .body(body)
}

const OK_PREFIX: &str = r#"{"ActionStatus":"OK","ErrorCode":0,"ErrorInfo":"""#;

pub fn fail(e: &ImError) -> Json<Value> {
    Json(json!({ "ActionStatus": "FAIL", "ErrorCode": e.code, "ErrorInfo": e.info }))
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn body_of(r: Response) -> Value {
        serde_json::from_slice(&r.into_body().into_vec().await.unwrap()).unwrap()
    }

    #[tokio::test]
    async fn serialized_fields_follow_the_status_fields() {
        let r = ok_serialized(r#"{"Complete":1,"MsgList":[{"MsgBody":[]}]}"#);
        assert_eq!(
            r.headers()["content-type"],
            "application/json; charset=utf-8"
        );
        assert_eq!(
            body_of(r).await,
            json!({"ActionStatus":"OK","ErrorCode":0,"ErrorInfo":"","Complete":1,"MsgList":[{"MsgBody":[]}]})
        );
        let empty = ok_serialized(" { } ");
        assert_eq!(
            body_of(empty).await,
            json!({"ActionStatus":"OK","ErrorCode":0,"ErrorInfo":""})
        );
    }
}
