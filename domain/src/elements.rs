//! `MsgBody` elements: checked against the formats of the protocol, with the specific 900xx
//! code for each kind of mistake, and reduced to searchable text.

use serde_json::Value;

/// A mistake in a `MsgBody`, with the Tencent IM error code for its kind (90002, 90007, 90010).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ElementError {
    pub code: i64,
    pub info: String,
}

impl ElementError {
    fn new(code: i64, info: impl Into<String>) -> Self {
        Self {
            code,
            info: info.into(),
        }
    }
}

impl std::fmt::Display for ElementError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.info)
    }
}

/// Checks a `MsgBody` and returns its searchable text.
pub fn check(body: Option<&Value>) -> Result<String, ElementError> {
    let elements = match body {
        Some(Value::Array(list)) => list,
        Some(_) | None => {
            return Err(ElementError::new(
                90007,
                "MsgBody must be an array of message elements",
            ));
        }
    };
    if elements.is_empty() {
        return Err(ElementError::new(
            90002,
            "MsgBody must hold at least one element",
        ));
    }
    let mut customs = 0;
    let mut text = Vec::new();
    for (i, element) in elements.iter().enumerate() {
        let kind = element.get("MsgType").and_then(Value::as_str).unwrap_or("");
        let content = element.get("MsgContent").filter(|c| c.is_object());
        let Some(content) = content else {
            return Err(bad(i, kind, "MsgContent must be an object"));
        };
        match kind {
            "TIMTextElem" => {
                text.push(string(content, "Text", i, kind)?.to_string());
            }
            "TIMLocationElem" => {
                text.push(opt_string(content, "Desc", i, kind)?.to_string());
                number(content, "Latitude", i, kind)?;
                number(content, "Longitude", i, kind)?;
            }
            "TIMFaceElem" => {
                number(content, "Index", i, kind)?;
                opt_string(content, "Data", i, kind)?;
            }
            "TIMCustomElem" => {
                customs += 1;
                opt_string(content, "Data", i, kind)?;
                text.push(opt_string(content, "Desc", i, kind)?.to_string());
                opt_string(content, "Ext", i, kind)?;
                opt_string(content, "Sound", i, kind)?;
            }
            "TIMSoundElem" => {
                string(content, "UUID", i, kind)?;
                opt_string(content, "Url", i, kind)?;
                number(content, "Size", i, kind)?;
                number(content, "Second", i, kind)?;
            }
            "TIMImageElem" => {
                string(content, "UUID", i, kind)?;
                number(content, "ImageFormat", i, kind)?;
                let infos = content
                    .get("ImageInfoArray")
                    .and_then(Value::as_array)
                    .filter(|a| !a.is_empty())
                    .ok_or_else(|| bad(i, kind, "ImageInfoArray must be a non-empty array"))?;
                for info in infos {
                    for key in ["Type", "Size", "Width", "Height"] {
                        number(info, key, i, kind)?;
                    }
                    string(info, "URL", i, kind)?;
                }
            }
            "TIMFileElem" => {
                string(content, "UUID", i, kind)?;
                opt_string(content, "Url", i, kind)?;
                number(content, "FileSize", i, kind)?;
                text.push(string(content, "FileName", i, kind)?.to_string());
            }
            "TIMVideoFileElem" => {
                string(content, "VideoUUID", i, kind)?;
                number(content, "VideoSize", i, kind)?;
                number(content, "VideoSecond", i, kind)?;
                opt_string(content, "VideoUrl", i, kind)?;
                opt_string(content, "ThumbUrl", i, kind)?;
            }
            "" => {
                return Err(ElementError::new(
                    90010,
                    format!("MsgBody[{i}].MsgType is missing"),
                ));
            }
            other => {
                return Err(ElementError::new(
                    90010,
                    format!("MsgBody[{i}].MsgType `{other}` is not a known element type"),
                ));
            }
        }
    }
    if customs > 1 {
        return Err(ElementError::new(
            90002,
            "a message may hold at most one TIMCustomElem",
        ));
    }
    Ok(text
        .into_iter()
        .filter(|t| !t.is_empty())
        .collect::<Vec<_>>()
        .join(" "))
}

fn bad(i: usize, kind: &str, what: &str) -> ElementError {
    ElementError::new(90010, format!("MsgBody[{i}] ({kind}): {what}"))
}

