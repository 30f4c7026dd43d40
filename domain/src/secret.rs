//! Random secrets.

use rand::RngCore;

/// A 64-character lower-case hex secret, the shape of a Tencent IM app key: 32 random bytes.
pub fn im_secret() -> String {
    let mut bytes = [0u8; 32];
    rand::thread_rng().fill_bytes(&mut bytes);
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    #[test]
    fn secrets_are_64_hex_characters_and_differ() {
        let a = super::im_secret();
        assert_eq!(a.len(), 64);
        assert!(
            a.chars()
                .all(|c| c.is_ascii_hexdigit() && !c.is_ascii_uppercase())
        );
        assert_ne!(a, super::im_secret());
    }
}
