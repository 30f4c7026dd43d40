//! Configuration: defaults, then an optional `kefu.toml`, then `KEFU_*` environment
//! variables, which win. Secrets are `SecretString` and never printed; URLs are shown with
//! their password masked.

use figment::Figment;
use figment::providers::{Env, Format, Toml};
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use std::path::PathBuf;
use std::sync::Arc;

#[derive(Debug, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// Address for the API, gateway, consoles and demo page.
    #[serde(deserialize_with = "lenient::string")]
    pub listen: String,
    /// Address for Prometheus metrics; `off` disables them.
    #[serde(deserialize_with = "lenient::string")]
    pub metrics_listen: String,
    /// Where the embedded default keeps its database, media and outbox.
    pub data_dir: PathBuf,
    /// `sqlite://…` or `postgres://…`; default `sqlite://{data_dir}/kefu.db`.
    #[serde(deserialize_with = "lenient::secret")]
    pub database_url: Option<SecretString>,
    pub database_max_connections: u32,
    /// `redis://…`; without it the event bus is in-process (one node only).
    #[serde(deserialize_with = "lenient::secret")]
    pub redis_url: Option<SecretString>,
    /// `smtp://user:pass@host:587` or `smtps://…`; without it mail goes to `{data_dir}/outbox`.
    #[serde(deserialize_with = "lenient::secret")]
    pub smtp_url: Option<SecretString>,
    #[serde(deserialize_with = "lenient::string")]
    pub mail_from: String,
    /// The first operator's password; printed once when absent.
    #[serde(deserialize_with = "lenient::secret")]
    pub operator_password: Option<SecretString>,
    /// The demo accounts' password with `--demo`; printed once when absent.
    #[serde(deserialize_with = "lenient::secret")]
    pub demo_password: Option<SecretString>,
    /// IM REST calls allowed per app, per command, per second (0: no limit).
    pub im_rate_limit: i64,
    pub im_typing_interval_ms: i64,
    /// Seconds an agent may have no console connected before they are suspended and their
    /// conversations marked RECOVER.
    pub console_grace: i64,
    /// Take client addresses from `X-Forwarded-For` (set when behind a load balancer).
    pub trust_forwarded_for: bool,
    /// `text` or `json`.
    #[serde(deserialize_with = "lenient::string")]
    pub log_format: String,
    #[serde(deserialize_with = "lenient::string")]
    pub public_url: String,
    pub media_link_ttl: i64,
    #[serde(deserialize_with = "lenient::opt_string")]
    pub s3_bucket: Option<String>,
    #[serde(deserialize_with = "lenient::opt_string")]
    pub s3_endpoint: Option<String>,
    #[serde(deserialize_with = "lenient::string")]
    pub s3_region: String,
    #[serde(deserialize_with = "lenient::secret")]
    pub s3_access_key_id: Option<SecretString>,
    #[serde(deserialize_with = "lenient::secret")]
    pub s3_secret_access_key: Option<SecretString>,
    pub s3_path_style: bool,
    #[serde(deserialize_with = "lenient::string")]
    pub s3_prefix: String,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            listen: "127.0.0.1:8080".into(),
            metrics_listen: "127.0.0.1:9464".into(),
            data_dir: PathBuf::from("./data"),
            database_url: None,
            database_max_connections: 16,
            redis_url: None,
            smtp_url: None,
            mail_from: "Kefu <no-reply@kefu.local>".into(),
            operator_password: None,
            demo_password: None,
            trust_forwarded_for: false,
            im_rate_limit: 200,
            im_typing_interval_ms: 1000,
            console_grace: 60,
            log_format: "text".into(),
            public_url: String::new(),
            media_link_ttl: 3600,
            s3_bucket: None,
            s3_endpoint: None,
            s3_region: "us-east-1".into(),
            s3_access_key_id: None,
            s3_secret_access_key: None,
            s3_path_style: false,
            s3_prefix: String::new(),
        }
    }
}

/// Environment variables that start with `KEFU_` but are not settings (test harness knobs).
const NOT_SETTINGS: &[&str] = &[
    "TEST_DATABASE_URL",
    "TEST_REDIS_URL",
    "CONFIG",
    "LOG",
    "USERSIG_KEY",
];

impl Config {
    /// Loads from `kefu.toml` (or the file named by `KEFU_CONFIG`) and the environment.
    pub fn load() -> Result<Self, String> {
        let file = std::env::var("KEFU_CONFIG").unwrap_or_else(|_| "kefu.toml".into());
        Self::from_figment(Figment::new().merge(Toml::file(&file)).merge(env()))
    }

    pub fn from_figment(figment: Figment) -> Result<Self, String> {
        figment.extract().map_err(|e| {
            let e = e.to_string();
            // Say which setting, in the form the user wrote it.
            format!("configuration: {e} (settings are listed in docs/configuration.md)")
        })
    }

    pub fn database_url(&self) -> String {
        match &self.database_url {
            Some(url) => url.expose_secret().to_string(),
            None => format!("sqlite://{}/kefu.db", self.data_dir.display()),
        }
    }

    pub fn media_dir(&self) -> PathBuf {
        self.data_dir.join("media")
    }

    /// Where media bytes live: the S3 bucket when one is named, else `{data_dir}/media`.
    pub fn media_store(&self) -> Result<Arc<dyn kefu_media::ObjectStore>, String> {
        let Some(bucket) = &self.s3_bucket else {
            return Ok(Arc::new(kefu_media::LocalDisk::new(self.media_dir())));
        };
        let key = |s: &Option<SecretString>, name: &str| {
            s.as_ref()
                .map(|k| k.expose_secret().to_string())
                .ok_or_else(|| format!("{name}: required when KEFU_S3_BUCKET is set"))
        };
        Ok(Arc::new(kefu_media::S3Store::new(kefu_media::S3Settings {
            endpoint: self.s3_endpoint.clone(),
            bucket: bucket.clone(),
            region: self.s3_region.clone(),
            access_key_id: key(&self.s3_access_key_id, "KEFU_S3_ACCESS_KEY_ID")?,
            secret_access_key: key(&self.s3_secret_access_key, "KEFU_S3_SECRET_ACCESS_KEY")?,
            path_style: self.s3_path_style,
            prefix: self.s3_prefix.clone(),
        })))
    }

