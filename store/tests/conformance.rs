//! The storage conformance suite. Every test runs on SQLite and, when
//! `KEFU_TEST_DATABASE_URL` is set, on PostgreSQL, each on a fresh database.

use kefu_domain::clock::{MINUTE, SECOND};
use kefu_domain::{AccountId, Role, SkillGroupId, TenantId};
use kefu_store::testing::databases;
use kefu_store::*;
use std::sync::Arc;

const T0: i64 = 1_767_225_600_000;

fn tenant(code: &str, max_accounts: i64) -> NewTenant {
    NewTenant {
        code: code.into(),
        name: format!("{code} 供应商"),
        max_accounts,
        max_online: 2,
        im_secret: format!("{code}-secret"),
    }
}

fn account(username: &str, role: Role) -> NewAccount {
    NewAccount {
        username: username.into(),
        display_name: format!("客服 {username}"),
        real_name: String::new(),
        phone: String::new(),
        email: format!("{username}@example.cn"),
        role,
        password_hash: "hash".into(),
        must_change_password: true,
        skill_group_ids: vec![],
    }
}

async fn with_tenant(store: &Arc<dyn Store>, code: &str, max: i64) -> TenantId {
    store
        .create_tenant(tenant(code, max), account("owner", Role::SuperAdmin), T0)
        .await
        .unwrap()
        .0
        .id
}

/// The tenant's messages whose text holds `q`, newest first, at most 10.
async fn search_text(store: &Arc<dyn Store>, t: TenantId, q: &str) -> Vec<StoredMessage> {
    store
        .search_messages(t, &kefu_store::MessageSearch::text(q, 10))
        .await
        .unwrap()
}

#[tokio::test]
async fn migration_trees_have_the_same_versions_and_names() {
    let (sqlite, postgres) = migration_names();
    assert!(!sqlite.is_empty());
    assert_eq!(sqlite, postgres);
}

#[tokio::test]
async fn a_tenant_is_created_with_its_owner_who_does_not_use_a_seat() {
    for db in databases().await {
        let store = db.store().await;
        let (t, owner) = store
            .create_tenant(tenant("acme", 2), account("boss", Role::SuperAdmin), T0)
            .await
            .unwrap();
        assert_eq!(t.code, "acme");
        assert_eq!((t.max_accounts, t.max_online), (2, 2));
        assert!(owner.is_owner, "{}", db.name);
        assert_eq!(owner.tenant_id, Some(t.id));
        assert_eq!(
            store.seat_usage(t.id).await.unwrap().accounts,
            0,
            "{}",
            db.name
        );
        assert_eq!(
            store.find_tenant_by_code("acme").await.unwrap().unwrap().id,
            t.id
        );
        let again = store
            .create_tenant(tenant("acme", 2), account("x", Role::SuperAdmin), T0)
            .await;
        assert!(
            matches!(again, Err(StoreError::Duplicate(_))),
            "{}",
            db.name
        );
        assert_eq!(
            store.list_tenants().await.unwrap().len(),
            1,
            "a failed create leaves nothing behind"
        );
    }
}

#[tokio::test]
async fn creating_past_the_seat_cap_is_refused_and_creates_nothing() {
    for db in databases().await {
        let store = db.store().await;
        let t = with_tenant(&store, "acme", 2).await;
        store
            .create_account(t, account("a1", Role::Agent), T0)
            .await
            .unwrap();
        store
            .create_account(t, account("a2", Role::Admin), T0)
            .await
            .unwrap();
        let third = store
            .create_account(t, account("a3", Role::Agent), T0)
            .await;
        assert!(
            matches!(third, Err(StoreError::SeatLimitReached { max: 2 })),
            "{}",
            db.name
        );
        assert!(store.find_login(Some(t), "a3").await.unwrap().is_none());
        assert_eq!(store.seat_usage(t).await.unwrap().accounts, 2);
    }
}

#[tokio::test]
async fn concurrent_creates_never_exceed_the_cap() {
    for db in databases().await {
        let store = db.store().await;
        let t = with_tenant(&store, "acme", 3).await;
        let tasks: Vec<_> = (0..12)
            .map(|i| {
                let store = store.clone();
                tokio::spawn(async move {
                    store
                        .create_account(t, account(&format!("agent{i}"), Role::Agent), T0)
                        .await
                })
            })
            .collect();
        let mut created = 0;
        for task in tasks {
            match task.await.unwrap() {
                Ok(_) => created += 1,
                Err(StoreError::SeatLimitReached { .. }) => {}
                Err(e) => panic!("{}: unexpected {e}", db.name),
            }
        }
        assert_eq!(created, 3, "{}", db.name);
        assert_eq!(
            store.seat_usage(t).await.unwrap().accounts,
            3,
            "{}",
            db.name
        );
    }
}

#[tokio::test]
async fn usernames_are_unique_per_tenant_only() {
    for db in databases().await {
        let store = db.store().await;
        let a = with_tenant(&store, "acme", 5).await;
        let b = with_tenant(&store, "bolt", 5).await;
        store
            .create_account(a, account("li", Role::Agent), T0)
            .await
            .unwrap();
        store
            .create_account(b, account("li", Role::Agent), T0)
            .await
            .unwrap();
        let dup = store
            .create_account(a, account("li", Role::Agent), T0)
            .await;
        assert!(matches!(dup, Err(StoreError::Duplicate(_))), "{}", db.name);
        // An operator may share a name with a tenant account.
        store
            .create_operator(account("li", Role::Operator), T0)
            .await
            .unwrap();
        assert!(
            store
                .create_operator(account("li", Role::Operator), T0)
                .await
                .is_err()
        );
        assert_eq!(store.count_operators().await.unwrap(), 1);
    }
}

#[tokio::test]
async fn one_tenant_cannot_reach_another_tenants_accounts() {
    for db in databases().await {
        let store = db.store().await;
        let a = with_tenant(&store, "acme", 5).await;
        let b = with_tenant(&store, "bolt", 5).await;
        let li = store
            .create_account(a, account("li", Role::Agent), T0)
            .await
            .unwrap();
        assert!(
            store.get_account(b, li.id).await.unwrap().is_none(),
            "{}",
            db.name
        );
        let patch = AccountPatch {
            display_name: Some("hacked".into()),
            ..Default::default()
        };
        assert!(matches!(
            store.update_account(b, li.id, patch, T0).await,
            Err(StoreError::NotFound)
        ));
        assert!(matches!(
            store.delete_account(b, li.id).await,
            Err(StoreError::NotFound)
        ));
        assert!(matches!(
            store.set_password(Some(b), li.id, "x", false, T0).await,
            Err(StoreError::NotFound)
        ));
        assert!(
            store
                .list_accounts(b, &AccountFilter::default())
                .await
                .unwrap()
                .iter()
                .all(|x| x.id != li.id)
        );
        assert_eq!(
            store
                .get_account(a, li.id)
                .await
                .unwrap()
                .unwrap()
                .display_name,
            "客服 li"
        );
        // Skill groups of another tenant cannot be joined.
        let g = store.create_skill_group(b, "售后", T0).await.unwrap();
        let patch = AccountPatch {
            skill_group_ids: Some(vec![g.id]),
            ..Default::default()
        };
        assert!(matches!(
            store.update_account(a, li.id, patch, T0).await,
            Err(StoreError::UnknownSkillGroup(_))
        ));
        assert!(store.list_skill_groups(a).await.unwrap().is_empty());
    }
}

