//! Argon2id password hashes in PHC string form.

use argon2::Argon2;
use argon2::password_hash::{
    PasswordHash, PasswordHasher, PasswordVerifier, SaltString, rand_core::OsRng,
};

/// Hashes a password with Argon2id and a fresh salt.
pub fn hash(password: &str) -> String {
    let salt = SaltString::generate(&mut OsRng);
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        // Hashing only fails for parameters out of range, which the defaults are not.
        .expect("argon2 with default parameters")
}

/// Whether `password` matches `hash`. A malformed hash matches nothing.
pub fn verify(password: &str, hash: &str) -> bool {
    PasswordHash::new(hash)
        .map(|parsed| {
            Argon2::default()
                .verify_password(password.as_bytes(), &parsed)
                .is_ok()
        })
        .unwrap_or(false)
}

/// A hash of a random password, verified against when a login names no account, so that
/// a wrong username takes as long as a wrong password.
pub fn decoy() -> &'static str {
    static DECOY: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    DECOY.get_or_init(|| hash(&kefu_domain::password::generate()))
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_hash_verifies_its_password_only() {
        let h = super::hash("Kefu#2026");
        assert!(h.starts_with("$argon2id$"));
        assert!(super::verify("Kefu#2026", &h));
        assert!(!super::verify("Kefu#2027", &h));
        assert!(!super::verify("Kefu#2026", "not a hash"));
        assert_ne!(super::hash("Kefu#2026"), h, "salted");
    }
}
