//! Callbacks to a tenant's server, against a real HTTP receiver on a loopback port, on SQLite
//! and (when configured) PostgreSQL.

use kefu_domain::{Clock, ManualClock};
use kefu_gateway::GatewayState;
use kefu_gateway::callbacks::{Worker, http_client, sign};
use kefu_store::testing::{TestDb, databases};
use kefu_store::{ImApp, Store};
use poem::endpoint::BoxEndpoint;
use poem::listener::TcpListener;
use poem::test::TestClient;
use poem::web::{Data, Json};
use poem::{EndpointExt, Request, Route, Server, handler};
use serde_json::{Value, json};
use std::sync::{Arc, Mutex};

/// What the receiver saw and how it answers.
#[derive(Default)]
struct Receiver {
    seen: Mutex<Vec<(String, Value)>>,
    /// The JSON to answer with; `None` answers HTTP 502.
    answer: Mutex<Option<Value>>,
}

#[handler]
async fn receive(req: &Request, body: Json<Value>, r: Data<&Arc<Receiver>>) -> poem::Response {
    r.seen.lock().unwrap().push((req.uri().to_string(), body.0));
    match r.answer.lock().unwrap().clone() {
        Some(answer) => poem::Response::builder()
            .content_type("application/json")
            .body(answer.to_string()),
        None => poem::Response::builder()
            .status(poem::http::StatusCode::BAD_GATEWAY)
            .finish(),
    }
}

struct Env {
    cli: TestClient<BoxEndpoint<'static, poem::Response>>,
    store: Arc<dyn Store>,
    clock: ManualClock,
    app: ImApp,
    receiver: Arc<Receiver>,
    name: &'static str,
    db: TestDb,
}