    pub fn outbox_dir(&self) -> PathBuf {
        self.data_dir.join("outbox")
    }

    /// One line per setting for the start-up log, with secrets hidden.
    pub fn summary(&self) -> String {
        let shown =
            |s: &Option<SecretString>| s.as_ref().map(|u| kefu_store_redact(u.expose_secret()));
        format!(
            "listen={} metrics={} data_dir={} database={} bus={} mail={} media={}",
            self.listen,
            self.metrics_listen,
            self.data_dir.display(),
            kefu_store_redact(&self.database_url()),
            shown(&self.redis_url).unwrap_or_else(|| "in-process".into()),
            shown(&self.smtp_url)
                .unwrap_or_else(|| format!("outbox {}", self.outbox_dir().display())),
            match &self.s3_bucket {
                Some(b) => format!("s3 {b}"),
                None => format!("disk {}", self.media_dir().display()),
            },
        )
    }
}

/// Masks the password (and any user-info secret) in a URL.
fn kefu_store_redact(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(mut u) if u.password().is_some() => {
            let _ = u.set_password(Some("***"));
            u.to_string()
        }
        _ => url.to_string(),
    }
}

/// `KEFU_*` variables. figment reads `12345678` as a number; the text settings accept it
/// back as text through [`lenient`].
fn env() -> Env {
    Env::prefixed("KEFU_")
        .ignore(NOT_SETTINGS)
        .map(|k| k.as_str().to_lowercase().into())
}

/// Text settings that figment may have read as numbers or booleans from the environment.
mod lenient {
    use secrecy::SecretString;
    use serde::{Deserialize, Deserializer};

    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Scalar {
        Text(String),
        Signed(i64),
        Unsigned(u64),
        Float(f64),
        Bool(bool),
    }

    impl Scalar {
        fn into_string(self) -> String {
            match self {
                Scalar::Text(s) => s,
                Scalar::Signed(n) => n.to_string(),
                Scalar::Unsigned(n) => n.to_string(),
                Scalar::Float(n) => n.to_string(),
                Scalar::Bool(b) => b.to_string(),
            }
        }
    }

    pub fn string<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
        Ok(Scalar::deserialize(d)?.into_string())
    }

    pub fn secret<'de, D: Deserializer<'de>>(d: D) -> Result<Option<SecretString>, D::Error> {
        Ok(Option::<Scalar>::deserialize(d)?.map(|s| SecretString::from(s.into_string())))
    }

    /// An optional setting where an empty value means unset.
    pub fn opt_string<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
        Ok(Option::<Scalar>::deserialize(d)?
            .map(Scalar::into_string)
            .filter(|s| !s.is_empty()))
    }
}

#[cfg(test)]
// figment's Jail returns its own large error type; that is its API, not ours.
#[allow(clippy::result_large_err)]
mod tests {
    use super::*;
    use figment::Jail;

    #[test]
    fn defaults_need_no_configuration() {
        Jail::expect_with(|_| {
            let c = Config::load().map_err(|e| e.to_string())?;
            assert_eq!(c.listen, "127.0.0.1:8080");
            assert_eq!(c.database_url(), "sqlite://./data/kefu.db");
            assert!(c.redis_url.is_none());
            Ok(())
        });
    }

    #[test]
    fn the_environment_wins_over_the_file() {
        Jail::expect_with(|jail| {
            jail.create_file(
                "kefu.toml",
                "listen = \"0.0.0.0:9000\"\ndata_dir = \"/srv/kefu\"\n",
            )?;
            jail.set_env("KEFU_LISTEN", "127.0.0.1:7000");
            jail.set_env("KEFU_OPERATOR_PASSWORD", "12345678");
            jail.set_env("KEFU_TEST_DATABASE_URL", "postgres://ignored");
            let c = Config::load().map_err(|e| e.to_string())?;
            assert_eq!(c.listen, "127.0.0.1:7000");
            assert_eq!(c.data_dir, PathBuf::from("/srv/kefu"));
            assert_eq!(c.database_url(), "sqlite:///srv/kefu/kefu.db");
            assert_eq!(c.operator_password.unwrap().expose_secret(), "12345678");
            Ok(())
        });
    }

    #[test]
    fn secrets_never_show_in_the_summary_or_debug_output() {
        Jail::expect_with(|jail| {
            jail.set_env("KEFU_DATABASE_URL", "postgres://kefu:hunter2@db/kefu");
            jail.set_env("KEFU_REDIS_URL", "redis://:hunter2@cache:6379");
            jail.set_env("KEFU_OPERATOR_PASSWORD", "hunter2");
            let c = Config::load().map_err(|e| e.to_string())?;
            assert!(!c.summary().contains("hunter2"), "{}", c.summary());
            assert!(!format!("{c:?}").contains("hunter2"));
            assert!(c.summary().contains("postgres://kefu:***@db/kefu"));
            Ok(())
        });
    }

    #[test]
    fn an_unknown_setting_is_named() {
        Jail::expect_with(|jail| {
            jail.set_env("KEFU_LISTNE", "x");
            let err = Config::load().unwrap_err();
            assert!(err.contains("listne"), "{err}");
            Ok(())
        });
    }
}