#[tokio::test]
async fn accounts_are_filtered_and_edited() {
    for db in databases().await {
        let store = db.store().await;
        let t = with_tenant(&store, "acme", 5).await;
        let pre = store.create_skill_group(t, "售前", T0).await.unwrap();
        let mut wang = account("wang", Role::Agent);
        wang.skill_group_ids = vec![pre.id];
        wang.phone = "13800000000".into();
        let wang = store.create_account(t, wang, T0).await.unwrap();
        assert_eq!(wang.skill_group_ids, vec![pre.id]);
        store
            .create_account(t, account("zhao", Role::Admin), T0)
            .await
            .unwrap();

        let by = |f: AccountFilter| {
            let store = store.clone();
            async move {
                store
                    .list_accounts(t, &f)
                    .await
                    .unwrap()
                    .into_iter()
                    .map(|a| a.username)
                    .collect::<Vec<_>>()
            }
        };
        assert_eq!(
            by(AccountFilter {
                text: Some("WAN".into()),
                ..Default::default()
            })
            .await,
            ["wang"]
        );
        assert_eq!(
            by(AccountFilter {
                text: Some("1380".into()),
                ..Default::default()
            })
            .await,
            ["wang"]
        );
        assert_eq!(
            by(AccountFilter {
                role: Some(Role::Admin),
                ..Default::default()
            })
            .await,
            ["zhao"]
        );
        assert_eq!(
            by(AccountFilter {
                skill_group: Some(pre.id),
                ..Default::default()
            })
            .await,
            ["wang"]
        );
        assert_eq!(
            by(AccountFilter {
                disabled: Some(false),
                ..Default::default()
            })
            .await
            .len(),
            3
        );

        let patch = AccountPatch {
            role: Some(Role::Admin),
            disabled: Some(true),
            skill_group_ids: Some(vec![]),
            ..Default::default()
        };
        let wang = store
            .update_account(t, wang.id, patch, T0 + 1)
            .await
            .unwrap();
        assert_eq!(
            (wang.role, wang.disabled, wang.updated_at),
            (Role::Admin, true, T0 + 1)
        );
        assert!(wang.skill_group_ids.is_empty());
        assert_eq!(
            by(AccountFilter {
                disabled: Some(true),
                ..Default::default()
            })
            .await,
            ["wang"]
        );

        store.delete_account(t, wang.id).await.unwrap();
        assert!(store.get_account(t, wang.id).await.unwrap().is_none());
        assert_eq!(
            store.seat_usage(t).await.unwrap().accounts,
            1,
            "a deleted seat is free again"
        );
    }
}

#[tokio::test]
async fn role_assignments_follow_the_account() {
    for db in databases().await {
        let store = db.store().await;
        let t = with_tenant(&store, "acme", 5).await;
        let li = store
            .create_account(t, account("li", Role::Agent), T0)
            .await
            .unwrap();
        let subject = kefu_domain::authz::subject(li.id);
        let g = |store: Arc<dyn Store>, subject: String| async move {
            store
                .load_policy_rules()
                .await
                .unwrap()
                .into_iter()
                .filter(|r| r.ptype == "g" && r.values[0] == subject)
                .map(|r| r.values)
                .collect::<Vec<_>>()
        };
        assert_eq!(
            g(store.clone(), subject.clone()).await,
            [[subject.clone(), "agent".into(), format!("tenant:{t}")]]
        );
        let patch = AccountPatch {
            role: Some(Role::Admin),
            ..Default::default()
        };
        store.update_account(t, li.id, patch, T0).await.unwrap();
        assert_eq!(
            g(store.clone(), subject.clone()).await[0][1],
            "admin",
            "{}",
            db.name
        );
        store.delete_account(t, li.id).await.unwrap();
        assert!(g(store.clone(), subject.clone()).await.is_empty());

        let rules = [PolicyRule::new(
            "p",
            &["agent", "tenant:*", "profile", "read"],
        )];
        store.replace_policy_rules("p", &rules).await.unwrap();
        store.replace_policy_rules("p", &rules).await.unwrap();
        let p: Vec<_> = store
            .load_policy_rules()
            .await
            .unwrap()
            .into_iter()
            .filter(|r| r.ptype == "p")
            .collect();
        assert_eq!(p, rules);
    }
}

fn session(tenant: TenantId, account: AccountId, token: &str, now: i64) -> NewSession {
    NewSession {
        tenant_id: Some(tenant),
        account_id: account,
        token_hash: token.into(),
        ip: "127.0.0.1".into(),
        user_agent: "test".into(),
        now,
    }
}

#[tokio::test]
async fn a_second_live_login_is_refused_and_a_dead_one_is_replaced() {
    for db in databases().await {
        let store = db.store().await;
        let t = with_tenant(&store, "acme", 5).await;
        let li = store
            .create_account(t, account("li", Role::Agent), T0)
            .await
            .unwrap();
        let first = store
            .open_session(session(t, li.id, "h1", T0), T0 - 2 * MINUTE)
            .await
            .unwrap();

        let now = T0 + MINUTE;
        let second = store
            .open_session(session(t, li.id, "h2", now), now - 2 * MINUTE)
            .await;
        assert!(
            matches!(second, Err(StoreError::AlreadyLoggedIn)),
            "{}",
            db.name
        );

        // Three minutes of silence: the first login is dead and no longer blocks.
        let now = T0 + 3 * MINUTE;
        store
            .open_session(session(t, li.id, "h3", now), now - 2 * MINUTE)
            .await
            .unwrap();
        assert!(
            store
                .authenticate("h1", now - 24 * 60 * MINUTE, now)
                .await
                .unwrap()
                .is_none(),
            "replaced"
        );
        let (s, a) = store
            .authenticate("h3", now - 24 * 60 * MINUTE, now)
            .await
            .unwrap()
            .unwrap();
        assert_eq!((s.account_id, a.id), (li.id, li.id));
        assert_ne!(s.id, first.id);

        let live = store.list_live_sessions(t, now - 2 * MINUTE).await.unwrap();
        assert_eq!(live.len(), 1);
        assert_eq!(live[0].username, "li");

        let kicked = store
            .revoke_account_sessions(Some(t), li.id, "kicked", now)
            .await
            .unwrap();
        assert_eq!(kicked, vec![s.id]);
        assert!(
            store
                .authenticate("h3", now - 24 * 60 * MINUTE, now)
                .await
                .unwrap()
                .is_none()
        );
        store
            .open_session(session(t, li.id, "h4", now), now - 2 * MINUTE)
            .await
            .unwrap();
    }
}

