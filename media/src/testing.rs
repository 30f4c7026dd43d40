//! A real S3-compatible server for tests: `moto_server` (PyPI `moto[server]`), started on a free
//! port and stopped when dropped.

use crate::objects::{S3Settings, S3Store};
use aws_sdk_s3::config::{BehaviorVersion, Credentials, Region};
use std::net::TcpListener;
use std::time::{Duration, Instant};

pub struct Moto {
    child: std::process::Child,
    pub endpoint: String,
}

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Moto {
    /// Starts moto, or returns `None` (and says so) when it is not installed; `.ci/run`
    /// installs it, so CI always tests S3.
    pub fn start() -> Option<Moto> {
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free port")
            .port();
        let child = match std::process::Command::new("moto_server")
            .args(["-H", "127.0.0.1", "-p", &port.to_string()])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
        {
            Ok(c) => c,
            Err(e) => {
                eprintln!("skipped: moto_server not runnable ({e}); pip install 'moto[server]'");
                return None;
            }
        };
        let moto = Moto {
            child,
            endpoint: format!("http://127.0.0.1:{port}"),
        };
        let deadline = Instant::now() + Duration::from_secs(30);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                Instant::now() < deadline,
                "moto_server did not start in 30 s"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        Some(moto)
    }

    pub fn settings(&self, bucket: &str) -> S3Settings {
        S3Settings {
            endpoint: Some(self.endpoint.clone()),
            bucket: bucket.into(),
            region: "us-east-1".into(),
            access_key_id: "test".into(),
            secret_access_key: "test".into(),
            path_style: true,
            prefix: String::new(),
        }
    }

    /// Creates `bucket` and returns a store on it.
    pub async fn bucket(&self, bucket: &str) -> S3Store {
        let config = aws_sdk_s3::Config::builder()
            .behavior_version(BehaviorVersion::latest())
            .region(Region::new("us-east-1"))
            .credentials_provider(Credentials::new("test", "test", None, None, "test"))
            .endpoint_url(&self.endpoint)
            .force_path_style(true)
            .build();
        aws_sdk_s3::Client::from_conf(config)
            .create_bucket()
            .bucket(bucket)
            .send()
            .await
            .expect("create bucket on moto");
        S3Store::new(self.settings(bucket))
    }
}
