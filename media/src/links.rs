//! Links to media. Messages store canonical paths (`/media/{tenant}/{file}`); a path becomes a
//! link, signed with the tenant's app secret and an expiry, each time a message leaves Kefu
//! (socket deliveries, history, callbacks, console APIs). Links sent back in messages are
//! turned back into paths before storing. Pure functions: no storage, no I/O.

use hmac::{Hmac, Mac};
use serde_json::Value;
use sha2::Sha256;

/// Where canonical paths start.
const PREFIX: &str = "/media/";

/// Whether stored text may hold media paths, i.e. needs [`Links::sign`] before it leaves Kefu;
/// anything else can be sent as stored, unparsed.
pub fn may_hold_media(stored: &str) -> bool {
    stored.contains(PREFIX)
}

/// Links are rounded up to this, so the same file keeps the same link for a while and
/// browsers can cache it.
const EXPIRY_STEP_SECS: i64 = 600;

#[derive(Debug, Clone)]
pub struct Links {
    /// Put before `/media/…`, e.g. `https://kefu.example.com`; empty gives relative links,
    /// which browsers on the same host resolve.
    pub public_url: String,
    /// How long a link works, at least.
    pub ttl_secs: i64,
}

impl Links {
    pub fn new(public_url: &str, ttl_secs: i64) -> Self {
        Self {
            public_url: public_url.trim_end_matches('/').to_string(),
            ttl_secs,
        }
    }

    /// Turns links to our own media back into canonical paths, so what is stored never
    /// carries an expiry or a signature.
    pub fn canonicalize(&self, body: Option<&mut Value>) {
        each_url(body, &mut |url| {
            let rest = if self.public_url.is_empty() {
                url.as_str()
            } else {
                url.strip_prefix(&self.public_url)
                    .filter(|r| r.starts_with(PREFIX))
                    .unwrap_or(url.as_str())
            };
            if rest.starts_with(PREFIX) {
                let path = rest.split(['?', '#']).next().unwrap_or(rest).to_string();
                *url = path;
            }
        });
    }

    /// Replaces `tenant`'s canonical paths in `body` with signed links.
    pub fn sign(&self, tenant: i64, secret: &str, body: &mut Value, now_ms: i64) {
        let own = format!("{PREFIX}{tenant}/");
        let exp = self.expiry(now_ms);
        each_url(Some(body), &mut |url| {
            if url.starts_with(&own) && !url.contains('?') {
                *url = self.link(secret, url, exp);
            }
        });
    }

    /// When links signed at `now_ms` stop working (Unix seconds).
    pub fn expiry(&self, now_ms: i64) -> i64 {
        let at_least = now_ms / 1000 + self.ttl_secs;
        (at_least + EXPIRY_STEP_SECS - 1) / EXPIRY_STEP_SECS * EXPIRY_STEP_SECS
    }

    fn link(&self, secret: &str, path: &str, exp: i64) -> String {
        format!(
            "{}{path}?exp={exp}&sig={}",
            self.public_url,
            signature(secret, path, exp)
        )
    }
}

fn mac(secret: &str, path: &str, exp: i64) -> Hmac<Sha256> {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("any key length");
    mac.update(b"kefu-media\n");
    mac.update(path.as_bytes());
    mac.update(b"\n");
    mac.update(exp.to_string().as_bytes());
    mac
}

/// The first 16 bytes of HMAC-SHA256(secret, "kefu-media\n{path}\n{exp}"), in hex.
pub fn signature(secret: &str, path: &str, exp: i64) -> String {
    hex::encode(&mac(secret, path, exp).finalize().into_bytes()[..16])
}

/// Whether `sig` signs `path` until `exp` under `secret`, compared in constant time.
pub fn signature_holds(secret: &str, path: &str, exp: i64, sig: &str) -> bool {
    match hex::decode(sig) {
        Ok(bytes) if bytes.len() == 16 => {
            mac(secret, path, exp).verify_truncated_left(&bytes).is_ok()
        }
        _ => false,
    }
}

/// Calls `f` on every link field of a `MsgBody`: `URL` of image infos, `Url` of sound and file,
/// `VideoUrl` and `ThumbUrl` of video.
fn each_url(body: Option<&mut Value>, f: &mut impl FnMut(&mut String)) {
    let Some(Value::Array(elements)) = body else {
        return;
    };
    for element in elements {
        let Some(content) = element.get_mut("MsgContent") else {
            continue;
        };
        for key in ["Url", "VideoUrl", "ThumbUrl"] {
            if let Some(Value::String(url)) = content.get_mut(key) {
                f(url);
            }
        }
        if let Some(Value::Array(infos)) = content.get_mut("ImageInfoArray") {
            for info in infos {
                if let Some(Value::String(url)) = info.get_mut("URL") {
                    f(url);
                }
            }
        }
    }
}
