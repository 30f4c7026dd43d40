//! The `demo` tenant for `kefu serve --demo`: a super admin, two agents and two skill
//! groups with their consultation categories, and message tags, so that a new user has
//! something to log in to. Running it again changes nothing.

use crate::config::Config;
use kefu_domain::{Role, SkillGroupId};
use kefu_store::{NewAccount, NewTenant, NewTreeNode, Store, StoreError, Tree};
use secrecy::ExposeSecret;
use std::sync::Arc;

pub const TENANT: &str = "demo";

pub async fn seed(store: &Arc<dyn Store>, config: &Config, now: i64) -> Result<(), String> {
    let fail = |e: StoreError| format!("seeding the demo tenant failed: {e}");
    if store
        .find_tenant_by_code(TENANT)
        .await
        .map_err(fail)?
        .is_some()
    {
        tracing::info!("demo tenant `{TENANT}` already exists; left as it is");
        return Ok(());
    }
    let (password, generated) = match &config.demo_password {
        Some(p) => (p.expose_secret().to_string(), false),
        None => (kefu_domain::password::generate(), true),
    };
    let hash = kefu_auth::password::hash(&password);
    // Demo accounts keep their password: the point is to look around at once.
    let account = |username: &str,
                   display: &str,
                   role: Role,
                   groups: Vec<kefu_domain::SkillGroupId>| NewAccount {
        username: username.into(),
        display_name: display.into(),
        real_name: String::new(),
        phone: String::new(),
        email: String::new(),
        role,
        password_hash: hash.clone(),
        must_change_password: false,
        skill_group_ids: groups,
    };
    let tenant = NewTenant {
        code: TENANT.into(),
        name: "演示供应商 Demo Supplier".into(),
        max_accounts: 2,
        max_online: 2,
        im_secret: kefu_domain::secret::im_secret(),
    };
    let (tenant, _) = store
        .create_tenant(
            tenant,
            account("admin", "管理员", Role::SuperAdmin, vec![]),
            now,
        )
        .await
        .map_err(fail)?;
    let pre = store
        .create_skill_group(tenant.id, "售前咨询", now)
        .await
        .map_err(fail)?;
    let post = store
        .create_skill_group(tenant.id, "售后服务", now)
        .await
        .map_err(fail)?;
    store
        .create_account(
            tenant.id,
            account("agent1", "客服小王", Role::Agent, vec![pre.id, post.id]),
            now,
        )
        .await
        .map_err(fail)?;
    store
        .create_account(
            tenant.id,
            account("agent2", "客服小李", Role::Agent, vec![post.id]),
            now,
        )
        .await
        .map_err(fail)?;
    // Consultation categories per group, and a few message tags, so the end and tag dialogs
    // show real choices.
    let categories: [(&str, SkillGroupId, &[&str]); 2] = [
        (
            "售前咨询",
            pre.id,
            &["商品咨询", "价格与优惠", "库存与发货时间"],
        ),
        (
            "售后服务",
            post.id,
            &["退货退款", "换货", "物流问题", "发票"],
        ),
    ];
    for (position, (name, group, children)) in categories.into_iter().enumerate() {
        let top = store
            .create_node(
                tenant.id,
                Tree::Categories,
                &NewTreeNode {
                    name: name.into(),
                    position: position as i64,
                    skill_group_ids: vec![group],
                    ..Default::default()
                },
                now,
            )
            .await
            .map_err(fail)?;
        for (i, child) in children.iter().enumerate() {
            let node = NewTreeNode {
                parent_id: Some(top.id),
                name: (*child).into(),
                position: i as i64,
                ..Default::default()
            };
            store
                .create_node(tenant.id, Tree::Categories, &node, now)
                .await
                .map_err(fail)?;
        }
    }
    for (i, tag) in ["投诉", "表扬", "催发货", "需回访"].iter().enumerate() {
        let node = NewTreeNode {
            name: (*tag).into(),
            position: i as i64,
            ..Default::default()
        };
        store
            .create_node(tenant.id, Tree::Tags, &node, now)
            .await
            .map_err(fail)?;
    }
    if generated {
        tracing::warn!(
            "created the demo tenant `{TENANT}`: accounts admin, agent1, agent2 with password `{password}` (shown once)"
        );
    } else {
        tracing::info!(
            "created the demo tenant `{TENANT}`: accounts admin, agent1, agent2 with the password from KEFU_DEMO_PASSWORD"
        );
    }
    Ok(())
}
