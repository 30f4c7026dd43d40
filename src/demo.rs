//! The `demo` tenant for `kefu serve --demo`: a super admin, two agents and two skill
//! groups with their consultation categories, and message tags; the FAQ, quick replies, a
//! published service flow, a time plan and sensitive words, so that a new user has
//! something to log in to and a buyer gets real answers. Running it again changes nothing.

use crate::config::Config;
use kefu_domain::moderation::{Word, WordAction};
use kefu_domain::schedule::{Clock, Holiday, Hours, Schedule, WorkDay};
use kefu_domain::{Role, SkillGroupId};
use kefu_domain::{TenantId, flow};
use kefu_store::{
    KnowledgeKind, NewAccount, NewKnowledge, NewTenant, NewTreeNode, Store, StoreError, Tree,
};
use secrecy::ExposeSecret;
use std::sync::Arc;

pub const TENANT: &str = "demo";

/// How this server reaches itself: `KEFU_PUBLIC_URL`, or the listen address (a wildcard
/// address read as loopback).
pub fn self_url(config: &Config) -> String {
    if !config.public_url.trim().is_empty() {
        return config.public_url.trim_end_matches('/').to_string();
    }
    let listen = config
        .listen
        .replace("0.0.0.0:", "127.0.0.1:")
        .replace("[::]:", "127.0.0.1:");
    format!("http://{listen}")
}

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
    seed_bot(store, tenant.id, pre.id, post.id, now)
        .await
        .map_err(fail)?;
    // The sample order provider this server runs at /demo/orders (see `serve`).
    let provider = format!("{}/demo/orders", self_url(config));
    store
        .save_order_provider(
            tenant.id,
            Some((&provider, &kefu_domain::secret::im_secret())),
            now,
        )
        .await
        .map_err(fail)?;
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

/// The demo's service account, bound to the demo flow.
const SERVICE_ACCOUNT: &str = "@customer_service_account";

/// What answers demo buyers before a human: the FAQ the bot uses, agents' quick replies, the
/// default flow (welcome → FAQ menu → "人工" or "RG" → 售前咨询), daily hours 08:00–22:00
/// with the National Day holiday, and a few sensitive words.
async fn seed_bot(
    store: &Arc<dyn Store>,
    tenant: TenantId,
    pre: SkillGroupId,
    post: SkillGroupId,
    now: i64,
) -> Result<(), StoreError> {
    let entry = |parent: Option<i64>, title: &str, answer: &str, keywords: &[&str]| NewKnowledge {
        parent_id: parent,
        title: title.into(),
        answer_kind: "text".into(),
        answer: answer.into(),
        keywords: keywords.iter().map(|k| k.to_string()).collect(),
        enabled: true,
        ..Default::default()
    };
    let faq = [
        (
            "发货时间",
            "现货商品在付款后 48 小时内发货，预售商品以商品页标注的时间为准。",
            &["发货", "几天发", "什么时候发"][..],
        ),
        (
            "运费怎么算？",
            "单笔订单满 99 元包邮；不满 99 元收取 8 元运费，偏远地区另计。",
            &["运费", "包邮", "邮费"][..],
        ),
        (
            "如何退货？",
            "签收后 7 天内，在“我的订单”中选择该订单，点击“申请售后”，填写原因即可；审核通过后按页面地址寄回。",
            &["退货", "退款", "七天无理由"][..],
        ),
        (
            "开具发票",
            "下单时选择“需要发票”并填写抬头；已下单的订单可在订单详情页申请补开电子发票。",
            &["发票", "开票", "抬头"][..],
        ),
        (
            "客服工作时间",
            "人工客服每天 08:00–22:00 在线，其余时间您可以留言，我们上班后第一时间回复。",
            &["几点", "上班", "工作时间", "在线时间"][..],
        ),
    ];
    for (title, answer, keywords) in faq {
        store
            .create_knowledge(
                tenant,
                KnowledgeKind::Faq,
                &entry(None, title, answer, keywords),
                now,
            )
            .await?;
    }
    let daily = store
        .create_knowledge(
            tenant,
            KnowledgeKind::Kb,
            &NewKnowledge {
                skill_group_ids: vec![pre, post],
                ..entry(None, "日常接待", "", &[])
            },
            now,
        )
        .await?;
    for (title, answer, keywords) in [
        (
            "开始接待",
            "您好，很高兴为您服务，请问有什么可以帮您？",
            &["开始", "问候"][..],
        ),
        (
            "稍等查询",
            "好的，正在为您查询，请稍等片刻。",
            &["稍等", "查询"][..],
        ),
        (
            "结束接待",
            "感谢您的咨询，祝您生活愉快！如有其他问题欢迎随时联系我们。",
            &["结束", "再见"][..],
        ),
    ] {
        store
            .create_knowledge(
                tenant,
                KnowledgeKind::Kb,
                &entry(Some(daily.id), title, answer, keywords),
                now,
            )
            .await?;
    }
    let after_sales = store
        .create_knowledge(
            tenant,
            KnowledgeKind::Kb,
            &NewKnowledge {
                skill_group_ids: vec![post],
                ..entry(None, "售后话术", "", &[])
            },
            now,
        )
        .await?;
    store
        .create_knowledge(
            tenant,
            KnowledgeKind::Kb,
            &NewKnowledge {
                is_new: true,
                ..entry(
                    Some(after_sales.id),
                    "退货地址",
                    "退货请寄往：上海市浦东新区演示路 88 号 Kefu 售后部（收），电话 021-00000000，请在包裹内附上订单号。",
                    &["地址", "寄回"],
                )
            },
            now,
        )
        .await?;
    let doc = flow::demo(pre.0).to_string();
    let f = store
        .save_flow(
            tenant,
            None,
            "默认服务流程",
            Some(SERVICE_ACCOUNT),
            &doc,
            now,
        )
        .await?;
    store
        .publish_flow(tenant, f.id, &doc, "system", now)
        .await?;
    let hours = vec![Hours::new(Clock::hm(8, 0), Clock::hm(22, 0))];
    let date = |s: &str| s.parse().expect("a valid date");
    let plan = Schedule {
        enabled: true,
        weekly: (1..=7)
            .map(|weekday| WorkDay {
                weekday,
                hours: hours.clone(),
            })
            .collect(),
        holidays: vec![Holiday {
            name: "国庆节".into(),
            from: date("2026-10-01"),
            to: date("2026-10-07"),
            reply:
                "国庆假期（10月1日—7日）人工客服暂停服务，请留言，我们将在 10 月 8 日起尽快回复您。"
                    .into(),
        }],
        ..Default::default()
    };
    store.save_schedule(tenant, &plan, now).await?;
    let word = |w: &str, action| Word {
        word: w.into(),
        action,
    };
    store
        .replace_sensitive_words(
            tenant,
            &[
                word("私下交易", WordAction::Block),
                word("加微信", WordAction::Block),
                word("傻瓜", WordAction::Mask),
                word("垃圾", WordAction::Mask),
            ],
            now,
        )
        .await
}