async fn env(db: TestDb) -> Env {
    let store = db.store().await;
    let clock = ManualClock::default();
    let app =
        kefu_store::testing::tenant_with_app(&store, "acme", &"s".repeat(64), clock.now()).await;

    let receiver = Arc::new(Receiver::default());
    *receiver.answer.lock().unwrap() =
        Some(json!({ "ActionStatus": "OK", "ErrorCode": 0, "ErrorInfo": "" }));
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    tokio::spawn(
        Server::new(TcpListener::bind(format!("127.0.0.1:{port}")))
            .run(Route::new().at("/im", receive).data(receiver.clone())),
    );
    for _ in 0..100 {
        if tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .is_ok()
        {
            break;
        }
        // Waiting for the receiver to bind, not for a timeout under test.
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    store
        .set_im_callback(
            app.tenant_id,
            &format!("http://127.0.0.1:{port}/im"),
            "tok3n",
            clock.now(),
        )
        .await
        .unwrap();
    let app = store.get_im_app(app.tenant_id).await.unwrap().unwrap();
    let buyer = kefu_store::testing::im_account("buyer_1", clock.now());
    store
        .import_im_account(app.tenant_id, &buyer)
        .await
        .unwrap();
    let state = GatewayState {
        store: store.clone(),
        clock: Arc::new(clock.clone()),
        bus: Arc::new(kefu_bus::InProcessBus::new()),
        rate_limit: 0,
        hub: kefu_gateway::hub::Hub::new(),
        http: http_client(),
        media: kefu_gateway::media::Media::in_temp_dir(),
        typing_interval_ms: 1000,
    };
    let ep = Route::new()
        .nest("/v4", kefu_gateway::routes(state))
        .map_to_response()
        .boxed();
    Env {
        cli: TestClient::new(ep),
        store,
        clock,
        app,
        receiver,
        name: db.name,
        db,
    }
}

impl Env {
    async fn call(&self, command: &str, body: Value) -> Value {
        let sig = kefu_usersig::generate(
            self.app.sdk_app_id as u64,
            &self.app.secret_key,
            "administrator",
            86400,
            self.clock.now() / 1000,
        );
        let url = format!(
            "/v4/{command}?sdkappid={}&identifier=administrator&usersig={sig}",
            self.app.sdk_app_id
        );
        let resp = self.cli.post(url).body(body.to_string()).send().await;
        serde_json::from_str(&resp.0.into_body().into_string().await.unwrap()).unwrap()
    }

    async fn send(&self, text: &str, random: u32) -> Value {
        self.call(
            "openim/sendmsg",
            json!({ "From_Account": "buyer_1", "To_Account": "@customer_service_account", "MsgRandom": random,
                    "MsgBody": [{ "MsgType": "TIMTextElem", "MsgContent": { "Text": text } }] }),
        )
        .await
    }

    fn answer(&self, v: Option<Value>) {
        *self.receiver.answer.lock().unwrap() = v;
    }

    fn seen(&self) -> Vec<(String, Value)> {
        std::mem::take(&mut *self.receiver.seen.lock().unwrap())
    }

    async fn stored(&self) -> Vec<String> {
        let q = kefu_store::RoamQuery::all("buyer_1", "@customer_service_account", 50);
        let msgs = self
            .store
            .roam_messages(self.app.tenant_id, q)
            .await
            .unwrap();
        // The buyer's own messages (the service's greeting and bot answers are not under
        // test here).
        msgs.iter()
            .filter(|m| m.from_account == "buyer_1")
            .map(|m| {
                serde_json::from_str::<Value>(&m.body).unwrap()[0]["MsgContent"]["Text"]
                    .as_str()
                    .unwrap_or("")
                    .to_string()
            })
            .collect()
    }

    fn worker(&self, store: Arc<dyn Store>) -> Worker {
        Worker {
            store,
            clock: Arc::new(self.clock.clone()),
            http: http_client(),
            media: kefu_gateway::media::Media::in_temp_dir(),
        }
    }
}

fn query(uri: &str, key: &str) -> String {
    uri.split(['?', '&'])
        .find_map(|p| p.strip_prefix(&format!("{key}=")))
        .unwrap_or("")
        .to_string()
}

#[tokio::test]
async fn the_before_send_callback_can_block_rewrite_or_pass_a_code_and_is_signed() {
    for db in databases().await {
        let e = env(db).await;
        e.answer(Some(json!({ "ErrorCode": 1, "ErrorInfo": "no links" })));
        assert_eq!(
            e.send("http://spam", 1).await["ErrorCode"],
            20006,
            "{}",
            e.name
        );
        let seen = e.seen();
        let (uri, body) = &seen[0];
        assert_eq!(query(uri, "CallbackCommand"), "C2C.CallbackBeforeSendMsg");
        assert_eq!(query(uri, "SdkAppid"), e.app.sdk_app_id.to_string());
        assert_eq!(query(uri, "OptPlatform"), "RESTAPI");
        let time: i64 = query(uri, "RequestTime").parse().unwrap();
        assert_eq!(
            query(uri, "Sign"),
            sign("tok3n", time),
            "signed with the token"
        );
        assert_eq!(
            (
                body["From_Account"].as_str(),
                body["MsgBody"][0]["MsgContent"]["Text"].as_str()
            ),
            (Some("buyer_1"), Some("http://spam"))
        );

        e.answer(Some(
            json!({ "ErrorCode": 120005, "ErrorInfo": "请勿发送联系方式" }),
        ));
        let passed = e.send("加我微信", 2).await;
        assert_eq!(
            (passed["ErrorCode"].as_i64(), passed["ErrorInfo"].as_str()),
            (Some(120005), Some("请勿发送联系方式"))
        );

        e.answer(Some(json!({ "ErrorCode": 0, "MsgBody": [{ "MsgType": "TIMTextElem", "MsgContent": { "Text": "***" } }] })));
        assert_eq!(e.send("骂人的话", 3).await["ErrorCode"], 0);
        // A server that fails does not stop messages.
        e.answer(None);
        e.clock.advance(1_000);
        assert_eq!(e.send("你好", 4).await["ErrorCode"], 0, "{}", e.name);
        assert_eq!(
            e.stored().await,
            ["你好", "***"],
            "blocked ones are not stored; the rewrite is"
        );

        // ForbidCallbackControl skips it.
        e.seen();
        let quiet = json!({ "From_Account": "buyer_1", "To_Account": "@customer_service_account", "MsgRandom": 9,
                            "ForbidCallbackControl": ["ForbidBeforeSendMsgCallback"],
                            "MsgBody": [{ "MsgType": "TIMTextElem", "MsgContent": { "Text": "x" } }] });
        assert_eq!(e.call("openim/sendmsg", quiet).await["ErrorCode"], 0);
        assert!(e.seen().is_empty());
    }
}

#[tokio::test]
async fn after_callbacks_are_retried_until_delivered_even_after_a_restart() {
    for db in databases().await {
        let e = env(db).await;
        e.answer(Some(json!({ "ErrorCode": 0 })));
        assert_eq!(e.send("在吗", 1).await["ErrorCode"], 0);
        e.seen();
        // The tenant's server is down for the first attempt.
        e.answer(None);
        let worker = e.worker(e.store.clone());
        assert_eq!(worker.run_once().await, 1);
        let pending = e
            .store
            .list_callbacks(e.app.tenant_id, Some("pending"), 10)
            .await
            .unwrap();
        assert_eq!(
            (
                pending.len(),
                pending[0].attempts,
                pending[0].last_error.as_str()
            ),
            (1, 1, "answered HTTP 502"),
            "{}",
            e.name
        );
        assert_eq!(worker.run_once().await, 0, "not due before its backoff");

        // "Restart": a new connection and a new worker, one second later, with the server up.
        e.answer(Some(json!({ "ErrorCode": 0 })));
        e.seen();
        e.clock.advance(1_000);
        let fresh = e.worker(e.db.store().await);
        assert_eq!(fresh.run_once().await, 1);
        let seen = e.seen();
        assert_eq!(seen.len(), 1, "{}", e.name);
        let (uri, body) = &seen[0];
        assert_eq!(query(uri, "CallbackCommand"), "C2C.CallbackAfterSendMsg");
        assert_eq!(
            (body["SendMsgResult"].as_i64(), body["ErrorInfo"].as_str()),
            (Some(0), Some("send msg succeed"))
        );
        assert_eq!(
            body["MsgKey"],
            format!(
                "{}_{}_{}",
                body["MsgSeq"], body["MsgRandom"], body["MsgTime"]
            )
        );
        assert_eq!(
            e.store
                .list_callbacks(e.app.tenant_id, Some("done"), 10)
                .await
                .unwrap()
                .len(),
            1
        );
    }
}

#[tokio::test]
async fn a_callback_that_keeps_failing_is_marked_failed_with_its_error() {
    let e = env(TestDb::sqlite()).await;
    e.send("hi", 1).await;
    let sent = e.call("openim/admin_msgwithdraw", json!({ "From_Account": "buyer_1", "To_Account": "@customer_service_account",
        "MsgKey": e.store.roam_messages(e.app.tenant_id, kefu_store::RoamQuery::all("buyer_1", "@customer_service_account", 1)).await.unwrap()[0].msg_key })).await;
    assert_eq!(sent["ErrorCode"], 0);
    e.answer(None);
    let worker = e.worker(e.store.clone());
    for _ in 0..kefu_gateway::callbacks::MAX_ATTEMPTS {
        worker.run_once().await;
        e.clock.advance(300_000);
    }
    let failed = e
        .store
        .list_callbacks(e.app.tenant_id, Some("failed"), 10)
        .await
        .unwrap();
    let commands: Vec<&str> = failed.iter().map(|f| f.command.as_str()).collect();
    assert_eq!(
        commands,
        ["C2C.CallbackAfterMsgWithDraw", "C2C.CallbackAfterSendMsg"]
    );
    assert!(
        failed
            .iter()
            .all(|f| f.attempts == 10 && f.last_error == "answered HTTP 502")
    );
    assert_eq!(worker.run_once().await, 0, "failed entries are not retried");
}