#[tokio::test]
async fn concurrent_logins_leave_exactly_one_session() {
    for db in databases().await {
        let store = db.store().await;
        let t = with_tenant(&store, "acme", 5).await;
        let li = store
            .create_account(t, account("li", Role::Agent), T0)
            .await
            .unwrap();
        let tasks: Vec<_> = (0..8)
            .map(|i| {
                let store = store.clone();
                let new = session(t, li.id, &format!("tok{i}"), T0);
                tokio::spawn(async move { store.open_session(new, T0 - 2 * MINUTE).await })
            })
            .collect();
        let mut ok = 0;
        for task in tasks {
            match task.await.unwrap() {
                Ok(_) => ok += 1,
                Err(StoreError::AlreadyLoggedIn) => {}
                Err(e) => panic!("{}: {e}", db.name),
            }
        }
        assert_eq!(ok, 1, "{}", db.name);
    }
}

#[tokio::test]
async fn tokens_expire_after_a_day_without_use_and_use_extends_them() {
    for db in databases().await {
        let store = db.store().await;
        let t = with_tenant(&store, "acme", 5).await;
        let li = store
            .create_account(t, account("li", Role::Agent), T0)
            .await
            .unwrap();
        store
            .open_session(session(t, li.id, "h", T0), T0)
            .await
            .unwrap();
        let day = 24 * 60 * MINUTE;
        let now = T0 + day - SECOND;
        let (s, _) = store
            .authenticate("h", now - day, now)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(s.last_seen_at, now, "use is recorded");
        let later = now + day - SECOND;
        assert!(
            store
                .authenticate("h", later - day, later)
                .await
                .unwrap()
                .is_some(),
            "{}",
            db.name
        );
        let too_late = later + day + SECOND;
        assert!(
            store
                .authenticate("h", too_late - day, too_late)
                .await
                .unwrap()
                .is_none(),
            "{}",
            db.name
        );
    }
}

#[tokio::test]
async fn disabling_a_tenant_or_an_account_ends_their_sessions() {
    for db in databases().await {
        let store = db.store().await;
        let t = with_tenant(&store, "acme", 5).await;
        let li = store
            .create_account(t, account("li", Role::Agent), T0)
            .await
            .unwrap();
        let wu = store
            .create_account(t, account("wu", Role::Agent), T0)
            .await
            .unwrap();
        store
            .open_session(session(t, li.id, "li", T0), T0)
            .await
            .unwrap();
        store
            .open_session(session(t, wu.id, "wu", T0), T0)
            .await
            .unwrap();
        let off = AccountPatch {
            disabled: Some(true),
            ..Default::default()
        };
        store.update_account(t, li.id, off, T0).await.unwrap();
        assert!(
            store
                .authenticate("li", T0 - MINUTE, T0)
                .await
                .unwrap()
                .is_none(),
            "{}",
            db.name
        );
        assert!(
            store
                .authenticate("wu", T0 - MINUTE, T0)
                .await
                .unwrap()
                .is_some()
        );
        let off = TenantPatch {
            disabled: Some(true),
            ..Default::default()
        };
        assert!(store.update_tenant(t, off, T0).await.unwrap().disabled);
        assert!(
            store
                .authenticate("wu", T0 - MINUTE, T0)
                .await
                .unwrap()
                .is_none(),
            "{}",
            db.name
        );
        let missing = store
            .update_tenant(TenantId(9999), TenantPatch::default(), T0)
            .await;
        assert!(matches!(missing, Err(StoreError::NotFound)));
    }
}

#[tokio::test]
async fn five_failures_lock_a_key_for_the_given_time() {
    for db in databases().await {
        let store = db.store().await;
        for i in 0..4 {
            assert_eq!(
                store
                    .throttle_fail("acct:x", 5, MINUTE, T0 + i)
                    .await
                    .unwrap(),
                None
            );
        }
        assert_eq!(
            store.throttle_locked_until("acct:x", T0).await.unwrap(),
            None
        );
        let until = store
            .throttle_fail("acct:x", 5, MINUTE, T0 + 4)
            .await
            .unwrap();
        assert_eq!(until, Some(T0 + 4 + MINUTE), "{}", db.name);
        assert_eq!(
            store
                .throttle_locked_until("acct:x", T0 + 30 * SECOND)
                .await
                .unwrap(),
            until
        );
        assert_eq!(
            store
                .throttle_locked_until("acct:x", T0 + 2 * MINUTE)
                .await
                .unwrap(),
            None
        );
        assert_eq!(
            store.throttle_locked_until("acct:y", T0).await.unwrap(),
            None,
            "keys are separate"
        );
        // Old failures are forgotten.
        store.throttle_fail("acct:z", 2, MINUTE, T0).await.unwrap();
        assert_eq!(
            store
                .throttle_fail("acct:z", 2, MINUTE, T0 + 20 * MINUTE)
                .await
                .unwrap(),
            None
        );
        store.throttle_clear("acct:x").await.unwrap();
        assert_eq!(
            store
                .throttle_locked_until("acct:x", T0 + 30 * SECOND)
                .await
                .unwrap(),
            None
        );
    }
}

#[tokio::test]
async fn the_audit_log_pages_newest_first_per_tenant() {
    for db in databases().await {
        let store = db.store().await;
        let a = with_tenant(&store, "acme", 5).await;
        let b = with_tenant(&store, "bolt", 5).await;
        for (i, tenant) in [Some(a), Some(a), Some(b), None, Some(a)]
            .into_iter()
            .enumerate()
        {
            store
                .record_audit(NewAuditEntry {
                    tenant_id: tenant,
                    actor_id: None,
                    actor: "boss".into(),
                    action: format!("action{i}"),
                    target: "t".into(),
                    detail: "登录".into(),
                    ip: "10.0.0.1".into(),
                    created_at: T0 + i as i64,
                })
                .await
                .unwrap();
        }
        let page1 = store.list_audit(Some(a), None, 2).await.unwrap();
        assert_eq!(
            page1.iter().map(|e| e.action.as_str()).collect::<Vec<_>>(),
            ["action4", "action1"]
        );
        let page2 = store
            .list_audit(Some(a), Some(page1[1].id), 2)
            .await
            .unwrap();
        assert_eq!(
            page2.iter().map(|e| e.action.as_str()).collect::<Vec<_>>(),
            ["action0"],
            "{}",
            db.name
        );
        let platform = store.list_audit(None, None, 10).await.unwrap();
        assert_eq!(platform.len(), 1);
        assert_eq!(platform[0].detail, "登录");
    }
}

