//! Opaque bearer tokens. Only their SHA-256 is stored, so a database leak yields no logins.

use base64::Engine;
use rand::RngCore;
use sha2::{Digest, Sha256};

/// A new token and the hash to store for it. 32 random bytes, URL-safe base64, `kf_` prefix
/// so that leaked tokens are easy to recognise in logs and scanners.
pub fn issue() -> (String, String) {
    let mut bytes = [0u8; 32];
    rand::thread_rng().fill_bytes(&mut bytes);
    let token = format!(
        "kf_{}",
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
    );
    let hash = digest(&token);
    (token, hash)
}

/// The stored form of a token.
pub fn digest(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

#[cfg(test)]
mod tests {
    #[test]
    fn tokens_are_random_and_hash_stably() {
        let (a, ha) = super::issue();
        let (b, _) = super::issue();
        assert_ne!(a, b);
        assert!(a.starts_with("kf_") && a.len() == 46);
        assert_eq!(super::digest(&a), ha);
        assert_eq!(ha.len(), 64);
    }
}
