//! The demo's sample order provider, served by Kefu itself at `/demo/orders`: it checks
//! Kefu's signature, age and nonce exactly as a tenant's provider must, and serves a few
//! made-up orders per buyer, with product pictures and order pages to link to.

use crate::{
    Order, OrderItem, OrderPage, OrderQuery, REPLAY_WINDOW_SECONDS, SignatureError, verify,
};
use kefu_domain::Clock;
use poem::http::StatusCode;
use poem::web::{Data, Html, Path};
use poem::{Body, EndpointExt, IntoResponse, Request, Response, Route, get, handler, post};
use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};

/// Where the sample provider finds the secret it shares with Kefu (the demo tenant's).
pub type SecretLookup =
    Arc<dyn Fn() -> Pin<Box<dyn Future<Output = Option<String>> + Send>> + Send + Sync>;

/// Nonces seen within the replay window: a second use is a replay.
#[derive(Default)]
pub struct Nonces {
    seen: Mutex<HashMap<String, i64>>,
}

impl Nonces {
    /// Records `nonce` at `timestamp`; false when it was already used.
    pub fn first_use(&self, nonce: &str, timestamp: i64, now_seconds: i64) -> bool {
        let mut seen = self.seen.lock().expect("nonce lock");
        seen.retain(|_, at| (now_seconds - *at).abs() <= REPLAY_WINDOW_SECONDS);
        seen.insert(nonce.to_string(), timestamp).is_none()
    }
}

#[derive(Clone)]
struct Sample {
    secret: SecretLookup,
    clock: Arc<dyn Clock>,
    nonces: Arc<Nonces>,
    base: String,
}

/// The routes, to nest at `/demo`: `POST /orders`, `GET /orders/{no}`, `GET /products/{n}`.
/// `base`: this server's public address, for the links in orders.
pub fn routes(secret: SecretLookup, clock: Arc<dyn Clock>, base: &str) -> Route {
    let sample = Sample {
        secret,
        clock,
        nonces: Arc::new(Nonces::default()),
        base: base.trim_end_matches('/').to_string(),
    };
    Route::new()
        .at("/orders", post(orders.data(sample.clone())))
        .at("/orders/:no", get(order_page))
        .at("/products/:n", get(product_picture))
}

fn refuse(status: StatusCode, why: &str) -> Response {
    Response::builder()
        .status(status)
        .content_type("application/json")
        .body(serde_json::json!({ "error": why }).to_string())
}

#[handler]
async fn orders(req: &Request, body: Body, sample: Data<&Sample>) -> Response {
    let header = |name: &str| {
        req.headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string)
    };
    let (Some(ts), Some(nonce), Some(sig)) = (
        header("x-kefu-timestamp"),
        header("x-kefu-nonce"),
        header("x-kefu-signature"),
    ) else {
        return refuse(
            StatusCode::UNAUTHORIZED,
            &SignatureError::Missing.to_string(),
        );
    };
    let Ok(ts) = ts.parse::<i64>() else {
        return refuse(
            StatusCode::UNAUTHORIZED,
            &SignatureError::Missing.to_string(),
        );
    };
    let Ok(bytes) = body.into_bytes().await else {
        return refuse(StatusCode::BAD_REQUEST, "unreadable body");
    };
    let Some(secret) = (sample.secret)().await else {
        return refuse(StatusCode::SERVICE_UNAVAILABLE, "no secret is set up");
    };
    let now = sample.clock.now() / 1000;
    if let Err(e) = verify(&secret, ts, &nonce, &bytes, &sig, now) {
        return refuse(StatusCode::UNAUTHORIZED, &e.to_string());
    }
    if !sample.nonces.first_use(&nonce, ts, now) {
        return refuse(
            StatusCode::UNAUTHORIZED,
            &SignatureError::Replayed.to_string(),
        );
    }
    let Ok(q) = serde_json::from_slice::<OrderQuery>(&bytes) else {
        return refuse(
            StatusCode::BAD_REQUEST,
            "the body is not {buyer, cursor, limit}",
        );
    };
    let all = orders_of(&q.buyer, sample.clock.now(), &sample.base);
    let from: usize = q
        .cursor
        .as_deref()
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    let limit = q.limit.clamp(1, 50) as usize;
    let page: Vec<Order> = all.iter().skip(from).take(limit).cloned().collect();
    let next = (from + limit < all.len()).then(|| (from + limit).to_string());
    let body = OrderPage {
        orders: page,
        next_cursor: next,
    };
    Response::builder()
        .content_type("application/json")
        .body(serde_json::to_string(&body).expect("a page serialises"))
}

const PRODUCTS: &[(&str, &str, &str)] = &[
    ("纯棉圆领T恤", "59.00", "#e76f51"),
    ("无线蓝牙耳机", "199.00", "#2a9d8f"),
    ("不锈钢保温杯", "89.00", "#264653"),
    ("轻薄羽绒服", "399.00", "#e9c46a"),
    ("运动跑步鞋", "299.00", "#8ab17d"),
    ("有机绿茶礼盒", "128.00", "#6d597a"),
];
const STATUSES: &[&str] = &["待付款", "待发货", "已发货", "已完成", "退款中", "已完成"];