#[tokio::test]
async fn a_password_change_is_stored() {
    for db in databases().await {
        let store = db.store().await;
        let t = with_tenant(&store, "acme", 5).await;
        let owner = store.find_login(Some(t), "owner").await.unwrap().unwrap();
        store
            .set_password(Some(t), owner.id, "new-hash", false, T0)
            .await
            .unwrap();
        let owner = store.find_login(Some(t), "owner").await.unwrap().unwrap();
        assert_eq!(
            (owner.password_hash.as_str(), owner.must_change_password),
            ("new-hash", false)
        );
        let op = store
            .create_operator(account("op", Role::Operator), T0)
            .await
            .unwrap();
        store
            .set_password(None, op.id, "op-hash", false, T0)
            .await
            .unwrap();
        assert!(matches!(
            store.set_password(None, owner.id, "x", false, T0).await,
            Err(StoreError::NotFound)
        ));
        assert_eq!(
            store
                .get_operator(op.id)
                .await
                .unwrap()
                .unwrap()
                .password_hash,
            "op-hash"
        );
        let _ = SkillGroupId(0);
    }
}

#[tokio::test]
async fn each_tenant_gets_an_im_app_found_by_its_sdkappid() {
    for db in databases().await {
        let store = db.store().await;
        let a = with_tenant(&store, "acme", 5).await;
        let b = with_tenant(&store, "bolt", 5).await;
        let app = store.get_im_app(a).await.unwrap().unwrap();
        assert_eq!(app.sdk_app_id, SDK_APP_ID_BASE + a.0);
        assert_eq!(app.secret_key, "acme-secret");
        assert_eq!(app.admin_identifiers, ["administrator"]);
        assert_eq!(
            app.service_accounts[0].identifier,
            "@customer_service_account"
        );
        assert_eq!(
            store
                .find_im_app(app.sdk_app_id)
                .await
                .unwrap()
                .unwrap()
                .tenant_id,
            a
        );
        assert!(store.find_im_app(1).await.unwrap().is_none());

        store
            .rotate_im_secret(a, "new-secret", T0 + 1)
            .await
            .unwrap();
        assert_eq!(
            store.get_im_app(a).await.unwrap().unwrap().secret_key,
            "new-secret"
        );
        assert_eq!(
            store.get_im_app(b).await.unwrap().unwrap().secret_key,
            "bolt-secret",
            "{}",
            db.name
        );

        let g = store.create_skill_group(a, "售前", T0).await.unwrap();
        let accounts = vec![ServiceAccount {
            identifier: "@presales".into(),
            skill_group_id: Some(g.id),
        }];
        let app = store
            .update_im_app(
                a,
                Some(vec!["admin2".into(), "ops".into()]),
                Some(accounts),
                T0,
            )
            .await
            .unwrap();
        assert_eq!(app.admin_identifiers, ["admin2", "ops"]);
        assert_eq!(
            app.service_accounts,
            [ServiceAccount {
                identifier: "@presales".into(),
                skill_group_id: Some(g.id)
            }]
        );
        let foreign = store.create_skill_group(b, "售后", T0).await.unwrap();
        let bad = vec![ServiceAccount {
            identifier: "@x".into(),
            skill_group_id: Some(foreign.id),
        }];
        assert!(matches!(
            store.update_im_app(a, None, Some(bad), T0).await,
            Err(StoreError::UnknownSkillGroup(_))
        ));
        assert_eq!(
            store
                .get_im_app(a)
                .await
                .unwrap()
                .unwrap()
                .service_accounts
                .len(),
            1,
            "nothing changed"
        );
    }
}

#[tokio::test]
async fn im_accounts_are_imported_updated_kicked_and_deleted_per_tenant() {
    for db in databases().await {
        let store = db.store().await;
        let a = with_tenant(&store, "acme", 5).await;
        let b = with_tenant(&store, "bolt", 5).await;
        let mut buyer = ImAccount {
            user_id: "buyer_1".into(),
            nick: "张三".into(),
            face_url: String::new(),
            kind: 0,
            created_at: T0,
            kicked_at: None,
        };
        store.import_im_account(a, &buyer).await.unwrap();
        buyer.nick = "张三丰".into();
        store.import_im_account(a, &buyer).await.unwrap();
        assert_eq!(
            store
                .get_im_account(a, "buyer_1")
                .await
                .unwrap()
                .unwrap()
                .nick,
            "张三丰"
        );
        assert!(
            store.get_im_account(b, "buyer_1").await.unwrap().is_none(),
            "{}",
            db.name
        );
        assert!(!store.kick_im_account(b, "buyer_1", T0).await.unwrap());
        assert!(store.kick_im_account(a, "buyer_1", T0 + 5).await.unwrap());
        assert_eq!(
            store
                .get_im_account(a, "buyer_1")
                .await
                .unwrap()
                .unwrap()
                .kicked_at,
            Some(T0 + 5)
        );
        assert!(!store.delete_im_account(b, "buyer_1").await.unwrap());
        assert!(store.delete_im_account(a, "buyer_1").await.unwrap());
        assert!(!store.delete_im_account(a, "buyer_1").await.unwrap());
    }
}

fn msg(
    from: &str,
    to: &str,
    msg_seq: i64,
    random: i64,
    time: i64,
    text: &str,
    at: i64,
) -> NewMessage {
    let body = format!("[{{\"MsgType\":\"TIMTextElem\",\"MsgContent\":{{\"Text\":\"{text}\"}}}}]");
    NewMessage {
        from_account: from.into(),
        to_account: to.into(),
        msg_seq,
        msg_random: random,
        msg_time: time,
        content_crc: text
            .bytes()
            .fold(7i64, |h, b| h.wrapping_mul(31).wrapping_add(b as i64))
            & 0xffff_ffff,
        body,
        cloud_custom_data: String::new(),
        text: text.into(),
        created_at: at,
        callback: None,
        sender_role: String::new(),
        agent_id: None,
    }
}

