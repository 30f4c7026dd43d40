//! The password policy and the generator for initial passwords.

use rand::Rng;
use rand::seq::SliceRandom;

pub const MIN_LEN: usize = 8;
pub const MAX_LEN: usize = 20;

/// Characters that count as "special". Kept to printable ASCII that survives mail, Excel
/// and copy-paste without escaping.
pub const SPECIALS: &str = "!@#$%^&*()-_=+[]{};:,.?/~";

/// Why a password was refused. The message says what to change.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PasswordError {
    #[error("the password must be {MIN_LEN} to {MAX_LEN} characters long")]
    Length,
    #[error(
        "the password needs at least one digit, one letter and one special character ({SPECIALS})"
    )]
    Composition,
    #[error("the password must not be the same as the email address")]
    EqualsEmail,
    #[error("the new password must differ from the current one")]
    Unchanged,
}

/// Checks a password against the policy: 8–20 characters, at least one digit, one letter and
/// one special character, and not equal to the account's email.
pub fn check(password: &str, email: &str) -> Result<(), PasswordError> {
    let len = password.chars().count();
    if !(MIN_LEN..=MAX_LEN).contains(&len) {
        return Err(PasswordError::Length);
    }
    let digit = password.chars().any(|c| c.is_ascii_digit());
    let letter = password.chars().any(|c| c.is_alphabetic());
    let special = password
        .chars()
        .any(|c| !c.is_alphanumeric() && !c.is_whitespace());
    if !(digit && letter && special) {
        return Err(PasswordError::Composition);
    }
    if !email.is_empty() && password.eq_ignore_ascii_case(email) {
        return Err(PasswordError::EqualsEmail);
    }
    Ok(())
}

/// A random 14-character password that passes [`check`]. Look-alike characters (0/O, 1/l/I)
/// are left out because people type these from a mail or a screen.
pub fn generate() -> String {
    const LETTERS: &[u8] = b"abcdefghijkmnpqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ";
    const DIGITS: &[u8] = b"23456789";
    const SPECIAL: &[u8] = b"!@#$%*-_=+?";
    let mut rng = rand::thread_rng();
    let pick =
        |set: &[u8], rng: &mut rand::rngs::ThreadRng| set[rng.gen_range(0..set.len())] as char;
    let mut chars: Vec<char> = vec![
        pick(LETTERS, &mut rng),
        pick(DIGITS, &mut rng),
        pick(SPECIAL, &mut rng),
    ];
    let all: Vec<u8> = [LETTERS, DIGITS, SPECIAL].concat();
    while chars.len() < 14 {
        chars.push(pick(&all, &mut rng));
    }
    chars.shuffle(&mut rng);
    chars.into_iter().collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_good_password_passes() {
        assert_eq!(check("Kefu#2026", "a@b.cn"), Ok(()));
        assert_eq!(check("客服中心密码1!", ""), Ok(()));
    }

    #[test]
    fn length_is_enforced_at_both_ends() {
        assert_eq!(check("Ab1!", ""), Err(PasswordError::Length));
        assert_eq!(
            check("Ab1!Ab1!Ab1!Ab1!Ab1!x", ""),
            Err(PasswordError::Length)
        );
        assert_eq!(check("Ab1!Ab1!Ab1!Ab1!Ab1!", ""), Ok(()));
    }

    #[test]
    fn each_character_class_is_required() {
        assert_eq!(check("abcdefgh1", ""), Err(PasswordError::Composition));
        assert_eq!(check("abcdefgh!", ""), Err(PasswordError::Composition));
        assert_eq!(check("12345678!", ""), Err(PasswordError::Composition));
    }

    #[test]
    fn the_email_is_not_a_password() {
        assert_eq!(
            check("ann1@x.cn", "ann1@x.cn"),
            Err(PasswordError::EqualsEmail)
        );
        assert_eq!(
            check("ANN1@x.cn", "ann1@x.cn"),
            Err(PasswordError::EqualsEmail)
        );
    }

    #[test]
    fn generated_passwords_pass_the_policy_and_differ() {
        let a = generate();
        for _ in 0..200 {
            assert_eq!(check(&generate(), ""), Ok(()));
        }
        assert_ne!(a, generate());
    }
}
