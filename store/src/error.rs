use kefu_domain::SkillGroupId;

/// What a store call can fail with. Business outcomes that the database decides atomically
/// (the seat cap, one live login) are variants here so that callers can answer them precisely.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("not found")]
    NotFound,
    #[error("{0} already exists")]
    Duplicate(&'static str),
    #[error("the plan allows {max} seats and all are taken")]
    SeatLimitReached { max: i64 },
    #[error("the account is logged in elsewhere")]
    AlreadyLoggedIn,
    #[error("the plan allows {max} agents online at once and all are online")]
    OnlineLimitReached { max: i64 },
    /// The change does not fit the current state; the text says why.
    #[error("{0}")]
    Conflict(String),
    /// A value the tenant's rules refuse (a category that must be chosen, one that does not
    /// exist); the field and what to do are named.
    #[error(transparent)]
    Invalid(#[from] kefu_domain::validate::Invalid),
    /// The record is still used by others, named in the text; it cannot be deleted yet.
    #[error("{0}")]
    InUse(String),
    #[error("skill group {0} does not exist in this tenant")]
    UnknownSkillGroup(SkillGroupId),
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
}

impl StoreError {
    /// Maps a unique violation to [`StoreError::Duplicate`] by its kind, not by constraint
    /// name: SQLite has no constraint names to match.
    pub(crate) fn unique(what: &'static str) -> impl FnOnce(sqlx::Error) -> StoreError {
        move |e| match &e {
            sqlx::Error::Database(db) if db.kind() == sqlx::error::ErrorKind::UniqueViolation => {
                StoreError::Duplicate(what)
            }
            _ => StoreError::Database(e),
        }
    }
}

/// Why the database could not be opened at start. Each message names the setting to fix
/// and never contains the password from the URL.
#[derive(Debug, thiserror::Error)]
pub enum ConnectError {
    #[error(
        "KEFU_DATABASE_URL: unknown scheme `{0}:`; use sqlite://path/to/kefu.db or postgres://user@host/db"
    )]
    UnknownScheme(String),
    #[error("KEFU_DATABASE_URL: {0} is not a valid database URL: {1}")]
    InvalidUrl(String, String),
    #[error("KEFU_DATABASE_URL: cannot open {0}: {1}")]
    Unreachable(String, String),
    #[error("KEFU_DATABASE_URL: migrating {0} failed: {1}")]
    Migrate(String, String),
}

/// `url` with any password replaced by `***`, for messages and logs.
pub fn redact_url(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(mut u) if u.password().is_some() => {
            let _ = u.set_password(Some("***"));
            u.to_string()
        }
        _ => url.to_string(),
    }
}
