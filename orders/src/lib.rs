//! Order lookup (采购人订单): Kefu asks a tenant's order provider for a buyer's orders.
//!
//! The provider is the tenant's own HTTPS endpoint. Kefu POSTs `{"buyer", "cursor", "limit"}`
//! with three headers: `X-Kefu-Timestamp` (Unix seconds), `X-Kefu-Nonce` (random hex) and
//! `X-Kefu-Signature`, the hex HMAC-SHA256 with the shared secret of
//! `"{timestamp}\n{nonce}\n{body}"`. A provider accepts a request only within 5 minutes of
//! its timestamp and only once per nonce. Kefu waits at most 3 s, keeps each page for 60 s,
//! and turns every failure into an [`OrderError`] that says what happened, for the console's
//! retryable error state. `docs/orders.md` documents the schema for tenants.

use hmac::{Hmac, Mac};
use kefu_domain::{Clock, TenantId};
use serde::{Deserialize, Serialize};
use sha2::Sha256;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

pub mod sample;

/// How long a request stays acceptable after its timestamp, either way.
pub const REPLAY_WINDOW_SECONDS: i64 = 300;
/// How long Kefu waits for a provider.
pub const TIMEOUT: Duration = Duration::from_secs(3);
/// How long a page is reused.
pub const CACHE_MS: i64 = 60_000;
/// Orders per page Kefu asks for.
pub const PAGE_SIZE: u32 = 10;
/// The most a provider may answer, in bytes.
const MAX_BODY: usize = 1 << 20;

/// A tenant's provider: where to ask and the shared secret.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Provider {
    pub url: String,
    pub secret: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OrderItem {
    pub title: String,
    #[serde(default)]
    pub image: String,
    pub quantity: i64,
    /// A decimal string, e.g. `"59.90"`.
    #[serde(deserialize_with = "decimal")]
    pub price: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Order {
    pub order_no: String,
    /// Milliseconds since the epoch.
    pub time: i64,
    pub status: String,
    #[serde(deserialize_with = "decimal")]
    pub amount: String,
    #[serde(default = "cny")]
    pub currency: String,
    #[serde(default)]
    pub items: Vec<OrderItem>,
    pub detail_url: String,
}

fn cny() -> String {
    "CNY".into()
}

/// Amounts come as JSON numbers or strings; they are kept as the decimal string.
fn decimal<'de, D: serde::Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    let v = serde_json::Value::deserialize(d)?;
    let s = match v {
        serde_json::Value::Number(n) => n.to_string(),
        serde_json::Value::String(s) => s,
        other => {
            return Err(serde::de::Error::custom(format!(
                "an amount is a number or a decimal string, not {other}"
            )));
        }
    };
    if s.parse::<f64>().map(|f| f.is_finite()).unwrap_or(false) {
        Ok(s)
    } else {
        Err(serde::de::Error::custom(format!(
            "`{s}` is not a decimal amount"
        )))
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OrderPage {
    pub orders: Vec<Order>,
    /// Absent or null: the last page.
    #[serde(default)]
    pub next_cursor: Option<String>,
}

/// What Kefu sends.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OrderQuery {
    pub buyer: String,
    pub cursor: Option<String>,
    pub limit: u32,
}

/// Why there are no orders to show. Each says what happened and that a retry may help.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OrderError {
    #[error("the order service did not answer within 3 seconds; retry in a moment")]
    Timeout,
    #[error(
        "the order service could not be reached ({0}); retry in a moment, or check its address"
    )]
    Unreachable(String),
    #[error("the order service answered HTTP {0}; retry in a moment, or ask the shop to check it")]
    Status(u16),
    #[error(
        "the order service answered something that is not an order list ({0}); ask the shop to check it"
    )]
    Malformed(String),
}

type HmacSha256 = Hmac<Sha256>;

/// The signature of a request: hex HMAC-SHA256 of `"{timestamp}\n{nonce}\n{body}"`.
pub fn sign(secret: &str, timestamp: i64, nonce: &str, body: &[u8]) -> String {
    hex::encode(mac(secret, timestamp, nonce, body).finalize().into_bytes())
}

