//! UserSig, version 2 of Tencent's TLS signature: what IM clients present to prove who they
//! are.
//!
//! A UserSig is zlib-compressed JSON, base64-encoded with `+/=` replaced by `*-_`. The JSON
//! carries the identifier, the SDKAppID, the signing time, the validity and an HMAC-SHA256 of
//! those fields keyed with the app's secret (the secret's text, not its hex-decoded bytes).
//! Generators differ in key order, spacing and deflate stream, so a UserSig is verified by
//! decoding it and recomputing the HMAC, never by comparing strings.

use base64::Engine;
use base64::engine::DecodePaddingMode;
use base64::engine::general_purpose::{GeneralPurpose, GeneralPurposeConfig, STANDARD};
use flate2::Compression;
use flate2::read::ZlibDecoder;
use flate2::write::ZlibEncoder;
use hmac::{Hmac, Mac};
use serde_json::{Value, json};
use sha2::Sha256;
use std::io::{Read, Write};

/// Why a UserSig was refused, with the error code Tencent IM answers for it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SigError {
    #[error("UserSig expired; generate a new one")]
    Expired,
    #[error("UserSig could not be parsed; it may be truncated or not a v2 UserSig")]
    Malformed,
    #[error("UserSig verification failed; it was signed with another key")]
    BadSignature,
    #[error("UserSig was generated for another identifier")]
    IdentifierMismatch,
    #[error("UserSig was generated for another SDKAppID")]
    SdkAppIdMismatch,
}

impl SigError {
    /// The Tencent IM error code for this failure.
    pub fn code(&self) -> i64 {
        match self {
            SigError::Expired => 70001,
            SigError::Malformed => 70003,
            SigError::BadSignature => 70009,
            SigError::IdentifierMismatch => 70013,
            SigError::SdkAppIdMismatch => 70014,
        }
    }
}

/// The fields of a decoded UserSig.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Claims {
    pub identifier: String,
    pub sdk_app_id: u64,
    /// Unix seconds when it was signed.
    pub time: i64,
    /// Seconds of validity after `time`.
    pub expire: i64,
    /// Only in TRTC privilege keys; IM UserSigs have none.
    pub userbuf: Option<Vec<u8>>,
    pub sig: String,
}

impl Claims {
    /// Unix seconds after which it is expired.
    pub fn expires_at(&self) -> i64 {
        self.time.saturating_add(self.expire)
    }
}

/// The exact text that is signed.
pub fn string_to_sign(
    identifier: &str,
    sdk_app_id: u64,
    time: i64,
    expire: i64,
    userbuf: Option<&[u8]>,
) -> String {
    let mut s = format!(
        "TLS.identifier:{identifier}\nTLS.sdkappid:{sdk_app_id}\nTLS.time:{time}\nTLS.expire:{expire}\n"
    );
    if let Some(buf) = userbuf {
        s.push_str(&format!("TLS.userbuf:{}\n", STANDARD.encode(buf)));
    }
    s
}

fn hmac(key: &str, message: &str) -> Hmac<Sha256> {
    let mut mac =
        Hmac::<Sha256>::new_from_slice(key.as_bytes()).expect("HMAC takes keys of any length");
    mac.update(message.as_bytes());
    mac
}

/// The `TLS.sig` value: standard base64 of the HMAC-SHA256.
pub fn sign(
    key: &str,
    identifier: &str,
    sdk_app_id: u64,
    time: i64,
    expire: i64,
    userbuf: Option<&[u8]>,
) -> String {
    let mac = hmac(
        key,
        &string_to_sign(identifier, sdk_app_id, time, expire, userbuf),
    );
    STANDARD.encode(mac.finalize().into_bytes())
}

/// Generates a UserSig signed at `time` (Unix seconds) and valid for `expire` seconds.
pub fn generate(sdk_app_id: u64, key: &str, identifier: &str, expire: i64, time: i64) -> String {
    let sig = sign(key, identifier, sdk_app_id, time, expire, None);
    let doc = json!({
        "TLS.ver": "2.0",
        "TLS.identifier": identifier,
        "TLS.sdkappid": sdk_app_id,
        "TLS.time": time,
        "TLS.expire": expire,
        "TLS.sig": sig,
    });
    let mut z = ZlibEncoder::new(Vec::new(), Compression::default());
    z.write_all(doc.to_string().as_bytes())
        .expect("writing to memory");
    let compressed = z.finish().expect("writing to memory");
    STANDARD
        .encode(compressed)
        .replace('+', "*")
        .replace('/', "-")
        .replace('=', "_")
}

