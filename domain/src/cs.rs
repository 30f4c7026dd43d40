//! The customer-service layer on top of C2C messages: a message whose only element is a
//! `TIMCustomElem` with `Data` = `{"customerServicePlugin":0,"src":"…",…}` (as a JSON string).
//!
//! Parsing is defensive, because clients differ: `src` may be a number or a string, the
//! plugin flag may be missing (the mini-program build leaves it out), and an unknown `src` is
//! kept as [`CsMessage::Other`], never an error. What Kefu emits always carries the flag and a
//! string `src`, which every client reads.

use serde_json::{Value, json};

/// The `src` values Kefu reads or writes.
pub mod src {
    pub const SESSION_START: &str = "7";
    pub const RATING_REQUEST: &str = "9";
    pub const RATING_SUBMISSION: &str = "10";
    pub const TYPING: &str = "12";
    pub const BRANCH: &str = "15";
    pub const NO_AGENT_ONLINE: &str = "18";
    pub const ENDED: &str = "19";
    pub const TIMEOUT: &str = "20";
    pub const PRODUCT_CARD: &str = "22";
    pub const RATING_RULES: &str = "23";
    pub const RATE_NOW: &str = "24";
}

/// The channels a conversation can come from.
pub const CHANNELS: [&str; 4] = ["im", "web", "wechat", "app"];

/// What a buyer's client sent, as far as customer service is concerned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CsMessage {
    /// src 7: the client opened the conversation and renders customer-service messages.
    /// `channel` (`triggeredContent.channel`: `im`, `web`, `wechat` or `app`) says where the
    /// buyer writes from; Kefu's own chat page says `web`.
    SessionStart {
        language: Option<String>,
        channel: Option<String>,
    },
    /// src 10: a rating picked on a rating card.
    RatingSubmission {
        option_id: String,
        content: String,
        session_id: String,
    },
    /// src 24: the buyer asks to rate now.
    RateNow { language: Option<String> },
    /// src 22 from a buyer: a product or order card.
    ProductCard {
        header: String,
        desc: String,
        pic: String,
        url: String,
    },
    /// Any other `src`: stored and otherwise ignored.
    Other { src: String },
}

/// The customer-service message in a `MsgBody`, if it is one.
pub fn parse(body: &Value) -> Option<CsMessage> {
    let elements = body.as_array()?;
    let custom = elements
        .iter()
        .find(|e| e.get("MsgType").and_then(Value::as_str) == Some("TIMCustomElem"))?;
    let data = custom.get("MsgContent")?.get("Data")?.as_str()?;
    let data: Value = serde_json::from_str(data).ok()?;
    // The chatbot plugin numbers its src differently; it is not this layer.
    if data.get("chatbotPlugin").is_some() && data.get("customerServicePlugin").is_none() {
        return None;
    }
    if let Some(flag) = data.get("customerServicePlugin")
        && text_or_number(flag).as_deref() != Some("0")
    {
        return None;
    }
    let src = text_or_number(data.get("src")?)?;
    let field = |v: Option<&Value>, key: &str| {
        v.and_then(|v| v.get(key))
            .and_then(text_or_number)
            .unwrap_or_default()
    };
    let language = || {
        data.get("triggeredContent")
            .and_then(|t| t.get("language"))
            .and_then(Value::as_str)
            .map(str::to_string)
    };
    Some(match src.as_str() {
        src::SESSION_START => CsMessage::SessionStart {
            language: language(),
            channel: data
                .get("triggeredContent")
                .and_then(|t| t.get("channel"))
                .and_then(Value::as_str)
                .filter(|c| CHANNELS.contains(c))
                .map(str::to_string),
        },
        src::RATE_NOW => CsMessage::RateNow {
            language: language(),
        },
        src::RATING_SUBMISSION => {
            let picked = data.get("menuSelected");
            CsMessage::RatingSubmission {
                option_id: field(picked, "id"),
                content: field(picked, "content"),
                session_id: field(picked, "sessionId"),
            }
        }
        src::PRODUCT_CARD => {
            let c = data.get("content");
            CsMessage::ProductCard {
                header: field(c, "header"),
                desc: field(c, "desc"),
                pic: field(c, "pic"),
                url: field(c, "url"),
            }
        }
        _ => CsMessage::Other { src },
    })
}