/// A stable number from the buyer id, so each buyer keeps the same orders.
fn seed(buyer: &str) -> u64 {
    buyer.bytes().fold(1469598103934665603u64, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(1099511628211)
    })
}

/// Between 3 and 14 orders, newest first.
fn orders_of(buyer: &str, now_ms: i64, base: &str) -> Vec<Order> {
    let s = seed(buyer);
    let count = 3 + (s % 12) as usize;
    (0..count)
        .map(|i| {
            let k = (s as usize / 7 + i * 5) % PRODUCTS.len();
            let (title, price, _) = PRODUCTS[k];
            let quantity = 1 + ((s >> (i % 16)) % 3) as i64;
            let mut items = vec![OrderItem {
                title: title.into(),
                image: format!("{base}/demo/products/{k}"),
                quantity,
                price: price.into(),
            }];
            if i % 3 == 1 {
                let j = (k + 1) % PRODUCTS.len();
                items.push(OrderItem {
                    title: PRODUCTS[j].0.into(),
                    image: format!("{base}/demo/products/{j}"),
                    quantity: 1,
                    price: PRODUCTS[j].1.into(),
                });
            }
            let cents: i64 = items
                .iter()
                .map(|it| {
                    let (y, f) = it.price.split_once('.').unwrap_or((&it.price, "0"));
                    (y.parse::<i64>().unwrap_or(0) * 100 + f.parse::<i64>().unwrap_or(0))
                        * it.quantity
                })
                .sum();
            let order_no = format!("DM{:06}{:02}", s % 1_000_000, i + 1);
            Order {
                detail_url: format!("{base}/demo/orders/{order_no}"),
                order_no,
                // Whole days before today (UTC) at a fixed hour: the same all day long.
                time: now_ms
                    - now_ms.rem_euclid(86_400_000)
                    - (i as i64 * 3 + (s % 3) as i64 + 1) * 86_400_000
                    + (2 + (s % 10) as i64) * 3_600_000,
                status: STATUSES[(i + (s % 2) as usize) % STATUSES.len()].into(),
                amount: format!("{}.{:02}", cents / 100, cents % 100),
                currency: "CNY".into(),
                items,
            }
        })
        .collect()
}

/// A sample order's page. The demo's orders are derived from the buyer, not stored, so the
/// page says what it stands for rather than repeating the order.
#[handler]
async fn order_page(Path(no): Path<String>) -> Response {
    let escaped = |s: &str| {
        s.replace('&', "&amp;")
            .replace('<', "&lt;")
            .replace('>', "&gt;")
            .replace('"', "&quot;")
    };
    if !(no.starts_with("DM") && no.len() == 10 && no[2..].bytes().all(|b| b.is_ascii_digit())) {
        return (
            StatusCode::NOT_FOUND,
            Html("<p>没有这个订单 / no such order</p>"),
        )
            .into_response();
    }
    Html(format!(
        "<!doctype html><html lang=\"zh-CN\"><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <title>订单 {no}</title>\
         <body style=\"font-family:system-ui,sans-serif;max-width:40rem;margin:2rem auto;padding:0 1rem\">\
         <h1>订单 {no}</h1><p>这是演示商城的示例订单页：真实的订单页由商家的系统提供，\
         订单查询接口返回的 <code>detail_url</code> 指向这里。</p>\
         <p>This is the demo shop's sample order page; a real shop's order provider links to its own.</p>\
         </body></html>",
        no = escaped(&no)
    ))
    .into_response()
}

/// A product picture: a coloured tile with the product's name, as SVG.
#[handler]
async fn product_picture(Path(n): Path<usize>) -> Response {
    let Some((title, _, color)) = PRODUCTS.get(n) else {
        return StatusCode::NOT_FOUND.into_response();
    };
    let svg = format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"240\" height=\"240\" viewBox=\"0 0 240 240\">\
         <rect width=\"240\" height=\"240\" rx=\"24\" fill=\"{color}\"/>\
         <text x=\"120\" y=\"130\" font-size=\"22\" text-anchor=\"middle\" fill=\"#fff\" \
         font-family=\"sans-serif\">{title}</text></svg>"
    );
    Response::builder()
        .content_type("image/svg+xml")
        .header("cache-control", "public, max-age=86400")
        .body(svg)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_buyer_keeps_the_same_orders_and_amounts_add_up() {
        let a = orders_of("buyer_1", 1_800_000_000_000, "http://x");
        assert_eq!(a, orders_of("buyer_1", 1_800_000_000_000, "http://x"));
        assert!((3..=14).contains(&a.len()));
        for o in &a {
            let sum: f64 = o
                .items
                .iter()
                .map(|i| i.price.parse::<f64>().unwrap() * i.quantity as f64)
                .sum();
            assert!(
                (sum - o.amount.parse::<f64>().unwrap()).abs() < 0.001,
                "{o:?}"
            );
            assert!(o.detail_url.ends_with(&o.order_no));
        }
        assert!(a.windows(2).all(|w| w[0].time > w[1].time), "newest first");
    }

    #[test]
    fn a_nonce_is_good_once_within_the_window() {
        let n = Nonces::default();
        assert!(n.first_use("a", 1000, 1000));
        assert!(!n.first_use("a", 1000, 1100));
        assert!(n.first_use("b", 1000, 1100));
    }
}
