//! The `/v4` REST API as Tencent IM clients call it, on SQLite and (when configured)
//! PostgreSQL: envelope, authentication, and every `im_open_login_svc` command's success and
//! error paths.

use kefu_domain::{Clock, ManualClock};
use kefu_gateway::GatewayState;
use kefu_store::testing::{TestDb, databases};
use kefu_store::{ImApp, Store, TenantPatch};
use poem::endpoint::BoxEndpoint;
use poem::test::TestClient;
use poem::{EndpointExt, Route};
use serde_json::{Value, json};
use std::sync::Arc;

struct Gw {
    cli: TestClient<BoxEndpoint<'static, poem::Response>>,
    bus: Arc<kefu_bus::InProcessBus>,
    store: Arc<dyn Store>,
    clock: ManualClock,
    app: ImApp,
    name: &'static str,
    _db: TestDb,
}

async fn gateway(db: TestDb) -> Gw {
    let store = db.store().await;
    let clock = ManualClock::default();
    let app =
        kefu_store::testing::tenant_with_app(&store, "acme", &"s".repeat(64), clock.now()).await;
    let shared: Arc<dyn Clock> = Arc::new(clock.clone());
    let bus = Arc::new(kefu_bus::InProcessBus::new());
    let ep = Route::new()
        .nest(
            "/v4",
            kefu_gateway::routes(GatewayState {
                store: store.clone(),
                clock: shared,
                bus: bus.clone(),
                rate_limit: 1000,
                hub: kefu_gateway::hub::Hub::new(),
                http: kefu_gateway::callbacks::http_client(),
                media: kefu_gateway::media::Media::in_temp_dir(),
                typing_interval_ms: 1000,
            }),
        )
        .map_to_response()
        .boxed();
    Gw {
        cli: TestClient::new(ep),
        bus,
        store,
        clock,
        app,
        name: db.name,
        _db: db,
    }
}

impl Gw {
    fn sig(&self, identifier: &str) -> String {
        kefu_usersig::generate(
            self.app.sdk_app_id as u64,
            &self.app.secret_key,
            identifier,
            86400,
            self.clock.now() / 1000,
        )
    }

    fn url(&self, command: &str) -> String {
        format!(
            "/v4/{command}?sdkappid={}&identifier=administrator&usersig={}&random=42&contenttype=json",
            self.app.sdk_app_id,
            self.sig("administrator")
        )
    }

    async fn raw(&self, url: &str, body: &str) -> (u16, Value) {
        let resp = self.cli.post(url).body(body.to_string()).send().await;
        let status = resp.0.status().as_u16();
        let text = resp.0.into_body().into_string().await.unwrap();
        (
            status,
            serde_json::from_str(&text).unwrap_or_else(|_| panic!("not JSON: {text}")),
        )
    }

    /// Calls `command` and returns the body, after checking the transport is always 200.
    async fn call(&self, command: &str, body: Value) -> Value {
        let (status, resp) = self.raw(&self.url(command), &body.to_string()).await;
        assert_eq!(status, 200, "{}: {command}", self.name);
        resp
    }
}

fn code(v: &Value) -> i64 {
    v["ErrorCode"].as_i64().unwrap()
}

