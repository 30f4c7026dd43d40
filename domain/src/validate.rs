//! Checks for values that come in from the edge: tenant codes, usernames, plan limits.

/// Why a value was refused. The message names the field and what to do.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {message}")]
pub struct Invalid {
    pub field: &'static str,
    pub message: String,
}

impl Invalid {
    pub fn new(field: &'static str, message: impl Into<String>) -> Self {
        Self {
            field,
            message: message.into(),
        }
    }
}

/// A tenant code: 2–32 characters of lower-case ASCII letters, digits and `-`, starting with
/// a letter. It appears in URLs (`/chat/{tenant}`) and in logins.
pub fn tenant_code(code: &str) -> Result<(), Invalid> {
    let ok_len = (2..=32).contains(&code.len());
    let ok_first = code.chars().next().is_some_and(|c| c.is_ascii_lowercase());
    let ok_chars = code
        .chars()
        .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
    if ok_len && ok_first && ok_chars {
        Ok(())
    } else {
        Err(Invalid::new(
            "code",
            "use 2 to 32 lower-case letters, digits or '-', starting with a letter (e.g. acme)",
        ))
    }
}

/// A login name: 2–32 characters of ASCII letters, digits, `.`, `_`, `-` or `@`.
pub fn username(name: &str) -> Result<(), Invalid> {
    let ok_len = (2..=32).contains(&name.len());
    let ok_chars = name
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-' | '@'));
    if ok_len && ok_chars {
        Ok(())
    } else {
        Err(Invalid::new(
            "username",
            "use 2 to 32 letters, digits, '.', '_', '-' or '@'",
        ))
    }
}

/// A required, trimmed, bounded piece of text such as a display name.
pub fn text(field: &'static str, value: &str, max: usize) -> Result<(), Invalid> {
    let trimmed = value.trim();
    if trimmed.is_empty() {
        return Err(Invalid::new(field, "must not be empty"));
    }
    if trimmed.chars().count() > max {
        return Err(Invalid::new(
            field,
            format!("must be at most {max} characters"),
        ));
    }
    Ok(())
}

/// An optional bounded piece of text: empty is fine.
pub fn optional_text(field: &'static str, value: &str, max: usize) -> Result<(), Invalid> {
    if value.chars().count() > max {
        return Err(Invalid::new(
            field,
            format!("must be at most {max} characters"),
        ));
    }
    Ok(())
}

/// An email address, loosely: one `@` with text on both sides and a dot in the domain. The
/// mail server is the real judge; this catches typos such as a missing `@`.
pub fn email(value: &str) -> Result<(), Invalid> {
    if value.is_empty() {
        return Ok(());
    }
    let mut parts = value.split('@');
    let (local, domain) = (parts.next().unwrap_or(""), parts.next().unwrap_or(""));
    let ok = parts.next().is_none()
        && !local.is_empty()
        && domain.contains('.')
        && !domain.starts_with('.')
        && !domain.ends_with('.')
        && value.len() <= 254
        && !value.chars().any(char::is_whitespace);
    if ok {
        Ok(())
    } else {
        Err(Invalid::new(
            "email",
            "is not an email address (name@example.com)",
        ))
    }
}

/// A phone number: digits with optional `+`, spaces and `-`, at most 32 characters.
pub fn phone(value: &str) -> Result<(), Invalid> {
    let ok = value.len() <= 32
        && value
            .chars()
            .all(|c| c.is_ascii_digit() || matches!(c, '+' | '-' | ' '));
    if ok {
        Ok(())
    } else {
        Err(Invalid::new(
            "phone",
            "use digits, '+', '-' and spaces only",
        ))
    }
}

/// A plan limit: 0 to 10 000.
pub fn plan_limit(field: &'static str, value: i64) -> Result<(), Invalid> {
    if (0..=10_000).contains(&value) {
        Ok(())
    } else {
        Err(Invalid::new(field, "must be between 0 and 10000"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tenant_codes_are_url_safe() {
        assert!(tenant_code("acme").is_ok());
        assert!(tenant_code("shop-2").is_ok());
        assert!(tenant_code("Acme").is_err());
        assert!(tenant_code("2shop").is_err());
        assert!(tenant_code("a").is_err());
        assert!(tenant_code("a b").is_err());
    }

    #[test]
    fn emails_need_a_domain() {
        assert!(email("").is_ok());
        assert!(email("li.lei@example.cn").is_ok());
        assert!(email("li.lei").is_err());
        assert!(email("li@lei").is_err());
        assert!(email("a@b@c.cn").is_err());
    }

    #[test]
    fn usernames_and_phones() {
        assert!(username("agent1").is_ok());
        assert!(username("客服").is_err());
        assert!(phone("+86 138-0000-0000").is_ok());
        assert!(phone("call me").is_err());
    }
}
