//! The `/v4` REST API as Tencent IM clients call it, on SQLite and (when configured)
//! PostgreSQL: envelope, authentication, and every `im_open_login_svc` command's success and
//! error paths.

use kefu_domain::{Clock, ManualClock, Role};
use kefu_gateway::GatewayState;
use kefu_store::testing::{TestDb, databases};
use kefu_store::{ImApp, NewAccount, NewTenant, Store, TenantPatch};
use poem::endpoint::BoxEndpoint;
use poem::test::TestClient;
use poem::{EndpointExt, Route};
use serde_json::{Value, json};
use std::sync::Arc;

struct Gw {
    cli: TestClient<BoxEndpoint<'static, poem::Response>>,
    store: Arc<dyn Store>,
    clock: ManualClock,
    app: ImApp,
    name: &'static str,
    _db: TestDb,
}

async fn gateway(db: TestDb) -> Gw {
    let store = db.store().await;
    let clock = ManualClock::default();
    let owner = NewAccount {
        username: "boss".into(),
        display_name: "boss".into(),
        real_name: String::new(),
        phone: String::new(),
        email: String::new(),
        role: Role::SuperAdmin,
        password_hash: String::new(),
        must_change_password: false,
        skill_group_ids: vec![],
    };
    let tenant = NewTenant {
        code: "acme".into(),
        name: "Acme".into(),
        max_accounts: 2,
        max_online: 2,
        im_secret: "s".repeat(64),
    };
    let (t, _) = store
        .create_tenant(tenant, owner, clock.now())
        .await
        .unwrap();
    let app = store.get_im_app(t.id).await.unwrap().unwrap();
    let shared: Arc<dyn Clock> = Arc::new(clock.clone());
    let ep = Route::new()
        .nest(
            "/v4",
            kefu_gateway::routes(GatewayState {
                store: store.clone(),
                clock: shared,
            }),
        )
        .map_to_response()
        .boxed();
    Gw {
        cli: TestClient::new(ep),
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

        // A rotated secret invalidates old sigs at once.
        let fresh = gw.sig("administrator");
        gw.store
            .rotate_im_secret(gw.app.tenant_id, &"n".repeat(64), gw.clock.now())
            .await
            .unwrap();
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
        let (_, resp) = gw.raw(&format!("/v4/im_open_login_svc/account_import?sdkappid={app}&identifier=administrator&usersig={fresh}"), body).await;
        assert_eq!(code(&resp), 60016);
    }
}

#[tokio::test]
async fn one_tenants_admin_cannot_touch_another_tenants_accounts() {
    let gw = gateway(TestDb::sqlite()).await;
    let owner = NewAccount {
        username: "boss".into(),
        display_name: "boss".into(),
        real_name: String::new(),
        phone: String::new(),
        email: String::new(),
        role: Role::SuperAdmin,
        password_hash: String::new(),
        must_change_password: false,
        skill_group_ids: vec![],
    };
    let other = NewTenant {
        code: "bolt".into(),
        name: "Bolt".into(),
        max_accounts: 2,
        max_online: 2,
        im_secret: "b".repeat(64),
    };
    let (b, _) = gw
        .store
        .create_tenant(other, owner, gw.clock.now())
        .await
        .unwrap();
    gw.call(
        "im_open_login_svc/account_import",
        json!({ "UserID": "shared_name" }),
    )
    .await;
    assert!(
        gw.store
            .get_im_account(b.id, "shared_name")
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