#[tokio::test]
async fn accounts_are_imported_checked_kicked_and_deleted() {
    for db in databases().await {
        let gw = gateway(db).await;
        let ok = gw
            .call(
                "im_open_login_svc/account_import",
                json!({ "UserID": "buyer_1", "Nick": "张三" }),
            )
            .await;
        assert_eq!(
            ok,
            json!({ "ActionStatus": "OK", "ErrorCode": 0, "ErrorInfo": "" }),
            "{}",
            gw.name
        );
        // Older clients name the account `Identifier`.
        let ok = gw
            .call(
                "im_open_login_svc/account_import",
                json!({ "Identifier": "buyer_2", "Type": 1 }),
            )
            .await;
        assert_eq!(code(&ok), 0);
        let stored = gw
            .store
            .get_im_account(gw.app.tenant_id, "buyer_2")
            .await
            .unwrap()
            .unwrap();
        assert_eq!(stored.kind, 1, "a robot account");

        let multi = gw
            .call(
                "im_open_login_svc/multiaccount_import",
                json!({ "Accounts": ["buyer_3", "", "x".repeat(33)] }),
            )
            .await;
        assert_eq!(code(&multi), 0);
        assert_eq!(multi["FailAccounts"], json!(["", "x".repeat(33)]));
        let multi = gw
            .call(
                "im_open_login_svc/multiaccount_import",
                json!({ "AccountList": [{ "UserID": "buyer_4", "Nick": "李四" }] }),
            )
            .await;
        assert_eq!(multi["FailAccounts"], json!([]));
        assert_eq!(
            gw.store
                .get_im_account(gw.app.tenant_id, "buyer_4")
                .await
                .unwrap()
                .unwrap()
                .nick,
            "李四"
        );

        let check = gw
            .call(
                "im_open_login_svc/account_check",
                json!({ "CheckItem": [{ "UserID": "buyer_1" }, { "UserID": "nobody" }, { "UserID": "@customer_service_account" }] }),
            )
            .await;
        let statuses: Vec<&str> = check["ResultItem"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["AccountStatus"].as_str().unwrap())
            .collect();
        assert_eq!(
            statuses,
            ["Imported", "NotImported", "Imported"],
            "{}",
            gw.name
        );

        assert_eq!(
            code(
                &gw.call("im_open_login_svc/kick", json!({ "UserID": "buyer_1" }))
                    .await
            ),
            0
        );
        let kicked = gw
            .store
            .get_im_account(gw.app.tenant_id, "buyer_1")
            .await
            .unwrap()
            .unwrap();
        assert_eq!(kicked.kicked_at, Some(gw.clock.now()));
        let missing = gw
            .call("im_open_login_svc/kick", json!({ "Identifier": "nobody" }))
            .await;
        assert_eq!(
            (code(&missing), missing["ActionStatus"].as_str()),
            (70107, Some("FAIL"))
        );

        let deleted = gw
            .call(
                "im_open_login_svc/account_delete",
                json!({ "DeleteItem": [{ "UserID": "buyer_1" }, { "UserID": "nobody" }, { "UserID": "administrator" }] }),
            )
            .await;
        let results: Vec<i64> = deleted["ResultItem"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["ResultCode"].as_i64().unwrap())
            .collect();
        assert_eq!(results, [0, 70107, 70402]);
        assert_eq!(
            deleted["ResultItem"][1]["ResultInfo"],
            "Err_TLS_PT_Open_Login_Account_Not_Exist"
        );
        assert!(
            gw.store
                .get_im_account(gw.app.tenant_id, "buyer_1")
                .await
                .unwrap()
                .is_none()
        );
    }
}

#[tokio::test]
async fn bad_bodies_get_their_codes() {
    for db in databases().await {
        let gw = gateway(db).await;
        assert_eq!(
            code(&gw.call("im_open_login_svc/account_import", json!({})).await),
            70402
        );
        assert_eq!(
            code(
                &gw.call("im_open_login_svc/account_import", json!({ "UserID": 12 }))
                    .await
            ),
            70402
        );
        assert_eq!(
            code(
                &gw.call(
                    "im_open_login_svc/account_import",
                    json!({ "UserID": "x".repeat(33) })
                )
                .await
            ),
            70402
        );
        assert_eq!(
            code(
                &gw.call(
                    "im_open_login_svc/multiaccount_import",
                    json!({ "Accounts": "a" })
                )
                .await
            ),
            70402
        );
        let too_many: Vec<String> = (0..101).map(|i| format!("u{i}")).collect();
        assert_eq!(
            code(
                &gw.call(
                    "im_open_login_svc/multiaccount_import",
                    json!({ "Accounts": too_many })
                )
                .await
            ),
            70402
        );
        assert_eq!(
            code(
                &gw.call(
                    "im_open_login_svc/account_check",
                    json!({ "CheckItem": [] })
                )
                .await
            ),
            70402
        );
        assert_eq!(
            code(&gw.call("im_open_login_svc/account_delete", json!({})).await),
            70402
        );

        let (status, resp) = gw
            .raw(&gw.url("im_open_login_svc/account_import"), "{not json")
            .await;
        assert_eq!((status, code(&resp)), (200, 90001));
        assert_eq!(
            resp["ErrorInfo"],
            "Fail to Parse json data of body, Please check it"
        );
        let (_, resp) = gw
            .raw(&gw.url("im_open_login_svc/account_import"), "[1, 2]")
            .await;
        assert_eq!(code(&resp), 90001, "{}", gw.name);
        let big = json!({ "UserID": "a", "Nick": "x".repeat(13 * 1024) }).to_string();
        let (_, resp) = gw
            .raw(&gw.url("im_open_login_svc/account_import"), &big)
            .await;
        assert_eq!(code(&resp), 93000);
        // An empty body is taken as {}.
        let (_, resp) = gw.raw(&gw.url("im_open_login_svc/account_check"), "").await;
        assert_eq!(code(&resp), 70402);
    }
}

