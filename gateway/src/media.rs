//! Media over HTTP: `POST /im/media` takes an upload from a buyer (UserSig) or an agent
//! (console token) and answers the message element to send; `GET /media/{tenant}/{file}`
//! serves a file to whoever holds a link signed for it.
//!
//! Messages store media as canonical paths (`/media/{tenant}/{file}`), never as links: a link
//! is signed with the tenant's IM secret and an expiry each time a message leaves the gateway
//! (socket deliveries, history, callbacks). A link signed for one tenant's file cannot be
//! turned into another's, and rotating the secret revokes every link handed out.

use crate::GatewayState;
use crate::envelope::ImError;
use kefu_domain::TenantId;
use kefu_media::inspect::{Image, Upload, Variant, Voice};
use kefu_media::links::{Links, signature_holds};
use kefu_media::{MediaError, ObjectStore, inspect};
use poem::http::{StatusCode, header};
use poem::web::{Data, Multipart, Path};
use poem::{Body, FromRequest, IntoResponse, Request, RequestBody, Response, handler};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use std::sync::Arc;

/// Room for multipart framing around the largest accepted file.
const MAX_REQUEST: usize = kefu_media::inspect::MAX_VOICE_BYTES + 64 * 1024;

/// Where media lives and how links to it are written.
pub struct Media {
    pub objects: Arc<dyn ObjectStore>,
    pub links: Links,
}

impl Media {
    pub fn new(objects: Arc<dyn ObjectStore>, public_url: &str, link_ttl_secs: i64) -> Self {
        Self {
            objects,
            links: Links::new(public_url, link_ttl_secs),
        }
    }

    /// Local-disk media in a fresh folder under the system's temporary directory, with
    /// relative links valid for an hour: for tests and benchmarks.
    pub fn in_temp_dir() -> Arc<Self> {
        let dir = std::env::temp_dir().join(format!("kefu-media-{:016x}", rand::random::<u64>()));
        Arc::new(Self::new(
            Arc::new(kefu_media::LocalDisk::new(dir)),
            "",
            3600,
        ))
    }

    /// See [`Links::canonicalize`].
    pub fn canonicalize(&self, body: Option<&mut Value>) {
        self.links.canonicalize(body)
    }

    /// See [`Links::sign`].
    pub fn sign(&self, tenant: TenantId, secret: &str, body: &mut Value, now_ms: i64) {
        self.links.sign(tenant.0, secret, body, now_ms)
    }

    fn expiry(&self, now_ms: i64) -> i64 {
        self.links.expiry(now_ms)
    }
}

impl GatewayState {
    /// A stored body as it goes out: parsed, with the tenant's media links signed. The app is
    /// read only when the body holds media.
    pub(crate) async fn outgoing_body(&self, tenant: TenantId, stored: &str) -> Value {
        let mut body = serde_json::from_str(stored).unwrap_or(Value::Array(vec![]));
        if kefu_media::links::may_hold_media(stored) {
            match kefu_engine::cache::im_app(&self.store, tenant).await {
                Ok(Some(app)) => {
                    self.media
                        .sign(tenant, &app.secret_key, &mut body, self.clock.now())
                }
                Ok(None) => {}
                Err(e) => tracing::warn!(error = %e, "media links left unsigned"),
            }
        }
        body
    }
}

fn failure(status: StatusCode, e: &ImError) -> Response {
    (status, crate::envelope::fail(e)).into_response()
}

fn media_error(e: MediaError) -> Response {
    let (status, code) = match e {
        MediaError::TooLarge { .. } => (StatusCode::PAYLOAD_TOO_LARGE, 91002),
        MediaError::Unsupported => (StatusCode::UNSUPPORTED_MEDIA_TYPE, 91001),
        MediaError::Empty | MediaError::Corrupt { .. } => (StatusCode::BAD_REQUEST, 91003),
    };
    failure(status, &ImError::new(code, e.to_string()))
}