fn mac(secret: &str, timestamp: i64, nonce: &str, body: &[u8]) -> HmacSha256 {
    let mut mac = HmacSha256::new_from_slice(secret.as_bytes()).expect("HMAC takes any key");
    mac.update(format!("{timestamp}\n{nonce}\n").as_bytes());
    mac.update(body);
    mac
}

/// Why a provider refuses a request.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    #[error("the request is missing the X-Kefu-Timestamp, X-Kefu-Nonce or X-Kefu-Signature header")]
    Missing,
    #[error("the timestamp is more than 5 minutes from now")]
    Stale,
    #[error("the signature does not match")]
    Forged,
    #[error("this nonce was already used")]
    Replayed,
}

/// Checks a request's signature and age (not its nonce; see [`sample::Nonces`]).
pub fn verify(
    secret: &str,
    timestamp: i64,
    nonce: &str,
    body: &[u8],
    signature: &str,
    now_seconds: i64,
) -> Result<(), SignatureError> {
    if (now_seconds - timestamp).abs() > REPLAY_WINDOW_SECONDS {
        return Err(SignatureError::Stale);
    }
    let Ok(given) = hex::decode(signature) else {
        return Err(SignatureError::Forged);
    };
    // Constant-time comparison.
    mac(secret, timestamp, nonce, body)
        .verify_slice(&given)
        .map_err(|_| SignatureError::Forged)
}

/// A page's validity beyond its shape: what the console needs to show and link.
fn check(page: &OrderPage) -> Result<(), String> {
    for o in &page.orders {
        if o.order_no.trim().is_empty() {
            return Err("an order has an empty order_no".into());
        }
        if !(o.detail_url.starts_with("https://") || o.detail_url.starts_with("http://")) {
            return Err(format!(
                "order {} has a detail_url that is not an http(s) URL",
                o.order_no
            ));
        }
        if o.items.iter().any(|i| i.quantity < 0) {
            return Err(format!("order {} has a negative quantity", o.order_no));
        }
    }
    Ok(())
}

type Key = (i64, String, String, String);

/// Asks providers, with the timeout and the cache. One per process.
pub struct OrderClient {
    http: reqwest::Client,
    clock: Arc<dyn Clock>,
    timeout: Duration,
    cache: Mutex<HashMap<Key, (i64, Arc<OrderPage>)>>,
}

impl OrderClient {
    pub fn new(clock: Arc<dyn Clock>) -> Self {
        Self::with_timeout(clock, TIMEOUT)
    }

    /// A client with another timeout (tests of the timeout use a short one).
    pub fn with_timeout(clock: Arc<dyn Clock>, timeout: Duration) -> Self {
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .user_agent("kefu-orders")
            .build()
            .expect("an HTTP client with rustls");
        Self {
            http,
            clock,
            timeout,
            cache: Mutex::new(HashMap::new()),
        }
    }

    /// One page of the buyer's orders, from the cache when asked within the last 60 s.
    /// `fresh`: skip the cache (the console's retry and refresh).
    pub async fn orders(
        &self,
        tenant: TenantId,
        provider: &Provider,
        buyer: &str,
        cursor: Option<&str>,
        fresh: bool,
    ) -> Result<Arc<OrderPage>, OrderError> {
        let now = self.clock.now();
        // The provider's address is in the key, so changing it never serves old pages.
        let key = (
            tenant.0,
            provider.url.clone(),
            buyer.to_string(),
            cursor.unwrap_or_default().to_string(),
        );
        if !fresh
            && let Some((at, page)) = self.cache.lock().expect("cache lock").get(&key)
            && now - at < CACHE_MS
        {
            return Ok(page.clone());
        }
        let page = Arc::new(self.ask(provider, buyer, cursor).await?);
        let mut cache = self.cache.lock().expect("cache lock");
        cache.retain(|_, (at, _)| now - *at < CACHE_MS);
        cache.insert(key, (now, page.clone()));
        Ok(page)
    }

