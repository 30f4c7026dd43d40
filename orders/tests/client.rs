//! The order client against real HTTP servers: the sample provider (paging, the cache, its
//! checks of forged, stale and replayed requests) and providers that fail in each way the
//! console must show: an error status, a malformed answer, no answer, nobody listening.

use kefu_domain::{Clock, ManualClock, TenantId};
use kefu_orders::{OrderClient, OrderError, Provider, sign};
use poem::listener::TcpListener;
use poem::{Route, Server, handler, post};
use std::sync::Arc;
use std::time::Duration;

const SECRET: &str = "a-shared-secret-of-some-length";

/// Serves `route` on a free port; returns its base URL once it accepts connections.
async fn serve(route: Route) -> String {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    tokio::spawn(Server::new(TcpListener::bind(format!("127.0.0.1:{port}"))).run(route));
    for _ in 0..100 {
        if tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .is_ok()
        {
            break;
        }
        // Waiting for the server to bind, not for a timeout under test.
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    format!("http://127.0.0.1:{port}")
}

async fn sample(clock: &ManualClock) -> String {
    let lookup: kefu_orders::sample::SecretLookup =
        Arc::new(|| Box::pin(async { Some(SECRET.to_string()) }));
    let clock: Arc<dyn Clock> = Arc::new(clock.clone());
    // The sample links to itself; the base is only used in URLs.
    let base = "http://127.0.0.1:1";
    serve(Route::new().nest("/demo", kefu_orders::sample::routes(lookup, clock, base))).await
}

#[tokio::test]
async fn the_sample_provider_pages_a_buyers_orders_and_pages_are_cached_for_a_minute() {
    let clock = ManualClock::default();
    let base = sample(&clock).await;
    let client = OrderClient::new(Arc::new(clock.clone()));
    let provider = Provider {
        url: format!("{base}/demo/orders"),
        secret: SECRET.into(),
    };
    let t = TenantId(1);
    let first = client
        .orders(t, &provider, "buyer_1", None, false)
        .await
        .unwrap();
    assert!(!first.orders.is_empty());
    let mut seen = first.orders.len();
    let mut cursor = first.next_cursor.clone();
    while let Some(c) = cursor {
        let page = client
            .orders(t, &provider, "buyer_1", Some(&c), false)
            .await
            .unwrap();
        seen += page.orders.len();
        cursor = page.next_cursor.clone();
    }
    assert!((3..=14).contains(&seen), "{seen}");
    // Within 60 s the same page comes from the cache; after, or when asked fresh, anew.
    clock.advance(59_000);
    let again = client
        .orders(t, &provider, "buyer_1", None, false)
        .await
        .unwrap();
    assert!(Arc::ptr_eq(&first, &again));
    let fresh = client
        .orders(t, &provider, "buyer_1", None, true)
        .await
        .unwrap();
    assert!(!Arc::ptr_eq(&first, &fresh));
    assert_eq!(first.orders, fresh.orders);
    clock.advance(61_000);
    let later = client
        .orders(t, &provider, "buyer_1", None, false)
        .await
        .unwrap();
    assert!(!Arc::ptr_eq(&fresh, &later));
}

#[tokio::test]
async fn the_sample_provider_rejects_forged_stale_and_replayed_requests() {
    let clock = ManualClock::default();
    let base = sample(&clock).await;
    let url = format!("{base}/demo/orders");
    let http = reqwest::Client::new();
    let body = br#"{"buyer":"buyer_1","cursor":null,"limit":10}"#.to_vec();
    let now = clock.now() / 1000;
    let send = |ts: i64, nonce: &str, sig: String| {
        http.post(&url)
            .header("x-kefu-timestamp", ts.to_string())
            .header("x-kefu-nonce", nonce)
            .header("x-kefu-signature", sig)
            .body(body.clone())
            .send()
    };
    let ok = send(now, "n-1", sign(SECRET, now, "n-1", &body))
        .await
        .unwrap();
    assert_eq!(ok.status(), 200);
    let replay = send(now, "n-1", sign(SECRET, now, "n-1", &body))
        .await
        .unwrap();
    assert_eq!(replay.status(), 401);
    assert!(replay.text().await.unwrap().contains("already used"));
    let forged = send(now, "n-2", sign("guessed", now, "n-2", &body))
        .await
        .unwrap();
    assert_eq!(forged.status(), 401);
    let old = now - 301;
    let stale = send(old, "n-3", sign(SECRET, old, "n-3", &body))
        .await
        .unwrap();
    assert_eq!(stale.status(), 401);
    assert!(stale.text().await.unwrap().contains("5 minutes"));
    let bare = http.post(&url).body(body.clone()).send().await.unwrap();
    assert_eq!(bare.status(), 401);
    // Kefu's own client signs with the tenant's secret; a wrong one is refused.
    let client = OrderClient::new(Arc::new(clock.clone()));
    let wrong = Provider {
        url: url.clone(),
        secret: "not-the-secret".into(),
    };
    let refused = client
        .orders(TenantId(1), &wrong, "buyer_1", None, false)
        .await;
    assert_eq!(refused.unwrap_err(), OrderError::Status(401));
}

#[handler]
fn broken() -> poem::Response {
    poem::Response::builder()
        .status(poem::http::StatusCode::INTERNAL_SERVER_ERROR)
        .body("oops")
}

#[handler]
fn garbage() -> &'static str {
    r#"{"orders": [{"order_no": "A1"}]}"#
}

#[handler]
async fn silent() -> &'static str {
    // Never answers: the client's timeout must end the wait.
    std::future::pending::<()>().await;
    ""
}

#[tokio::test]
async fn failing_providers_give_errors_that_say_what_happened() {
    let clock: Arc<dyn Clock> = Arc::new(ManualClock::default());
    let base = serve(
        Route::new()
            .at("/broken", post(broken))
            .at("/garbage", post(garbage))
            .at("/silent", post(silent)),
    )
    .await;
    // A short timeout stands in for the 3 s one; the server never answers either way.
    let client = OrderClient::with_timeout(clock, Duration::from_millis(300));
    let ask = |path: &str| Provider {
        url: format!("{base}{path}"),
        secret: SECRET.into(),
    };
    let t = TenantId(1);
    assert_eq!(
        client
            .orders(t, &ask("/broken"), "b", None, false)
            .await
            .unwrap_err(),
        OrderError::Status(500)
    );
    let malformed = client
        .orders(t, &ask("/garbage"), "b", None, false)
        .await
        .unwrap_err();
    assert!(
        matches!(malformed, OrderError::Malformed(ref m) if m.contains("missing field")),
        "{malformed:?}"
    );
    assert_eq!(
        client
            .orders(t, &ask("/silent"), "b", None, false)
            .await
            .unwrap_err(),
        OrderError::Timeout
    );
    let nobody = Provider {
        url: "http://127.0.0.1:9/orders".into(),
        secret: SECRET.into(),
    };
    assert!(matches!(
        client
            .orders(t, &nobody, "b", None, false)
            .await
            .unwrap_err(),
        OrderError::Unreachable(_)
    ));
    // Errors are not cached: the next ask tries again.
    assert!(
        client
            .orders(t, &ask("/broken"), "b", None, false)
            .await
            .is_err()
    );
}