#[tokio::test]
async fn callers_must_be_app_admins_with_a_valid_usersig() {
    for db in databases().await {
        let gw = gateway(db).await;
        let body = r#"{"UserID":"buyer_1"}"#;
        let app = gw.app.sdk_app_id;
        let admin_sig = gw.sig("administrator");
        let cases: Vec<(String, i64)> = vec![
            (
                format!(
                    "/v4/im_open_login_svc/account_import?identifier=administrator&usersig={admin_sig}"
                ),
                60012,
            ),
            (
                format!(
                    "/v4/im_open_login_svc/account_import?sdkappid=abc&identifier=administrator&usersig={admin_sig}"
                ),
                60006,
            ),
            (
                format!(
                    "/v4/im_open_login_svc/account_import?sdkappid=1&identifier=administrator&usersig={admin_sig}"
                ),
                60006,
            ),
            (
                format!(
                    "/v4/im_open_login_svc/account_import?sdkappid={app}&identifier=buyer_1&usersig={}",
                    gw.sig("buyer_1")
                ),
                60010,
            ),
            (
                format!(
                    "/v4/im_open_login_svc/account_import?sdkappid={app}&identifier=administrator&usersig=garbage"
                ),
                70003,
            ),
            (
                format!(
                    "/v4/im_open_login_svc/account_import?sdkappid={app}&identifier=administrator&usersig={}",
                    gw.sig("someone")
                ),
                70013,
            ),
            (
                format!(
                    "/v4/im_open_login_svc/account_import?sdkappid={app}&identifier=administrator&usersig={}",
                    kefu_usersig::generate(
                        app as u64,
                        &"x".repeat(64),
                        "administrator",
                        86400,
                        gw.clock.now() / 1000
                    )
                ),
                70009,
            ),
            (
                format!(
                    "/v4/im_open_login_svc/account_import?sdkappid={app}&identifier=administrator&usersig={}",
                    kefu_usersig::generate(
                        app as u64 + 1,
                        &gw.app.secret_key,
                        "administrator",
                        86400,
                        gw.clock.now() / 1000
                    )
                ),
                70014,
            ),
            (
                format!(
                    "/v4/openim/no_such_command?sdkappid={app}&identifier=administrator&usersig={admin_sig}"
                ),
                60009,
            ),
            (format!("/v4/nope?sdkappid={app}"), 60009),
        ];
        for (url, expected) in cases {
            let (status, resp) = gw.raw(&url, body).await;
            assert_eq!(
                (status, code(&resp)),
                (200, expected),
                "{}: {url} → {resp}",
                gw.name
            );
            assert_eq!(resp["ActionStatus"], "FAIL");
        }
        assert!(
            gw.store
                .get_im_account(gw.app.tenant_id, "buyer_1")
                .await
                .unwrap()
                .is_none(),
            "nothing was imported"
        );

        // Query names in any case, GET with a body, no Content-Type: still accepted.
        let url = format!(
            "/v4/im_open_login_svc/account_import?SdkAppId={app}&Identifier=administrator&UserSig={admin_sig}&Random=7"
        );
        let resp = gw.cli.get(&url).body(body).send().await;
        let resp: Value =
            serde_json::from_str(&resp.0.into_body().into_string().await.unwrap()).unwrap();
        assert_eq!(code(&resp), 0, "{}: {resp}", gw.name);

        // The sig expires; a new one works.
        gw.clock.advance(86_401_000);
        let (_, resp) = gw.raw(&format!("/v4/im_open_login_svc/account_import?sdkappid={app}&identifier=administrator&usersig={admin_sig}"), body).await;
        assert_eq!(code(&resp), 70001);
        assert_eq!(
            code(
                &gw.call(
                    "im_open_login_svc/account_import",
                    json!({ "UserID": "buyer_1" })
                )
                .await
            ),
            0
        );

        // A rotated secret invalidates old sigs: at once on the node that rotated it (the
        // tenant API forgets its copy of the app), within the cache's 5 s on the others.
        let fresh = gw.sig("administrator");
        gw.store
            .rotate_im_secret(gw.app.tenant_id, &"n".repeat(64), gw.clock.now())
            .await
            .unwrap();
        kefu_engine::cache::forget_im_app(&gw.store, gw.app.tenant_id);
        let (_, resp) = gw.raw(&format!("/v4/im_open_login_svc/account_import?sdkappid={app}&identifier=administrator&usersig={fresh}"), body).await;
        assert_eq!(code(&resp), 70009);

        // A disabled tenant's app answers 60016.
        let off = TenantPatch {
            disabled: Some(true),
            ..Default::default()
        };
        gw.store
            .update_tenant(gw.app.tenant_id, off, gw.clock.now())
            .await
            .unwrap();
        kefu_engine::cache::forget_tenant(&gw.store, gw.app.tenant_id);
        let (_, resp) = gw.raw(&format!("/v4/im_open_login_svc/account_import?sdkappid={app}&identifier=administrator&usersig={fresh}"), body).await;
        assert_eq!(code(&resp), 60016);
    }
}