#[tokio::test]
async fn messages_get_gap_free_sequences_per_chat_even_when_sent_at_once() {
    for db in databases().await {
        let store = db.store().await;
        let t = with_tenant(&store, "acme", 5).await;
        let tasks: Vec<_> = (0..20)
            .map(|i| {
                let store = store.clone();
                // Both directions belong to the same chat.
                let (from, to) = if i % 2 == 0 {
                    ("buyer_1", "@cs")
                } else {
                    ("@cs", "buyer_1")
                };
                let m = msg(from, to, i, 1000 + i, 1_700_000_000, &format!("m{i}"), T0);
                tokio::spawn(async move { store.append_message(t, m, T0 - 120_000).await.unwrap() })
            })
            .collect();
        let mut seqs = Vec::new();
        for task in tasks {
            let appended = task.await.unwrap();
            assert!(!appended.duplicate);
            seqs.push(appended.message.seq);
        }
        seqs.sort();
        assert_eq!(seqs, (1..=20).collect::<Vec<_>>(), "{}", db.name);
        let other = store
            .append_message(t, msg("buyer_2", "@cs", 1, 1, 1_700_000_000, "x", T0), T0)
            .await
            .unwrap();
        assert_eq!(other.message.seq, 1, "another chat counts on its own");
        assert_ne!(other.message.chat_id, seqs.len() as i64 + 999);
    }
}

/// Appends are written in batches (group commit): many at once across chats, with resends
/// racing their originals and a message that cannot be stored among them.
#[tokio::test]
async fn appends_written_together_keep_order_duplicates_and_failures_apart() {
    for db in databases().await {
        let store = db.store().await;
        let t = with_tenant(&store, "acme", 5).await;
        let mut tasks = Vec::new();
        for i in 0..300i64 {
            let store = store.clone();
            let buyer = format!("buyer_{}", i % 10);
            // Every third message is sent twice at once, as a client resending too early does.
            let copies = if i % 3 == 0 { 2 } else { 1 };
            for _ in 0..copies {
                let (store, buyer) = (store.clone(), buyer.clone());
                let m = msg(&buyer, "@cs", 0, i, 1_700_000_000, &format!("m{i}"), T0);
                tasks.push(tokio::spawn(async move {
                    (i, store.append_message(t, m, T0 - 120_000).await)
                }));
            }
            if i % 50 == 0 {
                // A tenant that does not exist: refused by its foreign key, alone.
                let m = msg(&buyer, "@cs", 0, i, 1_700_000_000, "lost", T0);
                let store = store.clone();
                tasks.push(tokio::spawn(async move {
                    (-1, store.append_message(TenantId(999_999), m, T0).await)
                }));
            }
        }
        let mut by_message: std::collections::HashMap<i64, Vec<Appended>> = Default::default();
        for task in tasks {
            let (i, result) = task.await.unwrap();
            if i < 0 {
                assert!(result.is_err(), "{}: an unknown tenant is refused", db.name);
            } else {
                by_message.entry(i).or_default().push(result.unwrap());
            }
        }
        assert_eq!(by_message.len(), 300, "{}", db.name);
        let mut seqs: std::collections::HashMap<i64, Vec<i64>> = Default::default();
        for (i, results) in &by_message {
            let stored: Vec<_> = results.iter().filter(|a| !a.duplicate).collect();
            assert_eq!(stored.len(), 1, "{}: message {i} stored once", db.name);
            for a in results {
                assert_eq!(
                    a.message, stored[0].message,
                    "{}: a resend is answered as its original",
                    db.name
                );
            }
            seqs.entry(stored[0].message.chat_id)
                .or_default()
                .push(stored[0].message.seq);
        }
        assert_eq!(seqs.len(), 10, "{}", db.name);
        for (chat, mut list) in seqs {
            list.sort();
            assert_eq!(
                list,
                (1..=30).collect::<Vec<_>>(),
                "{}: chat {chat} has no gaps",
                db.name
            );
            let page = store.messages_after(t, chat, 0, 100).await.unwrap();
            assert_eq!(
                page.len(),
                30,
                "{}: what was acknowledged is stored",
                db.name
            );
        }
    }
}

#[tokio::test]
async fn a_repeated_message_within_the_window_is_stored_once() {
    for db in databases().await {
        let store = db.store().await;
        let t = with_tenant(&store, "acme", 5).await;
        let first = store
            .append_message(
                t,
                msg("buyer_1", "@cs", 7, 42, 1_700_000_000, "hello", T0),
                T0 - 120_000,
            )
            .await
            .unwrap();
        let again = store
            .append_message(
                t,
                msg("buyer_1", "@cs", 7, 42, 1_700_000_005, "hello", T0 + 5_000),
                T0 + 5_000 - 120_000,
            )
            .await
            .unwrap();
        assert!(again.duplicate, "{}", db.name);
        assert_eq!(again.message, first.message, "answered as the original");
        // Another content, sender or random is a new message.
        assert!(
            !store
                .append_message(
                    t,
                    msg("buyer_1", "@cs", 7, 42, 1_700_000_005, "other", T0),
                    T0
                )
                .await
                .unwrap()
                .duplicate
        );
        assert!(
            !store
                .append_message(
                    t,
                    msg("@cs", "buyer_1", 7, 42, 1_700_000_005, "hello", T0),
                    T0
                )
                .await
                .unwrap()
                .duplicate
        );
        // After the window the same message is stored again.
        let later = T0 + 121_000;
        let late = store
            .append_message(
                t,
                msg("buyer_1", "@cs", 7, 42, 1_700_000_121, "hello", later),
                later - 120_000,
            )
            .await
            .unwrap();
        assert!(!late.duplicate, "{}", db.name);
        assert_eq!(late.message.seq, 4);
    }
}

/// The newest `limit` messages of buyer_1's chat with @cs in `[min_time, max_time]`.
fn window(min_time: i64, max_time: i64, limit: i64) -> RoamQuery<'static> {
    RoamQuery {
        a: "buyer_1",
        b: "@cs",
        min_time,
        max_time,
        before: None,
        limit,
    }
}

#[tokio::test]
async fn roaming_history_pages_backwards_through_same_second_messages() {
    for db in databases().await {
        let store = db.store().await;
        let t = with_tenant(&store, "acme", 5).await;
        // Seven messages, several in the same second.
        let times = [100, 100, 100, 101, 102, 102, 103];
        for (i, time) in times.iter().enumerate() {
            let m = msg(
                "buyer_1",
                "@cs",
                i as i64,
                i as i64,
                *time,
                &format!("m{i}"),
                T0,
            );
            store.append_message(t, m, T0).await.unwrap();
        }
        let mut seen = Vec::new();
        let mut cursor = None;
        loop {
            let page = store
                .roam_messages(
                    t,
                    kefu_store::RoamQuery {
                        a: "@cs",
                        b: "buyer_1",
                        min_time: 100,
                        max_time: 103,
                        before: cursor,
                        limit: 3,
                    },
                )
                .await
                .unwrap();
            if page.is_empty() {
                break;
            }
            seen.extend(page.iter().map(|m| m.seq));
            let last = page.last().unwrap();
            cursor = Some(RoamCursor {
                msg_time: last.msg_time,
                msg_seq: last.msg_seq,
                seq: last.seq,
            });
        }
        assert_eq!(
            seen,
            [7, 6, 5, 4, 3, 2, 1],
            "{}: newest first, each once",
            db.name
        );
        let between = store.roam_messages(t, window(101, 102, 10)).await.unwrap();
        assert_eq!(
            between.iter().map(|m| m.msg_time).collect::<Vec<_>>(),
            [102, 102, 101]
        );
        let b = with_tenant(&store, "bolt", 5).await;
        assert!(
            store
                .roam_messages(b, window(0, i64::MAX, 10))
                .await
                .unwrap()
                .is_empty()
        );
    }
}

