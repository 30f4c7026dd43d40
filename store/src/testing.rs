//! Fresh databases for tests: a temporary SQLite file always, and a new PostgreSQL database
//! when `KEFU_TEST_DATABASE_URL` names a server (CI sets it). Each test gets its own.

use crate::{Store, connect};
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};

/// A database that exists for one test. Dropping it removes the SQLite file or drops the
/// PostgreSQL database.
pub struct TestDb {
    pub url: String,
    pub name: &'static str,
    cleanup: Cleanup,
}

enum Cleanup {
    Dir(#[allow(dead_code)] std::path::PathBuf),
    Postgres { admin_url: String, database: String },
}

/// The PostgreSQL server URL for tests, if configured.
pub fn postgres_url() -> Option<String> {
    std::env::var("KEFU_TEST_DATABASE_URL")
        .ok()
        .filter(|u| !u.is_empty())
}

impl TestDb {
    pub fn sqlite() -> Self {
        let dir =
            std::env::temp_dir().join(format!("kefu-test-{}-{}", std::process::id(), next_id()));
        std::fs::create_dir_all(&dir).expect("temp dir");
        let url = format!("sqlite://{}/kefu.db", dir.display());
        TestDb {
            url,
            name: "sqlite",
            cleanup: Cleanup::Dir(dir),
        }
    }

    /// A new, empty PostgreSQL database on the test server.
    pub async fn postgres(admin_url: &str) -> Self {
        use sqlx::Connection;
        let database = format!(
            "kefu_test_{}_{}_{}",
            std::process::id(),
            next_id(),
            rand_suffix()
        );
        let mut conn = sqlx::PgConnection::connect(admin_url)
            .await
            .expect("KEFU_TEST_DATABASE_URL must point at a reachable PostgreSQL server");
        sqlx::query(&format!("create database {database}"))
            .execute(&mut conn)
            .await
            .expect("create test database");
        let mut url = url::Url::parse(admin_url).expect("KEFU_TEST_DATABASE_URL is a URL");
        url.set_path(&database);
        TestDb {
            url: url.to_string(),
            name: "postgres",
            cleanup: Cleanup::Postgres {
                admin_url: admin_url.to_string(),
                database,
            },
        }
    }

    pub async fn store(&self) -> Arc<dyn Store> {
        connect(&self.url, 8)
            .await
            .expect("connect to test database")
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        match &self.cleanup {
            Cleanup::Dir(dir) => {
                let _ = std::fs::remove_dir_all(dir);
            }
            Cleanup::Postgres {
                admin_url,
                database,
            } => {
                // Drop runs inside a test's runtime, so the async cleanup gets a thread and a
                // runtime of its own.
                let (admin_url, database) = (admin_url.clone(), database.clone());
                let _ = std::thread::spawn(move || {
                    let rt = tokio::runtime::Builder::new_current_thread()
                        .enable_all()
                        .build();
                    if let Ok(rt) = rt {
                        rt.block_on(async {
                            use sqlx::Connection;
                            if let Ok(mut conn) = sqlx::PgConnection::connect(&admin_url).await {
                                let _ = sqlx::query(&format!(
                                    "drop database if exists {database} with (force)"
                                ))
                                .execute(&mut conn)
                                .await;
                            }
                        });
                    }
                })
                .join();
            }
        }
    }
}

/// One fresh database per available backend: SQLite, plus PostgreSQL when configured.
pub async fn databases() -> Vec<TestDb> {
    let mut dbs = vec![TestDb::sqlite()];
    match postgres_url() {
        Some(url) => dbs.push(TestDb::postgres(&url).await),
        None => eprintln!("KEFU_TEST_DATABASE_URL is not set: PostgreSQL tests skipped"),
    }
    dbs
}

fn next_id() -> u32 {
    static N: AtomicU32 = AtomicU32::new(0);
    N.fetch_add(1, Ordering::SeqCst)
}

fn rand_suffix() -> u32 {
    use std::hash::{BuildHasher, RandomState};
    (RandomState::new().hash_one(std::time::SystemTime::now()) % 1_000_000) as u32
}

/// A tenant owner for fixtures: a super admin with no password (it never logs in).
pub fn owner(username: &str) -> crate::NewAccount {
    crate::NewAccount {
        username: username.into(),
        display_name: username.into(),
        real_name: String::new(),
        phone: String::new(),
        email: String::new(),
        role: kefu_domain::Role::SuperAdmin,
        password_hash: String::new(),
        must_change_password: false,
        skill_group_ids: vec![],
    }
}

/// Creates tenant `code` (plan 2/2) with owner `boss` and IM secret `secret`; returns its app.
pub async fn tenant_with_app(
    store: &Arc<dyn Store>,
    code: &str,
    secret: &str,
    now: i64,
) -> crate::ImApp {
    let tenant = crate::NewTenant {
        code: code.into(),
        name: code.into(),
        max_accounts: 2,
        max_online: 2,
        im_secret: secret.into(),
    };
    let (t, _) = store
        .create_tenant(tenant, owner("boss"), now)
        .await
        .expect("create tenant");
    // A quiet bot: protocol tests see only the messages they send.
    let quiet = kefu_domain::settings::ServiceSettings {
        welcome_enabled: false,
        faq_after_welcome: false,
        bot_fallback_message: String::new(),
        ..Default::default()
    };
    store
        .save_service_settings(t.id, &quiet, now)
        .await
        .expect("save settings");
    store
        .get_im_app(t.id)
        .await
        .expect("read app")
        .expect("app created with the tenant")
}

/// An IM account (a buyer) for fixtures.
pub fn im_account(user_id: &str, now: i64) -> crate::ImAccount {
    crate::ImAccount {
        user_id: user_id.into(),
        nick: String::new(),
        face_url: String::new(),
        kind: 0,
        created_at: now,
        kicked_at: None,
    }
}
