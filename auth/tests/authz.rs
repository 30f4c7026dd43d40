//! Authorization across nodes: two authorizers over one store stand for two replicas. A role
//! change written through one is seen by the other, through the bus or, failing that, by the
//! reload a denial triggers.

use futures::StreamExt;
use kefu_auth::Authorizer;
use kefu_auth::authz::{action, object};
use kefu_bus::{Bus, InProcessBus};
use kefu_domain::event::{Event, topic};
use kefu_domain::{Clock, ManualClock, Role};
use kefu_store::testing::databases;
use kefu_store::{AccountPatch, NewAccount, NewTenant};
use std::sync::Arc;
use std::time::Duration;

fn new_account(username: &str, role: Role) -> NewAccount {
    NewAccount {
        username: username.into(),
        display_name: username.into(),
        real_name: String::new(),
        phone: String::new(),
        email: String::new(),
        role,
        password_hash: String::new(),
        must_change_password: false,
        skill_group_ids: vec![],
    }
}

#[tokio::test]
async fn a_role_change_on_one_node_reaches_the_other() {
    for db in databases().await {
        let store = db.store().await;
        // The clock stands still, so after the first denial-triggered reload only the bus
        // can bring node B up to date.
        let clock: Arc<dyn Clock> = Arc::new(ManualClock::default());
        let tenant = NewTenant {
            code: "acme".into(),
            name: "Acme".into(),
            max_accounts: 5,
            max_online: 2,
            im_secret: "k".repeat(64),
        };
        let (t, owner) = store
            .create_tenant(tenant, new_account("boss", Role::SuperAdmin), clock.now())
            .await
            .unwrap();

        let node_a = Authorizer::start(store.clone(), clock.clone())
            .await
            .unwrap();
        let node_b = Authorizer::start(store.clone(), clock.clone())
            .await
            .unwrap();
        let bus = InProcessBus::new();
        let _follow = node_b.follow(&bus).await.unwrap();

        assert!(node_a.allows(&owner, object::ACCOUNTS, action::WRITE).await);
        assert!(
            !node_a.allows(&owner, object::TENANTS, action::READ).await,
            "{}: no platform rights",
            db.name
        );

        // Written after both nodes loaded their policy.
        let li = store
            .create_account(t.id, new_account("li", Role::Agent), clock.now())
            .await
            .unwrap();
        assert!(
            node_b.allows(&li, object::SKILL_GROUPS, action::READ).await,
            "a denial reloads once"
        );
        assert!(
            !node_b.allows(&li, object::ACCOUNTS, action::READ).await,
            "{}",
            db.name
        );

        // Promoted on node A and announced on the bus: node B follows without a denial.
        let patch = AccountPatch {
            role: Some(Role::Admin),
            ..Default::default()
        };
        let li = store
            .update_account(t.id, li.id, patch, clock.now())
            .await
            .unwrap();
        let mut heard = bus.subscribe(topic::POLICY).await.unwrap();
        bus.publish(topic::POLICY, &Event::PolicyChanged)
            .await
            .unwrap();
        tokio::time::timeout(Duration::from_secs(5), heard.next())
            .await
            .unwrap();
        let mut allowed = false;
        for _ in 0..50 {
            // Node B reloads in its own task; give it a moment to finish.
            if node_b.allows(&li, object::ACCOUNTS, action::WRITE).await {
                allowed = true;
                break;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        assert!(allowed, "{}: node B saw the promotion", db.name);
    }
}