/// Base64 that accepts the padding present or absent: clients trim it in URLs.
const LENIENT: GeneralPurpose = GeneralPurpose::new(
    &base64::alphabet::STANDARD,
    GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
);

/// Decodes a UserSig into its claims without checking the signature.
pub fn decode(usersig: &str) -> Result<Claims, SigError> {
    let b64: String = usersig
        .trim()
        .chars()
        .map(|c| match c {
            '*' => '+',
            '-' => '/',
            '_' => '=',
            c => c,
        })
        .collect();
    let compressed = LENIENT
        .decode(b64.trim_end_matches('='))
        .map_err(|_| SigError::Malformed)?;
    let mut text = String::new();
    // A UserSig is a few hundred bytes; refuse to inflate anything suspiciously large.
    ZlibDecoder::new(&compressed[..])
        .take(16 * 1024)
        .read_to_string(&mut text)
        .map_err(|_| SigError::Malformed)?;
    let doc: Value = serde_json::from_str(&text).map_err(|_| SigError::Malformed)?;
    if doc.get("TLS.ver").and_then(Value::as_str) != Some("2.0") {
        return Err(SigError::Malformed);
    }
    let int = |k: &str| {
        doc.get(k)
            .and_then(Value::as_i64)
            .ok_or(SigError::Malformed)
    };
    let text_field = |k: &str| {
        doc.get(k)
            .and_then(Value::as_str)
            .map(str::to_string)
            .ok_or(SigError::Malformed)
    };
    let sdk_app_id = doc
        .get("TLS.sdkappid")
        .and_then(Value::as_u64)
        .ok_or(SigError::Malformed)?;
    let userbuf = match doc.get("TLS.userbuf") {
        None => None,
        Some(v) => Some(
            STANDARD
                .decode(v.as_str().ok_or(SigError::Malformed)?)
                .map_err(|_| SigError::Malformed)?,
        ),
    };
    Ok(Claims {
        identifier: text_field("TLS.identifier")?,
        sdk_app_id,
        time: int("TLS.time")?,
        expire: int("TLS.expire")?,
        userbuf,
        sig: text_field("TLS.sig")?,
    })
}

/// Verifies a UserSig for `(sdk_app_id, identifier)` at `now` (Unix seconds) against the
/// app's secret `key`. Returns the claims so callers can compare the signing time (for
/// example with a kick).
pub fn verify(
    usersig: &str,
    sdk_app_id: u64,
    identifier: &str,
    key: &str,
    now: i64,
) -> Result<Claims, SigError> {
    let claims = decode(usersig)?;
    if claims.sdk_app_id != sdk_app_id {
        return Err(SigError::SdkAppIdMismatch);
    }
    if claims.identifier != identifier {
        return Err(SigError::IdentifierMismatch);
    }
    // IM UserSigs carry no userbuf; one that does is a TRTC key, not a login.
    if claims.userbuf.is_some() {
        return Err(SigError::Malformed);
    }
    let expected = STANDARD
        .decode(&claims.sig)
        .map_err(|_| SigError::BadSignature)?;
    hmac(
        key,
        &string_to_sign(
            &claims.identifier,
            claims.sdk_app_id,
            claims.time,
            claims.expire,
            None,
        ),
    )
    .verify_slice(&expected)
    .map_err(|_| SigError::BadSignature)?;
    if now > claims.expires_at() {
        return Err(SigError::Expired);
    }
    Ok(claims)
}

#[cfg(test)]
mod tests {
    use super::*;

    // The vectors from shared/research/protocol.md §3.3.
    const KEY: &str = "5bd2850fff3ecb11d7c805251c51ee463a25727bddc2385f3fa8bfee1bb93b5e";
    const APP: u64 = 1400000000;
    const T: i64 = 1700000000;
    const A_NODE: &str = "eJyrVgrxCdYrSy1SslIy0jNQ0gHzM1NS80oy0zLBwhWZiflZpXlQqeKU7MSCgswUJStDEwMogMiUZOamKlkZmqOKplYUZBalKllZmJnAhIoz05WslIL93EzccsOcA0qT8yOKnfwLksLcjNPcnNNMzb0Ccg1Sq6IMs1LDPH1ywpJtlWoBGRkxcA__";
    const A_PYTHON: &str = "eJyrVgrxCdYrSy1SslIy0jNQ0gHzM1NS80oy0zLBwhWZiflZpXlQqeKU7MSCgswUJStDEwMogMiUZOamAkXNUUVTKwoyi4DiFmYmMKHizHSgscF*biZuuWHOAaXJ*RHFTv4FSWFuxmluzmmm5l4BuQapVVGGWalhnj45Ycm2SrUAGRkxcA__";
    const B_NODE: &str = "eJyrVgrxCdYrSy1SslIy0jNQ0gHzM1NS80oy0zLBwokpuZl5mcUlRYkl*UVQBcUp2YkFBZkpSlaGJgZQAJEpycxNVbIyNEcVTa0oyCwCiZuamhrBRYsz05WslLycqyoS89ws-EJCIhJLTXK1jTIsy8vM0yO98ir9sotzDSpyDf1cI0KNzE1slWoBQr40pw__";