/// A string, or a number written as a string.
fn text_or_number(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.trim().to_string()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

/// A one-element `MsgBody` carrying a customer-service message. `desc` is the text shown in
/// conversation lists and offline pushes.
fn emit(src: &str, payload_key: &str, payload: Value, desc: &str) -> Value {
    let mut data = json!({ "customerServicePlugin": 0, "src": src });
    if !payload.is_null() {
        data[payload_key] = payload;
    }
    json!([{ "MsgType": "TIMCustomElem", "MsgContent": { "Data": data.to_string(), "Desc": desc } }])
}

/// One option of a rating card: `id` as clients expect ("101".."105"), and its label.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RatingOption {
    pub id: String,
    pub content: String,
}

/// src 9: the rating card. `kind` 1 shows stars, 2 numbers; it expires at `expire_time`
/// (Unix seconds).
pub fn rating_request(
    session_id: &str,
    head: &str,
    tail: &str,
    options: &[RatingOption],
    kind: u8,
    effective_hours: i64,
    expire_time: i64,
) -> Value {
    let menu: Vec<Value> = options
        .iter()
        .map(|o| json!({ "id": o.id, "content": o.content }))
        .collect();
    let payload = json!({
        "head": head, "tail": tail, "menu": menu, "type": kind, "sessionId": session_id,
        "effectiveHour": effective_hours, "expireTime": expire_time,
    });
    emit(src::RATING_REQUEST, "menuContent", payload, "[服务评价]")
}

/// src 15: a menu; a click sends the item's `content` back as plain text.
pub fn branch(header: &str, items: &[(&str, &str)], tail: &str) -> Value {
    let items: Vec<Value> = items
        .iter()
        .map(|(content, desc)| json!({ "content": content, "desc": desc }))
        .collect();
    emit(
        src::BRANCH,
        "content",
        json!({ "header": header, "items": items, "tail": tail }),
        header,
    )
}

/// src 19: the session ended.
pub fn ended() -> Value {
    emit(src::ENDED, "content", Value::Null, "")
}

/// src 20: the session ended because the buyer did not reply in time.
pub fn timed_out() -> Value {
    emit(src::TIMEOUT, "content", Value::Null, "")
}

/// src 18: no agent is online.
pub fn no_agent_online() -> Value {
    emit(src::NO_AGENT_ONLINE, "content", Value::Null, "")
}

/// src 22: a product or order card.
pub fn product_card(header: &str, desc: &str, pic: &str, url: &str) -> Value {
    emit(
        src::PRODUCT_CARD,
        "content",
        json!({ "header": header, "desc": desc, "pic": pic, "url": url }),
        header,
    )
}

/// Bits of `menuSendRuleFlag` in the rating rules.
pub mod rating_rule {
    pub const AUTO_SEND: u8 = 1;
    pub const AGENT_MAY_SEND: u8 = 2;
    pub const CLIENT_MAY_TRIGGER: u8 = 4;
}

/// src 23: how ratings may be sent, in reply to src 7.
pub fn rating_rules(flags: u8) -> Value {
    emit(
        src::RATING_RULES,
        "content",
        json!({ "menuSendRuleFlag": flags }),
        "",
    )
}