/// The demo shop's sample buyers and their nicknames.
pub const BUYERS: &[(&str, &str)] = &[
    ("buyer_zhang", "张先生"),
    ("buyer_li", "李女士"),
    ("buyer_wang", "王同学"),
];

#[derive(serde::Deserialize)]
pub struct LinkQuery {
    buyer: String,
}

/// `GET /demo/link?buyer=`: a chat link for one of the sample buyers, signed as a shop's
/// back end would sign it (docs/protocol.md, "Signed buyer links"), valid for an hour.
#[poem::handler]
pub async fn link(
    poem::web::Query(q): poem::web::Query<LinkQuery>,
    store: poem::web::Data<&std::sync::Arc<dyn kefu_store::Store>>,
    clock: poem::web::Data<&std::sync::Arc<dyn kefu_domain::Clock>>,
) -> poem::Response {
    let refuse = |status: poem::http::StatusCode, message: &str| {
        poem::Response::builder()
            .status(status)
            .content_type("application/json")
            .body(serde_json::json!({ "code": "bad_request", "message": message }).to_string())
    };
    let Some((buyer, nick)) = BUYERS.iter().find(|(b, _)| *b == q.buyer) else {
        return refuse(
            poem::http::StatusCode::BAD_REQUEST,
            "pick one of the demo buyers: buyer_zhang, buyer_li, buyer_wang",
        );
    };
    let app = match store.find_tenant_by_code(TENANT).await {
        Ok(Some(t)) => store.get_im_app(t.id).await.ok().flatten(),
        _ => None,
    };
    let Some(app) = app else {
        return refuse(
            poem::http::StatusCode::SERVICE_UNAVAILABLE,
            "the demo tenant is missing; start Kefu with --demo",
        );
    };
    let expires = clock.now() / 1000 + 3600;
    let sig = kefu_usersig::link_signature(&app.secret_key, app.sdk_app_id as u64, buyer, expires);
    let url = format!(
        "/chat/{TENANT}?buyer={buyer}&expires={expires}&sig={sig}&nick={}",
        url::form_urlencoded::byte_serialize(nick.as_bytes()).collect::<String>()
    );
    poem::Response::builder()
        .content_type("application/json")
        .body(serde_json::json!({ "url": url }).to_string())
}