    #[test]
    fn vector_a_signs_as_documented() {
        assert_eq!(
            string_to_sign("xiaojun", APP, T, 86400, None),
            "TLS.identifier:xiaojun\nTLS.sdkappid:1400000000\nTLS.time:1700000000\nTLS.expire:86400\n"
        );
        assert_eq!(
            sign(KEY, "xiaojun", APP, T, 86400, None),
            "SNF4FmVCPucoXsBOpbVF3fFCf57JPm0ezZ1jeVILlVc="
        );
    }

    #[test]
    fn vector_a_from_node_and_python_both_verify() {
        for usersig in [A_NODE, A_PYTHON] {
            let claims = verify(usersig, APP, "xiaojun", KEY, T).unwrap();
            assert_eq!((claims.time, claims.expire), (T, 86400));
            assert_eq!(claims.sig, "SNF4FmVCPucoXsBOpbVF3fFCf57JPm0ezZ1jeVILlVc=");
        }
    }

    #[test]
    fn vector_a_expires_after_a_day() {
        assert!(verify(A_NODE, APP, "xiaojun", KEY, T + 86400).is_ok());
        assert_eq!(
            verify(A_NODE, APP, "xiaojun", KEY, 1700086401),
            Err(SigError::Expired)
        );
        assert_eq!(SigError::Expired.code(), 70001);
    }

    #[test]
    fn vector_b_is_an_admin_sig_for_180_days() {
        let claims = verify(B_NODE, APP, "administrator", KEY, T + 15552000).unwrap();
        assert_eq!(claims.sig, "JCzxanF8NTTXau4m+2h9wv7gYJnyNksm0xm1NEXU274=");
        assert_eq!(
            verify(B_NODE, APP, "administrator", KEY, T + 15552001),
            Err(SigError::Expired)
        );
    }

    #[test]
    fn vector_c_signs_its_userbuf() {
        let userbuf = [
            0x00, 0x00, 0x07, 0x78, 0x69, 0x61, 0x6f, 0x6a, 0x75, 0x6e, 0x53, 0x72, 0x4e, 0x00,
            0x00, 0x00, 0x27, 0x10, 0x65, 0x55, 0x42, 0x80, 0x00, 0x00, 0x00, 0xff, 0x00, 0x00,
            0x00, 0x00,
        ];
        assert!(
            string_to_sign("xiaojun", APP, T, 86400, Some(&userbuf))
                .ends_with("TLS.userbuf:AAAHeGlhb2p1blNyTgAAACcQZVVCgAAAAP8AAAAA\n")
        );
        assert_eq!(
            sign(KEY, "xiaojun", APP, T, 86400, Some(&userbuf)),
            "m5WPLBP4ZpMhjE/+GSzmHQEKbLMxsvWih1uhJTQ0sPw="
        );
    }

    #[test]
    fn each_mismatch_has_its_code() {
        assert_eq!(
            verify(A_NODE, 1400000001, "xiaojun", KEY, T)
                .unwrap_err()
                .code(),
            70014
        );
        assert_eq!(
            verify(A_NODE, APP, "someone", KEY, T).unwrap_err().code(),
            70013
        );
        let other_key = "0".repeat(64);
        assert_eq!(
            verify(A_NODE, APP, "xiaojun", &other_key, T)
                .unwrap_err()
                .code(),
            70009
        );
        assert_eq!(
            verify(&A_NODE[..40], APP, "xiaojun", KEY, T)
                .unwrap_err()
                .code(),
            70003,
            "truncated"
        );
        assert_eq!(
            verify("not a usersig", APP, "xiaojun", KEY, T)
                .unwrap_err()
                .code(),
            70003
        );
        assert_eq!(
            verify("", APP, "xiaojun", KEY, T).unwrap_err().code(),
            70003
        );
    }

