//! The tenant API end to end, through HTTP, on SQLite and (when configured) PostgreSQL:
//! the new-user journey, tenant isolation, role checks, login rules and bulk import.

use kefu_auth::{Authorizer, Logins, Settings};
use kefu_bus::InProcessBus;
use kefu_domain::clock::{HOUR, MINUTE, SECOND};
use kefu_domain::{Clock, ManualClock};
use kefu_mail::FileOutbox;
use kefu_store::testing::{TestDb, databases};
use kefu_store::{NewAccount, Store};
use poem::endpoint::BoxEndpoint;
use poem::test::{TestClient, TestResponse};
use serde_json::{Value, json};
use std::sync::Arc;

const OPERATOR_PASSWORD: &str = "Operator#1";

struct App {
    cli: TestClient<BoxEndpoint<'static, poem::Response>>,
    clock: ManualClock,
    outbox: tempfile::TempDir,
    bus: Arc<InProcessBus>,
    name: &'static str,
    _db: TestDb,
}

async fn app(db: TestDb) -> App {
    let store: Arc<dyn Store> = db.store().await;
    let clock = ManualClock::default();
    let shared: Arc<dyn Clock> = Arc::new(clock.clone());
    let outbox = tempfile::tempdir().unwrap();
    let bus = Arc::new(InProcessBus::new());
    store
        .create_operator(
            NewAccount {
                username: "operator".into(),
                display_name: "Operator".into(),
                real_name: String::new(),
                phone: String::new(),
                email: String::new(),
                role: kefu_domain::Role::Operator,
                password_hash: kefu_auth::password::hash(OPERATOR_PASSWORD),
                must_change_password: false,
                skill_group_ids: vec![],
            },
            clock.now(),
        )
        .await
        .unwrap();
    let authz = Authorizer::start(store.clone(), shared.clone())
        .await
        .unwrap();
    let state = kefu_tenant_api::State {
        logins: Arc::new(Logins::new(
            store.clone(),
            bus.clone(),
            shared.clone(),
            Settings::default(),
        )),
        mailer: Arc::new(FileOutbox::new(outbox.path(), "no-reply@kefu.local").unwrap()),
        store,
        bus: bus.clone(),
        clock: shared,
        authz,
        trust_forwarded_for: true,
        media_links: Arc::new(kefu_media::links::Links::new("", 3600)),
        orders: Arc::new(kefu_orders::OrderClient::new(Arc::new(clock.clone()))),
    };
    let ep = kefu_tenant_api::routes(state).map_to_response().boxed();
    App {
        cli: TestClient::new(ep),
        clock,
        outbox,
        bus,
        name: db.name,
        _db: db,
    }
}

use poem::EndpointExt;

async fn json_of(resp: TestResponse) -> (u16, Value) {
    let status = resp.0.status().as_u16();
    let body = resp.0.into_body().into_string().await.unwrap();
    (
        status,
        serde_json::from_str(&body).unwrap_or(Value::String(body)),
    )
}

