//! Where media bytes live: a folder on local disk (the embedded default) or an S3-compatible
//! bucket (production), behind [`ObjectStore`].

use crate::inspect::content_type_of;
use async_trait::async_trait;
use aws_sdk_s3::config::{BehaviorVersion, Credentials, Region};
use aws_sdk_s3::primitives::ByteStream;
use std::path::PathBuf;

/// A stored file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Object {
    pub bytes: Vec<u8>,
    pub content_type: String,
}

#[derive(Debug, thiserror::Error)]
pub enum ObjectError {
    #[error("`{0}` is not a media key")]
    BadKey(String),
    #[error("media storage: {0}")]
    Backend(String),
}

/// Keys are made by Kefu: `{tenant}/{name}.{ext}` with lower-case letters, digits and `_`.
/// Anything else (a `..`, a slash too many) is refused before any storage is touched.
pub fn check_key(key: &str) -> Result<(), ObjectError> {
    let mut parts = key.split('/');
    let ok = |s: &str, dot: bool| {
        !s.is_empty()
            && s.len() <= 96
            && !s.starts_with('.')
            && s.bytes().all(|b| {
                b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || (dot && b == b'.')
            })
    };
    match (parts.next(), parts.next(), parts.next()) {
        (Some(tenant), Some(name), None) if ok(tenant, false) && ok(name, true) => Ok(()),
        _ => Err(ObjectError::BadKey(key.to_string())),
    }
}

fn content_type_for(key: &str) -> &'static str {
    content_type_of(key.rsplit('.').next().unwrap_or(""))
}

#[async_trait]
pub trait ObjectStore: Send + Sync {
    /// Stores `bytes` under `key`, replacing what was there. Readers see the old object or the
    /// new one, never a part.
    async fn put(&self, key: &str, bytes: Vec<u8>) -> Result<(), ObjectError>;
    async fn get(&self, key: &str) -> Result<Option<Object>, ObjectError>;
    /// Whether the store answers, for `/readyz` and the start-up check.
    async fn ping(&self) -> Result<(), ObjectError>;
    /// For the start-up log line.
    fn describe(&self) -> String;
}

/// Files under a folder, written to a temporary name and renamed into place.
pub struct LocalDisk {
    root: PathBuf,
}

impl LocalDisk {
    pub fn new(root: impl Into<PathBuf>) -> Self {
        Self { root: root.into() }
    }
}

fn io(e: std::io::Error) -> ObjectError {
    ObjectError::Backend(e.to_string())
}

#[async_trait]
impl ObjectStore for LocalDisk {
    async fn put(&self, key: &str, bytes: Vec<u8>) -> Result<(), ObjectError> {
        check_key(key)?;
        let path = self.root.join(key);
        let dir = path.parent().expect("keys have a folder");
        tokio::fs::create_dir_all(dir).await.map_err(io)?;
        let tmp = dir.join(format!(".{}.{}", rand::random::<u64>(), "part"));
        tokio::fs::write(&tmp, bytes).await.map_err(io)?;
        if let Err(e) = tokio::fs::rename(&tmp, &path).await {
            let _ = tokio::fs::remove_file(&tmp).await;
            return Err(io(e));
        }
        Ok(())
    }

    async fn get(&self, key: &str) -> Result<Option<Object>, ObjectError> {
        check_key(key)?;
        match tokio::fs::read(self.root.join(key)).await {
            Ok(bytes) => Ok(Some(Object {
                bytes,
                content_type: content_type_for(key).to_string(),
            })),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(io(e)),
        }
    }

    async fn ping(&self) -> Result<(), ObjectError> {
        tokio::fs::create_dir_all(&self.root).await.map_err(io)
    }

    fn describe(&self) -> String {
        format!("local disk {}", self.root.display())
    }
}

/// Where the S3 bucket is and how to sign for it.
#[derive(Debug, Clone)]
pub struct S3Settings {
    /// `None` for AWS itself; `http://minio:9000` or similar otherwise.
    pub endpoint: Option<String>,
    pub bucket: String,
    pub region: String,
    pub access_key_id: String,
    pub secret_access_key: String,
    /// `bucket` in the path instead of the host name, as MinIO and most self-hosted servers want.
    pub path_style: bool,
    /// Prepended to every key, so one bucket can serve several installations.
    pub prefix: String,
}

pub struct S3Store {
    client: aws_sdk_s3::Client,
    bucket: String,
    prefix: String,
    endpoint: String,
}

impl S3Store {
    pub fn new(s: S3Settings) -> Self {
        let credentials = Credentials::new(
            s.access_key_id,
            s.secret_access_key,
            None,
            None,
            "kefu-config",
        );
        let mut config = aws_sdk_s3::Config::builder()
            .behavior_version(BehaviorVersion::latest())
            .region(Region::new(s.region))
            .credentials_provider(credentials)
            .force_path_style(s.path_style);
        if let Some(endpoint) = &s.endpoint {
            config = config.endpoint_url(endpoint);
        }
        Self {
            client: aws_sdk_s3::Client::from_conf(config.build()),
            bucket: s.bucket,
            prefix: s.prefix,
            endpoint: s.endpoint.unwrap_or_else(|| "AWS".into()),
        }
    }

    fn full(&self, key: &str) -> String {
        format!("{}{key}", self.prefix)
    }
}

fn s3<E: std::error::Error + 'static>(e: aws_sdk_s3::error::SdkError<E>) -> ObjectError {
    // The SDK's Display is only "service error"; the source chain says which.
    let mut text = e.to_string();
    let mut source = std::error::Error::source(&e);
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    ObjectError::Backend(text)
}

#[async_trait]
impl ObjectStore for S3Store {
    async fn put(&self, key: &str, bytes: Vec<u8>) -> Result<(), ObjectError> {
        check_key(key)?;
        self.client
            .put_object()
            .bucket(&self.bucket)
            .key(self.full(key))
            .content_type(content_type_for(key))
            .body(ByteStream::from(bytes))
            .send()
            .await
            .map_err(s3)?;
        Ok(())
    }

    async fn get(&self, key: &str) -> Result<Option<Object>, ObjectError> {
        check_key(key)?;
        let found = self
            .client
            .get_object()
            .bucket(&self.bucket)
            .key(self.full(key))
            .send()
            .await;
        let out = match found {
            Ok(out) => out,
            Err(e) if e.as_service_error().is_some_and(|e| e.is_no_such_key()) => return Ok(None),
            Err(e) => return Err(s3(e)),
        };
        let bytes = out
            .body
            .collect()
            .await
            .map_err(|e| ObjectError::Backend(e.to_string()))?
            .into_bytes()
            .to_vec();
        Ok(Some(Object {
            bytes,
            content_type: content_type_for(key).to_string(),
        }))
    }

    async fn ping(&self) -> Result<(), ObjectError> {
        self.client
            .head_bucket()
            .bucket(&self.bucket)
            .send()
            .await
            .map_err(s3)?;
        Ok(())
    }

    fn describe(&self) -> String {
        format!("S3 bucket {} at {}", self.bucket, self.endpoint)
    }
}

#[cfg(test)]
mod tests {
    use super::check_key;

    #[test]
    fn only_keys_kefu_makes_are_accepted() {
        assert!(check_key("12/3f9a_198.jpg").is_ok());
        for bad in [
            "../etc/passwd",
            "12/../13/x.jpg",
            "12/x/y.jpg",
            "12/.hidden",
            "12/X.JPG",
            "/12/x.jpg",
            "12/",
            "12/x.jpg?",
        ] {
            assert!(check_key(bad).is_err(), "{bad}");
        }
    }
}