    async fn ask(
        &self,
        provider: &Provider,
        buyer: &str,
        cursor: Option<&str>,
    ) -> Result<OrderPage, OrderError> {
        let body = serde_json::to_vec(&OrderQuery {
            buyer: buyer.to_string(),
            cursor: cursor.map(str::to_string),
            limit: PAGE_SIZE,
        })
        .expect("a query serialises");
        let timestamp = self.clock.now() / 1000;
        let nonce = hex::encode(rand::random::<[u8; 16]>());
        let signature = sign(&provider.secret, timestamp, &nonce, &body);
        let call = async {
            let resp = self
                .http
                .post(&provider.url)
                .header("content-type", "application/json")
                .header("x-kefu-timestamp", timestamp.to_string())
                .header("x-kefu-nonce", &nonce)
                .header("x-kefu-signature", signature)
                .body(body)
                .send()
                .await
                .map_err(|e| OrderError::Unreachable(short(e)))?;
            let status = resp.status();
            if !status.is_success() {
                return Err(OrderError::Status(status.as_u16()));
            }
            let bytes = resp
                .bytes()
                .await
                .map_err(|e| OrderError::Unreachable(short(e)))?;
            if bytes.len() > MAX_BODY {
                return Err(OrderError::Malformed("the answer is over 1 MiB".into()));
            }
            let page: OrderPage =
                serde_json::from_slice(&bytes).map_err(|e| OrderError::Malformed(e.to_string()))?;
            check(&page).map_err(OrderError::Malformed)?;
            Ok(page)
        };
        match tokio::time::timeout(self.timeout, call).await {
            Ok(result) => {
                if let Err(e) = &result {
                    tracing::warn!(url = %provider.url, error = %e, "an order provider failed");
                }
                result
            }
            Err(_) => {
                tracing::warn!(url = %provider.url, "an order provider timed out");
                Err(OrderError::Timeout)
            }
        }
    }
}

/// A transport error without the URL (the console shows it; the log has the URL).
fn short(e: reqwest::Error) -> String {
    if e.is_connect() {
        "connection refused or no route".into()
    } else if e.is_body() || e.is_decode() {
        "the answer broke off".into()
    } else {
        e.without_url().to_string()
    }
}

/// The `src` 22 card an agent sends for an order: the order number, amount and status, the
/// first item's picture, and the detail link.
pub fn card(order: &Order) -> serde_json::Value {
    let symbol = match order.currency.as_str() {
        "CNY" => "¥",
        "USD" => "$",
        "EUR" => "€",
        _ => "",
    };
    let amount = if symbol.is_empty() {
        format!("{} {}", order.amount, order.currency)
    } else {
        format!("{symbol}{}", order.amount)
    };
    let first = order.items.first();
    let title = match first {
        Some(i) if order.items.len() > 1 => {
            format!("{} 等 {} 件商品", i.title, order.items.len())
        }
        Some(i) => i.title.clone(),
        None => String::new(),
    };
    let desc = if title.is_empty() {
        format!("{amount} · {}", order.status)
    } else {
        format!("{title}\n{amount} · {}", order.status)
    };
    kefu_domain::cs::product_card(
        &format!("订单 {}", order.order_no),
        &desc,
        first.map(|i| i.image.as_str()).unwrap_or(""),
        &order.detail_url,
    )
}