/// `POST /im/media`: the file as the whole body, or as the `file` part of a
/// `multipart/form-data` form. Authenticated like the socket: `sdkappid`, `identifier` and
/// `usersig` in the query, or `Authorization: Bearer {console token}`.
#[handler]
pub async fn upload(req: &Request, body: Body, state: Data<&GatewayState>) -> Response {
    let pairs = req
        .uri()
        .query()
        .map(crate::rest::url_pairs)
        .unwrap_or_default();
    let q = |name: &str| crate::rest::query(&pairs, name).map(str::to_string);
    let token = req
        .header(header::AUTHORIZATION)
        .and_then(|h| h.strip_prefix("Bearer "))
        .map(|t| t.trim().to_string());
    let sdkappid = match q("sdkappid").map(|s| s.trim().parse::<i64>()) {
        Some(Err(_)) => {
            return failure(
                StatusCode::UNAUTHORIZED,
                &ImError::new(60006, "sdkappid must be a number"),
            );
        }
        Some(Ok(n)) => Some(n),
        None => None,
    };
    let peer =
        match crate::socket::authenticate(&state, sdkappid, q("identifier"), q("usersig"), token)
            .await
        {
            Ok(peer) => peer,
            Err(e) => return failure(StatusCode::UNAUTHORIZED, &e),
        };
    let bytes = match read_upload(req, body).await {
        Ok(bytes) => bytes,
        Err(response) => return response,
    };
    let inspected = match tokio::task::spawn_blocking(move || inspect(bytes)).await {
        Ok(Ok(upload)) => upload,
        Ok(Err(e)) => return media_error(e),
        Err(_) => {
            return media_error(MediaError::Corrupt {
                what: "media",
                detail: "the decoder gave up on it".into(),
            });
        }
    };
    let element = match store(&state, peer.tenant, inspected).await {
        Ok(element) => element,
        Err(e) => {
            tracing::error!(error = %e, "storing media failed");
            return failure(
                StatusCode::SERVICE_UNAVAILABLE,
                &ImError::new(70500, "media storage is unavailable; retry shortly"),
            );
        }
    };
    let mut body = json!([element]);
    let secret = match kefu_engine::cache::im_app(&state.store, peer.tenant).await {
        Ok(Some(app)) => app.secret_key.clone(),
        _ => {
            return failure(
                StatusCode::SERVICE_UNAVAILABLE,
                &ImError::internal("app missing after upload"),
            );
        }
    };
    let now = state.clock.now();
    state.media.sign(peer.tenant, &secret, &mut body, now);
    crate::envelope::ok(json!({
        "MsgBody": body,
        "LinkExpires": state.media.expiry(now),
    }))
    .into_response()
}

async fn read_upload(req: &Request, body: Body) -> Result<Vec<u8>, Response> {
    let too_large = || {
        media_error(MediaError::TooLarge {
            what: "an upload",
            limit_mb: MAX_REQUEST / (1024 * 1024),
            size_mb: MAX_REQUEST as f64 / (1024.0 * 1024.0),
        })
    };
    if req
        .header(header::CONTENT_LENGTH)
        .and_then(|l| l.parse::<usize>().ok())
        .is_some_and(|l| l > MAX_REQUEST)
    {
        return Err(too_large());
    }
    let raw = body.into_bytes_limit(MAX_REQUEST).await.map_err(|e| {
        if matches!(e, poem::error::ReadBodyError::PayloadTooLarge) {
            too_large()
        } else {
            failure(
                StatusCode::BAD_REQUEST,
                &ImError::new(91003, format!("the upload could not be read: {e}")),
            )
        }
    })?;
    let multipart = req
        .content_type()
        .is_some_and(|t| t.starts_with("multipart/form-data"));
    if !multipart {
        return Ok(raw.to_vec());
    }
    let bad = |what: String| failure(StatusCode::BAD_REQUEST, &ImError::new(91003, what));
    let mut form = Multipart::from_request(req, &mut RequestBody::new(Body::from(raw)))
        .await
        .map_err(|e| bad(format!("the form could not be read: {e}")))?;
    while let Some(field) = form
        .next_field()
        .await
        .map_err(|e| bad(format!("the form could not be read: {e}")))?
    {
        if field.name() == Some("file") {
            return field
                .bytes()
                .await
                .map_err(|e| bad(format!("the file part could not be read: {e}")));
        }
    }
    Err(bad(
        "the form has no `file` part; send the file as `file`".into()
    ))
}

