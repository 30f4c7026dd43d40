//! A `kill -9` right after acknowledged sends loses nothing: the real binary, on SQLite and
//! (when configured) PostgreSQL, is killed with SIGKILL and started again on the same data.

use futures::{SinkExt, StreamExt};
use kefu_store::testing::databases;
use serde_json::{Value, json};
use std::net::TcpListener;
use std::process::{Child, Command, Stdio};
use std::time::Duration;
use tokio_tungstenite::tungstenite::Message;

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

async fn start(data: &std::path::Path, database_url: &str) -> Server {
    let addr = format!("127.0.0.1:{}", free_port());
    let child = Command::new(env!("CARGO_BIN_EXE_kefu"))
        .args(["serve", "--demo"])
        .env("KEFU_DATA_DIR", data)
        .env("KEFU_DATABASE_URL", database_url)
        .env("KEFU_LISTEN", &addr)
        .env("KEFU_METRICS_LISTEN", "off")
        .env("KEFU_DEMO_PASSWORD", "Demo#2026")
        .env("KEFU_OPERATOR_PASSWORD", "Operator#1")
        .env_remove("KEFU_REDIS_URL")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start kefu");
    let server = Server(child, addr);
    for _ in 0..300 {
        if reqwest::get(format!("http://{}/healthz", server.1))
            .await
            .is_ok()
        {
            return server;
        }
        // Waiting for the process to listen; not a timeout under test.
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("kefu did not come up");
}

/// The demo tenant's SDKAppID and secret, read as its super admin.
async fn im_app(base: &str) -> (u64, String) {
    let http = reqwest::Client::new();
    let login: Value = http
        .post(format!("http://{base}/api/v1/auth/login"))
        .json(&json!({ "tenant": "demo", "username": "admin", "password": "Demo#2026" }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let token = login["token"].as_str().expect("admin login").to_string();
    let app: Value = http
        .get(format!("http://{base}/api/v1/im-app"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    // Log out so the next start can log in again at once.
    http.post(format!("http://{base}/api/v1/auth/logout"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    (
        app["sdk_app_id"].as_u64().unwrap(),
        app["secret_key"].as_str().unwrap().to_string(),
    )
}

type Ws =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

async fn login(base: &str, app: u64, key: &str) -> (Ws, Value) {
    let (mut ws, _) = tokio_tungstenite::connect_async(format!("ws://{base}/im/ws"))
        .await
        .unwrap();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    let sig = kefu_usersig::generate(app, key, "buyer_crash", 3600, now);
    let auth =
        json!({ "type": "auth", "sdkappid": app, "identifier": "buyer_crash", "usersig": sig });
    ws.send(Message::text(auth.to_string())).await.unwrap();
    let ok = next(&mut ws).await;
    assert_eq!(ok["type"], "auth_ok", "{ok}");
    (ws, ok)
}

async fn next(ws: &mut Ws) -> Value {
    loop {
        let msg = tokio::time::timeout(Duration::from_secs(10), ws.next())
            .await
            .expect("frame")
            .expect("open")
            .expect("ok");
        if let Message::Text(t) = msg {
            return serde_json::from_str(t.as_str()).unwrap();
        }
    }
}

#[tokio::test]
async fn acknowledged_messages_survive_a_kill_9() {
    for db in databases().await {
        let data = tempfile::tempdir().unwrap();
        let url = if db.name == "sqlite" {
            format!("sqlite://{}/kefu.db", data.path().display())
        } else {
            db.url.clone()
        };
        let server = start(data.path(), &url).await;
        let (app, key) = im_app(&server.1).await;
        let (mut ws, _) = login(&server.1, app, &key).await;
        let mut acked = Vec::new();
        for i in 0..20 {
            let send = json!({ "type": "send", "id": format!("crash-{i}"), "to": "@customer_service_account",
                               "body": [{ "MsgType": "TIMTextElem", "MsgContent": { "Text": format!("消息 {i}") } }] });
            ws.send(Message::text(send.to_string())).await.unwrap();
            loop {
                let frame = next(&mut ws).await;
                if frame["type"] == "ack" {
                    acked.push(frame["seq"].as_i64().unwrap());
                    break;
                }
            }
        }
        // SIGKILL the moment the last ack is in: no shutdown, no flush.
        let mut server = server;
        server.0.kill().unwrap();
        server.0.wait().unwrap();
        drop(ws);

        let server = start(data.path(), &url).await;
        let (mut ws, ok) = login(&server.1, app, &key).await;
        // The demo's flow answers the buyer too, so the chat holds its robot messages
        // between the buyer's; every acknowledged message of the buyer must be there.
        let chat = &ok["chats"][0];
        let last = chat["last_seq"].as_i64().unwrap();
        assert!(last >= 20, "{}: {ok}", db.name);
        ws.send(Message::text(
            json!({ "type": "sync", "chat_id": chat["chat_id"], "after_seq": 0 }).to_string(),
        ))
        .await
        .unwrap();
        let mut seen = Vec::new();
        let mut at = 0;
        while at < last {
            let m = next(&mut ws).await;
            let Some(seq) = m["seq"].as_i64() else {
                continue;
            };
            at = seq;
            if m["from"] == "buyer_crash" {
                assert_eq!(
                    m["body"][0]["MsgContent"]["Text"],
                    format!("消息 {}", seen.len())
                );
                seen.push(seq);
            }
        }
        assert_eq!(seen, acked, "{}", db.name);
    }
}