/// Checks a provider address: HTTPS, or HTTP to this machine (the demo's sample provider
/// and local development).
pub fn check_url(url: &str) -> Result<(), String> {
    let local = ["http://127.0.0.1", "http://localhost", "http://[::1]"];
    if url.starts_with("https://") && url.len() > "https://".len() {
        return Ok(());
    }
    if local
        .iter()
        .any(|p| url.starts_with(p) && url[p.len()..].starts_with([':', '/']))
    {
        return Ok(());
    }
    Err("use an https:// URL (plain http is accepted only for localhost)".into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signatures_verify_and_any_change_is_forged() {
        let body = br#"{"buyer":"b1","cursor":null,"limit":10}"#;
        let sig = sign("s3cret", 1_800_000_000, "n1", body);
        assert_eq!(
            verify("s3cret", 1_800_000_000, "n1", body, &sig, 1_800_000_100),
            Ok(())
        );
        assert_eq!(
            verify("other", 1_800_000_000, "n1", body, &sig, 1_800_000_000),
            Err(SignatureError::Forged)
        );
        assert_eq!(
            verify("s3cret", 1_800_000_000, "n2", body, &sig, 1_800_000_000),
            Err(SignatureError::Forged)
        );
        assert_eq!(
            verify("s3cret", 1_800_000_000, "n1", b"{}", &sig, 1_800_000_000),
            Err(SignatureError::Forged)
        );
        assert_eq!(
            verify("s3cret", 1_800_000_000, "n1", body, &sig, 1_800_000_301),
            Err(SignatureError::Stale)
        );
        assert_eq!(
            verify("s3cret", 1_800_000_000, "n1", body, "zz", 1_800_000_000),
            Err(SignatureError::Forged)
        );
    }

    #[test]
    fn pages_take_numbers_or_strings_and_refuse_what_the_console_cannot_show() {
        let page: OrderPage = serde_json::from_str(
            r#"{"orders":[{"order_no":"A1","time":1,"status":"已发货","amount":59.9,
                "items":[{"title":"T恤","quantity":2,"price":"29.95"}],
                "detail_url":"https://shop.example/o/A1"}]}"#,
        )
        .unwrap();
        assert_eq!(page.orders[0].amount, "59.9");
        assert_eq!(page.orders[0].currency, "CNY");
        assert_eq!(page.next_cursor, None);
        assert!(check(&page).is_ok());
        let bad: Result<OrderPage, _> = serde_json::from_str(
            r#"{"orders":[{"order_no":"A1","time":1,"status":"x","amount":"lots","detail_url":"https://x"}]}"#,
        );
        assert!(bad.unwrap_err().to_string().contains("not a decimal"));
        let mut no_link = page.clone();
        no_link.orders[0].detail_url = "javascript:alert(1)".into();
        assert!(check(&no_link).unwrap_err().contains("detail_url"));
    }

    #[test]
    fn the_card_shows_number_amount_status_picture_and_link() {
        let o = Order {
            order_no: "A1".into(),
            time: 0,
            status: "已发货".into(),
            amount: "59.90".into(),
            currency: "CNY".into(),
            items: vec![
                OrderItem {
                    title: "T恤".into(),
                    image: "https://img/1.png".into(),
                    quantity: 1,
                    price: "29.95".into(),
                },
                OrderItem {
                    title: "袜子".into(),
                    image: String::new(),
                    quantity: 1,
                    price: "29.95".into(),
                },
            ],
            detail_url: "https://shop/o/A1".into(),
        };
        let card = card(&o);
        let data: serde_json::Value =
            serde_json::from_str(card[0]["MsgContent"]["Data"].as_str().unwrap()).unwrap();
        assert_eq!(data["src"], "22");
        assert_eq!(data["content"]["header"], "订单 A1");
        assert_eq!(data["content"]["desc"], "T恤 等 2 件商品\n¥59.90 · 已发货");
        assert_eq!(data["content"]["pic"], "https://img/1.png");
        assert_eq!(data["content"]["url"], "https://shop/o/A1");
    }

    #[test]
    fn provider_urls_are_https_or_local() {
        assert!(check_url("https://shop.example/kefu/orders").is_ok());
        assert!(check_url("http://127.0.0.1:8080/demo/orders").is_ok());
        assert!(check_url("http://localhost/orders").is_ok());
        assert!(check_url("http://shop.example/orders").is_err());
        assert!(check_url("http://localhost.evil.example/").is_err());
        assert!(check_url("ftp://x").is_err());
    }
}