#[tokio::test]
async fn a_history_page_gives_back_every_field_as_stored() {
    for db in databases().await {
        let store = db.store().await;
        let t = with_tenant(&store, "acme", 5).await;
        // Quotes, backslashes, control characters, CJK and an emoji, in the body and in the
        // custom data, as agents and buyers send them.
        let mut agent = msg("@cs", "buyer_1", 4_294_967_295, 7, 100, "", T0);
        agent.body =
            r#"[{"MsgType":"TIMTextElem","MsgContent":{"Text":"说 \"好\" \\ 行\n\t😀"}}]"#.into();
        agent.cloud_custom_data = "{\"k\":\"值\\n\"}\u{1}".into();
        agent.sender_role = "agent".into();
        agent.agent_id = Some(AccountId(41));
        let buyer = msg("buyer_1", "@cs", 0, 8, 101, "plain", T0 + 1);
        let mut stored = Vec::new();
        for m in [agent, buyer] {
            stored.push(store.append_message(t, m, T0).await.unwrap().message);
        }
        let (chat, page) = store.roam_page(t, window(0, i64::MAX, 10)).await.unwrap();
        stored.reverse();
        assert_eq!(page, stored, "{}: newest first, every field", db.name);
        assert_eq!(chat.map(|c| c.last_seq), Some(2), "{}", db.name);
        let none = store.roam_page(t, window(0, 99, 10)).await.unwrap();
        assert!(none.0.is_some() && none.1.is_empty(), "{}", db.name);
    }
}

#[tokio::test]
async fn a_recall_marks_the_message_once() {
    for db in databases().await {
        let store = db.store().await;
        let t = with_tenant(&store, "acme", 5).await;
        let m = store
            .append_message(t, msg("buyer_1", "@cs", 5, 6, 7, "oops", T0), T0)
            .await
            .unwrap()
            .message;
        assert_eq!(m.msg_key, "5_6_7");
        let b = with_tenant(&store, "bolt", 5).await;
        assert_eq!(
            store
                .recall_message(b, "buyer_1", "@cs", "5_6_7")
                .await
                .unwrap(),
            Recall::NotFound,
            "{}",
            db.name
        );
        assert_eq!(
            store
                .recall_message(t, "@cs", "buyer_1", "5_6_7")
                .await
                .unwrap(),
            Recall::Recalled
        );
        assert_eq!(
            store
                .recall_message(t, "buyer_1", "@cs", "5_6_7")
                .await
                .unwrap(),
            Recall::AlreadyRecalled
        );
        assert_eq!(
            store
                .recall_message(t, "buyer_1", "@cs", "1_2_3")
                .await
                .unwrap(),
            Recall::NotFound
        );
        let kept = store
            .find_message_by_key(t, "buyer_1", "@cs", "5_6_7")
            .await
            .unwrap()
            .unwrap();
        assert_eq!(
            (kept.flag_bits, kept.body.contains("oops")),
            (FLAG_RECALLED, true),
            "marked, not deleted"
        );
    }
}

#[tokio::test]
async fn message_text_is_searchable_in_chinese_and_english() {
    for db in databases().await {
        let store = db.store().await;
        let t = with_tenant(&store, "acme", 5).await;
        let b = with_tenant(&store, "bolt", 5).await;
        let texts = [
            "我想申请退款，订单号 12345",
            "Where is my ORDER?",
            "退货地址是什么",
            "100% cotton_shirt \"XL\"",
            "你好",
        ];
        for (i, text) in texts.iter().enumerate() {
            store
                .append_message(
                    t,
                    msg(
                        "buyer_1",
                        "@cs",
                        i as i64,
                        i as i64,
                        100 + i as i64,
                        text,
                        T0,
                    ),
                    T0,
                )
                .await
                .unwrap();
        }
        store
            .append_message(b, msg("buyer_9", "@cs", 1, 1, 100, "申请退款", T0), T0)
            .await
            .unwrap();

        let found = |q: &'static str| {
            let store = store.clone();
            async move {
                let found = search_text(&store, t, q).await;
                found.into_iter().map(|m| m.seq).collect::<Vec<_>>()
            }
        };
        assert_eq!(
            found("申请退款").await,
            [1],
            "{}: four Chinese characters",
            db.name
        );
        assert_eq!(found("退款").await, [1], "{}: two characters scan", db.name);
        assert_eq!(found("退").await, [3, 1], "newest first");
        assert_eq!(found("order").await, [2], "{}: case-insensitive", db.name);
        assert_eq!(found("12345").await, [1]);
        assert_eq!(found("100%").await, [4], "{}: % is literal", db.name);
        assert_eq!(found("n_s").await, [4], "_ is literal");
        assert!(found("%").await == [4], "a lone % matches only itself");
        assert_eq!(
            found("\"XL\"").await,
            [4],
            "{}: quotes are literal",
            db.name
        );
        assert_eq!(
            found("AND OR NOT").await,
            Vec::<i64>::new(),
            "no query syntax"
        );
        assert_eq!(found("  ").await, Vec::<i64>::new());
        assert_eq!(search_text(&store, b, "退款").await.len(), 1, "per tenant");
        assert_eq!(
            store
                .search_messages(t, &kefu_store::MessageSearch::text("退", 1))
                .await
                .unwrap()
                .len(),
            1,
            "limit"
        );
    }
}

#[tokio::test]
async fn search_finds_what_an_earlier_run_stored_even_with_its_index_lost() {
    for db in databases().await {
        let texts = ["退款单 order 777", "我的退款单到账了吗", "hello there"];
        let t = {
            let store = db.store().await;
            let t = with_tenant(&store, "acme", 5).await;
            for (i, text) in texts.iter().enumerate() {
                let m = msg("buyer_1", "@cs", i as i64, i as i64, 100, text, T0);
                store.append_message(t, m, T0).await.unwrap();
            }
            t
        };
        // The index is derived data: without it (deleted while Kefu was stopped), the next
        // run rebuilds it from the messages. PostgreSQL's lives in the database itself.
        if db.name == "sqlite" {
            let dir = db.url.trim_start_matches("sqlite://");
            let dir = std::path::Path::new(dir).parent().unwrap();
            let mut removed = 0;
            for entry in std::fs::read_dir(dir).unwrap() {
                let path = entry.unwrap().path();
                if path.to_string_lossy().contains("kefu-search.db") {
                    std::fs::remove_file(&path).unwrap();
                    removed += 1;
                }
            }
            assert!(removed > 0, "the search index is a file of its own");
        }
        let store = db.store().await;
        let found = search_text(&store, t, "退款单").await;
        let got: Vec<&str> = found.iter().map(|m| m.body.as_str()).collect();
        assert_eq!(got.len(), 2, "{}: {got:?}", db.name);
        assert!(got.iter().all(|b| b.contains("退款单")), "{}", db.name);
        // And what this run stores is found at once.
        let m = msg("buyer_2", "@cs", 9, 9, 100, "ORDER 777 退款单", T0);
        store.append_message(t, m, T0).await.unwrap();
        let found = search_text(&store, t, "order 777").await;
        assert_eq!(found.len(), 2, "{}", db.name);
    }
}

