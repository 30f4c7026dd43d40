//! The realtime socket end to end, on a real server on a loopback port, against SQLite and
//! (when configured) PostgreSQL: login, send and ack, delivery to every device, resume without
//! gaps or duplicates, recall, kicks, and refusals.

use futures::{SinkExt, StreamExt};
use kefu_domain::{Clock, ManualClock};
use kefu_gateway::GatewayState;
use kefu_gateway::hub::Hub;
use kefu_store::testing::{TestDb, databases};
use kefu_store::{ImApp, NewSession, Store};
use poem::listener::TcpListener;
use poem::{Route, Server};
use serde_json::{Value, json};
use std::sync::Arc;
use std::time::Duration;
use tokio_tungstenite::tungstenite::Message;

struct Env {
    base: String,
    bus: Arc<dyn kefu_bus::Bus>,
    store: Arc<dyn Store>,
    clock: ManualClock,
    app: ImApp,
    name: &'static str,
    _db: TestDb,
}

async fn env(db: TestDb) -> Env {
    let store = db.store().await;
    let clock = ManualClock::default();
    let app =
        kefu_store::testing::tenant_with_app(&store, "acme", &"s".repeat(64), clock.now()).await;
    let bus: Arc<dyn kefu_bus::Bus> = Arc::new(kefu_bus::InProcessBus::new());
    let hub = Hub::new();
    hub.follow(bus.as_ref()).await.unwrap();
    let state = GatewayState {
        store: store.clone(),
        clock: Arc::new(clock.clone()),
        bus: bus.clone(),
        rate_limit: 0,
        hub,
        http: kefu_gateway::callbacks::http_client(),
        media: kefu_gateway::media::Media::in_temp_dir(),
        typing_interval_ms: 1000,
    };
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let routes = Route::new()
        .nest("/v4", kefu_gateway::routes(state.clone()))
        .nest("/im", kefu_gateway::socket_routes(state));
    tokio::spawn(Server::new(TcpListener::bind(format!("127.0.0.1:{port}"))).run(routes));
    let base = format!("127.0.0.1:{port}");
    for _ in 0..100 {
        if tokio::net::TcpStream::connect(&base).await.is_ok() {
            break;
        }
        // Waiting for the listener to bind, not for a timeout under test.
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    Env {
        base,
        bus,
        store,
        clock,
        app,
        name: db.name,
        _db: db,
    }
}

type Ws =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

struct Client(Ws);

impl Client {
    async fn send(&mut self, v: Value) {
        self.0.send(Message::text(v.to_string())).await.unwrap();
    }

    /// The next JSON frame; fails the test after 5 s.
    async fn next(&mut self) -> Value {
        loop {
            let msg = tokio::time::timeout(Duration::from_secs(5), self.0.next())
                .await
                .expect("a frame within 5 s");
            match msg.expect("open").expect("no error") {
                Message::Text(t) => return serde_json::from_str(t.as_str()).unwrap(),
                Message::Close(c) => panic!("closed: {c:?}"),
                _ => continue,
            }
        }
    }

    /// Asserts nothing arrives for a moment.
    async fn quiet(&mut self) {
        let got = tokio::time::timeout(Duration::from_millis(150), self.0.next()).await;
        assert!(got.is_err(), "unexpected frame: {got:?}");
    }

    /// The close code and reason the server ends with.
    async fn closed(&mut self) -> (u16, String) {
        loop {
            let msg = tokio::time::timeout(Duration::from_secs(5), self.0.next())
                .await
                .expect("a close within 5 s");
            match msg {
                Some(Ok(Message::Close(Some(frame)))) => {
                    return (u16::from(frame.code), frame.reason.to_string());
                }
                Some(Ok(Message::Close(None))) | None | Some(Err(_)) => return (0, String::new()),
                Some(Ok(_)) => continue,
            }
        }
    }
}

impl Env {
    fn sig(&self, identifier: &str) -> String {
        kefu_usersig::generate(
            self.app.sdk_app_id as u64,
            &self.app.secret_key,
            identifier,
            86400,
            self.clock.now() / 1000,
        )
    }

    async fn raw(&self) -> Client {
        let (ws, _) = tokio_tungstenite::connect_async(format!("ws://{}/im/ws", self.base))
            .await
            .unwrap();
        Client(ws)
    }

    /// A logged-in socket and its `auth_ok` frame.
    async fn login(&self, identifier: &str) -> (Client, Value) {
        let mut c = self.raw().await;
        c.send(json!({ "type": "auth", "sdkappid": self.app.sdk_app_id, "identifier": identifier, "usersig": self.sig(identifier) }))
            .await;
        let ok = c.next().await;
        assert_eq!(ok["type"], "auth_ok", "{}: {ok}", self.name);
        (c, ok)
    }

    /// A console socket logged in with a new tenant-API session of `account`.
    async fn console(&self, account: kefu_domain::AccountId) -> (Client, kefu_store::Session) {
        let (token, hash) = kefu_auth::token::issue();
        let new = NewSession {
            tenant_id: Some(self.app.tenant_id),
            account_id: account,
            token_hash: hash,
            ip: "127.0.0.1".into(),
            user_agent: "t".into(),
            now: self.clock.now(),
        };
        let session = self
            .store
            .open_session(new, self.clock.now())
            .await
            .unwrap();
        let mut console = self.raw().await;
        console
            .send(json!({ "type": "auth", "token": token }))
            .await;
        assert_eq!(
            console.next().await["identifier"],
            format!("account:{account}"),
            "{}",
            self.name
        );
        (console, session)
    }

    /// Sends through REST as the admin, from `from` to `to`.
    async fn rest_send(&self, from: &str, to: &str, text: &str, random: u32) -> Value {
        let url = format!(
            "http://{}/v4/openim/sendmsg?sdkappid={}&identifier=administrator&usersig={}",
            self.base,
            self.app.sdk_app_id,
            self.sig("administrator")
        );
        let body = json!({ "From_Account": from, "To_Account": to, "MsgRandom": random,
                           "MsgBody": [{ "MsgType": "TIMTextElem", "MsgContent": { "Text": text } }] });
        let resp = reqwest::Client::new()
            .post(url)
            .body(body.to_string())
            .send()
            .await
            .unwrap();
        let v: Value = resp.json().await.unwrap();
        assert_eq!(v["ErrorCode"], 0, "{v}");
        v
    }
}

fn text_body(t: &str) -> Value {
    json!([{ "MsgType": "TIMTextElem", "MsgContent": { "Text": t } }])
}

#[tokio::test]
async fn a_buyer_sends_and_every_device_of_both_parties_receives_it() {
    for db in databases().await {
        let e = env(db).await;
        let (mut phone, ok) = e.login("buyer_1").await;
        assert_eq!(ok["chats"], json!([]), "a new buyer has no chats");
        let (mut laptop, _) = e.login("buyer_1").await;
        let (mut cs, _) = e.login("@customer_service_account").await;

        phone.send(json!({ "type": "send", "id": "c-1", "to": "@customer_service_account", "body": text_body("在吗？") })).await;
        // The ack and the pushes may come in either order on the sender's socket.
        let mut frames = [phone.next().await, phone.next().await];
        frames.sort_by_key(|f| f["type"].as_str().unwrap().to_string());
        let (ack, echo) = (&frames[0], &frames[1]);
        assert_eq!(
            (
                ack["type"].as_str(),
                ack["id"].as_str(),
                ack["seq"].as_i64()
            ),
            (Some("ack"), Some("c-1"), Some(1)),
            "{}",
            e.name
        );
        assert_eq!(ack["duplicate"], false);
        assert_eq!(
            (echo["type"].as_str(), echo["seq"].as_i64()),
            (Some("msg"), Some(1))
        );
        for device in [&mut laptop, &mut cs] {
            let m = device.next().await;
            assert_eq!(
                (m["type"].as_str(), m["seq"].as_i64(), m["from"].as_str()),
                (Some("msg"), Some(1), Some("buyer_1"))
            );
            assert_eq!(m["body"][0]["MsgContent"]["Text"], "在吗？");
            assert_eq!(m["chat_id"], ack["chat_id"]);
        }

        // The agent side answers through REST; both buyer devices get it.
        e.rest_send(
            "@customer_service_account",
            "buyer_1",
            "您好，请问有什么可以帮您？",
            7,
        )
        .await;
        for device in [&mut phone, &mut laptop] {
            let m = device.next().await;
            assert_eq!(
                (m["seq"].as_i64(), m["from"].as_str()),
                (Some(2), Some("@customer_service_account")),
                "{}",
                e.name
            );
        }

        // A resend of the same id (after a flaky network) is acknowledged as the original.
        phone.send(json!({ "type": "send", "id": "c-1", "to": "@customer_service_account", "body": text_body("在吗？") })).await;
        let again = phone.next().await;
        assert_eq!(
            (
                again["type"].as_str(),
                again["seq"].as_i64(),
                again["duplicate"].as_bool()
            ),
            (Some("ack"), Some(1), Some(true))
        );
        laptop.quiet().await;

        phone.send(json!({ "type": "ping" })).await;
        assert_eq!(phone.next().await["type"], "pong");
    }
}

#[tokio::test]
async fn a_socket_that_drops_resumes_with_no_gap_and_no_duplicate() {
    for db in databases().await {
        let e = env(db).await;
        let buyer = kefu_store::testing::im_account("buyer_1", e.clock.now());
        e.store
            .import_im_account(e.app.tenant_id, &buyer)
            .await
            .unwrap();
        let first = e
            .rest_send("@customer_service_account", "buyer_1", "m1", 1)
            .await;
        assert!(first["MsgKey"].is_string());
        let (mut c, ok) = e.login("buyer_1").await;
        let chat = ok["chats"][0].clone();
        assert_eq!(
            (chat["peer"].as_str(), chat["last_seq"].as_i64()),
            (Some("@customer_service_account"), Some(1)),
            "{}",
            e.name
        );
        e.rest_send("@customer_service_account", "buyer_1", "m2", 2)
            .await;
        assert_eq!(c.next().await["seq"], 2);
        drop(c);

        // Three messages while offline.
        for (i, t) in ["m3", "m4", "m5"].iter().enumerate() {
            e.rest_send("@customer_service_account", "buyer_1", t, 10 + i as u32)
                .await;
        }
        let (mut c, ok) = e.login("buyer_1").await;
        assert_eq!(
            ok["chats"][0]["last_seq"], 5,
            "the login says there is more"
        );
        c.send(json!({ "type": "sync", "chat_id": chat["chat_id"], "after_seq": 2 }))
            .await;
        let got: Vec<i64> = [c.next().await, c.next().await, c.next().await]
            .iter()
            .map(|m| m["seq"].as_i64().unwrap())
            .collect();
        assert_eq!(got, [3, 4, 5], "{}", e.name);
        e.rest_send("@customer_service_account", "buyer_1", "m6", 20)
            .await;
        assert_eq!(c.next().await["seq"], 6, "then live, with nothing repeated");
        c.quiet().await;

        // Another account cannot read this chat.
        let (mut stranger, _) = e.login("buyer_2").await;
        stranger
            .send(json!({ "type": "sync", "chat_id": chat["chat_id"], "after_seq": 0 }))
            .await;
        assert_eq!(stranger.next().await["code"], 90048);
    }
}

#[tokio::test]
async fn a_recall_reaches_both_parties() {
    let e = env(TestDb::sqlite()).await;
    let (mut buyer, _) = e.login("buyer_1").await;
    let sent = e
        .rest_send("@customer_service_account", "buyer_1", "发错了", 3)
        .await;
    assert_eq!(buyer.next().await["seq"], 1);
    let url = format!(
        "http://{}/v4/openim/admin_msgwithdraw?sdkappid={}&identifier=administrator&usersig={}",
        e.base,
        e.app.sdk_app_id,
        e.sig("administrator")
    );
    let body = json!({ "From_Account": "@customer_service_account", "To_Account": "buyer_1", "MsgKey": sent["MsgKey"] });
    reqwest::Client::new()
        .post(url)
        .body(body.to_string())
        .send()
        .await
        .unwrap();
    let recalled = buyer.next().await;
    assert_eq!(
        (recalled["type"].as_str(), recalled["seq"].as_i64()),
        (Some("recalled"), Some(1))
    );
}

#[tokio::test]
async fn a_kick_closes_the_socket_and_only_a_new_usersig_gets_back_in() {
    for db in databases().await {
        let e = env(db).await;
        let (mut c, _) = e.login("buyer_1").await;
        let old_sig = e.sig("buyer_1");
        e.clock.advance(1_000);
        let url = format!(
            "http://{}/v4/im_open_login_svc/kick?sdkappid={}&identifier=administrator&usersig={}",
            e.base,
            e.app.sdk_app_id,
            e.sig("administrator")
        );
        reqwest::Client::new()
            .post(url)
            .body(r#"{"UserID":"buyer_1"}"#)
            .send()
            .await
            .unwrap();
        assert_eq!(c.closed().await, (4001, "kicked".to_string()), "{}", e.name);

        let mut again = e.raw().await;
        again.send(json!({ "type": "auth", "sdkappid": e.app.sdk_app_id, "identifier": "buyer_1", "usersig": old_sig })).await;
        assert_eq!(again.next().await["code"], 70001);
        assert_eq!(again.closed().await.0, 4004);
        e.clock.advance(1_000);
        e.login("buyer_1").await;
    }
}

#[tokio::test]
async fn a_console_socket_closes_when_its_login_is_kicked() {
    let e = env(TestDb::sqlite()).await;
    let boss = e
        .store
        .find_login(Some(e.app.tenant_id), "boss")
        .await
        .unwrap()
        .unwrap();
    let (mut console, session) = e.console(boss.id).await;
    console
        .send(json!({ "type": "send", "id": "x", "to": "buyer_1", "body": text_body("hi") }))
        .await;
    assert_eq!(
        console.next().await["code"],
        60010,
        "console sockets receive only"
    );

    // What `Logins::kick` does: revoke in the store, announce on the bus.
    e.store
        .revoke_session(session.id, "kicked", e.clock.now())
        .await
        .unwrap();
    let event = kefu_domain::event::Event::SessionRevoked {
        tenant_id: Some(e.app.tenant_id),
        account_id: boss.id,
        session_id: session.id,
        reason: "kicked".into(),
    };
    e.bus
        .publish(kefu_domain::event::topic::SESSIONS, &event)
        .await
        .unwrap();
    assert_eq!(console.closed().await, (4001, "kicked".to_string()));
}

#[tokio::test]
async fn bad_logins_and_bad_frames_get_clear_errors() {
    let e = env(TestDb::sqlite()).await;
    let mut c = e.raw().await;
    c.send(json!({ "type": "ping" })).await;
    assert_eq!(c.next().await["code"], 70402, "auth comes first");
    assert_eq!(c.closed().await.0, 4004);

    let mut c = e.raw().await;
    let other_key = kefu_usersig::generate(
        e.app.sdk_app_id as u64,
        &"x".repeat(64),
        "buyer_1",
        86400,
        e.clock.now() / 1000,
    );
    c.send(json!({ "type": "auth", "sdkappid": e.app.sdk_app_id, "identifier": "buyer_1", "usersig": other_key })).await;
    assert_eq!(c.next().await["code"], 70009);
    assert_eq!(c.closed().await.0, 4004);

    let (mut c, _) = e.login("buyer_1").await;
    c.send(json!({ "type": "send", "id": "a", "to": "@customer_service_account", "body": [{ "MsgType": "TIMTextElem", "MsgContent": {} }] })).await;
    let err = c.next().await;
    assert_eq!(
        (err["code"].as_i64(), err["id"].as_str()),
        (Some(90010), Some("a"))
    );
    c.send(json!({ "type": "send", "id": "b", "to": "nobody", "body": text_body("hi") }))
        .await;
    assert_eq!(c.next().await["code"], 90012);
    c.send(json!({ "type": "shout" })).await;
    assert_eq!(c.next().await["code"], 90001);
    assert!(
        e.store
            .get_im_account(e.app.tenant_id, "buyer_1")
            .await
            .unwrap()
            .is_some(),
        "imported at first login"
    );
}

impl Env {
    async fn rest(&self, command: &str, body: Value) -> Value {
        let url = format!(
            "http://{}/v4/{command}?sdkappid={}&identifier=administrator&usersig={}",
            self.base,
            self.app.sdk_app_id,
            self.sig("administrator")
        );
        reqwest::Client::new()
            .post(url)
            .body(body.to_string())
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap()
    }

    async fn state_of(&self, user: &str) -> Value {
        let resp = self
            .rest(
                "openim/query_online_status",
                json!({ "To_Account": [user], "IsNeedDetail": 1 }),
            )
            .await;
        resp["QueryResult"][0].clone()
    }
}

#[tokio::test]
async fn online_state_follows_the_sockets() {
    for db in databases().await {
        let e = env(db).await;
        let (first, _) = e.login("buyer_1").await;
        let (second, _) = e.login("buyer_1").await;
        let online = e.state_of("buyer_1").await;
        assert_eq!(
            (online["State"].as_str(), online["Status"].as_str()),
            (Some("Online"), Some("Online")),
            "{}",
            e.name
        );
        assert_eq!(
            online["Detail"].as_array().unwrap().len(),
            2,
            "one entry per socket"
        );

        let old = e
            .rest(
                "openim/querystate",
                json!({ "To_Account": ["buyer_1", "@customer_service_account", "ghost"] }),
            )
            .await;
        let states: Vec<&str> = old["QueryResult"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["State"].as_str().unwrap())
            .collect();
        assert_eq!(states, ["Online", "Offline"]);
        assert_eq!(
            old["ErrorList"],
            json!([{ "To_Account": "ghost", "ErrorCode": 70107 }])
        );
        assert!(
            old["QueryResult"][0].get("Detail").is_none(),
            "the old API has no detail"
        );
        assert_eq!(
            e.rest("openim/querystate", json!({ "To_Account": [] }))
                .await["ErrorCode"],
            90001
        );

        drop(first);
        drop(second);
        // The server notices the closed sockets asynchronously; wait for it, bounded.
        let mut state = String::new();
        for _ in 0..100 {
            state = e.state_of("buyer_1").await["State"]
                .as_str()
                .unwrap()
                .to_string();
            if state == "Offline" {
                break;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        assert_eq!(state, "Offline", "{}", e.name);

        // A node that dies leaves entries that lapse after the presence TTL.
        e.login("buyer_2").await;
        e.clock.advance(kefu_gateway::hub::PRESENCE_TTL_MS + 1);
        assert_eq!(
            e.state_of("buyer_2").await["State"],
            "Offline",
            "lapsed in the app clock"
        );
    }
}

#[tokio::test]
async fn customer_service_control_messages_are_stored_and_acted_on() {
    let e = env(TestDb::sqlite()).await;
    let (mut c, _) = e.login("buyer_1").await;
    let custom =
        |data: &str| json!([{ "MsgType": "TIMCustomElem", "MsgContent": { "Data": data } }]);
    // Reads frames until the answer to `id`, collecting the others.
    async fn answer(c: &mut Client, id: &str, seen: &mut Vec<Value>) -> Value {
        for _ in 0..8 {
            let f = c.next().await;
            if f["id"] == id && (f["type"] == "ack" || f["type"] == "error") {
                return f;
            }
            seen.push(f);
        }
        panic!("no answer to {id}: {seen:?}");
    }
    let mut seen = Vec::new();
    let start =
        custom(r#"{"src":7,"customerServicePlugin":0,"triggeredContent":{"language":"zh"}}"#);
    c.send(
        json!({ "type": "send", "id": "start", "to": "@customer_service_account", "body": start }),
    )
    .await;
    assert_eq!(answer(&mut c, "start", &mut seen).await["type"], "ack");
    // A rating for a session that does not exist is refused with the plugin's code, unstored.
    let rate = custom(
        r#"{"src":"10","customerServicePlugin":0,"menuSelected":{"id":"105","content":"非常满意","sessionId":"s"}}"#,
    );
    c.send(
        json!({ "type": "send", "id": "rate", "to": "@customer_service_account", "body": rate }),
    )
    .await;
    let refused = answer(&mut c, "rate", &mut seen).await;
    assert_eq!(
        (refused["type"].as_str(), refused["code"].as_i64()),
        (Some("error"), Some(10150)),
        "{refused}"
    );
    let future = custom(r#"{"src":"99","customerServicePlugin":0,"whatever":true}"#);
    c.send(json!({ "type": "send", "id": "future", "to": "@customer_service_account", "body": future }))
        .await;
    assert_eq!(answer(&mut c, "future", &mut seen).await["type"], "ack");
    let history = e
        .store
        .roam_messages(
            e.app.tenant_id,
            kefu_store::RoamQuery::all("buyer_1", "@customer_service_account", 10),
        )
        .await
        .unwrap();
    let kinds: Vec<_> = history
        .iter()
        .map(|m| kefu_domain::cs::parse(&serde_json::from_str(&m.body).unwrap()))
        .collect();
    // Newest first: the unknown src is stored; src 7 was answered with the rating rules.
    assert_eq!(
        kinds,
        [
            Some(kefu_domain::cs::CsMessage::Other { src: "99".into() }),
            Some(kefu_domain::cs::CsMessage::Other { src: "23".into() }),
            Some(kefu_domain::cs::CsMessage::SessionStart {
                language: Some("zh".into()),
                channel: None,
            }),
        ]
    );
}

#[tokio::test]
async fn typing_reaches_the_peer_at_most_once_a_second_and_is_not_stored() {
    for db in databases().await {
        let e = env(db).await;
        let (mut buyer, _) = e.login("buyer_1").await;
        let (mut cs, _) = e.login("@customer_service_account").await;
        buyer
            .send(json!({ "type": "typing", "to": "@customer_service_account" }))
            .await;
        assert_eq!(
            cs.next().await,
            json!({ "type": "typing", "from": "buyer_1" }),
            "{}",
            e.name
        );
        buyer
            .send(json!({ "type": "typing", "to": "@customer_service_account" }))
            .await;
        cs.quiet().await;
        e.clock.advance(1_000);
        buyer
            .send(json!({ "type": "typing", "to": "@customer_service_account" }))
            .await;
        assert_eq!(cs.next().await["type"], "typing");
        buyer.quiet().await;
        let chats = e
            .store
            .chats_of(e.app.tenant_id, "buyer_1", 10)
            .await
            .unwrap();
        assert!(chats.is_empty(), "typing is not a message");
    }
}

#[tokio::test]
async fn a_buyer_typing_to_the_service_account_reaches_their_agent_and_to_anyone_else_only_them() {
    for db in databases().await {
        let e = env(db).await;
        let t = e.app.tenant_id;
        let group = e.store.create_skill_group(t, "售前", 0).await.unwrap();
        let mut new = kefu_store::testing::owner("agent1");
        new.role = kefu_domain::role::Role::Agent;
        new.skill_group_ids = vec![group.id];
        let agent = e.store.create_account(t, new, 0).await.unwrap().id;
        e.store
            .set_agent_status(t, agent, kefu_store::AgentStatus::Online, 1)
            .await
            .unwrap();
        let (c, _) = e
            .store
            .open_conversation(t, "buyer_1", "@customer_service_account", "im", 2)
            .await
            .unwrap();
        e.store
            .enqueue(t, c.id, group.id, "buyer:buyer_1", 3)
            .await
            .unwrap();
        e.store
            .take_conversation(t, c.id, agent, "t", 4)
            .await
            .unwrap();
        let (mut console, _) = e.console(agent).await;
        let (mut buyer, _) = e.login("buyer_1").await;
        let (mut other, _) = e.login("buyer_2").await;
        buyer
            .send(json!({ "type": "typing", "to": "@customer_service_account" }))
            .await;
        assert_eq!(
            console.next().await,
            json!({ "type": "typing", "from": "buyer_1" }),
            "{}",
            e.name
        );
        e.clock.advance(1_000);
        buyer
            .send(json!({ "type": "typing", "to": "buyer_2" }))
            .await;
        assert_eq!(
            other.next().await,
            json!({ "type": "typing", "from": "buyer_1" }),
            "{}",
            e.name
        );
        console.quiet().await;
    }
}

#[tokio::test]
async fn read_receipts_reach_the_sender_and_show_in_history() {
    for db in databases().await {
        let e = env(db).await;
        let (mut buyer, _) = e.login("buyer_1").await;
        let (mut cs, _) = e.login("@customer_service_account").await;
        for i in 0..3 {
            buyer.send(json!({ "type": "send", "id": format!("r{i}"), "to": "@customer_service_account", "body": text_body("hi") })).await;
            buyer.next().await;
            buyer.next().await;
            cs.next().await;
        }
        let chat_id = e
            .store
            .chats_of(e.app.tenant_id, "buyer_1", 1)
            .await
            .unwrap()[0]
            .id;
        cs.send(json!({ "type": "read", "chat_id": chat_id, "seq": 2 }))
            .await;
        assert_eq!(
            buyer.next().await,
            json!({ "type": "read", "chat_id": chat_id, "by": "@customer_service_account", "seq": 2 }),
            "{}",
            e.name
        );
        assert_eq!(
            cs.next().await["type"],
            "read",
            "the reader's own devices hear it too"
        );
        cs.send(json!({ "type": "read", "chat_id": chat_id, "seq": 1 }))
            .await;
        buyer.quiet().await;

        let history = e
            .rest("openim/admin_getroammsg", json!({ "Operator_Account": "buyer_1", "Peer_Account": "@customer_service_account",
                                                     "MaxCnt": 10, "MinTime": 0, "MaxTime": 4_000_000_000_i64 }))
            .await;
        let read: Vec<i64> = history["MsgList"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| m["IsPeerRead"].as_i64().unwrap())
            .collect();
        assert_eq!(
            read,
            [0, 1, 1],
            "{}: newest first; the agent read up to 2",
            e.name
        );
        let (_, ok) = e.login("buyer_1").await;
        assert_eq!(
            (
                ok["chats"][0]["read_seq"].as_i64(),
                ok["chats"][0]["peer_read_seq"].as_i64()
            ),
            (Some(0), Some(2))
        );

        let (mut stranger, _) = e.login("buyer_2").await;
        stranger
            .send(json!({ "type": "read", "chat_id": chat_id, "seq": 3 }))
            .await;
        assert_eq!(stranger.next().await["code"], 90048);
    }
}

#[tokio::test]
async fn a_blocked_word_on_the_socket_is_refused_unstored_and_a_masked_one_delivered_starred() {
    for db in databases().await {
        let e = env(db).await;
        e.store
            .replace_sensitive_words(
                e.app.tenant_id,
                &[
                    kefu_domain::moderation::Word {
                        word: "加微信".into(),
                        action: kefu_domain::moderation::WordAction::Block,
                    },
                    kefu_domain::moderation::Word {
                        word: "垃圾".into(),
                        action: kefu_domain::moderation::WordAction::Mask,
                    },
                ],
                0,
            )
            .await
            .unwrap();
        kefu_engine::cache::forget(&e.store, e.app.tenant_id);
        let (mut buyer, _) = e.login("buyer_1").await;
        let (mut cs, _) = e.login("@customer_service_account").await;
        buyer.send(json!({ "type": "send", "id": "b-1", "to": "@customer_service_account", "body": text_body("加微信聊吧") })).await;
        let refused = buyer.next().await;
        assert_eq!(
            (
                refused["type"].as_str(),
                refused["id"].as_str(),
                refused["code"].as_i64()
            ),
            (Some("error"), Some("b-1"), Some(80001)),
            "{}: {refused}",
            e.name
        );
        buyer.send(json!({ "type": "send", "id": "b-2", "to": "@customer_service_account", "body": text_body("什么垃圾东西") })).await;
        let m = cs.next().await;
        assert_eq!(
            (
                m["seq"].as_i64(),
                m["body"][0]["MsgContent"]["Text"].as_str()
            ),
            (Some(1), Some("什么***东西")),
            "{}: the blocked one was never stored",
            e.name
        );
    }
}

#[tokio::test]
async fn a_signed_link_buys_a_usersig_for_the_socket_and_forged_or_old_ones_do_not() {
    for db in databases().await {
        let e = env(db).await;
        let now = e.clock.now() / 1000;
        let key = e.app.secret_key.clone();
        let id = e.app.sdk_app_id as u64;
        let exchange = |buyer: &str, expires: i64, sig: String| {
            let url = format!("http://{}/im/link", e.base);
            let body = json!({ "tenant": "acme", "buyer": buyer, "expires": expires, "sig": sig, "nick": "小明" });
            async move {
                let resp = reqwest::Client::new()
                    .post(url)
                    .json(&body)
                    .send()
                    .await
                    .unwrap();
                let status = resp.status().as_u16();
                (status, resp.json::<Value>().await.unwrap())
            }
        };
        let expires = now + 600;
        let (status, ok) = exchange(
            "shop_buyer_9",
            expires,
            kefu_usersig::link_signature(&key, id, "shop_buyer_9", expires),
        )
        .await;
        assert_eq!(status, 200, "{}: {ok}", e.name);
        assert_eq!(ok["identifier"], "shop_buyer_9");
        assert_eq!(ok["service_account"], "@customer_service_account");
        // The buyer is imported, with the nick, and the UserSig opens the socket.
        let imported = e
            .store
            .get_im_account(e.app.tenant_id, "shop_buyer_9")
            .await
            .unwrap()
            .unwrap();
        assert_eq!(imported.nick, "小明");
        let mut c = e.raw().await;
        c.send(json!({ "type": "auth", "sdkappid": ok["sdkappid"], "identifier": "shop_buyer_9", "usersig": ok["usersig"] }))
            .await;
        assert_eq!(c.next().await["type"], "auth_ok", "{}", e.name);

        // Another buyer's id under this signature, a guessed key, an expired or far-off
        // link, an admin's identifier: refused.
        let sig = kefu_usersig::link_signature(&key, id, "shop_buyer_9", expires);
        assert_eq!(exchange("shop_buyer_1", expires, sig).await.0, 401);
        let guessed = kefu_usersig::link_signature("guess", id, "shop_buyer_9", expires);
        assert_eq!(exchange("shop_buyer_9", expires, guessed).await.0, 401);
        let old = now - 1;
        let (status, why) = exchange(
            "shop_buyer_9",
            old,
            kefu_usersig::link_signature(&key, id, "shop_buyer_9", old),
        )
        .await;
        assert_eq!((status, why["code"].as_str()), (401, Some("link_expired")));
        let far = now + 8 * 86_400;
        let (status, _) = exchange(
            "shop_buyer_9",
            far,
            kefu_usersig::link_signature(&key, id, "shop_buyer_9", far),
        )
        .await;
        assert_eq!(status, 400);
        let (status, _) = exchange(
            "administrator",
            expires,
            kefu_usersig::link_signature(&key, id, "administrator", expires),
        )
        .await;
        assert_eq!(status, 401, "{}: links are for buyers", e.name);
    }
}