#[tokio::test]
async fn one_tenants_admin_cannot_touch_another_tenants_accounts() {
    let gw = gateway(TestDb::sqlite()).await;
    let b =
        kefu_store::testing::tenant_with_app(&gw.store, "bolt", &"b".repeat(64), gw.clock.now())
            .await;
    gw.call(
        "im_open_login_svc/account_import",
        json!({ "UserID": "shared_name" }),
    )
    .await;
    assert!(
        gw.store
            .get_im_account(b.tenant_id, "shared_name")
            .await
            .unwrap()
            .is_none()
    );
    // Bolt's key does not open Acme's app.
    let sig = kefu_usersig::generate(
        gw.app.sdk_app_id as u64,
        &"b".repeat(64),
        "administrator",
        86400,
        gw.clock.now() / 1000,
    );
    let url = format!(
        "/v4/im_open_login_svc/account_delete?sdkappid={}&identifier=administrator&usersig={sig}",
        gw.app.sdk_app_id
    );
    let (_, resp) = gw
        .raw(&url, r#"{"DeleteItem":[{"UserID":"shared_name"}]}"#)
        .await;
    assert_eq!(code(&resp), 70009);
}

fn text(t: &str) -> Value {
    json!([{ "MsgType": "TIMTextElem", "MsgContent": { "Text": t } }])
}

async fn import_buyers(gw: &Gw, ids: &[&str]) {
    let resp = gw
        .call(
            "im_open_login_svc/multiaccount_import",
            json!({ "Accounts": ids }),
        )
        .await;
    assert_eq!(resp["FailAccounts"], json!([]));
}

#[tokio::test]
async fn a_buyer_message_is_stored_keyed_announced_and_deduplicated() {
    for db in databases().await {
        let gw = gateway(db).await;
        import_buyers(&gw, &["buyer_1"]).await;
        let mut events =
            kefu_bus::Bus::subscribe(gw.bus.as_ref(), kefu_domain::event::topic::MESSAGES)
                .await
                .unwrap();
        let send = json!({ "From_Account": "buyer_1", "To_Account": "@customer_service_account",
                           "MsgSeq": 93847636, "MsgRandom": 1287657, "MsgBody": text("你好，在吗？") });
        let resp = gw.call("openim/sendmsg", send.clone()).await;
        assert_eq!(code(&resp), 0, "{}: {resp}", gw.name);
        let now = gw.clock.now() / 1000;
        assert_eq!(resp["MsgTime"], now);
        assert_eq!(resp["MsgKey"], format!("93847636_1287657_{now}"));
        let event = futures::StreamExt::next(&mut events).await.unwrap();
        assert!(
            matches!(&event, kefu_domain::event::Event::MessageStored { seq: 1, from_account, .. } if from_account == "buyer_1"),
            "{event:?}"
        );

        // The same send a minute later is a duplicate: same answer, nothing stored.
        gw.clock.advance(60_000);
        let again = gw.call("openim/sendmsg", send).await;
        assert_eq!(again["MsgKey"], resp["MsgKey"], "{}", gw.name);
        let nothing = tokio::time::timeout(
            std::time::Duration::from_millis(100),
            futures::StreamExt::next(&mut events),
        )
        .await;
        assert!(nothing.is_err(), "a duplicate is not announced");

        // Without From_Account the admin is the sender; without MsgSeq one is chosen.
        let resp = gw
            .call("openim/sendmsg", json!({ "To_Account": "buyer_1", "MsgRandom": 5, "MsgTimeStamp": 1_700_000_000, "MsgBody": text("您好") }))
            .await;
        assert_eq!(resp["MsgTime"], 1_700_000_000);
        assert!(resp["MsgKey"].as_str().unwrap().ends_with("_5_1700000000"));
        let history = gw
            .store
            .roam_messages(
                gw.app.tenant_id,
                kefu_store::RoamQuery {
                    a: "administrator",
                    b: "buyer_1",
                    min_time: 0,
                    max_time: i64::MAX,
                    before: None,
                    limit: 10,
                },
            )
            .await
            .unwrap();
        assert_eq!(history.len(), 1);
        assert_eq!(history[0].from_account, "administrator");
    }
}

#[tokio::test]
async fn malformed_sends_get_the_specific_codes() {
    for db in databases().await {
        let gw = gateway(db).await;
        import_buyers(&gw, &["buyer_1"]).await;
        let ok = json!({ "From_Account": "buyer_1", "To_Account": "@customer_service_account", "MsgRandom": 1, "MsgBody": text("hi") });
        let with = |key: &str, value: Value| {
            let mut body = ok.clone();
            if value.is_null() {
                body.as_object_mut().unwrap().remove(key);
            } else {
                body[key] = value;
            }
            body
        };
        let cases = [
            (with("To_Account", Value::Null), 90003),
            (with("To_Account", json!(7)), 90003),
            (with("To_Account", json!("stranger")), 90012),
            (with("From_Account", json!("stranger")), 90008),
            (with("MsgRandom", Value::Null), 90005),
            (with("MsgRandom", json!("1")), 90005),
            (with("MsgRandom", json!(-1)), 90005),
            (with("MsgTimeStamp", json!("now")), 90006),
            (with("MsgBody", json!({ "Text": "hi" })), 90007),
            (with("MsgBody", json!([])), 90002),
            (
                with(
                    "MsgBody",
                    json!([{ "MsgType": "TIMTextElem", "MsgContent": {} }]),
                ),
                90010,
            ),
            (with("MsgLifeTime", json!(604801)), 90026),
            (with("MsgLifeTime", json!("1d")), 90044),
        ];
        for (body, expected) in cases {
            let resp = gw.call("openim/sendmsg", body.clone()).await;
            assert_eq!(code(&resp), expected, "{}: {body} → {resp}", gw.name);
        }
        assert!(
            gw.store
                .roam_messages(
                    gw.app.tenant_id,
                    kefu_store::RoamQuery {
                        a: "buyer_1",
                        b: "@customer_service_account",
                        min_time: 0,
                        max_time: i64::MAX,
                        before: None,
                        limit: 10
                    }
                )
                .await
                .unwrap()
                .is_empty()
        );
        assert_eq!(code(&gw.call("openim/sendmsg", ok).await), 0);
    }
}

#[tokio::test]
async fn batch_sends_report_each_failed_recipient() {
    for db in databases().await {
        let gw = gateway(db).await;
        import_buyers(&gw, &["b1", "b2"]).await;
        let body = json!({ "From_Account": "@customer_service_account", "To_Account": ["b1", "ghost", "b2"], "MsgRandom": 9, "MsgBody": text("促销通知") });
        let resp = gw.call("openim/batchsendmsg", body).await;
        assert_eq!(code(&resp), 0, "{resp}");
        assert_eq!(
            resp["ErrorList"],
            json!([{ "To_Account": "ghost", "ErrorCode": 90012 }])
        );
        for b in ["b1", "b2"] {
            let got = gw
                .store
                .roam_messages(
                    gw.app.tenant_id,
                    kefu_store::RoamQuery {
                        a: b,
                        b: "@customer_service_account",
                        min_time: 0,
                        max_time: i64::MAX,
                        before: None,
                        limit: 10,
                    },
                )
                .await
                .unwrap();
            assert_eq!(got.len(), 1, "{}: {b}", gw.name);
        }
        let everyone: Vec<String> = (0..501).map(|i| format!("u{i}")).collect();
        let resp = gw
            .call(
                "openim/batchsendmsg",
                json!({ "To_Account": everyone, "MsgRandom": 1, "MsgBody": text("x") }),
            )
            .await;
        assert_eq!(code(&resp), 90011);
        let clean = gw
            .call(
                "openim/batchsendmsg",
                json!({ "To_Account": ["b1"], "MsgRandom": 2, "MsgBody": text("y") }),
            )
            .await;
        assert!(
            clean.get("ErrorList").is_none(),
            "absent when all succeeded: {clean}"
        );
    }
}

#[tokio::test]
async fn history_is_imported_and_read_back_page_by_page_with_either_field_names() {
    for db in databases().await {
        let gw = gateway(db).await;
        import_buyers(&gw, &["buyer_1"]).await;
        let base = 1_700_000_000;
        for i in 0..7 {
            // Two messages per second, alternating direction, imported as history.
            let (from, to) = if i % 2 == 0 {
                ("buyer_1", "@customer_service_account")
            } else {
                ("@customer_service_account", "buyer_1")
            };
            let body = json!({ "SyncFromOldSystem": 2, "From_Account": from, "To_Account": to, "MsgSeq": i,
                               "MsgRandom": 100 + i, "MsgTimeStamp": base + i / 2, "MsgBody": text(&format!("m{i}")) });
            assert_eq!(code(&gw.call("openim/importmsg", body).await), 0);
        }
        let missing_sync = json!({ "From_Account": "buyer_1", "To_Account": "buyer_1", "MsgRandom": 1, "MsgTimeStamp": base, "MsgBody": text("x") });
        assert_eq!(
            code(&gw.call("openim/importmsg", missing_sync).await),
            90030
        );

        let mut request = json!({ "Operator_Account": "buyer_1", "Peer_Account": "@customer_service_account",
                                  "MaxCnt": 3, "MinTime": base, "MaxTime": base + 10 });
        let mut texts = Vec::new();
        let mut pages = 0;
        loop {
            let resp = gw.call("openim/admin_getroammsg", request.clone()).await;
            assert_eq!(code(&resp), 0, "{}: {resp}", gw.name);
            pages += 1;
            for m in resp["MsgList"].as_array().unwrap() {
                texts.push(
                    m["MsgBody"][0]["MsgContent"]["Text"]
                        .as_str()
                        .unwrap()
                        .to_string(),
                );
                assert_eq!(m["MsgFlagBits"], 0);
                assert_eq!(
                    m["MsgKey"],
                    format!("{}_{}_{}", m["MsgSeq"], m["MsgRandom"], m["MsgTimeStamp"])
                );
            }
            if resp["Complete"] == 1 {
                break;
            }
            assert_eq!(resp["MsgCnt"], 3);
            request["MaxTime"] = resp["LastMsgTime"].clone();
            request["LastMsgKey"] = resp["LastMsgKey"].clone();
            assert!(pages < 10, "paging must end");
        }
        assert_eq!(
            texts,
            ["m6", "m5", "m4", "m3", "m2", "m1", "m0"],
            "{}",
            gw.name
        );
        assert_eq!(pages, 3);

        // The old names work too, from either side.
        let old = json!({ "From_Account": "@customer_service_account", "To_Account": "buyer_1", "MaxCnt": 100, "MinTime": base, "MaxTime": base });
        let resp = gw.call("openim/admin_getroammsg", old).await;
        assert_eq!(
            (resp["Complete"].as_i64(), resp["MsgCnt"].as_i64()),
            (Some(1), Some(2))
        );

        let bad = json!({ "Operator_Account": "buyer_1", "Peer_Account": "@customer_service_account", "MaxCnt": 3,
                          "MinTime": base, "MaxTime": base, "LastMsgKey": "nonsense" });
        assert_eq!(code(&gw.call("openim/admin_getroammsg", bad).await), 90054);
        assert_eq!(
            code(
                &gw.call(
                    "openim/admin_getroammsg",
                    json!({ "Peer_Account": "x", "MaxCnt": 1, "MinTime": 0, "MaxTime": 1 })
                )
                .await
            ),
            90008
        );
        assert_eq!(
            code(
                &gw.call(
                    "openim/admin_getroammsg",
                    json!({ "Operator_Account": "x", "MinTime": 0, "MaxTime": 1 })
                )
                .await
            ),
            90003
        );
        assert_eq!(code(&gw.call("openim/admin_getroammsg", json!({ "Operator_Account": "x", "Peer_Account": "y", "MinTime": 0, "MaxTime": 1 })).await), 70402);
    }
}

#[tokio::test]
async fn a_recalled_message_is_flagged_not_deleted() {
    for db in databases().await {
        let gw = gateway(db).await;
        import_buyers(&gw, &["buyer_1"]).await;
        let sent = gw
            .call("openim/sendmsg", json!({ "From_Account": "@customer_service_account", "To_Account": "buyer_1", "MsgRandom": 3, "MsgBody": text("发错了") }))
            .await;
        let key = sent["MsgKey"].as_str().unwrap().to_string();
        let mut events =
            kefu_bus::Bus::subscribe(gw.bus.as_ref(), kefu_domain::event::topic::MESSAGES)
                .await
                .unwrap();
        let withdraw = json!({ "From_Account": "@customer_service_account", "To_Account": "buyer_1", "MsgKey": key });
        assert_eq!(
            code(&gw.call("openim/admin_msgwithdraw", withdraw.clone()).await),
            0,
            "{}",
            gw.name
        );
        let event = futures::StreamExt::next(&mut events).await.unwrap();
        assert!(
            matches!(
                event,
                kefu_domain::event::Event::MessageRecalled { seq: 1, .. }
            ),
            "{event:?}"
        );
        assert_eq!(
            code(&gw.call("openim/admin_msgwithdraw", withdraw).await),
            20023
        );
        let unknown = json!({ "From_Account": "@customer_service_account", "To_Account": "buyer_1", "MsgKey": "1_2_3" });
        assert_eq!(
            code(&gw.call("openim/admin_msgwithdraw", unknown).await),
            20022
        );
        let malformed = json!({ "From_Account": "@customer_service_account", "To_Account": "buyer_1", "MsgKey": "abc" });
        assert_eq!(
            code(&gw.call("openim/admin_msgwithdraw", malformed).await),
            90054
        );

        let page = gw
            .call("openim/admin_getroammsg", json!({ "Operator_Account": "buyer_1", "Peer_Account": "@customer_service_account",
                                                     "MaxCnt": 10, "MinTime": 0, "MaxTime": 4_000_000_000_i64 }))
            .await;
        assert_eq!(page["MsgList"][0]["MsgFlagBits"], 8);
        assert_eq!(
            page["MsgList"][0]["MsgBody"][0]["MsgContent"]["Text"],
            "发错了"
        );
    }
}

#[tokio::test]
async fn past_the_per_second_limit_calls_get_60007_until_the_next_second() {
    let db = TestDb::sqlite();
    let store = db.store().await;
    let gw = gateway(db).await;
    let limited = Route::new()
        .nest(
            "/v4",
            kefu_gateway::routes(GatewayState {
                store: store.clone(),
                clock: Arc::new(gw.clock.clone()),
                bus: gw.bus.clone(),
                rate_limit: 3,
                hub: kefu_gateway::hub::Hub::new(),
                http: kefu_gateway::callbacks::http_client(),
                media: kefu_gateway::media::Media::in_temp_dir(),
                typing_interval_ms: 1000,
            }),
        )
        .map_to_response()
        .boxed();
    let cli = TestClient::new(limited);
    let call = |url: String| {
        let cli = &cli;
        async move {
            let resp = cli
                .post(url)
                .body(r#"{"CheckItem":[{"UserID":"a"}]}"#)
                .send()
                .await;
            code(&serde_json::from_str(&resp.0.into_body().into_string().await.unwrap()).unwrap())
        }
    };
    let url = gw.url("im_open_login_svc/account_check");
    for _ in 0..3 {
        assert_eq!(call(url.clone()).await, 0);
    }
    assert_eq!(call(url.clone()).await, 60007);
    // Another command has its own budget.
    assert_eq!(
        call(gw.url("im_open_login_svc/account_import")).await,
        70402
    );
    // A stranger without a valid UserSig does not spend the app's budget.
    gw.clock.advance(1_000);
    let stranger = format!(
        "/v4/im_open_login_svc/account_check?sdkappid={}&identifier=administrator&usersig=bad",
        gw.app.sdk_app_id
    );
    for _ in 0..5 {
        assert_eq!(call(stranger.clone()).await, 70003);
    }
    assert_eq!(
        call(gw.url("im_open_login_svc/account_check")).await,
        0,
        "the next second starts afresh"
    );
}

#[tokio::test]
async fn a_buyer_who_writes_rg_to_the_service_account_joins_the_queue() {
    for db in databases().await {
        let gw = gateway(db).await;
        let group = gw
            .store
            .create_skill_group(gw.app.tenant_id, "售前", gw.clock.now())
            .await
            .unwrap();
        import_buyers(&gw, &["buyer_9", "buyer_8"]).await;
        let send_as = |from: &str, random: i64, words: &str| {
            json!({ "From_Account": from, "To_Account": "@customer_service_account",
                    "MsgRandom": random, "MsgBody": text(words) })
        };
        let send = |random: i64, words: &str| send_as("buyer_9", random, words);
        // An ordinary question opens nothing by itself.
        assert_eq!(code(&gw.call("openim/sendmsg", send(1, "有货吗")).await), 0);
        let queued = |gw: &Gw| {
            let store = gw.store.clone();
            let tenant = gw.app.tenant_id;
            async move {
                store
                    .queue_of(tenant, group.id)
                    .await
                    .unwrap()
                    .into_iter()
                    .map(|c| c.buyer)
                    .collect::<Vec<_>>()
            }
        };
        assert!(queued(&gw).await.is_empty(), "{}", gw.name);
        // " rg " in any case asks for a human.
        assert_eq!(code(&gw.call("openim/sendmsg", send(2, " Rg ")).await), 0);
        assert_eq!(queued(&gw).await, ["buyer_9"], "{}", gw.name);
        // Asking again keeps the buyer's one place in the queue.
        gw.clock.advance(1_000);
        let other = send_as("buyer_8", 4, "人工");
        assert_eq!(code(&gw.call("openim/sendmsg", other).await), 0);
        assert_eq!(code(&gw.call("openim/sendmsg", send(3, "人工")).await), 0);
        assert_eq!(queued(&gw).await, ["buyer_9", "buyer_8"], "{}", gw.name);
    }
}

#[tokio::test]
async fn sensitive_words_block_or_mask_rest_sends_from_buyers_and_admins() {
    for db in databases().await {
        let gw = gateway(db).await;
        import_buyers(&gw, &["buyer_1"]).await;
        let tenant = gw.app.tenant_id;
        gw.store
            .replace_sensitive_words(
                tenant,
                &[
                    kefu_domain::moderation::Word {
                        word: "QQ号".into(),
                        action: kefu_domain::moderation::WordAction::Block,
                    },
                    kefu_domain::moderation::Word {
                        word: "笨蛋".into(),
                        action: kefu_domain::moderation::WordAction::Mask,
                    },
                ],
                0,
            )
            .await
            .unwrap();
        kefu_engine::cache::forget(&gw.store, tenant);
        let blocked = gw
            .call(
                "openim/sendmsg",
                json!({ "From_Account": "buyer_1", "To_Account": "@customer_service_account",
                "MsgRandom": 1, "MsgBody": text("我的qq号是123") }),
            )
            .await;
        assert_eq!(code(&blocked), 80001, "{}: {blocked}", gw.name);
        assert!(blocked["ErrorInfo"].as_str().unwrap().contains("QQ号"));
        let batch = gw
            .call(
                "openim/batchsendmsg",
                json!({ "To_Account": ["buyer_1"], "MsgRandom": 2,
                "MsgBody": text("加QQ号") }),
            )
            .await;
        assert_eq!(code(&batch), 80001, "{}: batches too", gw.name);
        let masked = gw
            .call(
                "openim/sendmsg",
                json!({ "To_Account": "buyer_1", "MsgRandom": 3,
                "MsgBody": text("你这个笨蛋") }),
            )
            .await;
        assert_eq!(code(&masked), 0, "{masked}");
        let q = kefu_store::RoamQuery::all("administrator", "buyer_1", 50);
        let stored = gw.store.roam_messages(tenant, q).await.unwrap();
        let texts: Vec<String> = stored
            .iter()
            .map(|m| {
                serde_json::from_str::<Value>(&m.body).unwrap()[0]["MsgContent"]["Text"]
                    .as_str()
                    .unwrap()
                    .to_string()
            })
            .collect();
        assert_eq!(
            texts,
            ["你这个***"],
            "{}: only the masked one is stored",
            gw.name
        );
    }
}

#[tokio::test]
async fn a_buyer_on_rest_gets_the_tenants_flow_and_bot_answers() {
    for db in databases().await {
        let gw = gateway(db).await;
        import_buyers(&gw, &["buyer_1"]).await;
        let tenant = gw.app.tenant_id;
        let group = gw
            .store
            .create_skill_group(tenant, "售前", 0)
            .await
            .unwrap();
        let doc = kefu_domain::flow::demo(group.id.0).to_string();
        let f = gw
            .store
            .save_flow(
                tenant,
                None,
                "默认",
                Some("@customer_service_account"),
                &doc,
                0,
            )
            .await
            .unwrap();
        gw.store
            .publish_flow(tenant, f.id, &doc, "account:1", 0)
            .await
            .unwrap();
        gw.store
            .create_knowledge(
                tenant,
                kefu_store::KnowledgeKind::Faq,
                &kefu_store::NewKnowledge {
                    title: "营业时间".into(),
                    answer_kind: "text".into(),
                    answer: "每天 9:00-21:00".into(),
                    keywords: vec!["几点".into()],
                    enabled: true,
                    ..Default::default()
                },
                0,
            )
            .await
            .unwrap();
        kefu_engine::cache::forget(&gw.store, tenant);
        for (i, t) in ["你好", "你们几点上班"].iter().enumerate() {
            let r = gw
                .call(
                    "openim/sendmsg",
                    json!({ "From_Account": "buyer_1", "To_Account": "@customer_service_account",
                    "MsgRandom": 10 + i, "MsgBody": text(t) }),
                )
                .await;
            assert_eq!(code(&r), 0, "{r}");
        }
        let q = kefu_store::RoamQuery::all("buyer_1", "@customer_service_account", 50);
        let mut stored = gw.store.roam_messages(tenant, q).await.unwrap();
        stored.reverse();
        let from_service: Vec<(String, String)> = stored
            .iter()
            .filter(|m| m.from_account == "@customer_service_account")
            .map(|m| (m.sender_role.clone(), m.body.clone()))
            .collect();
        assert_eq!(from_service.len(), 3, "{}: {from_service:?}", gw.name);
        assert!(from_service[0].1.contains("欢迎光临"));
        assert!(from_service[1].1.contains("营业时间"), "the FAQ menu");
        assert!(from_service[2].1.contains("每天 9:00-21:00"));
        assert!(from_service.iter().all(|(role, _)| role == "robot"));
    }
}