#[tokio::test]
async fn search_after_restoring_an_older_sqlite_database_finds_the_new_messages() {
    use sqlx::Connection;
    let db = kefu_store::testing::TestDb::sqlite();
    let file = std::path::PathBuf::from(db.url.trim_start_matches("sqlite://"));
    let backup = file.with_file_name("backup.db");
    let store = db.store().await;
    let t = with_tenant(&store, "acme", 5).await;
    let say = |n: i64, text: &'static str| msg("buyer_1", "@cs", n, n, 100, text, T0);
    store
        .append_message(t, say(1, "退款单 one"), T0)
        .await
        .unwrap();
    // The backup: a consistent copy of the database as it is now.
    sqlx::query("vacuum into $1")
        .bind(backup.to_string_lossy().into_owned())
        .execute(&mut sqlx::SqliteConnection::connect(&db.url).await.unwrap())
        .await
        .unwrap();
    store
        .append_message(t, say(2, "退款单 two"), T0)
        .await
        .unwrap();
    assert_eq!(search_text(&store, t, "退款单").await.len(), 2);
    drop(store);
    // Restored: the second message is gone, and the next one stored takes its id.
    for suffix in ["-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{}{suffix}", file.display()));
    }
    std::fs::rename(&backup, &file).unwrap();
    let store = db.store().await;
    store
        .append_message(t, say(3, "发票抬头 three"), T0)
        .await
        .unwrap();
    let found = search_text(&store, t, "发票抬头").await;
    assert_eq!(
        found.len(),
        1,
        "the new message, which took the lost one's id"
    );
    assert!(found[0].body.contains("three"));
    let found = search_text(&store, t, "退款单").await;
    assert_eq!(found.len(), 1, "only the message the backup held");
    assert!(found[0].body.contains("one"));
}

#[tokio::test]
async fn message_search_filters_by_period_sender_account_and_group() {
    for db in databases().await {
        let store = db.store().await;
        let t = with_tenant(&store, "acme", 5).await;
        let pre = store.create_skill_group(t, "售前", T0).await.unwrap();
        let post = store.create_skill_group(t, "售后", T0).await.unwrap();
        let (c1, _) = store
            .open_conversation(t, "buyer_1", "@cs", "im", T0)
            .await
            .unwrap();
        store.enqueue(t, c1.id, pre.id, "system", T0).await.unwrap();
        let (c2, _) = store
            .open_conversation(t, "buyer_2", "@cs", "im", T0)
            .await
            .unwrap();
        store
            .enqueue(t, c2.id, post.id, "system", T0)
            .await
            .unwrap();
        let owner = store.find_login(Some(t), "owner").await.unwrap().unwrap();
        // (from, to, role, text, at)
        let lines = [
            ("buyer_1", "@cs", "", "在吗 退款", T0 + 1),
            ("@cs", "buyer_1", "robot", "您好，我是机器人", T0 + 2),
            ("@cs", "buyer_1", "agent", "您好 退款已受理", T0 + 3),
            ("buyer_2", "@cs", "", "发票 退款", T0 + 4),
        ];
        for (i, (from, to, role, text, at)) in lines.into_iter().enumerate() {
            let mut m = msg(from, to, i as i64, i as i64, 100 + i as i64, text, at);
            m.sender_role = role.into();
            if role == "agent" {
                m.agent_id = Some(owner.id);
            }
            store.append_message(t, m, at).await.unwrap();
        }
        let texts = |s: kefu_store::MessageSearch| {
            let store = store.clone();
            async move {
                store
                    .search_messages(t, &kefu_store::MessageSearch { limit: 10, ..s })
                    .await
                    .unwrap()
                    .into_iter()
                    .map(|m| {
                        let body: serde_json::Value = serde_json::from_str(&m.body).unwrap();
                        body[0]["MsgContent"]["Text"].as_str().unwrap().to_string()
                    })
                    .collect::<Vec<_>>()
            }
        };
        let all = kefu_store::MessageSearch::default;
        assert_eq!(
            texts(kefu_store::MessageSearch {
                role: Some("buyer".into()),
                ..all()
            })
            .await,
            ["发票 退款", "在吗 退款"],
            "{}: buyers' messages, newest first",
            db.name
        );
        assert_eq!(
            texts(kefu_store::MessageSearch {
                role: Some("robot".into()),
                ..all()
            })
            .await,
            ["您好，我是机器人"]
        );
        assert_eq!(
            texts(kefu_store::MessageSearch {
                agent: Some(owner.id),
                ..all()
            })
            .await,
            ["您好 退款已受理"]
        );
        assert_eq!(
            texts(kefu_store::MessageSearch {
                text: "退款".into(),
                skill_group: Some(pre.id),
                ..all()
            })
            .await,
            ["您好 退款已受理", "在吗 退款"],
            "{}: text within one group's conversations",
            db.name
        );
        assert_eq!(
            texts(kefu_store::MessageSearch {
                account: Some("buyer_2".into()),
                ..all()
            })
            .await,
            ["发票 退款"]
        );
        assert_eq!(
            texts(kefu_store::MessageSearch {
                from: Some(T0 + 2),
                to: Some(T0 + 4),
                ..all()
            })
            .await,
            ["您好 退款已受理", "您好，我是机器人"],
            "{}: the period's end is exclusive",
            db.name
        );
        let newest = search_text(&store, t, "退款已受理").await;
        assert_eq!(
            texts(kefu_store::MessageSearch {
                text: "退款".into(),
                before_id: Some(newest[0].id),
                ..all()
            })
            .await,
            ["在吗 退款"],
            "{}: the next page",
            db.name
        );
        assert!(
            texts(all()).await.is_empty(),
            "nothing asked, nothing found"
        );
    }
}