fn string<'a>(
    content: &'a Value,
    key: &str,
    i: usize,
    kind: &str,
) -> Result<&'a str, ElementError> {
    content
        .get(key)
        .and_then(Value::as_str)
        .ok_or_else(|| bad(i, kind, &format!("{key} must be a string")))
}

fn opt_string<'a>(
    content: &'a Value,
    key: &str,
    i: usize,
    kind: &str,
) -> Result<&'a str, ElementError> {
    match content.get(key) {
        None | Some(Value::Null) => Ok(""),
        Some(Value::String(s)) => Ok(s),
        Some(_) => Err(bad(i, kind, &format!("{key} must be a string"))),
    }
}

fn number(content: &Value, key: &str, i: usize, kind: &str) -> Result<f64, ElementError> {
    content
        .get(key)
        .and_then(Value::as_f64)
        .ok_or_else(|| bad(i, kind, &format!("{key} must be a number")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn every_documented_element_passes() {
        let body = json!([
            { "MsgType": "TIMTextElem", "MsgContent": { "Text": "你好" } },
            { "MsgType": "TIMLocationElem", "MsgContent": { "Desc": "上海", "Latitude": 31.2, "Longitude": 121.5 } },
            { "MsgType": "TIMFaceElem", "MsgContent": { "Index": 1, "Data": "smile" } },
            { "MsgType": "TIMCustomElem", "MsgContent": { "Data": "{\"customerServicePlugin\":0,\"src\":\"7\"}", "Desc": "" } },
            { "MsgType": "TIMSoundElem", "MsgContent": { "Url": "https://x/a.amr", "UUID": "u1", "Size": 6235, "Second": 1, "Download_Flag": 2 } },
            { "MsgType": "TIMImageElem", "MsgContent": { "UUID": "u2", "ImageFormat": 1, "ImageInfoArray": [
                { "Type": 1, "Size": 1853095, "Width": 2448, "Height": 3264, "URL": "https://x/0" } ] } },
            { "MsgType": "TIMFileElem", "MsgContent": { "Url": "https://x/f", "UUID": "u3", "FileSize": 17, "FileName": "发票.pdf", "Download_Flag": 2 } },
            { "MsgType": "TIMVideoFileElem", "MsgContent": { "VideoUrl": "https://x/v", "VideoUUID": "u4", "VideoSize": 1, "VideoSecond": 5,
                "VideoFormat": "mp4", "VideoDownloadFlag": 2, "ThumbUrl": "https://x/t", "ThumbUUID": "u5" } }
        ]);
        assert_eq!(check(Some(&body)).unwrap(), "你好 上海 发票.pdf");
    }

    #[test]
    fn each_mistake_has_its_code() {
        assert_eq!(check(None).unwrap_err().code, 90007);
        assert_eq!(check(Some(&json!({}))).unwrap_err().code, 90007);
        assert_eq!(check(Some(&json!([]))).unwrap_err().code, 90002);
        assert_eq!(
            check(Some(&json!([{ "MsgType": "TIMTextElem" }])))
                .unwrap_err()
                .code,
            90010
        );
        assert_eq!(
            check(Some(
                &json!([{ "MsgType": "TIMTextElem", "MsgContent": { "Text": 5 } }])
            ))
            .unwrap_err()
            .code,
            90010
        );
        assert_eq!(
            check(Some(
                &json!([{ "MsgType": "TIMHologram", "MsgContent": {} }])
            ))
            .unwrap_err()
            .code,
            90010
        );
        let two_customs = json!([
            { "MsgType": "TIMCustomElem", "MsgContent": { "Data": "a" } },
            { "MsgType": "TIMCustomElem", "MsgContent": { "Data": "b" } }
        ]);
        assert_eq!(check(Some(&two_customs)).unwrap_err().code, 90002);
        let image_without_url = json!([{ "MsgType": "TIMImageElem", "MsgContent": { "UUID": "u", "ImageFormat": 1,
            "ImageInfoArray": [{ "Type": 1, "Size": 1, "Width": 1, "Height": 1 }] } }]);
        let err = check(Some(&image_without_url)).unwrap_err();
        assert_eq!(err.code, 90010);
        assert!(err.info.contains("URL"), "{}", err.info);
    }
}