/// src 12: the agent is typing.
pub fn typing() -> Value {
    emit(src::TYPING, "content", Value::Null, "")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn custom(data: &str) -> Value {
        json!([{ "MsgType": "TIMCustomElem", "MsgContent": { "Data": data } }])
    }

    #[test]
    fn src_may_be_a_string_or_a_number_and_the_flag_may_be_missing() {
        let start = CsMessage::SessionStart {
            language: None,
            channel: None,
        };
        assert_eq!(
            parse(&custom(
                r#"{"src":"7","triggeredContent":{"channel":"web"}}"#
            )),
            Some(CsMessage::SessionStart {
                language: None,
                channel: Some("web".into())
            })
        );
        assert_eq!(
            parse(&custom(
                r#"{"src":"7","triggeredContent":{"channel":"fax"}}"#
            )),
            Some(start.clone()),
            "an unknown channel is ignored"
        );
        assert_eq!(
            parse(&custom(r#"{"src":"7","customerServicePlugin":0}"#)),
            Some(start.clone())
        );
        assert_eq!(
            parse(&custom(r#"{"src":7,"customerServicePlugin":"0"}"#)),
            Some(start.clone())
        );
        assert_eq!(
            parse(&custom(r#"{"src":"7"}"#)),
            Some(start),
            "mini-program build"
        );
        assert_eq!(
            parse(&custom(
                r#"{"src":"7","customerServicePlugin":0,"triggeredContent":{"language":"zh"}}"#
            )),
            Some(CsMessage::SessionStart {
                channel: None,
                language: Some("zh".into())
            })
        );
        assert_eq!(
            parse(&custom(r#"{"src":24}"#)),
            Some(CsMessage::RateNow { language: None })
        );
    }

    #[test]
    fn a_rating_submission_carries_its_choice() {
        let data = r#"{"src":"10","customerServicePlugin":0,"menuSelected":{"id":"105","content":"非常满意","sessionId":"s-1"}}"#;
        assert_eq!(
            parse(&custom(data)),
            Some(CsMessage::RatingSubmission {
                option_id: "105".into(),
                content: "非常满意".into(),
                session_id: "s-1".into()
            })
        );
        // A number id, and a missing session, still parse.
        let loose = parse(&custom(r#"{"src":"10","menuSelected":{"id":103}}"#)).unwrap();
        assert_eq!(
            loose,
            CsMessage::RatingSubmission {
                option_id: "103".into(),
                content: String::new(),
                session_id: String::new()
            }
        );
    }

    #[test]
    fn unknown_and_foreign_messages_are_kept_apart_never_errors() {
        assert_eq!(
            parse(&custom(r#"{"src":"99","customerServicePlugin":0}"#)),
            Some(CsMessage::Other { src: "99".into() })
        );
        assert_eq!(
            parse(&custom(r#"{"src":15,"chatbotPlugin":1}"#)),
            None,
            "the chatbot plugin's numbering"
        );
        assert_eq!(
            parse(&custom(r#"{"src":"7","customerServicePlugin":1}"#)),
            None
        );
        assert_eq!(parse(&custom("not json")), None);
        assert_eq!(
            parse(&custom(r#"{"businessID":"user_typing_status"}"#)),
            None
        );
        assert_eq!(
            parse(&json!([{ "MsgType": "TIMTextElem", "MsgContent": { "Text": "人工" } }])),
            None
        );
        assert_eq!(parse(&json!("garbage")), None);
    }

    #[test]
    fn what_kefu_emits_is_flagged_with_a_string_src_and_parses_back() {
        let card = product_card("保温杯", "¥88 已发货", "https://x/p.jpg", "https://x/o/1");
        let data: Value =
            serde_json::from_str(card[0]["MsgContent"]["Data"].as_str().unwrap()).unwrap();
        assert_eq!(
            (data["customerServicePlugin"].as_i64(), data["src"].as_str()),
            (Some(0), Some("22"))
        );
        assert_eq!(
            parse(&card),
            Some(CsMessage::ProductCard {
                header: "保温杯".into(),
                desc: "¥88 已发货".into(),
                pic: "https://x/p.jpg".into(),
                url: "https://x/o/1".into()
            })
        );
        let menu = branch(
            "请选择问题类型",
            &[("物流查询", ""), ("人工", "转人工客服")],
            "",
        );
        let data: Value =
            serde_json::from_str(menu[0]["MsgContent"]["Data"].as_str().unwrap()).unwrap();
        assert_eq!(data["content"]["items"][1]["content"], "人工");
        let options = [RatingOption {
            id: "105".into(),
            content: "非常满意".into(),
        }];
        let rating = rating_request("s-1", "请评价", "谢谢", &options, 1, 24, 1_700_086_400);
        let data: Value =
            serde_json::from_str(rating[0]["MsgContent"]["Data"].as_str().unwrap()).unwrap();
        assert_eq!(
            (
                data["src"].as_str(),
                data["menuContent"]["sessionId"].as_str()
            ),
            (Some("9"), Some("s-1"))
        );
        for (body, src) in [
            (ended(), "19"),
            (timed_out(), "20"),
            (typing(), "12"),
            (no_agent_online(), "18"),
            (rating_rules(rating_rule::CLIENT_MAY_TRIGGER), "23"),
        ] {
            assert_eq!(
                parse(&body),
                Some(CsMessage::Other { src: src.into() }),
                "{src}"
            );
        }
    }
}