#[tokio::test]
async fn a_party_lists_its_chats_and_reads_on_from_a_sequence() {
    for db in databases().await {
        let store = db.store().await;
        let t = with_tenant(&store, "acme", 5).await;
        for i in 0..5 {
            store
                .append_message(
                    t,
                    msg("buyer_1", "@cs", i, i, 100, &format!("m{i}"), T0 + i),
                    T0,
                )
                .await
                .unwrap();
        }
        let other = store
            .append_message(t, msg("buyer_2", "@cs", 1, 1, 100, "x", T0 + 10), T0)
            .await
            .unwrap()
            .message;
        let chats = store.chats_of(t, "@cs", 10).await.unwrap();
        assert_eq!(chats.len(), 2, "{}", db.name);
        assert_eq!(chats[0].id, other.chat_id, "most recent first");
        let mine = store.chats_of(t, "buyer_1", 10).await.unwrap();
        assert_eq!(
            (mine.len(), mine[0].last_seq, mine[0].peer_of("buyer_1")),
            (1, 5, "@cs")
        );
        let chat = store.get_chat(t, mine[0].id).await.unwrap().unwrap();
        assert!(chat.has_party("buyer_1") && !chat.has_party("buyer_2"));
        let b = with_tenant(&store, "bolt", 5).await;
        assert!(
            store.get_chat(b, chat.id).await.unwrap().is_none(),
            "{}",
            db.name
        );
        let after: Vec<i64> = store
            .messages_after(t, chat.id, 2, 2)
            .await
            .unwrap()
            .iter()
            .map(|m| m.seq)
            .collect();
        assert_eq!(after, [3, 4]);
        assert!(
            store
                .messages_after(b, chat.id, 0, 10)
                .await
                .unwrap()
                .is_empty()
        );
    }
}

#[tokio::test]
async fn callbacks_wait_in_an_outbox_written_with_their_message() {
    for db in databases().await {
        let store = db.store().await;
        let t = with_tenant(&store, "acme", 5).await;
        let b = with_tenant(&store, "bolt", 5).await;
        store
            .set_im_callback(t, "https://erp.acme.cn/im", "tok", T0)
            .await
            .unwrap();
        let app = store.get_im_app(t).await.unwrap().unwrap();
        assert_eq!(
            (app.callback_url.as_str(), app.callback_token.as_str()),
            ("https://erp.acme.cn/im", "tok")
        );

        let callback = NewCallback {
            command: "C2C.CallbackAfterSendMsg".into(),
            body: "{}".into(),
        };
        let mut m = msg("buyer_1", "@cs", 1, 1, 100, "hi", T0);
        m.callback = Some(callback.clone());
        store
            .append_message(t, m.clone(), T0 - 120_000)
            .await
            .unwrap();
        let dup = store.append_message(t, m, T0 - 120_000).await.unwrap();
        assert!(dup.duplicate);
        store
            .queue_callback(
                b,
                NewCallback {
                    command: "State.StateChange".into(),
                    body: "{}".into(),
                },
                T0,
            )
            .await
            .unwrap();

        let due = store.due_callbacks(T0, 10).await.unwrap();
        assert_eq!(
            due.len(),
            2,
            "{}: one for the message, none for its duplicate, one for bolt",
            db.name
        );
        let mine = due.iter().find(|e| e.tenant_id == t).unwrap().clone();
        assert_eq!(
            (mine.command.as_str(), mine.status.as_str(), mine.attempts),
            ("C2C.CallbackAfterSendMsg", "pending", 0)
        );

        assert!(
            store
                .claim_callback(mine.id, mine.next_attempt_at, T0 + 30_000)
                .await
                .unwrap()
        );
        assert!(
            !store
                .claim_callback(mine.id, mine.next_attempt_at, T0 + 30_000)
                .await
                .unwrap(),
            "{}: claimed once",
            db.name
        );
        assert!(
            store
                .due_callbacks(T0 + 1, 10)
                .await
                .unwrap()
                .iter()
                .all(|e| e.id != mine.id),
            "leased"
        );

        let retry = CallbackOutcome::Retry {
            at: T0 + 2_000,
            error: "HTTP 502".into(),
        };
        store.finish_callback(mine.id, retry, T0).await.unwrap();
        let again = store
            .due_callbacks(T0 + 2_000, 10)
            .await
            .unwrap()
            .into_iter()
            .find(|e| e.id == mine.id)
            .unwrap();
        assert_eq!((again.attempts, again.last_error.as_str()), (1, "HTTP 502"));
        store
            .finish_callback(
                mine.id,
                CallbackOutcome::Failed {
                    error: "gave up".into(),
                },
                T0 + 3_000,
            )
            .await
            .unwrap();
        let failed = store.list_callbacks(t, Some("failed"), 10).await.unwrap();
        assert_eq!(failed.len(), 1, "{}", db.name);
        assert!(
            store
                .list_callbacks(b, Some("failed"), 10)
                .await
                .unwrap()
                .is_empty(),
            "per tenant"
        );
        let other = store.list_callbacks(b, None, 10).await.unwrap()[0].clone();
        store
            .finish_callback(other.id, CallbackOutcome::Delivered, T0)
            .await
            .unwrap();
        assert_eq!(
            store
                .list_callbacks(b, Some("done"), 10)
                .await
                .unwrap()
                .len(),
            1
        );
        assert!(store.due_callbacks(i64::MAX, 10).await.unwrap().is_empty());
    }
}

#[tokio::test]
async fn read_positions_only_move_forward_and_stop_at_the_last_message() {
    for db in databases().await {
        let store = db.store().await;
        let t = with_tenant(&store, "acme", 5).await;
        for i in 0..3 {
            store
                .append_message(t, msg("buyer_1", "@cs", i, i, 100, "m", T0), T0)
                .await
                .unwrap();
        }
        let chat = store.chats_of(t, "buyer_1", 1).await.unwrap()[0].clone();
        assert_eq!(
            store.mark_read(t, chat.id, "@cs", 2).await.unwrap(),
            2,
            "{}",
            db.name
        );
        assert_eq!(
            store.mark_read(t, chat.id, "@cs", 1).await.unwrap(),
            2,
            "never backwards"
        );
        assert_eq!(
            store.mark_read(t, chat.id, "@cs", 99).await.unwrap(),
            3,
            "{}: capped at the last message",
            db.name
        );
        let chat = store.get_chat(t, chat.id).await.unwrap().unwrap();
        assert_eq!(
            (chat.read_seq_of("@cs"), chat.read_seq_of("buyer_1")),
            (3, 0)
        );
        assert!(matches!(
            store.mark_read(t, chat.id, "stranger", 1).await,
            Err(StoreError::NotFound)
        ));
        let b = with_tenant(&store, "bolt", 5).await;
        assert!(matches!(
            store.mark_read(b, chat.id, "@cs", 1).await,
            Err(StoreError::NotFound)
        ));
    }
}