impl App {
    async fn call(
        &self,
        method: &str,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> (u16, Value) {
        let mut req = match method {
            "GET" => self.cli.get(path),
            "POST" => self.cli.post(path),
            "PATCH" => self.cli.patch(path),
            "DELETE" => self.cli.delete(path),
            _ => unreachable!(),
        };
        if let Some(t) = token {
            req = req.header("authorization", format!("Bearer {t}"));
        }
        req = req.header("x-forwarded-for", "203.0.113.7");
        let resp = match body {
            Some(b) => req.body_json(&b).send().await,
            None => req.send().await,
        };
        json_of(resp).await
    }

    async fn login(&self, tenant: Option<&str>, username: &str, password: &str) -> (u16, Value) {
        let body = json!({ "tenant": tenant, "username": username, "password": password });
        self.call("POST", "/api/v1/auth/login", None, Some(body))
            .await
    }

    async fn token(&self, tenant: Option<&str>, username: &str, password: &str) -> String {
        let (status, body) = self.login(tenant, username, password).await;
        assert_eq!(status, 200, "{}: login {username}: {body}", self.name);
        body["token"].as_str().unwrap().to_string()
    }

    /// Creates a tenant and returns (tenant id, owner token after changing the password).
    async fn tenant(&self, op: &str, code: &str, max_accounts: i64) -> (i64, String) {
        let body = json!({ "code": code, "name": format!("{code} 公司"), "max_accounts": max_accounts,
                           "admin": { "username": "boss", "email": format!("boss@{code}.cn") } });
        let (status, created) = self
            .call("POST", "/api/v1/platform/tenants", Some(op), Some(body))
            .await;
        assert_eq!(status, 201, "{}: {created}", self.name);
        let first = created["initial_password"].as_str().unwrap();
        let token = self.token(Some(code), "boss", first).await;
        let change = json!({ "old_password": first, "new_password": "Boss#2026" });
        let (status, body) = self
            .call("POST", "/api/v1/auth/password", Some(&token), Some(change))
            .await;
        assert_eq!(status, 204, "{body}");
        (created["tenant"]["id"].as_i64().unwrap(), token)
    }

    /// Creates a seat and returns (account id, its initial password).
    async fn seat(&self, admin: &str, username: &str, role: &str) -> (i64, String) {
        let body = json!({ "username": username, "display_name": username, "role": role });
        let (status, created) = self
            .call("POST", "/api/v1/accounts", Some(admin), Some(body))
            .await;
        assert_eq!(status, 201, "{}: {created}", self.name);
        (
            created["account"]["id"].as_i64().unwrap(),
            created["initial_password"].as_str().unwrap().into(),
        )
    }

    /// Logs in with an initial password and sets `new` as the password.
    async fn activate(&self, tenant: &str, username: &str, first: &str, new: &str) -> String {
        let token = self.token(Some(tenant), username, first).await;
        let change = json!({ "old_password": first, "new_password": new });
        assert_eq!(
            self.call("POST", "/api/v1/auth/password", Some(&token), Some(change))
                .await
                .0,
            204
        );
        token
    }
}

#[tokio::test]
async fn a_new_user_goes_from_operator_to_a_full_tenant() {
    for db in databases().await {
        let app = app(db).await;
        let op = app.token(None, "operator", OPERATOR_PASSWORD).await;

        // The operator creates a tenant; the plan defaults to 2 seats, 2 online.
        let body = json!({ "code": "acme", "name": "Acme 供应商", "admin": { "username": "boss", "email": "boss@acme.cn" } });
        let (status, created) = app
            .call("POST", "/api/v1/platform/tenants", Some(&op), Some(body))
            .await;
        assert_eq!(status, 201, "{}: {created}", app.name);
        assert_eq!(created["tenant"]["max_accounts"], 2);
        assert_eq!(created["tenant"]["max_online"], 2);
        assert_eq!(created["password_mailed"], true);
        assert_eq!(
            std::fs::read_dir(app.outbox.path()).unwrap().count(),
            1,
            "the owner's password was mailed"
        );
        let first = created["initial_password"].as_str().unwrap().to_string();

        // The super admin must change the first password before anything else works.
        let (status, login) = app.login(Some("acme"), "boss", &first).await;
        assert_eq!(status, 200);
        assert_eq!(login["must_change_password"], true);
        let boss = login["token"].as_str().unwrap().to_string();
        let (status, err) = app.call("GET", "/api/v1/accounts", Some(&boss), None).await;
        assert_eq!(
            (status, err["code"].as_str()),
            (403, Some("password_change_required"))
        );
        let weak = json!({ "old_password": first, "new_password": "password" });
        let (status, err) = app
            .call("POST", "/api/v1/auth/password", Some(&boss), Some(weak))
            .await;
        assert_eq!(
            (status, err["code"].as_str()),
            (400, Some("password_policy"))
        );
        let wrong_old = json!({ "old_password": "Nope#2026", "new_password": "Boss#2026" });
        let (status, err) = app
            .call(
                "POST",
                "/api/v1/auth/password",
                Some(&boss),
                Some(wrong_old),
            )
            .await;
        assert_eq!(
            (status, err["code"].as_str()),
            (400, Some("wrong_password"))
        );
        let good = json!({ "old_password": first, "new_password": "Boss#2026" });
        assert_eq!(
            app.call("POST", "/api/v1/auth/password", Some(&boss), Some(good))
                .await
                .0,
            204
        );

        // Seats up to the cap; the next is refused with a message that names the limit.
        let (_, plan) = app.call("GET", "/api/v1/plan", Some(&boss), None).await;
        assert_eq!(
            (
                plan["accounts_used"].as_i64(),
                plan["can_add_account"].as_bool(),
                plan["online"].as_i64()
            ),
            (Some(0), Some(true), Some(0))
        );
        app.seat(&boss, "agent1", "agent").await;
        app.seat(&boss, "agent2", "agent").await;
        let body = json!({ "username": "agent3", "display_name": "agent3", "role": "agent" });
        let (status, err) = app
            .call("POST", "/api/v1/accounts", Some(&boss), Some(body))
            .await;
        assert_eq!(
            (status, err["code"].as_str()),
            (409, Some("seat_limit_reached")),
            "{}",
            app.name
        );
        assert!(
            err["message"].as_str().unwrap().contains("allows 2 seats"),
            "{err}"
        );
        let (_, list) = app.call("GET", "/api/v1/accounts", Some(&boss), None).await;
        assert_eq!(
            list.as_array().unwrap().len(),
            3,
            "owner + 2 seats, nothing more"
        );
        let (_, plan) = app.call("GET", "/api/v1/plan", Some(&boss), None).await;
        assert_eq!(plan["can_add_account"], false);

        // A second login of a live account is refused; a kick frees it.
        let (status, err) = app.login(Some("acme"), "boss", "Boss#2026").await;
        assert_eq!(
            (status, err["code"].as_str()),
            (409, Some("already_logged_in")),
            "{}",
            app.name
        );
        assert!(err["message"].as_str().unwrap().contains("ask an admin"));
        let (_, accounts) = app
            .call("GET", "/api/v1/accounts?q=agent1", Some(&boss), None)
            .await;
        let agent1 = accounts[0]["id"].as_i64().unwrap();
        let mut agent_password = String::new();
        {
            let (_, reset) = app
                .call(
                    "POST",
                    &format!("/api/v1/accounts/{agent1}/reset-password"),
                    Some(&boss),
                    None,
                )
                .await;
            agent_password.push_str(reset["initial_password"].as_str().unwrap());
        }
        let agent_token = app.token(Some("acme"), "agent1", &agent_password).await;
        assert_eq!(
            app.login(Some("acme"), "agent1", &agent_password).await.0,
            409
        );
        let (_, logins) = app.call("GET", "/api/v1/logins", Some(&boss), None).await;
        assert!(
            logins
                .as_array()
                .unwrap()
                .iter()
                .any(|l| l["username"] == "agent1"),
            "{logins}"
        );
        let mut revoked =
            kefu_bus::Bus::subscribe(app.bus.as_ref(), kefu_domain::event::topic::SESSIONS)
                .await
                .unwrap();
        let (status, kicked) = app
            .call(
                "POST",
                &format!("/api/v1/accounts/{agent1}/kick"),
                Some(&boss),
                None,
            )
            .await;
        assert_eq!((status, kicked["sessions_ended"].as_i64()), (200, Some(1)));
        // Realtime connections hear of it through the bus.
        let event = futures::StreamExt::next(&mut revoked).await.unwrap();
        assert!(
            matches!(&event, kefu_domain::event::Event::SessionRevoked { account_id, reason, .. }
                if account_id.0 == agent1 && reason == "kicked"),
            "{event:?}"
        );
        let (status, err) = app
            .call("GET", "/api/v1/auth/me", Some(&agent_token), None)
            .await;
        assert_eq!(
            (status, err["code"].as_str()),
            (401, Some("unauthorized")),
            "the kicked token is dead"
        );
        assert_eq!(
            app.login(Some("acme"), "agent1", &agent_password).await.0,
            200,
            "{}",
            app.name
        );

        // The audit log saw it all.
        let (_, audit) = app
            .call("GET", "/api/v1/audit?limit=200", Some(&boss), None)
            .await;
        let actions: Vec<&str> = audit["entries"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["action"].as_str().unwrap())
            .collect();
        for action in [
            "login",
            "password_change",
            "account_create",
            "password_reset",
            "kick",
        ] {
            assert!(
                actions.contains(&action),
                "{action} missing from {actions:?}"
            );
        }
        assert!(
            audit["entries"]
                .as_array()
                .unwrap()
                .iter()
                .all(|e| e["ip"] == "203.0.113.7")
        );
    }
}

#[tokio::test]
async fn one_tenant_cannot_see_or_change_another_through_any_route() {
    for db in databases().await {
        let app = app(db).await;
        let op = app.token(None, "operator", OPERATOR_PASSWORD).await;
        let (_, a) = app.tenant(&op, "acme", 5).await;
        let (_, b) = app.tenant(&op, "bolt", 5).await;
        let (b_agent, _) = app.seat(&b, "li", "agent").await;
        let (_, b_accounts) = app.call("GET", "/api/v1/accounts", Some(&b), None).await;
        let b_owner = b_accounts
            .as_array()
            .unwrap()
            .iter()
            .find(|x| x["is_owner"] == true)
            .unwrap()["id"]
            .as_i64()
            .unwrap();

        for id in [b_agent, b_owner] {
            let routes: [(&str, String, Option<Value>); 8] = [
                ("GET", format!("/api/v1/accounts/{id}"), None),
                (
                    "PATCH",
                    format!("/api/v1/accounts/{id}"),
                    Some(json!({ "display_name": "x" })),
                ),
                ("DELETE", format!("/api/v1/accounts/{id}"), None),
                ("POST", format!("/api/v1/accounts/{id}/disable"), None),
                ("POST", format!("/api/v1/accounts/{id}/enable"), None),
                (
                    "POST",
                    format!("/api/v1/accounts/{id}/reset-password"),
                    None,
                ),
                ("POST", format!("/api/v1/accounts/{id}/kick"), None),
                ("GET", format!("/api/v1/accounts/{id}"), None),
            ];
            for (method, path, body) in routes {
                let (status, err) = app.call(method, &path, Some(&a), body).await;
                assert_eq!(
                    status, 404,
                    "{}: {method} {path} answered {status} {err}",
                    app.name
                );
                assert_eq!(err["code"], "not_found");
            }
        }
        // Lists only ever show one's own tenant.
        let (_, list) = app.call("GET", "/api/v1/accounts", Some(&a), None).await;
        assert!(
            list.as_array()
                .unwrap()
                .iter()
                .all(|x| x["id"] != b_agent && x["id"] != b_owner)
        );
        let (_, b_group) = app
            .call(
                "POST",
                "/api/v1/skill-groups",
                Some(&b),
                Some(json!({ "name": "售后" })),
            )
            .await;
        let (_, groups) = app
            .call("GET", "/api/v1/skill-groups", Some(&a), None)
            .await;
        assert_eq!(groups, json!([]));
        let join = json!({ "username": "wu", "display_name": "wu", "role": "agent", "skill_group_ids": [b_group["id"]] });
        let (status, err) = app
            .call("POST", "/api/v1/accounts", Some(&a), Some(join))
            .await;
        assert_eq!(
            (status, err["code"].as_str()),
            (400, Some("unknown_skill_group"))
        );
        let (_, logins) = app.call("GET", "/api/v1/logins", Some(&a), None).await;
        assert!(
            logins
                .as_array()
                .unwrap()
                .iter()
                .all(|l| l["username"] != "li")
        );
        let (_, audit) = app.call("GET", "/api/v1/audit", Some(&a), None).await;
        assert!(
            audit["entries"]
                .as_array()
                .unwrap()
                .iter()
                .all(|e| e["target"] != "li"),
            "{audit}"
        );
        // B's data is untouched.
        let (_, li) = app
            .call(
                "GET",
                &format!("/api/v1/accounts/{b_agent}"),
                Some(&b),
                None,
            )
            .await;
        assert_eq!(
            (li["display_name"].as_str(), li["disabled"].as_bool()),
            (Some("li"), Some(false))
        );
    }
}

#[tokio::test]
async fn roles_are_enforced_on_every_route() {
    for db in databases().await {
        let app = app(db).await;
        let op = app.token(None, "operator", OPERATOR_PASSWORD).await;
        let (tenant_id, boss) = app.tenant(&op, "acme", 5).await;
        let (_, first) = app.seat(&boss, "li", "agent").await;
        let agent = app.activate("acme", "li", &first, "Agent#2026").await;
        let (admin_id, first) = app.seat(&boss, "zhao", "admin").await;
        let admin = app.activate("acme", "zhao", &first, "Admin#2026").await;

        let admin_routes: [(&str, &str, Option<Value>); 8] = [
            ("GET", "/api/v1/accounts", None),
            (
                "POST",
                "/api/v1/accounts",
                Some(json!({ "username": "x1", "display_name": "x", "role": "agent" })),
            ),
            ("GET", "/api/v1/logins", None),
            ("GET", "/api/v1/audit", None),
            ("GET", "/api/v1/plan", None),
            ("POST", "/api/v1/skill-groups", Some(json!({ "name": "g" }))),
            ("GET", "/api/v1/accounts/import-template", None),
            (
                "POST",
                format!("/api/v1/accounts/{admin_id}/kick").leak(),
                None,
            ),
        ];
        for (method, path, body) in admin_routes.clone() {
            let (status, err) = app.call(method, path, Some(&agent), body).await;
            assert_eq!(
                (status, err["code"].as_str()),
                (403, Some("forbidden")),
                "{}: agent {method} {path}",
                app.name
            );
        }
        assert_eq!(
            app.call("GET", "/api/v1/skill-groups", Some(&agent), None)
                .await
                .0,
            200,
            "agents read groups"
        );

        let platform_routes: [(&str, String, Option<Value>); 6] = [
            ("GET", "/api/v1/platform/tenants".into(), None),
            (
                "POST",
                "/api/v1/platform/tenants".into(),
                Some(json!({ "code": "evil", "name": "e", "admin": { "username": "e" } })),
            ),
            ("GET", format!("/api/v1/platform/tenants/{tenant_id}"), None),
            (
                "PATCH",
                format!("/api/v1/platform/tenants/{tenant_id}"),
                Some(json!({ "max_accounts": 999 })),
            ),
            (
                "POST",
                format!("/api/v1/platform/tenants/{tenant_id}/disable"),
                None,
            ),
            ("GET", "/api/v1/platform/audit".into(), None),
        ];
        for token in [&boss, &admin, &agent] {
            for (method, path, body) in platform_routes.clone() {
                let (status, _) = app.call(method, &path, Some(token), body).await;
                assert_eq!(status, 403, "{}: tenant account {method} {path}", app.name);
            }
        }
        // The operator manages tenants but has no seats of its own to manage.
        let (status, _) = app.call("GET", "/api/v1/accounts", Some(&op), None).await;
        assert_eq!(status, 403);

        // Admins manage agents, not other admins; nobody removes the owner.
        let body = json!({ "username": "qian", "display_name": "qian", "role": "admin" });
        assert_eq!(
            app.call("POST", "/api/v1/accounts", Some(&admin), Some(body))
                .await
                .0,
            403
        );
        let (_, accounts) = app
            .call(
                "GET",
                "/api/v1/accounts?role=super_admin",
                Some(&boss),
                None,
            )
            .await;
        let owner = accounts[0]["id"].as_i64().unwrap();
        let (status, err) = app
            .call(
                "DELETE",
                &format!("/api/v1/accounts/{owner}"),
                Some(&boss),
                None,
            )
            .await;
        assert_eq!(
            (status, err["code"].as_str()),
            (403, Some("owner_protected"))
        );
        let demote = json!({ "role": "agent" });
        let (_, err) = app
            .call(
                "PATCH",
                &format!("/api/v1/accounts/{owner}"),
                Some(&boss),
                Some(demote),
            )
            .await;
        assert_eq!(err["code"], "owner_protected");

        // A role change takes effect at once: the demoted admin loses admin routes.
        let demote = json!({ "role": "agent" });
        assert_eq!(
            app.call(
                "PATCH",
                &format!("/api/v1/accounts/{admin_id}"),
                Some(&boss),
                Some(demote)
            )
            .await
            .0,
            200
        );
        assert_eq!(
            app.call("GET", "/api/v1/accounts", Some(&admin), None)
                .await
                .0,
            403,
            "{}",
            app.name
        );

        // Without a token, every protected route answers 401 in JSON.
        let (status, err) = app.call("GET", "/api/v1/accounts", None, None).await;
        assert_eq!((status, err["code"].as_str()), (401, Some("unauthorized")));
    }
}

#[tokio::test]
async fn failed_logins_are_throttled_and_the_wait_is_stated() {
    for db in databases().await {
        let app = app(db).await;
        for _ in 0..4 {
            let (status, err) = app.login(None, "operator", "wrong").await;
            assert_eq!(
                (status, err["code"].as_str()),
                (401, Some("invalid_credentials"))
            );
        }
        let (status, err) = app.login(None, "operator", "wrong").await;
        assert_eq!(
            (status, err["code"].as_str()),
            (429, Some("too_many_attempts")),
            "{}",
            app.name
        );
        assert!(
            err["message"].as_str().unwrap().contains("60 seconds"),
            "{err}"
        );
        // Even the right password waits out the lock.
        app.clock.advance(30 * SECOND);
        let (status, err) = app.login(None, "operator", OPERATOR_PASSWORD).await;
        assert_eq!(status, 429);
        assert!(
            err["message"].as_str().unwrap().contains("30 seconds"),
            "{err}"
        );
        app.clock.advance(31 * SECOND);
        assert_eq!(app.login(None, "operator", OPERATOR_PASSWORD).await.0, 200);
    }
}

#[tokio::test]
async fn logins_die_after_two_quiet_minutes_and_tokens_after_a_quiet_day() {
    for db in databases().await {
        let app = app(db).await;
        let first = app.token(None, "operator", OPERATOR_PASSWORD).await;
        app.clock.advance(MINUTE);
        assert_eq!(
            app.call("POST", "/api/v1/auth/heartbeat", Some(&first), None)
                .await
                .0,
            204
        );
        app.clock.advance(MINUTE + 30 * SECOND);
        assert_eq!(
            app.login(None, "operator", OPERATOR_PASSWORD).await.0,
            409,
            "the heartbeat kept it live"
        );
        app.clock.advance(2 * MINUTE + SECOND);
        let second = app.token(None, "operator", OPERATOR_PASSWORD).await;
        assert_eq!(
            app.call("GET", "/api/v1/auth/me", Some(&first), None)
                .await
                .0,
            401,
            "replaced by the new login"
        );
        let (status, me) = app
            .call("GET", "/api/v1/auth/me", Some(&second), None)
            .await;
        assert_eq!(
            (status, me["account"]["role"].as_str()),
            (200, Some("operator"))
        );
        app.clock.advance(24 * HOUR + SECOND);
        assert_eq!(
            app.call("GET", "/api/v1/auth/me", Some(&second), None)
                .await
                .0,
            401,
            "{}",
            app.name
        );
        let third = app.token(None, "operator", OPERATOR_PASSWORD).await;
        assert_eq!(
            app.call("POST", "/api/v1/auth/logout", Some(&third), None)
                .await
                .0,
            204
        );
        assert_eq!(
            app.call("GET", "/api/v1/auth/me", Some(&third), None)
                .await
                .0,
            401
        );
        assert_eq!(
            app.login(None, "operator", OPERATOR_PASSWORD).await.0,
            200,
            "logout frees the login at once"
        );
    }
}

#[tokio::test]
async fn disabled_tenants_and_accounts_cannot_log_in() {
    for db in databases().await {
        let app = app(db).await;
        let op = app.token(None, "operator", OPERATOR_PASSWORD).await;
        let (tenant_id, boss) = app.tenant(&op, "acme", 5).await;
        let (li, first) = app.seat(&boss, "li", "agent").await;
        assert_eq!(
            app.call(
                "POST",
                &format!("/api/v1/accounts/{li}/disable"),
                Some(&boss),
                None
            )
            .await
            .0,
            200
        );
        let (status, err) = app.login(Some("acme"), "li", &first).await;
        assert_eq!(
            (status, err["code"].as_str()),
            (403, Some("account_disabled"))
        );
        let (status, t) = app
            .call(
                "POST",
                &format!("/api/v1/platform/tenants/{tenant_id}/disable"),
                Some(&op),
                None,
            )
            .await;
        assert_eq!((status, t["disabled"].as_bool()), (200, Some(true)));
        assert_eq!(
            app.call("GET", "/api/v1/plan", Some(&boss), None).await.0,
            401,
            "{}",
            app.name
        );
        let (status, err) = app.login(Some("acme"), "boss", "Boss#2026").await;
        assert_eq!(
            (status, err["code"].as_str()),
            (403, Some("tenant_disabled"))
        );
        let (status, err) = app
            .call(
                "POST",
                "/api/v1/platform/tenants/9999/disable",
                Some(&op),
                None,
            )
            .await;
        assert_eq!((status, err["code"].as_str()), (404, Some("not_found")));
        let (status, err) = app
            .call(
                "PATCH",
                &format!("/api/v1/platform/tenants/{tenant_id}"),
                Some(&op),
                Some(json!({ "max_accounts": -1 })),
            )
            .await;
        assert_eq!(
            (status, err["code"].as_str()),
            (400, Some("validation_failed"))
        );
        assert!(err["message"].as_str().unwrap().contains("max_accounts"));
    }
}

#[tokio::test]
async fn bad_input_gets_a_clear_json_error() {
    let app = app(TestDb::sqlite()).await;
    let op = app.token(None, "operator", OPERATOR_PASSWORD).await;
    let (status, err) = app
        .call(
            "POST",
            "/api/v1/platform/tenants",
            Some(&op),
            Some(json!({ "code": "acme" })),
        )
        .await;
    assert_eq!(
        (status, err["code"].as_str()),
        (400, Some("bad_request")),
        "{err}"
    );
    let bad_code = json!({ "code": "Acme Inc", "name": "x", "admin": { "username": "boss" } });
    let (status, err) = app
        .call(
            "POST",
            "/api/v1/platform/tenants",
            Some(&op),
            Some(bad_code),
        )
        .await;
    assert_eq!(
        (status, err["code"].as_str()),
        (400, Some("validation_failed"))
    );
    assert!(
        err["message"].as_str().unwrap().starts_with("code:"),
        "{err}"
    );
    let ok = json!({ "code": "acme", "name": "x", "admin": { "username": "boss" } });
    assert_eq!(
        app.call(
            "POST",
            "/api/v1/platform/tenants",
            Some(&op),
            Some(ok.clone())
        )
        .await
        .0,
        201
    );
    let (status, err) = app
        .call("POST", "/api/v1/platform/tenants", Some(&op), Some(ok))
        .await;
    assert_eq!((status, err["code"].as_str()), (409, Some("duplicate")));
    let (status, err) = app
        .call("GET", "/api/v1/no-such-route", Some(&op), None)
        .await;
    assert_eq!((status, err["code"].as_str()), (404, Some("not_found")));
}

#[tokio::test]
async fn seats_are_imported_from_the_template_row_by_row() {
    use rust_xlsxwriter::Workbook;
    for db in databases().await {
        let app = app(db).await;
        let op = app.token(None, "operator", OPERATOR_PASSWORD).await;
        let (_, boss) = app.tenant(&op, "acme", 3).await;
        app.call(
            "POST",
            "/api/v1/skill-groups",
            Some(&boss),
            Some(json!({ "name": "售前" })),
        )
        .await;

        let resp = app
            .cli
            .get("/api/v1/accounts/import-template")
            .header("authorization", format!("Bearer {boss}"))
            .send()
            .await;
        resp.assert_status_is_ok();
        resp.assert_header(
            "content-type",
            "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        );
        let template = resp.0.into_body().into_vec().await.unwrap();
        assert!(template.starts_with(b"PK"), "an xlsx is a zip");

        // Fill in rows as a user would: one good, one with a bad role, one in an unknown
        // group, a duplicate, then more good ones than the plan allows.
        let mut wb = Workbook::new();
        let ws = wb.add_worksheet();
        let header = [
            "用户名 username*",
            "显示名 display_name*",
            "姓名 real_name",
            "手机 phone",
            "邮箱 email",
            "角色 role",
            "技能组 skill_groups",
        ];
        for (c, h) in header.iter().enumerate() {
            ws.write_string(0, c as u16, *h).unwrap();
        }
        let rows: [[&str; 7]; 6] = [
            [
                "wang",
                "客服小王",
                "王芳",
                "",
                "wang@acme.cn",
                "agent",
                "售前",
            ],
            ["zhao", "小赵", "", "", "", "boss", ""],
            ["qian", "小钱", "", "", "", "", "不存在"],
            ["wang", "重复", "", "", "", "", ""],
            ["sun", "小孙", "", "", "", "admin", ""],
            ["li", "小李", "", "", "", "坐席", ""],
        ];
        for (r, row) in rows.iter().enumerate() {
            for (c, v) in row.iter().enumerate() {
                if !v.is_empty() {
                    ws.write_string(r as u32 + 1, c as u16, *v).unwrap();
                }
            }
        }
        ws.write_number(7, 0, 1.0).unwrap(); // a stray number in row 8: username "1" is too short
        ws.write_number(1, 3, 13800000000.0).unwrap(); // a phone typed as a number
        let file = wb.save_to_buffer().unwrap();

        let resp = app
            .cli
            .post("/api/v1/accounts/import")
            .header("authorization", format!("Bearer {boss}"))
            .content_type("application/octet-stream")
            .body(file)
            .send()
            .await;
        let (status, report) = json_of(resp).await;
        assert_eq!(status, 200, "{}: {report}", app.name);
        let outcome: Vec<(i64, &str, &str)> = report["rows"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| {
                (
                    r["row"].as_i64().unwrap(),
                    r["status"].as_str().unwrap(),
                    r["error"]["code"].as_str().unwrap_or(""),
                )
            })
            .collect();
        assert_eq!(
            outcome,
            [
                (2, "created", ""),
                (3, "failed", "validation_failed"),
                (4, "failed", "unknown_skill_group"),
                (5, "failed", "duplicate"),
                (6, "created", ""),
                (7, "created", ""),
                (8, "failed", "validation_failed"),
            ],
            "{}",
            app.name
        );
        assert_eq!(
            (report["created"].as_i64(), report["failed"].as_i64()),
            (Some(3), Some(4))
        );
        let wang = &report["rows"][0]["account"];
        assert_eq!(
            (
                wang["phone"].as_str(),
                wang["skill_group_ids"].as_array().unwrap().len()
            ),
            (Some("13800000000"), 1)
        );
        assert!(
            report["rows"][0]["initial_password"]
                .as_str()
                .unwrap()
                .len()
                >= 8
        );

        // The cap holds: the plan is full now, so a second import creates nothing.
        let mut wb = Workbook::new();
        let ws = wb.add_worksheet();
        for (c, h) in header.iter().enumerate() {
            ws.write_string(0, c as u16, *h).unwrap();
        }
        ws.write_string(1, 0, "zhou").unwrap();
        ws.write_string(1, 1, "小周").unwrap();
        const XLSX: &str = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet";
        let resp = app
            .cli
            .post("/api/v1/accounts/import")
            .header("authorization", format!("Bearer {boss}"))
            .content_type(XLSX)
            .body(wb.save_to_buffer().unwrap())
            .send()
            .await;
        let (_, report) = json_of(resp).await;
        assert_eq!(
            report["rows"][0]["error"]["code"], "seat_limit_reached",
            "{report}"
        );

        // Not the template: a clear refusal.
        let resp = app
            .cli
            .post("/api/v1/accounts/import")
            .header("authorization", format!("Bearer {boss}"))
            .content_type(XLSX)
            .body("hello")
            .send()
            .await;
        let (status, err) = json_of(resp).await;
        assert_eq!((status, err["code"].as_str()), (400, Some("bad_request")));
        assert!(err["message"].as_str().unwrap().contains("import-template"));
    }
}

#[test]
fn the_committed_openapi_document_matches_the_code() {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../openapi/openapi.json");
    let committed = std::fs::read_to_string(&path).unwrap_or_default();
    let generated = kefu_tenant_api::spec_json();
    assert!(
        committed.trim_end() == generated.trim_end(),
        "openapi/openapi.json is out of date: run `cargo xtask openapi` and commit the result"
    );
}

#[tokio::test]
async fn the_im_app_is_shown_to_admins_and_its_secret_to_super_admins_only() {
    for db in databases().await {
        let app = app(db).await;
        let op = app.token(None, "operator", OPERATOR_PASSWORD).await;
        let (_, boss) = app.tenant(&op, "acme", 5).await;
        let (_, first) = app.seat(&boss, "zhao", "admin").await;
        let admin = app.activate("acme", "zhao", &first, "Admin#2026").await;
        let (_, first) = app.seat(&boss, "li", "agent").await;
        let agent = app.activate("acme", "li", &first, "Agent#2026").await;

        let (status, im) = app.call("GET", "/api/v1/im-app", Some(&boss), None).await;
        assert_eq!(status, 200, "{}: {im}", app.name);
        assert!(im["sdk_app_id"].as_i64().unwrap() > 1_400_000_000);
        assert_eq!(im["admin_identifiers"], json!(["administrator"]));
        assert_eq!(
            im["service_accounts"][0]["identifier"],
            "@customer_service_account"
        );
        let secret = im["secret_key"].as_str().unwrap().to_string();
        assert_eq!(secret.len(), 64);

        let (status, seen_by_admin) = app.call("GET", "/api/v1/im-app", Some(&admin), None).await;
        assert_eq!(status, 200);
        assert!(seen_by_admin.get("secret_key").is_none(), "{seen_by_admin}");
        assert_eq!(
            app.call("GET", "/api/v1/im-app", Some(&agent), None)
                .await
                .0,
            403
        );
        assert_eq!(
            app.call("POST", "/api/v1/im-app/rotate-secret", Some(&admin), None)
                .await
                .0,
            403
        );

        let (status, rotated) = app
            .call("POST", "/api/v1/im-app/rotate-secret", Some(&boss), None)
            .await;
        assert_eq!(status, 200);
        assert_ne!(rotated["secret_key"].as_str().unwrap(), secret);

        let (_, group) = app
            .call(
                "POST",
                "/api/v1/skill-groups",
                Some(&admin),
                Some(json!({ "name": "售后" })),
            )
            .await;
        let patch = json!({ "admin_identifiers": ["administrator", "erp_bot"],
                            "service_accounts": [{ "identifier": "@aftersales", "skill_group_id": group["id"] }] });
        let (status, updated) = app
            .call("PATCH", "/api/v1/im-app", Some(&admin), Some(patch))
            .await;
        assert_eq!(status, 200, "{updated}");
        assert_eq!(
            updated["admin_identifiers"],
            json!(["administrator", "erp_bot"])
        );
        assert_eq!(
            updated["service_accounts"][0]["skill_group_id"],
            group["id"]
        );

        for bad in [
            json!({ "admin_identifiers": [] }),
            json!({ "service_accounts": [] }),
            json!({ "admin_identifiers": ["has space"] }),
            json!({ "service_accounts": [{ "identifier": "x".repeat(33) }] }),
        ] {
            let (status, err) = app
                .call("PATCH", "/api/v1/im-app", Some(&admin), Some(bad.clone()))
                .await;
            assert_eq!(
                (status, err["code"].as_str()),
                (400, Some("validation_failed")),
                "{bad}"
            );
        }
        let foreign_group =
            json!({ "service_accounts": [{ "identifier": "@x", "skill_group_id": 999_999 }] });
        let (status, err) = app
            .call("PATCH", "/api/v1/im-app", Some(&admin), Some(foreign_group))
            .await;
        assert_eq!(
            (status, err["code"].as_str()),
            (400, Some("unknown_skill_group"))
        );
    }
}

#[tokio::test]
async fn callback_settings_are_checked_and_the_token_shown_to_super_admins_only() {
    let app = app(TestDb::sqlite()).await;
    let op = app.token(None, "operator", OPERATOR_PASSWORD).await;
    let (_, boss) = app.tenant(&op, "acme", 5).await;
    let (_, first) = app.seat(&boss, "zhao", "admin").await;
    let admin = app.activate("acme", "zhao", &first, "Admin#2026").await;

    for bad in [
        json!({ "callback_url": "ftp://x" }),
        json!({ "callback_url": "https://a b" }),
        json!({ "callback_token": "t".repeat(65) }),
    ] {
        let (status, err) = app
            .call("PATCH", "/api/v1/im-app", Some(&admin), Some(bad.clone()))
            .await;
        assert_eq!(
            (status, err["code"].as_str()),
            (400, Some("validation_failed")),
            "{bad}"
        );
    }
    let set =
        json!({ "callback_url": "https://erp.acme.cn/im/callback", "callback_token": "s3cret" });
    let (status, im) = app
        .call("PATCH", "/api/v1/im-app", Some(&admin), Some(set))
        .await;
    assert_eq!(status, 200, "{im}");
    assert_eq!(
        (
            im["callback_url"].as_str(),
            im["has_callback_token"].as_bool()
        ),
        (Some("https://erp.acme.cn/im/callback"), Some(true))
    );
    assert!(
        im.get("callback_token").is_none(),
        "admins do not see the token"
    );
    let (_, seen_by_boss) = app.call("GET", "/api/v1/im-app", Some(&boss), None).await;
    assert_eq!(seen_by_boss["callback_token"], "s3cret");
    // Changing only the URL keeps the token; an empty URL turns callbacks off.
    let (_, im) = app
        .call(
            "PATCH",
            "/api/v1/im-app",
            Some(&admin),
            Some(json!({ "callback_url": "" })),
        )
        .await;
    assert_eq!(
        (
            im["callback_url"].as_str(),
            im["has_callback_token"].as_bool()
        ),
        (Some(""), Some(true))
    );

    let (status, log) = app
        .call(
            "GET",
            "/api/v1/im-app/callbacks?status=failed",
            Some(&admin),
            None,
        )
        .await;
    assert_eq!((status, log), (200, json!([])));
    let (status, err) = app
        .call(
            "GET",
            "/api/v1/im-app/callbacks?status=lost",
            Some(&admin),
            None,
        )
        .await;
    assert_eq!(
        (status, err["code"].as_str()),
        (400, Some("validation_failed"))
    );
}

/// A tenant's callback endpoint on a free port that keeps each request's query and body and
/// answers `answer` with `status`; returns its URL and what it received.
async fn callback_sink(
    status: u16,
    answer: &'static str,
) -> (
    String,
    std::sync::Arc<std::sync::Mutex<Vec<(String, String)>>>,
) {
    use poem::{EndpointExt, handler, http::StatusCode, web::Data};
    type Seen = std::sync::Arc<std::sync::Mutex<Vec<(String, String)>>>;
    #[handler]
    fn receive(
        req: &poem::Request,
        body: String,
        seen: Data<&Seen>,
        reply: Data<&(u16, &'static str)>,
    ) -> poem::Response {
        seen.lock()
            .unwrap()
            .push((req.uri().query().unwrap_or_default().to_string(), body));
        poem::Response::builder()
            .status(StatusCode::from_u16(reply.0.0).unwrap())
            .body(reply.0.1)
    }
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    drop(listener);
    let seen: Seen = Default::default();
    let route = poem::Route::new()
        .at("/cb", poem::post(receive))
        .data(seen.clone())
        .data((status, answer));
    tokio::spawn(
        poem::Server::new(poem::listener::TcpListener::bind(format!(
            "127.0.0.1:{port}"
        )))
        .run(route),
    );
    for _ in 0..100 {
        if tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .is_ok()
        {
            break;
        }
        // Waiting for the server to bind, not for a timeout under test.
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    (format!("http://127.0.0.1:{port}/cb"), seen)
}

#[tokio::test]
async fn a_test_callback_reaches_the_tenants_server_signed_and_says_what_came_back() {
    let app = app(TestDb::sqlite()).await;
    let op = app.token(None, "operator", OPERATOR_PASSWORD).await;
    let (_, boss) = app.tenant(&op, "acme", 5).await;
    let (_, first) = app.seat(&boss, "zhao", "admin").await;
    let admin = app.activate("acme", "zhao", &first, "Admin#2026").await;
    let test = |body: Value| {
        let app = &app;
        let admin = admin.clone();
        async move {
            app.call(
                "POST",
                "/api/v1/im-app/test-callback",
                Some(&admin),
                Some(body),
            )
            .await
        }
    };

    // Nothing saved and nothing given: said what to do.
    let (status, err) = test(json!({})).await;
    assert_eq!(status, 400, "{err}");
    assert!(err["message"].as_str().unwrap().contains("callback URL"));

    // The saved URL and token: signed as real callbacks are.
    let (url, seen) = callback_sink(200, r#"{"ActionStatus":"OK","ErrorCode":0}"#).await;
    app.call(
        "PATCH",
        "/api/v1/im-app",
        Some(&admin),
        Some(json!({ "callback_url": url, "callback_token": "s3cret" })),
    )
    .await;
    let (status, r) = test(json!({})).await;
    assert_eq!(status, 200, "{r}");
    assert_eq!(
        (
            &r["ok"],
            &r["action_status"],
            &r["error_code"],
            &r["signed"]
        ),
        (&json!(true), &json!("OK"), &json!(0), &json!(true)),
        "{r}"
    );
    let (query, body) = seen.lock().unwrap()[0].clone();
    let q: std::collections::HashMap<String, String> = query
        .split('&')
        .filter_map(|kv| kv.split_once('='))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    assert_eq!(q["CallbackCommand"], "Kefu.CallbackTest");
    let time: i64 = q["RequestTime"].parse().unwrap();
    assert_eq!(q["Sign"], kefu_callback::sign("s3cret", time));
    let body: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(body["CallbackCommand"], "Kefu.CallbackTest");

    // Unsaved form values are tried as given, and nothing is saved.
    let (other, other_seen) = callback_sink(500, "oops").await;
    let (_, r) = test(json!({ "callback_url": other, "callback_token": "" })).await;
    assert_eq!(
        (&r["ok"], &r["error"], &r["signed"]),
        (&json!(false), &json!("answered HTTP 500"), &json!(false)),
        "{r}"
    );
    assert!(!other_seen.lock().unwrap()[0].0.contains("Sign="));
    let (_, im) = app.call("GET", "/api/v1/im-app", Some(&admin), None).await;
    assert_eq!(im["callback_url"].as_str(), Some(url.as_str()));

    // Nobody listening.
    let closed = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let (_, r) = test(json!({ "callback_url": format!("http://127.0.0.1:{closed}/cb") })).await;
    assert_eq!(r["ok"], json!(false));
    assert!(
        r["error"].as_str().unwrap().starts_with("cannot reach"),
        "{r}"
    );
    let (status, _) = test(json!({ "callback_url": "ftp://x" })).await;
    assert_eq!(status, 400);
    // Agents may not.
    let (_, agent_first) = app.seat(&admin, "qian", "agent").await;
    let agent = app
        .activate("acme", "qian", &agent_first, "Agent#2026")
        .await;
    let (status, _) = app
        .call(
            "POST",
            "/api/v1/im-app/test-callback",
            Some(&agent),
            Some(json!({})),
        )
        .await;
    assert_eq!(status, 403);
}
