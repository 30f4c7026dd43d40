//! The README's run path, through the real binary: a bare start on an empty data folder
//! creates the operator and the demo tenant, serves health and login, and a second start on
//! the same folder duplicates nothing.

use serde_json::{Value, json};
use std::net::TcpListener;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

struct Server(Child, String);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

async fn start(data: &std::path::Path) -> Server {
    let addr = format!("127.0.0.1:{}", free_port());
    let child = Command::new(env!("CARGO_BIN_EXE_kefu"))
        .args(["serve", "--demo"])
        .env("KEFU_DATA_DIR", data)
        .env("KEFU_LISTEN", &addr)
        .env("KEFU_METRICS_LISTEN", format!("127.0.0.1:{}", free_port()))
        .env("KEFU_OPERATOR_PASSWORD", "Operator#1")
        .env("KEFU_DEMO_PASSWORD", "Demo#2026")
        .env_remove("KEFU_DATABASE_URL")
        .env_remove("KEFU_REDIS_URL")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start kefu");
    let server = Server(child, format!("http://{addr}"));
    // Waiting for the process to listen; not a timeout under test.
    for _ in 0..300 {
        if reqwest::get(format!("{}/healthz", server.1)).await.is_ok() {
            return server;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("kefu did not come up on {addr}");
}

async fn login(base: &str, body: Value) -> (u16, Value) {
    let resp = reqwest::Client::new()
        .post(format!("{base}/api/v1/auth/login"))
        .json(&body)
        .send()
        .await
        .unwrap();
    (resp.status().as_u16(), resp.json().await.unwrap())
}

#[tokio::test]
async fn a_bare_start_serves_the_demo_and_a_restart_duplicates_nothing() {
    let data = tempfile::tempdir().unwrap();
    {
        let server = start(data.path()).await;
        let base = &server.1;
        assert_eq!(
            reqwest::get(format!("{base}/healthz"))
                .await
                .unwrap()
                .text()
                .await
                .unwrap(),
            "ok"
        );
        assert_eq!(
            reqwest::get(format!("{base}/readyz"))
                .await
                .unwrap()
                .text()
                .await
                .unwrap(),
            "ready"
        );
        let spec: Value = reqwest::get(format!("{base}/openapi.json"))
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(spec["info"]["title"], "Kefu tenant API");
        // The root leads people to the agent console.
        let root = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap()
            .get(format!("{base}/"))
            .send()
            .await
            .unwrap();
        assert_eq!(
            (
                root.status().as_u16(),
                root.headers().get("location").and_then(|v| v.to_str().ok())
            ),
            (303, Some("/agent/"))
        );
        let (status, agent) = login(
            base,
            json!({ "tenant": "demo", "username": "agent1", "password": "Demo#2026" }),
        )
        .await;
        assert_eq!(status, 200, "{agent}");
        assert_eq!(
            agent["must_change_password"], false,
            "demo accounts keep their password"
        );
        // The demo answers buyers before a human: a published flow, the FAQ, a time plan.
        let (_, admin) = login(
            base,
            json!({ "tenant": "demo", "username": "admin", "password": "Demo#2026" }),
        )
        .await;
        let get = |path: &str| {
            let url = format!("{base}{path}");
            let token = admin["token"].as_str().unwrap().to_string();
            async move {
                reqwest::Client::new()
                    .get(url)
                    .bearer_auth(token)
                    .send()
                    .await
                    .unwrap()
                    .json::<Value>()
                    .await
                    .unwrap()
            }
        };
        let flows = get("/api/v1/flows").await;
        assert_eq!(
            (
                flows[0]["service_account"].as_str(),
                flows[0]["published_version"].as_i64()
            ),
            (Some("@customer_service_account"), Some(1)),
            "{flows}"
        );
        assert_eq!(get("/api/v1/faq").await.as_array().unwrap().len(), 5);
        assert_eq!(get("/api/v1/schedule").await["enabled"], true);
        // Its sample order provider is set up, and refuses requests Kefu did not sign.
        let provider = get("/api/v1/order-provider").await;
        assert_eq!(
            provider["url"].as_str(),
            Some(format!("{base}/demo/orders").as_str()),
            "{provider}"
        );
        let unsigned = reqwest::Client::new()
            .post(format!("{base}/demo/orders"))
            .body(r#"{"buyer":"b","cursor":null,"limit":10}"#)
            .send()
            .await
            .unwrap();
        assert_eq!(unsigned.status(), 401);
    }
    assert!(data.path().join("kefu.db").exists());
    assert!(data.path().join("media").is_dir());

    let server = start(data.path()).await;
    let (status, op) = login(
        &server.1,
        json!({ "username": "operator", "password": "Operator#1" }),
    )
    .await;
    assert_eq!(status, 200, "{op}");
    let token = op["token"].as_str().unwrap();
    let tenants: Value = reqwest::Client::new()
        .get(format!("{}/api/v1/platform/tenants", server.1))
        .bearer_auth(token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let tenants = tenants.as_array().unwrap();
    assert_eq!(tenants.len(), 1, "{tenants:?}");
    assert_eq!(
        (
            tenants[0]["code"].as_str(),
            tenants[0]["accounts_used"].as_i64()
        ),
        (Some("demo"), Some(2))
    );
}