/// Stores the files of an upload and returns its message element with canonical paths.
async fn store(
    state: &GatewayState,
    tenant: TenantId,
    inspected: Upload,
) -> Result<Value, kefu_media::ObjectError> {
    let objects = &state.media.objects;
    match inspected {
        Upload::Image(Image {
            kind,
            original,
            large,
            thumbnail,
        }) => {
            let uuid = content_id(&original.bytes);
            let ext = kind.extension();
            let put = async |suffix: &str, v: &Variant| {
                let key = format!("{tenant}/{uuid}{suffix}.{ext}");
                objects.put(&key, v.bytes.clone()).await?;
                Ok::<_, kefu_media::ObjectError>(json!({
                    "Size": v.bytes.len(),
                    "Width": v.width,
                    "Height": v.height,
                    "URL": format!("/media/{key}"),
                }))
            };
            let mut original_info = put("", &original).await?;
            let mut large_info = match &large {
                Some(v) => put("_720", v).await?,
                None => original_info.clone(),
            };
            let mut thumb_info = match &thumbnail {
                Some(v) => put("_198", v).await?,
                None => large_info.clone(),
            };
            original_info["Type"] = json!(1);
            large_info["Type"] = json!(2);
            thumb_info["Type"] = json!(3);
            Ok(json!({
                "MsgType": "TIMImageElem",
                "MsgContent": {
                    "UUID": uuid,
                    "ImageFormat": kind.image_format(),
                    "ImageInfoArray": [original_info, large_info, thumb_info],
                }
            }))
        }
        Upload::Voice(Voice {
            kind,
            bytes,
            millis,
        }) => {
            let uuid = content_id(&bytes);
            let key = format!("{tenant}/{uuid}.{}", kind.extension());
            let size = bytes.len();
            objects.put(&key, bytes).await?;
            Ok(json!({
                "MsgType": "TIMSoundElem",
                "MsgContent": {
                    "UUID": uuid,
                    "Url": format!("/media/{key}"),
                    "Size": size,
                    // Whole seconds as the protocol counts them; at least 1 for any sound.
                    "Second": millis.div_ceil(1000).max(1),
                    "Download_Flag": 2,
                }
            }))
        }
    }
}

/// Names a file by its content: the same upload twice is stored once.
fn content_id(bytes: &[u8]) -> String {
    hex::encode(&Sha256::digest(bytes)[..16])
}

#[derive(serde::Deserialize)]
pub struct LinkQuery {
    exp: Option<i64>,
    sig: Option<String>,
}