    #[test]
    fn any_key_order_and_spacing_is_accepted() {
        // Python's layout: different order, spaces after separators.
        let doc = format!(
            "{{\"TLS.sig\": \"{}\", \"TLS.expire\": 86400, \"TLS.time\": {T}, \"TLS.sdkappid\": {APP}, \"TLS.identifier\": \"xiaojun\", \"TLS.ver\": \"2.0\"}}",
            sign(KEY, "xiaojun", APP, T, 86400, None)
        );
        let mut z = ZlibEncoder::new(Vec::new(), Compression::best());
        z.write_all(doc.as_bytes()).unwrap();
        let usersig = STANDARD
            .encode(z.finish().unwrap())
            .replace('+', "*")
            .replace('/', "-")
            .replace('=', "_");
        assert!(verify(&usersig, APP, "xiaojun", KEY, T).is_ok());
        // Padding trimmed, as some URL builders do.
        assert!(verify(usersig.trim_end_matches('_'), APP, "xiaojun", KEY, T).is_ok());
    }

    #[test]
    fn generated_sigs_round_trip_and_a_tampered_field_fails() {
        let usersig = generate(APP, KEY, "buyer_1", 3600, T);
        assert!(
            usersig
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "*-_".contains(c))
        );
        let claims = verify(&usersig, APP, "buyer_1", KEY, T + 10).unwrap();
        assert_eq!(claims.sig, sign(KEY, "buyer_1", APP, T, 3600, None));
        // Re-sign the JSON with a longer expiry but the old signature.
        let doc = format!(
            "{{\"TLS.ver\":\"2.0\",\"TLS.identifier\":\"buyer_1\",\"TLS.sdkappid\":{APP},\"TLS.time\":{T},\"TLS.expire\":999999,\"TLS.sig\":\"{}\"}}",
            claims.sig
        );
        let mut z = ZlibEncoder::new(Vec::new(), Compression::default());
        z.write_all(doc.as_bytes()).unwrap();
        let forged = STANDARD
            .encode(z.finish().unwrap())
            .replace('+', "*")
            .replace('/', "-")
            .replace('=', "_");
        assert_eq!(
            verify(&forged, APP, "buyer_1", KEY, T).unwrap_err(),
            SigError::BadSignature
        );
    }
}

/// The signature of a buyer link (`/chat/{tenant}?buyer=…&expires=…&sig=…`): lower-case hex
/// HMAC-SHA256, keyed with the app's secret key, of `"{sdkappid}\n{buyer}\n{expires}"`.
/// A tenant's back end computes it to send a buyer into Kefu's chat page without minting a
/// UserSig itself; Kefu checks it in constant time ([`verify_link`]).
pub fn link_signature(key: &str, sdk_app_id: u64, buyer: &str, expires: i64) -> String {
    hex::encode(
        link_mac(key, sdk_app_id, buyer, expires)
            .finalize()
            .into_bytes(),
    )
}

/// Whether `sig` is the link signature of `buyer` and `expires`.
pub fn verify_link(key: &str, sdk_app_id: u64, buyer: &str, expires: i64, sig: &str) -> bool {
    hex::decode(sig).is_ok_and(|given| {
        link_mac(key, sdk_app_id, buyer, expires)
            .verify_slice(&given)
            .is_ok()
    })
}

fn link_mac(key: &str, sdk_app_id: u64, buyer: &str, expires: i64) -> Hmac<Sha256> {
    let mut mac = Hmac::<Sha256>::new_from_slice(key.as_bytes()).expect("HMAC takes any key");
    mac.update(format!("{sdk_app_id}\n{buyer}\n{expires}").as_bytes());
    mac
}

#[cfg(test)]
mod link_tests {
    use super::*;

    #[test]
    fn a_link_verifies_and_any_change_does_not() {
        let sig = link_signature("k", 1400000000, "buyer_1", 1_800_000_000);
        assert_eq!(sig.len(), 64);
        assert!(verify_link("k", 1400000000, "buyer_1", 1_800_000_000, &sig));
        assert!(!verify_link(
            "k",
            1400000000,
            "buyer_2",
            1_800_000_000,
            &sig
        ));
        assert!(!verify_link(
            "k",
            1400000000,
            "buyer_1",
            1_800_000_001,
            &sig
        ));
        assert!(!verify_link(
            "x",
            1400000000,
            "buyer_1",
            1_800_000_000,
            &sig
        ));
        assert!(!verify_link(
            "k",
            1400000000,
            "buyer_1",
            1_800_000_000,
            "zz"
        ));
        assert!(!verify_link(
            "k",
            1400000000,
            "buyer_1",
            1_800_000_000,
            "abc"
        ));
    }
}