/// `GET /media/{tenant}/{file}?exp=…&sig=…`.
#[handler]
pub async fn serve(
    Path((tenant, file)): Path<(String, String)>,
    poem::web::Query(link): poem::web::Query<LinkQuery>,
    state: Data<&GatewayState>,
) -> Response {
    let deny = |status: StatusCode, why: &str| (status, why.to_string()).into_response();
    let (Some(exp), Some(sig)) = (link.exp, link.sig) else {
        return deny(
            StatusCode::FORBIDDEN,
            "this media link is not signed; take links from messages as the gateway sends them",
        );
    };
    let Ok(tenant_id) = tenant.parse::<i64>() else {
        return deny(StatusCode::NOT_FOUND, "no such media");
    };
    let tenant_id = TenantId::from(tenant_id);
    let now = state.clock.now() / 1000;
    if exp < now {
        return deny(
            StatusCode::FORBIDDEN,
            "this media link has expired; reload the conversation for a fresh one",
        );
    }
    let path = format!("/media/{tenant}/{file}");
    let secret = match kefu_engine::cache::im_app(&state.store, tenant_id).await {
        Ok(Some(app)) => app.secret_key.clone(),
        Ok(None) => return deny(StatusCode::NOT_FOUND, "no such media"),
        Err(e) => {
            tracing::error!(error = %e, "media lookup failed");
            return deny(StatusCode::SERVICE_UNAVAILABLE, "retry shortly");
        }
    };
    if !signature_holds(&secret, &path, exp, &sig) {
        return deny(
            StatusCode::FORBIDDEN,
            "this media link is not valid (altered, or signed before the app secret was rotated)",
        );
    }
    match state.media.objects.get(&format!("{tenant}/{file}")).await {
        Ok(Some(object)) => Response::builder()
            .header(header::CONTENT_TYPE, object.content_type)
            .header(
                header::CACHE_CONTROL,
                format!("private, max-age={}", exp - now),
            )
            .header("X-Content-Type-Options", "nosniff")
            .header(header::CONTENT_DISPOSITION, "inline")
            .body(object.bytes),
        Ok(None) | Err(kefu_media::ObjectError::BadKey(_)) => {
            deny(StatusCode::NOT_FOUND, "no such media")
        }
        Err(e) => {
            tracing::error!(error = %e, "reading media failed");
            deny(
                StatusCode::SERVICE_UNAVAILABLE,
                "media storage is unavailable; retry shortly",
            )
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn media(public: &str) -> Media {
        Media::new(
            Arc::new(kefu_media::LocalDisk::new("/nonexistent")),
            public,
            3600,
        )
    }

    #[test]
    fn links_are_signed_for_the_own_tenant_only_and_stored_canonical() {
        let m = media("https://kefu.example.com/");
        let mut body = json!([
            {"MsgType": "TIMImageElem", "MsgContent": {"UUID": "u", "ImageFormat": 1,
              "ImageInfoArray": [{"Type": 1, "URL": "/media/7/u.jpg"}, {"Type": 3, "URL": "/media/8/u.jpg"}]}},
            {"MsgType": "TIMSoundElem", "MsgContent": {"Url": "https://elsewhere.example/media/7/x.mp3"}}
        ]);
        m.sign(TenantId::from(7), "secret", &mut body, 1_000_000);
        let own = body[0]["MsgContent"]["ImageInfoArray"][0]["URL"]
            .as_str()
            .unwrap()
            .to_string();
        assert!(
            own.starts_with("https://kefu.example.com/media/7/u.jpg?exp=4800&sig="),
            "{own}"
        );
        assert_eq!(
            body[0]["MsgContent"]["ImageInfoArray"][1]["URL"],
            "/media/8/u.jpg"
        );
        assert_eq!(
            body[1]["MsgContent"]["Url"],
            "https://elsewhere.example/media/7/x.mp3"
        );
        let sig = own.rsplit("sig=").next().unwrap();
        assert!(signature_holds("secret", "/media/7/u.jpg", 4800, sig));
        assert!(!signature_holds("secret", "/media/8/u.jpg", 4800, sig));
        assert!(!signature_holds("secret", "/media/7/u.jpg", 4801, sig));
        assert!(!signature_holds("rotated", "/media/7/u.jpg", 4800, sig));
        m.canonicalize(Some(&mut body));
        assert_eq!(
            body[0]["MsgContent"]["ImageInfoArray"][0]["URL"],
            "/media/7/u.jpg"
        );
        assert_eq!(
            body[1]["MsgContent"]["Url"],
            "https://elsewhere.example/media/7/x.mp3"
        );
    }

    #[test]
    fn link_expiry_is_rounded_up_so_links_repeat_for_a_while() {
        let m = media("");
        assert_eq!(m.expiry(0), 3600);
        assert_eq!(m.expiry(1_000), 4200);
        assert_eq!(m.expiry(599_000), 4200);
    }
}
